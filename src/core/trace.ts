// A trace (issue 9, `vswconfig trace`): runs a made-up frame through the
// forwarding pipeline of forwarder.ts stage by stage, as ofproto/trace does in
// Open vSwitch, without sending it and without changing any table or counter.
// It reads the Forwarder's tables through a PipelineView and follows
// Forwarder.process() step for step; test/unit/trace.test.ts checks, on
// random frames, that it gives the verdict process() gives, and an integration
// test checks it against each datapath.
//
// The frame is the smallest one (60 bytes): it fits every MTU.

import { A_ACTION, ACL_DROP, ACL_STRIDE, aclFirstMatch } from './acl.js';
import type { Fdb } from './fdb.js';
import { LINK_LOCAL_HI, LINK_LOCAL_LO } from './mac.js';
import type { MirrorTable } from './mirror.js';
import { VLAN_BITMAP_BYTES, VlanMode } from './vlan.js';

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
  maxPorts: number;
  attached(port: number): boolean;
  up(port: number): boolean;
  fdb: Fdb;
  vlanMode: Uint8Array;
  vlanTag: Int32Array;
  vlanUntagged: Int32Array;
  vlanMembers: Uint8Array;
  moded: boolean;
  aclIds: readonly number[];
  aclRules: Int32Array;
  mirrors: MirrorTable;
  floodList(ingress: number): number[];
}

const carries = (v: PipelineView, port: number, vid: number): boolean =>
  (v.vlanMembers[port * VLAN_BITMAP_BYTES + (vid >> 3)] & (1 << (vid & 7))) !== 0;

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
  if (v.mirrors.outputs.includes(ingress)) {
    t.ingress.mirrorOutput = true;
    t.validation = { drop: 'mirror-output' };
    return drop('mirror-output');
  }
  const [dhi, dlo] = macHL(f.dst);
  const [shi, slo] = macHL(f.src);
  if (dhi === LINK_LOCAL_HI && (dlo & ~0xf) === LINK_LOCAL_LO) {
    t.validation = { drop: 'link-local' };
    return drop('link-local');
  }
  if ((shi & 0x0100) !== 0 || (shi | slo) === 0) {
    t.validation = { drop: 'invalid-source' };
    return drop('invalid-source');
  }

  // VLAN, as pass 1 of process().
  const mode = v.vlanMode[ingress];
  let vid = f.vlan ?? 0;
  if (mode === VlanMode.DEFAULT) {
    t.vlan = { vid, why: f.vlan === null ? 'untagged frame on a port with no VLAN mode: VLAN 0' : 'tagged frame on a port with no VLAN mode: its VID' };
  } else if (mode === VlanMode.ACCESS) {
    if (vid !== 0) {
      t.vlan = { vid, why: 'tagged frame on an access port', drop: 'vlan-tagged' };
      return drop('vlan-tagged');
    }
    vid = v.vlanTag[ingress];
    t.vlan = { vid, why: 'untagged frame on an access port: the port\'s VLAN' };
  } else if (vid === 0 && mode !== VlanMode.TRUNK) {
    vid = v.vlanTag[ingress];
    t.vlan = { vid, why: 'untagged frame on a native port: the native VLAN' };
  } else {
    t.vlan = { vid, why: vid === 0 ? 'untagged frame on a trunk: VLAN 0' : 'tagged frame on a trunk: its VID' };
  }
  if (mode !== VlanMode.DEFAULT && !carries(v, ingress, vid)) {
    t.vlan.drop = 'vlan-not-allowed';
    return drop('vlan-not-allowed');
  }

  // ACL.
  const count = v.aclIds.length;
  if (count !== 0) {
    const k = aclFirstMatch(v.aclRules, count, ingress, shi, slo, dhi, dlo, f.type, vid, f.vlan === null);
    t.acl = k < 0 ? { rule: null, action: 'allow', rules: count } : { rule: v.aclIds[k]!, action: v.aclRules[k * ACL_STRIDE + A_ACTION] === ACL_DROP ? 'drop' : 'allow', rules: count };
    if (t.acl.action === 'drop') return drop('acl-drop');
  } else {
    t.acl = { rule: null, action: 'allow', rules: 0 };
  }

  // Learning, then the destination.
  const p = v.fdb.previewLearn(shi | (vid << 16), slo, ingress, now);
  t.learn = { kind: p.kind };
  if (p.from !== undefined) t.learn.from = p.from;
  if (p.victim !== undefined) {
    const [hi, lo] = p.victim;
    t.learn.evicts = { mac: (hi & 0xffff) * 2 ** 32 + (lo >>> 0), vlan: hi >>> 16, port: p.victimPort! };
  }
  let out = -1;
  if ((dhi & 0x0100) !== 0) {
    t.lookup = { kind: 'group' };
  } else if (f.dst === f.src) {
    // The learning above would bind it to the ingress port.
    t.lookup = { kind: 'hit', port: ingress };
    out = ingress;
  } else {
    const evicted = p.victim !== undefined && p.victim[0] === (dhi | (vid << 16)) && p.victim[1] === dlo;
    out = evicted ? -1 : v.fdb.lookupHL(dhi | (vid << 16), dlo, now);
    t.lookup = out >= 0 ? { kind: 'hit', port: out } : { kind: 'miss' };
  }
  if (out === ingress) return drop('same-port');

  // Delivery, as pass 2 of process(): tags by each egress port's mode.
  const leave = (port: number): number | null => (vid === 0 || v.vlanUntagged[port] === vid ? (vid === 0 ? f.vlan : null) : vid);
  let selected = v.mirrors.ingressMask[ingress] ?? 0;
  const ports: number[] = [];
  let unicastDrop: string | null = null;
  if (out >= 0) {
    if (v.moded && !carries(v, out, vid)) unicastDrop = 'vlan-not-allowed';
    else if (!v.up(out)) unicastDrop = 'port-down';
    if (unicastDrop === null) {
      t.egress.push({ port: out, tag: leave(out) });
      ports.push(out);
      selected |= v.mirrors.egressMask[out] ?? 0;
    } else {
      t.egress.push({ port: out, tag: null, skipped: unicastDrop });
    }
  } else {
    for (const q of v.floodList(ingress)) {
      if (v.moded && !carries(v, q, vid)) t.egress.push({ port: q, tag: null, skipped: `VLAN ${vid} not carried` });
      else if (!v.up(q)) t.egress.push({ port: q, tag: null, skipped: 'down' });
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
    if ((m.vlanBits[k * VLAN_BITMAP_BYTES + (vid >> 3)]! & (1 << (vid & 7))) === 0) {
      t.mirrors.push({ mirror: m.names[k]!, output: o, tag: null, skipped: `VLAN ${vid} not selected` });
    } else if (!v.up(o)) {
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
