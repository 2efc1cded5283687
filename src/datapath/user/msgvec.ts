// Message vectors for sendmmsg/recvmmsg, laid out in ring memory.
//
// Frames too big for a ring slot leave and enter through the socket, but a
// batch of them costs one call, not one per frame: a vector is `count` struct
// mmsghdr (one iovec each) followed by their `count` iovecs, at a fixed
// offset of the ring view. Only the iovecs' base and length change per frame.

import { IOVEC_SIZE, MMSG_FLAGS, MMSG_IOV, MMSG_IOVLEN, MMSG_LEN, MMSGHDR_SIZE } from '../../native/libc.js';

const TWO_32 = 2 ** 32;

/** Bytes a vector of `count` messages takes. */
export function msgVecBytes(count: number): number {
  return count * (MMSGHDR_SIZE + IOVEC_SIZE);
}

/** Write an empty vector at `at` (8-byte aligned); `baseAddr` is the address of offset 0. */
export function initMsgVec(u32: Uint32Array, baseAddr: number, at: number, count: number): void {
  u32.fill(0, at >>> 2, (at + msgVecBytes(count)) >>> 2);
  for (let k = 0; k < count; k++) {
    const hdr = at + k * MMSGHDR_SIZE;
    setU64(u32, hdr + MMSG_IOV, baseAddr + iovAt(at, count, k));
    setU64(u32, hdr + MMSG_IOVLEN, 1);
  }
}

/** Point message k of the vector at `at` to `len` bytes at address `addr`. */
export function setMsg(u32: Uint32Array, at: number, count: number, k: number, addr: number, len: number): void {
  const iov = iovAt(at, count, k);
  setU64(u32, iov, addr);
  setU64(u32, iov + 8, len);
}

/** Bytes the kernel moved for message k (msg_len). */
export function msgLen(u32: Uint32Array, at: number, k: number): number {
  return u32[(at + k * MMSGHDR_SIZE + MMSG_LEN) >>> 2];
}

/** Flags recvmmsg returned for message k (MSG_TRUNC: the datagram did not fit its buffer). */
export function msgFlags(u32: Uint32Array, at: number, k: number): number {
  return u32[(at + k * MMSGHDR_SIZE + MMSG_FLAGS) >>> 2];
}

/** Address of message k (for a call that starts there). */
export function msgAddr(baseAddr: number, at: number, k: number): number {
  return baseAddr + at + k * MMSGHDR_SIZE;
}

function iovAt(at: number, count: number, k: number): number {
  return at + count * MMSGHDR_SIZE + k * IOVEC_SIZE;
}

function setU64(u32: Uint32Array, at: number, v: number): void {
  const lo = v % TWO_32;
  u32[at >>> 2] = lo;
  u32[(at >>> 2) + 1] = (v - lo) / TWO_32;
}
