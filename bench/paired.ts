// The paired measure (`--paired A,B`, issues 16 and 18): two switches
// measured at the same time, so that the machine's drift falls on both: TCP
// (1 and 4 streams, each way), 64-byte frames and the idle ping RTT.
//
// On this kind of VM one switch's TCP throughput moves ±15–25 % from one 5-s
// window to the next even with the whole path pinned to one CPU (client,
// server and the softirq that follows the sender), and the bridge moves as
// much: the host, not the switch. Rounds a few seconds apart then differ by
// more than the few percent a switch can make. Here each switch gets its own
// topology (two hosts and the switch namespace, names unique to the run) and
// both run each case *at once*, each path on a CPU of its own (iperf3 -A C,C:
// client and server on CPU C; trafgen moved to CPU C; ping on CPU C; veth's receive softirq
// runs where the sender runs): A on CPU 0 beside B on CPU 1, then A on CPU 1
// beside B on CPU 0. A round's ratio is the geometric mean of the two,
// sqrt(A0 · A1 / (B0 · B1)), which takes out whatever one CPU has that the
// other has not. Each path is then CPU-bound on its CPU, so the figure is the
// whole path's cost per byte or frame (the sender, the switch, the receiver):
// what the switch costs shows directly, unblurred by where the scheduler puts
// things.
// `--paired kernel,kernel-twin` measures the measure: an A/A pair whose
// ratio says how far a real difference must be to show. The arithmetic and
// the table are paired-summary.ts's.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Durations, learn, type PairCtx, pingRun, startIperfServer, tcp } from './measures.js';
import { BenchError, sleep } from './proc.js';
import { type PairedCase, type PairedResult, pairedRows, pairedTable, type PairedWindow, roundRatio } from './paired-summary.js';
import type { SwitchName } from './report.js';
import { type Switch } from './switches.js';
import { TCP_CASES } from './tcp-rounds.js';
import { type Site, Topology } from './topology.js';
import { frameConfig, Trafgen } from './trafgen.js';

export interface PairedOptions {
  a: SwitchName;
  b: SwitchName;
  /** the cases to run (paired-summary.ts PAIRED_CASES, in its order) */
  cases: readonly PairedCase[];
  rounds: number;
  dur: Durations;
  dir: string;
  /** makes switch `name` on `site` (main.ts's, with the run's vswitchd options) */
  make: (name: SwitchName, site: Site) => Switch;
  /** called after each round with what there is so far */
  save: (r: PairedResult) => void;
  log: (s: string) => void;
}

interface Side {
  name: SwitchName;
  ctx: PairCtx;
  sw: Switch;
}

/** Both switches up on topologies of their own, then `rounds` rounds of every case, both placements each. */
export async function runPaired(o: PairedOptions): Promise<PairedResult> {
  const result: PairedResult = { a: o.a, b: o.b, cases: {}, errors: [] };
  const sides: Side[] = [];
  try {
    for (const name of [o.a, o.b]) {
      const topo = await Topology.create(2, o.log);
      const sw = o.make(name, topo.site);
      sides.push({ name, sw, ctx: { topo, sw, dur: o.dur, dir: o.dir } }); // before start: a half-started switch is stopped too
      await sw.start();
      await startIperfServer(topo.host(2));
    }
    const [A, B] = sides as [Side, Side];
    for (let round = 1; round <= o.rounds; round++) {
      for (const c of o.cases) {
        const id = c.id;
        const tcpCase = TCP_CASES.find((t) => t.id === id);
        const w: PairedWindow = { a: [NaN, NaN], b: [NaN, NaN], ...(tcpCase ? { aRetrans: [NaN, NaN], bRetrans: [NaN, NaN] } : {}) };
        for (const aCpu of [0, 1] as const) {
          const bCpu = 1 - aCpu;
          // both sides learned first, so that neither window starts late behind a lost ping
          await Promise.all([learn(A.ctx, A.ctx.topo.host(1), A.ctx.topo.host(2)), learn(B.ctx, B.ctx.topo.host(1), B.ctx.topo.host(2))]);
          const ping = (ctx: PairCtx, cpu: number): Promise<[number, number]> => pingRun(ctx, ctx.topo.host(1), ctx.topo.host(2), cpu).then((p) => [p.avgMs * 1000, NaN]);
          const [ra, rb] = tcpCase
            ? await Promise.allSettled([
                tcp({ ...A.ctx, tcpCpus: `${aCpu},${aCpu}` }, tcpCase.streams, { reverse: tcpCase.reverse }).then((t): [number, number] => [t.gbps, t.retransmits]),
                tcp({ ...B.ctx, tcpCpus: `${bCpu},${bCpu}` }, tcpCase.streams, { reverse: tcpCase.reverse }).then((t): [number, number] => [t.gbps, t.retransmits]),
              ])
            : c.measure === 'latency'
              ? await Promise.allSettled([ping(A.ctx, aCpu), ping(B.ctx, bCpu)])
              : await frames64Both([A.ctx, aCpu], [B.ctx, bCpu]);
          const keep = (r: PromiseSettledResult<[number, number]>, who: string, cpu: number): [number, number] => {
            if (r.status === 'fulfilled') return r.value;
            result.errors.push(`round ${round}, ${id}, ${who} on CPU ${cpu}: ${(r.reason as Error).message ?? String(r.reason)}`);
            return [NaN, NaN];
          };
          const [av, ar] = keep(ra, o.a, aCpu);
          const [bv, br] = keep(rb, o.b, bCpu);
          w.a[aCpu] = av;
          w.b[bCpu] = bv;
          if (w.aRetrans && w.bRetrans) {
            w.aRetrans[aCpu] = ar;
            w.bRetrans[bCpu] = br;
          }
        }
        (result.cases[id] ??= []).push(w);
        const d = c.digits;
        const re = w.aRetrans && w.bRetrans ? `; retransmits ${w.aRetrans.join(' / ')} against ${w.bRetrans.join(' / ')}` : '';
        o.log(`[round ${round}/${o.rounds}] ${c.name}: ${o.a} ${w.a.map((v) => v.toFixed(d)).join(' / ')}, ${o.b} ${w.b.map((v) => v.toFixed(d)).join(' / ')} ${c.unit} (CPU 0 / 1), ÷ ${roundRatio(w).toFixed(3)}×${re}`);
      }
      o.save(result);
    }
  } finally {
    for (const s of sides.reverse()) {
      await s.sw.stop().catch((e: Error) => {
        result.errors.push(`${s.name}: stop: ${e.message}`);
        o.log(`${s.name}: stop: ${e.message}`);
      });
    }
  }
  return result;
}

/**
 * 64-byte frames NS1 → NS2 on both sides at once, each sender on its CPU:
 * both trafgens started (and moved) before either window opens, both windows
 * over the same seconds; Mframes/s received at NS2's interface, NaN
 * retransmits. A side that forwards nothing is a failure, not a zero.
 */
async function frames64Both(...sides: Array<[PairCtx, number]>): Promise<Array<PromiseSettledResult<[number, number]>>> {
  const started = await Promise.allSettled(
    sides.map(([ctx, cpu]) => Trafgen.start(ctx.topo.host(1), join(ctx.dir, `trafgen-paired-cpu${cpu}.cfg`), frameConfig(ctx.topo.host(2).mac, ctx.topo.host(1).mac), { cpu })),
  );
  try {
    if (started.some((s) => s.status === 'rejected')) return started.map((s) => (s.status === 'rejected' ? s : { status: 'rejected', reason: new BenchError('the other side\'s trafgen did not start') }));
    const dur = sides[0]![0].dur;
    await sleep(dur.warmupMs);
    const rx0 = sides.map(([ctx]) => ctx.topo.hostDev(ctx.topo.host(2)).rxPackets);
    const t0 = performance.now();
    await sleep(dur.trafficS * 1000);
    const rx1 = sides.map(([ctx]) => ctx.topo.hostDev(ctx.topo.host(2)).rxPackets);
    const s = (performance.now() - t0) / 1000;
    return started.map((st, i): PromiseSettledResult<[number, number]> => {
      const tg = (st as PromiseFulfilledResult<Trafgen>).value;
      if (!tg.running) return { status: 'rejected', reason: new BenchError(`trafgen stopped on its own: ${tg.why()}`) };
      const n = rx1[i]! - rx0[i]!;
      if (n <= 0) return { status: 'rejected', reason: new BenchError('no frame reached NS2') };
      return { status: 'fulfilled', value: [n / s / 1e6, NaN] };
    });
  } finally {
    await Promise.all(started.map((st) => (st.status === 'fulfilled' ? st.value.stop().catch(() => NaN) : undefined)));
  }
}

export function savePaired(file: string, header: Record<string, unknown>, r: PairedResult): void {
  writeFileSync(file, `${JSON.stringify({ ...header, mode: 'paired', ...r, rows: pairedRows(r), table: pairedTable(r) }, null, 1)}\n`);
}
