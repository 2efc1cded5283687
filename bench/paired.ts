// The paired measure (`--paired A,B`, issues 16 and 18): two switches
// measured at the same time, so that the machine's drift falls on both: TCP
// (1 and 4 streams, each way) and 64-byte frames.
//
// On this kind of VM one switch's TCP throughput moves ±15 % from one 5-s
// window to the next even with the whole path pinned to one CPU (client,
// server and the softirq that follows the sender), and the bridge moves as
// much: the host, not the switch. Rounds a few seconds apart then differ by
// more than the few percent a switch can make. Here each switch gets its own
// topology (two hosts and the switch namespace, names unique to the run) and
// both run each case *at once*, each path on a CPU of its own (iperf3 -A C,C:
// client and server on CPU C; trafgen moved to CPU C; veth's receive softirq
// runs where the sender runs): A on CPU 0 beside B on CPU 1, then A on CPU 1
// beside B on CPU 0. A round's ratio is the geometric mean of the two,
// sqrt(A0 · A1 / (B0 · B1)), which takes out whatever one CPU has that the
// other has not. Each path is then CPU-bound on its CPU, so the figure is the
// whole path's cost per byte or frame (the sender, the switch, the receiver):
// what the switch costs shows directly, unblurred by where the scheduler puts
// things.
// `--paired kernel,kernel-twin` measures the measure: an A/A pair whose
// ratio says how far a real difference must be to show.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Durations, learn, type PairCtx, startIperfServer, tcp } from './measures.js';
import { BenchError, sleep } from './proc.js';
import { type Switch } from './switches.js';
import { summarize } from './stats.js';
import type { SwitchName } from './report.js';
import { TCP_CASES } from './tcp-rounds.js';
import { type Site, Topology } from './topology.js';
import { frameConfig, Trafgen } from './trafgen.js';

/** The cases of a round, in the order they run: the four TCP cases, then 64-byte frames NS1 → NS2. */
export const PAIRED_CASES = [...TCP_CASES.map((c) => c.id), 'u64'] as const;

/** One case in one round: each switch on each CPU, the two windows run at once (A on 0 with B on 1, then A on 1 with B on 0). */
export interface PairedWindow {
  /** Gbit/s (TCP) or Mframes/s received (64 B): a[cpu], b[cpu] */
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
  /** rounds whose ratio is above 1 */
  won: number;
  rounds: number;
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
      won: ratios.filter((x) => x > 1).length,
      rounds: ratios.length,
    };
  });
}

const CASE_NAME: Record<string, [string, string]> = {
  tcp1: ['TCP NS1→NS2, 1 stream', 'Gbit/s'],
  tcp4: ['TCP NS1→NS2, 4 streams', 'Gbit/s'],
  'tcp1.rev': ['TCP NS2→NS1, 1 stream (iperf3 -R)', 'Gbit/s'],
  'tcp4.rev': ['TCP NS2→NS1, 4 streams (iperf3 -R)', 'Gbit/s'],
  u64: ['64 B NS1→NS2, received in NS2', 'Mframes/s'],
};

const g = (s: ReturnType<typeof summarize>, d: number): string => (s ? `${s.median.toFixed(d)} (${s.min.toFixed(d)}–${s.max.toFixed(d)})` : '—');
const x = (s: ReturnType<typeof summarize>): string => (s ? `${s.median.toFixed(3)}× (${s.min.toFixed(3)}–${s.max.toFixed(3)})` : '—');

/** The Markdown table: per case each switch's figure (mean of its two CPUs, median over rounds) and A ÷ B by round. */
export function pairedTable(r: Pick<PairedResult, 'a' | 'b' | 'cases'>): string {
  const lines = [
    `| measure (whole path on one CPU, both switches at once) | unit | ${r.a} | ${r.b} | ${r.a} ÷ ${r.b} by round, median (min–max) | rounds ${r.a} ahead |`,
    '|---|---|---:|---:|---:|---:|',
  ];
  for (const row of pairedRows(r)) {
    const [name, unit] = CASE_NAME[row.id] ?? [row.id, ''];
    const d = row.id === 'u64' ? 3 : 1;
    lines.push(`| ${name} | ${unit} | ${g(row.a, d)} | ${g(row.b, d)} | ${x(row.ratio)} | ${row.won}/${row.rounds} |`);
  }
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
      for (const id of PAIRED_CASES) {
        const tcpCase = TCP_CASES.find((c) => c.id === id);
        const w: PairedWindow = { a: [NaN, NaN], b: [NaN, NaN], ...(tcpCase ? { aRetrans: [NaN, NaN], bRetrans: [NaN, NaN] } : {}) };
        for (const aCpu of [0, 1] as const) {
          const bCpu = 1 - aCpu;
          const one = async (ctx: PairCtx, cpu: number): Promise<[number, number]> => {
            if (!tcpCase) return [await frames64(ctx, cpu), NaN];
            const t = await tcp({ ...ctx, tcpCpus: `${cpu},${cpu}` }, tcpCase.streams, { reverse: tcpCase.reverse });
            return [t.gbps, t.retransmits];
          };
          const [ra, rb] = await Promise.allSettled([one(A.ctx, aCpu), one(B.ctx, bCpu)]);
          const keep = (r: PromiseSettledResult<[number, number]>, who: string, cpu: number): [number, number] => {
            if (r.status === 'fulfilled') return r.value;
            result.errors.push(`round ${round}, ${id}, ${who} on CPU ${cpu}: ${(r.reason as Error).message ?? String(r.reason)}`);
            return [NaN, NaN];
          };
          [w.a[aCpu], w.b[bCpu]] = [keep(ra, o.a, aCpu)[0], keep(rb, o.b, bCpu)[0]];
          if (w.aRetrans && w.bRetrans && ra.status === 'fulfilled' && rb.status === 'fulfilled') [w.aRetrans[aCpu], w.bRetrans[bCpu]] = [ra.value[1], rb.value[1]];
        }
        (result.cases[id] ??= []).push(w);
        const [name, unit] = CASE_NAME[id]!;
        const d = id === 'u64' ? 3 : 2;
        o.log(`[round ${round}/${o.rounds}] ${name}: ${o.a} ${w.a.map((v) => v.toFixed(d)).join(' / ')}, ${o.b} ${w.b.map((v) => v.toFixed(d)).join(' / ')} ${unit} (CPU 0 / 1), ÷ ${roundRatio(w).toFixed(3)}×`);
      }
      o.save(result);
    }
  } finally {
    for (const s of sides.reverse()) await s.sw.stop().catch((e: Error) => o.log(`${s.name}: stop: ${e.message}`));
  }
  return result;
}

/** 64-byte frames NS1 → NS2 for a window with trafgen on `cpu`: Mframes/s received at NS2's interface. */
async function frames64(ctx: PairCtx, cpu: number): Promise<number> {
  const h1 = ctx.topo.host(1);
  const h2 = ctx.topo.host(2);
  await learn(ctx, h1, h2);
  const tg = await Trafgen.start(h1, join(ctx.dir, `trafgen-paired-cpu${cpu}.cfg`), frameConfig(h2.mac, h1.mac), { cpu });
  try {
    await sleep(ctx.dur.warmupMs);
    const t0 = performance.now();
    const rx0 = ctx.topo.hostDev(h2).rxPackets;
    await sleep(ctx.dur.trafficS * 1000);
    const rx1 = ctx.topo.hostDev(h2).rxPackets;
    const t1 = performance.now();
    if (!tg.running) throw new BenchError(`trafgen stopped on its own: ${tg.why()}`);
    return (rx1 - rx0) / ((t1 - t0) / 1000) / 1e6;
  } finally {
    await tg.stop().catch(() => NaN);
  }
}

export function savePaired(file: string, header: Record<string, unknown>, r: PairedResult): void {
  writeFileSync(file, `${JSON.stringify({ ...header, mode: 'paired', ...r, rows: pairedRows(r), table: pairedTable(r) }, null, 1)}\n`);
}
