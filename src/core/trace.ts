// A trace (issue 9, `vswconfig trace`): runs a made-up frame through the
// forwarding pipeline of forwarder.ts stage by stage, as ofproto/trace does in
// Open vSwitch, without sending it and without changing any table or counter.
// It reads the Forwarder's tables through a PipelineView and follows
// Forwarder.process() step for step; test/unit/trace.test.ts checks, on
// random frames, that it gives the verdict process() gives, and an integration
// test checks it against each datapath.
//
// The frame is the smallest one (60 bytes): it fits every MTU.

import { FLOOD, NO_TAG } from './batch.js';
import type { Fdb } from './fdb.js';
import type { MirrorTable } from './mirror.js';
import type { PortTable } from './ports.js';
import { REASON_NAMES } from './reasons.js';
import {
  aclDrops, aclRule, carries, destination, egressTag, fdbHi, ingressVid, mirrorSelects, PASS, TAG_8021Q, taggedAs, validationDrop,
} from './stages.js';
import { VlanMode } from './vlan.js';

/** What a trace's frame is unless told: from a locally administered MAC, broadcast, IPv4. */
export const TRACE_DEFAULT_SRC = '02:00:00:00:00:01';
export const TRACE_DEFAULT_DST = 'ff:ff:ff:ff:ff:ff';
export const TRACE_DEFAULT_TYPE = 0x0800;

/** The frame to trace. */
export interface TraceFrame {
  ingress: number;
  src: number;
  dst: number;
  /** VID of the 802.1Q tag it arrives with (priority 0), or null: untagged. */
  vlan: number | null;
  type: number;
}

/** What each stage decided; a stage the frame did not reach is null. Ports are slots. */
export interface Trace {
  ingress: { port: number; mirrorOutput: boolean };
  /** Dropped before the VLAN stage: runt, link-local, invalid-source, mirror-output. */
  validation: { drop: string } | null;
  vlan: { vid: number; why: string; drop?: string } | null;
  acl: { rule: number | null; action: 'allow' | 'drop'; rules: number } | null;
  learn: { kind: 'refresh' | 'move' | 'new' | 'refused'; from?: number; evicts?: { mac: number; vlan: number; port: number } } | null;
  lookup: { kind: 'group' | 'hit' | 'miss' | 'aged'; port?: number } | null;
  /** Per egress port considered: the VID it would leave tagged with (null: untagged, or as it came for VLAN 0), or why not. */
  egress: Array<{ port: number; tag: number | null; skipped?: string }>;
  mirrors: Array<{ mirror: string; output: number; tag: number | null; skipped?: string }>;
  verdict: { action: 'forward'; ports: number[] } | { action: 'drop'; reason: string };
}

/** The Forwarder's tables, read only. */
export interface PipelineView {
  ports: PortTable;
  fdb: Fdb;
  aclIds: readonly number[];
  aclRules: Int32Array;
  mirrors: MirrorTable;
}

/** Why the VLAN stage gave the frame its VLAN (or dropped it), for a port of VlanMode `mode`. */
function vlanWhy(mode: number, tagged: number | null): string {
  const vid = tagged ?? 0;
  if (mode === VlanMode.DEFAULT) return tagged === null ? 'untagged frame on a port with no VLAN mode: VLAN 0' : 'tagged frame on a port with no VLAN mode: its VID';
  if (mode === VlanMode.ACCESS) return vid !== 0 ? 'tagged frame on an access port' : 'untagged frame on an access port: the port\'s VLAN';
  if (vid === 0 && mode !== VlanMode.TRUNK) return 'untagged frame on a native port: the native VLAN';
  return vid === 0 ? 'untagged frame on a trunk: VLAN 0' : 'tagged frame on a trunk: its VID';
}

function macHL(mac: number): [number, number] {
  return [Math.floor(mac / 2 ** 32), mac % 2 ** 32 | 0];
}

export function traceFrame(v: PipelineView, f: TraceFrame, now: number): Trace {
  const t: Trace = {
    ingress: { port: f.ingress, mirrorOutput: false },
    validation: null,
    vlan: null,
    acl: null,
    learn: null,
    lookup: null,
    egress: [],
    mirrors: [],
    verdict: { action: 'forward', ports: [] },
  };
  const drop = (reason: string): Trace => {
    t.verdict = { action: 'drop', reason };
    return t;
  };
  const ingress = f.ingress;
  const table = v.ports;
  if (table.mirrorOutput[ingress] !== 0) {
    t.ingress.mirrorOutput = true;
    t.validation = { drop: 'mirror-output' };
    return drop('mirror-output');
  }
  const [dhi, dlo] = macHL(f.dst);
  const [shi, slo] = macHL(f.src);
  const bad = validationDrop(dhi, dlo, shi, slo);
  if (bad !== PASS) {
    t.validation = { drop: REASON_NAMES[bad]! };
    return drop(REASON_NAMES[bad]!);
  }

  // VLAN: the stage process() runs, on the tag the frame arrives with (802.1Q, priority 0).
  const tag = f.vlan === null ? NO_TAG : TAG_8021Q | f.vlan;
  const mode = table.vlanMode[ingress]!;
  const vid = ingressVid(mode, table.vlanTag[ingress]!, table.vlanMembers, ingress, tag);
  if (vid < 0) {
    // The VID it came with: an access or native port always carries its own VLAN, so only a VID the frame brought is refused.
    t.vlan = { vid: f.vlan ?? 0, why: vlanWhy(mode, f.vlan), drop: REASON_NAMES[~vid]! };
    return drop(REASON_NAMES[~vid]!);
  }
  t.vlan = { vid, why: vlanWhy(mode, f.vlan) };

  // ACL.
  const count = v.aclIds.length;
  if (count !== 0) {
    const k = aclRule(null, v.aclRules, count, ingress, shi, slo, dhi, dlo, f.type, vid, f.vlan === null);
    t.acl = { rule: k < 0 ? null : v.aclIds[k]!, action: aclDrops(v.aclRules, k) ? 'drop' : 'allow', rules: count };
    if (t.acl.action === 'drop') return drop('acl-drop');
  } else {
    t.acl = { rule: null, action: 'allow', rules: 0 };
  }

  // Learning, then the destination.
  const p = v.fdb.previewLearn(fdbHi(shi, vid), slo, ingress, now);
  t.learn = { kind: p.kind };
  if (p.from !== undefined) t.learn.from = p.from;
  if (p.victim !== undefined) {
    const [hi, lo] = p.victim;
    t.learn.evicts = { mac: (hi & 0xffff) * 2 ** 32 + (lo >>> 0), vlan: hi >>> 16, port: p.victimPort! };
  }
  let out = FLOOD;
  if ((dhi & 0x0100) !== 0) {
    t.lookup = { kind: 'group' };
  } else if (f.dst === f.src) {
    // The learning above would bind it to the ingress port.
    t.lookup = { kind: 'hit', port: ingress };
    out = ingress;
  } else {
    // The learning above would evict it: unknown.
    const evicted = p.victim !== undefined && p.victim[0] === fdbHi(dhi, vid) && p.victim[1] === dlo;
    out = evicted ? FLOOD : destination(v.fdb, dhi, dlo, vid, now);
    t.lookup = out >= 0 ? { kind: 'hit', port: out } : { kind: 'miss' };
  }
  if (out === ingress) return drop('same-port');

  // Delivery, as pass 2 of process(): tags by each egress port's mode.
  const tagged = taggedAs(tag, vid);
  const leave = (port: number): number | null => {
    const leaves = egressTag(table.vlanUntagged, port, vid, tagged);
    return leaves === NO_TAG ? null : leaves & 0xfff;
  };
  const moded = table.modedPorts !== 0;
  let selected = v.mirrors.ingressMask[ingress] ?? 0;
  const ports: number[] = [];
  let unicastDrop: string | null = null;
  if (out >= 0) {
    if (moded && !carries(table.vlanMembers, out, vid)) unicastDrop = 'vlan-not-allowed';
    else if (!table.isUp(out)) unicastDrop = 'port-down';
    if (unicastDrop === null) {
      t.egress.push({ port: out, tag: leave(out) });
      ports.push(out);
      selected |= v.mirrors.egressMask[out] ?? 0;
    } else {
      t.egress.push({ port: out, tag: null, skipped: unicastDrop });
    }
  } else {
    for (const q of table.floodList(ingress)) {
      if (moded && !carries(table.vlanMembers, q, vid)) t.egress.push({ port: q, tag: null, skipped: `VLAN ${vid} not carried` });
      else if (!table.isUp(q)) t.egress.push({ port: q, tag: null, skipped: 'down' });
      else {
        t.egress.push({ port: q, tag: leave(q) });
        ports.push(q);
        selected |= v.mirrors.egressMask[q] ?? 0;
      }
    }
  }
  const m = v.mirrors;
  for (let k = 0; k < m.names.length; k++) {
    if ((selected & (1 << k)) === 0) continue;
    const o = m.outputs[k]!;
    if (!mirrorSelects(m.vlanBits, k, vid)) {
      t.mirrors.push({ mirror: m.names[k]!, output: o, tag: null, skipped: `VLAN ${vid} not selected` });
    } else if (!table.isUp(o)) {
      t.mirrors.push({ mirror: m.names[k]!, output: o, tag: null, skipped: 'down' });
    } else {
      t.mirrors.push({ mirror: m.names[k]!, output: o, tag: leave(o) });
      ports.push(o);
    }
  }
  // A unicast frame its port does not take is dropped; the copies its ingress port's mirrors made still leave.
  t.verdict = unicastDrop !== null ? { action: 'drop', reason: unicastDrop } : { action: 'forward', ports };
  return t;
}
