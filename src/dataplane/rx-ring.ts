// Where a frame enters: reading a port's RX ring into a Batch.
//
// The kernel marks a slot TP_STATUS_USER when it holds a frame. We describe up
// to batch.capacity such frames by offset (no copy), let the forwarding core
// decide and transmit them, then give the slots back (TP_STATUS_KERNEL).
// A frame bigger than a slot (GSO, jumbo) comes truncated with TP_STATUS_COPY,
// and the whole of it is read from the socket into a big buffer (see ring.ts),
// all of a batch's big frames with one recvmmsg.

import { type Batch, NO_TAG } from '../core/batch.js';
import { Reason } from '../core/reasons.js';
import * as libc from '../native/libc.js';
import {
  BIG_SLOT,
  ETH_HLEN,
  ETH_P_8021Q,
  FRAME_SIZE,
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
import { msgLen } from './msgvec.js';
import type { RingSet } from './ringset.js';

const GSO_UDP_L4 = 5;
const GSO_UDP = 3;

/** recvmmsg on a socket into a message vector given by address (libc.recvmmsgAt). */
export type RecvMany = (fd: number, addr: number, vlen: number, flags: number) => number;

/**
 * Fill `batch` from port p's RX ring; returns the number of frames read.
 * Frames cut short by the slot size are dropped here (counted as truncated).
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
    const status = u32[slot >>> 2];
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
        u32[slot >>> 2] = TP_STATUS_KERNEL;
        head = head + 1 === slots ? 0 : head + 1;
        continue;
      }
      // No big buffer left: the frame waits in its slot for the next batch.
      if (big === rings.bigRxSlots) break;
      off = rings.bigRx + big * BIG_SLOT + VNET_HDR_LEN;
      big++;
      // Its slot is not needed any more.
      u32[slot >>> 2] = TP_STATUS_KERNEL;
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
 * Read the batch's `big` frames from the socket into their big buffers, fill
 * in their lengths, and drop (as truncated) any the socket did not deliver
 * whole, closing the gaps in the batch. Returns the batch's new count.
 */
function readBig(rings: RingSet, port: number, batch: Batch, drops: Float64Array, big: number, recvMany: RecvMany): number {
  const { mem, u32 } = rings;
  let got = recvMany(rings.fd[port], rings.baseAddr + rings.rxMsgs, big, libc.MSG_DONTWAIT);
  // Interrupted, the frames are still queued: read them now, or later slots would get them.
  for (let tries = 0; got === -libc.EINTR && tries < 3; tries++) {
    got = recvMany(rings.fd[port], rings.baseAddr + rings.rxMsgs, big, libc.MSG_DONTWAIT);
  }
  if (got < 0) got = 0;
  let w = 0;
  for (let i = 0; i < batch.count; i++) {
    const off = batch.off[i];
    let len = batch.len[i];
    if (off >= rings.bigRx) {
      const k = ((off - rings.bigRx) / BIG_SLOT) | 0;
      len = k < got ? msgLen(u32, rings.rxMsgs, k) - VNET_HDR_LEN : -1;
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
    if (off < big) u32[(off - (off % FRAME_SIZE)) >>> 2] = TP_STATUS_KERNEL;
  }
}

