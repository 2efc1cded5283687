// Delivery, pass 2 of Forwarder.process() (Linux br_forward / br_flood with
// should_deliver, and the egress side of br_handle_vlan): walks the verdicts
// pass 1 wrote, in batch order (frames of a flow never overtake each other on
// an egress port), hands each copy to the Egress with the tag it leaves with,
// copies mirrored frames, and counts what was sent and what was not. Every
// egress port, unicast, flood or mirror output, goes through the one
// shouldDeliver() predicate: the port is attached and up, and the frame fits
// its MTU.
//
// Flooding: the list of egress ports for a flood from each ingress port (every
// other attached port) is precomputed on attach/detach, so a flood is a loop
// over an Int32Array. A port that is attached but down stays on the lists and
// is skipped by shouldDeliver() (no count: flooding to a down port is not a
// drop), whereas a unicast frame whose known port is down is dropped and
// counted as PORT_DOWN, as br_forward does.
//
// MTU: batch.l3len[i] (bytes past the Ethernet header of the largest frame
// that reaches the wire) is compared with the egress port's MTU. VLAN tags do
// not count: the kernel strips the outer one (it is not in len), and tags
// left in the frame (the C-tag under an 802.1ad S-tag) are taken off l3len
// before the frame is refused, so a 1500-byte packet under two tags fits a
// 1500-byte port, as it crosses a Linux bridge (br_dev_queue_push_xmit:
// is_skb_forwardable allows the MTU + Ethernet header + one VLAN header beside
// the stripped tag). A flood checks each egress port separately, so it still
// reaches the ports whose MTU fits; each port it does not fit counts one
// MTU_EXCEEDED.
//
// VLANs: a frame is offered only to ports that carry its VLAN (a known
// unicast to one that does not is VLAN_NOT_ALLOWED), and batch.vlan[i] is set,
// per egress port, to the tag it leaves with before transmit() (egressTag(),
// stages.ts): untagged where the port's untagged VLAN is the frame's, else
// taggedAs(). With no VLAN mode and no mirror the loop is the plain one: every
// frame leaves as it came. The tag stripped by the kernel is put back in
// batch.vlan[i] after the frame's last copy. A flood or mirror copy gets its
// port's tag before shouldDeliver(), so a copy refused there is told to the
// Egress (capture drops) as it would have left that port, not with the tag of
// the copy before it; a known unicast refused is told as it came (the kernel
// program refuses it before it writes the tag).
//
// Mirrors (mirror.ts): a mirror's output port is off the flood lists
// (ports.ts) and whatever arrives on it is dropped (MIRROR_OUTPUT, in
// forwarder.ts). In pass 2 each forwarded frame gathers a mask of the mirrors that select it (its ingress port's, then
// each egress port's it passes should_deliver for), keeps those that select
// its VLAN, and is copied once to each of their outputs after its deliveries.
//
// Counters: drops by Reason (the Forwarder's array), each drop here also told
// to the Egress (refused(), with the egress port: `capture drops` of that
// port shows it); per-port tx frames and bytes. Bytes are wire bytes of the
// frame without FCS: len, plus 4 when a tag was stripped.

import { Batch, ETH_HLEN, ETH_P_8021AD, ETH_P_8021Q, FLOOD, NO_TAG, VLAN_HLEN } from './batch.js';
import type { Egress } from './egress.js';
import { type MirrorTable, noMirrors } from './mirror.js';
import { type PortTable, READY } from './ports.js';
import { Reason } from './reasons.js';
import { carries, egressTag, mirrorSelects, taggedAs } from './stages.js';


// Drop reasons as plain constants (keeps the hot loops free of property loads).
const R_MTU_EXCEEDED = Reason.MTU_EXCEEDED;
const R_TX_RING_FULL = Reason.TX_RING_FULL;
const R_PORT_DOWN = Reason.PORT_DOWN;
const R_VLAN_NOT_ALLOWED = Reason.VLAN_NOT_ALLOWED;

export class Delivery {
  /** Per port: frames/bytes the egress accepted. */
  readonly txFrames: Float64Array;
  readonly txBytes: Float64Array;

  private readonly ports: PortTable;
  private readonly egress: Egress;
  private readonly drops: Float64Array;
  private readonly maxPorts: number;
  // The port table's arrays (never replaced), read per frame.
  private readonly state: Uint8Array;
  private readonly mtus: Int32Array;
  private readonly floodPorts: Int32Array;
  private readonly floodLen: Int32Array;
  private readonly vlanUntagged: Int32Array;
  private readonly vlanMembers: Uint8Array;
  /** Mirrors (mirror.ts): the table in force, copies per mirror. */
  private mirrors: MirrorTable;
  private mirrorCount = 0;
  private mirrorCopies = new Float64Array(0);

  constructor(ports: PortTable, egress: Egress, drops: Float64Array) {
    this.ports = ports;
    this.egress = egress;
    this.drops = drops;
    this.maxPorts = ports.maxPorts;
    this.state = ports.state;
    this.mtus = ports.mtus;
    this.floodPorts = ports.floodPorts;
    this.floodLen = ports.floodLen;
    this.vlanUntagged = ports.vlanUntagged;
    this.vlanMembers = ports.vlanMembers;
    this.txFrames = new Float64Array(ports.maxPorts);
    this.txBytes = new Float64Array(ports.maxPorts);
    this.mirrors = noMirrors(ports.maxPorts);
  }

  /** The mirrors in force. */
  get mirrorTable(): MirrorTable {
    return this.mirrors;
  }

  /** Take new mirrors (the output ports are the PortTable's to know); a mirror kept by name keeps its count. */
  setMirrors(table: MirrorTable): void {
    const old = new Map(this.mirrors.names.map((name, k) => [name, this.mirrorCopies[k]]));
    const copies = new Float64Array(table.names.length);
    table.names.forEach((name, k) => (copies[k] = old.get(name) ?? 0));
    this.mirrors = table;
    this.mirrorCopies = copies;
    this.mirrorCount = table.names.length;
  }

  /** Frames each mirror copied, in the order of the last table. */
  mirrorCopyCounts(): number[] {
    return Array.from(this.mirrorCopies);
  }

  /**
   * Pass 2: send the n frames of `batch` from `ingress` where their verdicts
   * (and batch.vid, their VLANs) say, in batch order.
   */
  deliver(batch: Batch, ingress: number, n: number): void {
    const verdict = batch.verdict;
    const vlan = batch.vlan;
    const vids = batch.vid;
    const drops = this.drops;
    const members = this.vlanMembers;
    const floodPorts = this.floodPorts;
    const base = ingress * this.maxPorts;
    const floodLen = this.floodLen[ingress];
    const modedPorts = this.ports.modedPorts;
    if (modedPorts === 0 && this.mirrorCount === 0) {
      // No port has a VLAN mode: every port carries every VLAN and a frame leaves as it came.
      for (let i = 0; i < n; i++) {
        const v = verdict[i];
        if (v >= 0) {
          if (this.shouldDeliver(v, batch, i, false)) this.send(v, batch, i);
        } else if (v === FLOOD) {
          for (let k = 0; k < floodLen; k++) {
            const p = floodPorts[base + k];
            if (this.shouldDeliver(p, batch, i, true)) this.send(p, batch, i);
          }
        }
      }
      return;
    }
    const mirrorIn = this.mirrorCount === 0 ? 0 : this.mirrors.ingressMask[ingress];
    const mirrorEg = this.mirrors.egressMask;
    // Only mirrors, no VLAN mode: every port carries every VLAN (as the kernel's cfg->vlan_ports).
    const moded = modedPorts !== 0;
    const untagged = this.vlanUntagged;
    for (let i = 0; i < n; i++) {
      const v = verdict[i];
      if (v < 0 && v !== FLOOD) continue;
      const tag = vlan[i];
      const vid = vids[i];
      const tagged = taggedAs(tag, vid);
      let selected = mirrorIn;
      if (v >= 0) {
        if (moded && !carries(members, v, vid)) {
          drops[R_VLAN_NOT_ALLOWED]++;
          this.egress.refused(v, batch, i, R_VLAN_NOT_ALLOWED);
        } else if (this.shouldDeliver(v, batch, i, false)) {
          vlan[i] = egressTag(untagged, v, vid, tagged);
          this.send(v, batch, i);
          selected |= mirrorEg[v];
        }
      } else {
        for (let k = 0; k < floodLen; k++) {
          const p = floodPorts[base + k];
          if (moded && !carries(members, p, vid)) continue;
          // Before shouldDeliver: a copy it refuses is told (capture drops) with this port's tag.
          vlan[i] = egressTag(untagged, p, vid, tagged);
          if (!this.shouldDeliver(p, batch, i, true)) continue;
          this.send(p, batch, i);
          selected |= mirrorEg[p];
        }
      }
      if (selected !== 0) this.mirror(selected, batch, i, vid, tagged);
      vlan[i] = tag;
    }
  }

  /** Copy frame i (of VLAN vid) once to the output of each mirror in `selected` that selects vid. */
  private mirror(selected: number, batch: Batch, i: number, vid: number, tagged: number): void {
    const m = this.mirrors;
    for (let k = 0; k < this.mirrorCount; k++) {
      if ((selected & (1 << k)) === 0) continue;
      if (!mirrorSelects(m.vlanBits, k, vid)) continue;
      const out = m.outputs[k];
      // Before shouldDeliver, as a flood's copies: a refused copy carries its output's tag.
      batch.vlan[i] = egressTag(this.vlanUntagged, out, vid, tagged);
      if (!this.shouldDeliver(out, batch, i, true)) continue;
      if (this.send(out, batch, i)) this.mirrorCopies[k]++;
    }
  }

  /**
   * THE egress predicate (Linux should_deliver): may frame i go out of `port`?
   * Counts the reason when not, except a flood skipping a down port.
   */
  private shouldDeliver(port: number, batch: Batch, i: number, flood: boolean): boolean {
    if (this.state[port] !== READY) {
      if (!flood) {
        this.drops[R_PORT_DOWN]++;
        this.egress.refused(port, batch, i, R_PORT_DOWN);
      }
      return false;
    }
    const mtu = this.mtus[port];
    // Tags are only looked for in a frame that would not fit without them (rare).
    if (batch.l3len[i] > mtu && batch.l3len[i] - tagBytesInFrame(batch, i) > mtu) {
      this.drops[R_MTU_EXCEEDED]++;
      this.egress.refused(port, batch, i, R_MTU_EXCEEDED);
      return false;
    }
    return true;
  }

  private send(port: number, batch: Batch, i: number): boolean {
    if (this.egress.transmit(port, batch, i)) {
      this.txFrames[port]++;
      this.txBytes[port] += batch.vlan[i] === NO_TAG ? batch.len[i] : batch.len[i] + 4;
      return true;
    }
    this.drops[R_TX_RING_FULL]++;
    this.egress.refused(port, batch, i, R_TX_RING_FULL);
    return false;
  }
}

/**
 * Bytes of the 802.1Q/802.1ad tags still in frame i after its MAC addresses
 * (the kernel strips only the outermost, into batch.vlan).
 */
function tagBytesInFrame(batch: Batch, i: number): number {
  const mem = batch.mem;
  const type = batch.off[i] + 12;
  const len = batch.len[i];
  let n = 0;
  while (ETH_HLEN + n + VLAN_HLEN <= len) {
    const t = (mem[type + n] << 8) | mem[type + n + 1];
    if (t !== ETH_P_8021Q && t !== ETH_P_8021AD) break;
    n += VLAN_HLEN;
  }
  return n;
}
