// Rings on ordinary memory, for tests of the ring code without root: RX slots
// are filled the way the kernel fills them (tpacket2_hdr, virtio header,
// stripped tag), TX slots are read back the way the kernel reads them, and a
// socket queue answers recvmmsg the way the kernel does (msg_len, MSG_TRUNC).

import { REASON_COUNT } from '../../src/core/reasons.js';
import * as libc from '../../src/native/libc.js';
import {
  BIG_SLOT,
  FRAME_SIZE,
  ringGeometry,
  TP_STATUS_COPY,
  TP_STATUS_USER,
  TP_STATUS_VLAN_TPID_VALID,
  TP_STATUS_VLAN_VALID,
  TX_DATA_OFFSET,
  VNET_HDR_LEN,
} from '../../src/datapath/user/ring.js';
import { RingSet } from '../../src/datapath/user/ringset.js';

/** Where the kernel puts the Ethernet header in a V2 slot with a virtio header. */
export const MAC_OFFSET = 76;
/** msghdr.msg_flags inside struct mmsghdr on 64-bit Linux. */
const MMSG_FLAGS = 48;

/** A RingSet whose port slots are plain memory instead of kernel rings (32 + 32 slots, 4 big buffers). */
export function memoryRings(ports = 2, bigRxSlots = 4): RingSet {
  const g = ringGeometry(32, 32);
  const rings = new RingSet(ports, g, bigRxSlots);
  for (let p = 0; p < ports; p++) {
    libc.mmap(
      rings.slotAddress(p),
      g.span,
      libc.PROT_READ | libc.PROT_WRITE,
      libc.MAP_PRIVATE | libc.MAP_ANONYMOUS | libc.MAP_FIXED,
      -1,
    );
    rings.attach(p, -1, -1);
  }
  return rings;
}

export function newDrops(): Float64Array {
  return new Float64Array(REASON_COUNT);
}

export interface RxFrame {
  /** The bytes the slot holds (the start of the frame, for a big one). */
  frame: Uint8Array;
  vnet?: number[];
  tci?: number;
  tpid?: number;
  /** A frame bigger than a slot: its length on the wire; the slot is marked TP_STATUS_COPY. */
  wireLen?: number;
}

/** Put frames in port p's RX ring as the kernel would, from slot `first` on. */
export function fillRx(rings: RingSet, port: number, frames: RxFrame[], first = 0): void {
  const v = new DataView(rings.mem.buffer);
  frames.forEach((f, n) => {
    const slot = rings.rxBase[port] + ((first + n) % rings.geometry.rxFrames) * FRAME_SIZE;
    let status = TP_STATUS_USER;
    if (f.tci !== undefined) {
      status |= TP_STATUS_VLAN_VALID;
      v.setUint16(slot + 24, f.tci, true);
      if (f.tpid !== undefined) {
        status |= TP_STATUS_VLAN_TPID_VALID;
        v.setUint16(slot + 26, f.tpid, true);
      }
    }
    if (f.wireLen !== undefined) status |= TP_STATUS_COPY;
    v.setUint32(slot + 4, f.wireLen ?? f.frame.length, true);
    v.setUint32(slot + 8, f.frame.length, true);
    v.setUint16(slot + 12, MAC_OFFSET, true);
    rings.mem.set(f.vnet ?? new Array(VNET_HDR_LEN).fill(0), slot + MAC_OFFSET - VNET_HDR_LEN);
    rings.mem.set(f.frame, slot + MAC_OFFSET);
    v.setUint32(slot, status, true);
  });
}

/** An IPv4 frame of `len` bytes; byte 40 on is `mark`, then a count, so frames of one length can differ. */
export function frame(len: number, mark = 0, ethertype = 0x0800): Uint8Array {
  const f = new Uint8Array(len);
  f.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, ethertype >> 8, ethertype & 0xff]);
  for (let i = 14; i < len; i++) f[i] = i & 0xff;
  if (len > 40) f[40] = mark;
  return f;
}

/** What the kernel would send from TX slot i of `port`: tp_len bytes at TX_DATA_OFFSET. */
export function txSlot(rings: RingSet, port: number, i: number): { status: number; data: Uint8Array } {
  const slot = rings.txBase[port] + i * FRAME_SIZE;
  const v = new DataView(rings.mem.buffer);
  const len = v.getUint32(slot + 4, true);
  return { status: v.getUint32(slot, true), data: rings.mem.slice(slot + TX_DATA_OFFSET, slot + TX_DATA_OFFSET + len) };
}

function u64(rings: RingSet, at: number): number {
  const v = new DataView(rings.mem.buffer);
  return v.getUint32(at, true) + v.getUint32(at + 4, true) * 2 ** 32;
}

/**
 * A packet socket's queue of whole big frames. As recvmmsg: it fills the
 * buffers the vector's iovecs point at, in queue order, writes msg_len (virtio
 * header + bytes copied) and msg_flags (MSG_TRUNC when the frame did not fit),
 * and returns how many it filled or -EAGAIN when empty. `fail` lists results
 * to return first instead (negative errno), leaving the queue as it is.
 */
export class SocketQueue {
  readonly calls: Array<{ first: number; vlen: number; result: number }> = [];
  constructor(
    private readonly rings: RingSet,
    readonly frames: Uint8Array[] = [],
    readonly fail: number[] = [],
  ) {}

  readonly recv = (_fd: number, addr: number, vlen: number): number => {
    const r = this.rings;
    const first = (addr - r.baseAddr - r.rxMsgs) / libc.MMSGHDR_SIZE;
    if (this.fail.length > 0) {
      const result = this.fail.shift()!;
      this.calls.push({ first, vlen, result });
      return result;
    }
    const v = new DataView(r.mem.buffer);
    let k = 0;
    for (; k < vlen && this.frames.length > 0; k++) {
      const f = this.frames.shift()!;
      const hdr = addr - r.baseAddr + k * libc.MMSGHDR_SIZE;
      const iov = u64(r, hdr + libc.MMSG_IOV) - r.baseAddr;
      const buf = u64(r, iov) - r.baseAddr;
      const room = u64(r, iov + 8);
      const copied = Math.min(f.length, room - VNET_HDR_LEN);
      r.mem.fill(0, buf, buf + VNET_HDR_LEN);
      r.mem.set(f.subarray(0, copied), buf + VNET_HDR_LEN);
      v.setUint32(hdr + libc.MMSG_LEN, VNET_HDR_LEN + copied, true);
      v.setUint32(hdr + MMSG_FLAGS, copied < f.length ? 0x20 /* MSG_TRUNC */ : 0, true);
    }
    const result = k === 0 ? -libc.EAGAIN : k;
    this.calls.push({ first, vlen, result });
    return result;
  };
}

/** Which big buffer (index) a batch offset points into, or -1 for a ring slot. */
export function bigBuffer(rings: RingSet, off: number): number {
  return off < rings.bigRx ? -1 : Math.floor((off - rings.bigRx) / BIG_SLOT);
}
