import { test } from 'node:test';
import assert from 'node:assert/strict';
import { markdownTable, rows, sampleSetOf, type SampleSet } from '../../bench/report.js';

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

test('bench report: a results file from before the kernel datapath reads as the userspace one', () => {
  const set = sampleSetOf({ switches: ['vswitchd', 'bridge'], samples: { 'u64.rx': { vswitchd: [600_000], bridge: [500_000] } } });
  assert.deepEqual(set.switches, ['vswitchd-user', 'bridge']);
  assert.equal(row(set, 'u64.rx').met['vswitchd-user'], true);
});
