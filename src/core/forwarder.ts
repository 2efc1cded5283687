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
//   br_forward / br_flood    -> pass 2, deliver in batch order (deliver.ts).
//   + should_deliver            Every egress port, unicast or flood, goes
//                               through the one shouldDeliver() predicate: the
//                               port is attached and up, and the frame fits its MTU.
//
// Pass 1 writes batch.verdict[i] for the whole batch first, so the FDB work
// runs as one tight loop; pass 2 then walks the verdicts. Each stage of pass 1
// is a function of stages.ts, which the trace (trace.ts) calls too.
//
// Files: this class holds the control path (attach, detach, link, VLAN modes,
// ACL, mirrors, each with the FDB flush it implies) and pass 1; the per-port
// tables are a PortTable (ports.ts), pass 2 and the tx counters a Delivery
// (deliver.ts).
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
// Mirrors (mirror.ts, deliver.ts): a mirror's output port is off the flood
// lists and whatever arrives on it is dropped (MIRROR_OUTPUT), whole batches.
//
// Counters: drops by Reason; per-port rx frames and bytes here, tx in
// deliver.ts. Bytes are wire bytes of the frame without FCS: len, plus 4 when
// a tag was stripped.

import { Batch, DROP, ETH_HLEN, NO_TAG } from './batch.js';
import type { AclTable } from './acl.js';
import { AclCache } from './acl-cache.js';
import { Delivery } from './deliver.js';
import type { Egress } from './egress.js';
import { FLUSH_DOWN, FLUSH_MIRROR, FLUSH_VLAN } from './fdb-journal.js';
import { Fdb, FDB_DEFAULT_AGING_MS, FDB_DEFAULT_MAX_PORTS, FDB_DEFAULT_SIZE } from './fdb.js';
import type { MirrorTable } from './mirror.js';
import { ATTACHED, PortTable, UP } from './ports.js';
import { Reason, REASON_COUNT } from './reasons.js';
import { aclDrops, aclRule, destination, fdbHi, ingressVid, PASS, validationDrop } from './stages.js';
import { type Trace, type TraceFrame, traceFrame } from './trace.js';
import type { PortVlan } from './vlan.js';

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

// Drop reasons as plain constants (keeps the hot loops free of property loads).
const R_RUNT = Reason.RUNT;
const R_SAME_PORT = Reason.SAME_PORT;
const R_ACL_DROP = Reason.ACL_DROP;
const R_MIRROR_OUTPUT = Reason.MIRROR_OUTPUT;

export class Forwarder {
  readonly maxPorts: number;
  readonly fdb: Fdb;
  /** Drops by Reason (reasons.ts). */
  readonly drops: Float64Array;
  /** Per port: frames/bytes received (every frame handed to process()). */
  readonly rxFrames: Float64Array;
  readonly rxBytes: Float64Array;
  /** Per port: frames/bytes the egress accepted (the Delivery's). */
  readonly txFrames: Float64Array;
  readonly txBytes: Float64Array;

  /** Link state, MTU, VLAN mode, mirror output and flood lists per port. */
  private readonly ports: PortTable;
  /** Pass 2. */
  private readonly delivery: Delivery;
  /** The ACL (acl.ts): rule ids, fields (ACL_STRIDE per rule) in match order, hits per rule. */
  private aclIds: number[] = [];
  private aclRules: Int32Array = new Int32Array(0);
  private aclCount = 0;
  private aclHits = new Float64Array(0);
  private readonly aclCache = new AclCache();

  constructor(opts: ForwarderOptions, egress: Egress) {
    const { maxPorts, fdbSize, agingMs } = opts;
    this.fdb = opts.fdb ?? new Fdb({ size: fdbSize, agingMs, maxPorts, portLimit: opts.fdbPortLimit, hashSecret: opts.hashSecret });
    this.maxPorts = maxPorts;
    this.drops = opts.drops ?? new Float64Array(REASON_COUNT);
    if (this.drops.length !== REASON_COUNT) throw new RangeError(`drops must have ${REASON_COUNT} counters`);
    this.rxFrames = new Float64Array(maxPorts);
    this.rxBytes = new Float64Array(maxPorts);
    this.ports = new PortTable(maxPorts);
    this.delivery = new Delivery(this.ports, egress, this.drops);
    this.txFrames = this.delivery.txFrames;
    this.txBytes = this.delivery.txBytes;
  }

  // ------------------------------------------------------------ control path

  /** Attach a port (or re-attach: updates link and MTU). Rebuilds the flood lists. */
  attach(port: number, up: boolean, mtu: number): void {
    this.ports.checkPort(port);
    this.ports.attach(port, up, mtu);
  }

  /** Detach a port: forget its FDB entries, take it off the flood lists. Counters are kept. */
  detach(port: number): void {
    this.ports.checkPort(port);
    this.fdb.flushPort(port);
    this.ports.detach(port);
  }

  /**
   * Give a port its VLAN mode (vlan.ts; the configuration must be valid). It
   * applies to the next frame; the port's FDB entries are forgotten, as Open
   * vSwitch flushes a bundle whose VLAN configuration changes: they were
   * learned under the old mode.
   */
  setVlan(port: number, c: PortVlan): void {
    this.ports.checkPort(port);
    this.ports.setVlan(port, c);
    this.fdb.flushPort(port, FLUSH_VLAN);
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
    this.delivery.setMirrors(table);
    for (const p of table.outputs) this.fdb.flushPort(p, FLUSH_MIRROR);
    this.ports.setMirrorOutputs(table.outputs);
  }

  /** Run a made-up frame through the pipeline without sending it or changing anything (trace.ts). */
  trace(frame: TraceFrame, now: number): Trace {
    this.ports.checkPort(frame.ingress);
    if (!this.ports.isAttached(frame.ingress)) throw new RangeError(`port ${frame.ingress} is not attached`);
    return traceFrame({ ports: this.ports, fdb: this.fdb, aclIds: this.aclIds, aclRules: this.aclRules, mirrors: this.delivery.mirrorTable }, frame, now);
  }

  /** Frames each mirror copied, in the order of the last table. */
  mirrorCopyCounts(): number[] {
    return this.delivery.mirrorCopyCounts();
  }

  /** The id of the k-th rule of the last table (a Batch's `why` names a rule by k), or -1. */
  aclRuleId(k: number): number {
    return k < this.aclIds.length ? this.aclIds[k] : -1;
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
    this.ports.checkPort(port);
    const state = this.ports.state[port];
    if ((state & ATTACHED) === 0) return;
    if (!up && (state & UP) !== 0) this.fdb.flushPort(port, FLUSH_DOWN);
    this.ports.setLink(port, up, mtu);
  }

  isAttached(port: number): boolean {
    return this.ports.isAttached(port);
  }

  isUp(port: number): boolean {
    return this.ports.isUp(port);
  }

  mtu(port: number): number {
    return this.ports.mtu(port);
  }

  /** Ports a flood from `ingress` is offered to (attached, not ingress), for tests/diagnostics. */
  floodList(ingress: number): number[] {
    return this.ports.floodList(ingress);
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

  // -------------------------------------------------------------- data path

  /**
   * Forward every frame of `batch`, received on `ingress`, at time `now` (ms).
   * Writes batch.verdict[i] for each frame, then transmits (deliver.ts).
   *
   * A batch from a port that is not attached (a read that raced a detach) is
   * ignored: verdicts DROP, nothing learned or counted.
   */
  process(batch: Batch, ingress: number, now: number): void {
    const n = batch.count;
    const verdict = batch.verdict;
    const ports = this.ports;
    if (!(ingress >= 0 && ingress < this.maxPorts) || (ports.state[ingress] & ATTACHED) === 0) {
      for (let i = 0; i < n; i++) verdict[i] = DROP;
      return;
    }
    if (ports.mirrorOutput[ingress] !== 0) {
      // A mirror's output port only sends copies.
      let bytes = 0;
      for (let i = 0; i < n; i++) {
        verdict[i] = DROP;
        batch.why[i] = R_MIRROR_OUTPUT;
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
    const mode = ports.vlanMode[ingress];
    const native = ports.vlanTag[ingress];
    const members = ports.vlanMembers;
    const aclCount = this.aclCount;
    const aclRules = this.aclRules;
    const why = batch.why;

    // Pass 1: validate, classify into a VLAN, learn, classify the destination.
    let bytes = 0;
    let deliver = 0;
    for (let i = 0; i < n; i++) {
      const l = len[i];
      bytes += vlan[i] === NO_TAG ? l : l + 4;
      if (l < ETH_HLEN) {
        verdict[i] = DROP;
        why[i] = R_RUNT;
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
        why[i] = bad;
        drops[bad]++;
        continue;
      }
      const tag = vlan[i];
      const vid = ingressVid(mode, native, members, ingress, tag);
      if (vid < 0) {
        verdict[i] = DROP;
        why[i] = ~vid;
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
            why[i] = R_ACL_DROP | (k << 8);
            drops[R_ACL_DROP]++;
            continue;
          }
        }
      }
      fdb.learnHL(fdbHi(shi, vid), slo, ingress, now);
      const p = destination(fdb, dhi, dlo, vid, now);
      if (p === ingress) {
        verdict[i] = DROP;
        why[i] = R_SAME_PORT;
        drops[R_SAME_PORT]++;
        continue;
      }
      verdict[i] = p;
      deliver++;
    }
    this.rxFrames[ingress] += n;
    this.rxBytes[ingress] += bytes;

    // Pass 2: deliver, in batch order.
    if (deliver !== 0) this.delivery.deliver(batch, ingress, n);
  }
}
