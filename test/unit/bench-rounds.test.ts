import { test } from 'node:test';
import assert from 'node:assert/strict';
import { markdownTable, rows, roundsTable, sampleSetOf, type SampleSet } from '../../bench/report.js';
import { median, pairedRounds, roundOrder, roundRatios, summarize, wonShare } from '../../bench/stats.js';

test('bench stats: median and min–max over the rounds', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
  assert.deepEqual(summarize([16.5, NaN, 12, 19.4, 13.9]), { n: 4, median: 15.2, min: 12, max: 19.4 });
  assert.equal(summarize([NaN]), null);
});

test('bench stats: rounds are paired by their place; a round missing either figure is left out', () => {
  assert.deepEqual(pairedRounds([1, null, 3, 4], [10, 20, undefined, 40, 50]), [
    [1, 10],
    [4, 40],
  ]);
});

test('bench stats: won share counts the rounds each was better than the reference, ties are not wins', () => {
  // issue 18's second run: vswitchd lost every round
  const vsw = [16.9, 11.7, 12.2, 11.5, 14.5];
  const br = [19.4, 20.3, 16.1, 14.1, 19.2];
  assert.deepEqual(wonShare(vsw, br, 'higher'), { won: 0, rounds: 5 });
  assert.deepEqual(wonShare(br, vsw, 'higher'), { won: 5, rounds: 5 });
  assert.deepEqual(wonShare([2, 1, 3, null], [1, 1, 4, 9], 'higher'), { won: 1, rounds: 3 });
  // lower is better (latency): the smaller figure wins
  assert.deepEqual(wonShare([0.005, 0.02], [0.008, 0.01], 'lower'), { won: 1, rounds: 2 });
  assert.deepEqual(roundRatios([2, 3, 5], [1, 0, 10]), [2, 0.5]);
});

const BY_ROUND: SampleSet = {
  switches: ['vswitchd-kernel', 'bridge'],
  samples: {
    tcp1: { 'vswitchd-kernel': [16.9, 11.7, 12.2], bridge: [19.4, 11.0, 16.1, 14.1] },
  },
  byRound: {
    // the kernel datapath's fourth round failed: three paired rounds
    tcp1: { 'vswitchd-kernel': [16.9, 11.7, 12.2, null], bridge: [19.4, 11.0, 16.1, 14.1] },
  },
};

test('bench report: the ratio of medians with the rounds won against the bridge', () => {
  const r = rows(BY_ROUND).find((x) => x.def.id === 'tcp1')!;
  assert.deepEqual(r.won['vswitchd-kernel'], { won: 1, rounds: 3 });
  assert.equal(r.roundRatio['vswitchd-kernel']!.min, 12.2 / 16.1);
  assert.equal(r.roundRatio['vswitchd-kernel']!.max, 11.7 / 11.0);
  const line = markdownTable(BY_ROUND).split('\n').find((l) => l.includes('TCP NS1→NS2, 1 stream'))!;
  // medians 12.2 and 15.1: 0.81×
  assert.match(line, /\| 0\.81× \(won 1\/3\) \|/);
  // one round is no contest: no share shown
  const one: SampleSet = { switches: BY_ROUND.switches, samples: { tcp1: { 'vswitchd-kernel': [10], bridge: [8] } }, byRound: { tcp1: { 'vswitchd-kernel': [10], bridge: [8] } } };
  assert.match(markdownTable(one), /\| 1\.25× \|/);
});

test('bench report: the rounds table shows every round, the ratio by round and the rounds won', () => {
  const t = roundsTable(BY_ROUND).split('\n');
  assert.match(t[0]!, /\| r1 \| r2 \| r3 \| r4 \|/);
  const k = t.find((l) => l.includes('| vswitchd-kernel |'))!;
  assert.match(k, /\| 16\.9 \| 11\.7 \| 12\.2 \| — \| 12\.2 \(11\.7–16\.9\) \| 0\.81× \| 0\.76–1\.06× \| 1\/3 \|$/);
  const b = t.find((l) => l.includes('| bridge |'))!;
  assert.match(b, /\| 19\.4 \| 11\.0 \| 16\.1 \| 14\.1 \|/);
  // no per-round figures (an old results file): no table
  assert.equal(roundsTable({ switches: BY_ROUND.switches, samples: BY_ROUND.samples }), '');
});

test('bench report: a saved file keeps its per-round figures (renamed like the samples)', () => {
  const set = sampleSetOf({ switches: ['vswitchd', 'bridge'], samples: { tcp1: { vswitchd: [1], bridge: [2] } }, byRound: { tcp1: { vswitchd: [1, null], bridge: [2, 3] } } });
  assert.deepEqual(set.byRound, { tcp1: { 'vswitchd-user': [1, null], bridge: [2, 3] } });
});

test('bench rounds: a balanced order — over a cycle each switch runs once at each place and right after each other switch equally often', () => {
  for (const n of [2, 3, 4, 5]) {
    const sw = ['kernel', 'tc', 'twin', 'all', 'bridge'].slice(0, n);
    const cycle = n % 2 === 0 ? n : 2 * n;
    const rounds = Array.from({ length: cycle }, (_, i) => roundOrder(sw, i + 1));
    for (const order of rounds) assert.deepEqual([...order].sort(), [...sw].sort()); // each switch once a round
    for (const s of sw) {
      const places = rounds.map((o) => o.indexOf(s));
      for (let p = 0; p < n; p++) assert.equal(places.filter((x) => x === p).length, cycle / n, `${s} at place ${p}, n=${n}`);
    }
    const after = new Map<string, number>();
    for (const o of rounds) for (let k = 1; k < n; k++) after.set(`${o[k - 1]}>${o[k]}`, (after.get(`${o[k - 1]}>${o[k]}`) ?? 0) + 1);
    assert.equal(after.size, n * (n - 1), `every ordered pair follows, n=${n}`);
    assert.equal(new Set(after.values()).size, 1, `equally often, n=${n}`);
    assert.deepEqual(roundOrder(sw, cycle + 1), rounds[0]); // and again
  }
  // the old fixed order put tc right after kernel in every round; here once in four
  const four = [1, 2, 3, 4].map((r) => roundOrder(['kernel', 'tc', 'twin', 'bridge'], r).join(' '));
  assert.equal(four.filter((o) => o.includes('kernel tc')).length, 1);
  assert.deepEqual(roundOrder([], 3), []);
});
