// npm run bench [-- OPTIONS]: vswitchd's kernel and userspace datapaths
// against the Linux bridge (and Open vSwitch's userspace datapath with
// --with-ovs) on the same topology, in rounds (A B C D A B C D …); with
// --hosts, pairs of them on two hosts joined by VXLAN (hosts-mode.ts). See
// bench/README.md.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { rerender, writeChartOf } from './plot.js';
import { tcpSession } from './tcp-rounds.js';
import { perfAvailable, perfReport, perfRound, profileDirOf, profiledWindows } from './perf-round.js';
import os from 'node:os';
import { join } from 'node:path';
import { runCoreBench } from './core.js';
import { runHostsMode } from './hosts-mode.js';
import { saveStorm, type StormResult, stormOnce, stormTable } from './storm.js';
import { restartAcross } from './restart.js';
import { runPaired, savePaired } from './paired.js';
import { PAIRED_CASES, pairedTable } from './paired-summary.js';
import {
  acl,
  ACL_RULES,
  accessToTrunk,
  captureWhile,
  cpuSplitText,
  type Ctx,
  type Durations,
  fdbScale,
  flood,
  floodReceiverAlone,
  fmtRate,
  FULL,
  idleCost,
  latencyIdle,
  latencyLoaded,
  others,
  QUICK,
  rssNow,
  startIperfServer,
  unicast64,
  type WindowResult,
} from './measures.js';
import { ensureOvsInstalled, Ovs, ovsVersion } from './ovs.js';
import { attempt, BenchError, findPython, need, onCleanup, run, runEntry, sleep, which } from './proc.js';
import { DEFAULT_SWITCHES, HOST_SWITCHES, markdownTable, roundsTable, type SampleSet, SWITCH_ORDER, type SwitchName } from './report.js';
import { isVswitchd, LinuxBridge, ROOT, type Switch, Vswitchd, vswitchdArgsOf } from './switches.js';
import { roundOrder, switchSoftirq } from './stats.js';
import { type Site, Topology } from './topology.js';
import { ETHERTYPE, FRAME_BYTES } from './trafgen.js';
import { type WakeupFloor, wakeupFloor } from './wakeup.js';

const USAGE = `usage: npm run bench -- [OPTIONS]      (as root)

Builds its own namespaces (removed at the end), then measures vswitchd with its
kernel datapath and with its userspace datapath, the Linux bridge and, with
--with-ovs, Open vSwitch (userspace datapath) in rounds, prints a Markdown
table and writes bench/results/<timestamp>.json.

options:
  --with-ovs             also measure Open vSwitch (installs openvswitch-switch with apt-get if missing)
  --rounds N             rounds of A B C D, in a balanced order that changes each round (default 3;
                           1 with --quick; 10 with --paired)
  --quick                shorter runs, 1 round: a smoke test
  --switches LIST        some switches only, comma-separated: vswitchd-kernel (or kernel),
                           vswitchd-kernel-tc (or kernel-tc: --attach tc), vswitchd-user (or user),
                           bridge, ovs (the bridge is what ratios need); not by default:
                           kernel-all, kernel-small, kernel-auto, kernel-plain (--redirect-peer all / small / auto / none;
                           auto is vswitchd's default since 2026-12-07, all before; issue 18),
                           kernel-twin (the kernel datapath again: an A/A control of the measure's noise)
  --only LIST            some measures only, comma-separated names or numbers:
                           1 64b   2 tcp   3 latency   4 flood   5 fdb   6 cost   7 core
                           8 vlan (64b from an access port into a trunk)   9 acl (64b under 100 rules)
                           10 capture (64b while vswconfig capture of the ingress port writes to /dev/null)
                           11 restart (pings lost and the control socket's downtime across vswconfig
                           restart; vswitchd only, last in its session)
                         (latency, fdb, cost, vlan, acl and capture need 64b, which then runs too)
  --hosts                the hosts mode instead: tenants on two hosts (namespaces), a switch on each
                           joined by VXLAN, plain and over WireGuard; TCP and 64 B for each pair of
                           vswitchd (kernel, user) and the Linux bridge (--switches picks among them)
  --storm                the MAC storm instead (issue 15): random sources at full speed from one port,
                           stats latency, port down seen, pings lost, fdb list time, RSS; each datapath
                           (--switches kernel,user) with the default options and with --fdb-port-limit 100
  --storm-seconds N      how long each storm lasts (default 30)
  --vswitchd-args ARGS   extra vswitchd options for both datapaths, e.g. "--ring-frames 256"
                         (not --datapath: the bench runs each)
  --node-args ARGS       options for vswitchd's node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
  --perf                 a profile round after the compared ones: each switch's TCP windows again with
                           perf record -a -g in their middle; top kernel symbols, buckets and softirq
                           by CPU in the results file and <timestamp>-perf.txt (its figures not compared;
                           perf.data and folded stacks in <timestamp>-profile/)
  --tcp-cpus C,S         every TCP window with iperf3 -A C,S: the client (NS1) on CPU C, the server
                           (NS2) on CPU S (0,0: the whole path on one CPU, its cost per byte; 0,1:
                           sender and receiver apart); default: where the scheduler puts them
  --paired A,B           the paired measure instead (issues 16, 18): A and B (kernel variants, bridge)
                           each on a topology of its own, each case (TCP 1 and 4 streams each way, 64 B,
                           idle ping RTT; --only tcp,64b,latency picks among them) run by both at
                           once, each whole path pinned to a CPU of its own (A on 0 beside B on 1,
                           then swapped), --rounds N (default 10) of A ÷ B; kernel,kernel-twin
                           measures the measure (A/A)
  --bpf-stats            kernel.bpf_stats_enabled=1 over each TCP window: the switch's eBPF
                           programs' run time per run (bpftool prog show), the sysctl restored after
  --from FILE            no run: print the table of a saved results file and write its chart
                           (FILE with .svg for .json); needs no root
  -h, --help             show this help
`;

const MEASURES = ['64b', 'tcp', 'latency', 'flood', 'fdb', 'cost', 'core', 'vlan', 'acl', 'capture', 'restart'] as const;
type Measure = (typeof MEASURES)[number];

interface Options {
  withOvs: boolean;
  /** the hosts mode (hosts-mode.ts) instead of the one-switch measures */
  hosts: boolean;
  /** the MAC storm (storm.ts) instead, each storm this many seconds; 0: not */
  stormSeconds: number;
  /** --switches; undefined: all but OVS (which --with-ovs adds) and the redirect variants */
  switches?: Set<SwitchName>;
  rounds: number;
  quick: boolean;
  only: Set<Measure>;
  vswitchdArgs: string[];
  nodeArgs: string[];
  /** --bpf-stats: a probe over each TCP window (tcp-rounds.ts) */
  bpfStats?: boolean;
  /** --perf: the profile round after the compared rounds (perf-round.ts) */
  perf?: boolean;
  /** --tcp-cpus: iperf3 -A for every TCP window */
  tcpCpus?: string;
  /** --paired A,B: the paired measure (paired.ts) instead */
  paired?: [SwitchName, SwitchName];
  /** --from FILE: re-render a saved run */
  from?: string;
}

/** Switch names from a comma-separated list, each by its full name or without `vswitchd-`. */
function switchList(option: string, v: string): SwitchName[] {
  return v
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean)
    .map((part) => {
      const sw = (SWITCH_ORDER as readonly string[]).includes(part) ? (part as SwitchName) : SWITCH_ORDER.find((n) => n === `vswitchd-${part}`);
      if (!sw) throw new BenchError(`${option}: unknown switch '${part}' (one of ${SWITCH_ORDER.join(', ')}, kernel, kernel-tc, kernel-all, kernel-small, kernel-auto, kernel-plain, kernel-twin, user)`);
      return sw;
    });
}

function parseArgs(argv: string[]): Options | 'help' {
  const o: Options = { withOvs: false, hosts: false, stormSeconds: 0, rounds: 3, quick: false, only: new Set(MEASURES), vswitchdArgs: [], nodeArgs: [] };
  let rounds: number | undefined;
  let onlyGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq > 0) return arg.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new BenchError(`option ${name} needs a value`);
      return v;
    };
    switch (name) {
      case '-h':
      case '--help':
        return 'help';
      case '--with-ovs':
        o.withOvs = true;
        break;
      case '--quick':
        o.quick = true;
        break;
      case '--hosts':
        o.hosts = true;
        break;
      case '--storm':
        o.stormSeconds ||= 30;
        break;
      case '--storm-seconds': {
        const v = value();
        if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 3600) throw new BenchError(`--storm-seconds needs a whole number from 1 to 3600, not '${v}'`);
        o.stormSeconds = Number(v);
        break;
      }
      case '--rounds': {
        const v = value();
        if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 100) throw new BenchError(`--rounds needs a whole number from 1 to 100, not '${v}'`);
        rounds = Number(v);
        break;
      }
      case '--switches': {
        o.switches = new Set(switchList('--switches', value()));
        if (o.switches.size === 0) throw new BenchError('--switches needs at least one switch');
        break;
      }
      case '--paired': {
        const pair = switchList('--paired', value());
        // the kernel datapath and the bridge forward in the sender's softirq, on its CPU; vswitchd-user's
        // datapath thread and OVS's daemons would run wherever the scheduler puts them
        if (pair.length !== 2 || pair[0] === pair[1] || pair.some((n) => n === 'ovs' || n === 'vswitchd-user'))
          throw new BenchError('--paired needs two different switches as A,B among the kernel datapath\'s variants and the bridge, e.g. kernel,bridge');
        o.paired = [pair[0]!, pair[1]!];
        break;
      }
      case '--only': {
        onlyGiven = true;
        o.only = new Set();
        for (const part of value().split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)) {
          const m = /^\d\d?$/.test(part) ? MEASURES[Number(part) - 1] : (MEASURES as readonly string[]).includes(part) ? (part as Measure) : undefined;
          if (!m) throw new BenchError(`--only: unknown measure '${part}' (one of ${MEASURES.join(', ')} or 1–${MEASURES.length})`);
          o.only.add(m);
        }
        if (o.only.size === 0) throw new BenchError('--only needs at least one measure');
        break;
      }
      case '--vswitchd-args':
        o.vswitchdArgs = value().split(/\s+/).filter(Boolean);
        if (o.vswitchdArgs.some((a) => a === '--datapath' || a.startsWith('--datapath=')))
          throw new BenchError('--vswitchd-args: no --datapath (the bench measures both datapaths, each as a switch of its own)');
        break;
      case '--node-args':
        o.nodeArgs = value().split(/\s+/).filter(Boolean);
        break;
      case '--profile':
        // its perf record ran inside the compared rounds; --perf does the job outside them
        throw new BenchError('--profile is gone: use --perf (perf over the TCP windows in a round of its own, out of the compared figures)');
      case '--bpf-stats':
        o.bpfStats = true;
        break;
      case '--perf':
        o.perf = true;
        break;
      case '--tcp-cpus': {
        const v = value();
        const cpus = os.availableParallelism();
        const m = /^(\d+),(\d+)$/.exec(v);
        if (!m || Number(m[1]) >= cpus || Number(m[2]) >= cpus) throw new BenchError(`--tcp-cpus needs two CPU numbers below ${cpus} as C,S, not '${v}'`);
        o.tcpCpus = `${Number(m[1])},${Number(m[2])}`;
        break;
      }
      case '--from':
        o.from = value();
        break;
      default:
        throw new BenchError(`unknown option '${arg}' (see --help)`);
    }
  }
  o.rounds = rounds ?? (o.quick ? 1 : 3);
  if (o.paired) {
    if (o.hosts || o.stormSeconds > 0 || o.withOvs || o.switches || o.tcpCpus || o.perf || o.bpfStats || o.quick)
      throw new BenchError('--paired: its two switches only (no --switches, --hosts, --storm, --with-ovs, --tcp-cpus, --perf, --bpf-stats or --quick)');
    const measures = new Set<string>(PAIRED_CASES.map((c) => c.measure));
    if (onlyGiven && [...o.only].some((m) => !measures.has(m))) throw new BenchError(`--paired --only: among ${[...measures].join(', ')} (its cases)`);
    if (!onlyGiven) o.only = measures as Set<Measure>;
    o.rounds = rounds ?? 10;
    return o;
  }
  if (o.tcpCpus && (o.stormSeconds > 0 || o.hosts || !o.only.has('tcp'))) throw new BenchError('--tcp-cpus: for the TCP measure of one switch (tcp in --only; no --storm or --hosts)');
  if (o.stormSeconds > 0) {
    if (o.hosts || o.withOvs || onlyGiven || [...(o.switches ?? [])].some((s) => !['vswitchd-kernel', 'vswitchd-user'].includes(s)))
      throw new BenchError('--storm: vswitchd only (--switches kernel,user; for tc attach: --vswitchd-args "--attach tc"), no --hosts, --with-ovs or --only');
    return o;
  }
  if (o.hosts) {
    if (o.withOvs || [...(o.switches ?? [])].some((s) => !(HOST_SWITCHES as readonly string[]).includes(s)))
      throw new BenchError('--hosts: its switches are vswitchd-kernel, vswitchd-user and bridge (no Open vSwitch, no variant such as kernel-tc: use --vswitchd-args "--attach tc")');
    if (onlyGiven) throw new BenchError('--hosts: no --only (the hosts mode measures TCP and 64 B, each pair on each underlay)');
    return o;
  }
  if (o.withOvs) o.switches?.add('ovs');
  if (o.switches?.has('ovs')) o.withOvs = true;
  return o;
}

const log = (s: string): void => {
  process.stderr.write(`${s}\n`);
};

// ---- preflight: every missing piece is one line ----

function preflight(o: Options): string {
  if (process.platform !== 'linux') throw new BenchError('needs Linux (network namespaces, AF_PACKET)');
  if (process.getuid?.() !== 0) throw new BenchError('must run as root (it creates network namespaces): sudo npm run bench');
  if (!existsSync(join(ROOT, 'dist', 'src', 'daemon', 'main.js'))) throw new BenchError('vswitchd is not built: run npm run build');
  need('ip', 'install iproute2 (scripts/setup.sh)');
  need('bridge', 'install iproute2 (scripts/setup.sh)');
  need('ping', 'install iputils-ping (scripts/setup.sh)');
  need('taskset', 'install util-linux (scripts/setup.sh)');
  need('getconf', 'install libc-bin');
  need('sysctl', 'install procps (scripts/setup.sh)');
  if (o.stormSeconds > 0) {
    need('trafgen', 'install netsniff-ng (scripts/setup.sh)');
    return '';
  }
  if (o.hosts) {
    need('trafgen', 'install netsniff-ng (scripts/setup.sh)');
    need('iperf3', 'install iperf3 (scripts/setup.sh)');
    need('wg', 'install wireguard-tools (scripts/setup.sh)');
    need('wireguard-go', 'install wireguard-go (scripts/setup.sh)');
    return '';
  }
  const traffic = ['64b', 'latency', 'flood', 'fdb', 'cost', 'vlan', 'acl', 'capture'].some((m) => o.only.has(m as Measure));
  if (traffic) need('trafgen', 'install netsniff-ng (scripts/setup.sh)');
  if (o.only.has('vlan')) need('tcpdump', 'install tcpdump (scripts/setup.sh): it checks that frames leave the trunk tagged');
  if (o.only.has('tcp')) need('iperf3', 'install iperf3 (scripts/setup.sh)');
  if ((o.bpfStats || o.perf) && !o.only.has('tcp')) throw new BenchError('--perf and --bpf-stats probe the TCP windows: add tcp to --only');
  if (o.bpfStats) need('bpftool', 'install bpftool (scripts/setup.sh)');
  let python = '';
  if (o.only.has('fdb') || o.only.has('latency') || o.only.has('restart')) {
    python = findPython('it sends the 50,000-MAC burst, measures the wake-up floor and pings across the restart');
  }
  return python;
}

// ---- machine description ----

async function firstLine(cmd: string, args: string[]): Promise<string> {
  if (which(cmd) === null) return '';
  const r = await run(cmd, args).catch(() => ({ stdout: '', stderr: '' }));
  return ((r.stdout || r.stderr).trim().split('\n')[0] ?? '').trim();
}

async function machine(withOvs: boolean): Promise<Record<string, unknown>> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  let commit = '';
  try {
    commit = execFileSync('git', ['-C', ROOT, 'rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // not a git checkout
  }
  return {
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? '',
    nproc: os.cpus().length,
    memTotalKiB: Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? NaN),
    kernel: `${os.release()} ${os.version()}`,
    node: process.version,
    loadavgAtStart: os.loadavg(),
    gitCommit: commit,
    versions: {
      iperf3: await firstLine('iperf3', ['--version']),
      trafgen: await firstLine('trafgen', ['-v']),
      ping: await firstLine('ping', ['-V']),
      iproute2: await firstLine('ip', ['-V']),
      ovs: withOvs ? await ovsVersion() : '',
    },
  };
}

// ---- the run ----

const FDB_MACS = 50_000;

function timestamp(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
}

async function main(): Promise<number> {
  let parsed: Options | 'help';
  parsed = parseArgs(process.argv.slice(2));
  if (parsed === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const o = parsed;
  if (o.from !== undefined) return rerender(o.from, (s) => process.stdout.write(s));
  if (o.hosts) return hostsMain(o);
  if (o.stormSeconds > 0) return stormMain(o);
  if (o.paired) return pairedMain(o, o.paired);
  const only = new Set(o.only);
  const implied: string[] = [];
  if (!only.has('64b')) {
    for (const m of ['latency', 'fdb', 'cost', 'vlan', 'acl', 'capture'] as const) if (only.has(m)) implied.push(m);
    if (implied.length > 0) only.add('64b');
  }
  const python = preflight({ ...o, only });
  if (implied.length > 0) log(`bench: 64b runs too (${implied.join(', ')} need it)`);
  if (o.withOvs) await ensureOvsInstalled(log);
  if (o.perf) {
    const why = await perfAvailable();
    if (why) throw new BenchError(`--perf: ${why}`);
  }

  const dur: Durations = o.quick ? QUICK : FULL;
  const switches = SWITCH_ORDER.filter((s) => (o.switches ? o.switches.has(s) : DEFAULT_SWITCHES.includes(s) || (s === 'ovs' && o.withOvs)));
  const started = new Date();
  const resultsFile = newResultsFile(started);
  const samples: SampleSet['samples'] = {};
  const byRound: NonNullable<SampleSet['byRound']> = {};
  let round = 0;
  const add = (id: string, sw: SwitchName, v: number | null | undefined): void => {
    if (v === null || v === undefined || !Number.isFinite(v)) return;
    ((samples[id] ??= {})[sw] ??= []).push(v);
    // the same figure at its round's place: rounds are compared head to head (won share)
    const xs = ((byRound[id] ??= {})[sw] ??= []);
    while (xs.length < round - 1) xs.push(null);
    xs[round - 1] = v;
  };
  const errors: string[] = [];
  const rounds: Array<Record<string, unknown>> = [];
  const results: Record<string, unknown> = {
    version: 2, // 2: vswitchd-kernel and vswitchd-user instead of vswitchd
    complete: false,
    startedAt: started.toISOString(),
    options: { withOvs: o.withOvs, switches, rounds: o.rounds, quick: o.quick, only: [...only], vswitchdArgs: o.vswitchdArgs, nodeArgs: o.nodeArgs, tcpCpus: o.tcpCpus ?? null, order: 'williams' },
    machine: await machine(o.withOvs),
    settings: {
      durations: dur,
      frame: `${FRAME_BYTES} bytes + FCS = 64 on the wire, ethertype 0x${ETHERTYPE.toString(16)}`,
      sender: 'trafgen --cpus 1 (one sender on CPU 0), qdisc bypass',
      ping: 'taskset -c 0 ping -i 0.002 (on CPU 0 too: it busy-waits between probes)',
      hosts: 24,
      fdbMacs: FDB_MACS,
      switches: {
        ...Object.fromEntries(
          switches.filter(isVswitchd).map((name) => [name, `bin/vswitchd --socket <tmp> --max-ports 24 ${vswitchdArgsOf(name, o.vswitchdArgs).join(' ')}`]),
        ),
        bridge: 'ip link add type bridge stp_state 0 forward_delay 0 ageing_time 30000 nf_call_* 0 (br_netfilter off in the switch namespace)',
        ovs: o.withOvs ? 'ovs-vswitchd --disable-system, datapath_type=netdev, userspace-tso-enable=true, mac-table-size=65536' : undefined,
      },
    },
    switches,
    rounds,
    samples,
    byRound,
    errors,
  };
  const save = (): void => writeFileSync(resultsFile, JSON.stringify(results, null, 1) + '\n');

  // The floor under (3), while nothing else of the benchmark runs.
  let floor: WakeupFloor | null = null;
  if (only.has('latency') && os.cpus().length >= 2) {
    try {
      floor = await wakeupFloor(python);
      results['wakeupFloor'] = floor;
      log(`wake-up floor: ${floor.sameCpuUs.toFixed(0)} µs per round trip on one CPU, ${floor.crossCpuUs.toFixed(0)} µs across two`);
    } catch (err) {
      errors.push(err instanceof Error ? err.message : String(err));
    }
  }

  const topo = await Topology.create(24, log);
  results['prefix'] = topo.prefix;
  const work = mkdtempSync(join(os.tmpdir(), `vswbench-${topo.prefix}-`));
  onCleanup(`work dir ${work}`, () => rmSync(work, { recursive: true, force: true }));
  if (only.has('tcp')) await startIperfServer(topo.host(2));

  const make = (name: SwitchName): Switch => {
    if (isVswitchd(name)) return new Vswitchd(topo.site, name, { args: o.vswitchdArgs, nodeArgs: o.nodeArgs });
    if (name === 'bridge') return new LinuxBridge(topo.site);
    return new Ovs(topo);
  };

  const t0 = Date.now();
  for (round = 1; round <= o.rounds; round++) {
    const roundRec: Record<string, unknown> = { round, sessions: [] as unknown[] };
    rounds.push(roundRec);
    if (only.has('core')) {
      log(`[round ${round}/${o.rounds}] core micro-benchmark`);
      const c = await runCoreBench({ durationMs: dur.coreMs });
      roundRec['core'] = c;
      // the forwarding core is the userspace datapath's (the kernel datapath runs bpf/datapath.bpf.c)
      add('core.unicast', 'vswitchd-user', c.knownUnicast);
      add('core.flood23', 'vswitchd-user', c.flood23);
      add('core.fdb50k', 'vswitchd-user', c.fdb50k);
      add('core.acl100', 'vswitchd-user', c.acl100);
      log(`  core: unicast ${(c.knownUnicast / 1e6).toFixed(1)} M/s, flood23 ${(c.flood23 / 1e6).toFixed(2)} M/s, fdb50k ${(c.fdb50k / 1e6).toFixed(2)} M/s, acl100 ${(c.acl100 / 1e6).toFixed(2)} M/s`);
    }
    for (const name of roundOrder(switches, round)) {
      const tag = `[round ${round}/${o.rounds} ${name}]`;
      const details: Record<string, unknown> = {};
      const sessionErrors: string[] = [];
      const sessionStart = Date.now();
      (roundRec['sessions'] as unknown[]).push({ switch: name, startedAt: new Date().toISOString(), details, errors: sessionErrors });
      const step = <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> =>
        attempt(fn, {
          na: (why) => log(`${tag} ${what}: n/a (${why})`),
          failed: (why) => {
            const msg = `${name}, round ${round}, ${what}: ${why}`;
            log(`${tag} ${what}: FAILED: ${why}`);
            sessionErrors.push(msg);
            errors.push(msg);
          },
        });
      log(`${tag} starting`);
      const sw = make(name);
      const ctx: Ctx = { topo, sw, dur, dir: work, python, tcpCpus: o.tcpCpus };
      const up = await step('start', async () => {
        await sw.start();
        return true;
      });
      if (up) {
        if (only.has('cost')) {
          await step('idle cost', async () => {
            const r = await idleCost(ctx);
            details['idle'] = r;
            add('cpu.idle', name, r.processPct);
            add('rss.idle', name, r.rssKiB);
            log(`${tag} idle ${r.seconds.toFixed(0)} s: process ${r.processPct === null ? '—' : `${r.processPct.toFixed(2)} %`}, machine ${r.machinePct.toFixed(1)} % of a core, RSS ${r.rssKiB === null ? '—' : `${((r.rssKiB * 1024) / 1e6).toFixed(1)} MB`}${others((r.otherPct / 100) * r.seconds, r.seconds)}`);
          });
        }
        if (only.has('latency')) {
          await step('latency, idle', async () => {
            const r = await latencyIdle(ctx);
            details['latencyIdle'] = r;
            add('lat.idle.avg', name, r.avgMs);
            add('lat.idle.p99', name, r.p99Ms);
            log(`${tag} ping idle: avg ${r.avgMs.toFixed(3)} ms, p99 ${r.p99Ms.toFixed(3)} ms, ${r.replies}/${r.sent} replies`);
          });
        }
        let u64: WindowResult | undefined;
        if (only.has('64b')) {
          u64 = await step('64-byte frames', async () => {
            const w = await unicast64(ctx);
            details['unicast64'] = w;
            add('u64.rx', name, w.rxRate);
            add('u64.sent', name, w.sentRate);
            add('u64.loss', name, w.loss * 100);
            add('noise.other', name, (100 * w.otherCpuS) / w.seconds);
            const mframes = w.received / 1e6;
            if (mframes > 0) {
              add('cpu.machinePerM', name, w.machineCpuS / mframes);
              add('cpu.softirqPerM', name, w.softirqCpuS / mframes);
              if (w.processCpuS !== null) add('cpu.processPerM', name, w.processCpuS / mframes);
            }
            log(`${tag} 64 B: received ${fmtRate(w.rxRate)}, sent ${fmtRate(w.sentRate)}, loss ${(w.loss * 100).toFixed(1)} % [${cpuSplitText(w.cpuSplit)}]${others(w.otherCpuS, w.seconds)}`);
            return w;
          });
        }
        if (only.has('latency') && u64 && u64.rxRate > 0) {
          const rate = u64.rxRate / 2;
          await step('latency, half rate', async () => {
            const r = await latencyLoaded(ctx, rate);
            details['latencyLoaded'] = r;
            add('lat.load.avg', name, r.ping.avgMs);
            add('lat.load.p99', name, r.ping.p99Ms);
            add('lat.load.rate', name, r.ratePps);
            add('lat.load.loss', name, r.load.loss * 100);
            add('lat.load.pingLoss', name, (100 * (r.ping.sent - r.ping.replies)) / r.ping.sent);
            log(`${tag} ping at half rate (${fmtRate(rate)} asked, ${fmtRate(r.load.sentRate)} sent, ${fmtRate(r.load.rxRate)} received): avg ${r.ping.avgMs.toFixed(3)} ms, p99 ${r.ping.p99Ms.toFixed(3)} ms, ${r.ping.replies}/${r.ping.sent} replies${others(r.load.otherCpuS, r.load.seconds)}`);
          });
        }
        if (only.has('tcp')) {
          // --perf: only /proc/stat in the middle of the window here (perf runs in the profile round)
          const probes = { bpfStats: o.bpfStats, midWindow: o.perf ? {} : undefined };
          await tcpSession({ ctx, label: `${name}-r${round}`, probes, step, add: (id, v) => add(id, name, v), details, log: (s) => log(`${tag} ${s}`) });
        }
        if (only.has('flood')) {
          const fl = await step('flood', async () => {
            const w = await flood(ctx);
            details['flood'] = w;
            add('flood.rx', name, w.rxRate);
            add('flood.sent', name, w.sentRate);
            if (w.softirqCpuS > 0) add('flood.perSoftirq', name, w.received / w.softirqCpuS);
            if (w.machineCpuS > 0) add('flood.perMachine', name, w.received / w.machineCpuS);
            log(`${tag} flood: delivered ${fmtRate(w.rxRate)} over ${w.perReceiver.length} hosts (min per host ${fmtRate(Math.min(...w.perReceiver) / w.seconds)}), sent ${fmtRate(w.sentRate)}${others(w.otherCpuS, w.seconds)}`);
            return w;
          });
          // what the switch costs: (4)'s softirq less each receiver's own, measured apart (bench/README.md (4))
          if (fl) await step('flood, a receiver alone', async () => {
            const alone = await floodReceiverAlone(ctx);
            details['floodReceiverAlone'] = alone;
            const c = switchSoftirq(fl, alone);
            if (c) add('flood.perSwitchSoftirq', name, 1 / c.switchS);
            if (alone.received > 0 && alone.softirqCpuS > 0) add('flood.receiverNs', name, alone.softirqCpuS / alone.received);
            const ns = (x: number): string => `${(x * 1e9).toFixed(0)} ns`;
            log(
              `${tag} flood, switch cost: softirq per copy ${fl.received > 0 ? ns(fl.softirqCpuS / fl.received) : '—'}, ` +
                `a receiver alone ${alone.received > 0 ? ns(alone.softirqCpuS / alone.received) : '—'} (${fmtRate(alone.rxRate)} into NS2), ` +
                `the switch's own ${c ? `${ns(c.switchS)} (${(1e-6 / c.switchS).toFixed(2)} Mframes per CPU-s)` : '— (nothing left)'}${others(alone.otherCpuS, alone.seconds)}`,
            );
          });
        }
        if (only.has('fdb')) {
          await step('FDB at scale', async () => {
            const r = await fdbScale(ctx, FDB_MACS, 1000 + round, log);
            details['fdb'] = r;
            add('fdb.entries', name, r.fill.entries);
            add('fdb.rx', name, r.window.rxRate);
            if (u64 && u64.rxRate > 0) add('fdb.own', name, r.window.rxRate / u64.rxRate);
            const own = u64 && u64.rxRate > 0 ? ` (${(r.window.rxRate / u64.rxRate).toFixed(2)}× its own)` : '';
            log(`${tag} FDB: ${r.fill.entries} entries (${r.fill.passes.length} pass(es)); 64 B: received ${fmtRate(r.window.rxRate)}${own}${others(r.window.otherCpuS, r.window.seconds)}`);
          });
        }
        // (9) then (8): the ACL is removed again, VLAN modes stay until the switch stops
        const ownShare = (id: string, w: WindowResult): string => {
          if (!u64 || u64.rxRate <= 0) return '';
          add(id, name, w.rxRate / u64.rxRate);
          return ` (${(w.rxRate / u64.rxRate).toFixed(2)}× its own 64 B)`;
        };
        if (only.has('acl')) {
          await step(`64 B under ${ACL_RULES} ACL rules`, async () => {
            const r = await acl(ctx);
            details['acl'] = r;
            add('acl.rx', name, r.window.rxRate);
            log(`${tag} 64 B under ${r.rules} ACL rules: received ${fmtRate(r.window.rxRate)}${ownShare('acl.own', r.window)}, loss ${(r.window.loss * 100).toFixed(1)} %${others(r.window.otherCpuS, r.window.seconds)}`);
          });
        }
        if (only.has('capture') && isVswitchd(name)) {
          await step('64 B while a capture runs', async () => {
            const w = await captureWhile(ctx);
            details['capture'] = w;
            add('cap.rx', name, w.rxRate);
            log(`${tag} 64 B while capture ${ctx.topo.host(1).port} in -w /dev/null runs: received ${fmtRate(w.rxRate)}${ownShare('cap.own', w)}, loss ${(w.loss * 100).toFixed(1)} %${others(w.otherCpuS, w.seconds)}`);
          });
        }
        if (only.has('vlan')) {
          await step('64 B access → trunk', async () => {
            const w = await accessToTrunk(ctx);
            details['accessToTrunk'] = w;
            add('vlan.rx', name, w.rxRate);
            log(`${tag} 64 B access 10 → trunk 10 (tagged): received ${fmtRate(w.rxRate)}${ownShare('vlan.own', w)}, loss ${(w.loss * 100).toFixed(1)} %${others(w.otherCpuS, w.seconds)}`);
          });
        }
        if (only.has('cost')) {
          const r = rssNow(sw);
          details['rssEnd'] = r;
          add('rss.end', name, r.rssKiB);
          add('rss.endAnon', name, r.rssDetail?.anon);
        }
        // last: from here the switch is the new vswitchd, which the session stops
        if (only.has('restart') && isVswitchd(name)) {
          await step('vswconfig restart', async () => {
            const r = await restartAcross(ctx);
            details['restart'] = r;
            add('restart.lost', name, r.lost);
            add('restart.down', name, r.socketDownMs);
            add('restart.answered', name, r.answeredMs);
            log(`${tag} vswconfig restart: ${r.lost} of ${r.sent} pings lost (100/s), control socket down ${r.socketDownMs.toFixed(0)} ms, answered in ${r.answeredMs.toFixed(0)} ms (pid ${r.oldPid} → ${r.newPid})`);
          });
        }
      }
      await step('stop', () => sw.stop());
      (roundRec['sessions'] as Array<Record<string, unknown>>).at(-1)!['seconds'] = (Date.now() - sessionStart) / 1000;
      save();
      await sleep(500);
    }
  }

  let perfTable = '';
  if (o.perf) {
    const sessions = await perfRound({
      switches,
      make,
      ctxOf: (sw) => ({ topo, sw, dur, dir: work, python, tcpCpus: o.tcpCpus }),
      dir: profileDirOf(resultsFile),
      log,
      failed: (msg) => errors.push(msg),
    });
    const windows = profiledWindows(sessions, rounds as unknown as Parameters<typeof profiledWindows>[1]);
    const command = `node dist/bench/main.js ${process.argv.slice(2).join(' ')}`;
    const rep = perfReport(windows, dur.tcpS, command);
    const textFile = resultsFile.replace(/\.json$/, '-perf.txt');
    writeFileSync(textFile, `${rep.text}\n`);
    results['perfRound'] = sessions;
    results['perf'] = { text: textFile, windows, table: rep.table };
    perfTable = rep.table ? `\nwhere the TCP windows' time went (--perf, the profile round; ${textFile}):\n${rep.table}\n` : '';
  }

  results['complete'] = true;
  results['finishedAt'] = new Date().toISOString();
  results['seconds'] = (Date.now() - t0) / 1000;
  const table = markdownTable({ switches, samples, byRound });
  const perRound = roundsTable({ switches, samples, byRound });
  results['table'] = table;
  if (perRound) results['roundsTable'] = perRound;
  save();
  process.stdout.write(`\n${table}\n${perRound ? `${perRound}\n` : ''}`);
  process.stdout.write(`chart: ${writeChartOf(resultsFile, results)}\n`);
  process.stdout.write(footer(o, results['machine'] as Machine));
  process.stdout.write(perfTable);
  if (floor !== null) {
    process.stdout.write(
      `thread wake-up round trip on this machine (two processes, pipes, 2 ms apart, median): ${floor.sameCpuUs.toFixed(0)} µs on one CPU, ${floor.crossCpuUs.toFixed(0)} µs across two\n`,
    );
  }
  return finishRun(resultsFile, errors);
}

/** The results file's name for a run started at `started`. */
function newResultsFile(started: Date): string {
  const resultsDir = join(ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  return join(resultsDir, `${timestamp(started)}.json`);
}

type Machine = { cpuModel: string; nproc: number };

function footer(o: Options, m: Machine): string {
  return `${o.rounds} round(s)${o.quick ? ' (--quick)' : ''}; medians with min–max over the rounds; ${m.cpuModel}, ${m.nproc} CPUs, Linux ${os.release()}, Node ${process.version}\n`;
}

/** Says where the results are and which measures failed; the exit status. */
function finishRun(resultsFile: string, errors: readonly string[]): number {
  process.stdout.write(`results: ${resultsFile}\n`);
  if (errors.length > 0) {
    log(`bench: ${errors.length} measure(s) failed:`);
    for (const e of errors) log(`  ${e}`);
    return 1;
  }
  return 0;
}

/** --hosts: the two-host measures (hosts-mode.ts), a table of their own. */
async function hostsMain(o: Options): Promise<number> {
  preflight(o);
  const started = new Date();
  const resultsFile = newResultsFile(started);
  const switches = HOST_SWITCHES.filter((s) => !o.switches || o.switches.has(s));
  const mach = await machine(false);
  const { table, errors } = await runHostsMode({
    switches,
    rounds: o.rounds,
    dur: o.quick ? QUICK : FULL,
    vswitchdArgs: o.vswitchdArgs,
    nodeArgs: o.nodeArgs,
    resultsFile,
    header: {
      version: 2,
      startedAt: started.toISOString(),
      options: { hosts: true, switches, rounds: o.rounds, quick: o.quick, vswitchdArgs: o.vswitchdArgs, nodeArgs: o.nodeArgs },
      machine: mach,
    },
    log,
  });
  process.stdout.write(`\n${table}\n`);
  process.stdout.write(footer(o, mach as Machine));
  process.stdout.write(`chart: ${writeChartOf(resultsFile, JSON.parse(readFileSync(resultsFile, 'utf8')))}\n`);
  return finishRun(resultsFile, errors);
}

async function stormMain(o: Options): Promise<number> {
  preflight(o);
  const started = new Date();
  const resultsFile = newResultsFile(started).replace(/\.json$/, '-storm.json');
  const switches = (['vswitchd-kernel', 'vswitchd-user'] as const).filter((s) => !o.switches || o.switches.has(s));
  const header = { version: 2, startedAt: started.toISOString(), options: { stormSeconds: o.stormSeconds, switches, vswitchdArgs: o.vswitchdArgs }, machine: await machine(false) };
  const work = mkdtempSync(join(os.tmpdir(), 'vswbench-storm-'));
  onCleanup(`work dir ${work}`, () => rmSync(work, { recursive: true, force: true }));
  const topo = await Topology.create(4, log);
  const results: StormResult[] = [];
  const errors: string[] = [];
  for (const name of switches) {
    for (const limit of [0, 100]) {
      log(`[${name} limit ${limit || 'none'}] storm of ${o.stormSeconds} s`);
      const r = await attempt(() => stormOnce(topo, name, limit, o.stormSeconds, work, { args: o.vswitchdArgs, nodeArgs: o.nodeArgs }, log), {
        na: (why) => log(`[${name} limit ${limit || 'none'}] n/a (${why})`),
        failed: (why) => errors.push(`${name} limit ${limit || 'none'}: ${why}`),
      });
      if (r) results.push(r);
      saveStorm(resultsFile, header, results, errors);
    }
  }
  process.stdout.write(`\n${stormTable(results)}\n`);
  return finishRun(resultsFile, errors);
}

/** --paired A,B: the two switches at once, each on a CPU of its own (paired.ts), TCP, 64 B and ping, a table of its own. */
async function pairedMain(o: Options, [a, b]: [SwitchName, SwitchName]): Promise<number> {
  preflight({ ...o, only: new Set(['tcp', '64b']) }); // latency needs nothing more than these
  const started = new Date();
  const resultsFile = newResultsFile(started).replace(/\.json$/, '-paired.json');
  const mach = await machine(false);
  if ((mach as Machine).nproc < 2) throw new BenchError('--paired needs two CPUs (one for each switch)');
  const header = {
    version: 2,
    startedAt: started.toISOString(),
    options: { paired: [a, b], rounds: o.rounds, only: [...o.only], vswitchdArgs: o.vswitchdArgs, nodeArgs: o.nodeArgs },
    machine: mach,
  };
  const work = mkdtempSync(join(os.tmpdir(), 'vswbench-paired-'));
  onCleanup(`work dir ${work}`, () => rmSync(work, { recursive: true, force: true }));
  const make = (name: SwitchName, site: Site): Switch =>
    isVswitchd(name) ? new Vswitchd(site, name, { args: o.vswitchdArgs, nodeArgs: o.nodeArgs }) : new LinuxBridge(site);
  const cases = PAIRED_CASES.filter((c) => o.only.has(c.measure));
  const r = await runPaired({ a, b, cases, rounds: o.rounds, dur: FULL, dir: work, make, save: (p) => savePaired(resultsFile, header, p), log });
  savePaired(resultsFile, header, r);
  process.stdout.write(`\n${pairedTable(r)}\n`);
  process.stdout.write(footer(o, mach as Machine));
  return finishRun(resultsFile, r.errors);
}

// ---- clean-up on every way out (proc.ts) ----

await runEntry('bench', main);
