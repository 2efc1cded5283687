// The measures, run against whichever switch is up in the topology.
//
// Every traffic figure is taken over a window: the sender is started, given
// a warm-up, then counters are read at the start and the end of the window
// (hosts' interface counters from /proc/PID/net/dev of their namespaces,
// /proc/stat, /proc/PID/stat), and only then is the sender stopped.

import { join } from 'node:path';
import { BenchError, NotAvailable, ourGroups, run, sleep, start } from './proc.js';
import {
  allProcesses,
  busyTicks,
  type CpuTimes,
  diffProcStat,
  foreignTicks,
  mean,
  percentile,
  processTicks,
  readProcStat,
  rssDetail,
  rssKiB,
  threadTicks,
  ticksPerSecond,
} from './stats.js';
import type { AclRule, Switch } from './switches.js';
import type { Host, Namespaces, Topology } from './topology.js';
import { BROADCAST, frameConfig, Trafgen } from './trafgen.js';

export interface Durations {
  /** trafgen windows (64-byte, flood, FDB), s */
  trafficS: number;
  /** iperf3 -t, s */
  tcpS: number;
  /** idle CPU window, s */
  idleS: number;
  /**
   * before it, s: the hosts' IPv6 start-up (DAD, router solicitations, MLD) is
   * learned and node finishes compiling; the window measures the steady state
   */
  settleS: number;
  /** sender warm-up before a window, ms */
  warmupMs: number;
  /** pings per latency run */
  pings: number;
  /** ping -i, s */
  pingIntervalS: number;
  /** core micro-benchmark, ms per case */
  coreMs: number;
}

export const FULL: Durations = { trafficS: 5, tcpS: 5, idleS: 10, settleS: 20, warmupMs: 500, pings: 500, pingIntervalS: 0.002, coreMs: 1500 };
export const QUICK: Durations = { trafficS: 2, tcpS: 2, idleS: 3, settleS: 3, warmupMs: 300, pings: 500, pingIntervalS: 0.002, coreMs: 300 };

/**
 * What (1) and (2) need: hosts 1 and 2 and whatever forwards between them
 * (one switch, or the hosts mode's pair of switches joined by a tunnel).
 */
export interface PairCtx {
  topo: Namespaces;
  sw: Pick<Switch, 'counters' | 'pids' | 'mainPid'> & { readonly name: string };
  dur: Durations;
  /** a directory for trafgen configurations */
  dir: string;
  /** --tcp-cpus: iperf3 -A C,S (the client on CPU C, the server on CPU S) */
  tcpCpus?: string;
}

export interface Ctx extends PairCtx {
  topo: Topology;
  sw: Switch;
  python: string;
}

// ---- windows of traffic ----

export interface CpuSplit {
  /** per CPU: percentages of the window (user, system, softirq, irq, idle) */
  [cpu: string]: { user: number; system: number; softirq: number; irq: number; idle: number };
}

export interface WindowResult {
  seconds: number;
  /** frames the sender's interface took (tx_packets + tx_dropped delta) */
  sent: number;
  /** received, summed over the receivers (rx_packets deltas) */
  received: number;
  /** per receiver */
  perReceiver: number[];
  /** what trafgen said it sent over its whole run */
  trafgenPackets: number;
  sentRate: number;
  rxRate: number;
  loss: number;
  /** machine busy CPU seconds (user+nice+system+irq+softirq over all CPUs) */
  machineCpuS: number;
  /**
   * of which softirq: where the bridge and vswitchd's kernel datapath forward
   * (in the sender's context, or ksoftirqd's), whatever process it interrupts
   */
  softirqCpuS: number;
  /**
   * the switch's processes' CPU seconds (utime+stime, all threads): for the
   * kernel datapath only its control thread, as its forwarding is softirq
   * work charged to whichever task it interrupted (mostly the sender)
   */
  processCpuS: number | null;
  /** CPU seconds used by processes that are not the benchmark's (other work on the machine) */
  otherCpuS: number;
  /** its main process's threads, CPU seconds each */
  threads: Record<string, number> | null;
  cpuSplit: CpuSplit;
  /** the switch's own counters, before and after */
  switchBefore: unknown;
  switchAfter: unknown;
}

/** For the log: each CPU's share of user, system, softirq and idle time in a window. */
export function cpuSplitText(split: CpuSplit): string {
  return Object.entries(split)
    .filter(([k]) => k !== 'cpu')
    .map(([k, v]) => `${k} usr ${v.user}% sys ${v.system}% si ${v.softirq}% idle ${v.idle}%`)
    .join('; ');
}

/** For the log: a note when other processes used a noticeable share of the CPUs during a window. */
export function others(cpuS: number, seconds: number): string {
  const pct = (100 * cpuS) / seconds;
  return pct >= 10 ? ` [other processes on the machine: ${pct.toFixed(0)} % of a core]` : '';
}

export function fmtRate(x: number): string {
  return `${(x / 1e6).toFixed(3)} Mframes/s`;
}

/** Each CPU's share of user, system, softirq, irq and idle time in a /proc/stat difference, %. */
export function cpuSplitOf(d: Record<string, CpuTimes>): CpuSplit {
  const out: CpuSplit = {};
  for (const [cpu, t] of Object.entries(d)) {
    const total = t.user + t.nice + t.system + t.idle + t.iowait + t.irq + t.softirq + t.steal;
    const pct = (x: number) => (total > 0 ? Math.round((1000 * x) / total) / 10 : 0);
    out[cpu] = { user: pct(t.user + t.nice), system: pct(t.system), softirq: pct(t.softirq), irq: pct(t.irq), idle: pct(t.idle + t.iowait) };
  }
  return out;
}

interface Snapshot {
  t: number;
  sent: number;
  rx: number[];
  stat: Record<string, CpuTimes>;
  proc: number;
  threads: Record<string, number>;
  all: Map<number, { pgrp: number; ticks: number }>;
  ours: Set<number>;
}

function snapshot(ctx: PairCtx, from: Host, to: Host[]): Snapshot {
  const t = performance.now();
  const s = ctx.topo.hostDev(from);
  const rx = to.map((h) => ctx.topo.hostDev(h).rxPackets);
  const stat = readProcStat();
  const pids = ctx.sw.pids();
  const proc = pids.reduce((a, p) => a + processTicks(p), 0);
  const main = ctx.sw.mainPid();
  const threads = main === null ? {} : threadTicks(main);
  return { t, sent: s.txPackets + s.txDropped, rx, stat, proc, threads, all: allProcesses(), ours: ourGroups() };
}

/** Send 64-byte frames from `from` to `dstMac` and count them at `to` over a window. */
export async function trafficWindow(
  ctx: PairCtx,
  from: Host,
  dstMac: string,
  to: Host[],
  opts: { ratePps?: number; seconds?: number; during?: () => Promise<void> } = {},
): Promise<WindowResult> {
  const conf = join(ctx.dir, `trafgen-${from.n}.cfg`);
  const switchBefore = await ctx.sw.counters().catch(() => null);
  const tg = await Trafgen.start(from, conf, frameConfig(dstMac, from.mac), { ratePps: opts.ratePps });
  let a: Snapshot;
  let b: Snapshot;
  try {
    await sleep(ctx.dur.warmupMs);
    if (!tg.running) throw new BenchError(`trafgen stopped on its own: ${tg.why()}`);
    a = snapshot(ctx, from, to);
    if (opts.during) await opts.during();
    else await sleep((opts.seconds ?? ctx.dur.trafficS) * 1000);
    b = snapshot(ctx, from, to);
    if (!tg.running) throw new BenchError(`trafgen stopped on its own: ${tg.why()}`);
  } finally {
    await tg.stop().catch(() => NaN);
  }
  const trafgenPackets = await tg.stop();
  const switchAfter = await ctx.sw.counters().catch(() => null);
  const seconds = (b.t - a.t) / 1000;
  const perReceiver = b.rx.map((x, i) => x - a.rx[i]!);
  const received = perReceiver.reduce((x, y) => x + y, 0);
  const sent = b.sent - a.sent;
  const d = diffProcStat(a.stat, b.stat);
  const tck = ticksPerSecond();
  const main = ctx.sw.mainPid();
  let threads: Record<string, number> | null = null;
  if (main !== null) {
    threads = {};
    for (const [k, v] of Object.entries(b.threads)) threads[k] = (v - (a.threads[k] ?? 0)) / tck;
  }
  return {
    seconds,
    sent,
    received,
    perReceiver,
    trafgenPackets,
    sentRate: sent / seconds,
    rxRate: received / seconds,
    loss: sent > 0 ? Math.max(0, 1 - received / (sent * to.length)) : NaN,
    machineCpuS: busyTicks(d['cpu']!) / tck,
    softirqCpuS: d['cpu']!.softirq / tck,
    otherCpuS: foreignTicks(a.all, b.all, b.ours, process.pid) / tck,
    processCpuS: ctx.sw.pids().length > 0 ? (b.proc - a.proc) / tck : null,
    threads,
    cpuSplit: cpuSplitOf(d),
    switchBefore,
    switchAfter,
  };
}

/** Make sure the switch has learned both hosts (otherwise unicast floods). */
export async function learn(ctx: PairCtx, a: Host, b: Host): Promise<void> {
  if (!(await ctx.topo.pingUntilAnswered(a, b, 10_000))) throw new BenchError(`${a.ns} cannot ping ${b.ns} through ${ctx.sw.name}`);
  if (!(await ctx.topo.pingUntilAnswered(b, a, 5000))) throw new BenchError(`${b.ns} cannot ping ${a.ns} through ${ctx.sw.name}`);
}

// ---- (1) 64-byte frames NS1 -> NS2 ----

export async function unicast64(ctx: PairCtx): Promise<WindowResult> {
  const h1 = ctx.topo.host(1);
  const h2 = ctx.topo.host(2);
  await learn(ctx, h1, h2);
  return trafficWindow(ctx, h1, h2.mac, [h2]);
}

// ---- (3) latency ----

export interface PingResult {
  sent: number;
  replies: number;
  avgMs: number;
  p99Ms: number;
  maxMs: number;
  rttsMs: number[];
}

/**
 * ping runs on CPU 0 (or `cpu`: the paired measure's), beside trafgen, off the switch's core: at 2 ms intervals
 * iputils ping busy-waits between probes (sched_yield while the next one is
 * due within a clock tick), and on CPU 1 it took the CPU from vswitchd's
 * datapath thread for ~1.4 ms at a time (perf sched timehist), long enough to
 * overflow its RX ring at half rate (12 % of the frames lost, 9-15 % of the pings).
 */
export async function pingRun(ctx: Pick<PairCtx, 'dur'>, from: Host, to: Host, cpu = 0): Promise<PingResult> {
  const { pings, pingIntervalS } = ctx.dur;
  const args = ['netns', 'exec', from.ns, 'taskset', '-c', String(cpu), 'ping', '-n', '-i', String(pingIntervalS), '-c', String(pings), '-W', '1', to.ip];
  const r = await run('ip', args, {
    timeoutMs: pings * pingIntervalS * 1000 + 15_000,
  });
  const rtts: number[] = [];
  for (const m of r.stdout.matchAll(/time=([\d.]+) ms/g)) rtts.push(Number(m[1]));
  if (rtts.length === 0) throw new BenchError(`ping ${from.ns} -> ${to.ns}: no reply (${(r.stderr || r.stdout).trim().split('\n').pop()})`);
  return {
    sent: pings,
    replies: rtts.length,
    avgMs: mean(rtts),
    p99Ms: percentile(rtts, 99),
    maxMs: Math.max(...rtts),
    rttsMs: rtts,
  };
}

export async function latencyIdle(ctx: Ctx): Promise<PingResult> {
  const h1 = ctx.topo.host(1);
  const h2 = ctx.topo.host(2);
  await learn(ctx, h1, h2);
  return pingRun(ctx, h1, h2);
}

export interface LoadedPing {
  ping: PingResult;
  load: WindowResult;
  ratePps: number;
}

/** Pings while (1) runs at `ratePps` (half of what the switch delivered in (1)). */
export async function latencyLoaded(ctx: Ctx, ratePps: number): Promise<LoadedPing> {
  const h1 = ctx.topo.host(1);
  const h2 = ctx.topo.host(2);
  await learn(ctx, h1, h2);
  let ping: PingResult | undefined;
  const load = await trafficWindow(ctx, h1, h2.mac, [h2], {
    ratePps,
    during: async () => {
      ping = await pingRun(ctx, h1, h2);
    },
  });
  return { ping: ping!, load, ratePps };
}

// ---- (2) TCP ----

export interface TcpResult {
  streams: number;
  /** NS2→NS1 (iperf3 -R: the server in NS2 sends) instead of NS1→NS2 */
  reverse: boolean;
  gbps: number;
  retransmits: number;
  senderCpuPct: number;
  receiverCpuPct: number;
  /** what the probes found over the window (--bpf-stats, --perf's mid-window /proc/stat and perf) */
  probe?: unknown;
}

/** Something measured over a TCP window (bench/tcp-rounds.ts): begun just before iperf3, ended after it. */
export interface TcpProbe {
  begin(): Promise<void>;
  end(): Promise<unknown>;
}

export async function tcp(ctx: PairCtx, streams: number, opts: { reverse?: boolean; probe?: TcpProbe } = {}): Promise<TcpResult> {
  const h1 = ctx.topo.host(1);
  const h2 = ctx.topo.host(2);
  const reverse = opts.reverse ?? false;
  await learn(ctx, h1, h2);
  await opts.probe?.begin();
  let probed = false;
  const endProbe = async (): Promise<unknown> => {
    if (!opts.probe || probed) return undefined;
    probed = true;
    return opts.probe.end();
  };
  try {
    return await tcpRuns(ctx, streams, reverse, endProbe);
  } finally {
    await endProbe().catch(() => undefined);
  }
}

async function tcpRuns(ctx: PairCtx, streams: number, reverse: boolean, endProbe: () => Promise<unknown>): Promise<TcpResult> {
  const h1 = ctx.topo.host(1);
  const h2 = ctx.topo.host(2);
  let last = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const args = ['netns', 'exec', h1.ns, 'iperf3', '-c', h2.ip, '-t', String(ctx.dur.tcpS), '-P', String(streams), '-J', ...(reverse ? ['-R'] : []), ...(ctx.tcpCpus ? ['-A', ctx.tcpCpus] : [])];
    const r = await run('ip', args, {
      timeoutMs: ctx.dur.tcpS * 1000 + 30_000,
    });
    let j: {
      error?: string;
      end?: {
        sum_received?: { bits_per_second?: number };
        sum_sent?: { retransmits?: number };
        cpu_utilization_percent?: { host_total?: number; remote_total?: number };
      };
    } = {};
    try {
      j = JSON.parse(r.stdout) as typeof j;
    } catch {
      last = (r.stderr || r.stdout).trim().split('\n').pop() ?? '';
    }
    if (j.error) last = j.error;
    const bps = j.end?.sum_received?.bits_per_second;
    if (r.code === 0 && typeof bps === 'number') {
      // -R: the client (NS1) receives; host_total is then the receiver's CPU
      const host = j.end?.cpu_utilization_percent?.host_total ?? NaN;
      const remote = j.end?.cpu_utilization_percent?.remote_total ?? NaN;
      const probe = await endProbe();
      return {
        streams,
        reverse,
        gbps: bps / 1e9,
        retransmits: j.end?.sum_sent?.retransmits ?? NaN,
        senderCpuPct: reverse ? remote : host,
        receiverCpuPct: reverse ? host : remote,
        ...(probe === undefined ? {} : { probe }),
      };
    }
    // the server may still be busy with the previous test, or not listening yet
    await sleep(500);
  }
  throw new BenchError(`iperf3 -P ${streams}${reverse ? ' -R' : ''}: ${last || 'failed'}`);
}

// ---- (4) flooding ----

export async function flood(ctx: Ctx): Promise<WindowResult> {
  const h1 = ctx.topo.host(1);
  const receivers = ctx.topo.hosts.filter((h) => h !== h1);
  const w = await trafficWindow(ctx, h1, BROADCAST, receivers);
  return w;
}

/**
 * What a receiver's own receive costs in (4)'s softirq, measured apart so
 * that the switch-cost row can take it out (bench/README.md, (4)): (4)'s
 * frame (broadcast, NS1's source MAC, 0x88B5) sent by trafgen out of NS2's
 * port, from the switch namespace with its qdisc bypass, straight into NS2:
 * no switch on the way (an AF_PACKET send on a port passes no bridge, tc
 * ingress program or packet socket of the switch). The send (veth_xmit) is
 * then trafgen's system time, and the window's softirq is what each of
 * (4)'s copies costs its receiver: NS2's backlog, __netif_receive_skb with no
 * handler for the type, the drop; on CPU 0, as (4)'s.
 */
export async function floodReceiverAlone(ctx: Ctx): Promise<WindowResult> {
  const h1 = ctx.topo.host(1);
  const h2 = ctx.topo.host(2);
  const port: Host = { ...h2, n: 0, ns: ctx.topo.sw, ifname: h2.port, mac: h1.mac };
  return trafficWindow(ctx, port, BROADCAST, [h2]);
}

// ---- (5) FDB at scale ----

/** 50,000 distinct random unicast source MACs to broadcast, paced, from a raw socket. */
const BURST_PY = `
import random, socket, sys, time
ifname, count, seed, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
rnd = random.Random(seed)
seen = set()
macs = []
while len(macs) < count:
    b = bytearray(rnd.getrandbits(48).to_bytes(6, 'big'))
    b[0] = (b[0] & 0xfc) | 0x02          # locally administered, unicast
    if b[0] == 0x02:                     # 02:... is the hosts' range
        continue
    m = bytes(b)
    if m in seen:
        continue
    seen.add(m)
    macs.append(m)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
head = b'\\xff' * 6
tail = b'\\x88\\xb5' + bytes(46)
burst = 16
step = burst / rate
sent = errors = 0
t = time.perf_counter()
for i in range(0, count, burst):
    for m in macs[i:i + burst]:
        try:
            s.send(head + m + tail)
            sent += 1
        except OSError:
            errors += 1
    t += step
    d = t - time.perf_counter()
    if d > 0:
        time.sleep(d)
print(sent, errors)
`;

/**
 * Broadcast frames from `count` distinct random source MACs (never the hosts'
 * 02:… range; the same `seed`, the same MACs) out of host `from`, at `rate`
 * frames/s in bursts of 16; what it sent and the send errors.
 */
export async function macBurst(python: string, from: Host, count: number, seed: number, rate: number): Promise<{ sent: number; errors: number }> {
  const r = await run('ip', ['netns', 'exec', from.ns, python, '-c', BURST_PY, from.ifname, String(count), String(seed), String(rate)], {
    timeoutMs: (count / rate) * 1000 + 60_000,
  });
  if (r.code !== 0) throw new BenchError(`MAC burst from ${from.ns} failed: ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
  const [sent, errors] = r.stdout.trim().split(/\s+/).map(Number);
  return { sent: sent ?? NaN, errors: errors ?? NaN };
}

export interface FdbFill {
  target: number;
  passes: Array<{ ratePps: number; seconds: number; sent: number; errors: number; entries: number }>;
  entries: number;
}

export async function fillFdb(ctx: Ctx, count: number, seed: number, log: (s: string) => void): Promise<FdbFill> {
  const h3 = ctx.topo.host(3);
  const passes: FdbFill['passes'] = [];
  let rate = 12_500;
  let entries = 0;
  for (let pass = 0; pass < 3 && entries < count; pass++) {
    const t0 = performance.now();
    const { sent, errors } = await macBurst(ctx.python, h3, count, seed, rate);
    const seconds = (performance.now() - t0) / 1000;
    // learning may lag behind (OVS learns in its slow path): wait until it settles
    let last = -1;
    const deadline = Date.now() + 15_000;
    for (;;) {
      await sleep(500);
      entries = await ctx.sw.fdbEntries();
      if (entries >= count || entries === last || Date.now() > deadline) break;
      last = entries;
    }
    passes.push({ ratePps: rate, seconds, sent, errors, entries });
    if (entries < count) log(`  fdb: ${entries} entries after pass ${pass + 1} at ${rate} frames/s; sending again slower`);
    rate = Math.round(rate / 2);
  }
  return { target: count, passes, entries };
}

export interface FdbResult {
  fill: FdbFill;
  window: WindowResult;
}

export async function fdbScale(ctx: Ctx, count: number, seed: number, log: (s: string) => void): Promise<FdbResult> {
  const fill = await fillFdb(ctx, count, seed, log);
  const window = await unicast64(ctx);
  return { fill, window };
}

// ---- (8) 64 B from an access port into a trunk ----

export const VLAN_VID = 10;

/**
 * NS1's port in `access 10`, NS2's a trunk of VLAN 10: NS1's untagged frames
 * reach NS2 tagged. NS2 has no VLAN interface (this kernel has no 802.1Q
 * sub-interfaces), so no ping can teach the switch NS2's MAC in VLAN 10:
 * NS2 sends a few tagged frames first. NS2's interface counts every frame
 * that arrives, tagged or not, before its stack drops it.
 */
export async function accessToTrunk(ctx: Ctx): Promise<WindowResult> {
  const h1 = ctx.topo.host(1);
  const h2 = ctx.topo.host(2);
  if (!ctx.sw.vlanAccessTrunk) throw new NotAvailable(`no VLAN modes measured for ${ctx.sw.name}`);
  await ctx.sw.vlanAccessTrunk(h1, h2, VLAN_VID);
  await Trafgen.send(h2, join(ctx.dir, 'trafgen-learn.cfg'), frameConfig(h1.mac, h2.mac, VLAN_VID), 10);
  await leavesTagged(ctx, h1, h2, VLAN_VID);
  // NS2 must be known in VLAN 10: flooded, the frames would also reach NS3 (its port carries every VLAN)
  const h3 = ctx.topo.host(3);
  const before = ctx.topo.hostDev(h3).rxPackets;
  const w = await trafficWindow(ctx, h1, h2.mac, [h2]);
  const flooded = ctx.topo.hostDev(h3).rxPackets - before;
  if (flooded > w.received / 100) throw new BenchError(`${flooded} frames were flooded to ${h3.ns}: ${h2.ns}'s MAC was not learned in VLAN ${VLAN_VID}`);
  return w;
}

/** A few of from's untagged frames must reach `to` under a tag of `vid` (tcpdump in to's namespace). */
async function leavesTagged(ctx: Ctx, from: Host, to: Host, vid: number): Promise<void> {
  const cap = start('tcpdump', 'ip', ['netns', 'exec', to.ns, 'tcpdump', '-i', to.ifname, '-nn', '-e', '-l', '-c', '1', `vlan ${vid} and ether src ${from.mac}`]);
  try {
    const deadline = Date.now() + 5000;
    while (!/listening on/.test(cap.stderr)) {
      if (cap.code !== null || Date.now() > deadline) throw new BenchError(`tcpdump in ${to.ns} did not start: ${cap.stderr.trim().split('\n').pop()}`);
      await sleep(20);
    }
    await Trafgen.send(from, join(ctx.dir, 'trafgen-probe.cfg'), frameConfig(to.mac, from.mac), 20);
    await cap.wait(3000).catch(() => undefined);
    if (cap.code !== 0) throw new BenchError(`${from.ns}'s frames did not reach ${to.ns} tagged with VLAN ${vid}`);
  } finally {
    await cap.stop('SIGTERM', 1000);
  }
}

// ---- (9) 64 B under 100 ACL rules ----

export const ACL_RULES = 100;

/**
 * `n` rules, half allow and half drop, none of which matches (1)'s frames
 * (NS1 → NS2, untagged, 0x88B5) nor the pings that teach the switch both
 * MACs: each frame is checked against every rule. They fail on different
 * fields, most of them late: another source; NS1's source to another
 * destination; NS1 → NS2 on NS1's port but IPv6 (the hosts have it off);
 * NS1 (masked) → NS2 with 0x88B5 but in a VLAN (the frames are in VLAN 0);
 * another ingress port.
 */
export function aclRules(topo: Topology, n: number): AclRule[] {
  const h1 = topo.host(1);
  const h2 = topo.host(2);
  const other = (k: number): string => `02:ac:${(k >> 8).toString(16).padStart(2, '0')}:${(k & 0xff).toString(16).padStart(2, '0')}:00:01`;
  const rules: AclRule[] = [];
  for (let k = 0; k < n; k++) {
    const r: AclRule = { priority: 1000 + ((k * 37) % n), action: k % 2 === 0 ? 'drop' : 'allow' };
    switch (k % 5) {
      case 0:
        r.src = other(k);
        break;
      case 1:
        Object.assign(r, { src: h1.mac, dst: other(k) });
        break;
      case 2:
        Object.assign(r, { in: h1, src: h1.mac, dst: h2.mac, type: 0x86dd });
        break;
      case 3:
        Object.assign(r, { src: `${h1.mac}/ff:ff:ff:ff:ff:00`, dst: h2.mac, type: 0x88b5, vlan: 100 + k });
        break;
      default:
        r.in = topo.host(3 + (k % (topo.hosts.length - 2)));
    }
    rules.push(r);
  }
  return rules;
}

export interface AclResult {
  rules: number;
  window: WindowResult;
}

/** (1) with ACL_RULES rules installed (removed again afterwards); not one may match. */
export async function acl(ctx: Ctx): Promise<AclResult> {
  const h1 = ctx.topo.host(1);
  const h2 = ctx.topo.host(2);
  if (!ctx.sw.installAcl || !ctx.sw.aclHits) throw new NotAvailable(`no equivalent of the ACL measured for ${ctx.sw.name}`);
  const rules = aclRules(ctx.topo, ACL_RULES);
  const remove = await ctx.sw.installAcl(rules);
  try {
    await learn(ctx, h1, h2);
    const window = await trafficWindow(ctx, h1, h2.mac, [h2]);
    const hits = await ctx.sw.aclHits();
    if (hits !== 0) throw new BenchError(`the rules matched ${hits} frame(s): they must match none`);
    return { rules: rules.length, window };
  } finally {
    await remove();
  }
}

// ---- (10) 64 B while a capture of the ingress port runs ----

export async function captureWhile(ctx: Ctx): Promise<WindowResult> {
  const h1 = ctx.topo.host(1);
  const h2 = ctx.topo.host(2);
  if (!ctx.sw.capture) throw new NotAvailable(`no capture measured for ${ctx.sw.name}`);
  await learn(ctx, h1, h2);
  const stop = await ctx.sw.capture(h1);
  try {
    return await trafficWindow(ctx, h1, h2.mac, [h2]);
  } finally {
    await stop();
  }
}

// ---- (6) cost ----

export interface IdleResult {
  seconds: number;
  /** CPU of the switch's main process, % of one core */
  processPct: number | null;
  /** all of its processes */
  allProcessesPct: number | null;
  /** the machine's busy CPU, % of one core (everything running, not only the switch) */
  machinePct: number;
  /** of which processes that are not the benchmark's, % of one core */
  otherPct: number;
  rssKiB: number | null;
  rssAllKiB: number | null;
  rssDetail: { anon: number; file: number; shmem: number } | null;
}

export async function idleCost(ctx: Ctx): Promise<IdleResult> {
  await sleep(ctx.dur.settleS * 1000); // see Durations.settleS
  const main = ctx.sw.mainPid();
  const pids = ctx.sw.pids();
  const tck = ticksPerSecond();
  const t0 = performance.now();
  const s0 = readProcStat();
  const m0 = main === null ? 0 : processTicks(main);
  const a0 = pids.reduce((x, p) => x + processTicks(p), 0);
  const all0 = allProcesses();
  await sleep(ctx.dur.idleS * 1000);
  const all1 = allProcesses();
  const seconds = (performance.now() - t0) / 1000;
  const d = diffProcStat(s0, readProcStat());
  const m1 = main === null ? 0 : processTicks(main);
  const a1 = pids.reduce((x, p) => x + processTicks(p), 0);
  const pct = (ticks: number) => (100 * ticks) / tck / seconds;
  return {
    seconds,
    processPct: main === null ? null : pct(m1 - m0),
    allProcessesPct: pids.length === 0 ? null : pct(a1 - a0),
    machinePct: pct(busyTicks(d['cpu']!)),
    otherPct: pct(foreignTicks(all0, all1, ourGroups(), process.pid)),
    rssKiB: main === null ? null : rssKiB(main),
    rssAllKiB: pids.length === 0 ? null : pids.reduce((x, p) => x + rssKiB(p), 0),
    rssDetail: main === null ? null : rssDetail(main),
  };
}

export function rssNow(sw: Switch): { rssKiB: number | null; rssAllKiB: number | null; rssDetail: { anon: number; file: number; shmem: number } | null } {
  const main = sw.mainPid();
  const pids = sw.pids();
  return {
    rssKiB: main === null ? null : rssKiB(main),
    rssAllKiB: pids.length === 0 ? null : pids.reduce((x, p) => x + rssKiB(p), 0),
    rssDetail: main === null ? null : rssDetail(main),
  };
}

// ---- iperf3 server ----

/** iperf3 -s in host 2 (NS2) for the whole run (tracked: killed by cleanupAll()). */
export async function startIperfServer(h2: Host): Promise<void> {
  const p = start('iperf3 server', 'ip', ['netns', 'exec', h2.ns, 'iperf3', '-s', '-B', h2.ip, '--forceflush']);
  const deadline = Date.now() + 5000;
  while (!/Server listening/.test(p.stdout)) {
    if (p.code !== null) throw new BenchError(`iperf3 server failed: ${(p.stderr || p.stdout).trim().split('\n').pop()}`);
    if (Date.now() > deadline) throw new BenchError('iperf3 server did not start within 5 s');
    await sleep(20);
  }
}
