// Where a frame leaves: copying it into a port's TX ring, and kicking each
// ring once per batch round.
//
// The kernel sends everything queued on a ring during the kick, so a TX ring
// only has to hold what one round puts on it (64 slots by default). When a
// round fills a port's ring anyway (many ingress ports sending to one egress
// port, or the receiver's softirq lagging), the ring is kicked at once and the
// frame takes the slot that frees; only if none frees is it dropped.
//
// A frame too big for a slot is queued on the port's sendmmsg vector instead,
// pointing at the big buffer it was received in, and the vector is sent with
// one sendmmsg per port when the batch is done (flushBig), before those
// buffers are read into again. A port's frames keep their order: queueing a
// big frame first kicks what is on the ring, and putting a frame on the ring
// first sends the big frames queued.
//
// A TX slot holds the virtio_net_hdr (copied from the RX slot, so partial
// checksums and GSO frames go out as they came in) followed by the frame,
// with the 802.1Q tag the kernel stripped on receive put back.
//
// `vswconfig capture drops`: every frame dropped here or refused by the core
// after its decision (refused()) is recorded on its egress port, with the
// reason it is counted under, when that port's flag asks: tx-ring-full,
// mtu-exceeded, port-down, vlan-not-allowed (from the core), tx-error (a big
// frame the kernel refused, a frame stuck on the ring), port-down (frames
// taken back from a ring whose link went down).

import { type Batch, NO_TAG } from '../../core/batch.js';
import type { Egress } from '../../core/egress.js';
import { Reason } from '../../core/reasons.js';
import * as libc from '../../native/libc.js';
import { CAPTURE_DROPS, CAPTURE_OUT } from '../capture-ring.js';
import type { CaptureTap } from './capture-tap.js';
import { msgAddr, setMsg } from './msgvec.js';
import {
  BIG_SLOT,
  FRAME_SIZE,
  setSlotStatus,
  slotStatus,
  TP_LEN,
  TP_STATUS_AVAILABLE,
  TP_STATUS_SEND_REQUEST,
  TX_DATA_OFFSET,
  TX_SLOT_ROOM,
  VNET_CSUM_START,
  VNET_F_NEEDS_CSUM,
  VNET_FLAGS,
  VNET_GSO_TYPE,
  VNET_HDR_LEN,
  VNET_HDR_LEN_FIELD,
  VLAN_HLEN,
} from './ring.js';
import type { RingSet } from './ringset.js';

const MAC_PAIR = 12;
/**
 * Kicks in a row that fail without the kernel taking the oldest queued frame
 * before that frame is given up (see stuck()).
 */
const STUCK_KICKS = 3;
/** A tp_len no device takes: the kernel skips such a slot (PACKET_LOSS). */
const UNSENDABLE_LEN = 0x7fffffff;

/** The two calls that hand frames to the kernel (libc's, or a test's). */
export interface TxCalls {
  /** send(fd, NULL, 0, flags): send what is queued on a TX ring. */
  kick(fd: number, flags: number): number;
  /** sendmmsg on the message vector at an address: how many were sent, or -errno. */
  sendmmsgAt(fd: number, addr: number, vlen: number, flags: number): number;
}

export class TxRings implements Egress {
  private readonly slots: number;
  /** Ports that have had big frames queued since the last flushBig, the first bigPortCount of them. */
  private readonly bigPorts: Int32Array;
  private bigPortCount = 0;
  private readonly bigListed: Uint8Array;
  /** Per big buffer: its frame is rebuilt with its tag in the tag buffer already (this batch). */
  private readonly tagBuilt: Uint8Array;
  private anyTagBuilt = false;
  /** Per port: the oldest queued slot when a kick last failed, and how many kicks in a row failed on it. */
  private readonly stuckSlot: Int32Array;
  private readonly stuckKicks: Uint8Array;
  /** Per port and queued big frame (port * bigRxSlots + k): where it is in the ring memory and its length, virtio header first. */
  private readonly bigAt: Int32Array;
  private readonly bigLen: Int32Array;
  /** Per port: what is captured (capture-tap.ts); zeros until captureTo(). */
  private capture: Uint8Array;
  private tap: CaptureTap | null = null;

  /** `drops` is where a big frame the kernel refuses is counted (the forwarder's). */
  constructor(
    private readonly rings: RingSet,
    private readonly drops: Float64Array,
    private readonly calls: TxCalls = libc,
  ) {
    this.slots = rings.geometry.txFrames;
    this.bigPorts = new Int32Array(rings.maxPorts);
    this.bigListed = new Uint8Array(rings.maxPorts);
    this.tagBuilt = new Uint8Array(rings.bigRxSlots);
    this.stuckSlot = new Int32Array(rings.maxPorts).fill(-1);
    this.stuckKicks = new Uint8Array(rings.maxPorts);
    this.capture = new Uint8Array(rings.maxPorts);
    this.bigAt = new Int32Array(rings.maxPorts * rings.bigRxSlots);
    this.bigLen = new Int32Array(rings.maxPorts * rings.bigRxSlots);
  }

  transmit(port: number, batch: Batch, i: number): boolean {
    const sent = this.place(port, batch, i);
    if (sent && (this.capture[port] & CAPTURE_OUT) !== 0) this.tap!.leaving(batch, i, port);
    return sent;
  }

  /** The core refused frame i on `port` after deciding (counted there): a copy for a capture of the port's drops. */
  refused(port: number, batch: Batch, i: number, reason: number): void {
    if ((this.capture[port] & CAPTURE_DROPS) !== 0) this.tap!.refused(batch, i, port, reason);
  }

  /** Takes the copies of the frames leaving each port whose flag says CAPTURE_OUT (and its drops, CAPTURE_DROPS). */
  captureTo(tap: CaptureTap): void {
    this.tap = tap;
    this.capture = tap.flags;
  }

  /** Frame i into the port's TX ring or, too big for a slot, onto its sendmmsg vector. */
  private place(port: number, batch: Batch, i: number): boolean {
    const r = this.rings;
    const tagged = batch.vlan[i] !== NO_TAG;
    const total = VNET_HDR_LEN + batch.len[i] + (tagged ? VLAN_HLEN : 0);
    if (total > TX_SLOT_ROOM) return this.queueBig(port, batch, i, total);
    if (r.bigQueued[port] !== 0) this.flushPort(port);
    let head = r.txHead[port];
    let slot = r.txBase[port] + head * FRAME_SIZE;
    // The kernel frees slots in order; a slot not yet AVAILABLE means the ring is full.
    if (slotStatus(r.u32, slot) !== TP_STATUS_AVAILABLE) {
      if (r.txPending[port] === 0) return false;
      this.kick(port);
      // A kick refused because the interface is down moved the head back (takeBack).
      head = r.txHead[port];
      slot = r.txBase[port] + head * FRAME_SIZE;
      if (slotStatus(r.u32, slot) !== TP_STATUS_AVAILABLE) return false;
    }
    const dst = slot + TX_DATA_OFFSET;
    this.build(dst, batch, i);
    // The kernel copies hdr_len bytes into the packet and attaches the rest of
    // the slot as page fragments, which veth must then copy into a new page when
    // the frame crosses into another namespace. For an ordinary frame (not GSO,
    // where hdr_len means the headers) ask for all of it to be copied at once.
    if (r.mem[dst + VNET_GSO_TYPE] === 0) setLe16(r.mem, dst + VNET_HDR_LEN_FIELD, total - VNET_HDR_LEN);
    r.u32[(slot + TP_LEN) >>> 2] = total;
    setSlotStatus(r.u32, slot, TP_STATUS_SEND_REQUEST);
    r.txHead[port] = head + 1 === this.slots ? 0 : head + 1;
    r.txPending[port] = 1;
    return true;
  }

  /**
   * Queue a frame too big for a TX slot on the port's sendmmsg vector, as it
   * lies in its big buffer, virtio header first; a tagged one is rebuilt with
   * its tag in the tag buffer of the same index, once: it is the same bytes
   * for every port it goes to.
   */
  private queueBig(port: number, batch: Batch, i: number, total: number): boolean {
    const r = this.rings;
    const off = batch.off[i];
    if (off < r.bigRx) return false; // not from a big buffer: cannot happen with 2 KiB slots
    let at = off - VNET_HDR_LEN;
    if (batch.vlan[i] !== NO_TAG) {
      const k = ((at - r.bigRx) / BIG_SLOT) | 0;
      at = r.bigTag + (at - r.bigRx);
      if (this.tagBuilt[k] === 0) {
        this.build(at, batch, i);
        this.tagBuilt[k] = 1;
        this.anyTagBuilt = true;
      }
    }
    // What is queued on the ring goes first, so that a flow keeps its order.
    if (r.txPending[port] !== 0) this.kick(port);
    const q = r.bigQueued[port];
    if (q === r.bigRxSlots) return false; // more than one batch holds: cannot happen, flushBig runs per batch
    if (this.bigListed[port] === 0) {
      this.bigListed[port] = 1;
      this.bigPorts[this.bigPortCount++] = port;
    }
    setMsg(r.u32, r.txMsgsOf(port), r.bigRxSlots, q, r.baseAddr + at, total);
    this.bigAt[port * r.bigRxSlots + q] = at;
    this.bigLen[port * r.bigRxSlots + q] = total;
    r.bigQueued[port] = q + 1;
    return true;
  }

  /**
   * Send every queued big frame: one sendmmsg per port that has any. Must run
   * at the end of each batch, before the big buffers are read into again.
   */
  flushBig(): void {
    for (let k = 0; k < this.bigPortCount; k++) {
      const port = this.bigPorts[k];
      this.flushPort(port);
      this.bigListed[port] = 0;
    }
    this.bigPortCount = 0;
    if (this.anyTagBuilt) {
      this.tagBuilt.fill(0);
      this.anyTagBuilt = false;
    }
  }

  private flushPort(port: number): void {
    const r = this.rings;
    const n = r.bigQueued[port];
    if (n === 0) return;
    const vec = r.txMsgsOf(port);
    let sent = 0;
    while (sent < n) {
      const got = this.calls.sendmmsgAt(r.bigFd[port], msgAddr(r.baseAddr, vec, sent), n - sent, libc.MSG_DONTWAIT);
      if (got > 0) {
        sent += got;
      } else {
        // The kernel refused message `sent` (socket buffer full, device gone): skip it.
        this.drops[Reason.TX_ERROR]++;
        if ((this.capture[port] & CAPTURE_DROPS) !== 0) {
          const k = port * r.bigRxSlots + sent;
          this.tap!.refusedBuilt(r.mem, this.bigAt[k] + VNET_HDR_LEN, this.bigLen[k] - VNET_HDR_LEN, port, Reason.TX_ERROR);
        }
        sent++;
      }
    }
    r.bigQueued[port] = 0;
  }

  /** Write frame i at `dst`: its virtio header, then the frame with any stripped tag put back. */
  private build(dst: number, batch: Batch, i: number): void {
    const mem = this.rings.mem;
    const src = batch.off[i];
    const len = batch.len[i];
    const tag = batch.vlan[i];
    if (tag === NO_TAG) {
      mem.copyWithin(dst, src - VNET_HDR_LEN, src + len);
      return;
    }
    mem.copyWithin(dst, src - VNET_HDR_LEN, src + MAC_PAIR);
    const t = dst + VNET_HDR_LEN + MAC_PAIR;
    mem[t] = tag >>> 24;
    mem[t + 1] = (tag >>> 16) & 0xff;
    mem[t + 2] = (tag >>> 8) & 0xff;
    mem[t + 3] = tag & 0xff;
    mem.copyWithin(t + VLAN_HLEN, src + MAC_PAIR, src + len);
    // Offsets in the virtio header count from the Ethernet header: the tag moved them.
    if ((mem[dst + VNET_FLAGS] & VNET_F_NEEDS_CSUM) !== 0) addLe16(mem, dst + VNET_CSUM_START, VLAN_HLEN);
    if (mem[dst + VNET_GSO_TYPE] !== 0) addLe16(mem, dst + VNET_HDR_LEN_FIELD, VLAN_HLEN);
  }

  /**
   * Hand every queued frame to the kernel: one send() per port that has any.
   * A port whose kick fails for lack of buffers keeps its frames queued and is
   * kicked again next round; one whose interface is down loses them (takeBack).
   */
  kickAll(ports: Int32Array, count: number): void {
    const pending = this.rings.txPending;
    for (let k = 0; k < count; k++) if (pending[ports[k]] !== 0) this.kick(ports[k]);
  }

  private kick(port: number): void {
    const r = this.rings;
    const res = this.calls.kick(r.fd[port], libc.MSG_DONTWAIT);
    if (res >= 0) {
      r.txPending[port] = 0;
      this.stuckKicks[port] = 0;
    } else if (res === -libc.ENETDOWN || res === -libc.ENXIO) {
      this.takeBack(port);
    } else {
      this.stuck(port);
    }
  }

  /**
   * A kick failed otherwise (ENOBUFS): the device dropped the frame at the
   * kernel's head (NET_XMIT_DROP), and tpacket_snd then puts it back as
   * SEND_REQUEST without moving on, to be sent again by the next kick. Most
   * often that is a passing lack of buffers. But a frame the device will
   * never take (a veth whose peer refuses its length: two tags inline past
   * MTU + 18) would block the ring for good: after STUCK_KICKS failed kicks
   * in a row on the same oldest frame, it is given a length no device takes,
   * which makes the kernel skip it (PACKET_LOSS), and counted as tx-error.
   */
  private stuck(port: number): void {
    const r = this.rings;
    const base = r.txBase[port];
    // The oldest queued frame: the first SEND_REQUEST slot from our head on.
    let oldest = -1;
    for (let n = 0, i = r.txHead[port]; n < this.slots; n++, i = i + 1 === this.slots ? 0 : i + 1) {
      const slot = base + i * FRAME_SIZE;
      if (slotStatus(r.u32, slot) === TP_STATUS_SEND_REQUEST) {
        oldest = slot;
        break;
      }
    }
    if (oldest < 0) return;
    if (oldest !== this.stuckSlot[port]) {
      this.stuckSlot[port] = oldest;
      this.stuckKicks[port] = 1;
      return;
    }
    if (++this.stuckKicks[port] < STUCK_KICKS) return;
    if ((this.capture[port] & CAPTURE_DROPS) !== 0) this.refusedSlot(port, oldest, Reason.TX_ERROR);
    r.u32[(oldest + TP_LEN) >>> 2] = UNSENDABLE_LEN;
    this.stuckKicks[port] = 0;
    this.stuckSlot[port] = -1;
    this.drops[Reason.TX_ERROR]++;
  }

  /**
   * The interface is down (ENETDOWN) or gone (ENXIO): the kernel refused the
   * kick before looking at the ring, so its head is still at the oldest frame
   * queued. Those frames are stale by the time it comes back (a Linux bridge
   * port loses its queue too), and left in place they would fill the ring for
   * good: they are taken back, the slots AVAILABLE again and the head moved
   * back to where the kernel's is, and counted as port-down drops. A slot
   * stuck() already gave up (UNSENDABLE_LEN) is taken back too, but not
   * counted or captured again: it was counted as tx-error.
   */
  private takeBack(port: number): void {
    const r = this.rings;
    const base = r.txBase[port];
    let head = r.txHead[port];
    // The frames the kernel has not taken are the SEND_REQUEST slots just behind
    // the head (all of them when the ring is full).
    for (let n = 0; n < this.slots; n++) {
      const prev = head === 0 ? this.slots - 1 : head - 1;
      const slot = base + prev * FRAME_SIZE;
      if (slotStatus(r.u32, slot) !== TP_STATUS_SEND_REQUEST) break;
      setSlotStatus(r.u32, slot, TP_STATUS_AVAILABLE);
      head = prev;
      if (r.u32[(slot + TP_LEN) >>> 2] === UNSENDABLE_LEN) continue;
      if ((this.capture[port] & CAPTURE_DROPS) !== 0) this.refusedSlot(port, slot, Reason.PORT_DOWN);
      this.drops[Reason.PORT_DOWN]++;
    }
    r.txHead[port] = head;
    r.txPending[port] = 0;
    // The next frame in the stuck slot is a new one: its failed kicks count from 0.
    this.stuckSlot[port] = -1;
    this.stuckKicks[port] = 0;
  }

  /** The frame queued in TX slot `slot` of `port` (built: tag inline), for a capture of the port's drops. */
  private refusedSlot(port: number, slot: number, reason: number): void {
    const r = this.rings;
    const len = r.u32[(slot + TP_LEN) >>> 2] - VNET_HDR_LEN;
    this.tap!.refusedBuilt(r.mem, slot + TX_DATA_OFFSET + VNET_HDR_LEN, len, port, reason);
  }
}

function addLe16(mem: Uint8Array, at: number, delta: number): void {
  setLe16(mem, at, (mem[at] | (mem[at + 1] << 8)) + delta);
}

function setLe16(mem: Uint8Array, at: number, v: number): void {
  mem[at] = v & 0xff;
  mem[at + 1] = (v >>> 8) & 0xff;
}
