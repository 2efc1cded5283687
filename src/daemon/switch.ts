// The port registry of the switch: which interface is which port.
//
// Like the Linux bridge's br_add_if, add() checks everything before it changes
// anything: the interface exists, is Ethernet (not loopback), is nobody else's
// (not a port of a bridge or bond, not a bridge, not a port of another
// vswitchd: port-lock.ts), is not already a port, and the switch has room.
// Only once the datapath has opened the port is it recorded, so a failed add
// leaves nothing behind.
//
// The registry follows the datapath: an interface renamed keeps its port
// under the new name, and an add or delete the datapath finishes after the
// request timed out is applied when its answer comes.
//
// With a configuration file (record(), db.ts), a change is written to it
// before the datapath is asked, as ovsdb commits before Open vSwitch
// reconfigures: a change the file cannot take is refused and nothing changes.
// Once the datapath has answered (or a port went away, or was renamed) the
// file is written again if the switch now differs from it.

import { ACL_DEFAULT_PRIORITY, ACL_MAX_RULES, type AclRule, aclTable, compareRules, formatMacMask, parseMacMask } from '../core/acl.js';
import { formatMac, parseMac } from '../core/mac.js';
import { mirrorTable } from '../core/mirror.js';
import { TRACE_DEFAULT_DST, TRACE_DEFAULT_SRC, TRACE_DEFAULT_TYPE } from '../core/trace.js';
import { DEFAULT_PORT_VLAN, type PortVlan } from '../core/vlan.js';
import type { Datapath } from '../datapath/datapath.js';
import { dumpAgeSeconds, dumpLength, dumpMac, dumpPort, dumpVlan, type FdbDump } from '../datapath/fdb-dump.js';
import type { Stats } from '../datapath/messages.js';
import { DatapathTimeoutError, InUseError, VswError } from '../errors.js';
import type { AclAddRequest, MirrorAddRequest, TraceRequest } from '../control/requests.js';
import type { AclShowResult, FdbEntry, MirrorShowResult, StatsResult, TraceResult, VlanResult } from '../control/results.js';
import { interfaceHolder, isEthernet, isLoopback, readInterface, SYSFS_NET } from '../os/sysfs.js';
import { type DbConfig, type DbRule, type DbTunnel, type Db, DB_VERSION, withoutPort } from './db.js';
import { errorText, type Logger } from './log.js';
import { type Mirror, mirrorConflict, mirrorsWithoutPort } from './mirrors.js';
import { namedTrace } from './named-trace.js';
import type { PortLock, PortLocks } from './port-lock.js';

export interface Port {
  /** Index in the datapath, 0..maxPorts-1. */
  index: number;
  ifname: string;
  ifindex: number;
  /** Its 802.1Q mode, as the datapath has it (a new port has none: DEFAULT_PORT_VLAN). */
  vlan: PortVlan;
  /** A VXLAN tunnel's device (daemon/tunnels.ts), as the file keeps it: only `tunnel del` removes it. */
  tunnel: DbTunnel | null;
}

export interface SwitchOptions {
  datapath: Datapath;
  /** Which datapath the datapath is (shown by `vswconfig show`); default user. */
  datapathKind?: 'kernel' | 'user';
  maxPorts: number;
  log: Logger;
  /** Claims on interfaces, shared with every other vswitchd of the host. */
  locks: PortLocks;
  /** The sysfs net class directory; tests pass a fake one. */
  sysfsRoot?: string;
}

/** A port whose add is in flight (or timed out and awaits the datapath's late answer). */
interface PendingAdd {
  ifname: string;
  ifindex: number;
  /** The interface vanished meanwhile. */
  gone: boolean;
  tunnel: DbTunnel | null;
}

/** What restore() needs of the tunnels (daemon/tunnels.ts). */
export interface TunnelRestorer {
  /** Make the saved tunnel again, device, entries and port (with its spec's VLAN); throws why not. */
  restore(t: DbTunnel): Promise<void>;
  del(name: string): Promise<void>;
}

export class Switch {
  readonly datapathKind: 'kernel' | 'user';
  private readonly datapath: Datapath;
  private readonly maxPorts: number;
  private readonly log: Logger;
  private readonly locks: PortLocks;
  private readonly sysfsRoot: string;
  /** Ports in the order they were added. */
  private ports: Port[] = [];
  /** Ports whose addPort is in flight, by index. */
  private readonly pending = new Map<number, PendingAdd>();
  /** The claim on each port's interface (pending ones included), by index. */
  private readonly held = new Map<number, PortLock>();
  /** The ACL in match order (core/acl.ts), as the datapath has it. */
  private acl: AclRule[] = [];
  private nextAclId = 1;
  /** The mirrors (mirrors.ts), as the datapath has them. */
  private mirrors: Mirror[] = [];
  /** Where the configuration is kept; null: nowhere (no --db, during restore, shutting down). */
  private db: Db | null = null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private readonly listeners: Array<[string, (...args: any[]) => void]> = [];
  /** Told when a port is added or a port's link changes (its MTU may have): tunnels check their MTU then. */
  private portsChanged: () => void = () => undefined;

  constructor(opts: SwitchOptions) {
    this.datapath = opts.datapath;
    this.datapathKind = opts.datapathKind ?? 'user';
    this.maxPorts = opts.maxPorts;
    this.log = opts.log;
    this.locks = opts.locks;
    this.sysfsRoot = opts.sysfsRoot ?? SYSFS_NET;
    this.on('gone', (ev: { port: number }) => this.onGone(ev));
    this.on('link', (ev: { port: number; up: boolean; mtu: number }) => this.onLink(ev));
    this.on('renamed', (ev: { port: number; ifname: string }) => this.onRenamed(ev));
    // The message comes as a string, or as the event object { event: 'log', message }.
    this.on('log', (ev: unknown) => {
      const message = typeof ev === 'string' ? ev : (ev as { message?: unknown } | null)?.message;
      this.log(typeof message === 'string' ? message : JSON.stringify(ev));
    });
  }

  private on<A>(event: string, fn: (arg: A) => void): void {
    const safe = (arg: A): void => {
      try {
        fn(arg);
      } catch (err) {
        this.log(`error handling datapath event '${event}': ${(err as Error)?.message ?? String(err)}`);
      }
    };
    this.datapath.on(event, safe);
    this.listeners.push([event, safe]);
  }

  /** Stop listening to the datapath's events and give up every interface. */
  detach(): void {
    for (const [event, fn] of this.listeners) this.datapath.off(event, fn);
    this.listeners.length = 0;
    for (const lock of this.held.values()) lock.release();
    this.held.clear();
  }

  private byIndex(index: number): Port | undefined {
    return this.ports.find((p) => p.index === index);
  }

  private byName(ifname: string): Port | undefined {
    return this.ports.find((p) => p.ifname === ifname);
  }

  private release(index: number): void {
    this.held.get(index)?.release();
    this.held.delete(index);
  }

  /** Forget a port: the datapath has closed it. */
  private forget(port: Port): void {
    this.ports = this.ports.filter((p) => p !== port);
    this.release(port.index);
    this.persist();
    // Mirrors forget it too: its slot may be the next port's. A mirror whose output it was goes.
    if (this.mirrors.some((m) => m.output === port.index || m.selectIngress.includes(port.index) || m.selectEgress.includes(port.index))) {
      const { kept, dropped } = mirrorsWithoutPort(this.mirrors, port.index);
      void this.pushMirrors(kept).then(
        () => this.log(`mirrors changed with port ${port.ifname}${dropped.length ? `: ${dropped.join(', ')} deleted (their output)` : ''}`),
        (err) => this.log(`mirrors on ${port.ifname}: not changed: ${errorText(err)}`),
      );
    }
    // A rule on the port goes with it: its slot may be the next port's.
    if (this.acl.some((r) => r.port === port.index)) {
      const kept = this.acl.filter((r) => r.port !== port.index);
      void this.pushAcl(kept).then(
        () => this.log(`acl rules on ${port.ifname} deleted with the port`),
        (err) => this.log(`acl rules on ${port.ifname}: not deleted: ${(err as Error)?.message ?? String(err)}`),
      );
    }
  }

  private onGone(ev: { port: number }): void {
    const port = this.byIndex(ev?.port);
    if (port) {
      this.forget(port);
      this.log(`port ${port.ifname} removed: interface deleted`);
      return;
    }
    const pending = this.pending.get(ev?.port);
    if (pending) pending.gone = true;
  }

  private onLink(ev: { port: number; up: boolean; mtu: number }): void {
    const port = this.byIndex(ev?.port);
    const name = port?.ifname ?? this.pending.get(ev?.port)?.ifname;
    if (name === undefined) return;
    this.log(`port ${name} link ${ev.up ? 'up' : 'down'} (mtu ${ev.mtu})`);
    if (port) this.portsChanged();
  }

  onPortsChanged(fn: () => void): void {
    this.portsChanged = fn;
  }

  private onRenamed(ev: { port: number; ifname: string }): void {
    const entry = this.byIndex(ev?.port) ?? this.pending.get(ev?.port);
    if (entry === undefined || typeof ev.ifname !== 'string' || entry.ifname === ev.ifname) return;
    this.log(`port ${entry.ifname} renamed to ${ev.ifname}`);
    entry.ifname = ev.ifname;
    this.persist();
  }

  private lowestFreeIndex(): number {
    for (let i = 0; i < this.maxPorts; i++) {
      if (!this.byIndex(i) && !this.pending.has(i)) return i;
    }
    return -1;
  }

  async add(ifname: string, opts: { tunnel?: DbTunnel } = {}): Promise<void> {
    const info = await readInterface(ifname, this.sysfsRoot);
    if (info === null) throw new VswError('ENODEV', `no such interface: ${ifname}`);
    if (isLoopback(info)) throw new VswError('ENOTETHER', `${ifname} is a loopback interface, not Ethernet`);
    if (!isEthernet(info)) throw new VswError('ENOTETHER', `${ifname} is not an Ethernet interface`);
    const holder = await interfaceHolder(ifname, this.sysfsRoot);
    // From here to pending.set nothing awaits: no other add can slip in between.
    const existing = this.byName(ifname) ?? this.ports.find((p) => p.ifindex === info.ifindex);
    const inFlight = [...this.pending.values()].some((p) => p.ifname === ifname || p.ifindex === info.ifindex);
    if (existing || inFlight) {
      const was = existing && existing.ifname !== ifname ? ` (as ${existing.ifname})` : '';
      throw new VswError('EEXIST', `${ifname} is already a port of the switch${was}`);
    }
    if (holder !== null) throw new InUseError(ifname, holder);
    const index = this.lowestFreeIndex();
    if (index < 0) throw new VswError('EPORTLIMIT', `the switch already has ${this.maxPorts} ports (the limit)`);
    // The last check, and the only one that takes something: given back below if the add fails.
    this.held.set(index, this.locks.claim(ifname, info.ifindex));
    const doc = this.configuration();
    // A tunnel's port as it will be once tunnels.ts has set its VLAN: never in the file carrying every VLAN.
    doc.ports.push({ ifname, vlan: opts.tunnel ? tunnelPortVlan(opts.tunnel) : { ...DEFAULT_PORT_VLAN } });
    if (opts.tunnel) doc.tunnels.push({ ...opts.tunnel, name: ifname });
    try {
      this.commit(doc);
    } catch (err) {
      this.release(index);
      throw err;
    }

    const slot: PendingAdd = { ifname, ifindex: info.ifindex, gone: false, tunnel: opts.tunnel ?? null };
    this.pending.set(index, slot);
    try {
      await this.datapath.addPort(index, ifname, info.ifindex);
    } catch (err) {
      if (err instanceof DatapathTimeoutError) {
        // The slot and the claim stay reserved until the datapath answers.
        void err.late.then((ok) => this.addAnswered(index, slot, ok, true));
        throw new VswError(
          'ETIMEDOUT',
          `the datapath did not answer in time while adding ${ifname}; the port is added if it finishes later (see 'vswconfig show')`,
        );
      }
      this.pending.delete(index);
      this.release(index);
      this.persist();
      throw err;
    }
    this.addAnswered(index, slot, true, false);
  }

  private addAnswered(index: number, slot: PendingAdd, ok: boolean, late: boolean): void {
    this.pending.delete(index);
    const when = late ? ' (the datapath answered after the timeout)' : '';
    if (!ok) {
      this.release(index);
      this.log(`port ${slot.ifname} not added${when}`);
    } else if (slot.gone) {
      // The interface was deleted while the port was being opened; the
      // datapath has closed it already.
      this.release(index);
      this.log(`port ${slot.ifname} removed: interface deleted`);
    } else {
      this.ports.push({ index, ifname: slot.ifname, ifindex: slot.ifindex, vlan: DEFAULT_PORT_VLAN, tunnel: slot.tunnel });
      this.log(`port ${slot.ifname} added${when}`);
      this.portsChanged();
      // The file keeps the tunnel's VLAN (add wrote it), which tunnels.ts sets next: a restart
      // in between must not find its port in no VLAN mode, carrying every VLAN.
      if (slot.tunnel?.vlan != null) return;
    }
    this.persist();
  }

  async delete(ifname: string, opts: { tunnel?: boolean } = {}): Promise<void> {
    const port = this.byName(ifname);
    if (!port) throw new VswError('ENOTATTACHED', `${ifname} is not a port of the switch`);
    // Detached alone, its device would stay behind: the tunnel goes as a whole.
    if (port.tunnel && opts.tunnel !== true) throw new VswError('ETUNNEL', `${ifname} is a tunnel: remove it with 'vswconfig tunnel del ${ifname}'`);
    this.commit(withoutPort(this.configuration(), ifname));
    try {
      await this.datapath.removePort(port.index);
    } catch (err) {
      // If the interface vanished meanwhile, the port is gone all the same.
      if (!this.ports.includes(port)) return;
      if (err instanceof DatapathTimeoutError) {
        void err.late.then((ok) => this.deleteAnswered(port, ok, true));
        throw new VswError(
          'ETIMEDOUT',
          `the datapath did not answer in time while deleting ${ifname}; the port is deleted if it finishes later (see 'vswconfig show')`,
        );
      }
      this.persist();
      throw err;
    }
    this.deleteAnswered(port, true, false);
  }

  private deleteAnswered(port: Port, ok: boolean, late: boolean): void {
    if (!this.ports.includes(port)) return; // its interface was deleted meanwhile
    const when = late ? ' (the datapath answered after the timeout)' : '';
    if (!ok) {
      this.log(`port ${port.ifname} not deleted${when}`);
      this.persist();
      return;
    }
    this.forget(port);
    this.log(`port ${port.ifname} deleted${when}`);
  }

  /** Detach every port, last added first (on shutdown). Errors are logged, not thrown. */
  async detachAll(): Promise<void> {
    // Stopping is no change of configuration: the file keeps the ports.
    this.db = null;
    for (const port of [...this.ports].reverse()) {
      try {
        await this.datapath.removePort(port.index);
        this.log(`port ${port.ifname} detached`);
      } catch (err) {
        this.log(`port ${port.ifname}: detach failed: ${(err as Error)?.message ?? String(err)}`);
      }
      this.forget(port);
    }
  }

  /**
   * The port's 802.1Q mode; given `set` (valid: the protocol checked it), the
   * port takes it first. The registry records it once the datapath has it.
   */
  async vlan(ifname: string, set: PortVlan | null): Promise<VlanResult> {
    const port = this.byName(ifname);
    if (!port) throw new VswError('ENOTATTACHED', `${ifname} is not a port of the switch`);
    if (set !== null) {
      const doc = this.configuration();
      doc.ports.find((p) => p.ifname === ifname)!.vlan = set;
      this.commit(doc);
      try {
        await this.datapath.setVlan(port.index, set);
      } catch (err) {
        if (err instanceof DatapathTimeoutError) {
          void err.late.then((ok) => {
            if (ok) port.vlan = set;
            this.log(`port ${port.ifname} vlan ${ok ? 'set' : 'not set'} (the datapath answered after the timeout)`);
            this.persist();
          });
          throw new VswError('ETIMEDOUT', `the datapath did not answer in time while setting the VLAN mode of ${ifname}; see 'vswconfig vlan ${ifname}'`);
        }
        this.persist();
        throw err;
      }
      port.vlan = set;
      this.persist();
      this.log(`port ${port.ifname} vlan ${set.mode}${set.tag ? ` ${set.tag}` : ''}`);
    }
    return { ifname: port.ifname, mode: port.vlan.mode, tag: port.vlan.tag, trunks: port.vlan.trunks };
  }

  /**
   * Add an ACL rule (valid: the protocol checked it) and return its id. It is
   * in force for the next frame once the datapath has the new table.
   */
  async aclAdd(r: AclAddRequest): Promise<number> {
    let port: number | null = null;
    if (r.in !== undefined) {
      const p = this.byName(r.in);
      if (!p) throw new VswError('ENOTATTACHED', `${r.in} is not a port of the switch`);
      port = p.index;
    }
    if (this.acl.length >= ACL_MAX_RULES) throw new VswError('EACLFULL', `the switch holds at most ${ACL_MAX_RULES} ACL rules`);
    const rule: AclRule = {
      id: this.nextAclId,
      priority: r.priority ?? ACL_DEFAULT_PRIORITY,
      port,
      src: r.src === undefined ? null : parseMacMask(r.src),
      dst: r.dst === undefined ? null : parseMacMask(r.dst),
      type: r.type ?? null,
      vlan: r.vlan ?? null,
      action: r.action,
    };
    const rules = [...this.acl, rule].sort(compareRules);
    this.commit(this.configuration(rules, this.nextAclId + 1));
    this.nextAclId++;
    await this.pushAcl(rules);
    this.log(`acl ${rule.id} added`);
    return rule.id;
  }

  async aclDel(id: number): Promise<void> {
    if (!this.acl.some((r) => r.id === id)) throw new VswError('ENOACL', `no ACL rule ${id}`);
    const rules = this.acl.filter((r) => r.id !== id);
    this.commit(this.configuration(rules));
    await this.pushAcl(rules);
    this.log(`acl ${id} deleted`);
  }

  async aclShow(): Promise<AclShowResult> {
    const rules = this.acl;
    const hits = await this.datapath.aclHits();
    const names: (string | undefined)[] = [];
    for (const p of this.ports) names[p.index] = p.ifname;
    return {
      rules: rules.map((r, k) => ({
        id: r.id,
        priority: r.priority,
        in: r.port === null ? null : names[r.port] ?? `port ${r.port}`,
        src: r.src === null ? null : formatMacMask(r.src),
        dst: r.dst === null ? null : formatMacMask(r.dst),
        type: r.type,
        vlan: r.vlan,
        action: r.action,
        hits: hits[k] ?? 0,
      })),
    };
  }

  /** Hand the datapath `rules` (in match order); they are the ACL once it has them. */
  private async pushAcl(rules: AclRule[]): Promise<void> {
    await this.pushTable(() => this.datapath.setAcl(aclTable(rules)), () => (this.acl = rules), 'the ACL', 'acl show');
  }

  /** Hand the datapath `mirrors`; they are the mirrors once it has them. */
  private async pushMirrors(mirrors: Mirror[]): Promise<void> {
    await this.pushTable(() => this.datapath.setMirrors(mirrorTable(mirrors, this.maxPorts)), () => (this.mirrors = mirrors), 'the mirrors', 'mirror show');
  }

  /** Send a whole table to the datapath; `adopt` makes it the registry's once the datapath has it, even late. */
  private async pushTable(send: () => Promise<void>, adopt: () => void, what: string, see: string): Promise<void> {
    try {
      await send();
    } catch (err) {
      if (err instanceof DatapathTimeoutError) {
        void err.late.then((ok) => {
          if (ok) adopt();
          this.log(`${what} ${ok ? 'changed' : 'not changed'} (the datapath answered after the timeout)`);
          this.persist();
        });
        throw new VswError('ETIMEDOUT', `the datapath did not answer in time while changing ${what}; see 'vswconfig ${see}'`);
      }
      this.persist();
      throw err;
    }
    adopt();
    this.persist();
  }

  /**
   * Add a mirror (name and VLANs checked by the protocol): its ports must be
   * ports of the switch and it must keep the rules of mirrors.ts with the
   * others. In force for the next frame once the datapath has it.
   */
  async mirrorAdd(r: MirrorAddRequest): Promise<void> {
    const slot = (ifname: string): number => {
      const p = this.byName(ifname);
      if (!p) throw new VswError('ENOTATTACHED', `${ifname} is not a port of the switch`);
      return p.index;
    };
    const m: Mirror = {
      name: r.name,
      output: slot(r.output),
      selectIngress: [...new Set((r.selectIngress ?? []).map(slot))],
      selectEgress: [...new Set((r.selectEgress ?? []).map(slot))],
      selectVlans: r.selectVlans ?? null,
    };
    const problem = mirrorConflict(m, this.mirrors, (s) => this.byIndex(s)?.ifname ?? `port ${s}`);
    if (problem !== null) throw new VswError('EMIRROR', problem);
    const mirrors = [...this.mirrors, m];
    this.commit(this.configuration(this.acl, this.nextAclId, mirrors));
    await this.pushMirrors(mirrors);
    this.log(`mirror ${m.name} added`);
  }

  async mirrorDel(name: string): Promise<void> {
    if (!this.mirrors.some((m) => m.name === name)) throw new VswError('ENOMIRROR', `no mirror ${name}`);
    const mirrors = this.mirrors.filter((m) => m.name !== name);
    this.commit(this.configuration(this.acl, this.nextAclId, mirrors));
    await this.pushMirrors(mirrors);
    this.log(`mirror ${name} deleted`);
  }

  async mirrorShow(): Promise<MirrorShowResult> {
    const copies = await this.datapath.mirrorCopies();
    const names = this.portNames();
    const name = (s: number): string => names[s] ?? `port ${s}`;
    return {
      mirrors: this.mirrors.map((m, k) => ({
        name: m.name,
        output: name(m.output),
        selectIngress: m.selectIngress.map(name),
        selectEgress: m.selectEgress.map(name),
        selectVlans: m.selectVlans,
        copies: copies[k] ?? 0,
      })),
    };
  }

  /** A made-up frame through the pipeline of the datapath (core/trace.ts); nothing is sent or changed. */
  async trace(r: TraceRequest): Promise<TraceResult> {
    const port = this.byName(r.in);
    if (!port) throw new VswError('ENOTATTACHED', `${r.in} is not a port of the switch`);
    const frame = {
      ingress: port.index,
      src: parseMac(r.src ?? TRACE_DEFAULT_SRC),
      dst: parseMac(r.dst ?? TRACE_DEFAULT_DST),
      vlan: r.vlan ?? null,
      type: r.type ?? TRACE_DEFAULT_TYPE,
    };
    const t = await this.datapath.trace(frame);
    return namedTrace(t, frame, this.portNames(), port.vlan);
  }

  /** Port names by slot. */
  private portNames(): (string | undefined)[] {
    const names: (string | undefined)[] = [];
    for (const p of this.ports) names[p.index] = p.ifname;
    return names;
  }

  /**
   * The configuration as the file keeps it: the ports in order, and `rules`
   * (default: the ACL) named by port; a rule whose port has gone goes too.
   */
  configuration(rules: readonly AclRule[] = this.acl, nextId = this.nextAclId, mirrors: readonly Mirror[] = this.mirrors): DbConfig {
    const names = this.portNames();
    const kept: DbRule[] = [];
    for (const r of rules) {
      const name = r.port === null ? null : names[r.port];
      if (name === undefined) continue;
      kept.push({
        id: r.id,
        priority: r.priority,
        in: name,
        src: r.src === null ? null : formatMacMask(r.src),
        dst: r.dst === null ? null : formatMacMask(r.dst),
        type: r.type,
        vlan: r.vlan,
        action: r.action,
      });
    }
    return {
      version: DB_VERSION,
      ports: this.ports.map((p) => ({ ifname: p.ifname, vlan: { mode: p.vlan.mode, tag: p.vlan.tag, trunks: p.vlan.trunks } })),
      acl: { nextId, rules: kept },
      // A mirror whose output has gone goes; selected ports that have gone are left out.
      mirrors: mirrors.flatMap((m) => {
        const out = names[m.output];
        if (out === undefined) return [];
        const named = (slots: number[]): string[] => slots.flatMap((s) => (names[s] === undefined ? [] : [names[s]!]));
        return [{ name: m.name, output: out, selectIngress: named(m.selectIngress), selectEgress: named(m.selectEgress), selectVlans: m.selectVlans }];
      }),
      tunnels: this.ports.flatMap((p) => (p.tunnel ? [{ ...p.tunnel, name: p.ifname }] : [])),
    };
  }

  /** Write `doc` before the change it holds; the change is refused if it cannot be written. */
  private commit(doc: DbConfig): void {
    if (this.db === null) return;
    try {
      this.db.save(doc);
    } catch (err) {
      throw new VswError('ESYSCALL', `cannot save the configuration to ${this.db.path} (${errorText(err)}); nothing changed`);
    }
  }

  /**
   * Write the configuration with tunnel `t` as a new last port (in its spec's
   * VLAN) before its device is made; refused (ESYSCALL) if the file cannot take it.
   * If the tunnel is then not made, persist() takes it back out.
   */
  commitTunnel(t: DbTunnel): void {
    const doc = this.configuration();
    doc.ports.push({ ifname: t.name, vlan: tunnelPortVlan(t) });
    doc.tunnels.push(t);
    this.commit(doc);
  }

  /** Throw InUseError if another running vswitchd holds this interface (a claim taken and given back at once). */
  checkUnclaimed(ifname: string, ifindex: number): void {
    this.locks.claim(ifname, ifindex).release();
  }

  /** Write what the switch now is, if the file differs; a failure is logged (the change is made). */
  persist(): void {
    if (this.db === null) return;
    try {
      this.db.save(this.configuration());
    } catch (err) {
      this.log(`configuration not saved to ${this.db.path}: ${errorText(err)}`);
    }
  }

  /**
   * Apply a saved configuration to this new switch as the commands would: the
   * ports in order with their VLAN modes (a tunnel's port by `tunnels`, which
   * makes its device again), then the ACL with its ids. A port or tunnel
   * that cannot be added (its interface is missing or in use, …) is logged
   * and left out, and so are the rules on it. Nothing is written (see record).
   */
  async restore(saved: DbConfig, from: string, tunnels: TunnelRestorer | null = null): Promise<void> {
    const specs = new Map(saved.tunnels.map((t) => [t.name, t]));
    for (const p of saved.ports) {
      const spec = specs.get(p.ifname);
      const what = spec ? 'tunnel' : 'port';
      try {
        // Never a plain port for a tunnel: its device may be missing, or not ours.
        if (spec === undefined) await this.add(p.ifname);
        else if (tunnels === null) throw new VswError('ETUNNEL', 'no tunnels in this switch');
        else await tunnels.restore(spec);
        const now = this.byName(p.ifname)?.vlan;
        if (now !== undefined && !sameVlan(now, p.vlan)) await this.vlan(p.ifname, p.vlan);
      } catch (err) {
        this.log(`${what} ${p.ifname} dropped from ${from}: ${errorText(err)}`);
        // Not without its VLAN mode: the port would carry every VLAN.
        if (this.byName(p.ifname)) {
          const undo = spec && tunnels ? tunnels.del(p.ifname) : this.delete(p.ifname);
          await undo.catch((e: unknown) => this.log(`${what} ${p.ifname}: ${errorText(e)}`));
        }
      }
    }
    const rules: AclRule[] = [];
    for (const r of saved.acl.rules) {
      const port = r.in === null ? null : this.byName(r.in)?.index;
      if (port === undefined) {
        this.log(`acl ${r.id} dropped from ${from}: its port ${r.in} was dropped`);
        continue;
      }
      rules.push({
        id: r.id,
        priority: r.priority,
        port,
        src: r.src === null ? null : parseMacMask(r.src),
        dst: r.dst === null ? null : parseMacMask(r.dst),
        type: r.type,
        vlan: r.vlan,
        action: r.action,
      });
    }
    if (rules.length > 0) await this.pushAcl(rules.sort(compareRules));
    this.nextAclId = saved.acl.nextId;
    for (const m of saved.mirrors) {
      const present = (ifname: string): boolean => this.byName(ifname) !== undefined;
      if (!present(m.output)) {
        this.log(`mirror ${m.name} dropped from ${from}: its output ${m.output} was dropped`);
        continue;
      }
      const ports = [...m.selectIngress, ...m.selectEgress];
      for (const p of ports) if (!present(p)) this.log(`mirror ${m.name}: ${p} was dropped from ${from}`);
      await this.mirrorAdd({ ...m, selectIngress: m.selectIngress.filter(present), selectEgress: m.selectEgress.filter(present), selectVlans: m.selectVlans ?? undefined });
    }
  }

  /** From now on keep the configuration in `db`; writes it now if the switch differs from it. */
  record(db: Db): void {
    this.db = db;
    this.persist();
  }

  /** Port names, in the order they were added. */
  show(): string[] {
    return this.ports.map((p) => p.ifname);
  }

  /** A snapshot of the ports, without their VLAN mode (vlan() gives it), for tests and diagnostics. */
  list(): Array<Omit<Port, 'vlan' | 'tunnel'>> {
    return this.ports.map(({ index, ifname, ifindex }) => ({ index, ifname, ifindex }));
  }

  /**
   * The learned MACs, named by port: one snapshot of the datapath's FDB, read
   * an entry at a time as it is listed, so a big table never becomes a big
   * array of objects.
   */
  async fdb(): Promise<Iterable<FdbEntry>> {
    const dump = await this.datapath.fdb();
    const names: (string | undefined)[] = [];
    for (const p of this.ports) names[p.index] = p.ifname;
    return namedEntries(dump, names);
  }

  async stats(): Promise<StatsResult> {
    const s: Stats = await this.datapath.stats();
    const byIndex = new Map(s.ports.map((p) => [p.port, p]));
    const ports: StatsResult['ports'] = [];
    for (const p of this.ports) {
      const ps = byIndex.get(p.index);
      if (!ps) continue;
      ports.push({
        port: p.ifname,
        up: ps.up,
        mtu: ps.mtu,
        rxFrames: ps.rxFrames,
        rxBytes: ps.rxBytes,
        txFrames: ps.txFrames,
        txBytes: ps.txBytes,
        rxRingDrops: ps.rxRingDrops,
      });
    }
    return { ports, drops: { ...s.drops }, fdb: { ...s.fdb } };
  }
}

/** The mode `tunnel add` gives a tunnel's port: access port of its `vlan`, else none. */
function tunnelPortVlan(t: DbTunnel): PortVlan {
  return t.vlan === null ? { ...DEFAULT_PORT_VLAN } : { mode: 'access', tag: t.vlan, trunks: null };
}

function sameVlan(a: PortVlan, b: PortVlan): boolean {
  return a.mode === b.mode && a.tag === b.tag && JSON.stringify(a.trunks) === JSON.stringify(b.trunks);
}

function* namedEntries(dump: FdbDump, names: readonly (string | undefined)[]): Generator<FdbEntry, void, undefined> {
  const n = dumpLength(dump);
  for (let i = 0; i < n; i++) {
    const port = names[dumpPort(dump, i)];
    // Entries of a port that is being removed are about to be flushed.
    if (port === undefined) continue;
    yield { mac: formatMac(dumpMac(dump, i)), vlan: dumpVlan(dump, i), port, ageSeconds: dumpAgeSeconds(dump, i) };
  }
}
