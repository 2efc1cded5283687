// `vswconfig capture drops` for frames refused after the forwarding decision:
// the core tells its Egress each copy it refuses (MTU, port down, VLAN, a
// transmit refused), and the userspace TX side records those and its own
// drops (ring full, frames taken back from a down link) on the egress port,
// with the reason they are counted under, when that port's flag asks.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Batch, NO_TAG } from '../../src/core/batch.js';
import { Forwarder } from '../../src/core/forwarder.js';
import { mirrorTable } from '../../src/core/mirror.js';
import { Reason } from '../../src/core/reasons.js';
import * as libc from '../../src/native/libc.js';
import { CAPTURE_DROPS, CAPTURE_KIND_DROP, CaptureReader, newCaptureBuffer } from '../../src/datapath/capture-ring.js';
import { CaptureTap } from '../../src/datapath/user/capture-tap.js';
import { readRx } from '../../src/datapath/user/rx-ring.js';
import { TxRings, type TxCalls } from '../../src/datapath/user/tx-ring.js';
import { ETH_P_IPV4, ethernet, makeBatch, MemPorts } from '../helpers/memports.js';
import { fillRx, frame, memoryRings, newDrops } from '../helpers/memrings.js';

const H1 = '02:00:00:00:00:01';
const H2 = '02:00:00:00:00:02';
const BCAST = 'ff:ff:ff:ff:ff:ff';

test('core: each copy refused after the decision (MTU, a transmit refused) is told to the egress with its port and reason, as counted', () => {
  const mem = new MemPorts(4);
  const fwd = new Forwarder({ maxPorts: 4, fdbSize: 64, agingMs: 300_000 }, mem);
  fwd.attach(0, true, 1500);
  fwd.attach(1, true, 1000);
  fwd.attach(2, true, 1500);
  fwd.process(makeBatch([ethernet(BCAST, H2, ETH_P_IPV4)]), 2, 0); // H2 on port 2
  mem.clear();
  // Too big for port 1: flooded (refused by port 1 only), then unicast to H2 (fits).
  fwd.process(makeBatch([ethernet(BCAST, H1, ETH_P_IPV4, 1200), ethernet(H2, H1, ETH_P_IPV4, 1200)]), 0, 0);
  assert.deepEqual(mem.refusals, [[1, 0, Reason.MTU_EXCEEDED]]);
  assert.equal(fwd.drops[Reason.MTU_EXCEEDED], 1);
  // A transmit refused (a full ring): tx-ring-full.
  mem.full.add(2);
  mem.clear();
  fwd.process(makeBatch([ethernet(H2, H1, ETH_P_IPV4)]), 0, 0);
  assert.deepEqual(mem.refusals, [[2, 0, Reason.TX_RING_FULL]]);
  assert.equal(fwd.drops[Reason.TX_RING_FULL], 1);
});

test('core: a flood or mirror copy refused after the decision is told with its own port\'s tag, not the tag of the copy before it', () => {
  const mem = new MemPorts(5);
  const fwd = new Forwarder({ maxPorts: 5, fdbSize: 64, agingMs: 300_000 }, mem);
  for (let p = 0; p < 4; p++) fwd.attach(p, true, 1500);
  fwd.attach(2, true, 1000); // too small for the 1200-byte frame
  fwd.setVlan(0, { mode: 'access', tag: 10, trunks: null });
  fwd.setVlan(1, { mode: 'trunk', tag: 0, trunks: null }); // takes it tagged first
  fwd.setVlan(2, { mode: 'access', tag: 10, trunks: null }); // would take it untagged
  fwd.setVlan(3, { mode: 'access', tag: 10, trunks: null });
  const big = () => makeBatch([ethernet(BCAST, H1, ETH_P_IPV4, 1200)]);
  fwd.process(big(), 0, 0);
  assert.deepEqual(mem.log, [[1, 0], [3, 0]], 'flooded to 1 (tagged), refused by 2, sent to 3');
  assert.deepEqual(mem.refusals, [[2, 0, Reason.MTU_EXCEEDED]]);
  assert.deepEqual(mem.refusedTags, [NO_TAG], 'untagged, as it would have left access port 2');
  // A mirror's copy: its output (access 10, too small) after a tagged copy to the trunk.
  fwd.attach(2, true, 1500);
  fwd.attach(4, true, 1000);
  fwd.setVlan(4, { mode: 'access', tag: 10, trunks: null });
  fwd.setVlan(3, { mode: 'trunk', tag: 0, trunks: null }); // the last copy before the mirror's is tagged
  fwd.setMirrors(mirrorTable([{ name: 'm', output: 4, selectIngress: [0], selectEgress: [], selectVlans: null, selectAll: false }], 5));
  mem.clear();
  fwd.process(big(), 0, 0);
  assert.deepEqual(mem.log, [[1, 0], [2, 0], [3, 0]]);
  assert.deepEqual(mem.refusals, [[4, 0, Reason.MTU_EXCEEDED]]);
  assert.deepEqual(mem.refusedTags, [NO_TAG], 'untagged, as it would have left the mirror output, access port 4');
});

/** A kernel TX side that takes nothing (a receiver that never drains) or refuses every kick with `errno`. */
function stalled(errno = 0): TxCalls {
  return { kick: () => (errno === 0 ? 0 : -errno), sendmmsgAt: () => assert.fail('no big frame here') };
}

/** The user TX side of two ports over memory, a capture tap on it, the records it wrote. */
function userTx(calls: TxCalls, flags: Array<[number, number]>) {
  const rings = memoryRings();
  const drops = newDrops();
  const tx = new TxRings(rings, drops, calls);
  const buf = newCaptureBuffer(1 << 20);
  const tap = new CaptureTap(rings.maxPorts, buf);
  tap.set(flags);
  tx.captureTo(tap);
  const reader = new CaptureReader(buf);
  const records = (): Array<{ port: number; kind: number; reason: number; bytes: number[] }> => {
    tap.publish();
    const out: Array<{ port: number; kind: number; reason: number; bytes: number[] }> = [];
    reader.drain((f) => out.push({ port: f.port, kind: f.kind, reason: f.reason, bytes: Array.from(f.bytes) }));
    return out;
  };
  fillRx(rings, 0, [{ frame: frame(60, 7) }]);
  const batch = new Batch(8, rings.mem);
  readRx(rings, 0, batch, newDrops());
  return { rings, drops, tx, records, batch };
}

for (const capturing of [true, false]) {
  test(`user TX: a full TX ring's drop is counted as tx-ring-full${capturing ? ' and captured on the egress port' : ', and not captured without the flag'}`, () => {
    const { rings, drops, tx, records, batch } = userTx(stalled(), capturing ? [[1, CAPTURE_DROPS]] : [[0, CAPTURE_DROPS]]);
    const fwd = new Forwarder({ maxPorts: rings.maxPorts, fdbSize: 64, agingMs: 300_000, drops }, tx);
    fwd.attach(0, true, 1500);
    fwd.attach(1, true, 1500);
    const n = rings.geometry.txFrames;
    for (let k = 0; k < n + 2; k++) fwd.process(batch, 0, 0); // flooded to port 1, whose ring nobody drains
    assert.equal(drops[Reason.TX_RING_FULL], 2);
    const want = capturing ? [{ port: 1, kind: CAPTURE_KIND_DROP, reason: Reason.TX_RING_FULL, bytes: Array.from(frame(60, 7)) }] : [];
    assert.deepEqual(records(), capturing ? [want[0], want[0]] : []);
  });
}

test('user TX: frames taken back from a ring whose link went down are captured as port-down, whole', () => {
  const { drops, tx, records, batch } = userTx(stalled(libc.ENETDOWN), [[1, CAPTURE_DROPS]]);
  for (let k = 0; k < 3; k++) assert.equal(tx.transmit(1, batch, 0), true);
  tx.kickAll(Int32Array.of(1), 1);
  assert.equal(drops[Reason.PORT_DOWN], 3);
  const rec = { port: 1, kind: CAPTURE_KIND_DROP, reason: Reason.PORT_DOWN, bytes: Array.from(frame(60, 7)) };
  assert.deepEqual(records(), [rec, rec, rec]);
});

test('user TX: a frame the device never takes (stuck at the ring head) is captured as tx-error', () => {
  const { drops, tx, records, batch } = userTx(stalled(libc.ENOBUFS), [[1, CAPTURE_DROPS]]);
  assert.equal(tx.transmit(1, batch, 0), true);
  for (let k = 0; k < 3; k++) tx.kickAll(Int32Array.of(1), 1);
  assert.equal(drops[Reason.TX_ERROR], 1);
  assert.deepEqual(records(), [{ port: 1, kind: CAPTURE_KIND_DROP, reason: Reason.TX_ERROR, bytes: Array.from(frame(60, 7)) }]);
});

test('user TX: a stuck frame already given up (tx-error) and then taken back from a link gone down is not counted or captured again', () => {
  let errno = libc.ENOBUFS;
  const calls: TxCalls = { kick: () => -errno, sendmmsgAt: () => assert.fail('no big frame here') };
  const { rings, drops, tx, records, batch } = userTx(calls, [[1, CAPTURE_DROPS]]);
  assert.equal(tx.transmit(1, batch, 0), true);
  for (let k = 0; k < 3; k++) tx.kickAll(Int32Array.of(1), 1); // given up: tx-error, left on the ring for the kernel to skip
  assert.equal(tx.transmit(1, batch, 0), true);
  errno = libc.ENETDOWN; // the link goes down before the kernel skipped it: both slots taken back
  tx.kickAll(Int32Array.of(1), 1);
  assert.equal(drops[Reason.TX_ERROR], 1);
  assert.equal(drops[Reason.PORT_DOWN], 1, 'only the second frame counted as port-down');
  const bytes = Array.from(frame(60, 7));
  assert.deepEqual(records(), [
    { port: 1, kind: CAPTURE_KIND_DROP, reason: Reason.TX_ERROR, bytes },
    { port: 1, kind: CAPTURE_KIND_DROP, reason: Reason.PORT_DOWN, bytes },
  ]);
  // Both slots are free again: a full ring's worth goes on.
  for (let k = 0; k < rings.geometry.txFrames; k++) assert.equal(tx.transmit(1, batch, 0), true, `slot ${k}`);
});
