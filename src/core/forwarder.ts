// The forwarding core: decides, for each received frame of a batch, where it
// goes, and hands it to the egress. Pure computation: no I/O, no Node APIs,
// no clock (the caller passes `now`), and no allocation per frame.
//
// Modelled on the Linux bridge (net/bridge):
//
//   br_handle_frame          -> pass 1, validation: runts (RUNT), link-local
//                               destinations 01:80:C2:00:00:00-0F (LINK_LOCAL:
//                               STP, pause, LACP, LLDP, 802.1X are never
//                               forwarded), invalid sources - multicast,
//                               broadcast or zero - (INVALID_SOURCE, not learned).
//   br_handle_frame_finish   -> pass 1, learn src -> ingress port, then
//                               classify: group destination -> FLOOD; unicast
//                               known -> that port (DROP SAME_PORT if it is the
//                               ingress port); unknown -> FLOOD.
//   br_forward / br_flood    -> pass 2, deliver in batch order. Every egress
//   + should_deliver            port, unicast or flood, goes through the one
//                               shouldDeliver() predicate: the port is
//                               attached and up, and the frame fits its MTU.
//
// Pass 1 writes batch.verdict[i] for the whole batch first, so the FDB work
// runs as one tight loop; pass 2 then walks the verdicts. Pass 2 keeps batch
// order (one loop, branching on unicast/flood) so that frames of a flow never
// overtake each other on an egress port.
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
// VLANs (802.1Q port modes, vlan.ts; Linux br_allowed_ingress / br_handle_vlan,
// Open vSwitch's input_vid_to_vlan / output_normal): pass 1 classifies each
// valid frame into a VLAN by its ingress port's mode, first (VLAN_TAGGED: a
// tagged frame on an access port; VLAN_NOT_ALLOWED: a VLAN the port does not
// carry), and learns and looks up (VLAN, MAC): the FDB is per VLAN. Pass 2
// offers a frame only to ports that carry its VLAN (a known unicast to one that
// does not is VLAN_NOT_ALLOWED) and sets, per egress port, the tag it leaves
// with in batch.vlan[i] before transmit(): untagged where the port's untagged
// VLAN is the frame's, else an 802.1Q tag of its VLAN keeping the priority and
// DEI bits of the tag it came with. A frame of VLAN 0 (untagged, or from a
// port with no mode) leaves exactly as it came, so a switch whose ports have no
// mode passes every tag (802.1ad included) unchanged. The tag stripped by the
// kernel is put back in batch.vlan[i] after the frame's last copy.
//
// ACL (acl.ts): after the VLAN and before learning, a frame is matched against
// the rules in table order; the first that matches counts a hit and decides
// (ACL_DROP: not learned, not forwarded). With no rule the pass is skipped.
// Which rule matches is cached per (port, MACs, type, VLAN) in acl-cache.ts,
// so a flow pays the scan of the rules once per ACL, not once per frame.
//
// Mirrors (mirror.ts): a mirror's output port is off the flood lists and
// whatever arrives on it is dropped (MIRROR_OUTPUT). In pass 2 each forwarded
// frame gathers a mask of the mirrors that select it (its ingress port's, then
// each egress port's it passes should_deliver for), keeps those that select
// its VLAN, and is copied once to each of their outputs after its deliveries.
//
// Counters: drops by Reason; per-port rx/tx frames and bytes. Bytes are wire
// bytes of the frame without FCS: len, plus 4 when a tag was stripped.

import { Batch, DROP, FLOOD, NO_TAG } from './batch.js';
import type { Egress } from './egress.js';
import { Fdb, FDB_DEFAULT_AGING_MS, FDB_DEFAULT_MAX_PORTS, FDB_DEFAULT_SIZE } from './fdb.js';
import { Reason, REASON_COUNT } from './reasons.js';
import type { AclTable } from './acl.js';
import { AclCache } from './acl-cache.js';
import { type MirrorTable, noMirrors } from './mirror.js';
import { type PipelineView, type Trace, type TraceFrame, traceFrame } from './trace.js';
import { DEFAULT_PORT_VLAN, fillVlanBitmap, type PortVlan, untaggedVid, VLAN_BITMAP_BYTES, VlanMode, vlanModeNumber } from './vlan.js';
import {
  aclDrops, aclRule, carries, destination, egressTag, fdbHi, ingressVid, mirrorSelects, PASS, taggedAs, validationDrop,
} from './stages.js';

export interface ForwarderOptions {
  maxPorts: number;
  /** Of a new Fdb (absent: the Fdb's defaults); not read when `fdb` is given, whose own size and aging hold. */
  fdbSize?: number;
  agingMs?: number;
  /** Most FDB entries a port learns; 0 or absent: no limit (see Fdb). */
  fdbPortLimit?: number;
  /**
   * Seed of the FDB's index hash (uint32). The daemon draws a random one per
   * process so that senders cannot craft colliding MACs; absent: 0, for tests.
   */
  hashSecret?: number;
  /**
   * Drop counters by reason (REASON_COUNT long). Default: a new array. The
   * datapath passes the one its egress also counts in, for frames the kernel
   * refuses after the egress queued them.
   */
  drops?: Float64Array;
  /** The FDB to learn into; default: a new one from the options above. The kernel datapath's thread passes its table of record. */
  fdb?: Fdb;
}

export const DEFAULT_FORWARDER_OPTIONS: Readonly<ForwarderOptions> = Object.freeze({
  maxPorts: FDB_DEFAULT_MAX_PORTS,
  fdbSize: FDB_DEFAULT_SIZE,
  agingMs: FDB_DEFAULT_AGING_MS,
});

/** Smallest frame with a whole Ethernet header. */
const ETH_HLEN = 14;
const VLAN_HLEN = 4;
const ETH_P_8021Q = 0x8100;
const ETH_P_8021AD = 0x88a8;

// Port state bits.
const ATTACHED = 1;
const UP = 2;
const READY = ATTACHED | UP;

// Drop reasons as plain constants (keeps the hot loops free of property loads).
const R_RUNT = Reason.RUNT;
const R_SAME_PORT = Reason.SAME_PORT;
const R_MTU_EXCEEDED = Reason.MTU_EXCEEDED;
const R_TX_RING_FULL = Reason.TX_RING_FULL;
const R_PORT_DOWN = Reason.PORT_DOWN;
const R_VLAN_NOT_ALLOWED = Reason.VLAN_NOT_ALLOWED;
const R_ACL_DROP = Reason.ACL_DROP;
const R_MIRROR_OUTPUT = Reason.MIRROR_OUTPUT;
const M_DEFAULT = VlanMode.DEFAULT;

export class Forwarder {
  readonly maxPorts: number;
  readonly fdb: Fdb;
  /** Drops by Reason (reasons.ts). */
  readonly drops: Float64Array;
  /** Per port: frames/bytes received (every frame handed to process()). */
  readonly rxFrames: Float64Array;
  readonly rxBytes: Float64Array;
  /** Per port: frames/bytes the egress accepted. */
  readonly txFrames: Float64Array;
  readonly txBytes: Float64Array;

  private readonly egress: Egress;
  /** ATTACHED | UP bits per port. */
  private readonly state: Uint8Array;
  private readonly mtus: Int32Array;
  /** floodPorts[ingress * maxPorts + k], k < floodLen[ingress]: egress ports of a flood. */
  private readonly floodPorts: Int32Array;
  private readonly floodLen: Int32Array;
  /** Per port: VlanMode, the access/native VLAN, the VLAN leaving untagged (-1: none). */
  private readonly vlanMode: Uint8Array;
  private readonly vlanTag: Int32Array;
  private readonly vlanUntagged: Int32Array;
  /** Per port, VLAN_BITMAP_BYTES: bit v set when the port carries VLAN v. */
  private readonly vlanMembers: Uint8Array;
  /** Ports with a VLAN mode: while none has one, every frame leaves every port as it came. */
  private modedPorts = 0;
  /** The ACL (acl.ts): rule ids, fields (ACL_STRIDE per rule) in match order, hits per rule. */
  private aclIds: number[] = [];
  private aclRules: Int32Array = new Int32Array(0);
  private aclCount = 0;
  private aclHits = new Float64Array(0);
  private readonly aclCache = new AclCache();
  /** Mirrors (mirror.ts): the table in force, whether each port is an output, copies per mirror. */
  private mirrors: MirrorTable;
  private mirrorCount = 0;
  private readonly mirrorOutput: Uint8Array;
  private mirrorCopies = new Float64Array(0);

  constructor(opts: ForwarderOptions, egress: Egress) {
    const { maxPorts, fdbSize, agingMs } = opts;
    this.fdb = opts.fdb ?? new Fdb({ size: fdbSize, agingMs, maxPorts, portLimit: opts.fdbPortLimit, hashSecret: opts.hashSecret });
    this.maxPorts = maxPorts;
    this.egress = egress;
    this.drops = opts.drops ?? new Float64Array(REASON_COUNT);
    if (this.drops.length !== REASON_COUNT) throw new RangeError(`drops must have ${REASON_COUNT} counters`);
    this.rxFrames = new Float64Array(maxPorts);
    this.rxBytes = new Float64Array(maxPorts);
    this.txFrames = new Float64Array(maxPorts);
    this.txBytes = new Float64Array(maxPorts);
    this.state = new Uint8Array(maxPorts);
    this.mtus = new Int32Array(maxPorts);
    this.floodPorts = new Int32Array(maxPorts * maxPorts);
    this.floodLen = new Int32Array(maxPorts);
    this.vlanMode = new Uint8Array(maxPorts);
    this.vlanTag = new Int32Array(maxPorts);
    this.vlanUntagged = new Int32Array(maxPorts);
    this.vlanMembers = new Uint8Array(maxPorts * VLAN_BITMAP_BYTES);
    this.mirrors = noMirrors(maxPorts);
    this.mirrorOutput = new Uint8Array(maxPorts);
    for (let p = 0; p < maxPorts; p++) this.setVlanState(p, DEFAULT_PORT_VLAN);
  }

  // ------------------------------------------------------------ control path

  /** Attach a port (or re-attach: updates link and MTU). Rebuilds the flood lists. */
  attach(port: number, up: boolean, mtu: number): void {
    this.checkPort(port);
    this.state[port] = ATTACHED | (up ? UP : 0);
    this.mtus[port] = mtu;
    this.rebuildFloodLists();
  }

  /** Detach a port: forget its FDB entries, take it off the flood lists. Counters are kept. */
  detach(port: number): void {
    this.checkPort(port);
    this.state[port] = 0;
    this.mtus[port] = 0;
    this.fdb.flushPort(port);
    this.setVlanState(port, DEFAULT_PORT_VLAN);
    this.rebuildFloodLists();
  }

  /**
   * Give a port its VLAN mode (vlan.ts; the configuration must be valid). It
   * applies to the next frame; the port's FDB entries are forgotten, as Open
   * vSwitch flushes a bundle whose VLAN configuration changes: they were
   * learned under the old mode.
   */
  setVlan(port: number, c: PortVlan): void {
    this.checkPort(port);
    this.setVlanState(port, c);
    this.fdb.flushPort(port);
  }

  private setVlanState(port: number, c: PortVlan): void {
    const mode = vlanModeNumber(c);
    this.modedPorts += (mode !== M_DEFAULT ? 1 : 0) - (this.vlanMode[port] !== M_DEFAULT ? 1 : 0);
    this.vlanMode[port] = mode;
    this.vlanTag[port] = c.tag;
    this.vlanUntagged[port] = untaggedVid(c);
    fillVlanBitmap(c, this.vlanMembers, port * VLAN_BITMAP_BYTES);
  }

  /** Take a new ACL, in force for the next frame; a rule kept (by id) keeps its hits. */
  setAcl(table: AclTable): void {
    const hits = new Float64Array(table.ids.length);
    const old = new Map(this.aclIds.map((id, k) => [id, this.aclHits[k]]));
    table.ids.forEach((id, k) => (hits[k] = old.get(id) ?? 0));
    this.aclIds = table.ids.slice();
    this.aclRules = table.rules;
    this.aclHits = hits;
    this.aclCount = table.ids.length;
    this.aclCache.invalidate();
  }

  /**
   * Take new mirrors, in force for the next frame; a mirror kept (by name)
   * keeps its count. An output port loses its FDB entries and leaves the flood
   * lists: it gets copies only.
   */
  setMirrors(table: MirrorTable): void {
    if (table.ingressMask.length !== this.maxPorts) throw new RangeError(`mirror table for ${table.ingressMask.length} ports, not ${this.maxPorts}`);
    const old = new Map(this.mirrors.names.map((name, k) => [name, this.mirrorCopies[k]]));
    const copies = new Float64Array(table.names.length);
    table.names.forEach((name, k) => (copies[k] = old.get(name) ?? 0));
    this.mirrors = table;
    this.mirrorCopies = copies;
    this.mirrorCount = table.names.length;
    this.mirrorOutput.fill(0);
    for (const p of table.outputs) {
      this.mirrorOutput[p] = 1;
      this.fdb.flushPort(p);
    }
    this.rebuildFloodLists();
  }

  /** Run a made-up frame through the pipeline without sending it or changing anything (trace.ts). */
  trace(frame: TraceFrame, now: number): Trace {
    this.checkPort(frame.ingress);
    if ((this.state[frame.ingress] & ATTACHED) === 0) throw new RangeError(`port ${frame.ingress} is not attached`);
    const view: PipelineView = {
      maxPorts: this.maxPorts,
      attached: (p) => this.isAttached(p),
      up: (p) => this.isUp(p),
      fdb: this.fdb,
      vlanMode: this.vlanMode,
      vlanTag: this.vlanTag,
      vlanUntagged: this.vlanUntagged,
      vlanMembers: this.vlanMembers,
      moded: this.modedPorts !== 0,
      aclIds: this.aclIds,
      aclRules: this.aclRules,
      mirrors: this.mirrors,
      floodList: (p) => this.floodList(p),
    };
    return traceFrame(view, frame, now);
  }

  /** Frames each mirror copied, in the order of the last table. */
  mirrorCopyCounts(): number[] {
    return Array.from(this.mirrorCopies);
  }

  /** Hits of each rule, in the order of the last table. */
  aclHitCounts(): number[] {
    return Array.from(this.aclHits);
  }

  /**
   * Link state or MTU of an attached port changed. A port going down loses its
   * FDB entries, as a Linux bridge port does when it is disabled: its stations
   * are flooded for (and relearned wherever they reappear) instead of being
   * sent into a dead link.
   */
  setLink(port: number, up: boolean, mtu: number): void {
    this.checkPort(port);
    if ((this.state[port] & ATTACHED) === 0) return;
    if (!up && (this.state[port] & UP) !== 0) this.fdb.flushPort(port);
    this.state[port] = ATTACHED | (up ? UP : 0);
    this.mtus[port] = mtu;
  }

  isAttached(port: number): boolean {
    return port >= 0 && port < this.maxPorts && (this.state[port] & ATTACHED) !== 0;
  }

  isUp(port: number): boolean {
    return port >= 0 && port < this.maxPorts && this.state[port] === READY;
  }

  mtu(port: number): number {
    return port >= 0 && port < this.maxPorts ? this.mtus[port] : 0;
  }

  /** Ports a flood from `ingress` is offered to (attached, not ingress), for tests/diagnostics. */
  floodList(ingress: number): number[] {
    this.checkPort(ingress);
    return Array.from(this.floodPorts.subarray(ingress * this.maxPorts, ingress * this.maxPorts + this.floodLen[ingress]));
  }

  /** FDB garbage collection; returns when to call again (see Fdb.expire). */
  expire(now: number): number {
    return this.fdb.expire(now);
  }

  /** Zero the drop and per-port counters (not the FDB counters). */
  resetCounters(): void {
    this.drops.fill(0);
    this.rxFrames.fill(0);
    this.rxBytes.fill(0);
    this.txFrames.fill(0);
    this.txBytes.fill(0);
  }

  private rebuildFloodLists(): void {
    const n = this.maxPorts;
    for (let ing = 0; ing < n; ing++) {
      let k = 0;
      for (let p = 0; p < n; p++) {
        if (p !== ing && (this.state[p] & ATTACHED) !== 0 && this.mirrorOutput[p] === 0) this.floodPorts[ing * n + k++] = p;
      }
      this.floodLen[ing] = k;
    }
  }

  private checkPort(port: number): void {
    if (!Number.isInteger(port) || port < 0 || port >= this.maxPorts) {
      throw new RangeError(`port ${port} out of range 0..${this.maxPorts - 1}`);
    }
  }

  // -------------------------------------------------------------- data path

  /**
   * Forward every frame of `batch`, received on `ingress`, at time `now` (ms).
   * Writes batch.verdict[i] for each frame, then transmits.
   *
   * A batch from a port that is not attached (a read that raced a detach) is
   * ignored: verdicts DROP, nothing learned or counted.
   */
  process(batch: Batch, ingress: number, now: number): void {
    const n = batch.count;
    const verdict = batch.verdict;
    if (!(ingress >= 0 && ingress < this.maxPorts) || (this.state[ingress] & ATTACHED) === 0) {
      for (let i = 0; i < n; i++) verdict[i] = DROP;
      return;
    }
    if (this.mirrorOutput[ingress] !== 0) {
      // A mirror's output port only sends copies.
      let bytes = 0;
      for (let i = 0; i < n; i++) {
        verdict[i] = DROP;
        bytes += batch.vlan[i] === NO_TAG ? batch.len[i] : batch.len[i] + 4;
      }
      this.drops[R_MIRROR_OUTPUT] += n;
      this.rxFrames[ingress] += n;
      this.rxBytes[ingress] += bytes;
      return;
    }
    const mem = batch.mem;
    const off = batch.off;
    const len = batch.len;
    const vlan = batch.vlan;
    const vids = batch.vid;
    const fdb = this.fdb;
    const drops = this.drops;
    const mode = this.vlanMode[ingress];
    const native = this.vlanTag[ingress];
    const members = this.vlanMembers;
    const aclCount = this.aclCount;
    const aclRules = this.aclRules;

    // Pass 1: validate, classify into a VLAN, learn, classify the destination.
    let bytes = 0;
    let deliver = 0;
    for (let i = 0; i < n; i++) {
      const l = len[i];
      bytes += vlan[i] === NO_TAG ? l : l + 4;
      if (l < ETH_HLEN) {
        verdict[i] = DROP;
        drops[R_RUNT]++;
        continue;
      }
      const o = off[i];
      const dhi = (mem[o] << 8) | mem[o + 1];
      const dlo = (mem[o + 2] << 24) | (mem[o + 3] << 16) | (mem[o + 4] << 8) | mem[o + 5];
      const shi = (mem[o + 6] << 8) | mem[o + 7];
      const slo = (mem[o + 8] << 24) | (mem[o + 9] << 16) | (mem[o + 10] << 8) | mem[o + 11];
      const bad = validationDrop(dhi, dlo, shi, slo);
      if (bad !== PASS) {
        verdict[i] = DROP;
        drops[bad]++;
        continue;
      }
      const tag = vlan[i];
      const vid = ingressVid(mode, native, members, ingress, tag);
      if (vid < 0) {
        verdict[i] = DROP;
        drops[~vid]++;
        continue;
      }
      vids[i] = vid;
      if (aclCount !== 0) {
        const type = (mem[o + 12] << 8) | mem[o + 13];
        const k = aclRule(this.aclCache, aclRules, aclCount, ingress, shi, slo, dhi, dlo, type, vid, tag === NO_TAG);
        if (k >= 0) {
          this.aclHits[k]++;
          if (aclDrops(aclRules, k)) {
            verdict[i] = DROP;
            drops[R_ACL_DROP]++;
            continue;
          }
        }
      }
      fdb.learnHL(fdbHi(shi, vid), slo, ingress, now);
      const p = destination(fdb, dhi, dlo, vid, now);
      if (p === ingress) {
        verdict[i] = DROP;
        drops[R_SAME_PORT]++;
        continue;
      }
      verdict[i] = p;
      deliver++;
    }
    this.rxFrames[ingress] += n;
    this.rxBytes[ingress] += bytes;

    // Pass 2: deliver, in batch order.
    if (deliver === 0) return;
    const floodPorts = this.floodPorts;
    const base = ingress * this.maxPorts;
    const floodLen = this.floodLen[ingress];
    if (this.modedPorts === 0 && this.mirrorCount === 0) {
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
    const moded = this.modedPorts !== 0;
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
        } else if (this.shouldDeliver(v, batch, i, false)) {
          vlan[i] = egressTag(untagged, v, vid, tagged);
          this.send(v, batch, i);
          selected |= mirrorEg[v];
        }
      } else {
        for (let k = 0; k < floodLen; k++) {
          const p = floodPorts[base + k];
          if ((moded && !carries(members, p, vid)) || !this.shouldDeliver(p, batch, i, true)) continue;
          vlan[i] = egressTag(untagged, p, vid, tagged);
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
      if (!this.shouldDeliver(out, batch, i, true)) continue;
      batch.vlan[i] = egressTag(this.vlanUntagged, out, vid, tagged);
      if (this.send(out, batch, i)) this.mirrorCopies[k]++;
    }
  }

  /**
   * THE egress predicate (Linux should_deliver): may frame i go out of `port`?
   * Counts the reason when not, except a flood skipping a down port.
   */
  private shouldDeliver(port: number, batch: Batch, i: number, flood: boolean): boolean {
    if (this.state[port] !== READY) {
      if (!flood) this.drops[R_PORT_DOWN]++;
      return false;
    }
    const mtu = this.mtus[port];
    // Tags are only looked for in a frame that would not fit without them (rare).
    if (batch.l3len[i] > mtu && batch.l3len[i] - tagBytesInFrame(batch, i) > mtu) {
      this.drops[R_MTU_EXCEEDED]++;
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
