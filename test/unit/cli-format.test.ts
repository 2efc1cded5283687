import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatFdb, formatShow, formatStats, jsonFdb, jsonFdbItems } from '../../src/cli/format.js';
import { REASON_NAMES } from '../../src/core/reasons.js';

describe('vswconfig output', () => {
  it('show: the datapath, then one port name per line', () => {
    assert.equal(formatShow('kernel', ['veth1-vsw', 'veth2-vsw']), 'datapath kernel\nveth1-vsw\nveth2-vsw\n');
    assert.equal(formatShow('user', []), 'datapath user\n');
  });

  it('fdb: like bridge fdb show, age in whole seconds', () => {
    assert.equal(
      formatFdb([
        { mac: 'aa:bb:cc:dd:ee:ff', vlan: 0, port: 'veth1-vsw', ageSeconds: 12.9 },
        { mac: '02:00:00:00:00:01', vlan: 10, port: 'veth2-vsw', ageSeconds: 0 },
      ]),
      'aa:bb:cc:dd:ee:ff dev veth1-vsw age 12\n02:00:00:00:00:01 dev veth2-vsw vlan 10 age 0\n',
    );
  });

  it('fdb -j: the parts put together make one JSON array, empty parts and all', () => {
    const a = { mac: 'aa:bb:cc:dd:ee:ff', vlan: 0, port: 'veth1-vsw', ageSeconds: 12.9 };
    const b = { mac: '02:00:00:00:00:01', vlan: 0, port: 'veth2-vsw', ageSeconds: 0 };
    const doc = (parts: (typeof a)[][]): unknown =>
      JSON.parse([...jsonFdb(parts.map((p) => Buffer.from(jsonFdbItems(p))))].join(''));
    assert.deepEqual(doc([]), []);
    assert.deepEqual(doc([[a], [], [b, a]]), [
      { mac: 'aa:bb:cc:dd:ee:ff', ifname: 'veth1-vsw', age: 12 },
      { mac: '02:00:00:00:00:01', ifname: 'veth2-vsw', age: 0 },
      { mac: 'aa:bb:cc:dd:ee:ff', ifname: 'veth1-vsw', age: 12 },
    ]);
  });

  it('stats: aligned port table, every drop reason in order, then fdb counters', () => {
    const out = formatStats({
      ports: [
        { port: 'veth1-vsw', up: true, mtu: 1500, rxFrames: 12, rxBytes: 1234567, txFrames: 3, txBytes: 300, rxRingDrops: 0 },
        { port: 'v2', up: false, mtu: 9000, rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, rxRingDrops: 5 },
      ],
      drops: { runt: 1, 'tx-ring-full': 4, 'future-reason': 9 },
      fdb: { entries: 2, learned: 3, moved: 1, expired: 1, evicted: 0, flushed: 0, refused: 0, suppressed: 7 },
    });
    const lines = out.split('\n');
    assert.equal(lines[0], 'port       link   mtu  rx frames  rx bytes  tx frames  tx bytes  ring drops');
    assert.equal(lines[1], 'veth1-vsw  up    1500         12   1234567          3       300           0');
    assert.equal(lines[2], 'v2         down  9000          0         0          0         0           5');
    assert.equal(lines[3], '');
    const drops = lines.filter((l) => l.startsWith('drops '));
    assert.deepEqual(drops, [
      ...REASON_NAMES.map((r) => `drops ${r} ${r === 'runt' ? 1 : r === 'tx-ring-full' ? 4 : 0}`),
      'drops future-reason 9',
    ]);
    assert.deepEqual(
      lines.filter((l) => l.startsWith('fdb ')),
      ['fdb entries 2', 'fdb learned 3', 'fdb moved 1', 'fdb expired 1', 'fdb evicted 0', 'fdb flushed 0', 'fdb refused 0', 'fdb suppressed 7'],
    );
    assert.ok(out.indexOf('drops ') < out.indexOf('fdb '), 'drops come before fdb counters');
  });

  it('stats with no ports still prints the header', () => {
    const out = formatStats({
      ports: [],
      drops: {},
      fdb: { entries: 0, learned: 0, moved: 0, expired: 0, evicted: 0, flushed: 0, refused: 0, suppressed: 0 },
    });
    assert.match(out, /^port\s+link\s+mtu/);
  });
});
