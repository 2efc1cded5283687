// The soak's arithmetic (npm run soak, soak.ts), kept free of processes so the
// unit tests can check it: which pings were lost and when, whether a lost ping
// falls in a window where its link was down, the RSS's flatness after the
// warm-up, the control commands' latency, and the summary printed at the end.

import { median, percentile } from './stats.js';

/** A window where a flapped link was down: from `ip link set down` until the daemon's `stats` says the port is up again (epoch ms). */
export interface DownWindow {
  fromMs: number;
  toMs: number;
}

/** ping's icmp_seq is 16 bits: a long run wraps it every 65,536 pings. */
const SEQ_SPAN = 65_536;

/**
 * Reads `ping -D -n -i …` output as it arrives (a soak's 360,000 lines are
 * never kept): the replies' sequence numbers, unwrapped, and for each ping
 * never answered, when it was sent, estimated between the replies around it.
 */
export class PingLog {
  transmitted: number | null = null;
  received = 0;
  /** Estimated send time (epoch ms) of every ping not answered, in order. */
  readonly lostAtMs: number[] = [];
  private partial = '';
  private lastSeq = 0;
  private lastMs: number | null = null;
  private wraps = 0;
  private lastRaw = -1;

  constructor(private readonly intervalMs: number) {}

  /** A chunk of ping's output (any split). */
  feed(chunk: string): void {
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) this.line(line);
  }

  private line(line: string): void {
    const reply = /^\[(\d+(?:\.\d+)?)\].*icmp_seq=(\d+)(?: sent=(\d+(?:\.\d+)?))?/.exec(line);
    if (reply) {
      if (line.includes('(DUP!)')) return;
      const raw = Number(reply[2]);
      if (this.lastRaw >= 0 && raw < this.lastRaw - SEQ_SPAN / 2) this.wraps++;
      this.lastRaw = raw;
      // dated by when it was sent where the line says (pinger.ts), else by when its reply came
      this.answered(raw + this.wraps * SEQ_SPAN, Number(reply[3] ?? reply[1]) * 1000);
      return;
    }
    const sum = /(\d+) packets transmitted, (\d+) received/.exec(line);
    if (sum) this.transmitted = Number(sum[1]);
  }

  /** Reply to ping number `seq` (1, 2, …, unwrapped), sent (or, without its send time, answered) at `ms`. */
  private answered(seq: number, ms: number): void {
    if (seq <= this.lastSeq) return; // late or repeated
    const gap = seq - this.lastSeq - 1;
    // the pings in between were lost: spread them evenly between the two
    // replies (the first reply of the run has none before it: the interval)
    const fromMs = this.lastMs ?? ms - (gap + 1) * this.intervalMs;
    for (let k = 1; k <= gap; k++) this.lostAtMs.push(fromMs + ((ms - fromMs) * k) / (gap + 1));
    this.received++;
    this.lastSeq = seq;
    this.lastMs = ms;
  }

  /** After ping's summary: the pings after the last reply were lost too. */
  finish(): void {
    if (this.partial) this.line(this.partial);
    this.partial = '';
    const sent = this.transmitted ?? this.lastSeq;
    const last = this.lastMs ?? 0;
    for (let seq = this.lastSeq + 1; seq <= sent; seq++) this.lostAtMs.push(last + (seq - this.lastSeq) * this.intervalMs);
  }

  get lost(): number {
    return this.lostAtMs.length;
  }
}

/** A run of pings lost while no link was down: the first and last estimated send times, ms, and how many. */
export type LossRun = [fromMs: number, toMs: number, count: number];

/** Runs kept in the results: enough to find them in a log, not every one of a run gone wrong. */
const MAX_UP_RUNS = 20;

/**
 * Lost pings split by whether they were sent while a link was down (a window
 * widened by `slackMs` each side: the estimate's error); those lost while up
 * grouped into runs (a gap of more than 2 intervals starts a new one), so a
 * run's time and length say what to look for.
 */
export function attributeLosses(
  lostAtMs: readonly number[],
  windows: readonly DownWindow[],
  slackMs: number,
  intervalMs = 10,
): { whileDown: number; whileUp: number; upRuns: LossRun[] } {
  let whileDown = 0;
  const upRuns: LossRun[] = [];
  for (const t of lostAtMs) {
    if (windows.some((w) => t >= w.fromMs - slackMs && t <= w.toMs + slackMs)) {
      whileDown++;
      continue;
    }
    const last = upRuns[upRuns.length - 1];
    if (last && t - last[1] <= 2 * intervalMs) {
      last[1] = t;
      last[2]++;
    } else if (upRuns.length < MAX_UP_RUNS) {
      upRuns.push([t, t, 1]);
    }
  }
  return { whileDown, whileUp: lostAtMs.length - whileDown, upRuns };
}

/** [seconds since the start, RSS in KiB] */
export type RssSample = [number, number];

export interface RssFlatness {
  warmupS: number;
  samples: number;
  /** Median of the samples after the warm-up, MB (10^6 bytes). */
  medianMb: number;
  minMb: number;
  maxMb: number;
  /** The sample farthest from the median, MB either way. */
  worstDeviationMb: number;
  /** Least-squares slope after the warm-up, MB per hour. */
  slopeMbPerHour: number;
  /** Every sample after the warm-up within ±toleranceMb of their median. */
  flat: boolean;
}

const MB = 1024 / 1e6; // KiB → MB

/** Least-squares slope of y over x (0 with fewer than two distinct x). */
export function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  let sx = 0;
  let sy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/**
 * [seconds since the start, the main thread's V8 heap in use, the datapath
 * thread's, bytes]: vswitchd's own metrics (nodejs_heap_size_used_bytes,
 * vswitch_datapath_heap_used_bytes), read once a minute. The heap in use
 * saws between collections; its trend after the warm-up, against RSS's, tells
 * a leak (both climb) from memory the allocator keeps (RSS alone climbs).
 */
export type HeapSample = [number, number, number];

export interface HeapTrend {
  samples: number;
  /** Least-squares slopes after the warm-up, MB per hour; medians in MB. */
  mainMedianMb: number;
  mainSlopeMbPerHour: number;
  datapathMedianMb: number;
  datapathSlopeMbPerHour: number;
}

export function heapTrend(samples: readonly HeapSample[], warmupS: number): HeapTrend | null {
  // a reading that failed (a series missing from the scrape) is NaN: left out, as RSS's are
  const after = samples.filter(([t, main, dp]) => t >= warmupS && Number.isFinite(main) && Number.isFinite(dp));
  if (after.length === 0) return null;
  const of = (i: 1 | 2): Array<[number, number]> => after.map((x) => [x[0], x[i] / 1e6]);
  return {
    samples: after.length,
    mainMedianMb: median(of(1).map(([, y]) => y)),
    mainSlopeMbPerHour: slope(of(1)) * 3600,
    datapathMedianMb: median(of(2).map(([, y]) => y)),
    datapathSlopeMbPerHour: slope(of(2)) * 3600,
  };
}

/** The RSS after the warm-up: flat when every sample stays within ±toleranceMb of their median. Null: no sample after the warm-up. */
export function rssFlatness(samples: readonly RssSample[], warmupS: number, toleranceMb: number): RssFlatness | null {
  const after = samples.filter(([t, kib]) => t >= warmupS && Number.isFinite(kib)).map(([t, kib]) => [t, kib * MB] as const);
  if (after.length === 0) return null;
  const ys = after.map(([, y]) => y);
  const med = median(ys);
  const worst = Math.max(...ys.map((y) => Math.abs(y - med)));
  return {
    warmupS,
    samples: after.length,
    medianMb: med,
    minMb: Math.min(...ys),
    maxMb: Math.max(...ys),
    worstDeviationMb: worst,
    slopeMbPerHour: slope(after) * 3600,
    flat: worst <= toleranceMb,
  };
}

export interface LatencySummary {
  count: number;
  /** Requests with no answer (an error or the client's timeout); their time counted. */
  failed: number;
  worstMs: number;
  p99Ms: number;
  p999Ms: number;
  medianMs: number;
  /** Answered later than the target. */
  overTarget: number;
}

export function latencySummary(ms: readonly number[], failed: number, targetMs: number): LatencySummary {
  return {
    count: ms.length,
    failed,
    worstMs: ms.length === 0 ? NaN : Math.max(...ms),
    p99Ms: percentile(ms, 99),
    p999Ms: percentile(ms, 99.9),
    medianMs: percentile(ms, 50),
    overTarget: ms.filter((x) => x > targetMs).length,
  };
}

/** Counter differences end − start, by name (a name missing at the start counts from 0); only those that moved. */
export function counterDelta(start: Readonly<Record<string, number>>, end: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(end)) {
    const d = v - (start[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

export interface SoakPings {
  sent: number;
  lost: number;
  whileDown: number;
  whileUp: number;
  /** the first runs of those lost while up (absent in results files before 2026-12-07 18:50) */
  upRuns?: LossRun[];
}

export interface SoakVerdict {
  alive: boolean;
  rssFlat: boolean | null;
  /** No ping of the steady pair lost, and none of the flapped one while its link was up. */
  pingsKept: boolean;
  commandsInTime: boolean;
}

export function verdict(alive: boolean, rss: RssFlatness | null, steady: SoakPings, flapped: SoakPings, latency: LatencySummary): SoakVerdict {
  return {
    alive,
    rssFlat: rss === null ? null : rss.flat,
    pingsKept: steady.lost === 0 && flapped.whileUp === 0,
    commandsInTime: latency.failed === 0 && latency.overTarget === 0,
  };
}

const yesNo = (b: boolean | null): string => (b === null ? 'n/a' : b ? 'met' : 'NOT met');

/** RSS over time in one line per sample every `everyS` seconds: `  5 min  84.2 MB`. */
export function rssTimeline(samples: readonly RssSample[], everyS: number): string[] {
  const out: string[] = [];
  let next = 0;
  for (const [t, kib] of samples) {
    if (t + 1e-9 < next) continue;
    out.push(`${(t / 60).toFixed(1).padStart(6)} min  ${(kib * MB).toFixed(1)} MB`);
    next = t + everyS;
  }
  return out;
}

/**
 * The `most` slowest answers over the target, slowest first, each with the
 * load sample taken around it (the first at or after it: a sample covers the
 * period before it): [seconds, ms, command, other processes' CPU % or null].
 */
export function lateWithLoad(
  late: ReadonlyArray<readonly [number, number, string]>,
  load: ReadonlyArray<readonly [number, number, number, number?]>,
  most: number,
): Array<[number, number, string, number | null]> {
  return [...late]
    .sort((a, b) => b[1] - a[1])
    .slice(0, most)
    .map(([t, ms, cmd]) => [t, ms, cmd, load.find(([lt]) => lt >= t)?.[2] ?? null]);
}

export interface SoakSummaryInput {
  datapath: string;
  minutes: number;
  alive: boolean;
  rssSamples: readonly RssSample[];
  rss: RssFlatness | null;
  toleranceMb: number;
  steady: SoakPings;
  flapped: SoakPings;
  flaps: number;
  latency: LatencySummary;
  worstByCommand: Readonly<Record<string, number>>;
  targetMs: number;
  drops: Readonly<Record<string, number>>;
  tcp: { gbps: number | null; retransmits: number | null; error?: string };
  macBursts: number;
  configChanges: number;
  /** answers over the target: [s, ms, command] */
  late?: ReadonlyArray<readonly [number, number, string]>;
  /** [s, machine busy %, other processes' CPU % of one CPU, vswitchd's CPU % of one CPU (absent in older files)] */
  load?: ReadonlyArray<readonly [number, number, number, number?]>;
  heap?: HeapTrend | null;
}

/** The summary printed at the end of a soak. */
export function soakSummary(s: SoakSummaryInput): string {
  const v = verdict(s.alive, s.rss, s.steady, s.flapped, s.latency);
  const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : '—');
  const lines = [
    `soak, ${s.datapath} datapath, ${f(s.minutes, 1)} min: ${s.flaps} link flaps, ${s.macBursts} MAC bursts, ${s.configChanges} configuration changes`,
    `  alive at the end:        ${s.alive ? 'yes' : 'NO'} (${yesNo(v.alive)})`,
    s.rss === null
      ? '  RSS after warm-up:       no sample after the warm-up'
      : `  RSS after ${f(s.rss.warmupS / 60, 0)} min warm-up: median ${f(s.rss.medianMb)} MB, ${f(s.rss.minMb)}–${f(s.rss.maxMb)} MB, worst ±${f(s.rss.worstDeviationMb)} MB, slope ${f(s.rss.slopeMbPerHour, 2)} MB/h (±${s.toleranceMb} MB: ${yesNo(v.rssFlat)})`,
    `  pings lost, steady pair: ${s.steady.lost} of ${s.steady.sent}`,
    `  pings lost, flapped host: ${s.flapped.lost} of ${s.flapped.sent}: ${s.flapped.whileDown} while its link was down, ${s.flapped.whileUp} while up (none but while down: ${yesNo(v.pingsKept)})`,
    ...(s.flapped.upRuns ?? []).map(
      ([from, to, n]) => `    lost while up: ${n} pings sent ${new Date(from).toISOString()} – ${new Date(to).toISOString().slice(11)} (${f((to - from) / 1000, 2)} s)`,
    ),
    `  control commands:        ${s.latency.count} answered in worst ${f(s.latency.worstMs, 0)} ms, p99.9 ${f(s.latency.p999Ms, 0)} ms, p99 ${f(s.latency.p99Ms, 0)} ms, median ${f(s.latency.medianMs)} ms; ${s.latency.overTarget} over ${s.targetMs} ms, ${s.latency.failed} failed (${yesNo(v.commandsInTime)})`,
    ...lateWithLoad(s.late ?? [], s.load ?? [], 5).map(
      ([t, ms, cmd, others]) => `    late: ${cmd} ${ms} ms at ${f(t / 60)} min (other processes' CPU then ${others === null ? '—' : `${f(others, 0)} % of a CPU`})`,
    ),
    ...(s.load && s.load.length > 0
      ? [`  machine (shared):        CPU busy median ${f(median(s.load.map((l) => l[1])), 0)} %, others' CPU median ${f(median(s.load.map((l) => l[2])), 0)} % of a CPU, max ${f(Math.max(...s.load.map((l) => l[2])), 0)} %` +
          (s.load.some((l) => Number.isFinite(l[3])) ? `; vswitchd's own CPU median ${f(median(s.load.flatMap((l) => (Number.isFinite(l[3]) ? [l[3]!] : []))), 1)} % of a CPU` : '')]
      : []),
    ...(s.heap
      ? [`  V8 heap in use after warm-up: main thread median ${f(s.heap.mainMedianMb)} MB, slope ${f(s.heap.mainSlopeMbPerHour, 2)} MB/h; datapath thread ${f(s.heap.datapathMedianMb)} MB, ${f(s.heap.datapathSlopeMbPerHour, 2)} MB/h (${s.heap.samples} readings)`]
      : []),
    `  worst by command:        ${Object.entries(s.worstByCommand).map(([k, ms]) => `${k} ${f(ms, 0)} ms`).join(', ') || '—'}`,
    `  frames lost by reason:   ${Object.entries(s.drops).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}`,
    `  TCP (iperf3, capped):    ${s.tcp.error ? `failed: ${s.tcp.error}` : `${f(s.tcp.gbps ?? NaN, 2)} Gbit/s, ${s.tcp.retransmits ?? '—'} retransmits`}`,
    '  RSS over time:',
    ...rssTimeline(s.rssSamples, Math.max(60, (s.minutes * 60) / 12)).map((l) => `    ${l}`),
  ];
  return `${lines.join('\n')}\n`;
}
