// The port registry of the switch: which interface is which port (the
// datapath's slot), and what the datapath tells of them.
//
// Like the Linux bridge's br_add_if, add() checks everything before it changes
// anything: the interface exists, is Ethernet (not loopback), is nobody else's
// (not a port of a bridge or bond, not a bridge, not a port of another
// vswitchd: port-lock.ts), is not already a port, and the switch has room.
// Only once the datapath has opened the port is it attached, so a failed add
// leaves nothing behind.
//
// The registry follows the datapath: an interface renamed keeps its port
// under the new name, and an add or delete the datapath finishes after the
// request timed out is applied when its answer comes.
//
// A Switch is made of the registry and the parts that name its ports: the ACL
// (acl.ts), the mirrors (mirrors.ts) and the configuration store (config.ts),
// which writes every change to the --db file before the datapath is asked.

import { formatMac, parseMac } from '../core/mac.js';
import { TRACE_DEFAULT_DST, TRACE_DEFAULT_SRC, TRACE_DEFAULT_TYPE } from '../core/trace.js';
import { DEFAULT_PORT_VLAN, type PortVlan } from '../core/vlan.js';
import type { Datapath } from '../datapath/datapath.js';
import { dumpAgeSeconds, dumpLength, dumpMac, dumpPort, dumpVlan, type FdbDump } from '../datapath/fdb-dump.js';
import type { DatapathEvent, Stats, ThreadMemory } from '../datapath/messages.js';
import { DatapathTimeoutError, InUseError, VswError } from '../errors.js';
import type { TraceRequest } from '../control/requests.js';
import type { FdbEntry, StatsResult, TraceResult, VlanResult } from '../control/results.js';
import { interfaceHolder, isEthernet, isLoopback, readInterface, SYSFS_NET } from '../os/sysfs.js';
import { MonitorHub } from '../control/monitor.js';
import { Acl } from './acl.js';
import { ConfigStore } from './config.js';
import { withoutPort } from './db.js';
import { publishFdbEvents } from './fdb-events.js';
import { errorText, type Logger } from './log.js';
import { Mirrors } from './mirrors.js';
import { namedTrace } from './named-trace.js';
import type { ConfiguredSwitch, Port, PortNames, PortTunnel } from './registry.js';
import type { PortLock, PortLocks } from './port-lock.js';

type LinkEvent = Extract<DatapathEvent, { event: 'link' }>;

/** One slot of the datapath and what holds it, from the add that takes it to the port's end. */
interface Slot extends Port {
  ifname: string;
  vlan: PortVlan;
  /** 'adding': the datapath is opening it (or timed out, and its late answer is awaited). */
  state: 'adding' | 'attached';
  /** The claim on its interface (port-lock.ts). */
  lock: PortLock;
  /** While adding: the interface vanished meanwhile. */
  gone: boolean;
}

export interface SwitchOptions {
  datapath: Datapath;
  /** Which datapath the datapath is (shown by `vswconfig show`); default user. */
  datapathKind?: 'kernel' | 'user';
  /** How the datapath's programs are attached at tc ingress (shown by `vswconfig show`); undefined: not said. */
  attachMode?: 'tcx' | 'tc';
  maxPorts: number;
  log: Logger;
  /** Claims on interfaces, shared with every other vswitchd of the host. */
  locks: PortLocks;
  /** The sysfs net class directory; tests pass a fake one. */
  sysfsRoot?: string;
  /** Where changes are told (`vswconfig monitor`); default: a hub of its own. */
  monitor?: MonitorHub;
}

export class Switch implements PortNames, ConfiguredSwitch {
  readonly datapathKind: 'kernel' | 'user';
  readonly attachMode: 'tcx' | 'tc' | undefined;
  /** The --db file: written before each change, applied at start. */
  readonly config: ConfigStore;
  readonly acl: Acl;
  readonly mirrors: Mirrors;
  /** The stream of `vswconfig monitor`: ports, links, configuration and the FDB's changes. */
  readonly monitor: MonitorHub;
  private readonly datapath: Datapath;
  private readonly maxPorts: number;
  private readonly log: Logger;
  private readonly locks: PortLocks;
  private readonly sysfsRoot: string;
  /** Attached ports in the order they were attached, and ports being added. */
  private slots: Slot[] = [];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private readonly listeners: Array<[string, (...args: any[]) => void]> = [];
  /** Told when a port is added or a port's link changes (its MTU may have): tunnels check their MTU then. */
  private portsChanged: () => void = () => undefined;

  constructor(opts: SwitchOptions) {
    this.datapath = opts.datapath;
    this.datapathKind = opts.datapathKind ?? 'user';
    this.attachMode = opts.attachMode;
    this.maxPorts = opts.maxPorts;
    this.log = opts.log;
    this.locks = opts.locks;
    this.sysfsRoot = opts.sysfsRoot ?? SYSFS_NET;
    this.monitor = opts.monitor ?? new MonitorHub({ log: opts.log });
    this.config = new ConfigStore(this, opts.log);
    this.acl = new Acl(opts.datapath, this, this.config, opts.log, this.monitor);
    this.mirrors = new Mirrors(opts.datapath, this, this.config, opts.log, opts.maxPorts, this.monitor);
    this.on('gone', (ev: { port: number }) => this.onGone(ev));
    this.on('link', (ev: LinkEvent) => this.onLink(ev));
    this.on('renamed', (ev: { port: number; ifname: string }) => this.onRenamed(ev));
    this.on('fdb', (ev: { records: Int32Array; overflow: number[] }) => {
      if (this.monitor.listening) publishFdbEvents(this.monitor, ev, this.names());
    });
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
        this.log(`error handling datapath event '${event}': ${errorText(err)}`);
      }
    };
    this.datapath.on(event, safe);
    this.listeners.push([event, safe]);
  }

  /** Stop listening to the datapath's events and give up every interface. */
  detach(): void {
    for (const [event, fn] of this.listeners) this.datapath.off(event, fn);
    this.listeners.length = 0;
    for (const s of this.slots) s.lock.release();
    this.slots = [];
  }

  /** The attached ports, in the order they were attached. */
  ports(): readonly Port[] {
    return this.attached();
  }

  private attached(): Slot[] {
    return this.slots.filter((s) => s.state === 'attached');
  }

  /** The slot at `index`, attached or being added. */
  private slotAt(index: number): Slot | undefined {
    return this.slots.find((s) => s.index === index);
  }

  private byName(ifname: string): Slot | undefined {
    return this.slots.find((s) => s.state === 'attached' && s.ifname === ifname);
  }

  /** The attached port `ifname`; throws ENOTATTACHED if it is no port. */
  private port(ifname: string): Slot {
    const port = this.byName(ifname);
    if (!port) throw new VswError('ENOTATTACHED', `${ifname} is not a port of the switch`);
    return port;
  }

  slot(ifname: string): number {
    return this.port(ifname).index;
  }

  names(): (string | undefined)[] {
    const names: (string | undefined)[] = [];
    for (const p of this.attached()) names[p.index] = p.ifname;
    return names;
  }

  /** The slot is free again: its claim is given back. */
  private drop(slot: Slot): void {
    this.slots = this.slots.filter((s) => s !== slot);
    slot.lock.release();
  }

  /** Forget a port: the datapath has closed it. The ACL and the mirrors forget it too: its slot may be the next port's. */
  private forget(port: Slot): void {
    this.drop(port);
    this.config.persist();
    this.mirrors.portGone(port.index, port.ifname);
    this.acl.portGone(port.index, port.ifname);
  }

  private onGone(ev: { port: number }): void {
    const slot = this.slotAt(ev?.port);
    if (slot?.state === 'adding') slot.gone = true;
    if (slot?.state !== 'attached') return;
    this.forget(slot);
    this.log(`port ${slot.ifname} removed: interface deleted`);
    this.monitor.publish({ event: 'port-del', ifname: slot.ifname, reason: 'gone' });
    if (slot.tunnel) this.log(`tunnel ${slot.ifname} forgotten: its device is gone`);
  }

  /** The datapath tells what changed from what it had, the first change after an add included (a guess would miss a state changed with the MTU). */
  private onLink(ev: LinkEvent): void {
    const slot = this.slotAt(ev?.port);
    if (slot === undefined) return;
    this.log(`port ${slot.ifname} link ${ev.up ? 'up' : 'down'} (mtu ${ev.mtu})`);
    if (slot.state !== 'attached') return;
    if (ev.up !== ev.wasUp) this.monitor.publish({ event: ev.up ? 'link-up' : 'link-down', ifname: slot.ifname });
    if (ev.mtu !== ev.oldMtu) this.monitor.publish({ event: 'mtu', ifname: slot.ifname, mtu: ev.mtu, old: ev.oldMtu });
    this.portsChanged();
  }

  onPortsChanged(fn: () => void): void {
    this.portsChanged = fn;
  }

  private onRenamed(ev: { port: number; ifname: string }): void {
    const slot = this.slotAt(ev?.port);
    if (slot === undefined || typeof ev.ifname !== 'string' || slot.ifname === ev.ifname) return;
    this.log(`port ${slot.ifname} renamed to ${ev.ifname}`);
    if (slot.state === 'attached') this.monitor.publish({ event: 'rename', ifname: ev.ifname, old: slot.ifname });
    slot.ifname = ev.ifname;
    this.config.persist();
  }

  private lowestFreeIndex(): number {
    for (let i = 0; i < this.maxPorts; i++) {
      if (!this.slotAt(i)) return i;
    }
    return -1;
  }

  /** `opts.index`: the slot to take (a restart's new vswitchd takes each port's old one), else the lowest free. */
  async add(ifname: string, opts: { tunnel?: PortTunnel; index?: number } = {}): Promise<void> {
    const info = await readInterface(ifname, this.sysfsRoot);
    if (info === null) throw new VswError('ENODEV', `no such interface: ${ifname}`);
    if (isLoopback(info)) throw new VswError('ENOTETHER', `${ifname} is a loopback interface, not Ethernet`);
    if (!isEthernet(info)) throw new VswError('ENOTETHER', `${ifname} is not an Ethernet interface`);
    const holder = await interfaceHolder(ifname, this.sysfsRoot);
    // From here to slots.push nothing awaits: no other add can slip in between.
    const existing = this.byName(ifname) ?? this.attached().find((p) => p.ifindex === info.ifindex);
    const inFlight = this.slots.some((s) => s.state === 'adding' && (s.ifname === ifname || s.ifindex === info.ifindex));
    if (existing || inFlight) {
      const was = existing && existing.ifname !== ifname ? ` (as ${existing.ifname})` : '';
      throw new VswError('EEXIST', `${ifname} is already a port of the switch${was}`);
    }
    if (holder !== null) throw new InUseError(ifname, holder);
    const index = opts.index !== undefined && opts.index < this.maxPorts && !this.slotAt(opts.index) ? opts.index : this.lowestFreeIndex();
    if (opts.index !== undefined && index !== opts.index) throw new VswError('EPORTLIMIT', `slot ${opts.index} of ${ifname} is not free`);
    if (index < 0) throw new VswError('EPORTLIMIT', `the switch already has ${this.maxPorts} ports (the limit)`);
    // The last check, and the only one that takes something: given back if the add fails.
    const lock = this.locks.claim(ifname, info.ifindex);
    try {
      this.config.commit(this.config.withPort(ifname, opts.tunnel ?? null));
    } catch (err) {
      lock.release();
      throw err;
    }

    const slot: Slot = { index, ifname, ifindex: info.ifindex, vlan: DEFAULT_PORT_VLAN, tunnel: opts.tunnel ?? null, state: 'adding', lock, gone: false };
    this.slots.push(slot);
    try {
      await this.datapath.addPort(index, ifname, info.ifindex);
    } catch (err) {
      if (err instanceof DatapathTimeoutError) {
        // The slot and the claim stay reserved until the datapath answers.
        void err.late.then((ok) => this.addAnswered(slot, ok, true));
        throw new VswError(
          'ETIMEDOUT',
          `the datapath did not answer in time while adding ${ifname}; the port is added if it finishes later (see 'vswconfig show')`,
        );
      }
      this.drop(slot);
      this.config.persist();
      throw err;
    }
    this.addAnswered(slot, true, false);
  }

  private addAnswered(slot: Slot, ok: boolean, late: boolean): void {
    const when = late ? ' (the datapath answered after the timeout)' : '';
    if (!ok) {
      this.drop(slot);
      this.log(`port ${slot.ifname} not added${when}`);
    } else if (slot.gone) {
      // The interface was deleted while the port was being opened; the
      // datapath has closed it already.
      this.drop(slot);
      this.log(`port ${slot.ifname} removed: interface deleted`);
    } else {
      // Last in the order of ports, as if it had just been added.
      this.slots = [...this.slots.filter((s) => s !== slot), slot];
      slot.state = 'attached';
      this.log(`port ${slot.ifname} added${when}`);
      this.monitor.publish({ event: 'port-add', ifname: slot.ifname });
      this.portsChanged();
      // The file keeps the tunnel's VLAN (add wrote it), which tunnels.ts sets next: a restart
      // in between must not find its port in no VLAN mode, carrying every VLAN.
      if (slot.tunnel?.vlan != null) return;
    }
    this.config.persist();
  }

  async delete(ifname: string, opts: { tunnel?: boolean } = {}): Promise<void> {
    const port = this.port(ifname);
    // Detached alone, its device would stay behind: the tunnel goes as a whole.
    if (port.tunnel && opts.tunnel !== true) throw new VswError('ETUNNEL', `${ifname} is a tunnel: remove it with 'vswconfig tunnel del ${ifname}'`);
    this.config.commit(withoutPort(this.config.configuration(), ifname));
    try {
      await this.datapath.removePort(port.index);
    } catch (err) {
      // If the interface vanished meanwhile, the port is gone all the same.
      if (!this.slots.includes(port)) return;
      if (err instanceof DatapathTimeoutError) {
        void err.late.then((ok) => this.deleteAnswered(port, ok, true));
        throw new VswError(
          'ETIMEDOUT',
          `the datapath did not answer in time while deleting ${ifname}; the port is deleted if it finishes later (see 'vswconfig show')`,
        );
      }
      this.config.persist();
      throw err;
    }
    this.deleteAnswered(port, true, false);
  }

  private deleteAnswered(port: Slot, ok: boolean, late: boolean): void {
    if (!this.slots.includes(port)) return; // its interface was deleted meanwhile
    const when = late ? ' (the datapath answered after the timeout)' : '';
    if (!ok) {
      this.log(`port ${port.ifname} not deleted${when}`);
      this.config.persist();
      return;
    }
    this.forget(port);
    this.log(`port ${port.ifname} deleted${when}`);
    this.monitor.publish({ event: 'port-del', ifname: port.ifname, reason: 'deleted' });
  }

  /** A restart: every port's claim given up (the new vswitchd takes them), the ports left as they are. */
  releaseLocks(): void {
    for (const s of this.slots) s.lock.release();
  }

  /** Detach every port, last added first (on shutdown). Errors are logged, not thrown. */
  async detachAll(): Promise<void> {
    // Stopping is no change of configuration: the file keeps the ports.
    this.config.close();
    for (const port of this.attached().reverse()) {
      try {
        await this.datapath.removePort(port.index);
        this.log(`port ${port.ifname} detached`);
      } catch (err) {
        this.log(`port ${port.ifname}: detach failed: ${errorText(err)}`);
      }
      this.forget(port);
    }
  }

  /**
   * The port's 802.1Q mode; given `set` (valid: the protocol checked it), the
   * port takes it first. The registry records it once the datapath has it.
   */
  async vlan(ifname: string, set: PortVlan | null): Promise<VlanResult> {
    const port = this.port(ifname);
    if (set !== null) {
      const doc = this.config.configuration();
      doc.ports.find((p) => p.ifname === ifname)!.vlan = set;
      this.config.commit(doc);
      await this.config.apply(
        () => this.datapath.setVlan(port.index, set),
        () => (port.vlan = set),
        (ok) => `port ${port.ifname} vlan ${ok ? 'set' : 'not set'}`,
        `setting the VLAN mode of ${ifname}; see 'vswconfig vlan ${ifname}'`,
      );
      this.log(`port ${port.ifname} vlan ${set.mode}${set.tag ? ` ${set.tag}` : ''}`);
      this.monitor.publish({ event: 'vlan', ifname: port.ifname, mode: set.mode, tag: set.tag, trunks: set.trunks });
    }
    return { ifname: port.ifname, mode: port.vlan.mode, tag: port.vlan.tag, trunks: port.vlan.trunks };
  }

  /** A made-up frame through the pipeline of the datapath (core/trace.ts); nothing is sent or changed. */
  async trace(r: TraceRequest): Promise<TraceResult> {
    const port = this.port(r.in);
    const frame = {
      ingress: port.index,
      src: parseMac(r.src ?? TRACE_DEFAULT_SRC),
      dst: parseMac(r.dst ?? TRACE_DEFAULT_DST),
      vlan: r.vlan ?? null,
      type: r.type ?? TRACE_DEFAULT_TYPE,
    };
    const t = await this.datapath.trace(frame);
    return namedTrace(t, frame, this.names(), port.vlan);
  }

  /** Throw InUseError if another running vswitchd holds this interface (a claim taken and given back at once). */
  checkUnclaimed(ifname: string, ifindex: number): void {
    this.locks.claim(ifname, ifindex).release();
  }

  /** Port names, in the order they were added. */
  show(): string[] {
    return this.attached().map((p) => p.ifname);
  }

  /** A snapshot of the ports, without their VLAN mode (vlan() gives it), for tests and diagnostics. */
  list(): Array<Pick<Port, 'index' | 'ifname' | 'ifindex'>> {
    return this.attached().map(({ index, ifname, ifindex }) => ({ index, ifname, ifindex }));
  }

  /**
   * The learned MACs, named by port: one snapshot of the datapath's FDB, read
   * an entry at a time as it is listed, so a big table never becomes a big
   * array of objects.
   */
  async fdb(): Promise<Iterable<FdbEntry>> {
    const dump = await this.datapath.fdb();
    return namedEntries(dump, this.names());
  }

  /** The datapath thread's heap (the metrics' vswitch_datapath_heap_*). */
  memory(): Promise<ThreadMemory> {
    return this.datapath.memory();
  }

  async stats(): Promise<StatsResult> {
    const s: Stats = await this.datapath.stats();
    const byIndex = new Map(s.ports.map((p) => [p.port, p]));
    const ports: StatsResult['ports'] = [];
    for (const p of this.attached()) {
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
    return { ports, drops: { ...s.drops }, fdb: { ...s.fdb }, captures: { ports: s.capturePorts ?? 0 } };
  }
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
