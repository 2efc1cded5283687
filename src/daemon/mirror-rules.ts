// The rules between the switch's mirrors (issue 9, Open vSwitch's), on
// mirrors as the registry keeps them (ports as slots): a new mirror's name is
// free, its output port is no other mirror's output and is selected by no
// mirror, and no port it selects is a mirror's output; what becomes of the
// mirrors when a port goes. Pure functions: the registry's mirrors
// (mirrors.ts) and the --db file's check (db.ts) both keep these rules.

import { MIRROR_MAX, type MirrorSpec } from '../core/mirror.js';

/** A mirror as the registry keeps it: the datapaths' spec, and the ports that left its lists (by name). */
export interface Mirror extends MirrorSpec {
  leftIngress: string[];
  leftEgress: string[];
}

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

/** Does `m` select no frame at all (not every-frame, and its lists are empty)? */
export function selectsNothing(m: Pick<Mirror, 'selectAll' | 'selectIngress' | 'selectEgress'>): boolean {
  return !m.selectAll && m.selectIngress.length === 0 && m.selectEgress.length === 0;
}

/**
 * The mirrors once port `slot` (named `ifname`) is gone: selections lose it and
 * remember its name, a mirror whose output it was goes; `emptied` names the
 * mirrors that now select nothing.
 */
export function mirrorsWithoutPort(mirrors: readonly Mirror[], slot: number, ifname: string): { kept: Mirror[]; dropped: string[]; emptied: string[] } {
  const kept: Mirror[] = [];
  const dropped: string[] = [];
  const emptied: string[] = [];
  for (const m of mirrors) {
    if (m.output === slot) {
      dropped.push(m.name);
      continue;
    }
    const inIngress = m.selectIngress.includes(slot);
    const inEgress = m.selectEgress.includes(slot);
    const n: Mirror = {
      ...m,
      selectIngress: m.selectIngress.filter((p) => p !== slot),
      selectEgress: m.selectEgress.filter((p) => p !== slot),
      leftIngress: inIngress ? [...m.leftIngress, ifname] : m.leftIngress,
      leftEgress: inEgress ? [...m.leftEgress, ifname] : m.leftEgress,
    };
    if ((inIngress || inEgress) && selectsNothing(n)) emptied.push(m.name);
    kept.push(n);
  }
  return { kept, dropped, emptied };
}
