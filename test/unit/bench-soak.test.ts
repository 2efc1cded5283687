import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  attributeLosses,
  counterDelta,
  heapTrend,
  latencySummary,
  lateWithLoad,
  PingLog,
  rssFlatness,
  rssTimeline,
  slope,
  soakSummary,
  type SoakSummaryInput,
  verdict,
} from '../../bench/soak-summary.js';

const reply = (seq: number, s: number): string => `[${s.toFixed(6)}] 64 bytes from 192.168.100.105: icmp_seq=${seq} ttl=64 time=0.051 ms\n`;

test('soak ping log: a gap in the replies is lost pings, each dated between the replies around it', () => {
  const log = new PingLog(10);
  const text = reply(1, 1000) + reply(2, 1000.01) + reply(6, 1000.05) + reply(7, 1000.06) + '\n--- ping statistics ---\n7 packets transmitted, 4 received, 42.8571% packet loss, time 60ms\n';
  // fed in pieces split mid-line
  for (let i = 0; i < text.length; i += 17) log.feed(text.slice(i, i + 17));
  log.finish();
  assert.equal(log.transmitted, 7);
  assert.equal(log.received, 4);
  assert.equal(log.lost, 3);
  assert.deepEqual(log.lostAtMs.map((t) => Math.round(t - 1_000_000)), [20, 30, 40]);
});

test('soak ping log: with their send times (pinger.ts) lost pings are dated by when they were sent, not by a late reply', () => {
  // the soak's "200 lost while up": the reply before a down window was held in a
  // queue and seen only with the first reply after it, 2 s later; dated by the
  // replies' arrival the 200 lost pings all fell 50 ms after the window's end
  const sent = (seq: number, recvS: number, sentS: number): string => `[${recvS.toFixed(6)}] 64 bytes from 192.168.100.105: icmp_seq=${seq} sent=${sentS.toFixed(6)}\n`;
  const log = new PingLog(10);
  log.feed(sent(1, 100.001, 100) + sent(2, 102.05, 100.01) + sent(203, 102.05, 102.02));
  log.finish();
  assert.equal(log.lost, 200);
  assert.deepEqual([log.lostAtMs[0], log.lostAtMs[99], log.lostAtMs[199]].map((t) => Math.round(t! - 100_000)), [20, 1010, 2010]);
  // the same replies without the send times: bunched between the two arrivals
  const old = new PingLog(10);
  old.feed(reply(1, 100.001) + reply(2, 102.05) + reply(203, 102.05));
  old.finish();
  assert.ok(old.lostAtMs.every((t) => Math.round(t - 100_000) === 2050));
});

test('soak ping log: pings after the last reply are lost, duplicates and late replies are not counted twice', () => {
  const log = new PingLog(10);
  log.feed(reply(1, 5) + reply(2, 5.01) + reply(2, 5.011).replace('ms\n', 'ms (DUP!)\n') + reply(1, 5.02) + '5 packets transmitted, 2 received, +1 duplicates\n');
  log.finish();
  assert.equal(log.received, 2);
  assert.deepEqual(log.lostAtMs.map((t) => Math.round(t - 5000)), [20, 30, 40]);
});

test('soak ping log: icmp_seq wraps at 65536 (an hour at 100/s wraps it five times), the run goes on counting', () => {
  const log = new PingLog(10);
  log.feed(reply(65534, 100) + reply(65535, 100.01) + reply(0, 100.02) + reply(2, 100.04));
  log.finish();
  // 65536 (seq 0 after the wrap) answered, 65537 (seq 1) lost
  assert.equal(log.received, 4);
  assert.equal(log.lost, 65533 + 1); // the 65533 before the first reply seen, and seq 1 after the wrap
  assert.equal(Math.round(log.lostAtMs.at(-1)! - 100_000), 30);
});

test('soak: a lost ping counts as "while down" only inside a down window (with the slack), the rest as "while up"', () => {
  const windows = [
    { fromMs: 1000, toMs: 3000 },
    { fromMs: 11_000, toMs: 13_000 },
  ];
  assert.deepEqual(attributeLosses([999, 1500, 3040, 3100, 9000, 12_000], windows, 50), { whileDown: 4, whileUp: 2, upRuns: [[3100, 3100, 1], [9000, 9000, 1]] });
  assert.deepEqual(attributeLosses([], windows, 50), { whileDown: 0, whileUp: 0, upRuns: [] });
  // consecutive losses while up (10 ms apart) make one run; a gap of more than 2 intervals a new one
  assert.deepEqual(attributeLosses([5000, 5010, 5020, 5030, 5100], windows, 50, 10).upRuns, [[5000, 5030, 4], [5100, 5100, 1]]);
});

test('soak RSS: least-squares slope, flatness judged after the warm-up only', () => {
  assert.equal(slope([[0, 1], [1, 3], [2, 5]]), 2);
  assert.equal(slope([[1, 7]]), 0);
  const mb = (x: number): number => (x * 1e6) / 1024; // MB → KiB
  // grows 30 MB during a 60 s warm-up, then stays within ±1 MB
  const samples: Array<[number, number]> = [[0, mb(50)], [30, mb(70)], [60, mb(80)], [90, mb(81)], [120, mb(79)], [150, mb(80)]];
  const flat = rssFlatness(samples, 60, 5)!;
  assert.equal(flat.samples, 4);
  assert.ok(Math.abs(flat.medianMb - 80) < 1e-9);
  assert.ok(Math.abs(flat.worstDeviationMb - 1) < 1e-9);
  assert.equal(flat.flat, true);
  // counted from the start, the warm-up's growth would fail it
  assert.equal(rssFlatness(samples, 0, 5)!.flat, false);
  // a steady leak of 1 MB a minute: 60 MB/h, not flat over 20 minutes
  const leak: Array<[number, number]> = Array.from({ length: 21 }, (_, i) => [i * 60, mb(80 + i)]);
  const r = rssFlatness(leak, 0, 5)!;
  assert.ok(Math.abs(r.slopeMbPerHour - 60) < 1e-6);
  assert.equal(r.flat, false);
  assert.equal(rssFlatness(samples, 1000, 5), null);
});

test('soak latency: nearest-rank percentiles, the worst, and the answers over the target', () => {
  const ms = Array.from({ length: 1000 }, (_, i) => i + 1); // 1 … 1000 ms
  const s = latencySummary(ms, 2, 250);
  assert.equal(s.count, 1000);
  assert.equal(s.worstMs, 1000);
  assert.equal(s.p99Ms, 990);
  assert.equal(s.p999Ms, 999);
  assert.equal(s.medianMs, 500);
  assert.equal(s.overTarget, 750);
  assert.equal(s.failed, 2);
});

test('soak: counter differences keep the counters that moved, a new one counted from 0', () => {
  assert.deepEqual(counterDelta({ 'acl-drop': 5, 'mtu-exceeded': 2 }, { 'acl-drop': 9, 'mtu-exceeded': 2, 'port-down': 3 }), { 'acl-drop': 4, 'port-down': 3 });
});

const input = (over: Partial<SoakSummaryInput> = {}): SoakSummaryInput => ({
  datapath: 'kernel',
  minutes: 60,
  alive: true,
  rssSamples: [[0, 80_000], [1800, 80_100], [3600, 80_200]],
  rss: rssFlatness([[1800, 80_100], [3600, 80_200]], 600, 5),
  toleranceMb: 5,
  steady: { sent: 360_000, lost: 0, whileDown: 0, whileUp: 0 },
  flapped: { sent: 360_000, lost: 7000, whileDown: 7000, whileUp: 0 },
  flaps: 360,
  latency: latencySummary([1, 2, 40], 0, 250),
  worstByCommand: { stats: 40 },
  targetMs: 250,
  drops: {},
  tcp: { gbps: 1, retransmits: 3 },
  macBursts: 720,
  configChanges: 1200,
  ...over,
});

test('soak verdict: each target on its own; a ping of the steady pair, or of the flapped host while up, breaks "pings kept"', () => {
  const i = input();
  assert.deepEqual(verdict(i.alive, i.rss, i.steady, i.flapped, i.latency), { alive: true, rssFlat: true, pingsKept: true, commandsInTime: true });
  const j = input({ steady: { sent: 10, lost: 1, whileDown: 0, whileUp: 1 } });
  assert.equal(verdict(j.alive, j.rss, j.steady, j.flapped, j.latency).pingsKept, false);
  const k = input({ flapped: { sent: 10, lost: 3, whileDown: 2, whileUp: 1 } });
  assert.equal(verdict(k.alive, k.rss, k.steady, k.flapped, k.latency).pingsKept, false);
  const l = input({ latency: latencySummary([1, 300], 0, 250) });
  assert.equal(verdict(l.alive, l.rss, l.steady, l.flapped, l.latency).commandsInTime, false);
  const m = input({ latency: latencySummary([1, 2], 1, 250) });
  assert.equal(verdict(m.alive, m.rss, m.steady, m.flapped, m.latency).commandsInTime, false);
});

test('soak summary: one line per figure, the RSS timeline thinned to one sample per interval', () => {
  const text = soakSummary(input());
  assert.match(text, /pings lost, flapped host: 7000 of 360000: 7000 while its link was down, 0 while up \(none but while down: met\)/);
  assert.match(text, /control commands: +3 answered in worst 40 ms/);
  assert.match(text, /frames lost by reason: +none/);
  assert.match(text, /±5 MB: met/);
  assert.deepEqual(rssTimeline([[0, 1000], [5, 1000], [60, 2000], [61, 2000], [125, 3000]], 60), ['   0.0 min  1.0 MB', '   1.0 min  2.0 MB', '   2.1 min  3.1 MB']);
});

test('soak: the slowest late answers, each with the load sample that covers it', () => {
  const late: Array<[number, number, string]> = [[12, 300, 'stats'], [31, 900, 'vlan'], [40, 260, 'stats']];
  const load: Array<[number, number, number]> = [[10, 50, 20], [15, 99, 140], [35, 60, 30]];
  assert.deepEqual(lateWithLoad(late, load, 2), [
    [31, 900, 'vlan', 30],
    [12, 300, 'stats', 140],
  ]);
  assert.deepEqual(lateWithLoad([[50, 400, 'stats']], load, 5), [[50, 400, 'stats', null]]);
  const text = soakSummary(input({ late, load }));
  assert.match(text, /late: vlan 900 ms at 0\.5 min \(other processes' CPU then 30 % of a CPU\)/);
  assert.match(text, /others' CPU median 30 % of a CPU, max 140 %/);
});

test('soak heap: each thread\'s heap in use after the warm-up, its median and slope, in the summary beside vswitchd\'s own CPU', () => {
  // the main thread's heap saws 20–30 MB around a flat trend; the datapath thread's climbs 6 MB an hour
  const samples: Array<[number, number, number]> = Array.from({ length: 61 }, (_, i) => [i * 60, (i % 2 === 0 ? 20 : 30) * 1e6, 3e6 + i * 0.1e6]);
  const t = heapTrend(samples, 360)!;
  assert.equal(t.samples, 55);
  assert.equal(t.mainMedianMb, 20); // minutes 6–60: 28 readings of 20 MB, 27 of 30
  assert.ok(Math.abs(t.mainSlopeMbPerHour) < 0.5, `main ${t.mainSlopeMbPerHour}`);
  assert.ok(Math.abs(t.datapathSlopeMbPerHour - 6) < 1e-6, `datapath ${t.datapathSlopeMbPerHour}`);
  assert.equal(heapTrend(samples, 3601), null);
  const text = soakSummary(input({ heap: t, load: [[5, 10, 1, 2.5], [10, 12, 1, 3.5], [15, 11, 1, 1.5]] }));
  assert.match(text, /V8 heap in use after warm-up: main thread median \d+\.\d MB, slope -?0\.\d\d MB\/h; datapath thread 6\.3 MB, 6\.00 MB\/h \(55 readings\)/);
  assert.match(text, /vswitchd's own CPU median 2\.5 % of a CPU/);
  // an older results file: no vswitchd CPU, no heap line
  const old = soakSummary(input({ load: [[5, 10, 1]] }));
  assert.doesNotMatch(old, /vswitchd's own CPU|V8 heap/);
});

