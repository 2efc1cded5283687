// The switches under test: vswitchd (once per datapath) and the Linux bridge
// (Open vSwitch is in ovs.ts). Each runs at a Site: the topology's switch
// namespace with all 24 ports attached, one switch at a time, or in the hosts
// mode one host with its tenant's port (host-pair.ts).

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from '../src/control/client.js';
import { VSWITCHD_NODE_ARGS } from '../src/daemon/node-flags.js';
import { BenchError, check, lastLine, NotAvailable, onCleanup, pidAlive, type Proc, runSync, sleep, start } from './proc.js';
import { type SwitchName, VARIANT } from './report.js';
import type { Host, Site } from './topology.js';

/** One filter rule (vswconfig acl add's fields); switches translate it into their own. */
export interface AclRule {
  priority: number;
  in?: Host;
  src?: string;
  dst?: string;
  type?: number;
  vlan?: number;
  action: 'allow' | 'drop';
}

/** Repository root (this file is dist/bench/switches.js once built). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const VSWITCHD = join(ROOT, 'bin', 'vswitchd');
export const VSWCONFIG = join(ROOT, 'bin', 'vswconfig');

export interface Switch {
  readonly name: SwitchName;
  /** Start it with every host's port attached. */
  start(): Promise<void>;
  /** The switch's own process (CPU, RSS), or null for the in-kernel bridge. */
  mainPid(): number | null;
  /** All of its processes (for CPU time). */
  pids(): number[];
  /** Learned MAC addresses. */
  fdbEntries(): Promise<number>;
  /** Its own counters, kept with the samples (drops and the like). */
  counters(): Promise<unknown>;
  /**
   * For (8): `access` takes untagged frames into VLAN `vid` and `trunk` carries
   * it tagged, until stop(). Absent where the switch has no such modes.
   */
  vlanAccessTrunk?(access: Host, trunk: Host, vid: number): Promise<void>;
  /** For (9): install the rules; resolves to what removes them again. Absent: no equivalent. */
  installAcl?(rules: readonly AclRule[]): Promise<() => Promise<void>>;
  /** For (9): frames the installed rules matched, summed. */
  aclHits?(): Promise<number>;
  /**
   * For (10): a capture of the frames entering `port` running (written to
   * /dev/null); resolves once the switch has it, to what ends it. Absent: no such capture.
   */
  capture?(port: Host): Promise<() => Promise<void>>;
  stop(): Promise<void>;
}

/** vswitchd's datapaths (`vswitchd --datapath`), each measured as a switch of its own. */
export const DATAPATH_OF = {
  'vswitchd-kernel': 'kernel',
  'vswitchd-kernel-tc': 'kernel',
  'vswitchd-kernel-all': 'kernel',
  'vswitchd-kernel-small': 'kernel',
  'vswitchd-kernel-auto': 'kernel',
  'vswitchd-kernel-twin': 'kernel',
  'vswitchd-kernel-plain': 'kernel',
  'vswitchd-user': 'user',
} as const;
export type VswitchdName = keyof typeof DATAPATH_OF;

export function isVswitchd(name: SwitchName): name is VswitchdName {
  return name in DATAPATH_OF;
}

export interface VswitchdOptions {
  /** Extra vswitchd options (e.g. --ring-frames 256). */
  args?: string[];
  /** Options for node itself (e.g. --cpu-prof --cpu-prof-dir=DIR). */
  nodeArgs?: string[];
}

/** vswitchd's options for switch `name`: its datapath, then `extra`, then the options its name forces (last: they win over `extra`). */
export function vswitchdArgsOf(name: VswitchdName, extra: readonly string[]): string[] {
  return ['--datapath', DATAPATH_OF[name], ...extra, ...(VARIANT[name]?.args ?? [])];
}

/** `vswitchd --datapath kernel|user` (a variant such as `vswitchd-kernel-tc`: and its options); its name says which. */
export class Vswitchd implements Switch {
  private proc?: Proc;
  private readonly dir: string;
  readonly socket: string;
  private readonly unregister: () => void;

  constructor(
    private readonly site: Site,
    readonly name: VswitchdName,
    private readonly opts: VswitchdOptions = {},
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `vswbench-${site.prefix}-`));
    this.socket = join(this.dir, 'vswitchd.sock');
    const dir = this.dir;
    this.unregister = onCleanup(`vswitchd dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  }

  async start(): Promise<void> {
    if (!existsSync(join(ROOT, 'dist', 'src', 'daemon', 'main.js'))) throw new BenchError('vswitchd is not built: run npm run build');
    const maxPorts = Math.max(24, this.site.ports.length);
    this.proc = start(this.name, 'ip', [
      'netns', 'exec', this.site.ns,
      process.execPath, ...VSWITCHD_NODE_ARGS, ...(this.opts.nodeArgs ?? []), VSWITCHD,
      '--socket', this.socket, '--max-ports', String(maxPorts), ...vswitchdArgsOf(this.name, this.opts.args ?? []),
    ]);
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (!this.proc.alive && this.proc.code !== null) {
        throw new BenchError(`${this.name} exited during start-up: ${lastLine(this.proc.stderr) || `exit code ${this.proc.code}`}`);
      }
      try {
        await request(this.socket, { cmd: 'show' }, { timeoutMs: 2000 });
        break;
      } catch {
        if (Date.now() > deadline) throw new BenchError(`${this.name} did not answer on ${this.socket} within 15 s: ${lastLine(this.proc.stderr)}`);
        await sleep(50);
      }
    }
    for (const port of this.site.ports) {
      try {
        await request(this.socket, { cmd: 'add', ifname: port });
      } catch (err) {
        throw new BenchError(`vswconfig add ${port}: ${(err as Error).message}`);
      }
    }
  }

  mainPid(): number | null {
    return this.successor?.pid ?? this.proc?.pid ?? null;
  }

  /**
   * After `restart()`: the vswitchd that took over. It runs in a session of
   * its own (src/daemon/restart.ts), not as our child, and writes to the old
   * one's stderr: stop() signals it, waits for it to be gone and reads its
   * clean stop in that log; a benchmark that dies kills whatever vswitchd
   * serves this instance's socket (found by its command line, never by a
   * pid that may have been reused).
   */
  private successor: { pid: number; unregister: () => void } | null = null;

  /** The vswitchd processes started with this instance's --socket (a path unique to it). */
  private ownDaemons(): number[] {
    const out: number[] = [];
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
        const at = argv.indexOf('--socket');
        if (at >= 0 && argv[at + 1] === this.socket && argv.some((a) => a.endsWith('vswitchd'))) out.push(Number(name));
      } catch {
        // gone
      }
    }
    return out;
  }

  /**
   * `vswconfig restart` on the control socket. Resolves once the old vswitchd
   * has exited, to the new one's pid and the ms until the request answered.
   */
  async restart(): Promise<{ pid: number; answeredMs: number }> {
    if (this.successor !== null || !this.proc) throw new BenchError(`${this.name}: one restart per session`);
    // Before asking: a benchmark stopped while the new vswitchd takes over must not leave it running.
    const unregister = onCleanup(`${this.name} restarted`, () => {
      for (const pid of this.ownDaemons()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    });
    const t0 = performance.now();
    let pid: number;
    try {
      pid = (await request(this.socket, { cmd: 'restart' }, { timeoutMs: 40_000 })).pid;
    } catch (err) {
      // no answer: whichever vswitchd serves the socket now is stopped with the session
      const other = this.ownDaemons().find((p) => p !== this.proc?.pid);
      if (other !== undefined) this.successor = { pid: other, unregister };
      else unregister();
      throw err;
    }
    const answeredMs = performance.now() - t0;
    this.successor = { pid, unregister };
    // Its exit, not its pipes' close: the new vswitchd writes to the same stderr.
    const old = this.proc.child;
    const deadline = Date.now() + 5000;
    while (old.exitCode === null && old.signalCode === null) {
      if (Date.now() > deadline) throw new BenchError(`${this.name}: the old vswitchd did not exit within 5 s of the restart`);
      await sleep(10);
    }
    if (old.exitCode !== 0) throw new BenchError(`${this.name}: the old vswitchd exited with ${old.exitCode ?? old.signalCode} after the restart: ${lastLine(this.proc.stderr)}`);
    return { pid, answeredMs };
  }

  /** Stop the vswitchd that took over (SIGTERM, as stop() stops its own child) and check it stopped cleanly. */
  private async stopSuccessor(): Promise<void> {
    const { pid, unregister } = this.successor!;
    this.successor = null;
    try {
      if (this.ownDaemons().includes(pid)) process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + 10_000;
      while (pidAlive(pid) && Date.now() < deadline) await sleep(20);
      if (pidAlive(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
        throw new BenchError(`${this.name} (pid ${pid}, after its restart) did not stop within 10 s`);
      }
      // Its log, in the old one's stderr: a clean stop is "SIGTERM received" and then "stopped".
      const tail = this.proc?.stderr.slice(this.proc.stderr.lastIndexOf('SIGTERM received')) ?? '';
      if (!/^SIGTERM received: shutting down\n(.*\n)*\S+ vswitchd: stopped\n?$/.test(tail)) {
        throw new BenchError(`${this.name} (pid ${pid}, after its restart) did not stop cleanly: ${lastLine(this.proc?.stderr ?? '')}`);
      }
    } finally {
      unregister();
      // Nothing holds the old child's pipes any more: its 'close' comes now; if not, they are let go.
      if (this.proc && !(await Promise.race([this.proc.exited.then(() => true), sleep(5000).then(() => false)]))) {
        this.proc.child.stdout?.destroy();
        this.proc.child.stderr?.destroy();
      }
    }
  }

  /** Where vswitchd serves its metrics, as its log says (started with --metrics); null: not served. */
  metricsUrl(): string | null {
    // the last: after a restart with --metrics 0 the new vswitchd picked a port of its own
    const all = [...(this.proc?.stderr ?? '').matchAll(/metrics: serving (http:\/\/\S+\/metrics)/g)];
    return all.at(-1)?.[1] ?? null;
  }

  pids(): number[] {
    const pid = this.mainPid();
    return pid === null ? [] : [pid];
  }

  /** `fdb entries N` from `vswconfig stats`, as a user would read it. */
  async fdbEntries(): Promise<number> {
    const out = await check('vswconfig stats', process.execPath, [VSWCONFIG, '--socket', this.socket, 'stats']);
    const m = /^fdb entries (\d+)$/m.exec(out);
    if (!m) throw new BenchError('vswconfig stats: no "fdb entries" line');
    return Number(m[1]);
  }

  async counters(): Promise<unknown> {
    const s = await request(this.socket, { cmd: 'stats' });
    let rxRingDrops = 0;
    for (const p of s.ports) rxRingDrops += p.rxRingDrops;
    return { drops: s.drops, rxRingDrops, fdb: s.fdb };
  }

  async vlanAccessTrunk(access: Host, trunk: Host, vid: number): Promise<void> {
    await request(this.socket, { cmd: 'vlan', ifname: access.port, mode: 'access', tag: vid });
    await request(this.socket, { cmd: 'vlan', ifname: trunk.port, mode: 'trunk', trunks: [[vid, vid]] });
  }

  async installAcl(rules: readonly AclRule[]): Promise<() => Promise<void>> {
    const ids: number[] = [];
    const undo = async (): Promise<void> => {
      for (const rule of ids.splice(0)) await request(this.socket, { cmd: 'acl-del', rule });
    };
    try {
      for (const r of rules) {
        const { id } = await request(this.socket, {
          cmd: 'acl-add', priority: r.priority, in: r.in?.port, src: r.src, dst: r.dst, type: r.type, vlan: r.vlan, action: r.action,
        });
        ids.push(id);
      }
    } catch (err) {
      await undo().catch(() => undefined);
      throw new BenchError(`acl add: ${(err as Error).message}`);
    }
    return undo;
  }

  async aclHits(): Promise<number> {
    const { rules } = await request(this.socket, { cmd: 'acl-show' });
    return rules.reduce((n, r) => n + r.hits, 0);
  }

  async capture(port: Host): Promise<() => Promise<void>> {
    const seen = this.stderr.length;
    const cap = start(`capture ${port.port}`, process.execPath, [VSWCONFIG, '--socket', this.socket, 'capture', port.port, 'in', '-w', '/dev/null']);
    const stop = async (): Promise<void> => {
      await cap.stop('SIGINT', 5000);
      if (cap.code !== 0) throw new BenchError(`vswconfig capture: ${lastLine(cap.stderr) || `exit code ${cap.code}`}`);
    };
    // vswitchd logs each capture it starts: from then on the datapath copies the port's frames.
    const deadline = Date.now() + 10_000;
    while (!this.stderr.slice(seen).includes(`capture of ${port.port} (in) started`)) {
      if (Date.now() > deadline || cap.code !== null) {
        await stop().catch(() => undefined);
        throw new BenchError(`vswconfig capture ${port.port} did not start: ${lastLine(cap.stderr)}`);
      }
      await sleep(20);
    }
    return stop;
  }

  async stop(): Promise<void> {
    let failed: unknown = null;
    if (this.successor) await this.stopSuccessor().catch((err: unknown) => (failed = err));
    if (this.proc) {
      await this.proc.stop('SIGTERM', 10_000);
      if (this.proc.code !== 0) {
        const why = lastLine(this.proc.stderr);
        this.proc = undefined;
        throw new BenchError(`${this.name} did not exit cleanly${why ? `: ${why}` : ''}`);
      }
      this.proc = undefined;
    }
    rmSync(this.dir, { recursive: true, force: true });
    this.unregister();
    if (failed !== null) throw failed;
  }

  get stderr(): string {
    return this.proc?.stderr ?? '';
  }
}

export class LinuxBridge implements Switch {
  readonly name = 'bridge' as const;
  readonly br: string;
  private unregister?: () => void;

  constructor(private readonly site: Site) {
    this.br = `${site.prefix}br`;
  }

  async start(): Promise<void> {
    const sw = this.site.ns;
    const br = this.br;
    this.unregister = onCleanup(`bridge ${br}`, () => runSync('ip', ['-n', sw, 'link', 'del', br]));
    // STP off, forward_delay 0: ports forward at once; ageing 300 s (as
    // vswitchd's and OVS's defaults); br_netfilter off for this bridge (and in
    // the namespace, see topology.ts).
    const lines = [
      'set -e',
      `ip -n ${sw} link add ${br} type bridge stp_state 0 forward_delay 0 ageing_time 30000 nf_call_iptables 0 nf_call_ip6tables 0 nf_call_arptables 0`,
      ...this.site.ports.map((port) => `ip -n ${sw} link set ${port} master ${br}`),
      `ip -n ${sw} link set ${br} up`,
    ];
    await check('creating the Linux bridge', 'bash', ['-c', lines.join('\n')]);
  }

  mainPid(): number | null {
    return null;
  }

  pids(): number[] {
    return [];
  }

  /** Learned entries of `bridge fdb show` (the permanent ones left out). */
  async fdbEntries(): Promise<number> {
    const out = await check('bridge fdb show', 'bridge', ['-n', this.site.ns, 'fdb', 'show', 'br', this.br], { timeoutMs: 60_000, keep: 256 << 20 });
    let n = 0;
    for (const line of out.split('\n')) if (line.trim() !== '' && !line.includes('permanent')) n++;
    return n;
  }

  /** VLAN filtering on: `access` untagged in `vid` (its pvid), `trunk` a tagged member of it. */
  async vlanAccessTrunk(access: Host, trunk: Host, vid: number): Promise<void> {
    const sw = this.site.ns;
    const lines = [
      'set -e',
      `ip -n ${sw} link set ${this.br} type bridge vlan_filtering 1`,
      `bridge -n ${sw} vlan add dev ${access.port} vid ${vid} pvid untagged`,
      `bridge -n ${sw} vlan del dev ${access.port} vid 1`,
      `bridge -n ${sw} vlan add dev ${trunk.port} vid ${vid}`,
    ];
    try {
      await check('bridge VLANs', 'bash', ['-c', lines.join('\n')]);
    } catch (err) {
      // a kernel built without CONFIG_BRIDGE_VLAN_FILTERING, as this VM's
      if (/not supported/i.test((err as Error).message)) throw new NotAvailable('this kernel\'s bridge has no VLAN filtering');
      throw err;
    }
  }

  /** Drop counters of the bridge's ports. */
  async counters(): Promise<unknown> {
    let rxDropped = 0;
    let txDropped = 0;
    for (const [name, c] of this.site.net.netDev(this.site.ns)) {
      if (!this.site.ports.includes(name)) continue;
      rxDropped += c.rxDropped;
      txDropped += c.txDropped;
    }
    return { portsRxDropped: rxDropped, portsTxDropped: txDropped };
  }

  async stop(): Promise<void> {
    await check('deleting the Linux bridge', 'ip', ['-n', this.site.ns, 'link', 'del', this.br]);
    this.unregister?.();
    // ports leave the bridge; give the kernel a moment before the next switch takes them
    await sleep(200);
  }
}
