// The TX ring when the egress interface goes down under load: the kernel
// refuses the kick (ENETDOWN, or ENXIO once the device is gone) without taking
// a slot, so the switch must not be left with a full ring nobody will empty.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Batch } from '../../src/core/batch.js';
import { Reason } from '../../src/core/reasons.js';
import * as libc from '../../src/native/libc.js';
import { FRAME_SIZE, TP_STATUS_AVAILABLE, TP_STATUS_SEND_REQUEST } from '../../src/datapath/user/ring.js';
import type { RingSet } from '../../src/datapath/user/ringset.js';
import { readRx } from '../../src/datapath/user/rx-ring.js';
import { TxRings } from '../../src/datapath/user/tx-ring.js';
import { fillRx, frame, memoryRings, newDrops, txSlot } from '../helpers/memrings.js';

/**
 * A kernel TX side on memory: while the link is up a kick sends every
 * SEND_REQUEST slot from the kernel's own head on and frees it, as
 * tpacket_snd does; while it is down the kick fails with `downErrno` and
 * touches nothing.
 */
function kernelTx(rings: RingSet, port: number) {
  const v = new DataView(rings.mem.buffer);
  const k = { up: true, downErrno: libc.ENETDOWN, head: 0, sent: [] as number[], kicks: 0 };
  const calls = {
    kick: () => {
      k.kicks++;
      if (!k.up) return -k.downErrno;
      let bytes = 0;
      for (;;) {
        const slot = rings.txBase[port] + k.head * FRAME_SIZE;
        if (v.getUint32(slot, true) !== TP_STATUS_SEND_REQUEST) break;
        k.sent.push(k.head);
        bytes += v.getUint32(slot + 4, true);
        v.setUint32(slot, TP_STATUS_AVAILABLE, true);
        k.head = (k.head + 1) % rings.geometry.txFrames;
      }
      return bytes;
    },
    sendmmsgAt: () => assert.fail('no big frame here'),
  };
  return { k, calls };
}

function oneFrame(rings: RingSet): Batch {
  fillRx(rings, 0, [{ frame: frame(60) }]);
  const batch = new Batch(8, rings.mem);
  readRx(rings, 0, batch, newDrops());
  return batch;
}

for (const [name, errno] of [
  ['down (ENETDOWN)', libc.ENETDOWN],
  ['gone (ENXIO)', libc.ENXIO],
] as const) {
  test(`tx ring: a ring that filled while its interface was ${name} takes frames again once it is back`, () => {
    const rings = memoryRings();
    const batch = oneFrame(rings);
    const drops = newDrops();
    const { k, calls } = kernelTx(rings, 1);
    const tx = new TxRings(rings, drops, calls);
    const n = rings.geometry.txFrames;

    // The link goes down under load: the round fills the ring, and its kick is refused.
    k.up = false;
    k.downErrno = errno;
    for (let i = 0; i < n; i++) assert.equal(tx.transmit(1, batch, 0), true);
    tx.kickAll(Int32Array.of(1), 1);
    assert.equal(k.kicks, 1);
    assert.deepEqual(k.sent, [], 'the kernel took nothing');

    // The link is back: frames are taken and sent, twice round the ring.
    k.up = true;
    for (let i = 0; i < 2 * n; i++) assert.equal(tx.transmit(1, batch, 0), true, `frame ${i} after the link came back was refused`);
    tx.kickAll(Int32Array.of(1), 1);
    assert.equal(k.sent.length, 2 * n, 'every frame after the link came back was sent');
    // The frames queued while it was down were not: dropped as port-down.
    assert.equal(drops[Reason.PORT_DOWN], n);
    assert.equal(rings.txHead[1], k.head, 'the head is where the kernel will look');
  });
}

test('tx ring: a full ring whose kick is refused for a down interface gives its slots back and takes the frame', () => {
  const rings = memoryRings();
  const batch = oneFrame(rings);
  const drops = newDrops();
  const { k, calls } = kernelTx(rings, 1);
  const tx = new TxRings(rings, drops, calls);
  const n = rings.geometry.txFrames;
  // Half a ring sent while up, so the kernel's head is not at slot 0.
  for (let i = 0; i < n / 2; i++) tx.transmit(1, batch, 0);
  tx.kickAll(Int32Array.of(1), 1);
  assert.equal(k.head, n / 2);
  k.up = false;
  for (let i = 0; i < n; i++) assert.equal(tx.transmit(1, batch, 0), true);
  // Full: this frame kicks, the kick is refused, the slots come back and it takes the first.
  assert.equal(tx.transmit(1, batch, 0), true);
  assert.equal(drops[Reason.PORT_DOWN], n);
  assert.equal(txSlot(rings, 1, n / 2).status, TP_STATUS_SEND_REQUEST, 'the frame is at the kernel head');
  assert.equal(rings.txHead[1], n / 2 + 1);
  k.up = true;
  tx.kickAll(Int32Array.of(1), 1);
  assert.deepEqual(k.sent.slice(n / 2), [n / 2], 'the kernel sends it, from its own head');
});

test('tx ring: a kick refused for lack of buffers keeps the frames queued for the next round', () => {
  const rings = memoryRings();
  const batch = oneFrame(rings);
  const drops = newDrops();
  const { k, calls } = kernelTx(rings, 1);
  let busy = true;
  const tx = new TxRings(rings, drops, { ...calls, kick: () => (busy ? -libc.ENOBUFS : calls.kick()) });
  tx.transmit(1, batch, 0);
  tx.kickAll(Int32Array.of(1), 1);
  assert.equal(rings.txPending[1], 1);
  busy = false;
  tx.kickAll(Int32Array.of(1), 1);
  assert.deepEqual(k.sent, [0]);
  assert.equal(drops.reduce((a, b) => a + b), 0);
});

test('tx ring: a frame the device never takes (dropped and put back by every kick) is given up after 3 kicks, counted tx-error, and the frames behind it leave', () => {
  const rings = memoryRings();
  const batch = oneFrame(rings);
  const drops = newDrops();
  const v = new DataView(rings.mem.buffer);
  const { k, calls } = kernelTx(rings, 1);
  // As tpacket_snd with a device that drops slot 0's frame: the slot stays
  // SEND_REQUEST, the head does not move, the kick fails with ENOBUFS; a slot
  // whose tp_len is past what the device takes is skipped (PACKET_LOSS).
  const kick = (): number => {
    const slot = rings.txBase[1] + k.head * FRAME_SIZE;
    if (k.head === 0 && v.getUint32(slot, true) === TP_STATUS_SEND_REQUEST) {
      if (v.getUint32(slot + 4, true) <= 65535) {
        k.kicks++;
        return -libc.ENOBUFS;
      }
      v.setUint32(slot, TP_STATUS_AVAILABLE, true);
      k.head = 1;
    }
    return calls.kick();
  };
  const tx = new TxRings(rings, drops, { ...calls, kick });
  for (let i = 0; i < 3; i++) assert.equal(tx.transmit(1, batch, 0), true);
  for (let round = 0; round < 5; round++) tx.kickAll(Int32Array.of(1), 1);
  assert.deepEqual(k.sent, [1, 2], 'the frames behind the refused one');
  assert.equal(drops[Reason.TX_ERROR], 1);
  assert.equal(txSlot(rings, 1, 0).status, TP_STATUS_AVAILABLE);
  assert.equal(rings.txPending[1], 0);
});

test('tx ring: a lack of buffers that passes (each failed kick still sends one more frame) gives up no frame', () => {
  const rings = memoryRings();
  const batch = oneFrame(rings);
  const drops = newDrops();
  const { k, calls } = kernelTx(rings, 1);
  const v = new DataView(rings.mem.buffer);
  // Each kick sends one frame, then runs out of buffers while any is left.
  const kick = (): number => {
    const slot = rings.txBase[1] + k.head * FRAME_SIZE;
    if (v.getUint32(slot, true) !== TP_STATUS_SEND_REQUEST) return 0;
    k.sent.push(k.head);
    v.setUint32(slot, TP_STATUS_AVAILABLE, true);
    k.head = (k.head + 1) % rings.geometry.txFrames;
    const next = rings.txBase[1] + k.head * FRAME_SIZE;
    return v.getUint32(next, true) === TP_STATUS_SEND_REQUEST ? -libc.ENOBUFS : 60;
  };
  const tx = new TxRings(rings, drops, { ...calls, kick });
  for (let i = 0; i < 4; i++) tx.transmit(1, batch, 0);
  for (let round = 0; round < 8 && k.sent.length < 4; round++) tx.kickAll(Int32Array.of(1), 1);
  assert.deepEqual(k.sent, [0, 1, 2, 3]);
  assert.equal(drops[Reason.TX_ERROR], 0);
});

test('tx ring: a slot taken back when its interface went down counts failed kicks afresh: the next frame there is not given up after one', () => {
  const rings = memoryRings();
  const batch = oneFrame(rings);
  const drops = newDrops();
  const { k, calls } = kernelTx(rings, 1);
  // Two kicks short of buffers on slot 0's frame, then the link goes down (taken back); after it, one more short kick.
  const refusals = [libc.ENOBUFS, libc.ENOBUFS, libc.ENETDOWN, libc.ENOBUFS];
  const kick = (): number => {
    const e = refusals.shift();
    return e === undefined ? calls.kick() : -e;
  };
  const tx = new TxRings(rings, drops, { ...calls, kick });
  tx.transmit(1, batch, 0);
  for (let i = 0; i < 3; i++) tx.kickAll(Int32Array.of(1), 1);
  assert.equal(drops[Reason.PORT_DOWN], 1, 'the frame queued while the link went down');
  assert.equal(tx.transmit(1, batch, 0), true); // into slot 0 again
  for (let i = 0; i < 2; i++) tx.kickAll(Int32Array.of(1), 1);
  assert.equal(drops[Reason.TX_ERROR], 0, 'the new frame was given up for the old one\'s failed kicks');
  assert.deepEqual(k.sent, [0]);
});
