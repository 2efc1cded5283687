// The switch's mirrors as the registry keeps them (ports as slots), and the
// rules a new mirror must keep with the others (issue 9, Open vSwitch's): its
// name is free, its output port is no other mirror's output and is selected
// by no mirror, and no port it selects is a mirror's output. The datapaths
// get them as a MirrorTable (core/mirror.ts).

import { MIRROR_MAX, type MirrorSpec } from '../core/mirror.js';

export type Mirror = MirrorSpec;

/** What keeps `m` from joining `others`, or null. `nameOf` names a port slot. */
export function mirrorConflict(m: Mirror, others: readonly Mirror[], nameOf: (slot: number) => string): string | null {
  if (others.some((o) => o.name === m.name)) return `mirror ${m.name} exists`;
  if (others.length >= MIRROR_MAX) return `the switch holds at most ${MIRROR_MAX} mirrors`;
  const out = nameOf(m.output);
  if (m.selectIngress.includes(m.output) || m.selectEgress.includes(m.output)) {
    return `${out} cannot be both the output of mirror ${m.name} and selected by it`;
  }
  for (const o of others) {
    if (o.output === m.output) return `${out} is already the output of mirror ${o.name}`;
    if (o.selectIngress.includes(m.output) || o.selectEgress.includes(m.output)) return `${out} is selected by mirror ${o.name}: it cannot be an output`;
    for (const p of [...m.selectIngress, ...m.selectEgress]) {
      if (p === o.output) return `${nameOf(p)} is the output of mirror ${o.name}: it cannot be selected`;
    }
  }
  return null;
}

/** The mirrors once port `slot` is gone: selections lose it, and a mirror whose output it was goes. */
export function mirrorsWithoutPort(mirrors: readonly Mirror[], slot: number): { kept: Mirror[]; dropped: string[] } {
  const kept: Mirror[] = [];
  const dropped: string[] = [];
  for (const m of mirrors) {
    if (m.output === slot) {
      dropped.push(m.name);
      continue;
    }
    kept.push({ ...m, selectIngress: m.selectIngress.filter((p) => p !== slot), selectEgress: m.selectEgress.filter((p) => p !== slot) });
  }
  return { kept, dropped };
}
