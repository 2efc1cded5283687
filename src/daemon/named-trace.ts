// A trace (core/trace.ts) as `vswconfig trace` shows it: port slots become
// interface names, MACs are written out, the ingress port's mode is spelled.

import { formatMac } from '../core/mac.js';
import type { Trace, TraceFrame } from '../core/trace.js';
import { formatPortVlan, type PortVlan } from '../core/vlan.js';
import type { TraceResult } from '../control/results.js';

export function namedTrace(t: Trace, f: TraceFrame, names: readonly (string | undefined)[], mode: PortVlan): TraceResult {
  const name = (slot: number): string => names[slot] ?? `port ${slot}`;
  const learn: TraceResult['learn'] = t.learn === null ? null : { kind: t.learn.kind };
  if (learn !== null && t.learn?.from !== undefined) learn.from = name(t.learn.from);
  if (learn !== null && t.learn?.evicts !== undefined) {
    const e = t.learn.evicts;
    learn.evicts = { mac: formatMac(e.mac), vlan: e.vlan, port: name(e.port) };
  }
  return {
    frame: { in: name(f.ingress), src: formatMac(f.src), dst: formatMac(f.dst), vlan: f.vlan, type: f.type },
    ingress: { port: name(t.ingress.port), mode: formatPortVlan(mode), mirrorOutput: t.ingress.mirrorOutput },
    validation: t.validation,
    vlan: t.vlan,
    acl: t.acl,
    learn,
    lookup: t.lookup === null ? null : t.lookup.port === undefined ? { kind: t.lookup.kind } : { kind: t.lookup.kind, port: name(t.lookup.port) },
    egress: t.egress.map((e) => ({ ...e, port: name(e.port) })),
    mirrors: t.mirrors.map((m) => ({ ...m, output: name(m.output) })),
    verdict: t.verdict.action === 'forward' ? { action: 'forward', ports: t.verdict.ports.map(name) } : t.verdict,
  };
}
