// Where a frame leaves: copying it into a port's TX ring, and kicking each
// ring once per batch round.
//
// A TX slot holds the virtio_net_hdr (copied from the RX slot, so partial
// checksums and GSO frames go out as they came in) followed by the frame,
// with the 802.1Q tag the kernel stripped on receive put back.

import { type Batch, NO_TAG } from '../core/batch.js';
import type { Egress } from '../core/egress.js';
import * as libc from '../native/libc.js';
import {
  FRAME_SIZE,
  TP_LEN,
  TP_STATUS_AVAILABLE,
  TP_STATUS_SEND_REQUEST,
  TX_DATA_OFFSET,
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

export class TxRings implements Egress {
  private readonly slots: number;

  constructor(private readonly rings: RingSet) {
    this.slots = rings.geometry.txFrames;
  }

  transmit(port: number, batch: Batch, i: number): boolean {
    const r = this.rings;
    const mem = r.mem;
    const head = r.txHead[port];
    const slot = r.txBase[port] + head * FRAME_SIZE;
    // The kernel frees slots in order; a slot not yet AVAILABLE means the ring is full.
    if (r.u32[slot >>> 2] !== TP_STATUS_AVAILABLE) return false;
    const src = batch.off[i];
    const len = batch.len[i];
    const tag = batch.vlan[i];
    const dst = slot + TX_DATA_OFFSET;
    let total: number;
    if (tag === NO_TAG) {
      mem.copyWithin(dst, src - VNET_HDR_LEN, src + len);
      total = VNET_HDR_LEN + len;
    } else {
      mem.copyWithin(dst, src - VNET_HDR_LEN, src + MAC_PAIR);
      const t = dst + VNET_HDR_LEN + MAC_PAIR;
      mem[t] = tag >>> 24;
      mem[t + 1] = (tag >>> 16) & 0xff;
      mem[t + 2] = (tag >>> 8) & 0xff;
      mem[t + 3] = tag & 0xff;
      mem.copyWithin(t + VLAN_HLEN, src + MAC_PAIR, src + len);
      total = VNET_HDR_LEN + len + VLAN_HLEN;
      // Offsets in the virtio header count from the Ethernet header: the tag moved them.
      if ((mem[dst + VNET_FLAGS] & VNET_F_NEEDS_CSUM) !== 0) addLe16(mem, dst + VNET_CSUM_START, VLAN_HLEN);
      if (mem[dst + VNET_GSO_TYPE] !== 0) addLe16(mem, dst + VNET_HDR_LEN_FIELD, VLAN_HLEN);
    }
    r.u32[(slot + TP_LEN) >>> 2] = total;
    r.u32[slot >>> 2] = TP_STATUS_SEND_REQUEST;
    r.txHead[port] = head + 1 === this.slots ? 0 : head + 1;
    r.txPending[port] = 1;
    return true;
  }

  /**
   * Hand every queued frame to the kernel: one send() per port that has any.
   * A port whose kick fails (device busy, down) keeps its frames queued and is
   * kicked again next round.
   */
  kickAll(ports: Int32Array, count: number): void {
    const r = this.rings;
    for (let k = 0; k < count; k++) {
      const p = ports[k];
      if (r.txPending[p] === 0) continue;
      const res = libc.kick(r.fd[p], libc.MSG_DONTWAIT);
      if (res >= 0 || res === -libc.ENETDOWN || res === -libc.ENXIO) r.txPending[p] = 0;
    }
  }
}

function addLe16(mem: Uint8Array, at: number, delta: number): void {
  const v = (mem[at] | (mem[at + 1] << 8)) + delta;
  mem[at] = v & 0xff;
  mem[at + 1] = (v >>> 8) & 0xff;
}
