// Counters from /proc and small statistics.

import { readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

// ---- statistics ----

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 === 1 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

export function summarize(xs: readonly number[]): Summary | null {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length === 0) return null;
  return { n: v.length, median: median(v), min: Math.min(...v), max: Math.max(...v) };
}

/** One figure per round (index = round − 1); null or absent where that round has none. */
export type ByRound = ReadonlyArray<number | null | undefined>;

/** The rounds where both `x` and `ref` have a figure: [x, ref] pairs, in round order. */
export function pairedRounds(x: ByRound, ref: ByRound): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < Math.min(x.length, ref.length); i++) {
    const a = x[i];
    const b = ref[i];
    if (typeof a === 'number' && typeof b === 'number' && Number.isFinite(a) && Number.isFinite(b)) out.push([a, b]);
  }
  return out;
}

export interface WonShare {
  /** rounds in which x was better than ref (a tie is not a win) */
  won: number;
  /** rounds in which both were measured */
  rounds: number;
}

/**
 * Head to head, round by round: in how many of the rounds that measured both
 * did `x` beat `ref` (higher or lower being better)?
 */
export function wonShare(x: ByRound, ref: ByRound, better: 'higher' | 'lower'): WonShare {
  const pairs = pairedRounds(x, ref);
  const won = pairs.filter(([a, b]) => (better === 'higher' ? a > b : a < b)).length;
  return { won, rounds: pairs.length };
}

/** x ÷ ref in each round that measured both (ref 0 left out): the spread of the ratio. */
export function roundRatios(x: ByRound, ref: ByRound): number[] {
  return pairedRounds(x, ref)
    .filter(([, b]) => b !== 0)
    .map(([a, b]) => a / b);
}

/** A window's frames delivered and its softirq time (both CPUs), as measures.ts's WindowResult has them. */
export interface SoftirqWindow {
  received: number;
  softirqCpuS: number;
}

export interface SwitchSoftirq {
  /** the flood window's softirq per copy delivered, s (switch and receivers) */
  perCopyS: number;
  /** the receiver-alone window's softirq per frame delivered, s (one receiver's own receive and drop) */
  receiverS: number;
  /** what is left per copy: the switch's own softirq, s */
  switchS: number;
}

/**
 * (4)'s softirq per copy delivered with each receiver's own share taken out
 * (bench/README.md, (4)): the flood window's softirq per copy minus the
 * receiver-alone window's per frame. Null when a window delivered nothing
 * or spent no softirq, or when nothing is left (the two readings' noise is
 * larger than the switch's share: no figure rather than a wrong one).
 */
export function switchSoftirq(flood: SoftirqWindow, alone: SoftirqWindow): SwitchSoftirq | null {
  if (!(flood.received > 0 && flood.softirqCpuS > 0 && alone.received > 0 && alone.softirqCpuS > 0)) return null;
  const perCopyS = flood.softirqCpuS / flood.received;
  const receiverS = alone.softirqCpuS / alone.received;
  const switchS = perCopyS - receiverS;
  return switchS > 0 ? { perCopyS, receiverS, switchS } : null;
}

/** Nearest-rank percentile (p in 0..100) of a sample. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  // the rounding error of p / 100 (99.9 % of 1000 is 999.0000000000001) is no rank of its own
  const rank = Math.ceil((p / 100) * s.length - 1e-9);
  return s[Math.min(s.length, Math.max(1, rank)) - 1]!;
}

export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

// ---- /proc/stat (machine) ----

export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

const CPU_FIELDS: Array<keyof CpuTimes> = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'];

/** Per-CPU times in clock ticks: key 'cpu' is the total, 'cpu0', 'cpu1', … each CPU. */
export function readProcStat(): Record<string, CpuTimes> {
  const out: Record<string, CpuTimes> = {};
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    if (!line.startsWith('cpu')) continue;
    const [name, ...f] = line.trim().split(/\s+/);
    const t = {} as CpuTimes;
    CPU_FIELDS.forEach((k, i) => (t[k] = Number(f[i] ?? 0)));
    out[name!] = t;
  }
  return out;
}

export function diffProcStat(a: Record<string, CpuTimes>, b: Record<string, CpuTimes>): Record<string, CpuTimes> {
  const out: Record<string, CpuTimes> = {};
  for (const name of Object.keys(b)) {
    if (!a[name]) continue;
    const t = {} as CpuTimes;
    for (const k of CPU_FIELDS) t[k] = b[name]![k] - a[name]![k];
    out[name] = t;
  }
  return out;
}

/** Busy ticks: user + nice + system + irq + softirq. */
export function busyTicks(t: CpuTimes): number {
  return t.user + t.nice + t.system + t.irq + t.softirq;
}

let clkTck: number | undefined;
/** Clock ticks per second (sysconf(_SC_CLK_TCK)). */
export function ticksPerSecond(): number {
  if (clkTck === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number((r.stdout ?? '').trim());
    clkTck = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return clkTck;
}

// ---- /proc/PID ----

/** utime + stime of the whole process (all threads), in clock ticks; NaN if gone. */
export function processTicks(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // after ')' : state(0) ppid(1) … utime(11) stime(12)
    return Number(f[11]) + Number(f[12]);
  } catch {
    return NaN;
  }
}

/** Per-thread utime+stime (ticks) by thread name, for profiling notes. */
export function threadTicks(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const comm = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
        const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
        const key = `${comm}#${tid}`;
        out[key] = Number(f[11]) + Number(f[12]);
      } catch {
        // thread ended
      }
    }
  } catch {
    // process gone
  }
  return out;
}

/** VmRSS in KiB; NaN if gone. */
export function rssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** VmRSS split into RssAnon / RssFile (mapped files: node's own binary) / RssShmem, KiB. */
export function rssDetail(pid: number): { anon: number; file: number; shmem: number } | null {
  try {
    const t = readFileSync(`/proc/${pid}/status`, 'utf8');
    const get = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)\\s+kB`, 'm').exec(t)?.[1] ?? NaN);
    return { anon: get('RssAnon'), file: get('RssFile'), shmem: get('RssShmem') };
  } catch {
    return null;
  }
}

// ---- interface counters of a namespace ----

export interface DevCounters {
  rxBytes: number;
  rxPackets: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txDropped: number;
}

/**
 * Interface counters of the network namespace that `pid` lives in, from
 * /proc/PID/net/dev (the same dev_get_stats() figures as
 * /sys/class/net/IF/statistics, read without starting a process).
 */
export function readNetDev(pid: number): Map<string, DevCounters> {
  const out = new Map<string, DevCounters>();
  const text = readFileSync(`/proc/${pid}/net/dev`, 'utf8');
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    out.set(name, { rxBytes: f[0]!, rxPackets: f[1]!, rxDropped: f[3]!, txBytes: f[8]!, txPackets: f[9]!, txDropped: f[11]! });
  }
  return out;
}

// ---- everybody else's CPU ----

/** utime+stime (ticks) of every user-space process, by pid, with its process group. */
export function allProcesses(): Map<number, { pgrp: number; ticks: number }> {
  const out = new Map<number, { pgrp: number; ticks: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const s = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(f[1]);
      const pid = Number(name);
      if (pid === 2 || ppid === 2) continue; // kernel threads
      out.set(pid, { pgrp: Number(f[2]), ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // gone
    }
  }
  return out;
}

/**
 * CPU ticks used between two allProcesses() readings by processes that are
 * not the benchmark's: neither `self` nor in one of `ours` process groups.
 * Processes that ended in between are missed, so this is a lower bound.
 */
export function foreignTicks(
  a: Map<number, { pgrp: number; ticks: number }>,
  b: Map<number, { pgrp: number; ticks: number }>,
  ours: ReadonlySet<number>,
  self: number,
): number {
  let sum = 0;
  for (const [pid, pb] of b) {
    if (pid === self || ours.has(pb.pgrp) || ours.has(pid)) continue;
    const pa = a.get(pid);
    sum += pa ? Math.max(0, pb.ticks - pa.ticks) : pb.ticks;
  }
  return sum;
}

/**
 * The order of round `round` (1-based): a Williams design, so that over n
 * rounds (2n for an odd number of switches) each switch runs once at each
 * place and right after each other switch equally often. A fixed order (or a
 * mere rotation, which keeps neighbours together) puts one switch always
 * right after the same other one, whose teardown, or the machine's drift over
 * a round, would then weigh on it alone.
 */
export function roundOrder<T>(switches: readonly T[], round: number): T[] {
  const n = switches.length;
  if (n === 0) return [];
  // the first row 0, 1, n-1, 2, n-2, …; row i adds i; for odd n the rows reversed follow
  const first: number[] = [0];
  for (let lo = 1, hi = n - 1; first.length < n; ) first.push(first.length % 2 === 1 ? lo++ : hi--);
  const rows = n % 2 === 0 ? n : 2 * n;
  const r = (round - 1) % rows;
  const row = first.map((k) => switches[(k + (r % n)) % n]!);
  return r < n ? row : row.reverse();
}
