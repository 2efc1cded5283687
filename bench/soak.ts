// npm run soak: issue 15's soak (item 7). vswitchd (one datapath) on the
// benchmark's topology (topology.ts) for N minutes under everything at once:
//
//   NS1 → NS2  TCP, one iperf3 stream capped with -b (the machine is shared)
//   NS3 → NS4  an echo request every 10 ms (pinger.ts), the steady pair: no link of theirs flaps
//   NS6 → NS5  the same to the flapped host: NS5's port goes down for
//              FLAP_DOWN_MS every FLAP_PERIOD_MS; its losses are split into
//              "while the link was down" (from `ip link set down` until the
//              daemon's `stats` says the port is up again) and the others
//   NS7        bursts of new source MACs (measures.ts macBurst, the FDB burst's sender)
//   NS8, NS9   a configuration change every CONFIG_PERIOD_MS, in turn: an ACL
//              rule on NS9's port added, a mirror of NS3's port to NS8 added,
//              NS9's VLAN mode changed, the rule deleted, the mirror deleted,
//              the VLAN mode changed back
//
// Meanwhile the soak asks `stats` on the control socket every STATS_PERIOD_MS
// and samples vswitchd's RSS every RSS_PERIOD_MS. Every request's latency is
// its answer on the socket (src/control/client.ts request(), from inside this
// process), not vswconfig's start-up. See bench/README.md, "Soak".

import os from 'node:os';
import { request } from '../src/control/client.js';
import { macBurst, rssNow, startIperfServer } from './measures.js';
import { startPinger } from './pinger.js';
import { BenchError, check, ourGroups, pidAlive, type Proc, sleep, start } from './proc.js';
import { allProcesses, busyTicks, diffProcStat, foreignTicks, readProcStat, ticksPerSecond } from './stats.js';
import {
  attributeLosses,
  counterDelta,
  type DownWindow,
  type HeapSample,
  heapTrend,
  latencySummary,
  PingLog,
  type RssSample,
  rssFlatness,
  type SoakPings,
  type SoakSummaryInput,
} from './soak-summary.js';
import { type VswitchdName, Vswitchd } from './switches.js';
import type { Host, Topology } from './topology.js';

export const SOAK_HOSTS = 9;
const PING_INTERVAL_MS = 10;
const STATS_PERIOD_MS = 200;
const RSS_PERIOD_MS = 5000;
const FLAP_PERIOD_MS = 10_000;
const FLAP_DOWN_MS = 2000;
const BURST_PERIOD_MS = 5000;
/** New MACs per burst: 100 a second on average, ~30,000 stations once the 300 s aging time has turned over. */
const BURST_MACS = 500;
const BURST_RATE = 5000;
const CONFIG_PERIOD_MS = 3000;
/** The targets. */
export const LATENCY_TARGET_MS = 250;
export const RSS_TOLERANCE_MB = 5;
/** A lost ping's send time is estimated between replies: this much either side of a down window still counts as in it. */
const ATTRIBUTION_SLACK_MS = 50;
const REQUEST_TIMEOUT_MS = 10_000;
/** GET a URL, body to stdout (python3 is there for scapy already; no curl needed). */
const FETCH_PY = 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())';

export interface SoakOptions {
  minutes: number;
  datapath: 'kernel' | 'user';
  warmupMinutes: number;
  tcpBitrate: string;
  vswitchdArgs: string[];
  python: string;
}

/**
 * Every RSS_PERIOD_MS: seconds since the start, the machine's CPU busy (% of
 * all CPUs), other processes' CPU (not the soak's, % of one CPU): the shared
 * machine's load; and vswitchd's own CPU (% of one CPU), which the soak's
 * clients (iperf3, the pingers) are not.
 */
export type LoadSample = [number, number, number, number?];

export interface SoakResult extends SoakSummaryInput {
  options: Omit<SoakOptions, 'python'>;
  load: LoadSample[];
  /** Every answer later than the target: [seconds since the start, ms, command]. */
  late: Array<[number, number, string]>;
  downWindows: DownWindow[];
  /** Once a minute, each thread's V8 heap in use (vswitchd's metrics). */
  heapSamples: HeapSample[];
  /** Per flap: ms from `ip link set up` until `stats` says the port is up. */
  upSeenMs: number[];
  fdbEnd: Record<string, number>;
  errors: string[];
}

/** Timed requests on the control socket: every latency kept, the worst per command. */
class Latencies {
  readonly ms: number[] = [];
  readonly late: Array<[number, number, string]> = [];

  constructor(private readonly t0: number) {}

  failed = 0;
  readonly worst: Record<string, number> = {};
  readonly failures: string[] = [];

  /** The reply in a box (a reply may itself be null: acl-del, mirror-add, mirror-del); null: no answer. */
  async ask<T>(cmd: string, fn: () => Promise<T>): Promise<{ reply: T } | null> {
    const t0 = performance.now();
    try {
      return { reply: await fn() };
    } catch (err) {
      this.failed++;
      if (this.failures.length < 20) this.failures.push(`${cmd}: ${(err as Error).message}`);
      return null;
    } finally {
      const ms = performance.now() - t0;
      this.ms.push(ms);
      this.worst[cmd] = Math.max(this.worst[cmd] ?? 0, ms);
      if (ms > LATENCY_TARGET_MS && this.late.length < 1000) this.late.push([(Date.now() - this.t0) / 1000, Math.round(ms), cmd]);
    }
  }
}

/** An echo request every PING_INTERVAL_MS from `from` to `to` (pinger.ts), its replies read as they come. */
function startPing(python: string, from: Host, to: Host): { proc: Proc; log: PingLog } {
  const log = new PingLog(PING_INTERVAL_MS);
  const proc = startPinger(python, from, to, PING_INTERVAL_MS);
  proc.child.stdout!.on('data', (s: string) => log.feed(s));
  return { proc, log };
}

/** Runs `body` every `periodMs` (from the end of one turn to the start of the next) until `until`. */
async function every(periodMs: number, until: number, body: (turn: number) => Promise<void>): Promise<void> {
  for (let turn = 0; Date.now() < until; turn++) {
    const next = Date.now() + periodMs;
    await body(turn);
    if (next >= until) break; // no turn after the end
    const wait = next - Date.now();
    if (wait > 0) await sleep(wait);
  }
}

export async function soak(topo: Topology, o: SoakOptions, log: (s: string) => void, save: (partial: Record<string, unknown>) => void): Promise<SoakResult> {
  const h = (n: number): Host => topo.host(n);
  const name: VswitchdName = o.datapath === 'kernel' ? 'vswitchd-kernel' : 'vswitchd-user';
  // Its metrics (on the switch namespace's loopback, a port it picks) give each thread's heap.
  const metricsAsked = o.vswitchdArgs.some((a) => a === '--metrics' || a.startsWith('--metrics='));
  const sw = new Vswitchd(topo.site, name, { args: metricsAsked ? o.vswitchdArgs : [...o.vswitchdArgs, '--metrics', '0'] });
  await sw.start();
  const errors: string[] = [];
  try {
    const ask = { timeoutMs: REQUEST_TIMEOUT_MS };
    for (const [a, b] of [[1, 2], [3, 4], [6, 5]] as const) {
      if (!(await topo.pingUntilAnswered(h(a), h(b)))) throw new BenchError(`${h(a).ns} does not reach ${h(b).ns} before the soak`);
    }
    await startIperfServer(h(2));
    const statsStart = await request(sw.socket, { cmd: 'stats' }, ask);

    const seconds = o.minutes * 60;
    const t0 = Date.now();
    const lat = new Latencies(t0);
    const until = t0 + seconds * 1000;
    const steady = startPing(o.python, h(3), h(4));
    const flapped = startPing(o.python, h(6), h(5));
    const iperf = start('iperf3 client', 'ip', ['netns', 'exec', h(1).ns, 'iperf3', '-c', h(2).ip, '-t', String(Math.round(seconds)), '-b', o.tcpBitrate, '-i', '60', '-J'], { keep: 16 << 20 });

    const rssSamples: RssSample[] = [];
    const load: LoadSample[] = [];
    let cpu0 = readProcStat();
    let procs0 = allProcesses();
    const heapSamples: HeapSample[] = [];
    const metricsUrl = sw.metricsUrl();
    if (metricsUrl === null) errors.push('no heap readings: vswitchd did not log where it serves its metrics');
    /** The reading under way, if any: not awaited by the RSS loop (Python's start-up and the scrape take a while), one at a time, awaited at the end. */
    let heapRead: Promise<void> | null = null;
    const readHeap = async (): Promise<void> => {
      if (metricsUrl === null) return;
      const at = elapsedS();
      try {
        const text = await check('metrics', 'ip', ['netns', 'exec', topo.site.ns, o.python, '-c', FETCH_PY, metricsUrl]);
        const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
        heapSamples.push([at, value('nodejs_heap_size_used_bytes'), value('vswitch_datapath_heap_used_bytes')]);
      } catch (err) {
        if (errors.length < 50) errors.push((err as Error).message);
      }
    };
    const downWindows: DownWindow[] = [];
    const upSeenMs: number[] = [];
    let macBursts = 0;
    let configChanges = 0;
    const pid = sw.mainPid();
    const elapsedS = (): number => (Date.now() - t0) / 1000;

    const statsLoop = every(STATS_PERIOD_MS, until, async () => {
      await lat.ask('stats', () => request(sw.socket, { cmd: 'stats' }, ask));
    });
    const rssLoop = every(RSS_PERIOD_MS, until, async (turn) => {
      const kib = rssNow(sw).rssKiB;
      if (kib !== null) rssSamples.push([elapsedS(), kib]);
      const [cpu1, procs1] = [readProcStat(), allProcesses()];
      const d = diffProcStat(cpu0, cpu1)['cpu'];
      const total = d ? busyTicks(d) + d.idle + d.iowait + d.steal : 0;
      const others = foreignTicks(procs0, procs1, ourGroups(), process.pid) / ticksPerSecond() / (RSS_PERIOD_MS / 1000);
      // per second of the interval as /proc/stat measured it (a turn may start late)
      const seconds = d ? (busyTicks(d) + d.idle + d.iowait + d.steal) / ticksPerSecond() / os.cpus().length : RSS_PERIOD_MS / 1000;
      const own = pid === null ? NaN : ((procs1.get(pid)?.ticks ?? NaN) - (procs0.get(pid)?.ticks ?? NaN)) / ticksPerSecond() / seconds;
      if (d && total > 0 && turn > 0) {
        const sample: LoadSample = [elapsedS(), Math.round((1000 * busyTicks(d)) / total) / 10, Math.round(others * 1000) / 10];
        if (Number.isFinite(own)) sample.push(Math.round(own * 1000) / 10);
        load.push(sample);
      }
      [cpu0, procs0] = [cpu1, procs1];
      if (turn % 12 === 0) {
        heapRead ??= readHeap().finally(() => (heapRead = null));
        log(`[${(elapsedS() / 60).toFixed(1)} min] RSS ${kib === null ? '—' : ((kib * 1024) / 1e6).toFixed(1)} MB, worst answer so far ${Math.max(0, ...Object.values(lat.worst)).toFixed(0)} ms, ` +
          `pings lost ${steady.log.lost} steady / ${flapped.log.lost} flapped, ${downWindows.length} flaps, ${macBursts} bursts, ${configChanges} changes`);
        save({ rssSamples, heapSamples, downWindows, latencyWorst: lat.worst, failed: lat.failed, elapsedS: elapsedS() });
      }
    });
    const flapLoop = every(FLAP_PERIOD_MS, until - FLAP_PERIOD_MS / 2, async () => {
      const port = h(5).port;
      const fromMs = Date.now();
      await check(`link ${port} down`, 'ip', ['-n', topo.sw, 'link', 'set', port, 'down']);
      await sleep(FLAP_DOWN_MS);
      const upAt = Date.now();
      await check(`link ${port} up`, 'ip', ['-n', topo.sw, 'link', 'set', port, 'up']);
      // the window ends when the daemon has seen the port come back
      for (;;) {
        const s = await lat.ask('stats', () => request(sw.socket, { cmd: 'stats' }, ask));
        if (s?.reply.ports.find((p) => p.port === port)?.up === true) break;
        if (Date.now() - upAt > REQUEST_TIMEOUT_MS) {
          errors.push(`flap ${downWindows.length + 1}: ${port} not seen up within ${REQUEST_TIMEOUT_MS / 1000} s`);
          break;
        }
        await sleep(10);
      }
      downWindows.push({ fromMs, toMs: Date.now() });
      upSeenMs.push(Date.now() - upAt);
    });
    const seedBase = Math.floor(Math.random() * 1e9);
    const burstLoop = every(BURST_PERIOD_MS, until, async (turn) => {
      try {
        await macBurst(o.python, h(7), BURST_MACS, seedBase + turn, BURST_RATE);
        macBursts++;
      } catch (err) {
        if (errors.length < 50) errors.push((err as Error).message);
      }
    });
    let ruleId: number | null = null;
    const configLoop = every(CONFIG_PERIOD_MS, until, async (turn) => {
      const [h3, h8, h9] = [h(3), h(8), h(9)];
      let done: { reply: unknown } | null = null;
      switch (turn % 6) {
        case 0:
          done = await lat.ask('acl-add', () => request(sw.socket, { cmd: 'acl-add', priority: 10, in: h9.port, action: 'drop' }, ask));
          ruleId = (done?.reply as { id: number } | undefined)?.id ?? null;
          break;
        case 1:
          done = await lat.ask('mirror-add', () => request(sw.socket, { cmd: 'mirror-add', name: 'soak', output: h8.port, selectIngress: [h3.port] }, ask));
          break;
        case 2:
          done = await lat.ask('vlan', () => request(sw.socket, { cmd: 'vlan', ifname: h9.port, mode: 'access', tag: 10 }, ask));
          break;
        case 3:
          if (ruleId !== null) done = await lat.ask('acl-del', () => request(sw.socket, { cmd: 'acl-del', rule: ruleId! }, ask));
          break;
        case 4:
          done = await lat.ask('mirror-del', () => request(sw.socket, { cmd: 'mirror-del', name: 'soak' }, ask));
          break;
        case 5:
          done = await lat.ask('vlan', () => request(sw.socket, { cmd: 'vlan', ifname: h9.port, mode: 'trunk', trunks: [[10, 20]] }, ask));
          break;
      }
      if (done !== null) configChanges++;
    });
    await Promise.all([statsLoop, rssLoop, flapLoop, burstLoop, configLoop]);
    await heapRead;
    const ranS = elapsedS();
    const alive = pid !== null && pidAlive(pid) && (await lat.ask('stats', () => request(sw.socket, { cmd: 'stats' }, ask))) !== null;
    const statsEnd = await request(sw.socket, { cmd: 'stats' }, ask).catch(() => null);

    // the pingers print their summary when stopped; iperf3 ends on its own (-t), about now
    await Promise.all([steady.proc.stop('SIGINT', 5000), flapped.proc.stop('SIGINT', 5000), iperf.wait(120_000)]);
    steady.log.finish();
    flapped.log.finish();
    const pings = (p: { log: PingLog }, windows: readonly DownWindow[]): SoakPings => ({
      sent: p.log.transmitted ?? 0,
      lost: p.log.lost,
      ...attributeLosses(p.log.lostAtMs, windows, ATTRIBUTION_SLACK_MS, PING_INTERVAL_MS),
    });
    let tcp: SoakResult['tcp'] = { gbps: null, retransmits: null };
    try {
      const j = JSON.parse(iperf.stdout) as { error?: string; end?: { sum_received?: { bits_per_second: number }; sum_sent?: { retransmits?: number } } };
      if (j.error) tcp = { ...tcp, error: j.error };
      else tcp = { gbps: (j.end?.sum_received?.bits_per_second ?? NaN) / 1e9, retransmits: j.end?.sum_sent?.retransmits ?? null };
    } catch {
      tcp = { ...tcp, error: `no JSON from iperf3 (exit ${iperf.code}): ${iperf.stderr.trim().split('\n').pop() ?? ''}` };
    }
    errors.push(...lat.failures);
    const drops = statsEnd === null ? {} : counterDelta(statsStart.drops, statsEnd.drops);
    if (statsEnd !== null) {
      const ring = (s: typeof statsEnd): number => s.ports.reduce((n, p) => n + p.rxRingDrops, 0);
      const d = ring(statsEnd) - ring(statsStart);
      if (d !== 0) drops['rx-ring (userspace rings full)'] = d;
    }
    const warmupS = o.warmupMinutes * 60;
    return {
      load,
      late: lat.late,
      options: { minutes: o.minutes, datapath: o.datapath, warmupMinutes: o.warmupMinutes, tcpBitrate: o.tcpBitrate, vswitchdArgs: o.vswitchdArgs },
      datapath: o.datapath,
      minutes: ranS / 60,
      alive,
      rssSamples,
      rss: rssFlatness(rssSamples, warmupS, RSS_TOLERANCE_MB),
      heapSamples,
      heap: heapTrend(heapSamples, warmupS),
      toleranceMb: RSS_TOLERANCE_MB,
      steady: pings(steady, downWindows),
      flapped: pings(flapped, downWindows),
      flaps: downWindows.length,
      latency: latencySummary(lat.ms, lat.failed, LATENCY_TARGET_MS),
      worstByCommand: lat.worst,
      targetMs: LATENCY_TARGET_MS,
      drops,
      tcp,
      macBursts,
      configChanges,
      downWindows,
      upSeenMs,
      fdbEnd: statsEnd?.fdb ?? {},
      errors,
    };
  } finally {
    await sw.stop().catch((err: Error) => errors.push(err.message));
  }
}
