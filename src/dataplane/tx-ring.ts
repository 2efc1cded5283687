// Where a frame leaves: copying it into a port's TX ring, and kicking each
// ring once per batch round.
//
// The kernel sends everything queued on a ring during the kick, so a TX ring
// only has to hold what one round puts on it (64 slots by default). When a
// round fills a port's ring anyway (many ingress ports sending to one egress
// port, or the receiver's softirq lagging), the ring is kicked at once and the
// frame takes the slot that frees; only if none frees is it dropped.
//
// A TX slot holds the virtio_net_hdr (copied from the RX slot, so partial
// checksums and GSO frames go out as they came in) followed by the frame,
// with the 802.1Q tag the kernel stripped on receive put back. A frame too
// big for a slot is sent with send() on the port's second socket.

import { type Batch, NO_TAG } from '../core/batch.js';
import type { Egress } from '../core/egress.js';
import * as libc from '../native/libc.js';
import {
  FRAME_SIZE,
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

/** Hands a TX ring's queued frames to the kernel: send(fd, NULL, 0, flags), see libc.kick. */
export type Kick = (fd: number, flags: number) => number;

export class TxRings implements Egress {
  private readonly slots: number;

  constructor(
    private readonly rings: RingSet,
    private readonly sendQueued: Kick = libc.kick,
  ) {
    this.slots = rings.geometry.txFrames;
  }

  transmit(port: number, batch: Batch, i: number): boolean {
    const r = this.rings;
    const tagged = batch.vlan[i] !== NO_TAG;
    const total = VNET_HDR_LEN + batch.len[i] + (tagged ? VLAN_HLEN : 0);
    if (total > TX_SLOT_ROOM) return this.transmitBig(port, batch, i, total);
    const head = r.txHead[port];
    const slot = r.txBase[port] + head * FRAME_SIZE;
    // The kernel frees slots in order; a slot not yet AVAILABLE means the ring is full.
    if (r.u32[slot >>> 2] !== TP_STATUS_AVAILABLE) {
      if (r.txPending[port] === 0) return false;
      this.kick(port);
      if (r.u32[slot >>> 2] !== TP_STATUS_AVAILABLE) return false;
    }
    const dst = slot + TX_DATA_OFFSET;
    this.build(dst, batch, i);
    // The kernel copies hdr_len bytes into the packet and attaches the rest of
    // the slot as page fragments, which veth must then copy into a new page when
    // the frame crosses into another namespace. For an ordinary frame (not GSO,
    // where hdr_len means the headers) ask for all of it to be copied at once.
    if (r.mem[dst + VNET_GSO_TYPE] === 0) setLe16(r.mem, dst + VNET_HDR_LEN_FIELD, total - VNET_HDR_LEN);
    r.u32[(slot + TP_LEN) >>> 2] = total;
    r.u32[slot >>> 2] = TP_STATUS_SEND_REQUEST;
    r.txHead[port] = head + 1 === this.slots ? 0 : head + 1;
    r.txPending[port] = 1;
    return true;
  }

  /**
   * A frame too big for a TX slot is sent at once from where it lies, its
   * virtio header just before it; a tagged one is first rebuilt in the big
   * TX buffer with its tag.
   */
  private transmitBig(port: number, batch: Batch, i: number, total: number): boolean {
    const r = this.rings;
    let at = batch.off[i] - VNET_HDR_LEN;
    if (batch.vlan[i] !== NO_TAG) {
      this.build(r.bigTx, batch, i);
      at = r.bigTx;
    }
    // What is queued on the ring goes first, so that a flow keeps its order.
    if (r.txPending[port] !== 0) this.kick(port);
    return libc.sendAt(r.bigFd[port], r.baseAddr + at, total, libc.MSG_DONTWAIT) >= 0;
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
   * A port whose kick fails (device busy, down) keeps its frames queued and is
   * kicked again next round.
   */
  kickAll(ports: Int32Array, count: number): void {
    const pending = this.rings.txPending;
    for (let k = 0; k < count; k++) if (pending[ports[k]] !== 0) this.kick(ports[k]);
  }

  private kick(port: number): void {
    const r = this.rings;
    const res = this.sendQueued(r.fd[port], libc.MSG_DONTWAIT);
    if (res >= 0 || res === -libc.ENETDOWN || res === -libc.ENXIO) r.txPending[port] = 0;
  }
}

function addLe16(mem: Uint8Array, at: number, delta: number): void {
  setLe16(mem, at, (mem[at] | (mem[at + 1] << 8)) + delta);
}

function setLe16(mem: Uint8Array, at: number, v: number): void {
  mem[at] = v & 0xff;
  mem[at + 1] = (v >>> 8) & 0xff;
}
