// The status word of a ring slot is shared with the kernel, which may run on
// another CPU: it must be read and written with Atomics (acquire/release
// order on any CPU), never with a plain typed-array access, which orders
// nothing on arm64.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Batch } from '../../src/core/batch.js';
import { FRAME_SIZE, TP_STATUS_KERNEL, TP_STATUS_SEND_REQUEST } from '../../src/dataplane/ring.js';
import { readRx, releaseRx } from '../../src/dataplane/rx-ring.js';
import { TxRings } from '../../src/dataplane/tx-ring.js';
import { fillRx, frame, memoryRings, newDrops } from '../helpers/memrings.js';

/** Run `fn` with Atomics.load/store recording the word index (and value stored) of each call on `u32`. */
function recordAtomics(u32: Uint32Array, fn: () => void): { loads: number[]; stores: Array<[number, number]> } {
  const loads: number[] = [];
  const stores: Array<[number, number]> = [];
  const { load, store } = Atomics;
  Atomics.load = ((ta: Uint32Array, i: number) => {
    if (ta === u32) loads.push(i);
    return load(ta, i);
  }) as typeof Atomics.load;
  Atomics.store = ((ta: Uint32Array, i: number, v: number) => {
    if (ta === u32) stores.push([i, v]);
    return store(ta, i, v);
  }) as typeof Atomics.store;
  try {
    fn();
  } finally {
    Atomics.load = load;
    Atomics.store = store;
  }
  return { loads, stores };
}

test('ring status: RX slots are read and given back with Atomics.load/Atomics.store on their status word', () => {
  const rings = memoryRings();
  fillRx(rings, 0, [{ frame: frame(60) }, { frame: frame(61) }, { frame: frame(62) }]);
  const batch = new Batch(8, rings.mem);
  const status = (i: number) => (rings.rxBase[0] + i * FRAME_SIZE) >>> 2;
  const read = recordAtomics(rings.u32, () => assert.equal(readRx(rings, 0, batch, newDrops()), 3));
  assert.deepEqual(read.loads, [status(0), status(1), status(2), status(3)], 'three frames and the empty slot after them');
  const released = recordAtomics(rings.u32, () => releaseRx(rings, batch));
  assert.deepEqual(released.stores, [0, 1, 2].map((i) => [status(i), TP_STATUS_KERNEL]));
});

test('ring status: a TX slot is checked with Atomics.load and handed to the kernel with Atomics.store', () => {
  const rings = memoryRings();
  fillRx(rings, 0, [{ frame: frame(60) }]);
  const batch = new Batch(8, rings.mem);
  readRx(rings, 0, batch, newDrops());
  const tx = new TxRings(rings, newDrops(), { kick: () => 0, sendmmsgAt: () => 0 });
  const rec = recordAtomics(rings.u32, () => assert.equal(tx.transmit(1, batch, 0), true));
  const status = rings.txBase[1] >>> 2;
  assert.deepEqual(rec.loads, [status]);
  assert.deepEqual(rec.stores, [[status, TP_STATUS_SEND_REQUEST]]);
});
