import { test } from 'node:test';
import assert from 'node:assert/strict';
import { markdownTable, rows, type SampleSet } from '../../bench/report.js';
import { switchSoftirq } from '../../bench/stats.js';

test('bench flood: the switch cost is the flood window’s softirq per copy less a receiver’s own per frame', () => {
  // 9 M copies in 5 s on 4.5 CPU-s of softirq: 500 ns each; the receiver alone 6 M frames on 1.2 CPU-s: 200 ns
  const c = switchSoftirq({ received: 9e6, softirqCpuS: 4.5 }, { received: 6e6, softirqCpuS: 1.2 });
  assert.ok(c);
  assert.ok(Math.abs(c.perCopyS - 500e-9) < 1e-15);
  assert.ok(Math.abs(c.receiverS - 200e-9) < 1e-15);
  assert.ok(Math.abs(c.switchS - 300e-9) < 1e-15);
  // the same receiver cost taken out of two switches widens their ratio: 500 vs 600 ns is 1.2×, 300 vs 400 ns 1.33×
  const other = switchSoftirq({ received: 9e6, softirqCpuS: 5.4 }, { received: 6e6, softirqCpuS: 1.2 })!;
  assert.ok(Math.abs(other.switchS / c.switchS - 4 / 3) < 1e-9);
});

test('bench flood: no switch cost from a window without frames or softirq, nor when nothing is left after the receiver’s share', () => {
  const flood = { received: 9e6, softirqCpuS: 4.5 };
  assert.equal(switchSoftirq({ received: 0, softirqCpuS: 4.5 }, { received: 6e6, softirqCpuS: 1.2 }), null);
  assert.equal(switchSoftirq({ received: 9e6, softirqCpuS: 0 }, { received: 6e6, softirqCpuS: 1.2 }), null);
  assert.equal(switchSoftirq(flood, { received: 0, softirqCpuS: 1.2 }), null);
  assert.equal(switchSoftirq(flood, { received: 6e6, softirqCpuS: 0 }), null);
  // the receiver alone as dear as a whole copy (noise): nothing left, no figure rather than a negative or infinite one
  assert.equal(switchSoftirq(flood, { received: 6e6, softirqCpuS: 3 }), null);
  assert.equal(switchSoftirq(flood, { received: 6e6, softirqCpuS: 3.1 }), null);
});

test('bench flood: the switch-cost row and the old per-softirq row carry no target (measured to be noise on this machine: bench/README.md); the receiver’s share in ns', () => {
  const set: SampleSet = {
    switches: ['vswitchd-kernel', 'bridge'],
    samples: {
      // 1 / 300 ns and 1 / 400 ns: 1.33× the bridge
      'flood.perSwitchSoftirq': { 'vswitchd-kernel': [1 / 300e-9], bridge: [1 / 400e-9] },
      'flood.receiverNs': { 'vswitchd-kernel': [200e-9], bridge: [205e-9] },
      'flood.perSoftirq': { 'vswitchd-kernel': [1 / 500e-9], bridge: [1 / 600e-9] },
    },
  };
  const r = rows(set);
  const cost = r.find((x) => x.def.id === 'flood.perSwitchSoftirq')!;
  assert.ok(Math.abs(cost.ratio['vswitchd-kernel']! - 4 / 3) < 1e-9);
  assert.deepEqual(cost.met, {});
  const old = r.find((x) => x.def.id === 'flood.perSoftirq')!;
  assert.ok(Math.abs(old.ratio['vswitchd-kernel']! - 1.2) < 1e-9);
  assert.deepEqual(old.met, {});
  const table = markdownTable(set).split('\n');
  const costLine = table.find((l) => l.includes('switch’s own softirq'))!;
  assert.match(costLine, /\| Mframes per CPU-s \| 3\.33 .*\| 1\.33× \| 2\.50 .*\|  \|  \|/);
  const nsLine = table.find((l) => l.includes('a receiver’s own receive'))!;
  assert.match(nsLine, /\| ns per frame \| 200 .*\| — \| 205 /);
  // the switch-cost row comes before the rows it replaces and explains
  assert.ok(table.indexOf(costLine) < table.indexOf(nsLine));
  assert.ok(table.indexOf(nsLine) < table.findIndex((l) => l.includes('the switch-cost row until')));
});
