// Run by test/unit/ring-status.test.ts in a node of its own, whose
// process.arch it fakes (the ring code picks its status accesses when it is
// loaded): reads three RX frames, gives them back, transmits one, and prints
// as JSON the Atomics.load/Atomics.store calls made on the ring's status words
// next to the status words those steps use.

import { Batch } from '../../src/core/batch.js';
import { FRAME_SIZE, TP_STATUS_KERNEL, TP_STATUS_SEND_REQUEST } from '../../src/datapath/user/ring.js';
import { readRx, releaseRx } from '../../src/datapath/user/rx-ring.js';
import { TxRings } from '../../src/datapath/user/tx-ring.js';
import { fillRx, frame, memoryRings, newDrops } from './memrings.js';

const rings = memoryRings();
fillRx(rings, 0, [{ frame: frame(60) }, { frame: frame(61) }, { frame: frame(62) }]);
const batch = new Batch(8, rings.mem);
const tx = new TxRings(rings, newDrops(), { kick: () => 0, sendmmsgAt: () => 0 });
const rxStatus = (i: number) => (rings.rxBase[0] + i * FRAME_SIZE) >>> 2;
const txStatus = rings.txBase[1] >>> 2;

const loads: number[] = [];
const stores: Array<[number, number]> = [];
const { load, store } = Atomics;
Atomics.load = ((ta: Uint32Array, i: number) => {
  if (ta === rings.u32) loads.push(i);
  return load(ta, i);
}) as typeof Atomics.load;
Atomics.store = ((ta: Uint32Array, i: number, v: number) => {
  if (ta === rings.u32) stores.push([i, v]);
  return store(ta, i, v);
}) as typeof Atomics.store;
const read = readRx(rings, 0, batch, newDrops());
const sent = tx.transmit(1, batch, 0);
releaseRx(rings, batch);
Atomics.load = load;
Atomics.store = store;

console.log(
  JSON.stringify({
    arch: process.arch,
    read,
    sent,
    loads,
    stores,
    // three frames and the empty slot after them, then the TX slot
    statusLoads: [rxStatus(0), rxStatus(1), rxStatus(2), rxStatus(3), txStatus],
    statusStores: [[txStatus, TP_STATUS_SEND_REQUEST], ...[0, 1, 2].map((i) => [rxStatus(i), TP_STATUS_KERNEL])],
  }),
);
