// --perf (issue 18): the profile round. After the compared rounds, each
// switch once more, TCP only, with perf record -a -g over the middle of each
// TCP window (tcp-rounds.ts's mid-window probe). Its iperf3 figures are kept
// apart (perf costs CPU on both CPUs): they never enter the samples, the
// rounds or the tables. The compared rounds read /proc/stat at the same
// offsets, so their per-CPU softirq share stands beside the profile's.

import { mkdirSync } from 'node:fs';
import type { CpuSplit, PairCtx, TcpResult } from './measures.js';
import { type ProfiledWindow, perfComparisonTable, perfText } from './perf-summary.js';
import { attempt, run, which } from './proc.js';
import type { SwitchName } from './report.js';
import type { Switch } from './switches.js';
import { type MidWindowResult, midWindow, TCP_CASES, tcpSession } from './tcp-rounds.js';

export interface PerfRoundSession {
  switch: SwitchName;
  /** per TCP case: its TcpResult, probe.mid the profile */
  details: Record<string, unknown>;
  errors: string[];
}

export interface PerfRoundOptions {
  switches: readonly SwitchName[];
  make: (name: SwitchName) => Switch;
  ctxOf: (sw: Switch) => PairCtx;
  /** perf.data and folded stacks go here */
  dir: string;
  log: (s: string) => void;
  /** a failed measure's line for the run's list */
  failed: (msg: string) => void;
}

/** Is perf usable? (Debian's linux-perf: /usr/bin/perf runs perf_<kernel version>.) */
export async function perfAvailable(): Promise<string | null> {
  if (which('perf') === null) return 'perf not found: install linux-perf (scripts/setup.sh)';
  const r = await run('perf', ['--version']).catch(() => null);
  if (!r || r.code !== 0) return `perf does not run: ${(r?.stderr || r?.stdout || '').trim().split('\n').pop()}`;
  return null;
}

/** The directory for a run's perf.data and folded stacks, beside its results file. */
export function profileDirOf(resultsFile: string): string {
  const dir = resultsFile.replace(/\.json$/, '') + '-profile';
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Each switch once, TCP only, perf in the middle of each window. */
export async function perfRound(o: PerfRoundOptions): Promise<PerfRoundSession[]> {
  const sessions: PerfRoundSession[] = [];
  for (const name of o.switches) {
    const tag = `[profile round ${name}]`;
    const s: PerfRoundSession = { switch: name, details: {}, errors: [] };
    sessions.push(s);
    const step = <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> =>
      attempt(fn, {
        na: (why) => o.log(`${tag} ${what}: n/a (${why})`),
        failed: (why) => {
          o.log(`${tag} ${what}: FAILED: ${why}`);
          s.errors.push(`${what}: ${why}`);
          o.failed(`${name}, profile round, ${what}: ${why}`);
        },
      });
    o.log(`${tag} starting`);
    const sw = o.make(name);
    const up = await step('start', async () => {
      await sw.start();
      return true;
    });
    if (up) {
      await tcpSession({
        ctx: o.ctxOf(sw),
        label: `${name}-profile`,
        probes: { midWindow: { perfDir: o.dir } },
        step,
        add: () => undefined, // perf ran: not a figure to compare
        details: s.details,
        log: (line) => o.log(`${tag} ${line}`),
      });
    }
    await step('stop', () => sw.stop());
  }
  return sessions;
}

const SHORT: Record<string, string> = { tcp1: '1→', tcp4: '4→', 'tcp1.rev': '1←', 'tcp4.rev': '4←' };
export const shortCase = (id: string): string => SHORT[id] ?? id;

function caseLabel(id: string): string {
  const c = TCP_CASES.find((x) => x.id === id);
  if (!c) return id;
  return `TCP ${c.reverse ? 'NS2→NS1 (iperf3 -R)' : 'NS1→NS2'}, ${c.streams} stream${c.streams > 1 ? 's' : ''}`;
}

type Split = NonNullable<ProfiledWindow['cpuSplit']>;

function brief(split: CpuSplit): Split {
  const out: Split = {};
  for (const [cpu, v] of Object.entries(split)) if (cpu !== 'cpu') out[cpu] = { softirq: v.softirq, idle: v.idle, system: v.system, user: v.user };
  return out;
}

/** The mean per CPU of some windows' splits. */
function meanSplit(splits: readonly Split[]): Split | undefined {
  if (splits.length === 0) return undefined;
  const out: Split = {};
  const cpus = [...new Set(splits.flatMap((s) => Object.keys(s)))];
  for (const cpu of cpus) {
    const xs = splits.map((s) => s[cpu]).filter((x) => x !== undefined);
    const m = (k: 'softirq' | 'idle' | 'system' | 'user'): number => Math.round((10 * xs.reduce((a, x) => a + x[k], 0)) / xs.length) / 10;
    out[cpu] = { softirq: m('softirq'), idle: m('idle'), system: m('system'), user: m('user') };
  }
  return out;
}

interface ComparedRound {
  sessions: Array<{ switch: string; details: Record<string, unknown> }>;
}

/** The profiled windows, each case's switches side by side, with the compared rounds' mid-window splits. */
export function profiledWindows(sessions: readonly PerfRoundSession[], compared: readonly ComparedRound[]): ProfiledWindow[] {
  const out: ProfiledWindow[] = [];
  for (const c of TCP_CASES) {
    for (const s of sessions) {
      const r = s.details[c.id] as TcpResult | undefined;
      const mid = (r?.probe as { mid?: MidWindowResult } | undefined)?.mid;
      if (!r || !mid?.perf) continue;
      const unprofiled = compared
        .flatMap((round) => round.sessions.filter((x) => x.switch === s.switch))
        .map((x) => ((x.details[c.id] as TcpResult | undefined)?.probe as { mid?: MidWindowResult } | undefined)?.mid?.cpuSplit)
        .filter((x): x is CpuSplit => x !== undefined)
        .map(brief);
      const w: ProfiledWindow = {
        switch: s.switch,
        caseId: c.id,
        caseLabel: caseLabel(c.id),
        summary: mid.perf.summary,
        cpuSplit: brief(mid.cpuSplit),
        gbps: r.gbps,
        retransmits: r.retransmits,
      };
      const u = meanSplit(unprofiled);
      if (u) w.unprofiledCpuSplit = u;
      out.push(w);
    }
  }
  return out;
}

/** The comparison table and the readable file's text of a run's profile round. */
export function perfReport(windows: readonly ProfiledWindow[], tcpS: number, command: string): { table: string; text: string } {
  const at = midWindow({ tcpS });
  const intro = [
    `# Where the TCP windows' time goes (--perf): ${command}`,
    '',
    `perf record -a -g -F 999 (both CPUs, call chains) for ${at.seconds} s from ${at.delayS} s after iperf3 -t ${tcpS} started, in a profile round run after`,
    "the compared rounds (its iperf3 figures are not in the tables: perf's cost is not in the compared figures);",
    "samples reduced from perf script: each charged to its leaf (perf report --no-children --sort sym), weighed by",
    'its period. Columns: 1→ / 4→ NS1→NS2 with 1 / 4 streams, 1← / 4← NS2→NS1 (iperf3 -R).',
  ].join('\n');
  return { table: perfComparisonTable(windows, shortCase), text: perfText(windows, shortCase, intro) };
}
