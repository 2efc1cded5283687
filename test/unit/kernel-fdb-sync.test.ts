// The kernel datapath's FDB mirroring (fdb-sync.ts) without a kernel: the
// maps are a fake holding the kernel's `fdb` map as a Map, the table of record
// a real Fdb, the clock injected. What the worker does with each learn event,
// with the victim it names in config, and after learn events were lost.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Fdb } from '../../src/core/fdb.js';
import { FdbSync, type LearnGate, RESYNC_INTERVAL_MS } from '../../src/datapath/kernel/fdb-sync.js';
import type { ConfigWords } from '../../src/datapath/kernel/layout.js';
import { LEARNED, NOT_LEARNED_FULL, NOT_LEARNED_LIMITED } from '../../src/datapath/kernel/learn-ring.js';

/** The kernel's side: its fdb map, config as last written, the lost-events counter. */
class FakeMaps {
  readonly kernel = new Map<string, { port: number; seenMs: number }>();
  readonly configs: ConfigWords[] = [];
  eventsLost = 0;
  /** Entries the map takes (setFdb fails beyond). */
  room = Infinity;
  walks = 0;

  setFdb(hi: number, lo: number, port: number, seenMs: number): boolean {
    const k = `${hi}:${lo}`;
    if (!this.kernel.has(k) && this.kernel.size >= this.room) return false;
    this.kernel.set(k, { port, seenMs });
    return true;
  }

  deleteFdb(hi: number, lo: number): void {
    this.kernel.delete(`${hi}:${lo}`);
  }

  staleFdbKeys(beforeMs: number, held: (hi: number, lo: number) => boolean): Array<[number, number]> {
    this.walks++;
    return [...this.kernel.entries()]
      .filter(([, e]) => e.seenMs < beforeMs)
      .map(([k]) => k.split(':').map(Number) as [number, number])
      .filter(([hi, lo]) => !held(hi, lo));
  }

  dropCounts(): { drops: Float64Array; eventsLost: number; suppressed: { limited: number; full: number } } {
    return { drops: new Float64Array(0), eventsLost: this.eventsLost, suppressed: { limited: 0, full: 0 } };
  }

  setConfig(c: ConfigWords): void {
    this.configs.push({ ...c });
  }

  /** What the program does when it learns: writes the map itself (kind LEARNED). */
  programLearns(hi: number, lo: number, port: number, seenMs: number): void {
    this.kernel.set(`${hi}:${lo}`, { port, seenMs });
  }

  has(hi: number, lo: number): boolean {
    return this.kernel.has(`${hi}:${lo}`);
  }
}

/** A station: MAC 02:00:00:00:00:n in VLAN vid, as (hi, lo). */
const mac = (n: number, vid = 0): [number, number] => [(vid << 16) | 0x0200, n];

function setUp(opts: { size?: number; portLimit?: number; gate?: LearnGate } = {}) {
  const fdb = new Fdb({ size: opts.size ?? 16, agingMs: 300_000, maxPorts: 4, portLimit: opts.portLimit ?? 0 });
  const maps = new FakeMaps();
  const cfg: ConfigWords = { agingMs: 300_000, refreshMs: 1000, portHi: 4, victim: 0n, vlanPorts: 0, aclRules: 0, mirrors: 0, aclGen: 1 };
  const clock = { now: 10_000 };
  const gate = opts.gate ?? { takes: (port: number, vid: number) => port < 4 && vid !== 99 };
  const sync = new FdbSync(fdb, maps, cfg, gate, () => clock.now);
  /** The program learned (hi, lo) on port at now and reported it. */
  const learn = (k: [number, number], port: number, kind = LEARNED, evicted: [number, number] = [0, 0]): void => {
    if (kind === LEARNED) maps.programLearns(k[0], k[1], port, clock.now);
    sync.onLearn(k[0], k[1], port, kind, clock.now, evicted[0], evicted[1]);
  };
  return { fdb, maps, cfg, clock, sync, learn };
}

describe('kernel FDB sync: learn events', () => {
  it('a learn the program wrote goes into the table of record and the kernel entry stays as written', () => {
    const { fdb, maps, clock, learn } = setUp();
    learn(mac(1), 2);
    assert.equal(fdb.lookupHL(...mac(1), clock.now), 2);
    assert.deepEqual(maps.kernel.get(`${mac(1)[0]}:${mac(1)[1]}`), { port: 2, seenMs: clock.now });
  });

  it('a learn on a port that is gone, down or does not carry the VLAN is deleted from the kernel and not learned', () => {
    const { fdb, maps, clock, learn } = setUp();
    learn(mac(1), 5);
    learn(mac(2, 99), 1);
    assert.equal(maps.kernel.size, 0);
    assert.equal(fdb.lookupHL(...mac(1), clock.now), -1);
    assert.equal(fdb.lookupHL(...mac(2, 99), clock.now), -1);
  });

  it('a station the map had no room for (FULL) is learned by the table of record, which evicts by its rule, and then written', () => {
    const { fdb, maps, clock, learn } = setUp({ size: 3 });
    learn(mac(1), 0);
    clock.now += 1;
    learn(mac(2), 1);
    clock.now += 1;
    learn(mac(4), 1);
    clock.now += 1;
    learn(mac(3), 0, NOT_LEARNED_FULL);
    assert.equal(fdb.lookupHL(...mac(3), clock.now), 0);
    assert.ok(maps.has(...mac(3)), 'written into the kernel map');
    assert.equal(fdb.count, 3);
    // The Fdb evicted the oldest of the port with the most entries (1): mac(2), deleted from the kernel too.
    assert.ok(!maps.has(...mac(2)));
    assert.ok(maps.has(...mac(1)) && maps.has(...mac(4)));
  });

  it('a station refused for the per-port limit (LIMITED) is neither learned nor written; a LEARNED one over the limit is deleted', () => {
    const { fdb, maps, clock, learn } = setUp({ portLimit: 1 });
    learn(mac(1), 0);
    learn(mac(2), 0, NOT_LEARNED_LIMITED);
    assert.equal(fdb.lookupHL(...mac(2), clock.now), -1);
    assert.ok(!maps.has(...mac(2)));
    learn(mac(3), 0); // the program did not know yet that the port was at its limit
    assert.ok(!maps.has(...mac(3)));
    assert.equal(fdb.refused, 2);
  });

  it('a victim the program evicted that the table of record still holds is written back; config\'s victim becomes unknown', () => {
    const { fdb, maps, cfg, clock, learn } = setUp();
    learn(mac(1), 0);
    maps.kernel.delete(`${mac(1)[0]}:${mac(1)[1]}`); // the program deleted it to make room
    learn(mac(2), 1, LEARNED, mac(1));
    assert.equal(cfg.victim, -1n);
    assert.equal(fdb.lookupHL(...mac(1), clock.now), 0);
    assert.deepEqual(maps.kernel.get(`${mac(1)[0]}:${mac(1)[1]}`)?.port, 0);
  });

  it('a kernel map fuller than the table of record (setFdb fails) is walked at the timer, not at each failed write, and at most once per interval', () => {
    const { maps, clock, sync, learn } = setUp({ size: 4096 });
    maps.programLearns(...mac(9), 3, 0); // a stale entry the table does not hold
    maps.room = 1;
    // A storm of stations the map has no room for: the old code walked the whole map for each.
    for (let n = 100; n < 1100; n++) learn(mac(n), 0, NOT_LEARNED_FULL);
    assert.equal(maps.walks, 0, 'no walk per failed write');
    const due = sync.timer(clock.now);
    assert.equal(maps.walks, 1, 'one walk at the timer');
    assert.ok(!maps.has(...mac(9)), 'the stale entry went');
    // More failures at once: asked again, walked only when the interval has passed, and the timer says when.
    for (let n = 2000; n < 3000; n++) learn(mac(n), 1, NOT_LEARNED_FULL);
    assert.equal(due, clock.now + 300_000, 'nothing owed after the walk: next due is the aging');
    clock.now += 10;
    const again = sync.timer(clock.now);
    assert.equal(maps.walks, 1, 'not twice within the interval');
    assert.equal(again, clock.now - 10 + RESYNC_INTERVAL_MS, 'the timer is due again when the interval ends');
    clock.now = again;
    sync.timer(clock.now);
    assert.equal(maps.walks, 2);
  });
});

describe('kernel FDB sync: the victim in config', () => {
  it('names the entry a new station costs while the table is full, writes config only when that changes, and 0 when not full', () => {
    const { fdb, maps, cfg, clock, sync, learn } = setUp({ size: 2 });
    learn(mac(1), 0);
    sync.syncVictim();
    assert.equal(maps.configs.length, 0, 'not full: victim stays 0, nothing written');
    clock.now += 1;
    learn(mac(2), 0);
    sync.syncVictim();
    const [hi, lo] = fdb.nextVictimKey(clock.now)!;
    assert.equal(cfg.victim, (BigInt(hi) << 32n) | BigInt(lo >>> 0));
    assert.equal(maps.configs.length, 1);
    assert.equal(maps.configs[0].victim, cfg.victim);
    sync.syncVictim();
    assert.equal(maps.configs.length, 1, 'unchanged: not written again');
    fdb.flushPort(0);
    sync.syncVictim();
    assert.equal(cfg.victim, 0n);
    assert.equal(maps.configs.length, 2);
  });
});

describe('kernel FDB sync: after lost learn events', () => {
  it('at the timer, a grown lost-events count walks the kernel map and deletes what the table of record does not hold and was not written within the interval', () => {
    const { fdb, maps, cfg, clock, sync, learn } = setUp();
    learn(mac(1), 0);
    learn(mac(2, 10), 1);
    // Learned by the program a while ago, their events lost: the table of record never heard of them.
    maps.programLearns(...mac(3), 2, clock.now - RESYNC_INTERVAL_MS - 1);
    maps.programLearns(...mac(4, 10), 3, clock.now - 5 * RESYNC_INTERVAL_MS);
    // Learned just now: its event may still be in the ring (a storm fills the map's headroom with those).
    maps.programLearns(...mac(6), 1, clock.now - 10);
    maps.eventsLost = 2;
    sync.timer(clock.now);
    assert.equal(maps.walks, 1);
    assert.deepEqual(
      [...maps.kernel.keys()].sort(),
      [`${mac(1)[0]}:${mac(1)[1]}`, `${mac(2, 10)[0]}:${mac(2, 10)[1]}`, `${mac(6)[0]}:${mac(6)[1]}`].sort(),
      'the stale ones went, the one written within the interval stays',
    );
    assert.equal(fdb.count, 2);
    assert.equal(cfg.victim, -1n, 'the program may have taken the victim in a lost event');
  });

  it('no walk while the count stays the same; another loss walks again', () => {
    const { maps, clock, sync } = setUp();
    sync.timer(clock.now);
    assert.equal(maps.walks, 0, 'nothing lost');
    maps.eventsLost = 1;
    sync.timer(clock.now);
    sync.timer(clock.now);
    assert.equal(maps.walks, 1);
    maps.eventsLost = 3;
    maps.programLearns(...mac(5), 0, clock.now - 1);
    sync.timer(clock.now);
    assert.equal(maps.walks, 1, 'at most one walk per interval');
    clock.now += RESYNC_INTERVAL_MS;
    sync.timer(clock.now);
    assert.equal(maps.walks, 2);
    assert.ok(!maps.has(...mac(5)));
  });

  it('after learn events the lost count is due for a read within the interval; with none, never', () => {
    const { clock, sync, learn } = setUp();
    assert.equal(sync.checkDue(), Infinity);
    sync.timer(clock.now);
    learn(mac(1), 0);
    assert.equal(sync.checkDue(), clock.now + RESYNC_INTERVAL_MS);
    sync.timer(clock.now + 5);
    assert.equal(sync.checkDue(), Infinity, 'read: nothing owed until the next event');
  });

  it('the timer ages the table of record, and what ages out leaves the kernel map, and says when it is next due', () => {
    const { maps, clock, sync, learn } = setUp();
    learn(mac(1), 0);
    const due = sync.timer(clock.now);
    assert.equal(due, clock.now + 300_000);
    sync.timer(due);
    assert.ok(!maps.has(...mac(1)));
  });
});
