// The paired TCP measure (`--paired A,B`, issues 16 and 18): two switches
// measured at the same time, so that the machine's drift falls on both.
//
// On this kind of VM one switch's TCP throughput moves ±15 % from one 5-s
// window to the next even with the whole path pinned to one CPU (client,
// server and the softirq that follows the sender), and the bridge moves as
// much: the host, not the switch. Rounds a few seconds apart then differ by
// more than the few percent a switch can make. Here each switch gets its own
// topology (two hosts and the switch namespace, names unique to the run) and
// both run each TCP case *at once*, each path on a CPU of its own (iperf3
// -A C,C: client and server on CPU C, and veth's receive softirq runs where
// the sender runs): A on CPU 0 beside B on CPU 1, then A on CPU 1 beside B on
// CPU 0. A round's ratio is the geometric mean of the two,
// sqrt(A0 · A1 / (B0 · B1)), which takes out whatever one CPU has that the
// other has not. Each path is then CPU-bound on its CPU, so the figure is the
// whole path's cost per byte (two TCP stacks and the switch): what the switch
// costs shows directly, unblurred by where the scheduler puts things.
// `--paired kernel,kernel-twin` measures the measure: an A/A pair whose
// ratio says how far a real difference must be to show.

import { writeFileSync } from 'node:fs';
import { type Durations, type PairCtx, startIperfServer, tcp, type TcpResult } from './measures.js';
import { type Switch } from './switches.js';
import { summarize } from './stats.js';
import type { SwitchName } from './report.js';
import { TCP_CASES } from './tcp-rounds.js';
import { type Site, Topology } from './topology.js';

/** One TCP case in one round: each switch on each CPU, the two windows run at once (A on 0 with B on 1, then A on 1 with B on 0). */
export interface PairedWindow {
  /** Gbit/s: a[cpu], b[cpu] */
  a: [number, number];
  b: [number, number];
  /** retransmits, the same places */
  aRetrans: [number, number];
  bRetrans: [number, number];
}

export interface PairedResult {
  a: SwitchName;
  b: SwitchName;
  /** case id (TCP_CASES) → its windows, one per round */
  cases: Record<string, PairedWindow[]>;
  errors: string[];
}

/** A round's A ÷ B: the geometric mean over the two placements (CPU asymmetry cancels). */
export function roundRatio(w: PairedWindow): number {
  return Math.sqrt((w.a[0] * w.a[1]) / (w.b[0] * w.b[1]));
}

export interface PairedRow {
  id: string;
  /** medians of the rounds' mean of the two CPUs, Gbit/s */
  a: ReturnType<typeof summarize>;
  b: ReturnType<typeof summarize>;
  /** A ÷ B by round: median, min, max */
  ratio: ReturnType<typeof summarize>;
  /** rounds whose ratio is above 1 */
  won: number;
  rounds: number;
}

export function pairedRows(r: Pick<PairedResult, 'cases'>): PairedRow[] {
  return TCP_CASES.filter((c) => r.cases[c.id]?.length).map((c) => {
    const ws = r.cases[c.id]!.filter((w) => [...w.a, ...w.b].every((x) => Number.isFinite(x) && x > 0));
    const ratios = ws.map(roundRatio);
    return {
      id: c.id,
      a: summarize(ws.map((w) => (w.a[0] + w.a[1]) / 2)),
      b: summarize(ws.map((w) => (w.b[0] + w.b[1]) / 2)),
      ratio: summarize(ratios),
      won: ratios.filter((x) => x > 1).length,
      rounds: ratios.length,
    };
  });
}

const CASE_NAME: Record<string, string> = {
  tcp1: 'TCP NS1→NS2, 1 stream',
  tcp4: 'TCP NS1→NS2, 4 streams',
  'tcp1.rev': 'TCP NS2→NS1, 1 stream (iperf3 -R)',
  'tcp4.rev': 'TCP NS2→NS1, 4 streams (iperf3 -R)',
};

const g = (s: ReturnType<typeof summarize>): string => (s ? `${s.median.toFixed(1)} (${s.min.toFixed(1)}–${s.max.toFixed(1)})` : '—');
const x = (s: ReturnType<typeof summarize>): string => (s ? `${s.median.toFixed(3)}× (${s.min.toFixed(3)}–${s.max.toFixed(3)})` : '—');

/** The Markdown table: per case each switch's Gbit/s (mean of its two CPUs, median over rounds) and A ÷ B by round. */
export function pairedTable(r: Pick<PairedResult, 'a' | 'b' | 'cases'>): string {
  const lines = [
    `| measure (whole path on one CPU, both switches at once) | ${r.a}, Gbit/s | ${r.b}, Gbit/s | ${r.a} ÷ ${r.b} by round, median (min–max) | rounds ${r.a} ahead |`,
    '|---|---:|---:|---:|---:|',
  ];
  for (const row of pairedRows(r)) lines.push(`| ${CASE_NAME[row.id] ?? row.id} | ${g(row.a)} | ${g(row.b)} | ${x(row.ratio)} | ${row.won}/${row.rounds} |`);
  return `${lines.join('\n')}\n`;
}

export interface PairedOptions {
  a: SwitchName;
  b: SwitchName;
  rounds: number;
  dur: Durations;
  dir: string;
  /** makes switch `name` on `site` (main.ts's, with the run's vswitchd options) */
  make: (name: SwitchName, site: Site) => Switch;
  /** called after each round with what there is so far */
  save: (r: PairedResult) => void;
  log: (s: string) => void;
}

/** Both switches up on topologies of their own, then `rounds` rounds of every TCP case, both placements each. */
export async function runPaired(o: PairedOptions): Promise<PairedResult> {
  const result: PairedResult = { a: o.a, b: o.b, cases: {}, errors: [] };
  const sides: Array<{ name: SwitchName; ctx: PairCtx; sw: Switch }> = [];
  try {
    for (const name of [o.a, o.b]) {
      const topo = await Topology.create(2, o.log);
      const sw = o.make(name, topo.site);
      await sw.start();
      sides.push({ name, sw, ctx: { topo, sw, dur: o.dur, dir: o.dir } });
      await startIperfServer(topo.host(2));
    }
    const [A, B] = sides as [(typeof sides)[0], (typeof sides)[0]];
    for (let round = 1; round <= o.rounds; round++) {
      for (const c of TCP_CASES) {
        const w: PairedWindow = { a: [NaN, NaN], b: [NaN, NaN], aRetrans: [NaN, NaN], bRetrans: [NaN, NaN] };
        for (const aCpu of [0, 1] as const) {
          const bCpu = 1 - aCpu;
          const [ra, rb] = await Promise.allSettled([
            tcp({ ...A.ctx, tcpCpus: `${aCpu},${aCpu}` }, c.streams, { reverse: c.reverse }),
            tcp({ ...B.ctx, tcpCpus: `${bCpu},${bCpu}` }, c.streams, { reverse: c.reverse }),
          ]);
          const keep = (r: PromiseSettledResult<TcpResult>, who: string, cpu: number): [number, number] => {
            if (r.status === 'fulfilled') return [r.value.gbps, r.value.retransmits];
            result.errors.push(`round ${round}, ${c.id}, ${who} on CPU ${cpu}: ${(r.reason as Error).message ?? String(r.reason)}`);
            return [NaN, NaN];
          };
          [w.a[aCpu], w.aRetrans[aCpu]] = keep(ra, o.a, aCpu);
          [w.b[bCpu], w.bRetrans[bCpu]] = keep(rb, o.b, bCpu);
        }
        (result.cases[c.id] ??= []).push(w);
        o.log(
          `[round ${round}/${o.rounds}] ${CASE_NAME[c.id]}: ${o.a} ${w.a.map((v) => v.toFixed(2)).join(' / ')}, ${o.b} ${w.b.map((v) => v.toFixed(2)).join(' / ')} Gbit/s (CPU 0 / 1)` +
            `, ÷ ${roundRatio(w).toFixed(3)}×`,
        );
      }
      o.save(result);
    }
  } finally {
    for (const s of sides.reverse()) await s.sw.stop().catch((e: Error) => o.log(`${s.name}: stop: ${e.message}`));
  }
  return result;
}

export function savePaired(file: string, header: Record<string, unknown>, r: PairedResult): void {
  writeFileSync(file, `${JSON.stringify({ ...header, mode: 'paired', ...r, rows: pairedRows(r), table: pairedTable(r) }, null, 1)}\n`);
}
