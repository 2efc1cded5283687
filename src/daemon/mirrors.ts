// The switch's mirrors as the registry keeps them (ports as slots), and the
// rules a new mirror must keep with the others (issue 9, Open vSwitch's): its
// name is free, its output port is no other mirror's output and is selected
// by no mirror, and no port it selects is a mirror's output. A port that goes
// leaves the selections, and a mirror whose output it was goes; wherever a
// mirror leaves the switch (mirror show, the --db file) its ports are named.
// The datapaths get the mirrors as a MirrorTable (core/mirror.ts).

import { MIRROR_MAX, type MirrorSpec, mirrorTable } from '../core/mirror.js';
import type { Datapath } from '../datapath/datapath.js';
import { VswError } from '../errors.js';
import type { MirrorAddRequest } from '../control/requests.js';
import type { MirrorShowResult } from '../control/results.js';
import type { ConfigStore } from './config.js';
import type { DbConfig } from './db.js';
import { errorText, type Logger } from './log.js';
import type { PortNames } from './switch.js';

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

export class Mirrors {
  /** The mirrors, as the datapath has them. */
  private list: Mirror[] = [];

  constructor(
    private readonly datapath: Datapath,
    private readonly ports: PortNames,
    private readonly config: ConfigStore,
    private readonly log: Logger,
    private readonly maxPorts: number,
  ) {}

  /**
   * Add a mirror (name and VLANs checked by the protocol): its ports must be
   * ports of the switch and it must keep the rules above with the others. In
   * force for the next frame once the datapath has it.
   */
  async add(r: MirrorAddRequest): Promise<void> {
    const slot = (ifname: string): number => this.ports.slot(ifname);
    const m: Mirror = {
      name: r.name,
      output: slot(r.output),
      selectIngress: [...new Set((r.selectIngress ?? []).map(slot))],
      selectEgress: [...new Set((r.selectEgress ?? []).map(slot))],
      selectVlans: r.selectVlans ?? null,
    };
    const names = this.ports.names();
    const problem = mirrorConflict(m, this.list, (s) => names[s] ?? `port ${s}`);
    if (problem !== null) throw new VswError('EMIRROR', problem);
    await this.change([...this.list, m]);
    this.log(`mirror ${m.name} added`);
  }

  async del(name: string): Promise<void> {
    if (!this.list.some((m) => m.name === name)) throw new VswError('ENOMIRROR', `no mirror ${name}`);
    await this.change(this.list.filter((m) => m.name !== name));
    this.log(`mirror ${name} deleted`);
  }

  async show(): Promise<MirrorShowResult> {
    const copies = await this.datapath.mirrorCopies();
    const names = this.ports.names();
    const name = (s: number): string => names[s] ?? `port ${s}`;
    return {
      mirrors: this.list.map((m, k) => ({
        name: m.name,
        output: name(m.output),
        selectIngress: m.selectIngress.map(name),
        selectEgress: m.selectEgress.map(name),
        selectVlans: m.selectVlans,
        copies: copies[k] ?? 0,
      })),
    };
  }

  /** Port `slot` (named `ifname`) is gone: selections lose it, and a mirror whose output it was goes. */
  portGone(slot: number, ifname: string): void {
    if (!this.list.some((m) => m.output === slot || m.selectIngress.includes(slot) || m.selectEgress.includes(slot))) return;
    const { kept, dropped } = mirrorsWithoutPort(this.list, slot);
    void this.push(kept).then(
      () => this.log(`mirrors changed with port ${ifname}${dropped.length ? `: ${dropped.join(', ')} deleted (their output)` : ''}`),
      (err) => this.log(`mirrors on ${ifname}: not changed: ${errorText(err)}`),
    );
  }

  /** The mirrors as the file keeps them, ports named: a mirror whose output has gone goes; selected ports that have gone are left out. */
  saved(mirrors: readonly Mirror[] = this.list): DbConfig['mirrors'] {
    const names = this.ports.names();
    const named = (slots: number[]): string[] => slots.flatMap((s) => (names[s] === undefined ? [] : [names[s]!]));
    return mirrors.flatMap((m) => {
      const out = names[m.output];
      if (out === undefined) return [];
      return [{ name: m.name, output: out, selectIngress: named(m.selectIngress), selectEgress: named(m.selectEgress), selectVlans: m.selectVlans }];
    });
  }

  /** Apply saved mirrors at start; a port that was not restored is logged and left out, and a mirror whose output it was. */
  async restore(saved: DbConfig['mirrors'], from: string): Promise<void> {
    for (const m of saved) {
      const names = this.ports.names();
      const present = (ifname: string): boolean => names.includes(ifname);
      if (!present(m.output)) {
        this.log(`mirror ${m.name} dropped from ${from}: its output ${m.output} was dropped`);
        continue;
      }
      for (const p of [...m.selectIngress, ...m.selectEgress]) if (!present(p)) this.log(`mirror ${m.name}: ${p} was dropped from ${from}`);
      await this.add({ ...m, selectIngress: m.selectIngress.filter(present), selectEgress: m.selectEgress.filter(present), selectVlans: m.selectVlans ?? undefined });
    }
  }

  /** Write `mirrors` to the file, then hand them to the datapath. */
  private async change(mirrors: Mirror[]): Promise<void> {
    this.config.commit({ ...this.config.configuration(), mirrors: this.saved(mirrors) });
    await this.push(mirrors);
  }

  /** Hand the datapath `mirrors`; they are the mirrors once it has them. */
  private async push(mirrors: Mirror[]): Promise<void> {
    await this.config.apply(
      () => this.datapath.setMirrors(mirrorTable(mirrors, this.maxPorts)),
      () => (this.list = mirrors),
      (ok) => `the mirrors ${ok ? 'changed' : 'not changed'}`,
      "changing the mirrors; see 'vswconfig mirror show'",
    );
  }
}
