// The FDB's journal (core/fdb-journal.ts): what the Fdb writes into it, and
// its bound.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Fdb } from '../../src/core/fdb.js';
import { FDB_EV_AGE, FDB_EV_EVICT, FDB_EV_FLUSH, FDB_EV_LEARN, FDB_EV_MOVE, FDB_EV_WORDS, FdbJournal, FLUSH_DOWN } from '../../src/core/fdb-journal.js';

/** The records as [kind, mac, vlan, port, extra]. */
function rows(j: FdbJournal): number[][] {
  const { records } = j.take();
  const out: number[][] = [];
  for (let at = 0; at < records.length; at += FDB_EV_WORDS) {
    const [kind, hi, lo, port, extra] = records.subarray(at, at + FDB_EV_WORDS);
    out.push(kind === FDB_EV_FLUSH ? [kind!, hi!, 0, port!, extra!] : [kind!, (hi! & 0xffff) * 2 ** 32 + (lo! >>> 0), hi! >>> 16, port!, extra!]);
  }
  return out;
}

describe('FdbJournal', () => {
  it('keeps `capacity` records, counts the rest by kind, and starts again after take()', () => {
    const j = new FdbJournal(2);
    assert.equal(j.pending, false);
    j.push(FDB_EV_LEARN, 1, 2, 3, 0);
    j.push(FDB_EV_LEARN, 1, 3, 3, 0);
    j.push(FDB_EV_LEARN, 1, 4, 3, 0);
    j.push(FDB_EV_AGE, 1, 2, 3, 0);
    assert.equal(j.pending, true);
    const t = j.take();
    assert.equal(t.records.length, 2 * FDB_EV_WORDS);
    assert.deepEqual(t.overflow, [1, 0, 1, 0, 0]);
    assert.equal(j.pending, false);
    assert.deepEqual(j.take(), { records: new Int32Array(0), overflow: [0, 0, 0, 0, 0] });
  });

  it('the Fdb journals learns, moves (from), ageing, eviction and flushes (with their reason and count), not refreshes', () => {
    const fdb = new Fdb({ size: 2, agingMs: 10_000, maxPorts: 4 });
    const j = (fdb.journal = new FdbJournal());
    const m1 = 0x020000000001;
    const m2 = 0x020000000002;
    const m3 = 0x020000000003;
    fdb.learn(m1, 1, 0, 10);
    fdb.learn(m1, 1, 5000); // refresh, VLAN 0: m1 is in VLAN 10 only, so this is a new station
    fdb.learn(m1, 1, 5001, 10); // refresh
    fdb.learn(m1, 2, 5002, 10); // move
    assert.deepEqual(rows(j), [
      [FDB_EV_LEARN, m1, 10, 1, 0],
      [FDB_EV_LEARN, m1, 0, 1, 0],
      [FDB_EV_MOVE, m1, 10, 2, 1],
    ]);
    fdb.learn(m2, 3, 6000); // table full: the fullest port's oldest goes (port 1's or 2's: one each; the oldest of all)
    const evicted = rows(j);
    assert.equal(evicted.length, 2);
    assert.equal(evicted[0]![0], FDB_EV_EVICT);
    assert.deepEqual(evicted[1], [FDB_EV_LEARN, m2, 0, 3, 0]);
    fdb.expire(20_000);
    assert.deepEqual(rows(j).map((r) => r[0]), [FDB_EV_AGE, FDB_EV_AGE]);
    fdb.learn(m3, 2, 30_000);
    fdb.learn(m2, 2, 30_000);
    j.take();
    assert.equal(fdb.flushPort(2, FLUSH_DOWN), 2);
    assert.equal(fdb.flushPort(2), 0, 'nothing flushed, nothing journaled');
    assert.deepEqual(rows(j), [[FDB_EV_FLUSH, FLUSH_DOWN, 0, 2, 2]]);
  });
});
