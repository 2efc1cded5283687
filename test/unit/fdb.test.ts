import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fdb } from '../../src/core/fdb.js';
import { macFrom, parseMac } from '../../src/core/mac.js';
import { prng, randomUnicastMac } from '../helpers/memports.js';

const A = parseMac('02:00:00:00:00:0a');
const B = parseMac('02:00:00:00:00:0b');
const C = parseMac('02:00:00:00:00:0c');

test('fdb: learn then lookup; unknown MAC is -1; counters', () => {
  const fdb = new Fdb({ size: 16, agingMs: 10_000, maxPorts: 4 });
  assert.equal(fdb.lookup(A, 0), -1);
  fdb.learn(A, 1, 0);
  fdb.learn(B, 2, 0);
  assert.equal(fdb.lookup(A, 0), 1);
  assert.equal(fdb.lookup(B, 0), 2);
  assert.equal(fdb.lookup(C, 0), -1);
  assert.equal(fdb.count, 2);
  assert.equal(fdb.learned, 2);
  fdb.learn(A, 1, 5); // refresh: no new entry
  assert.equal(fdb.count, 2);
  assert.equal(fdb.learned, 2);
  assert.equal(fdb.moved, 0);
  fdb.validate();
});

test('fdb: a MAC learned on another port moves there and counts as moved', () => {
  const fdb = new Fdb({ size: 16, agingMs: 10_000, maxPorts: 4 });
  fdb.learn(A, 1, 0);
  fdb.learn(A, 3, 10);
  assert.equal(fdb.lookup(A, 10), 3);
  assert.equal(fdb.moved, 1);
  assert.equal(fdb.count, 1);
  assert.equal(fdb.countOf(1), 0);
  assert.equal(fdb.countOf(3), 1);
  fdb.validate();
});

test('fdb: an entry is found before aging and absent at/after aging, even before expire()', () => {
  const fdb = new Fdb({ size: 16, agingMs: 10_000, maxPorts: 4 });
  fdb.learn(A, 1, 1_000);
  assert.equal(fdb.lookup(A, 10_999), 1);
  assert.equal(fdb.lookup(A, 11_000), -1);
  assert.equal(fdb.count, 1, 'still held until expire() runs');
  assert.equal(fdb.dump(11_000).length, 0, 'dead entries are not dumped');
});

test('fdb: refresh rewrites the time only when it is >= 1 s old', () => {
  const fdb = new Fdb({ size: 16, agingMs: 10_000, maxPorts: 4 });
  fdb.learn(A, 1, 0);
  fdb.learn(A, 1, 999); // too recent: not refreshed
  assert.equal(fdb.lookup(A, 9_999), 1);
  assert.equal(fdb.lookup(A, 10_000), -1);
  fdb.learn(A, 1, 1_000); // refreshed
  assert.equal(fdb.lookup(A, 10_999), 1);
  assert.equal(fdb.lookup(A, 11_000), -1);
  // a dead entry seen again on the same port comes back to life
  fdb.learn(A, 1, 20_000);
  assert.equal(fdb.lookup(A, 20_000), 1);
  fdb.validate();
});

test('fdb: expire() removes aged entries and returns the next deadline, >= now + 1000, Infinity when empty', () => {
  const fdb = new Fdb({ size: 16, agingMs: 10_000, maxPorts: 4 });
  assert.equal(fdb.expire(0), Infinity);
  fdb.learn(A, 0, 0);
  fdb.learn(B, 1, 3_000);
  fdb.learn(C, 2, 9_500);
  assert.equal(fdb.expire(1_000), 10_000, 'A expires at 0 + 10000');
  assert.equal(fdb.expire(10_000), 13_000, 'A gone, B next');
  assert.equal(fdb.expired, 1);
  assert.equal(fdb.lookup(A, 10_000), -1);
  assert.equal(fdb.count, 2);
  assert.equal(fdb.expire(13_000), 19_500);
  assert.equal(fdb.expire(19_000), 20_000, 'due at 19500, but never sooner than now + 1000');
  assert.equal(fdb.expire(19_500), Infinity, 'empty');
  assert.equal(fdb.count, 0);
  assert.equal(fdb.expired, 3);
  fdb.validate();
});

test('fdb: expire() on per-port LRU lists handles refreshed and moved entries', () => {
  const fdb = new Fdb({ size: 64, agingMs: 10_000, maxPorts: 2 });
  const macs = Array.from({ length: 20 }, (_, k) => 0x020000000000 + k);
  macs.forEach((m, k) => fdb.learn(m, k % 2, k * 2_000)); // 0..38000
  fdb.learn(macs[0], 0, 39_000); // refreshed: now the newest of port 0
  fdb.learn(macs[2], 1, 39_000); // moved to port 1
  fdb.validate();
  const next = fdb.expire(44_500); // everything last seen at <= 34500 is gone
  const alive = macs.filter((m) => fdb.lookup(m, 44_500) >= 0);
  assert.deepEqual(alive, [macs[0], macs[2], macs[18], macs[19]]);
  assert.equal(fdb.count, alive.length);
  assert.equal(fdb.expired, 16);
  assert.equal(next, 46_000); // macs[18] learned at 36000
  fdb.validate();
});

test('fdb: flushPort removes exactly that port\'s entries', () => {
  const fdb = new Fdb({ size: 64, agingMs: 10_000, maxPorts: 4 });
  for (let k = 0; k < 30; k++) fdb.learn(0x020000000100 + k, k % 3, 0);
  assert.equal(fdb.flushPort(1), 10);
  assert.equal(fdb.flushed, 10);
  assert.equal(fdb.count, 20);
  for (let k = 0; k < 30; k++) assert.equal(fdb.lookup(0x020000000100 + k, 0), k % 3 === 1 ? -1 : k % 3);
  fdb.validate();
});

test('fdb: bounded; a port flooding 10x size random sources never evicts another port\'s entries', () => {
  const N = 256;
  const fdb = new Fdb({ size: N, agingMs: 300_000, maxPorts: 4 });
  const rand = prng(42);
  const bMacs = Array.from({ length: 40 }, () => randomUnicastMac(rand));
  const cMacs = Array.from({ length: 3 }, () => randomUnicastMac(rand));
  bMacs.forEach((m) => fdb.learn(m, 1, 0));
  cMacs.forEach((m) => fdb.learn(m, 2, 0));
  let now = 0;
  for (let k = 0; k < 10 * N; k++) {
    fdb.learn(randomUnicastMac(rand), 0, now);
    if (k % 97 === 0) now += 10; // time passes, nobody ages out
    assert.ok(fdb.count <= N);
    if (k % 500 === 0) fdb.validate();
  }
  assert.equal(fdb.count, N);
  assert.equal(fdb.countOf(0), N - 43);
  for (const m of bMacs) assert.equal(fdb.lookup(m, now), 1);
  for (const m of cMacs) assert.equal(fdb.lookup(m, now), 2);
  assert.equal(fdb.evicted, fdb.learned - N);
  fdb.validate();
});

test('fdb: when full, evicts the oldest entry of the port with the most entries', () => {
  const fdb = new Fdb({ size: 6, agingMs: 300_000, maxPorts: 3 });
  const m = (k: number) => 0x020000000000 + k;
  fdb.learn(m(1), 0, 0); // oldest overall, but port 0 is small
  fdb.learn(m(2), 1, 1_000);
  fdb.learn(m(3), 1, 2_000);
  fdb.learn(m(4), 1, 3_000);
  fdb.learn(m(5), 2, 4_000);
  fdb.learn(m(6), 1, 5_000);
  fdb.learn(m(2), 1, 6_000); // refresh: m(3) is now port 1's least recent
  fdb.learn(m(7), 2, 7_000); // full: port 1 has 4 -> evict m(3)
  assert.equal(fdb.evicted, 1);
  assert.equal(fdb.lookup(m(3), 7_000), -1);
  for (const k of [1, 2, 4, 5, 6, 7]) assert.notEqual(fdb.lookup(m(k), 7_000), -1, `m(${k})`);
  fdb.validate();
});

test('fdb: when full, a dead entry is freed (as expired) before any live one is evicted', () => {
  const fdb = new Fdb({ size: 4, agingMs: 10_000, maxPorts: 2 });
  const m = (k: number) => 0x020000000000 + k;
  fdb.learn(m(1), 1, 0); // dead from 10000 on
  fdb.learn(m(2), 0, 5_000);
  fdb.learn(m(3), 0, 6_000);
  fdb.learn(m(4), 0, 7_000);
  fdb.learn(m(5), 0, 12_000);
  assert.equal(fdb.evicted, 0);
  assert.equal(fdb.expired, 1);
  for (const k of [2, 3, 4, 5]) assert.equal(fdb.lookup(m(k), 12_000), 0);
  fdb.validate();
});

test('fdb: randomized learn/delete/lookup agrees with a reference Map (seeded), invariants hold', () => {
  const size = 512;
  const fdb = new Fdb({ size, agingMs: 1e12, maxPorts: 8 });
  const ref = new Map<number, number>();
  const rand = prng(0xc0ffee);
  // A pool of keys somewhat bigger than the table, plus near-identical keys.
  const pool: number[] = [];
  for (let k = 0; k < 700; k++) pool.push(randomUnicastMac(rand));
  for (let k = 0; k < 300; k++) pool.push(0x020000000000 + k * 0x10000); // differ in one middle octet only
  for (let op = 0; op < 60_000; op++) {
    const mac = pool[Math.floor(rand() * pool.length)];
    const r = rand();
    if (r < 0.45 && (ref.size < size || ref.has(mac))) {
      const port = Math.floor(rand() * 8);
      fdb.learn(mac, port, op);
      ref.set(mac, port);
    } else if (r < 0.8) {
      assert.equal(fdb.delete(mac), ref.delete(mac));
    } else {
      assert.equal(fdb.lookup(mac, op), ref.get(mac) ?? -1);
    }
    if (op % 5000 === 0) {
      fdb.validate();
      for (const [k, v] of ref) assert.equal(fdb.lookup(k, op), v);
    }
  }
  assert.equal(fdb.count, ref.size);
  for (const k of pool) assert.equal(fdb.lookup(k, 60_000), ref.get(k) ?? -1);
  fdb.validate();
  assert.equal(fdb.evicted, 0);
});

test('fdb: backward-shift deletion in one cluster that wraps around the end of the index', () => {
  const fdb = new Fdb({ size: 16, agingMs: 1e12, maxPorts: 2 });
  const cap = fdb.capacity;
  assert.equal(cap, 32);
  const hash = (m: number) => fdb.homeSlot(m);
  // Keys whose home slot is one of the last two slots: their cluster wraps to slot 0.
  const rand = prng(7);
  const keys: number[] = [];
  while (keys.length < 12) {
    const m = randomUnicastMac(rand);
    if (hash(m) >= cap - 2) keys.push(m);
  }
  // ... and a few whose home is 0..2, which sit inside the wrapped cluster.
  while (keys.length < 16) {
    const m = randomUnicastMac(rand);
    if (hash(m) <= 2) keys.push(m);
  }
  keys.forEach((m, k) => fdb.learn(m, k & 1, 0));
  fdb.validate();
  assert.ok(fdb.maxProbe() >= 12, `long probe sequence expected, got ${fdb.maxProbe()}`);
  const remaining = new Set(keys);
  const order = [...keys].sort(() => rand() - 0.5);
  for (const m of order) {
    assert.equal(fdb.delete(m), true);
    remaining.delete(m);
    fdb.validate();
    for (const k of keys) assert.equal(fdb.lookup(k, 0) >= 0, remaining.has(k));
  }
  assert.equal(fdb.count, 0);
});

test('fdb: dump/forEach give (mac, vlan, port, age) of live entries', () => {
  const fdb = new Fdb({ size: 16, agingMs: 10_000, maxPorts: 4 });
  fdb.learn(B, 2, 1_000);
  fdb.learn(A, 2, 2_000);
  fdb.learn(C, 0, 500);
  assert.deepEqual(fdb.dump(3_000), [
    { mac: C, vlan: 0, port: 0, ageMs: 2_500 },
    { mac: A, vlan: 0, port: 2, ageMs: 1_000 },
    { mac: B, vlan: 0, port: 2, ageMs: 2_000 },
  ]);
  assert.deepEqual(fdb.dumpFormatted(10_600), [
    { mac: '02:00:00:00:00:0a', vlan: 0, port: 2, ageMs: 8_600 },
    { mac: '02:00:00:00:00:0b', vlan: 0, port: 2, ageMs: 9_600 },
  ]);
});

test('fdb: the key is (VLAN, MAC): one MAC in two VLANs is two entries on their own ports, not a move', () => {
  const fdb = new Fdb({ size: 16, agingMs: 10_000, maxPorts: 4 });
  fdb.learn(A, 1, 0, 10);
  fdb.learn(A, 2, 0, 4094);
  assert.equal(fdb.moved, 0);
  assert.equal(fdb.count, 2);
  assert.equal(fdb.lookup(A, 0, 10), 1);
  assert.equal(fdb.lookup(A, 0, 4094), 2);
  assert.equal(fdb.lookup(A, 0), -1, 'VLAN 0 knows nothing');
  const gone: Array<[number, number]> = [];
  fdb.onRemove = (hi, lo) => gone.push([hi, lo]);
  assert.equal(fdb.delete(A, 4094), true);
  assert.deepEqual(gone, [[(4094 << 16) | 0x0200, 0x0a]], 'the key told to the kernel datapath carries the VID');
  assert.deepEqual(fdb.dump(0).map((r) => [r.vlan, r.port]), [[10, 1]]);
  fdb.validate();
});

test('fdb: constructor validates options; capacity is a power of two >= 2 x size', () => {
  assert.equal(new Fdb().size, 65536);
  assert.equal(new Fdb().capacity, 131072);
  assert.equal(new Fdb({ size: 1000 }).capacity, 2048);
  assert.throws(() => new Fdb({ size: 0 }), RangeError);
  assert.throws(() => new Fdb({ agingMs: 0 }), RangeError);
  assert.throws(() => new Fdb({ maxPorts: 0 }), RangeError);
  assert.throws(() => new Fdb({ maxPorts: 4 }).learn(A, 4, 0), RangeError);
  assert.equal(new Fdb().portLimit, 0);
  assert.throws(() => new Fdb({ portLimit: -1 }), RangeError);
  assert.throws(() => new Fdb({ hashSecret: 2 ** 32 }), RangeError);
  assert.throws(() => new Fdb({ hashSecret: 1.5 }), RangeError);
});

// ---- the hash secret ----------------------------------------------------------

/** The index hash before it had a secret: Fibonacci hashing of lo ^ hi * C, top bits. */
const OLD_MULTIPLIER = 0x9e3779b1;
const OLD_HI_MULTIPLIER = 0x85ebca6b;

/** Inverse of an odd number modulo 2^32 (Newton's iteration). */
function inverse32(a: number): number {
  let x = a; // correct to 3 bits for odd a
  for (let k = 0; k < 5; k++) x = Math.imul(x, 2 - Math.imul(a, x));
  return x;
}

test('fdb: 2,000 MACs crafted (in one pass) to share a slot under the old unkeyed hash do not form a long probe chain under a secret', () => {
  const size = 4096;
  const fdb = new Fdb({ size, agingMs: 1e12, maxPorts: 2, hashSecret: 0x5eed1234 });
  const bits = Math.log2(fdb.capacity);
  const shift = 32 - bits;
  const oldHash = (hi: number, lo: number) => Math.imul(lo ^ Math.imul(hi, OLD_HI_MULTIPLIER), OLD_MULTIPLIER) >>> shift;
  // Invert the old hash: every x below 2^shift has top bits 0, so its preimage lands in slot 0.
  const inv = inverse32(OLD_MULTIPLIER);
  const hi = 0x0200; // 02:00:…: locally administered unicast
  const macs: number[] = [];
  for (let x = 0; x < 2000; x++) {
    const lo = Math.imul(x, inv) ^ Math.imul(hi, OLD_HI_MULTIPLIER);
    assert.equal(oldHash(hi, lo), 0);
    macs.push(macFrom(hi, lo));
  }
  assert.equal(new Set(macs).size, 2000);
  macs.forEach((m, k) => fdb.learn(m, k & 1, 0));
  fdb.validate();
  assert.equal(fdb.count, 2000);
  // Under the old hash this chain was 2000 slots long; random placement at load 1/4 stays short.
  assert.ok(fdb.maxProbe() <= 32, `longest probe sequence ${fdb.maxProbe()}`);
  for (const [k, m] of macs.entries()) assert.equal(fdb.lookup(m, 0), k & 1);
});

test('fdb: MACs that share one home slot under secret A spread out under secret B', () => {
  const size = 1024;
  const a = new Fdb({ size, agingMs: 1e12, maxPorts: 2, hashSecret: 0xa5a5a5a5 });
  const b = new Fdb({ size, agingMs: 1e12, maxPorts: 2, hashSecret: 0x3c3c3c3c });
  // Find, by trying, 300 MACs whose home slot under A is 0 (what an attacker who knew A would do).
  const rand = prng(99);
  const colliding: number[] = [];
  while (colliding.length < 300) {
    const m = randomUnicastMac(rand);
    if (a.homeSlot(m) === 0) colliding.push(m);
  }
  colliding.forEach((m) => a.learn(m, 0, 0));
  colliding.forEach((m) => b.learn(m, 0, 0));
  a.validate();
  b.validate();
  assert.ok(a.maxProbe() >= 300, `under A they form one chain (${a.maxProbe()})`);
  assert.ok(b.maxProbe() <= 16, `under B the longest probe sequence is ${b.maxProbe()}`);
  const slotsB = new Set(colliding.map((m) => b.homeSlot(m)));
  assert.ok(slotsB.size >= 250, `under B they use ${slotsB.size} home slots`);
});

// ---- the per-port learning limit ------------------------------------------------

test('fdb: portLimit: a port flooding random sources holds exactly the limit, refused counts the rest, other ports keep every entry', () => {
  const N = 100;
  const fdb = new Fdb({ size: 1024, agingMs: 300_000, maxPorts: 4, portLimit: N });
  const rand = prng(2024);
  const port2 = Array.from({ length: 50 }, () => randomUnicastMac(rand));
  const port3 = Array.from({ length: 3 }, () => randomUnicastMac(rand));
  port2.forEach((m) => fdb.learn(m, 2, 0));
  port3.forEach((m) => fdb.learn(m, 3, 0));
  const flood = new Set<number>();
  while (flood.size < 1000) flood.add(randomUnicastMac(rand));
  const flooded = [...flood];
  let now = 0;
  for (const [k, m] of flooded.entries()) {
    fdb.learn(m, 1, now);
    if (k % 97 === 0) now += 10; // time passes, nobody ages out
  }
  fdb.validate();
  assert.equal(fdb.countOf(1), N);
  assert.equal(fdb.refused, 1000 - N);
  assert.equal(fdb.count, N + 53);
  assert.equal(fdb.evicted, 0);
  for (const m of port2) assert.equal(fdb.lookup(m, now), 2);
  for (const m of port3) assert.equal(fdb.lookup(m, now), 3);
  // The first N were learned, the rest were not.
  for (const m of flooded.slice(0, N)) assert.equal(fdb.lookup(m, now), 1);
  for (const m of flooded.slice(N)) assert.equal(fdb.lookup(m, now), -1);
  // Another port still learns new MACs.
  const late = randomUnicastMac(rand);
  fdb.learn(late, 2, now);
  assert.equal(fdb.lookup(late, now), 2);
});

test('fdb: portLimit: a full port still refreshes its entries, its dead oldest entry makes room, and a MAC may move onto it', () => {
  const fdb = new Fdb({ size: 16, agingMs: 10_000, maxPorts: 2, portLimit: 2 });
  const m = (k: number) => 0x020000000000 + k;
  fdb.learn(m(1), 0, 0);
  fdb.learn(m(2), 0, 1_000);
  fdb.learn(m(3), 0, 2_000); // full: refused
  assert.equal(fdb.refused, 1);
  assert.equal(fdb.lookup(m(3), 2_000), -1);
  fdb.learn(m(1), 0, 5_000); // refresh: m(1) now lives until 15 000
  assert.equal(fdb.lookup(m(1), 12_000), 0);
  assert.equal(fdb.lookup(m(2), 12_000), -1, 'm(2) aged out at 11 000');
  fdb.learn(m(3), 0, 12_000); // m(2) is dead: it makes room (counted as expired), m(3) is learned
  assert.equal(fdb.refused, 1);
  assert.equal(fdb.expired, 1);
  assert.equal(fdb.lookup(m(3), 12_000), 0);
  assert.equal(fdb.countOf(0), 2);
  // A MAC learned on port 1 shows up on full port 0: it moves, as on the Linux bridge.
  fdb.learn(m(4), 1, 12_000);
  fdb.learn(m(4), 0, 12_500);
  assert.equal(fdb.lookup(m(4), 12_500), 0);
  assert.equal(fdb.moved, 1);
  assert.equal(fdb.countOf(0), 3);
  assert.equal(fdb.countOf(1), 0);
  assert.equal(fdb.refused, 1);
  fdb.validate();
});

test('fdb: nextVictim names the entry the next new station evicts (the kernel datapath evicts it in the same frame), -1 while there is room', () => {
  const rand = prng(7);
  const fdb = new Fdb({ size: 32, agingMs: 300_000, maxPorts: 4 });
  let now = 1000;
  while (fdb.count < 32) {
    assert.equal(fdb.nextVictim(now), -1, 'a victim named while the table has room');
    fdb.learn(randomUnicastMac(rand), Math.floor(rand() * 4), (now += 10));
  }
  for (let i = 0; i < 200; i++) {
    now += 10;
    const victim = fdb.nextVictim(now);
    assert.notEqual(victim, -1);
    assert.ok(fdb.lookup(victim, now) >= 0, 'the victim is in the table');
    const mac = randomUnicastMac(rand);
    fdb.learn(mac, Math.floor(rand() * 4), now);
    assert.equal(fdb.lookup(victim, now), -1, `step ${i}: the named victim is still there`);
    assert.ok(fdb.lookup(mac, now) >= 0);
  }
});

test('fdb: atPortLimit says when a port holds its limit', () => {
  const fdb = new Fdb({ size: 64, agingMs: 300_000, maxPorts: 2, portLimit: 3 });
  for (let i = 1; i <= 3; i++) {
    assert.equal(fdb.atPortLimit(0), false);
    fdb.learn(parseMac(`02:00:00:00:00:0${i}`), 0, 1000);
  }
  assert.equal(fdb.atPortLimit(0), true);
  assert.equal(fdb.atPortLimit(1), false);
  assert.equal(new Fdb({ size: 64, maxPorts: 2 }).atPortLimit(0), false, 'no limit: never at it');
});
