// A test lab: network namespaces, veth pairs and a vswitchd, all with names
// unique to the run, and all removed by cleanup() — which tests call from
// after(), so it runs when they fail too. Nothing outside what the lab made
// is touched. Needs root.

import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { ROOT } from './program-copy.js';
import { VSWITCHD_NODE_ARGS } from '../../src/daemon/node-flags.js';
import { PORT_LOCK_DIR } from '../../src/daemon/port-lock.js';

export { ROOT };
export const VSWITCHD = join(ROOT, 'bin', 'vswitchd');
export const VSWCONFIG = join(ROOT, 'bin', 'vswconfig');
/** Debian's python3, which has scapy (another python3 may come first on PATH). */
export const PYTHON = '/usr/bin/python3';

export interface Host {
  n: number;
  ns: string;
  /** The host's interface, inside its namespace. */
  ifname: string;
  /** The switch side of the veth pair, in the root namespace. */
  port: string;
  ip: string;
  ip6: string;
  mac: string;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

const live = new Set<Lab>();
process.on('exit', () => {
  for (const lab of live) lab.cleanupSync();
});

/** Prefixes this process has given out: several labs live at once in one test file. */
const usedPrefixes = new Set<string>();

function uniquePrefix(): string {
  // 'v' + 4 base-36 chars: names stay within 15 characters ("v1a2bp24" …). Two random
  // characters give 1296 prefixes per pid: one already given out here, or with a
  // namespace of its name on the machine, is drawn again.
  const taken = (p: string): boolean => usedPrefixes.has(p) || (existsSync('/run/netns') && readdirSync('/run/netns').some((ns) => ns.startsWith(p)));
  for (;;) {
    const p = 'v' + (process.pid % 1296).toString(36).padStart(2, '0') + Math.floor(Math.random() * 1296).toString(36).padStart(2, '0');
    if (taken(p)) continue;
    usedPrefixes.add(p);
    return p;
  }
}

export class Lab {
  readonly prefix = uniquePrefix();
  readonly dir = mkdtempSync(join(tmpdir(), 'vswitch-test-'));
  readonly socket = join(this.dir, 'vswitchd.sock');
  readonly hosts: Host[] = [];
  private readonly namespaces: string[] = [];
  private readonly links: string[] = [];
  private readonly procs: ChildProcess[] = [];
  daemon?: Daemon;

  constructor(readonly subnet = '10.77') {
    live.add(this);
  }

  /** Run a shell command; throws with its stderr on failure. */
  sh(cmd: string): string {
    return execFileSync('bash', ['-c', cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Run a command in namespace `ns`. */
  inNs(ns: string, cmd: string): string {
    return this.sh(`ip netns exec ${ns} ${cmd}`);
  }

  nsName(n: number): string {
    return `${this.prefix}NS${n}`;
  }

  portName(n: number): string {
    return `${this.prefix}p${n}`;
  }

  /**
   * Make host n: namespace, veth pair (host side inside, port side here), addresses, all up.
   * `quiet`: no addresses and IPv6 off on both ends, so that neither end sends a frame of
   * its own (no router solicitation, ND, MLD): only what a test sends crosses the switch.
   * `ip`/`ip6` are then not assigned.
   */
  addHost(n: number, opts: { mtu?: number; quiet?: boolean } = {}): Host {
    const ns = this.nsName(n);
    const ifname = `${this.prefix}h${n}`;
    const port = this.portName(n);
    const ip = `${this.subnet}.${Math.floor(n / 250)}.${(n % 250) + 1}`;
    const ip6 = `fd00:77::${n.toString(16)}`;
    this.sh(`ip netns add ${ns}`);
    this.namespaces.push(ns);
    this.sh(`ip link add ${port} type veth peer name ${ifname} netns ${ns}`);
    this.links.push(port);
    const mtu = opts.mtu ? ` mtu ${opts.mtu}` : '';
    const addresses = opts.quiet
      ? // Before the links go up: an interface sends its first IPv6 frames as it comes up.
        `ip netns exec ${ns} sysctl -qw net.ipv6.conf.${ifname}.disable_ipv6=1 && sysctl -qw net.ipv6.conf.${port}.disable_ipv6=1 && `
      : `ip -n ${ns} addr add ${ip}/16 dev ${ifname} && ip -n ${ns} addr add ${ip6}/64 dev ${ifname} nodad && `;
    this.sh(
      `ip -n ${ns} link set lo up && ${addresses}` +
        `ip -n ${ns} link set ${ifname}${mtu} up && ip link set ${port}${mtu} up`,
    );
    const mac = this.inNs(ns, `cat /sys/class/net/${ifname}/address`).trim();
    const host = { n, ns, ifname, port, ip, ip6, mac };
    this.hosts.push(host);
    return host;
  }

  /** An empty network namespace `<prefix><name>`, removed (with every interface in it) by cleanup. */
  addNamespace(name: string): string {
    const ns = `${this.prefix}${name}`;
    this.sh(`ip netns add ${ns}`);
    this.namespaces.push(ns);
    return ns;
  }

  /** An interface in the root namespace made by the lab (removed by cleanup). */
  addVethPair(a: string, b: string): void {
    this.sh(`ip link add ${a} type veth peer name ${b}`);
    this.links.push(a);
  }

  /** Rename an interface the lab made (cleanup then removes it under its new name). */
  renameLink(from: string, to: string): void {
    this.sh(`ip link set ${from} name ${to}`);
    const i = this.links.indexOf(from);
    if (i >= 0) this.links[i] = to;
  }

  /** Start vswitchd, in the root namespace or in `opts.netns` (its ports must then be there). */
  async startSwitch(args: string[] = [], opts: { netns?: string } = {}): Promise<Daemon> {
    const d = new Daemon(this, args, opts.netns);
    this.daemon = d;
    await d.ready();
    return d;
  }

  /** Run bin/vswconfig against the lab's daemon. */
  vswconfig(...args: string[]): RunResult {
    return run(process.execPath, [VSWCONFIG, '--socket', this.socket, ...args]);
  }

  /** vswconfig that must succeed: its stdout (an assertion with its stderr otherwise). */
  ok(...args: string[]): string {
    const r = this.vswconfig(...args);
    assert.equal(r.code, 0, `vswconfig ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  /** Start a long-running process (tracked: killed by cleanup). */
  spawn(cmd: string, args: string[]): ChildProcess {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.push(p);
    return p;
  }

  /** Capture on an interface with tcpdump until stop(); resolves once tcpdump listens. */
  async capture(ns: string | null, ifname: string, filter: string): Promise<Capture> {
    const argv = ['-i', ifname, '-nn', '-e', '-l', '-U', ...filter.split(/\s+/).filter(Boolean)];
    const p = ns ? this.spawn('ip', ['netns', 'exec', ns, 'tcpdump', ...argv]) : this.spawn('tcpdump', argv);
    const cap = new Capture(p);
    await cap.listening();
    return cap;
  }

  /** Send frames built by a scapy expression from `ns`/`ifname` (count copies). */
  sendFrames(ns: string, ifname: string, scapyExpr: string, count = 1): void {
    const py = `from scapy.all import *\nsendp(${scapyExpr}, iface='${ifname}', count=${count}, verbose=0)`;
    this.sh(`ip netns exec ${ns} ${PYTHON} -c "${py.replace(/"/g, '\\"')}"`);
  }

  /** An interface statistic (rx_packets, tx_packets, …) of ifname in ns. */
  stat(ns: string | null, ifname: string, counter: string): number {
    const cmd = `cat /sys/class/net/${ifname}/statistics/${counter}`;
    return Number((ns ? this.inNs(ns, cmd) : this.sh(cmd)).trim());
  }

  ping(from: Host, to: string, args = '-c 1 -W 2'): boolean {
    return run('ip', ['netns', 'exec', from.ns, 'ping', ...args.split(' '), to]).code === 0;
  }

  async cleanup(): Promise<void> {
    if (this.daemon) await this.daemon.stop().catch(() => undefined);
    this.cleanupSync();
  }

  cleanupSync(): void {
    for (const p of this.procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    this.procs.length = 0;
    if (this.daemon?.alive) this.daemon.proc.kill('SIGKILL');
    if (this.daemon) this.removeStalePortLocks();
    for (const l of this.links.splice(0)) spawnSync('ip', ['link', 'del', l], { stdio: 'ignore' });
    for (const ns of this.namespaces.splice(0)) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }

  /**
   * The port lock files a killed daemon of this lab left (they name its
   * socket), removed under the lock as the daemon's own sweep would.
   */
  private removeStalePortLocks(): void {
    spawnSync(
      'bash',
      ['-c', 'for f in "$DIR"/*; do grep -qF "$NEEDLE" "$f" 2>/dev/null && flock -n "$f" rm -f "$f"; done'],
      { stdio: 'ignore', env: { ...process.env, DIR: PORT_LOCK_DIR, NEEDLE: `"socket":${JSON.stringify(this.socket)}` } },
    );
  }
}

/**
 * The datapath the integration tests run on: test/run.mjs runs them once per
 * datapath with VSWITCH_TEST_DATAPATH set. A test that passes --datapath itself wins.
 */
export const TEST_DATAPATH = process.env.VSWITCH_TEST_DATAPATH ?? '';

/**
 * The attach mode (VSWITCH_TEST_ATTACH: tc, or tcx; unset: vswitchd's default),
 * passed as --attach. test/run.mjs runs a subset on the kernel datapath with tc.
 */
export const TEST_ATTACH = process.env.VSWITCH_TEST_ATTACH ?? '';

function datapathArgs(): string[] {
  return [...(TEST_DATAPATH === '' ? [] : ['--datapath', TEST_DATAPATH]), ...(TEST_ATTACH === '' ? [] : ['--attach', TEST_ATTACH])];
}

/** vswitchd's own tc filter's handle (src/datapath/tc.ts), as `tc filter show` prints it. */
export const VSWITCH_TC_HANDLE = '0x76737764';

/** The lines of `tc filter show dev IFNAME DIR` that are vswitchd's filters (its handle; no interface: none). */
export function vswitchTcFilters(ifname: string, dir: 'ingress' | 'egress' = 'ingress'): string[] {
  const r = spawnSync('tc', ['filter', 'show', 'dev', ifname, dir], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l.includes(`handle ${VSWITCH_TC_HANDLE} `));
}

export class Daemon {
  readonly proc: ChildProcess;
  stderr = '';
  private exit?: Promise<number | null>;

  constructor(
    private readonly lab: Lab,
    args: string[],
    netns?: string,
  ) {
    const argv = [process.execPath, ...VSWITCHD_NODE_ARGS, VSWITCHD, '--socket', lab.socket, ...datapathArgs(), ...args];
    // ip netns exec execs the command: the pid is the daemon's. The control socket is a path, reachable from here.
    if (netns !== undefined) argv.unshift('ip', 'netns', 'exec', netns);
    this.proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stderr!.setEncoding('utf8').on('data', (s: string) => (this.stderr += s));
    this.proc.stdout!.resume();
    this.exit = new Promise((res) => this.proc.on('exit', (code) => res(code)));
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async ready(): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (!this.alive) throw new Error(`vswitchd exited during start-up:\n${this.stderr}`);
      if (this.lab.vswconfig('show').code === 0) return;
      await sleep(50);
    }
    throw new Error(`vswitchd did not answer within 15 s:\n${this.stderr}`);
  }

  /** SIGTERM and wait; resolves to the exit code. */
  async stop(): Promise<number | null> {
    if (this.alive) this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    const code = await this.exit!;
    clearTimeout(t);
    return code;
  }
}

export class Capture {
  out = '';
  private err = '';
  private readonly done: Promise<void>;

  constructor(private readonly proc: ChildProcess) {
    proc.stdout!.setEncoding('utf8').on('data', (s: string) => (this.out += s));
    proc.stderr!.setEncoding('utf8').on('data', (s: string) => (this.err += s));
    this.done = new Promise((res) => proc.on('exit', () => res()));
  }

  async listening(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!this.err.includes('listening on')) {
      if (this.proc.exitCode !== null) throw new Error(`tcpdump failed: ${this.err}`);
      if (Date.now() > deadline) throw new Error(`tcpdump did not start: ${this.err}`);
      await sleep(20);
    }
  }

  /** Stop capturing; resolves to the captured lines. */
  async stop(): Promise<string[]> {
    await sleep(200); // let the last frames through the switch
    this.proc.kill('SIGINT');
    await this.done;
    return this.out.split('\n').filter((l) => l.trim() !== '');
  }
}

export function run(cmd: string, args: string[], input?: string): RunResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Promiscuity counter of an interface (ip -d link). */
export function promiscuity(lab: Lab, ifname: string): number {
  const m = /promiscuity (\d+)/.exec(lab.sh(`ip -d link show ${ifname}`));
  return m ? Number(m[1]) : -1;
}


// ---- Added for the forwarding, VLAN, MTU, TCP and walkthrough tests ----

/** The `drops <reason> <n>` counters of `vswconfig stats`, by reason. */
export function dropCounts(lab: Lab): Record<string, number> {
  const r = lab.vswconfig('stats');
  if (r.code !== 0) throw new Error(`vswconfig stats failed (${r.code}): ${r.stderr}`);
  const drops: Record<string, number> = {};
  for (const m of r.stdout.matchAll(/^drops (\S+) (\d+)$/gm)) drops[m[1]!] = Number(m[2]);
  return drops;
}

/** The entries of `vswconfig fdb` (`MAC dev PORT age N` lines). */
export function fdbEntries(lab: Lab): { mac: string; port: string; age: number; vlan: number }[] {
  const r = lab.vswconfig('fdb');
  if (r.code !== 0) throw new Error(`vswconfig fdb failed (${r.code}): ${r.stderr}`);
  return [...r.stdout.matchAll(/^(\S+) dev (\S+)(?: vlan (\d+))? age (\d+)$/gm)].map((m) => ({ mac: m[1]!, port: m[2]!, age: Number(m[4]), vlan: Number(m[3] ?? 0) }));
}

/** Poll cond() every `step` ms until it holds or `ms` have passed; resolves to its last value. */
export async function waitUntil(cond: () => boolean, ms = 5_000, step = 20): Promise<boolean> {
  return waitFor('a condition', cond, ms, step).then(
    () => true,
    () => false,
  );
}

/** The lines of tcpdump output that start a frame (not the indented hex/ASCII dump lines under one). */
export function frameLines(lines: readonly string[]): string[] {
  return lines.filter((l) => l.trim() !== '' && !/^\s/.test(l));
}

/** Frame lines a running capture has printed so far. */
export function capturedFrames(cap: Capture): string[] {
  return frameLines(cap.out.split('\n'));
}

/** Wait (up to `ms`) until a running capture has seen at least n frames; resolves to whether it has. */
export function waitForFrames(cap: Capture, n: number, ms = 5_000): Promise<boolean> {
  return waitUntil(() => capturedFrames(cap).length >= n, ms);
}

// ---- Added for the port, link-event, CLI-error and daemon tests ----

/** Poll `cond` until it returns something truthy (returned); throws naming `what` after timeoutMs. */
export async function waitFor<T>(what: string, cond: () => T | Promise<T>, timeoutMs = 5000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** The ports `vswconfig show` lists, in order; throws if show fails. */
export function showPorts(lab: Lab): string[] {
  const r = lab.vswconfig('show');
  if (r.code !== 0) throw new Error(`vswconfig show failed (${r.code}): ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('datapath ') && !l.startsWith('warning: '));
}

export interface PortRow {
  link: string;
  mtu: number;
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
}

/** The per-port table of `vswconfig stats`, by port name; throws if stats fails. */
export function portStats(lab: Lab): Map<string, PortRow> {
  const r = lab.vswconfig('stats');
  if (r.code !== 0) throw new Error(`vswconfig stats failed (${r.code}): ${r.stderr}`);
  const rows = new Map<string, PortRow>();
  for (const line of r.stdout.split('\n').slice(1)) {
    if (line.trim() === '') break; // the table ends at the first blank line
    const [port, link, mtu, rxFrames, rxBytes, txFrames, txBytes] = line.trim().split(/\s+/);
    rows.set(port!, {
      link: link!,
      mtu: Number(mtu),
      rxFrames: Number(rxFrames),
      rxBytes: Number(rxBytes),
      txFrames: Number(txFrames),
      txBytes: Number(txBytes),
    });
  }
  return rows;
}

/**
 * A sentinel that needs no clock: resolves once `n` more frames have entered
 * the switch through `port` (its rx counter in `vswconfig stats`). Each has
 * been decided by then: a test that waits for a few of them knows that a
 * frame decided before can only have arrived, and that a frame decided after
 * had its chance to arrive.
 */
export async function framesEntered(lab: Lab, port: string, n: number, timeoutMs = 10_000): Promise<void> {
  const rx = (): number => portStats(lab).get(port)?.rxFrames ?? 0;
  const start = rx();
  if (!(await waitUntil(() => rx() >= start + n, timeoutMs, 50))) throw new Error(`fewer than ${n} frames entered through ${port} in ${timeoutMs} ms`);
}

/**
 * `count` veth pairs in the root namespace (or in the lab's namespace `ns`)
 * named `<prefix><tag><i>` (the switch side, returned) and `<prefix><TAG><i>`
 * (the peer), up and quiet (IPv6 off on both ends, no IPv4 address: they send
 * nothing by themselves). Removed by cleanup.
 */
export function addQuietPairs(lab: Lab, tag: string, count: number, ns?: string): string[] {
  const names: string[] = [];
  const inNs = ns === undefined ? '' : `ip netns exec ${ns} `;
  for (let i = 0; i < count; i++) {
    const a = `${lab.prefix}${tag}${i}`;
    const b = `${lab.prefix}${tag.toUpperCase()}${i}`;
    if (ns === undefined) lab.addVethPair(a, b);
    else lab.sh(`ip -n ${ns} link add ${a} type veth peer name ${b}`); // deleted with the namespace
    lab.sh(
      `${inNs}sysctl -qw net.ipv6.conf.${a}.disable_ipv6=1 net.ipv6.conf.${b}.disable_ipv6=1 && ` +
        `${inNs}ip link set ${a} up && ${inNs}ip link set ${b} up`,
    );
    names.push(a);
  }
  return names;
}

/** A tun device (ARPHRD_NONE: not Ethernet) in the root namespace, removed by cleanup. */
export function addTun(lab: Lab, name: string): void {
  lab.sh(`ip tuntap add dev ${name} mode tun`);
  lab['links'].push(name);
}

/** A Linux bridge in the root namespace, up, removed by cleanup. */
export function addBridge(lab: Lab, name: string): void {
  lab.sh(`ip link add ${name} type bridge`);
  lab['links'].push(name);
  lab.sh(`ip link set ${name} up`);
}

/**
 * Send `signal` to the daemon and wait for it to exit and its stderr to be read
 * to the end; resolves to the exit code (null if killed by a signal).
 */
export function signalDaemon(d: Daemon, signal: NodeJS.Signals, timeoutMs = 10_000): Promise<number | null> {
  if (!d.alive) return Promise.resolve(d.proc.exitCode);
  return new Promise((resolve) => {
    const t = setTimeout(() => d.proc.kill('SIGKILL'), timeoutMs);
    d.proc.once('close', (code) => {
      clearTimeout(t);
      resolve(code);
    });
    d.proc.kill(signal);
  });
}

/** CPU time (utime + stime, in clock ticks) a process has used, from /proc/<pid>/stat. */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Call at a test file's top level: returns a maker of labs that are all cleaned up after the file's tests. */
export function labsCleanedAfterAll(): (subnet?: string) => Lab {
  const labs: Lab[] = [];
  after(async () => {
    for (const lab of labs) await lab.cleanup();
  });
  return (subnet?: string) => {
    const lab = new Lab(subnet);
    labs.push(lab);
    return lab;
  };
}

/** Assert that a command exited 0, showing its stderr if not. */
export function assertOk(r: RunResult, what: string): void {
  assert.equal(r.code, 0, `${what} failed: ${r.stderr}`);
}

/** Wait until the drop counter `reason` has grown by at least `n` over `base`; resolves to the growth. */
export async function dropGrowth(lab: Lab, reason: string, base: Record<string, number>, n: number): Promise<number> {
  let now = dropCounts(lab);
  await waitUntil(
    () => {
      now = dropCounts(lab);
      return (now[reason] ?? 0) - (base[reason] ?? 0) >= n;
    },
    5_000,
    50,
  );
  return (now[reason] ?? 0) - (base[reason] ?? 0);
}

// ---- Added for the tunnel tests: hosts joined by an underlay, tenants behind them ----

/** A /24 of 10.0.0.0/8 picked at random for the run ("10.213.7"), away from the 10.77/16 of addHost. */
export function randomSubnet24(): string {
  return `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
}

/**
 * Namespaces `<prefix><name>` joined by a Linux bridge in a namespace of their
 * own (the underlay network): host i gets interface `u<i>` at `<subnet>.<i+1>/24`.
 */
export function addUnderlay(lab: Lab, names: readonly string[], subnet: string): { ns: string; ifname: string; ip: string }[] {
  const net = lab.addNamespace('net');
  lab.sh(`ip -n ${net} link add br0 type bridge && ip -n ${net} link set br0 up`);
  return names.map((name, i) => {
    const ns = lab.addNamespace(name);
    const ifname = `u${i}`;
    const ip = `${subnet}.${i + 1}`;
    lab.sh(
      `ip -n ${ns} link add ${ifname} type veth peer name p${i} netns ${net} && ip -n ${net} link set p${i} master br0 up && ` +
        `ip -n ${ns} addr add ${ip}/24 dev ${ifname} && ip -n ${ns} link set ${ifname} up && ip -n ${ns} link set lo up`,
    );
    return { ns, ifname, ip };
  });
}

export interface Tenant {
  ns: string;
  /** Its interface in its namespace. */
  ifname: string;
  /** The other end, in the host's namespace. */
  port: string;
  ip: string;
  mac: string;
}

/**
 * A tenant of `hostNs`: namespace `<prefix><tag>` whose `eth0` (at `ip`/24,
 * IPv6 off: it sends only what a test makes it send) is paired with
 * `<prefix><tag>` in hostNs, up, at `mtu` on both ends. Deleted with its namespace.
 */
export function addTenant(lab: Lab, hostNs: string, tag: string, ip: string, mtu = 1500): Tenant {
  const ns = lab.addNamespace(tag);
  const port = `${lab.prefix}${tag}`;
  lab.sh(
    `ip -n ${ns} link add eth0 mtu ${mtu} type veth peer name ${port} mtu ${mtu} netns ${hostNs} && ` +
      `ip netns exec ${ns} sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1 && ip netns exec ${hostNs} sysctl -qw net.ipv6.conf.${port}.disable_ipv6=1 && ` +
      `ip -n ${ns} addr add ${ip}/24 dev eth0 && ip -n ${ns} link set eth0 up && ip -n ${ns} link set lo up && ip -n ${hostNs} link set ${port} up`,
  );
  const mac = lab.inNs(ns, 'cat /sys/class/net/eth0/address').trim();
  return { ns, ifname: 'eth0', port, ip, mac };
}

/**
 * Linux's own VXLAN end in `hostNs`, as the kernel's selftest
 * forwarding/vxlan_bridge_1d.sh builds it: a bridge br1 with a vxlan device vx1
 * (learning, UDP port 4789) and one head-end replication entry per remote.
 */
export function addLinuxVxlanBridge(lab: Lab, hostNs: string, vni: number, local: string, remotes: readonly string[]): void {
  lab.sh(
    `ip -n ${hostNs} link add br1 type bridge && ip -n ${hostNs} link set br1 up && ` +
      `ip -n ${hostNs} link add vx1 type vxlan id ${vni} local ${local} dstport 4789 && ` +
      `ip -n ${hostNs} link set vx1 master br1 up` +
      remotes.map((r) => ` && bridge -n ${hostNs} fdb append 00:00:00:00:00:00 dev vx1 dst ${r} self`).join(''),
  );
}

/** Put `port` of hostNs into its bridge br1. */
export function bridgePort(lab: Lab, hostNs: string, port: string): void {
  lab.sh(`ip -n ${hostNs} link set ${port} master br1`);
}

/** Of the VXLAN packets a capture on an underlay saw, how many went to `dst` (an IPv4 address). */
export function vxlanPacketsTo(lines: readonly string[], dst: string): number {
  const to = new RegExp(` > ${dst.replace(/\./g, '\\.')}\\.4789: `);
  return lines.filter((l) => to.test(l)).length;
}

/** A tcpdump filter for IPv4 VXLAN packets whose inner frame has this destination or source MAC (offsets: 14 + 20 + 8 + 8). */
export function innerMacFilter(which: 'dst' | 'src', mac: string): string {
  const hex = mac.replace(/:/g, '');
  const at = which === 'dst' ? 50 : 56;
  return `udp dst port 4789 and ether[${at}:4] = 0x${hex.slice(0, 8)} and ether[${at + 4}:2] = 0x${hex.slice(8)}`;
}
