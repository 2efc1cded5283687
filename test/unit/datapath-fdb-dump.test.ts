// The FDB as the datapath thread hands it over: three 32-bit words an entry.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Fdb } from '../../src/core/fdb.js';
import { parseMac } from '../../src/core/mac.js';
import { dumpAgeSeconds, dumpFdb, dumpLength, dumpMac, dumpPort, dumpVlan, FDB_DUMP_STRIDE } from '../../src/datapath/fdb-dump.js';

function read(d: Uint32Array): { mac: number; port: number; age: number }[] {
  return Array.from({ length: dumpLength(d) }, (_, i) => ({ mac: dumpMac(d, i), port: dumpPort(d, i), age: dumpAgeSeconds(d, i) }));
}

describe('fdb dump', () => {
  it('carries each entry\'s VLAN', () => {
    const fdb = new Fdb({ size: 16, maxPorts: 4, agingMs: 300_000 });
    fdb.learn(parseMac('02:00:00:00:00:01'), 1, 0, 4094);
    fdb.learn(parseMac('02:00:00:00:00:01'), 2, 0, 10);
    const d = dumpFdb(fdb, 0);
    assert.deepEqual(
      Array.from({ length: dumpLength(d) }, (_, i) => [dumpPort(d, i), dumpVlan(d, i)]),
      [
        [1, 4094],
        [2, 10],
      ],
    );
  });

  it('carries every live entry whole: all 48 bits of the MAC, the port, the age in whole seconds', () => {
    const fdb = new Fdb({ size: 16, maxPorts: 1024, agingMs: 300_000 });
    const high = parseMac('fe:ff:ff:ff:ff:ff');
    const low = parseMac('02:00:00:00:00:01');
    fdb.learn(high, 1023, 1_000);
    fdb.learn(low, 0, 3_500);
    assert.deepEqual(read(dumpFdb(fdb, 10_000)), [
      { mac: low, port: 0, age: 6 },
      { mac: high, port: 1023, age: 9 },
    ]);
  });

  it('leaves out entries that have aged out but are not freed yet', () => {
    const fdb = new Fdb({ size: 16, maxPorts: 4, agingMs: 10_000 });
    fdb.learn(parseMac('02:00:00:00:00:01'), 0, 0);
    fdb.learn(parseMac('02:00:00:00:00:02'), 1, 5_000);
    const d = dumpFdb(fdb, 12_000);
    assert.equal(fdb.count, 2, 'the dead entry is still held');
    assert.deepEqual(read(d), [{ mac: parseMac('02:00:00:00:00:02'), port: 1, age: 7 }]);
    assert.equal(d.length, FDB_DUMP_STRIDE, 'no room left for the dead entry');
  });
});
