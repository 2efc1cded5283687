// (2) TCP in a switch's session of a round (issue 18): 1 and 4 streams, each
// way (NS1→NS2, then NS2→NS1 with iperf3 -R), and the optional probes over
// each TCP window for finding where the time goes: `--bpf-stats`
// (kernel.bpf_stats_enabled=1 for the window, the switch's eBPF programs' run
// time per run from bpftool), and `--perf`'s mid-window probe (perf record -a
// -g for a few seconds in the middle of the window in the profile round, only
// /proc/stat at the same offsets in the compared rounds). perf never runs in a
// compared round: its cost would be in the figures.

import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BenchError, onCleanup, run, sleep, start } from './proc.js';
import { cpuSplitOf, type CpuSplit, type Durations, type PairCtx, tcp, type TcpProbe, type TcpResult } from './measures.js';
import { foldedStacks, parsePerfScript, type PerfSummary, summarizePerf } from './perf-summary.js';
import { diffProcStat, readProcStat } from './stats.js';

/** The TCP cases of a session, in the order they run, with the metric id each one feeds. */
export const TCP_CASES = [
  { id: 'tcp1', streams: 1, reverse: false },
  { id: 'tcp4', streams: 4, reverse: false },
  { id: 'tcp1.rev', streams: 1, reverse: true },
  { id: 'tcp4.rev', streams: 4, reverse: true },
] as const;

export interface ProbeOptions {
  /** eBPF run-time statistics over each window */
  bpfStats?: boolean;
  /**
   * --perf: the middle of each window (midWindow()): /proc/stat per CPU, and
   * with `perfDir` perf record -a -g over the same seconds, files there
   */
  midWindow?: { perfDir?: string };
}

export interface TcpSession {
  ctx: PairCtx;
  /** the session's label in file names: switch and round */
  label: string;
  probes: ProbeOptions;
  /** runs one measure, reporting a failure (main.ts's step) */
  step: <T>(what: string, fn: () => Promise<T>) => Promise<T | undefined>;
  /** keeps a figure of this switch in this round */
  add: (id: string, v: number) => void;
  details: Record<string, unknown>;
  log: (s: string) => void;
}

/** Every TCP case against the switch that is up. */
export async function tcpSession(s: TcpSession): Promise<void> {
  for (const c of TCP_CASES) {
    const way = c.reverse ? 'NS2→NS1' : 'NS1→NS2';
    await s.step(`TCP ${way} ${c.streams} stream(s)`, async () => {
      const probe = makeProbe(s, c.id);
      const r: TcpResult = await tcp(s.ctx, c.streams, { reverse: c.reverse, probe });
      s.details[c.id] = r;
      s.add(c.id, r.gbps);
      s.log(`TCP ${way} -P ${c.streams}: ${r.gbps.toFixed(2)} Gbit/s, ${r.retransmits} retransmits${probeText(r.probe)}`);
    });
  }
}

function probeText(p: unknown): string {
  const x = p as { bpf?: { nsPerRun: number | null }; mid?: MidWindowResult } | undefined;
  if (!x) return '';
  const parts: string[] = [];
  if (x.bpf?.nsPerRun != null) parts.push(`eBPF ${x.bpf.nsPerRun.toFixed(0)} ns per run`);
  if (x.mid) {
    const si = Object.entries(x.mid.cpuSplit).filter(([k]) => k !== 'cpu').map(([k, v]) => `${k} ${v.softirq}%`);
    parts.push(`mid-window softirq ${si.join(' ')}${x.mid.perf ? `, perf ${x.mid.perf.summary.samples} samples` : ''}`);
  }
  return parts.length ? `; ${parts.join(', ')}` : '';
}

function makeProbe(s: TcpSession, id: string): TcpProbe | undefined {
  const bpf = s.probes.bpfStats ? new BpfStatsProbe(() => s.ctx.sw.mainPid()) : undefined;
  const mid = s.probes.midWindow
    ? new MidWindowProbe(s.ctx.dur, s.probes.midWindow.perfDir === undefined ? undefined : join(s.probes.midWindow.perfDir, `${s.label}-${id}`))
    : undefined;
  if (!bpf && !mid) return undefined;
  return {
    async begin() {
      await bpf?.begin();
      mid?.begin(); // runs on its own timer from here
    },
    async end() {
      // the eBPF figures first: reducing perf's samples takes seconds, outside the window
      const out: Record<string, unknown> = {};
      if (bpf) out['bpf'] = await bpf.end();
      if (mid) out['mid'] = await mid.end();
      return out;
    },
  };
}

// ---- --perf: a few seconds in the middle of the window ----

/** When the mid-window probe starts after iperf3 is started, and how long it lasts, s: the middle three fifths. */
export function midWindow(dur: Pick<Durations, 'tcpS'>): { delayS: number; seconds: number } {
  return { delayS: dur.tcpS / 5, seconds: (dur.tcpS * 3) / 5 };
}

export interface MidWindowResult {
  /** what was asked: from delayS after iperf3 was started, for seconds */
  delayS: number;
  seconds: number;
  /** /proc/stat over those seconds (with perf: from perf record's start to its exit), per CPU */
  cpuSplit: CpuSplit;
  perf?: { data: string; folded: string; summary: PerfSummary };
}

/**
 * /proc/stat at delayS and delayS + seconds after begin(), and with a
 * directory, `perf record -a -g -F 999 -- sleep <seconds>` between the two
 * readings; end() waits for both, then reduces perf's samples (perf script),
 * after the window.
 */
class MidWindowProbe {
  private done?: Promise<{ cpuSplit: CpuSplit; error?: unknown }>;
  private readonly at: { delayS: number; seconds: number };
  constructor(
    dur: Pick<Durations, 'tcpS'>,
    private readonly base?: string,
  ) {
    this.at = midWindow(dur);
  }

  begin(): void {
    this.done = this.record().then(
      (cpuSplit) => ({ cpuSplit }),
      (error: unknown) => ({ cpuSplit: {}, error }),
    );
  }

  private async record(): Promise<CpuSplit> {
    await sleep(this.at.delayS * 1000);
    const a = readProcStat();
    if (this.base === undefined) {
      await sleep(this.at.seconds * 1000);
    } else {
      // -F 999: about 6,000 samples with call chains over 3 s on 2 CPUs
      const p = start('perf record', 'perf', ['record', '-a', '-g', '-F', '999', '--quiet', '-o', `${this.base}.perf.data`, '--', 'sleep', String(this.at.seconds)]);
      await p.wait(this.at.seconds * 1000 + 30_000);
      if (p.code !== 0) throw new BenchError(`perf record: ${p.stderr.trim().split('\n').pop() ?? `exit ${p.code}`}`);
    }
    return cpuSplitOf(diffProcStat(a, readProcStat()));
  }

  async end(): Promise<MidWindowResult> {
    const r = await this.done!;
    if (r.error !== undefined) throw r.error;
    const out: MidWindowResult = { ...this.at, cpuSplit: r.cpuSplit };
    if (this.base === undefined) return out;
    const data = `${this.base}.perf.data`;
    const folded = `${this.base}.folded`;
    const sc = await run('perf', ['script', '-i', data, '-F', 'comm,tid,cpu,period,ip,sym,dso'], { timeoutMs: 300_000, keep: 1 << 30 });
    if (sc.code !== 0) throw new BenchError(`perf script: ${sc.stderr.trim().split('\n').pop()}`);
    const samples = parsePerfScript(sc.stdout);
    writeFileSync(folded, `${foldedStacks(samples)}\n`);
    out.perf = { data, folded, summary: summarizePerf(samples) };
    return out;
  }
}

// ---- --bpf-stats: kernel.bpf_stats_enabled over the window ----

const BPF_STATS = '/proc/sys/kernel/bpf_stats_enabled';

/** eBPF program ids a process holds, by its fds: programs, and the programs of its links (fdinfo's prog_id). */
export function bpfProgramsOf(pid: number): number[] {
  const ids = new Set<number>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  for (const fd of fds) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target !== 'anon_inode:bpf-prog' && target !== 'anon_inode:bpf_link') continue;
      const m = /^prog_id:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.add(Number(m[1]));
    } catch {
      // closed in between
    }
  }
  return [...ids].sort((a, b) => a - b);
}

interface ProgStats {
  id: number;
  name: string;
  runTimeNs: number;
  runCnt: number;
}

async function progStats(ids: readonly number[]): Promise<ProgStats[]> {
  const out: ProgStats[] = [];
  for (const id of ids) {
    const r = await run('bpftool', ['prog', 'show', 'id', String(id), '-j']);
    if (r.code !== 0) continue; // unloaded in between
    const j = JSON.parse(r.stdout) as { name?: string; run_time_ns?: number; run_cnt?: number };
    out.push({ id, name: j.name ?? '', runTimeNs: j.run_time_ns ?? 0, runCnt: j.run_cnt ?? 0 });
  }
  return out;
}

class BpfStatsProbe {
  private before: string | null = null;
  private undo?: () => void;
  private a: ProgStats[] = [];
  private t0 = 0;
  /** why there is nothing to measure (the bridge, a switch without eBPF) */
  private none = '';
  constructor(private readonly pid: () => number | null) {}

  async begin(): Promise<void> {
    const pid = this.pid();
    const ids = pid === null ? [] : bpfProgramsOf(pid);
    if (ids.length === 0) {
      this.none = pid === null ? 'no process of its own' : 'its process holds no eBPF program';
      return;
    }
    this.before = readFileSync(BPF_STATS, 'utf8').trim();
    const before = this.before;
    this.undo = onCleanup('kernel.bpf_stats_enabled', () => writeFileSync(BPF_STATS, `${before}\n`));
    writeFileSync(BPF_STATS, '1\n');
    this.a = await progStats(ids);
    this.t0 = performance.now();
  }

  /** run time per run over the window, each program and summed; the sysctl restored. */
  async end(): Promise<{ seconds: number; programs: Array<ProgStats & { nsPerRun: number | null }>; runs: number; nsPerRun: number | null } | { none: string }> {
    if (this.none) return { none: this.none };
    try {
      const b = await progStats(this.a.map((p) => p.id));
      const seconds = (performance.now() - this.t0) / 1000;
      const programs = b.map((pb) => {
        const pa = this.a.find((p) => p.id === pb.id)!;
        const runCnt = pb.runCnt - pa.runCnt;
        const runTimeNs = pb.runTimeNs - pa.runTimeNs;
        return { id: pb.id, name: pb.name, runCnt, runTimeNs, nsPerRun: runCnt > 0 ? runTimeNs / runCnt : null };
      });
      const runs = programs.reduce((x, p) => x + p.runCnt, 0);
      const ns = programs.reduce((x, p) => x + p.runTimeNs, 0);
      return { seconds, programs, runs, nsPerRun: runs > 0 ? ns / runs : null };
    } finally {
      if (this.before !== null) writeFileSync(BPF_STATS, `${this.before}\n`);
      this.undo?.();
    }
  }
}
