// Frames bigger than a slot: the slot holds their start (TP_STATUS_COPY) and
// the whole frame waits on the socket's queue, in the same order. These tests
// make the two lose step - a recvmmsg that fails, a frame bigger than the big
// buffer - and check that bytes are never paired with another frame's slot.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Batch } from '../../src/core/batch.js';
import { Reason } from '../../src/core/reasons.js';
import * as libc from '../../src/native/libc.js';
import { BIG_SLOT, FRAME_SIZE, TP_STATUS_KERNEL } from '../../src/datapath/user/ring.js';
import type { RingSet } from '../../src/datapath/user/ringset.js';
import { readRx, releaseRx } from '../../src/datapath/user/rx-ring.js';
import { fillRx, frame, memoryRings, newDrops, type RxFrame, SocketQueue } from '../helpers/memrings.js';

const SLOT_BYTES = 200; // what the slot holds of a big frame (the kernel: a slot's worth)

/** A big frame as the kernel delivers it: its start in the slot (with a tag), the whole of it for the queue. */
function big(len: number, mark: number, tci?: number): { rx: RxFrame; whole: Uint8Array } {
  const whole = frame(len, mark);
  return { rx: { frame: whole.slice(0, SLOT_BYTES), wireLen: len, tci }, whole };
}

const small = (mark: number, tci?: number): RxFrame => ({ frame: frame(60, mark), tci });

/** Read one batch from port 0 (as the worker does: read, use, release) and return what it described. */
function readBatch(rings: RingSet, q: SocketQueue, drops: Float64Array): Array<{ bytes: Uint8Array; vlan: number }> {
  const batch = new Batch(16, rings.mem);
  const n = readRx(rings, 0, batch, drops, q.recv);
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push({ bytes: rings.mem.slice(batch.off[i], batch.off[i] + batch.len[i]), vlan: batch.vlan[i] & 0xffff });
  }
  releaseRx(rings, batch);
  return out;
}

/** Put `frames` in the ring after what was read, their whole big frames on the queue. */
function arrive(rings: RingSet, q: SocketQueue, frames: Array<RxFrame | { rx: RxFrame; whole: Uint8Array }>): void {
  const rx = frames.map((f) => ('rx' in f ? f.rx : f));
  fillRx(rings, 0, rx, rings.rxHead[0]);
  for (const f of frames) if ('whole' in f) q.frames.push(f.whole);
}

function assertSlotsFree(rings: RingSet): void {
  const v = new DataView(rings.mem.buffer);
  for (let i = 0; i < rings.geometry.rxFrames; i++) {
    assert.equal(v.getUint32(rings.rxBase[0] + i * FRAME_SIZE, true), TP_STATUS_KERNEL, `RX slot ${i} was not given back`);
  }
}

test('rx big frames: a recvmmsg failing with a pending socket error (ENETDOWN after a flap) is made again, and each frame keeps its slot', () => {
  const rings = memoryRings();
  const drops = newDrops();
  const q = new SocketQueue(rings, [], [-libc.ENETDOWN]);
  const f1 = big(5000, 1, 10);
  const f2 = big(5000, 2, 20);
  arrive(rings, q, [f1, small(9, 99), f2]);
  const first = readBatch(rings, q, drops);
  const f3 = big(5000, 3, 30);
  const f4 = big(5000, 4, 40);
  arrive(rings, q, [f3, f4]);
  const second = readBatch(rings, q, drops);
  assert.deepEqual(
    [...first, ...second].map((f) => [f.bytes[40], f.bytes.length, f.vlan]),
    [
      [1, 5000, 10],
      [9, 60, 99],
      [2, 5000, 20],
      [3, 5000, 30],
      [4, 5000, 40],
    ],
    'frames with the bytes of their own slot, under their own tag',
  );
  assert.deepEqual(first[0]!.bytes, f1.whole);
  assert.deepEqual(second[1]!.bytes, f4.whole);
  assert.equal(drops[Reason.TRUNCATED], 0);
  assert.equal(q.frames.length, 0);
  assertSlotsFree(rings);
});

test('rx big frames: when recvmmsg keeps failing, the batch loses its big frames, and the next batch skips them on the queue', () => {
  const rings = memoryRings(); // 4 big buffers
  const drops = newDrops();
  const q = new SocketQueue(rings, [], [-libc.ENETDOWN, -libc.ENETDOWN, -libc.ENETDOWN, -libc.ENETDOWN, -libc.ENETDOWN]);
  // Four frames of one length (a bulk TCP flow's GSO frames): only their bytes tell them apart.
  const lost = [1, 2, 3, 4].map((m) => big(5000, m, m));
  arrive(rings, q, lost);
  assert.deepEqual(readBatch(rings, q, drops), []);
  assert.equal(drops[Reason.TRUNCATED], 4, 'the frames that could not be read are counted');
  assert.equal(q.frames.length, 4, 'and still on the queue');

  const next = [5, 6, 7, 8].map((m) => big(5000, m, m));
  arrive(rings, q, [next[0]!, small(50, 50), next[1]!, next[2]!, next[3]!]);
  const got = readBatch(rings, q, drops);
  assert.deepEqual(
    got.map((f) => [f.bytes[40], f.vlan]),
    [
      [5, 5],
      [50, 50],
      [6, 6],
      [7, 7],
      [8, 8],
    ],
  );
  for (const [i, f] of [0, 2, 3, 4].entries()) assert.deepEqual(got[f]!.bytes, next[i]!.whole);
  assert.equal(drops[Reason.TRUNCATED], 4, 'nothing more dropped, and the skipped frames not counted twice');
  assert.equal(q.frames.length, 0);
  assertSlotsFree(rings);
});

test('rx big frames: a queued frame whose length is not the slot\'s tp_len is not taken for it', () => {
  const rings = memoryRings();
  const drops = newDrops();
  const q = new SocketQueue(rings);
  const older = frame(4000, 7); // its slot was dropped earlier
  q.frames.push(older);
  const f = big(5000, 7, 70); // same first bytes, other length
  arrive(rings, q, [f]);
  const got = readBatch(rings, q, drops);
  assert.equal(got.length, 1);
  assert.deepEqual(got[0]!.bytes, f.whole);
  assert.equal(got[0]!.vlan, 70);
  assert.equal(drops[Reason.TRUNCATED], 0);
});

test('rx big frames: a frame bigger than a big buffer (MSG_TRUNC) is dropped as truncated, not forwarded cut short, and the next keeps its slot', () => {
  const rings = memoryRings();
  const drops = newDrops();
  const q = new SocketQueue(rings);
  // A veth with a raised gso_max_size hands over GSO frames past 64 KiB.
  const huge = big(100_000, 1, 10);
  const after = big(6000, 2, 20);
  arrive(rings, q, [huge, small(3, 30), after]);
  const got = readBatch(rings, q, drops);
  assert.ok(BIG_SLOT < 100_000);
  assert.deepEqual(
    got.map((f) => [f.bytes.length, f.vlan]),
    [
      [60, 30],
      [6000, 20],
    ],
  );
  assert.deepEqual(got[1]!.bytes, after.whole);
  assert.equal(drops[Reason.TRUNCATED], 1);
  assert.equal(q.frames.length, 0);
  assertSlotsFree(rings);
});

test('rx big frames: a frame missing from the queue is dropped alone, with one recvmmsg for the batch', () => {
  const rings = memoryRings();
  const drops = newDrops();
  const q = new SocketQueue(rings);
  const f1 = big(5000, 1, 10);
  const f2 = big(5000, 2, 20);
  arrive(rings, q, [f1, f2]);
  q.frames.shift(); // f1's frame is not there
  const got = readBatch(rings, q, drops);
  assert.deepEqual(
    got.map((f) => [f.bytes[40], f.vlan]),
    [[2, 20]],
  );
  assert.equal(drops[Reason.TRUNCATED], 1);
  assert.deepEqual(
    q.calls.map((c) => [c.first, c.vlen]),
    [[0, 2]],
  );
});
