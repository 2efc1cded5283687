// An in-memory stand-in for the Datapath interface, recording every call.
// For testing the control plane only: it forwards no frames.

import { EventEmitter } from 'node:events';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join } from 'node:path';
import { ControlServer, switchHandler } from '../../src/control/server.js';
import { PortLocks } from '../../src/daemon/port-lock.js';
import { Switch } from '../../src/daemon/switch.js';
import { Captures } from '../../src/daemon/capture.js';
import type { Datapath } from '../../src/datapath/datapath.js';
import { newCaptureBuffer } from '../../src/datapath/capture-ring.js';
import { parseMac } from '../../src/core/mac.js';
import { dumpLength, type FdbDump, fdbDumpOf } from '../../src/datapath/fdb-dump.js';
import type { HandedOverPort, Stats, ThreadMemory } from '../../src/datapath/messages.js';
import type { AclTable } from '../../src/core/acl.js';
import type { MirrorTable } from '../../src/core/mirror.js';
import type { Trace, TraceFrame } from '../../src/core/trace.js';
import type { PortVlan } from '../../src/core/vlan.js';
import { DatapathTimeoutError, VswError } from '../../src/errors.js';

export type Call =
  | { op: 'addPort'; port: number; ifname: string; ifindex: number }
  | { op: 'removePort'; port: number }
  | { op: 'setVlan'; port: number; vlan: PortVlan }
  | { op: 'setAcl'; table: AclTable }
  | { op: 'aclHits' }
  | { op: 'setMirrors'; table: MirrorTable }
  | { op: 'mirrorCopies' }
  | { op: 'trace'; frame: TraceFrame }
  | { op: 'fdb' }
  | { op: 'stats' }
  | { op: 'memory' }
  | { op: 'stop' }
  | { op: 'handOver'; dir: string }
  | { op: 'adopted' }
  | { op: 'seedFdb'; entries: number };

/** One FDB entry as a test states it. */
export interface FdbRow {
  mac: string; // aa:bb:cc:dd:ee:ff
  port: number;
  ageSeconds: number;
  vlan?: number;
}

export class FakeDatapath extends EventEmitter implements Datapath {
  readonly calls: Call[] = [];
  /** Open ports: index → ifname. */
  readonly ports = new Map<number, { ifname: string; ifindex: number }>();
  /** Each port's link as last told (linkChanged); none yet: up, MTU 1500. */
  private readonly links = new Map<number, { up: boolean; mtu: number }>();
  /** If set, the next addPort rejects with it (once). */
  failNextAdd: VswError | null = null;
  /** If set, addPort waits for this before answering. */
  addGate: Promise<void> | null = null;
  /** If set, removePort waits for this before answering. */
  removeGate: Promise<void> | null = null;
  /**
   * As handle.ts's request timeout: an addPort or removePort still waiting
   * after this long rejects with DatapathTimeoutError, carries on, and
   * settles the error's `late` with its outcome. Infinity: no timeout.
   */
  requestTimeoutMs = Infinity;
  fdbRows: FdbRow[] = [];
  statsValue: Stats = {
    ports: [],
    drops: {},
    fdb: { entries: 0, learned: 0, moved: 0, expired: 0, evicted: 0, flushed: 0, refused: 0, suppressed: 0 },
  };
  stopped = false;

  addPort(port: number, ifname: string, ifindex: number): Promise<void> {
    this.calls.push({ op: 'addPort', port, ifname, ifindex });
    return this.timed('add', this.openPort(port, ifname, ifindex));
  }

  private async openPort(port: number, ifname: string, ifindex: number): Promise<void> {
    if (this.addGate) await this.addGate;
    if (this.failNextAdd) {
      const err = this.failNextAdd;
      this.failNextAdd = null;
      throw err;
    }
    if (this.ports.has(port)) throw new VswError('EINTERNAL', `fake datapath: port ${port} is already open`);
    this.ports.set(port, { ifname, ifindex });
    this.links.delete(port); // a new port's link: as it is at its add
  }

  removePort(port: number): Promise<void> {
    this.calls.push({ op: 'removePort', port });
    return this.timed('delete', this.closePort(port));
  }

  private async closePort(port: number): Promise<void> {
    if (this.removeGate) await this.removeGate;
    if (!this.ports.delete(port)) throw new VswError('EINTERNAL', `fake datapath: port ${port} is not open`);
  }

  async setVlan(port: number, vlan: PortVlan): Promise<void> {
    this.calls.push({ op: 'setVlan', port, vlan });
    if (!this.ports.has(port)) throw new VswError('ENOTATTACHED', `fake datapath: port ${port} is not open`);
  }

  /** What aclHits() answers (per rule of the last table). */
  aclHitsValue: number[] = [];

  async setAcl(table: AclTable): Promise<void> {
    this.calls.push({ op: 'setAcl', table });
  }

  async aclHits(): Promise<number[]> {
    this.calls.push({ op: 'aclHits' });
    return this.aclHitsValue.slice();
  }

  /** What mirrorCopies() answers (per mirror of the last table). */
  mirrorCopiesValue: number[] = [];

  async setMirrors(table: MirrorTable): Promise<void> {
    this.calls.push({ op: 'setMirrors', table });
  }

  /** The capture flags last set ([port, flags]). */
  captureFlags: Array<[number, number]> = [];
  readonly captureBuffer = newCaptureBuffer(1 << 16);

  async setCapture(flags: Array<[number, number]>): Promise<void> {
    this.captureFlags = flags;
  }

  async mirrorCopies(): Promise<number[]> {
    this.calls.push({ op: 'mirrorCopies' });
    return this.mirrorCopiesValue.slice();
  }

  /** What trace() answers; a fake has no pipeline to run. */
  traceValue: Trace | null = null;

  async trace(frame: TraceFrame): Promise<Trace> {
    this.calls.push({ op: 'trace', frame });
    if (this.traceValue === null) throw new VswError('EINTERNAL', 'fake datapath: no trace to answer with');
    return this.traceValue;
  }

  async fdb(): Promise<FdbDump> {
    this.calls.push({ op: 'fdb' });
    return fdbDumpOf(this.fdbRows.map((r) => ({ mac: parseMac(r.mac), port: r.port, ageSeconds: r.ageSeconds, vlan: r.vlan })));
  }

  async stats(): Promise<Stats> {
    this.calls.push({ op: 'stats' });
    return structuredClone(this.statsValue);
  }

  memoryValue: ThreadMemory = { heapUsed: 3_000_000, heapTotal: 4_000_000, external: 500_000 };

  async memory(): Promise<ThreadMemory> {
    this.calls.push({ op: 'memory' });
    return { ...this.memoryValue };
  }

  async handOver(dir: string): Promise<HandedOverPort[]> {
    this.calls.push({ op: 'handOver', dir });
    return Array.from(this.ports, ([port, p]) => ({ port, ifindex: p.ifindex, qdiscMade: false }));
  }

  async adopted(): Promise<void> {
    this.calls.push({ op: 'adopted' });
  }

  async seedFdb(dump: FdbDump): Promise<void> {
    this.calls.push({ op: 'seedFdb', entries: dumpLength(dump) });
  }

  async stop(): Promise<void> {
    this.calls.push({ op: 'stop' });
    this.ports.clear();
    this.stopped = true;
  }

  /** As the real datapath does when a port's interface is deleted: close it, then tell. */
  interfaceDeleted(port: number): void {
    this.ports.delete(port);
    this.emit('gone', { event: 'gone', port });
  }

  private timed(op: string, work: Promise<void>): Promise<void> {
    if (this.requestTimeoutMs === Infinity) return work;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new DatapathTimeoutError(op, work.then(() => true, () => false))), this.requestTimeoutMs);
      work.then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  /** As the real datapath does when a port's interface is renamed. */
  interfaceRenamed(port: number, ifname: string): void {
    const p = this.ports.get(port);
    if (p) p.ifname = ifname;
    this.emit('renamed', { event: 'renamed', port, ifname });
  }

  /** As the real datapath does when a port's link changes: what changed, from what it had (a new port: up, MTU 1500). */
  linkChanged(port: number, up: boolean, mtu: number): void {
    const was = this.links.get(port) ?? { up: true, mtu: 1500 };
    this.links.set(port, { up, mtu });
    this.emit('link', { event: 'link', port, up, mtu, wasUp: was.up, oldMtu: was.mtu });
  }
}

// ---- a fake /sys/class/net ----------------------------------------------------

export interface FakeInterface {
  ifindex: number;
  type?: number; // default 1 (ARPHRD_ETHER)
  flags?: number; // default 0x1003 (UP|BROADCAST|MULTICAST)
  mtu?: number; // default 1500
  address?: string;
  /** The interface it is a port of (a `master` link to ../NAME). */
  master?: string;
  /** Made a Linux bridge (a `bridge` directory) or a bond (a `bonding` directory). */
  kind?: 'bridge' | 'bond';
}

export class FakeSysfs {
  private constructor(readonly root: string) {}

  static async create(): Promise<FakeSysfs> {
    return new FakeSysfs(await mkdtemp(join(tmpdir(), 'vsw-sysfs-')));
  }

  async add(ifname: string, iface: FakeInterface): Promise<void> {
    const dir = join(this.root, ifname);
    await mkdir(dir, { recursive: true });
    const mac = iface.address ?? `02:00:00:00:00:${(iface.ifindex & 0xff).toString(16).padStart(2, '0')}`;
    await writeFile(join(dir, 'ifindex'), `${iface.ifindex}\n`);
    await writeFile(join(dir, 'type'), `${iface.type ?? 1}\n`);
    await writeFile(join(dir, 'flags'), `0x${(iface.flags ?? 0x1003).toString(16)}\n`);
    await writeFile(join(dir, 'mtu'), `${iface.mtu ?? 1500}\n`);
    await writeFile(join(dir, 'address'), `${mac}\n`);
    if (iface.master !== undefined) await symlink(`../${iface.master}`, join(dir, 'master'));
    if (iface.kind === 'bridge') await mkdir(join(dir, 'bridge'));
    if (iface.kind === 'bond') await mkdir(join(dir, 'bonding'));
  }

  async remove(ifname: string): Promise<void> {
    await rm(join(this.root, ifname), { recursive: true, force: true });
  }

  async destroy(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }
}

// ---- a control server with a registry over the fake datapath ----------------


export interface TestSwitch {
  dir: string;
  path: string;
  datapath: FakeDatapath;
  sysfs: FakeSysfs;
  sw: Switch;
  server: ControlServer;
  logs: string[];
  /** Connections the server accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/** A control server on a Unix socket in a fresh temp dir, a Switch, a FakeDatapath and a fake sysfs. */
export async function startTestSwitch(
  opts: { maxPorts?: number; lockDir?: string; idleTimeoutMs?: number; requestTimeoutMs?: number } = {},
): Promise<TestSwitch> {
  const dir = await mkdtemp(join(tmpdir(), 'vsw-ctl-'));
  const path = join(dir, 'run', 'vswitchd.sock');
  const datapath = new FakeDatapath();
  const sysfs = await FakeSysfs.create();
  const logs: string[] = [];
  const log = (m: string): void => {
    logs.push(m);
  };
  const locks = new PortLocks({ dir: opts.lockDir ?? join(dir, 'ports'), owner: { pid: process.pid, socket: path } });
  const sw = new Switch({ datapath, maxPorts: opts.maxPorts ?? 24, log, locks, sysfsRoot: sysfs.root });
  // `monitor` subscribes to the switch's hub; the other commands answer as
  // before, without the monitors' counts in `stats` (the tests compare it whole).
  const commands = switchHandler(sw, { captures: new Captures(datapath, sw, log) });
  const monitors = switchHandler(sw, { monitor: sw.monitor });
  const server = new ControlServer({
    path,
    handler: (req) => (req.cmd === 'monitor' ? monitors(req) : commands(req)),
    log,
    idleTimeoutMs: opts.idleTimeoutMs,
    requestTimeoutMs: opts.requestTimeoutMs,
  });
  await server.start();
  let accepted = 0;
  // Count connections without disturbing the server's own handling.
  (server as unknown as { server: net.Server }).server.prependListener('connection', () => accepted++);
  return {
    dir,
    path,
    datapath,
    sysfs,
    sw,
    server,
    logs,
    connections: () => accepted,
    async close() {
      await server.close();
      sw.detach();
      await sysfs.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface Exchange {
  /** Lines the server sent, parsed as JSON where possible. */
  replies: unknown[];
  /** Whether the server closed the connection (before the timeout). */
  closed: boolean;
}

/**
 * Connect, send `data`, optionally half-close, and collect reply lines until the
 * server closes or `expectReplies` lines arrived (then we close) or timeout.
 */
export function exchange(
  path: string,
  data: string | Buffer,
  opts: { end?: boolean; expectReplies?: number; timeoutMs?: number } = {},
): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ path });
    const chunks: Buffer[] = [];
    let done = false;
    const lines = (): unknown[] =>
      Buffer.concat(chunks)
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => {
          try {
            return JSON.parse(l) as unknown;
          } catch {
            return l;
          }
        });
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ replies: lines(), closed });
    };
    const timer = setTimeout(() => finish(false), opts.timeoutMs ?? 3000);
    sock.on('connect', () => {
      sock.write(data);
      if (opts.end) sock.end();
    });
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      if (opts.expectReplies !== undefined && lines().length >= opts.expectReplies) finish(false);
    });
    sock.on('close', () => finish(true));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      // The server may reset a connection it closed while we were still sending.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return;
      if (!done) {
        done = true;
        clearTimeout(timer);
        reject(err);
      }
    });
  });
}

/** One request line → its reply object. */
export async function ask(path: string, req: Record<string, unknown>): Promise<Record<string, unknown>> {
  const r = await exchange(path, `${JSON.stringify({ v: 1, id: 1, ...req })}\n`, { expectReplies: 1 });
  return r.replies[0] as Record<string, unknown>;
}
