// The paired measure's arithmetic and table (bench/paired.ts runs it): a
// round's A ÷ B as the geometric mean of the two placements, the medians over
// rounds, the rounds each was ahead. No I/O: `--from` and the unit tests read
// it without the run's machinery.

import type { SwitchName } from './report.js';
import { median, summarize } from './stats.js';

/** The cases of a round, in the order they run: the four TCP cases (tcp-rounds.ts TCP_CASES), 64-byte frames NS1 → NS2, ping NS1 → NS2. */
export const PAIRED_CASES = ['tcp1', 'tcp4', 'tcp1.rev', 'tcp4.rev', 'u64', 'rtt'] as const;

/** One case in one round: each switch on each CPU, the two windows run at once (A on 0 with B on 1, then A on 1 with B on 0). */
export interface PairedWindow {
  /** Gbit/s (TCP), Mframes/s received (64 B) or the average RTT in µs (ping): a[cpu], b[cpu] */
  a: [number, number];
  b: [number, number];
  /** TCP: retransmits, the same places */
  aRetrans?: [number, number];
  bRetrans?: [number, number];
}

export interface PairedResult {
  a: SwitchName;
  b: SwitchName;
  /** case id (PAIRED_CASES) → its windows, one per round */
  cases: Record<string, PairedWindow[]>;
  errors: string[];
}

/** A round's A ÷ B: the geometric mean over the two placements (CPU asymmetry cancels). */
export function roundRatio(w: PairedWindow): number {
  return Math.sqrt((w.a[0] * w.a[1]) / (w.b[0] * w.b[1]));
}

export interface PairedRow {
  id: string;
  /** medians of the rounds' mean of the two CPUs (Gbit/s, Mframes/s) */
  a: ReturnType<typeof summarize>;
  b: ReturnType<typeof summarize>;
  /** A ÷ B by round: median, min, max */
  ratio: ReturnType<typeof summarize>;
  /** rounds A was ahead: its ratio above 1, below 1 where lower is better (RTT) */
  won: number;
  rounds: number;
  /** TCP: retransmits per window, median over every window of A, of B (null for 64 B) */
  retransmits: [number, number] | null;
}

export function pairedRows(r: Pick<PairedResult, 'cases'>): PairedRow[] {
  return PAIRED_CASES.filter((id) => r.cases[id]?.length).map((id) => {
    const ws = r.cases[id]!.filter((w) => [...w.a, ...w.b].every((x) => Number.isFinite(x) && x > 0));
    const ratios = ws.map(roundRatio);
    return {
      id,
      a: summarize(ws.map((w) => (w.a[0] + w.a[1]) / 2)),
      b: summarize(ws.map((w) => (w.b[0] + w.b[1]) / 2)),
      ratio: summarize(ratios),
      won: ratios.filter((x) => (CASE_NAME[id]![2] === 'lower' ? x < 1 : x > 1)).length,
      rounds: ratios.length,
      retransmits: ws[0]?.aRetrans ? [median(ws.flatMap((w) => w.aRetrans ?? [])), median(ws.flatMap((w) => w.bRetrans ?? []))] : null,
    };
  });
}

/** Each case's name, unit and which way is better. */
export const CASE_NAME: Record<string, [string, string, 'higher' | 'lower']> = {
  tcp1: ['TCP NS1→NS2, 1 stream', 'Gbit/s', 'higher'],
  tcp4: ['TCP NS1→NS2, 4 streams', 'Gbit/s', 'higher'],
  'tcp1.rev': ['TCP NS2→NS1, 1 stream (iperf3 -R)', 'Gbit/s', 'higher'],
  'tcp4.rev': ['TCP NS2→NS1, 4 streams (iperf3 -R)', 'Gbit/s', 'higher'],
  u64: ['64 B NS1→NS2, received in NS2', 'Mframes/s', 'higher'],
  rtt: ['ping RTT avg NS1→NS2, idle (lower is better)', 'µs', 'lower'],
};

const g = (s: ReturnType<typeof summarize>, d: number): string => (s ? `${s.median.toFixed(d)} (${s.min.toFixed(d)}–${s.max.toFixed(d)})` : '—');
const x = (s: ReturnType<typeof summarize>): string => (s ? `${s.median.toFixed(3)}× (${s.min.toFixed(3)}–${s.max.toFixed(3)})` : '—');

/** The Markdown table: per case each switch's figure (mean of its two CPUs, median over rounds) and A ÷ B by round. */
export function pairedTable(r: Pick<PairedResult, 'a' | 'b' | 'cases'>): string {
  const lines = [
    `| measure (whole path on one CPU, both switches at once) | unit | ${r.a} | ${r.b} | ${r.a} ÷ ${r.b} by round, median (min–max) | rounds ${r.a} ahead | retransmits per window, median, ${r.a} / ${r.b} |`,
    '|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const row of pairedRows(r)) {
    const [name, unit] = CASE_NAME[row.id] ?? [row.id, ''];
    const d = row.id === 'u64' ? 3 : 1;
    // for RTT "ahead" is the lower figure
    const re = row.retransmits ? row.retransmits.map((n) => (Number.isFinite(n) ? String(Math.round(n)) : '—')).join(' / ') : '—';
    lines.push(`| ${name} | ${unit} | ${g(row.a, d)} | ${g(row.b, d)} | ${x(row.ratio)} | ${row.won}/${row.rounds} | ${re} |`);
  }
  return `${lines.join('\n')}\n`;
}
