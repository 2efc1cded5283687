import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pairedRows, pairedTable, type PairedWindow, roundRatio } from '../../bench/paired-summary.js';

const w = (a: [number, number], b: [number, number], re?: [number, number]): PairedWindow => ({ a, b, ...(re ? { aRetrans: re, bRetrans: [0, 0] as [number, number] } : {}) });

test('bench paired: a round is the geometric mean of both placements, so a CPU that is faster for whoever has it cancels', () => {
  // CPU 0 runs everything 20 % faster; A is 5 % faster than B on either CPU
  const round = w([1.2 * 10.5, 10.5], [1.2 * 10, 10]);
  assert.ok(Math.abs(roundRatio(round) - 1.05) < 1e-12);
  // the same with A's CPU the slow one in its first window: unchanged
  assert.ok(Math.abs(roundRatio(w([10.5, 1.2 * 10.5], [10, 1.2 * 10])) - 1.05) < 1e-12);
  // a single window's ratio (A on the fast CPU against B on the slow one, and back) would have said 1.26 or 0.875
  assert.ok(Math.abs(round.a[0] / round.b[1] - 1.26) < 1e-12);
  assert.ok(Math.abs(round.a[1] / round.b[0] - 0.875) < 1e-12);
});

test('bench paired: rows give each switch its median Gbit/s, A ÷ B by round and the rounds A was ahead; a failed window leaves its round out', () => {
  const cases = {
    tcp1: [w([12, 10], [10, 10], [0, 5]), w([9, 9], [10, 10], [7, 0]), w([11, 11], [10, 10], [0, 0]), w([NaN, 11], [10, 10], [99, 99])],
    'tcp4.rev': [w([20, 20], [20, 20])],
    u64: [w([0.5, 0.4], [0.4, 0.32])],
    rtt: [w([20, 22], [25, 27.5]), w([30, 30], [25, 25])],
  };
  const rows = pairedRows({ cases });
  assert.deepEqual(
    rows.map((r) => r.id),
    ['tcp1', 'tcp4.rev', 'u64', 'rtt'],
  );
  // lower is better for the RTT: A's 0.8× round is ahead, its 1.2× round is not
  const rtt = rows[3]!;
  assert.ok(Math.abs(rtt.ratio!.min - 0.8) < 1e-12 && Math.abs(rtt.ratio!.max - 1.2) < 1e-12);
  assert.equal(rtt.won, 1);
  const r = rows[0]!;
  assert.equal(r.rounds, 3);
  assert.equal(r.won, 2);
  assert.equal(r.a!.median, 11);
  assert.equal(r.b!.median, 10);
  assert.ok(Math.abs(r.ratio!.median - Math.sqrt(1.2)) < 1e-12);
  assert.ok(Math.abs(r.ratio!.min - 0.9) < 1e-12);
  assert.equal(rows[1]!.won, 0); // a tie is not a win
  assert.deepEqual(r.retransmits, [0, 0]); // over the rounds kept: 0, 5, 7, 0, 0, 0 → median 0
  assert.equal(rows[2]!.retransmits, null); // 64 B has none
  const t = pairedTable({ a: 'vswitchd-kernel', b: 'bridge', cases });
  assert.match(t, /\| TCP NS1→NS2, 1 stream \| Gbit\/s \| 11\.0 \(9\.0–11\.0\) \| 10\.0 \(10\.0–10\.0\) \| 1\.095× \(0\.900–1\.100\) \| 2\/3 \| 0 \/ 0 \|/);
  assert.match(t, /\| 64 B NS1→NS2, received in NS2 \| Mframes\/s \| 0\.450 \(0\.450–0\.450\) \| 0\.360 \(0\.360–0\.360\) \| 1\.250× \(1\.250–1\.250\) \| 1\/1 \| — \|/);
  assert.match(t, /vswitchd-kernel ÷ bridge by round/);
  assert.match(t, /\| ping RTT avg NS1→NS2, idle \(lower is better\) \| µs \| 25\.5 \(21\.0–30\.0\) \| 25\.6 \(25\.0–26\.3\) \| 1\.000× \(0\.800–1\.200\) \| 1\/2 \| — \|/);
});
