// Open vSwitch with its userspace datapath, run privately.
//
// Never a system OVS: ovsdb-server and ovs-vswitchd are started by the bench,
// in the topology's switch namespace, from a run directory of their own (a
// fresh conf.db made with ovsdb-tool create, --pidfile/--unixctl/db socket
// and logs in that directory, OVS_RUNDIR/OVS_LOGDIR/OVS_DBDIR pointing there),
// with --disable-system (no kernel datapath). The bridge is
// datapath_type=netdev with other_config:userspace-tso-enable=true and
// mac-table-size=65536 (its default of 8192 would cap the 50,000-MAC test).
//
// Installation (only when asked, with --with-ovs, and only if missing):
// apt-get install openvswitch-switch with a policy-rc.d that forbids starting
// services, so that installing starts no system OVS; if the package started
// one anyway that was not running before, it is stopped again.

import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchError, check, lastLine, onCleanup, type Proc, run, runSync, sleep, start, which } from './proc.js';
import type { AclRule, Switch } from './switches.js';
import type { Host, Topology } from './topology.js';

const SCHEMA_PATHS = ['/usr/share/openvswitch/vswitch.ovsschema'];
const POLICY_RC_D = '/usr/sbin/policy-rc.d';

async function pidsOf(name: string): Promise<number[]> {
  const r = await run('pidof', [name]);
  return r.stdout
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
}

function ovsInstalled(): boolean {
  return which('ovs-vswitchd') !== null && which('ovsdb-server') !== null && which('ovsdb-tool') !== null && which('ovs-vsctl') !== null && which('ovs-appctl') !== null;
}

/** Make sure Debian's openvswitch-switch is installed, without a system OVS left running. */
export async function ensureOvsInstalled(log: (s: string) => void): Promise<void> {
  if (ovsInstalled()) return;
  if (which('apt-get') === null) throw new BenchError('Open vSwitch is not installed and apt-get is missing: install openvswitch-switch');
  log('installing openvswitch-switch with apt-get (no service is started)');
  const before = new Set([...(await pidsOf('ovs-vswitchd')), ...(await pidsOf('ovsdb-server'))]);
  let madePolicy = false;
  if (!existsSync(POLICY_RC_D)) {
    writeFileSync(POLICY_RC_D, '#!/bin/sh\n# written by vswitch bench while installing openvswitch-switch\nexit 101\n', { mode: 0o755 });
    madePolicy = true;
  }
  const unregister = onCleanup('policy-rc.d', () => {
    if (madePolicy) rmSync(POLICY_RC_D, { force: true });
  });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = await run('apt-get', ['update', '-qq'], { env, timeoutMs: 300_000 });
    if (update.code !== 0) throw new BenchError(`apt-get update failed: ${lastLine(update.stderr)}`);
    const inst = await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'openvswitch-switch'], { env, timeoutMs: 600_000 });
    if (inst.code !== 0) throw new BenchError(`apt-get install openvswitch-switch failed: ${lastLine(inst.stderr)}`);
  } finally {
    if (madePolicy) rmSync(POLICY_RC_D, { force: true });
    unregister();
  }
  // If the package started the system's OVS after all, leave the system as found.
  const after = [...(await pidsOf('ovs-vswitchd')), ...(await pidsOf('ovsdb-server'))].filter((p) => !before.has(p));
  if (after.length > 0) {
    log('the package started the system Open vSwitch: stopping it again');
    if (existsSync('/run/systemd/system')) await run('systemctl', ['stop', 'openvswitch-switch'], { timeoutMs: 60_000 });
    else await run('/etc/init.d/openvswitch-switch', ['stop'], { timeoutMs: 60_000 });
  }
  if (!ovsInstalled()) throw new BenchError('openvswitch-switch was installed but ovs-vswitchd is still missing');
}

export async function ovsVersion(): Promise<string> {
  const r = await run('ovs-vswitchd', ['--version']);
  return r.stdout.split('\n')[0]?.trim() ?? '';
}

export class Ovs implements Switch {
  readonly name = 'ovs' as const;
  readonly br: string;
  private dir = '';
  private db?: Proc;
  private vswitchd?: Proc;
  private unregister?: () => void;

  constructor(private readonly topo: Topology) {
    this.br = `${topo.prefix}ovs`;
  }

  private get env(): NodeJS.ProcessEnv {
    const d = this.dir;
    return { ...process.env, OVS_RUNDIR: d, OVS_LOGDIR: d, OVS_DBDIR: d, OVS_SYSCONFDIR: d };
  }

  private vsctl(args: string[], timeoutMs = 30_000): Promise<string> {
    return check(`ovs-vsctl ${args.find((a) => !a.startsWith('-')) ?? ''}`, 'ovs-vsctl', [`--db=unix:${this.dir}/db.sock`, ...args], { env: this.env, timeoutMs });
  }

  appctl(args: string[], timeoutMs = 30_000): Promise<string> {
    return check(`ovs-appctl ${args[0] ?? ''}`, 'ovs-appctl', ['-t', `${this.dir}/ovs-vswitchd.ctl`, ...args], { env: this.env, timeoutMs, keep: 256 << 20 });
  }

  async start(): Promise<void> {
    const schema = SCHEMA_PATHS.find((p) => existsSync(p));
    if (!schema) throw new BenchError('Open vSwitch schema vswitch.ovsschema not found (is openvswitch-switch installed?)');
    this.dir = mkdtempSync(join(tmpdir(), `vswbench-${this.topo.prefix}-ovs-`));
    const dir = this.dir;
    const ctlDb = `${dir}/ovsdb-server.ctl`;
    const ctlSw = `${dir}/ovs-vswitchd.ctl`;
    const env = this.env;
    this.unregister = onCleanup(`ovs in ${dir}`, () => {
      // the processes are already signalled by cleanupAll(); this is a last resort
      runSync('ovs-appctl', ['-t', ctlSw, 'exit'], 3000);
      runSync('ovs-appctl', ['-t', ctlDb, 'exit'], 3000);
      rmSync(dir, { recursive: true, force: true });
    });

    await check('ovsdb-tool create', 'ovsdb-tool', ['create', `${dir}/conf.db`, schema], { env });
    this.db = start('ovsdb-server', 'ip', [
      'netns', 'exec', this.topo.sw, 'ovsdb-server', `${dir}/conf.db`,
      `--remote=punix:${dir}/db.sock`, `--pidfile=${dir}/ovsdb-server.pid`, `--unixctl=${ctlDb}`,
      `--log-file=${dir}/ovsdb-server.log`, '-vconsole:off',
    ], { env });
    await this.waitFor(() => existsSync(`${dir}/db.sock`), this.db, 'ovsdb-server');
    await this.vsctl(['--no-wait', 'init']);
    // read at start-up: set before ovs-vswitchd runs
    await this.vsctl(['--no-wait', 'set', 'Open_vSwitch', '.', 'other_config:userspace-tso-enable=true']);
    this.vswitchd = start('ovs-vswitchd', 'ip', [
      'netns', 'exec', this.topo.sw, 'ovs-vswitchd', `unix:${dir}/db.sock`, '--disable-system',
      `--pidfile=${dir}/ovs-vswitchd.pid`, `--unixctl=${ctlSw}`, `--log-file=${dir}/ovs-vswitchd.log`, '-vconsole:off',
    ], { env });
    await this.waitFor(() => existsSync(ctlSw), this.vswitchd, 'ovs-vswitchd');

    const args = [
      '--timeout=60', 'add-br', this.br,
      '--', 'set', 'bridge', this.br, 'datapath_type=netdev', 'other_config:mac-table-size=65536',
    ];
    for (const h of this.topo.hosts) args.push('--', 'add-port', this.br, h.port);
    await this.vsctl(args, 90_000);
    // every port must have an OpenFlow port number (i.e. be open)
    const ofports = (await this.vsctl(['--bare', '--columns=name,ofport', 'list', 'Interface'])).split('\n').map((l) => l.trim()).filter(Boolean);
    const bad: string[] = [];
    for (let i = 0; i + 1 < ofports.length; i += 2) if (Number(ofports[i + 1]) <= 0) bad.push(ofports[i]!);
    if (bad.length > 0) throw new BenchError(`Open vSwitch could not open ${bad.join(', ')} (see ${dir}/ovs-vswitchd.log)`);
  }

  private async waitFor(ok: () => boolean, p: Proc, what: string): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (!ok()) {
      if (p.code !== null) throw new BenchError(`${what} exited during start-up: ${lastLine(p.stderr) || `exit code ${p.code}`}`);
      if (Date.now() > deadline) throw new BenchError(`${what} did not start within 15 s (see ${this.dir})`);
      await sleep(50);
    }
  }

  mainPid(): number | null {
    return this.vswitchd?.pid ?? null;
  }

  pids(): number[] {
    return [this.vswitchd?.pid, this.db?.pid].filter((p): p is number => p !== undefined);
  }

  /** Learned entries of `ovs-appctl fdb/show` (the header line left out). */
  async fdbEntries(): Promise<number> {
    const out = await this.appctl(['fdb/show', this.br], 60_000);
    return out.split('\n').filter((l) => /^\s*\d+\s+\d+\s+[0-9a-f:]{17}/i.test(l)).length;
  }

  /** `tag=` on the access port, `trunks=` on the trunk (Open vSwitch's own port modes). */
  async vlanAccessTrunk(access: Host, trunk: Host, vid: number): Promise<void> {
    await this.vsctl(['set', 'port', access.port, `tag=${vid}`, '--', 'set', 'port', trunk.port, `trunks=${vid}`]);
  }

  /** OpenFlow rules above the bridge's default (priority 0, NORMAL): allow is NORMAL. */
  async installAcl(rules: readonly AclRule[]): Promise<() => Promise<void>> {
    const flows = rules.map((r) => {
      const m = [`priority=${r.priority}`];
      if (r.in) m.push(`in_port=${r.in.port}`);
      if (r.src) m.push(`dl_src=${r.src}`);
      if (r.dst) m.push(`dl_dst=${r.dst}`);
      if (r.type !== undefined) m.push(`dl_type=0x${r.type.toString(16)}`);
      if (r.vlan !== undefined) m.push(`dl_vlan=${r.vlan}`);
      return `${m.join(',')},actions=${r.action === 'drop' ? 'drop' : 'NORMAL'}`;
    });
    const file = join(this.dir, 'acl.flows');
    writeFileSync(file, flows.join('\n') + '\n');
    await this.ofctl(['add-flows', this.br, file]);
    return async () => {
      await this.ofctl(['del-flows', this.br]);
      await this.ofctl(['add-flow', this.br, 'priority=0,actions=NORMAL']);
    };
  }

  /** n_packets of every flow but the default one. */
  async aclHits(): Promise<number> {
    const out = await this.ofctl(['dump-flows', this.br]);
    let n = 0;
    for (const line of out.split('\n')) {
      if (!/priority=[1-9]/.test(line)) continue;
      n += Number(/n_packets=(\d+)/.exec(line)?.[1] ?? 0);
    }
    return n;
  }

  private ofctl(args: string[]): Promise<string> {
    return check(`ovs-ofctl ${args[0] ?? ''}`, 'ovs-ofctl', args, { env: this.env, timeoutMs: 30_000, keep: 16 << 20 });
  }

  async counters(): Promise<unknown> {
    const stats = await this.appctl(['dpif-netdev/pmd-stats-show']).catch((e: Error) => e.message);
    const upcalls = await this.appctl(['upcall/show']).catch((e: Error) => e.message);
    return { pmdStats: stats, upcalls };
  }

  async stop(): Promise<void> {
    const problems: string[] = [];
    if (this.vswitchd) {
      await this.vsctl(['--timeout=30', 'del-br', this.br]).catch((e: Error) => problems.push(e.message));
      await run('ovs-appctl', ['-t', `${this.dir}/ovs-vswitchd.ctl`, 'exit'], { env: this.env, timeoutMs: 15_000 });
      await this.vswitchd.stop('SIGTERM', 10_000);
      this.vswitchd = undefined;
    }
    if (this.db) {
      await run('ovs-appctl', ['-t', `${this.dir}/ovsdb-server.ctl`, 'exit'], { env: this.env, timeoutMs: 15_000 });
      await this.db.stop('SIGTERM', 10_000);
      this.db = undefined;
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.unregister?.();
    if (problems.length > 0) throw new BenchError(problems.join('; '));
  }
}
