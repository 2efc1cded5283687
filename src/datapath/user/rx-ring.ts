// Where a frame enters: reading a port's RX ring into a Batch.
//
// The kernel marks a slot TP_STATUS_USER when it holds a frame. We describe up
// to batch.capacity such frames by offset (no copy), let the forwarding core
// decide and transmit them, then give the slots back (TP_STATUS_KERNEL).
// A frame bigger than a slot (GSO, jumbo) comes truncated with TP_STATUS_COPY,
// and the whole of it is read from the socket into a big buffer (see ring.ts),
// all of a batch's big frames with one recvmmsg.
//
// The kernel marks a slot TP_STATUS_COPY and queues the whole frame on the
// socket together, under one lock, so the k-th such slot and the k-th frame
// on the queue are the same frame. Nothing in a datagram says which slot it
// belongs to, though: a slot dropped while its frame stays queued would shift
// every later pairing (the frame's bytes under another slot's tag). So a
// queued frame is taken for a slot only if it is that slot's frame: same
// length as tp_len, same first bytes as the slot holds. One that is not is an
// older frame whose slot was dropped, and is skipped: that is how the two
// get back in step.

import { type Batch, NO_TAG } from '../../core/batch.js';
import { Reason } from '../../core/reasons.js';
import * as libc from '../../native/libc.js';
import {
  BIG_SLOT,
  ETH_HLEN,
  ETH_P_8021Q,
  FRAME_SIZE,
  setSlotStatus,
  slotStatus,
  TP_LEN,
  TP_MAC,
  TP_SNAPLEN,
  TP_STATUS_COPY,
  TP_STATUS_KERNEL,
  TP_STATUS_USER,
  TP_STATUS_VLAN_TPID_VALID,
  TP_STATUS_VLAN_VALID,
  TP_VLAN_TCI,
  TP_VLAN_TPID,
  VNET_CSUM_START,
  VNET_F_NEEDS_CSUM,
  VNET_FLAGS,
  VNET_GSO_SIZE,
  VNET_GSO_TYPE,
  VNET_HDR_LEN,
  VNET_HDR_LEN_FIELD,
} from './ring.js';
import { msgAddr, msgFlags, msgLen } from './msgvec.js';
import type { RingSet } from './ringset.js';

const GSO_UDP_L4 = 5;
const GSO_UDP = 3;
/** Bytes of a big frame compared with its slot's copy: the headers, sequence numbers included. */
const MATCH_BYTES = 128;
/** Tries of a recvmmsg that failed while frames are queued (interrupted, or a pending socket error). */
const RECV_TRIES = 4;

/** recvmmsg on a socket into a message vector given by address (libc.recvmmsgAt). */
export type RecvMany = (fd: number, addr: number, vlen: number, flags: number) => number;

/**
 * Fill `batch` from port p's RX ring; returns the number of frames read.
 * Frames that could not be read whole are dropped here (counted as truncated).
 */
export function readRx(
  rings: RingSet,
  port: number,
  batch: Batch,
  drops: Float64Array,
  recvMany: RecvMany = libc.recvmmsgAt,
): number {
  const { mem, u16, u32 } = rings;
  const slots = rings.geometry.rxFrames;
  const base = rings.rxBase[port];
  let head = rings.rxHead[port];
  let n = 0;
  let big = 0;
  const cap = batch.capacity;
  for (let seen = 0; n < cap && seen < slots; seen++) {
    const slot = base + head * FRAME_SIZE;
    const status = slotStatus(u32, slot);
    if ((status & TP_STATUS_USER) === 0) break;
    const len = u32[(slot + TP_LEN) >>> 2];
    const snap = u32[(slot + TP_SNAPLEN) >>> 2];
    let off = slot + u16[(slot + TP_MAC) >>> 1];
    if (snap < len) {
      // Slot too small. If the kernel could, it queued the whole frame on the
      // socket (TP_STATUS_COPY), in ring order: it goes to the next big buffer,
      // read below with the batch's other big frames in one recvmmsg.
      if ((status & TP_STATUS_COPY) === 0) {
        drops[Reason.TRUNCATED]++;
        setSlotStatus(u32, slot, TP_STATUS_KERNEL);
        head = head + 1 === slots ? 0 : head + 1;
        continue;
      }
      // No big buffer left: the frame waits in its slot for the next batch.
      if (big === rings.bigRxSlots) break;
      // Its slot is kept until readBig has matched the queued frame to it.
      off = rings.bigRx + big * BIG_SLOT + VNET_HDR_LEN;
      rings.bigSlot[big] = slot;
      big++;
    }
    head = head + 1 === slots ? 0 : head + 1;
    batch.off[n] = off;
    batch.len[n] = snap;
    batch.vlan[n] =
      (status & TP_STATUS_VLAN_VALID) !== 0
        ? ((((status & TP_STATUS_VLAN_TPID_VALID) !== 0 ? u16[(slot + TP_VLAN_TPID) >>> 1] : ETH_P_8021Q) << 16) |
            u16[(slot + TP_VLAN_TCI) >>> 1])
        : NO_TAG;
    if (off < rings.bigRx) batch.l3len[n] = l3len(mem, off, snap);
    n++;
  }
  rings.rxHead[port] = head;
  batch.count = n;
  return big === 0 ? n : readBig(rings, port, batch, drops, big, recvMany);
}

/**
 * Read the batch's `big` frames from the socket into the big buffers, each
 * checked against its slot (see the top of the file), give their slots back,
 * and drop (as truncated) any not received whole, closing the gaps in the
 * batch. Returns the batch's new count.
 *
 * Message j of the vector fills big buffer j. One recvmmsg asks for `big`
 * frames; only when older frames were skipped among them is one more read at
 * a time, into a buffer no frame of the batch holds.
 */
function readBig(rings: RingSet, port: number, batch: Batch, drops: Float64Array, big: number, recvMany: RecvMany): number {
  const { mem, u32 } = rings;
  const fd = rings.fd[port];
  const taken = rings.bigTaken;
  taken.fill(0);
  const got = receive(rings, fd, 0, big, recvMany);
  let next = 0; // next message of the first call
  let held = -1; // a message read after those, not used up yet
  let skipped = 0;
  let dry = false; // the queue had nothing more
  let k = 0;
  let w = 0;
  for (let i = 0; i < batch.count; i++) {
    let off = batch.off[i];
    let len = batch.len[i];
    if (off >= rings.bigRx) {
      const slot = rings.bigSlot[k++];
      len = -1;
      for (;;) {
        let j: number;
        if (held >= 0) {
          j = held;
        } else if (next < got) {
          j = next;
        } else if (skipped === 0 || dry || skipped > rings.geometry.rxFrames) {
          // Nothing more to read: the first call was short (the queue had no
          // more), the queue ran dry, or too many older frames were skipped.
          break;
        } else {
          // Older frames took places in the first call: read one more.
          j = taken.indexOf(0);
          if (receive(rings, fd, j, 1, recvMany) !== 1) {
            dry = true;
            break;
          }
          held = j;
        }
        const m = matchSlot(rings, slot, j);
        // A later slot's frame: this slot's is not on the queue (cannot happen
        // while the kernel queues them in ring order); the message waits for it.
        if (m === OTHER && laterSlotMatches(rings, k, big, j)) break;
        if (held >= 0) held = -1;
        else next++;
        if (m === OTHER) {
          skipped++; // an older frame, already counted when its slot was dropped
          continue;
        }
        if (m === WHOLE) {
          taken[j] = 1;
          off = rings.bigRx + j * BIG_SLOT + VNET_HDR_LEN;
          len = msgLen(u32, rings.rxMsgs, j) - VNET_HDR_LEN;
        }
        break; // CUT: its frame, bigger than a big buffer: dropped
      }
      setSlotStatus(u32, slot, TP_STATUS_KERNEL);
      if (len < ETH_HLEN) {
        drops[Reason.TRUNCATED]++;
        continue;
      }
      batch.l3len[i] = l3len(mem, off, len);
    }
    batch.off[w] = off;
    batch.len[w] = len;
    batch.vlan[w] = batch.vlan[i];
    batch.l3len[w] = batch.l3len[i];
    w++;
  }
  batch.count = w;
  return w;
}

/**
 * recvmmsg of `count` frames into messages first.. of the RX vector; how many
 * came (0 if none). A call that fails while frames are queued - interrupted,
 * or reporting a pending socket error such as the ENETDOWN of a link flap,
 * which is reported once - is made again: the frames belong to this batch.
 */
function receive(rings: RingSet, fd: number, first: number, count: number, recvMany: RecvMany): number {
  const addr = msgAddr(rings.baseAddr, rings.rxMsgs, first);
  let n = recvMany(fd, addr, count, libc.MSG_DONTWAIT);
  for (let tries = 1; n < 0 && n !== -libc.EAGAIN && tries < RECV_TRIES; tries++) {
    n = recvMany(fd, addr, count, libc.MSG_DONTWAIT);
  }
  return n < 0 ? 0 : n;
}

/** Is message j the frame of one of the batch's big slots from `from` on? */
function laterSlotMatches(rings: RingSet, from: number, big: number, j: number): boolean {
  for (let k = from; k < big; k++) if (matchSlot(rings, rings.bigSlot[k], j) !== OTHER) return true;
  return false;
}

const WHOLE = 0;
const CUT = 1;
const OTHER = 2;

/**
 * Is message j the frame whose start RX slot `slot` holds? WHOLE: yes, and
 * received whole; CUT: yes, but bigger than its buffer (a GSO frame past
 * 64 KiB, from a device with a raised gso_max_size); OTHER: another frame.
 */
function matchSlot(rings: RingSet, slot: number, j: number): number {
  const { mem, u16, u32 } = rings;
  const wire = u32[(slot + TP_LEN) >>> 2];
  const got = msgLen(u32, rings.rxMsgs, j) - VNET_HDR_LEN;
  const cut = (msgFlags(u32, rings.rxMsgs, j) & libc.MSG_TRUNC) !== 0;
  if (cut ? got >= wire : got !== wire) return OTHER;
  const a = slot + u16[(slot + TP_MAC) >>> 1];
  const b = rings.bigRx + j * BIG_SLOT + VNET_HDR_LEN;
  const n = Math.min(MATCH_BYTES, u32[(slot + TP_SNAPLEN) >>> 2], got);
  for (let x = 0; x < n; x++) if (mem[a + x] !== mem[b + x]) return OTHER;
  return cut ? CUT : WHOLE;
}

/** Bytes after the Ethernet header of the frame at `eth` (of each segment, for GSO). */
function l3len(mem: Uint8Array, eth: number, len: number): number {
  const vnet = eth - VNET_HDR_LEN;
  return mem[vnet + VNET_GSO_TYPE] === 0 ? len - ETH_HLEN : gsoSegmentL3(mem, vnet, eth);
}

/**
 * Bytes after the Ethernet header of each segment the kernel will cut a GSO
 * frame into: headers up to L4, the L4 header, and one segment's payload.
 */
function gsoSegmentL3(mem: Uint8Array, vnet: number, eth: number): number {
  const gsoSize = mem[vnet + VNET_GSO_SIZE] | (mem[vnet + VNET_GSO_SIZE + 1] << 8);
  if ((mem[vnet + VNET_FLAGS] & VNET_F_NEEDS_CSUM) === 0) {
    const hdrLen = mem[vnet + VNET_HDR_LEN_FIELD] | (mem[vnet + VNET_HDR_LEN_FIELD + 1] << 8);
    return hdrLen + gsoSize - ETH_HLEN;
  }
  const l4 = mem[vnet + VNET_CSUM_START] | (mem[vnet + VNET_CSUM_START + 1] << 8);
  const type = mem[vnet + VNET_GSO_TYPE] & 0x7f;
  const l4len = type === GSO_UDP || type === GSO_UDP_L4 ? 8 : (mem[eth + l4 + 12] >>> 4) << 2;
  return l4 + l4len + gsoSize - ETH_HLEN;
}

/** Give the batch's slots back to the kernel. */
export function releaseRx(rings: RingSet, batch: Batch): void {
  const u32 = rings.u32;
  const big = rings.bigRx;
  for (let i = 0; i < batch.count; i++) {
    const off = batch.off[i];
    // Slots are FRAME_SIZE-aligned offsets: the slot start is the offset rounded down.
    if (off < big) setSlotStatus(u32, off - (off % FRAME_SIZE), TP_STATUS_KERNEL);
  }
}

