// The learn ring's reader on a plain buffer laid out as the kernel maps a
// BPF ringbuf: consumer and producer positions, and the data area twice in a
// row (the second copy is what lets a record that crosses the end be read in
// one piece). The producer below does what bpf_ringbuf_reserve/submit/discard
// do to those bytes: the header (length | BUSY) at reserve, the producer
// position moved on at once, BUSY cleared (DISCARD set) at commit.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LAYOUT } from '../../src/datapath/kernel/layout.js';
import { BUSY, DISCARD } from '../../src/datapath/kernel/bpf-ring.js';
import { LEARNED, LearnRing, type LearnSink, NOT_LEARNED_FULL } from '../../src/datapath/kernel/learn-ring.js';

const HDR = 8;
const EV = LAYOUT.vsw_learn_event;

interface Event {
  key: bigint;
  port: number;
  kind: number;
  seenNs: bigint;
  evicted: bigint;
}

/** A ring of `size` data bytes with both positions at `start`, and a producer that writes it as the kernel does. */
function plainRing(size: number, start = 0) {
  const consumer = new BigUint64Array([BigInt(start)]);
  const producer = new BigUint64Array([BigInt(start)]);
  const data = new ArrayBuffer(2 * size);
  const bytes = new Uint8Array(data);
  const ring = new LearnRing(-1, size, { consumer, producer, data, dataOffset: 0 });
  const mask = size - 1;
  // One byte at ring position pos, in both copies of the data pages.
  const put = (pos: number, b: number): void => {
    bytes[pos & mask] = b;
    bytes[(pos & mask) + size] = b;
  };
  const putU32 = (pos: number, x: number): void => {
    for (let i = 0; i < 4; i++) put(pos + i, (x >>> (8 * i)) & 0xff);
  };
  const putU64 = (pos: number, x: bigint): void => {
    putU32(pos, Number(x & 0xffffffffn));
    putU32(pos + 4, Number(x >> 32n));
  };
  return {
    ring,
    consumer,
    producer,
    /** bpf_ringbuf_reserve + the record's bytes: returns where its header is. */
    reserve(e: Event): number {
      const at = Number(producer[0]);
      putU32(at, EV.size | BUSY);
      putU32(at + 4, 0);
      const rec = at + HDR;
      putU64(rec + EV.fields.mac, e.key);
      putU32(rec + EV.fields.port, e.port);
      putU32(rec + EV.fields.kind, e.kind);
      putU64(rec + EV.fields.seen_ns, e.seenNs);
      putU64(rec + EV.fields.evicted, e.evicted);
      producer[0] = BigInt(at + ((EV.size + HDR + 7) & ~7));
      return at;
    },
    /** bpf_ringbuf_submit (or _discard). */
    commit(at: number, discard = false): void {
      putU32(at, EV.size | (discard ? DISCARD : 0));
    },
  };
}

/** What onLearn was told, as the key back in the header's u64 form. */
function collect(): LearnSink & { got: Array<{ key: bigint; port: number; kind: number; seenMs: number; evicted: bigint }> } {
  const got: Array<{ key: bigint; port: number; kind: number; seenMs: number; evicted: bigint }> = [];
  const key = (hi: number, lo: number): bigint => (BigInt(hi) << 32n) | BigInt(lo >>> 0);
  return {
    got,
    onLearn(hi, lo, port, kind, seenMs, evictedHi, evictedLo) {
      got.push({ key: key(hi, lo), port, kind, seenMs, evicted: key(evictedHi, evictedLo) });
    },
  };
}

const event = (n: number, extra: Partial<Event> = {}): Event => ({
  key: (BigInt(n) << 48n) | 0x0200_0000_0000n | BigInt(n),
  port: n,
  kind: LEARNED,
  seenNs: 5_000_000_000n + BigInt(n) * 1_000_000n,
  evicted: 0n,
  ...extra,
});

describe('learn ring reader (plain buffer)', () => {
  it('reads every field of a record, a seen time above 2^32 ns and an evicted key included', () => {
    const r = plainRing(256);
    const e = event(7, { kind: NOT_LEARNED_FULL, evicted: (4094n << 48n) | 0xfedcba987654n });
    r.commit(r.reserve(e));
    const sink = collect();
    assert.equal(r.ring.drain(sink), 1);
    assert.deepEqual(sink.got, [{ key: e.key, port: 7, kind: NOT_LEARNED_FULL, seenMs: 5007, evicted: e.evicted }]);
    assert.equal(r.consumer[0], r.producer[0]);
  });

  it('records across the end of the ring come whole, in order, and the consumer follows the producer', () => {
    const size = 256;
    // 40 bytes a record: starting 24 bytes before the end of the third lap, the first record crosses it.
    const start = 3 * size - 24;
    const r = plainRing(size, start);
    const sink = collect();
    const sent: Event[] = [];
    // Six records (240 bytes, what the ring holds) at a time; the second batch crosses the end again.
    for (let batch = 0; batch < 2; batch++) {
      for (let i = 1; i <= 6; i++) {
        const e = event(batch * 6 + i);
        sent.push(e);
        r.commit(r.reserve(e));
      }
      assert.equal(r.ring.drain(sink), 6);
    }
    assert.deepEqual(sink.got.map((g) => g.key), sent.map((e) => e.key));
    assert.deepEqual(sink.got.map((g) => g.port), sent.map((e) => e.port));
    assert.deepEqual(sink.got.map((g) => g.seenMs), sent.map((e) => Number(e.seenNs) / 1e6));
    assert.equal(r.consumer[0], BigInt(start + 12 * 40));
  });

  it('a record not yet committed (BUSY) stops the reader there, even with committed records after it', () => {
    const r = plainRing(256);
    r.commit(r.reserve(event(1)));
    const busy = r.reserve(event(2));
    r.commit(r.reserve(event(3)));
    const sink = collect();
    assert.equal(r.ring.drain(sink), 1);
    assert.deepEqual(sink.got.map((g) => g.port), [1]);
    assert.equal(r.consumer[0], BigInt(busy), 'the consumer stops at the busy record');
    assert.equal(r.ring.drain(sink), 0, 'still busy: nothing more');
    r.commit(busy);
    assert.equal(r.ring.drain(sink), 2);
    assert.deepEqual(sink.got.map((g) => g.port), [1, 2, 3]);
    assert.equal(r.consumer[0], r.producer[0]);
  });

  it('a discarded record is skipped, and the consumer moves past it', () => {
    const r = plainRing(256, 200);
    r.commit(r.reserve(event(1)));
    r.commit(r.reserve(event(2)), true);
    r.commit(r.reserve(event(3)));
    const sink = collect();
    assert.equal(r.ring.drain(sink), 2);
    assert.deepEqual(sink.got.map((g) => g.port), [1, 3]);
    assert.equal(r.consumer[0], r.producer[0]);
  });

  it('an empty ring hands nothing and leaves the consumer where it is', () => {
    const r = plainRing(256, 64);
    const sink = collect();
    assert.equal(r.ring.drain(sink), 0);
    assert.equal(r.consumer[0], 64n);
  });

  it('drains only what was committed on entry: a producer that never stops (a storm) cannot keep it', () => {
    const size = 4096;
    const r = plainRing(size);
    for (let i = 1; i <= 10; i++) r.commit(r.reserve(event(i)));
    const entered = r.producer[0];
    let produced = 10;
    // Each record read, the program commits another (as it does at line rate): the old reader never returned.
    const got: number[] = [];
    const sink: LearnSink = {
      onLearn(_hi, _lo, port) {
        got.push(port);
        if (produced < 60) r.commit(r.reserve(event(++produced)));
      },
    };
    assert.equal(r.ring.drain(sink), 10);
    assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(r.consumer[0], entered, 'stopped at the producer position seen on entry');
    assert.ok(r.ring.pending(), 'what came since waits for the next turn');
    assert.equal(r.ring.drain(sink), 10, 'the next turn reads the next ten, again bounded');
    assert.deepEqual(got.slice(10), [11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
  });
});
