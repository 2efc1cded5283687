// The paired measure's arithmetic and table (bench/paired.ts runs it): a
// round's A ÷ B as the geometric mean of the two placements, the medians over
// rounds, the rounds each was ahead. No I/O: `--from` and the unit tests read
// it without the run's machinery.

import type { SwitchName } from './report.js';
import { median, summarize } from './stats.js';

/** One case of a round: its name and unit, which way is better, the --only measure it belongs to, its decimals. */
export interface PairedCase {
  id: string;
  name: string;
  unit: string;
  better: 'higher' | 'lower';
  measure: 'tcp' | '64b' | 'latency';
  digits: number;
}

/** The cases of a round, in the order they run: the four TCP cases (tcp-rounds.ts TCP_CASES), 64-byte frames NS1 → NS2, ping NS1 → NS2. */
export const PAIRED_CASES: readonly PairedCase[] = [
  { id: 'tcp1', name: 'TCP NS1→NS2, 1 stream', unit: 'Gbit/s', better: 'higher', measure: 'tcp', digits: 1 },
  { id: 'tcp4', name: 'TCP NS1→NS2, 4 streams', unit: 'Gbit/s', better: 'higher', measure: 'tcp', digits: 1 },
  { id: 'tcp1.rev', name: 'TCP NS2→NS1, 1 stream (iperf3 -R)', unit: 'Gbit/s', better: 'higher', measure: 'tcp', digits: 1 },
  { id: 'tcp4.rev', name: 'TCP NS2→NS1, 4 streams (iperf3 -R)', unit: 'Gbit/s', better: 'higher', measure: 'tcp', digits: 1 },
  { id: 'u64', name: '64 B NS1→NS2, received in NS2', unit: 'Mframes/s', better: 'higher', measure: '64b', digits: 3 },
  { id: 'rtt', name: 'ping RTT avg NS1→NS2, idle (lower is better)', unit: 'µs', better: 'lower', measure: 'latency', digits: 1 },
];

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
  /** rounds A was ahead: its ratio above 1, below 1 where lower is better (RTT: the lower figure is ahead) */
  won: number;
  rounds: number;
  /** TCP: retransmits per window, median over every window of A, of B (null for 64 B) */
  retransmits: [number, number] | null;
}

export function pairedRows(r: Pick<PairedResult, 'cases'>): PairedRow[] {
  return PAIRED_CASES.filter((c) => r.cases[c.id]?.length).map((c) => {
    const ws = r.cases[c.id]!.filter((w) => [...w.a, ...w.b].every((x) => Number.isFinite(x) && x > 0));
    const ratios = ws.map(roundRatio);
    return {
      id: c.id,
      a: summarize(ws.map((w) => (w.a[0] + w.a[1]) / 2)),
      b: summarize(ws.map((w) => (w.b[0] + w.b[1]) / 2)),
      ratio: summarize(ratios),
      won: ratios.filter((x) => (c.better === 'lower' ? x < 1 : x > 1)).length,
      rounds: ratios.length,
      retransmits: ws[0]?.aRetrans ? [median(ws.flatMap((w) => w.aRetrans ?? [])), median(ws.flatMap((w) => w.bRetrans ?? []))] : null,
    };
  });
}

const g = (s: ReturnType<typeof summarize>, d: number): string => (s ? `${s.median.toFixed(d)} (${s.min.toFixed(d)}–${s.max.toFixed(d)})` : '—');
const x = (s: ReturnType<typeof summarize>): string => (s ? `${s.median.toFixed(3)}× (${s.min.toFixed(3)}–${s.max.toFixed(3)})` : '—');

/** The Markdown table: per case each switch's figure (mean of its two CPUs, median over rounds) and A ÷ B by round. */
export function pairedTable(r: Pick<PairedResult, 'a' | 'b' | 'cases'>): string {
  const lines = [
    `| measure (whole path on one CPU, both switches at once) | unit | ${r.a} | ${r.b} | ${r.a} ÷ ${r.b} by round, median (min–max) | rounds ${r.a} ahead | retransmits per window, median, ${r.a} / ${r.b} |`,
    '|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const row of pairedRows(r)) {
    const c = PAIRED_CASES.find((k) => k.id === row.id)!;
    const re = row.retransmits ? row.retransmits.map((n) => (Number.isFinite(n) ? String(Math.round(n)) : '—')).join(' / ') : '—';
    lines.push(`| ${c.name} | ${c.unit} | ${g(row.a, c.digits)} | ${g(row.b, c.digits)} | ${x(row.ratio)} | ${row.won}/${row.rounds} | ${re} |`);
  }
  return `${lines.join('\n')}\n`;
}
