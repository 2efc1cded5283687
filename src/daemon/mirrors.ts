// The switch's mirrors as the registry keeps them (ports as slots), each new
// one checked against the others by the rules of mirror-rules.ts. A port that
// goes leaves the selections, and a mirror whose output it was goes; wherever
// a mirror leaves the switch (mirror show, the --db file) its ports are named.
// The datapaths get the mirrors as a MirrorTable (core/mirror.ts).
//
// "Every frame" is a mirror added with no select list (selectAll, kept in the
// file), never a mirror whose lists emptied: a capture meant for one tenant
// must not become a capture of all tenants when that tenant's port leaves. A
// list a port left remembers its name, so that `mirror show` can say why it
// selects nothing (`(none: veth1 left)`); the mirror stays until deleted.

import { mirrorTable } from '../core/mirror.js';
import type { Datapath } from '../datapath/datapath.js';
import { VswError } from '../errors.js';
import type { MirrorAddRequest } from '../control/requests.js';
import type { MirrorShowResult } from '../control/results.js';
import type { ConfigStore } from './config.js';
import type { DbConfig } from './db.js';
import { errorText, type Logger } from './log.js';
import { type Mirror, mirrorConflict, mirrorsWithoutPort, selectsNothing } from './mirror-rules.js';
import type { PortNames } from './registry.js';
import type { MonitorHub } from '../control/monitor.js';

export class Mirrors {
  /** The mirrors, as the datapath has them. */
  private list: Mirror[] = [];

  constructor(
    private readonly datapath: Datapath,
    private readonly ports: PortNames,
    private readonly config: ConfigStore,
    private readonly log: Logger,
    private readonly maxPorts: number,
    private readonly monitor: MonitorHub,
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
      selectAll: r.selectIngress === undefined && r.selectEgress === undefined,
      selectIngress: [...new Set((r.selectIngress ?? []).map(slot))],
      selectEgress: [...new Set((r.selectEgress ?? []).map(slot))],
      selectVlans: r.selectVlans ?? null,
      leftIngress: [],
      leftEgress: [],
    };
    const names = this.ports.names();
    const problem = mirrorConflict(m, this.list, (s) => names[s] ?? `port ${s}`);
    if (problem !== null) throw new VswError('EMIRROR', problem);
    await this.change([...this.list, m]);
    this.log(`mirror ${m.name} added`);
    this.monitor.publish({ event: 'mirror-add', name: m.name, output: r.output });
  }

  async del(name: string): Promise<void> {
    if (!this.list.some((m) => m.name === name)) throw new VswError('ENOMIRROR', `no mirror ${name}`);
    await this.change(this.list.filter((m) => m.name !== name));
    this.log(`mirror ${name} deleted`);
    this.monitor.publish({ event: 'mirror-del', name });
  }

  async show(): Promise<MirrorShowResult> {
    const copies = await this.datapath.mirrorCopies();
    const names = this.ports.names();
    const name = (s: number): string => names[s] ?? `port ${s}`;
    return {
      mirrors: this.list.map((m, k) => ({
        name: m.name,
        output: name(m.output),
        selectAll: m.selectAll,
        selectIngress: m.selectIngress.map(name),
        selectEgress: m.selectEgress.map(name),
        leftIngress: m.leftIngress,
        leftEgress: m.leftEgress,
        selectVlans: m.selectVlans,
        copies: copies[k] ?? 0,
      })),
    };
  }

  /** Port `slot` (named `ifname`) is gone: selections lose it, and a mirror whose output it was goes. */
  portGone(slot: number, ifname: string): void {
    if (!this.list.some((m) => m.output === slot || m.selectIngress.includes(slot) || m.selectEgress.includes(slot))) return;
    const { kept, dropped, emptied } = mirrorsWithoutPort(this.list, slot, ifname);
    void this.push(kept).then(
      () => {
        this.log(`mirrors changed with port ${ifname}${dropped.length ? `: ${dropped.join(', ')} deleted (their output)` : ''}`);
        for (const name of emptied) this.log(`mirror ${name} selects nothing now: ${ifname} left its select list (it stays until 'vswconfig mirror del ${name}')`);
      },
      (err) => this.log(`mirrors on ${ifname}: not changed: ${errorText(err)}`),
    );
  }

  /**
   * The mirrors as the file keeps them, ports named: a mirror whose output has
   * gone goes; selected ports that have gone are left out of the lists (the
   * port's own removal names them among those that left).
   */
  saved(mirrors: readonly Mirror[] = this.list): DbConfig['mirrors'] {
    const names = this.ports.names();
    const named = (slots: number[]): string[] => slots.flatMap((s) => (names[s] === undefined ? [] : [names[s]!]));
    return mirrors.flatMap((m) => {
      const out = names[m.output];
      if (out === undefined) return [];
      return [
        {
          name: m.name,
          output: out,
          selectAll: m.selectAll,
          selectIngress: named(m.selectIngress),
          selectEgress: named(m.selectEgress),
          selectVlans: m.selectVlans,
          leftIngress: m.leftIngress,
          leftEgress: m.leftEgress,
        },
      ];
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
      const mirror: Mirror = {
        name: m.name,
        output: this.ports.slot(m.output),
        selectAll: m.selectAll,
        selectIngress: m.selectIngress.filter(present).map((p) => this.ports.slot(p)),
        selectEgress: m.selectEgress.filter(present).map((p) => this.ports.slot(p)),
        selectVlans: m.selectVlans,
        leftIngress: [...m.leftIngress, ...m.selectIngress.filter((p) => !present(p))],
        leftEgress: [...m.leftEgress, ...m.selectEgress.filter((p) => !present(p))],
      };
      const problem = mirrorConflict(mirror, this.list, (s) => names[s] ?? `port ${s}`);
      if (problem !== null) {
        this.log(`mirror ${m.name} dropped from ${from}: ${problem}`);
        continue;
      }
      if (selectsNothing(mirror)) this.log(`mirror ${m.name} selects nothing: ${[...mirror.leftIngress, ...mirror.leftEgress].join(', ')} left its select lists`);
      await this.change([...this.list, mirror]);
      this.log(`mirror ${m.name} added`);
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
