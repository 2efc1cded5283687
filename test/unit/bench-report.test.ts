import { test } from 'node:test';
import assert from 'node:assert/strict';
import { vswitchdArgsOf } from '../../bench/switches.js';
import { DEFAULT_SWITCHES, hostPairs, hostsKey, hostsRows, type HostsSampleSet, hostsTable, markdownTable, pairLabel, rows, sampleSetOf, type SampleSet, withinOfBase } from '../../bench/report.js';

const ALL: SampleSet['switches'] = ['vswitchd-kernel', 'vswitchd-user', 'bridge'];

function row(set: SampleSet, id: string) {
  const r = rows(set).find((x) => x.def.id === id);
  assert.ok(r, `row ${id}`);
  return r;
}

test('bench report: each datapath is judged against its own target', () => {
  // 64 B: kernel 1.25x the bridge (misses its 1.3x), user 1.25x (meets its 1.2x)
  const set: SampleSet = { switches: ALL, samples: { 'u64.rx': { 'vswitchd-kernel': [500_000], 'vswitchd-user': [500_000], bridge: [400_000] } } };
  const r = row(set, 'u64.rx');
  assert.equal(r.met['vswitchd-kernel'], false);
  assert.equal(r.met['vswitchd-user'], true);
  // ping: the kernel's target is a ratio to the bridge, the user's an absolute 0.05 ms
  const lat: SampleSet = { switches: ALL, samples: { 'lat.idle.avg': { 'vswitchd-kernel': [0.012], 'vswitchd-user': [0.04], bridge: [0.011] } } };
  const l = row(lat, 'lat.idle.avg');
  assert.equal(l.met['vswitchd-kernel'], false);
  assert.equal(l.met['vswitchd-user'], true);
});

test('bench report: a row without a target for a datapath leaves its met empty', () => {
  const set: SampleSet = { switches: ALL, samples: { 'cpu.machinePerM': { 'vswitchd-kernel': [2], 'vswitchd-user': [4], bridge: [3] } } };
  const r = row(set, 'cpu.machinePerM');
  assert.equal(r.met['vswitchd-kernel'], true);
  assert.equal('vswitchd-user' in r.met, false);
  const line = markdownTable(set).split('\n').find((x) => x.includes('machine CPU per Mframe'))!;
  assert.match(line, /\| ≤ 1\.0× bridge \| yes \|  \|  \|$/);
});

test('bench report: the table has a target and a met column per datapath', () => {
  const set: SampleSet = { switches: ALL, samples: { 'u64.rx': { 'vswitchd-kernel': [500_000], 'vswitchd-user': [500_000], bridge: [400_000] } } };
  const [header, , line] = markdownTable(set).split('\n');
  assert.match(header!, /\| kernel target \| kernel met \| user target \| user met \|$/);
  assert.match(line!, /\| ≥ 1\.3× bridge \| \*\*no\*\* \| ≥ 1\.2× bridge \| yes \|$/);
});

test('bench report: kernel-tc is judged against the kernel datapath (tcx): within 5 % the way each row counts as better', () => {
  const TC: SampleSet['switches'] = ['vswitchd-kernel', 'vswitchd-kernel-tc', 'bridge'];
  const set: SampleSet = {
    switches: TC,
    samples: {
      // 64 B: tc 4 % slower (within), TCP: 6 % slower (not), RTT: 4 % higher (within), faster 64 B is within too
      'u64.rx': { 'vswitchd-kernel': [1_000_000], 'vswitchd-kernel-tc': [960_000], bridge: [700_000] },
      tcp1: { 'vswitchd-kernel': [20], 'vswitchd-kernel-tc': [18.8], bridge: [18] },
      'lat.idle.avg': { 'vswitchd-kernel': [0.05], 'vswitchd-kernel-tc': [0.052], bridge: [0.06] },
    },
  };
  assert.equal(row(set, 'u64.rx').vsBase['vswitchd-kernel-tc']?.met, true);
  assert.equal(row(set, 'tcp1').vsBase['vswitchd-kernel-tc']?.met, false);
  assert.ok(Math.abs(row(set, 'tcp1').vsBase['vswitchd-kernel-tc']!.ratio - 0.94) < 1e-9);
  assert.equal(row(set, 'lat.idle.avg').vsBase['vswitchd-kernel-tc']?.met, true);
  assert.equal(withinOfBase(1.2, 'higher', 0.05), true);
  assert.equal(withinOfBase(0.9, 'lower', 0.05), true);
  assert.equal(withinOfBase(1.06, 'lower', 0.05), false);
  assert.equal(withinOfBase(1.06, null, 0.05), false);
  const table = markdownTable(set);
  assert.match(table.split('\n')[0]!, /\| kernel-tc ÷ kernel \| within 5 % \|$/);
  assert.match(table, /\| 0\.940× \| \*\*no\*\* \|/);
  // without the kernel column there is nothing to compare with: no such columns
  const alone: SampleSet = { switches: ['vswitchd-kernel-tc', 'bridge'], samples: set.samples };
  assert.doesNotMatch(markdownTable(alone), /within 5 %/);
});

test('bench switches: kernel-tc runs the kernel datapath with --attach tc, last so that it wins over --vswitchd-args', () => {
  assert.deepEqual(vswitchdArgsOf('vswitchd-kernel-tc', ['--attach', 'tcx', '--ring-frames', '256']), ['--datapath', 'kernel', '--attach', 'tcx', '--ring-frames', '256', '--attach', 'tc']);
  assert.deepEqual(vswitchdArgsOf('vswitchd-kernel', []), ['--datapath', 'kernel']);
  assert.deepEqual(vswitchdArgsOf('vswitchd-user', ['--attach', 'tc']), ['--datapath', 'user', '--attach', 'tc']);
});

test('bench report: the redirect variants are shown against the kernel datapath, a ratio with no target; not measured unless asked for', () => {
  const set: SampleSet = {
    switches: ['vswitchd-kernel', 'vswitchd-kernel-tc', 'vswitchd-kernel-plain', 'bridge'],
    samples: { tcp1: { 'vswitchd-kernel': [20], 'vswitchd-kernel-tc': [19.6], 'vswitchd-kernel-plain': [22], bridge: [18] } },
  };
  const r = row(set, 'tcp1');
  assert.ok(Math.abs(r.vsBase['vswitchd-kernel-plain']!.ratio - 1.1) < 1e-9);
  assert.equal(r.vsBase['vswitchd-kernel-plain']!.met, null);
  const [header, , line] = markdownTable(set).split('\n');
  assert.match(header!, /\| kernel-tc ÷ kernel \| within 5 % \| kernel-plain ÷ kernel \|$/);
  assert.match(line!, /\| 0\.980× \| yes \| 1\.100× \|$/);
  assert.equal(header!.split('|').length, line!.split('|').length);
  assert.deepEqual(vswitchdArgsOf('vswitchd-kernel-small', ['--redirect-peer', 'all']), ['--datapath', 'kernel', '--redirect-peer', 'all', '--redirect-peer', 'small']);
  assert.deepEqual(vswitchdArgsOf('vswitchd-kernel-plain', []), ['--datapath', 'kernel', '--redirect-peer', 'none']);
  assert.ok(!DEFAULT_SWITCHES.includes('vswitchd-kernel-plain') && !DEFAULT_SWITCHES.includes('vswitchd-kernel-small'));
});

test('bench report: a results file from before the kernel datapath reads as the userspace one', () => {
  const set = sampleSetOf({ switches: ['vswitchd', 'bridge'], samples: { 'u64.rx': { vswitchd: [600_000], bridge: [500_000] } } });
  assert.deepEqual(set.switches, ['vswitchd-user', 'bridge']);
  assert.equal(row(set, 'u64.rx').met['vswitchd-user'], true);
});

// ---- the hosts mode ----

const PAIRS = hostPairs(['vswitchd-kernel', 'vswitchd-user', 'bridge']).map(pairLabel);

test('bench hosts: each datapath against itself and against the bridge, then bridge against bridge', () => {
  assert.deepEqual(PAIRS, [
    'vswitchd-kernel ↔ vswitchd-kernel',
    'vswitchd-kernel ↔ bridge',
    'vswitchd-user ↔ vswitchd-user',
    'vswitchd-user ↔ bridge',
    'bridge ↔ bridge',
  ]);
  // without the bridge there is no mixed pair and no reference
  assert.deepEqual(hostPairs(['vswitchd-user']).map(pairLabel), ['vswitchd-user ↔ vswitchd-user']);
});

test('bench hosts: each pair is compared with bridge ↔ bridge on the same underlay, target 0.9×', () => {
  const set: HostsSampleSet = {
    pairs: PAIRS,
    samples: {
      // plain: kernel pairs at 0.95× and 0.85×; WireGuard: the bridge is slower, so 0.85 Gbit/s meets it there
      [hostsKey('plain', 'tcp')]: { 'vswitchd-kernel ↔ vswitchd-kernel': [9.5], 'vswitchd-kernel ↔ bridge': [8.5], 'bridge ↔ bridge': [10, 9, 11] },
      [hostsKey('wireguard', 'tcp')]: { 'vswitchd-kernel ↔ vswitchd-kernel': [0.85], 'bridge ↔ bridge': [0.9] },
    },
  };
  const rs = hostsRows(set);
  const find = (underlay: string, pair: string) => rs.find((r) => r.underlay === underlay && r.def.id === 'tcp' && r.pair === pair)!;
  assert.equal(find('plain', 'vswitchd-kernel ↔ vswitchd-kernel').ratio, 0.95);
  assert.equal(find('plain', 'vswitchd-kernel ↔ vswitchd-kernel').met, true);
  assert.equal(find('plain', 'vswitchd-kernel ↔ bridge').met, false);
  assert.equal(find('wireguard', 'vswitchd-kernel ↔ vswitchd-kernel').met, true);
  // a pair not measured: no median, no verdict; the reference has neither ratio nor target
  assert.equal(find('plain', 'vswitchd-user ↔ bridge').met, null);
  assert.equal(find('plain', 'bridge ↔ bridge').ratio, null);
  assert.equal('met' in find('plain', 'bridge ↔ bridge'), false);
  // no 64 B samples: no 64 B rows
  assert.equal(rs.filter((r) => r.def.id === 'u64').length, 0);
});

test('bench hosts: without bridge ↔ bridge on an underlay its pairs have no ratio and no verdict', () => {
  const set: HostsSampleSet = { pairs: PAIRS, samples: { [hostsKey('wireguard', 'u64')]: { 'vswitchd-user ↔ vswitchd-user': [90_000] } } };
  const r = hostsRows(set).find((x) => x.pair === 'vswitchd-user ↔ vswitchd-user')!;
  assert.equal(r.cell?.median, 0.09);
  assert.equal(r.ratio, null);
  assert.equal(r.met, null);
});

test('bench hosts: the table has one line per underlay, measure and pair, with ratio, target and met', () => {
  const set: HostsSampleSet = { pairs: PAIRS, samples: { [hostsKey('plain', 'u64')]: { 'vswitchd-kernel ↔ bridge': [400_000, 500_000, 450_000], 'bridge ↔ bridge': [500_000] } } };
  const lines = hostsTable(set).trim().split('\n');
  assert.equal(lines.length, 2 + PAIRS.length);
  assert.equal(lines[3], '| plain | 64 B tenant A → tenant B, received at B | Mframes/s | vswitchd-kernel ↔ bridge | 0.450 (0.400–0.500) | 0.90× | ≥ 0.9× bridge ↔ bridge | yes |');
  assert.equal(lines[6], '| plain | 64 B tenant A → tenant B, received at B | Mframes/s | bridge ↔ bridge | 0.500 | — |  |  |');
});

test('bench report: the restart rows (11) — the kernel datapath must lose no ping across vswconfig restart, the userspace one has no target; the bridge has none of it', () => {
  const set: SampleSet = {
    switches: ALL,
    samples: {
      'restart.lost': { 'vswitchd-kernel': [0, 0, 1], 'vswitchd-user': [20, 19, 22] },
      'restart.down': { 'vswitchd-kernel': [400, 450, 420], 'vswitchd-user': [900, 1100, 1000] },
    },
  };
  const lost = row(set, 'restart.lost');
  assert.equal(lost.met['vswitchd-kernel'], true); // the median of 0, 0, 1
  assert.equal('vswitchd-user' in lost.met, false);
  assert.equal(row({ ...set, samples: { 'restart.lost': { 'vswitchd-kernel': [0, 1, 1] } } }, 'restart.lost').met['vswitchd-kernel'], false);
  // a start-up time: kernel-tc's ratio to tcx is shown, not judged against the attach mode's 5 %
  const tc: SampleSet = { switches: ['vswitchd-kernel', 'vswitchd-kernel-tc', 'bridge'], samples: { 'restart.down': { 'vswitchd-kernel': [400], 'vswitchd-kernel-tc': [700] }, 'u64.rx': { 'vswitchd-kernel': [100], 'vswitchd-kernel-tc': [80] } } };
  assert.deepEqual(row(tc, 'restart.down').vsBase['vswitchd-kernel-tc'], { ratio: 1.75, met: null });
  assert.equal(row(tc, 'u64.rx').vsBase['vswitchd-kernel-tc']?.met, false);
  const line = markdownTable(set).split('\n').find((x) => x.includes('control socket down'))!;
  assert.match(line, /^\| 11 \| control socket down across the restart .*\| ms \| 420 \(400–450\) \| — \| 1,?000 \(900–1,?100\) \| — \| — \|/);
});
