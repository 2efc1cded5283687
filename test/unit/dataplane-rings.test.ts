// The ring code on ordinary memory, without root: RX slots are filled here the
// way the kernel fills them (tpacket2_hdr, virtio header, stripped tag), and
// TX slots are read back the way the kernel reads them.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Batch, NO_TAG } from '../../src/core/batch.js';
import { Reason, REASON_COUNT } from '../../src/core/reasons.js';
import * as libc from '../../src/native/libc.js';
import {
  FRAME_SIZE,
  ringGeometry,
  TP_STATUS_AVAILABLE,
  TP_STATUS_KERNEL,
  TP_STATUS_SEND_REQUEST,
  TP_STATUS_USER,
  TP_STATUS_VLAN_TPID_VALID,
  TP_STATUS_VLAN_VALID,
  TX_DATA_OFFSET,
  TX_SLOT_ROOM,
  VNET_HDR_LEN,
} from '../../src/dataplane/ring.js';
import { RingSet } from '../../src/dataplane/ringset.js';
import { readRx, releaseRx } from '../../src/dataplane/rx-ring.js';
import { TxRings } from '../../src/dataplane/tx-ring.js';

const MAC_OFFSET = 76; // where the kernel puts the Ethernet header in a V2 slot with a virtio header

/** A RingSet whose port slots are plain memory instead of kernel rings. */
function memoryRings(ports = 2): RingSet {
  const g = ringGeometry(32, 32);
  const rings = new RingSet(ports, g, 4);
  for (let p = 0; p < ports; p++) {
    libc.mmap(
      rings.slotAddress(p),
      g.span,
      libc.PROT_READ | libc.PROT_WRITE,
      libc.MAP_PRIVATE | libc.MAP_ANONYMOUS | libc.MAP_FIXED,
      -1,
    );
    rings.attach(p, -1, -1);
  }
  return rings;
}

interface RxFrame {
  frame: Uint8Array;
  vnet?: number[];
  tci?: number;
  tpid?: number;
}

/** Put frames in port p's RX ring as the kernel would. */
function fillRx(rings: RingSet, port: number, frames: RxFrame[]): void {
  const v = new DataView(rings.mem.buffer);
  frames.forEach((f, i) => {
    const slot = rings.rxBase[port] + i * FRAME_SIZE;
    let status = TP_STATUS_USER;
    if (f.tci !== undefined) {
      status |= TP_STATUS_VLAN_VALID;
      v.setUint16(slot + 24, f.tci, true);
      if (f.tpid !== undefined) {
        status |= TP_STATUS_VLAN_TPID_VALID;
        v.setUint16(slot + 26, f.tpid, true);
      }
    }
    v.setUint32(slot + 4, f.frame.length, true);
    v.setUint32(slot + 8, f.frame.length, true);
    v.setUint16(slot + 12, MAC_OFFSET, true);
    rings.mem.set(f.vnet ?? new Array(VNET_HDR_LEN).fill(0), slot + MAC_OFFSET - VNET_HDR_LEN);
    rings.mem.set(f.frame, slot + MAC_OFFSET);
    v.setUint32(slot, status, true);
  });
}

function frame(len: number, ethertype = 0x0800): Uint8Array {
  const f = new Uint8Array(len);
  f.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, ethertype >> 8, ethertype & 0xff]);
  for (let i = 14; i < len; i++) f[i] = i & 0xff;
  return f;
}

/** What the kernel would send from TX slot i of `port`: tp_len bytes at TX_DATA_OFFSET. */
function txSlot(rings: RingSet, port: number, i: number): { status: number; data: Uint8Array } {
  const slot = rings.txBase[port] + i * FRAME_SIZE;
  const v = new DataView(rings.mem.buffer);
  const len = v.getUint32(slot + 4, true);
  return { status: v.getUint32(slot, true), data: rings.mem.slice(slot + TX_DATA_OFFSET, slot + TX_DATA_OFFSET + len) };
}

test('rx ring: frames are described by offset, with length, stripped tag and wire size, and slots go back to the kernel', () => {
  const rings = memoryRings();
  const f1 = frame(60);
  const f2 = frame(1514);
  fillRx(rings, 0, [{ frame: f1 }, { frame: f2, tci: (5 << 13) | 123 }, { frame: f1, tci: 7, tpid: 0x88a8 }]);
  const batch = new Batch(8, rings.mem);
  const drops = new Float64Array(REASON_COUNT);
  assert.equal(readRx(rings, 0, batch, drops), 3);
  assert.deepEqual(rings.mem.slice(batch.off[0], batch.off[0] + batch.len[0]), f1);
  assert.deepEqual([...batch.len.slice(0, 3)], [60, 1514, 60]);
  assert.deepEqual([...batch.l3len.slice(0, 3)], [46, 1500, 46]);
  assert.equal(batch.vlan[0], NO_TAG);
  assert.equal(batch.vlan[1], (0x8100 << 16) | (5 << 13) | 123);
  assert.equal(batch.vlan[2] >>> 16, 0x88a8);
  assert.equal(batch.vlan[2] & 0xffff, 7);
  assert.equal(rings.rxHead[0], 3);
  // nothing more until the kernel writes again
  assert.equal(readRx(rings, 0, batch, drops), 0);
  releaseRx(rings, { ...batch, count: 3 } as Batch);
  const v = new DataView(rings.mem.buffer);
  for (let i = 0; i < 3; i++) assert.equal(v.getUint32(rings.rxBase[0] + i * FRAME_SIZE, true), TP_STATUS_KERNEL);
});

test('rx ring: a GSO frame is measured by its segments, not its length', () => {
  const rings = memoryRings();
  // TCP/IPv4 GSO: 14 + 20 + 32-byte TCP header, 1448-byte segments.
  const f = frame(1900);
  f[14 + 20 + 12] = 8 << 4; // TCP data offset 8 words = 32 bytes
  const vnet = [1 /* NEEDS_CSUM */, 1 /* TCPV4 */, 66, 0, 1448 & 0xff, 1448 >> 8, 34, 0, 16, 0];
  fillRx(rings, 0, [{ frame: f, vnet }]);
  const batch = new Batch(8, rings.mem);
  readRx(rings, 0, batch, new Float64Array(REASON_COUNT));
  assert.equal(batch.l3len[0], 20 + 32 + 1448);
});

test('rx ring: a truncated frame that the kernel could not queue whole is dropped as truncated', () => {
  const rings = memoryRings();
  fillRx(rings, 0, [{ frame: frame(100) }]);
  new DataView(rings.mem.buffer).setUint32(rings.rxBase[0] + 4, 5000, true); // tp_len > tp_snaplen, no TP_STATUS_COPY
  const drops = new Float64Array(REASON_COUNT);
  assert.equal(readRx(rings, 0, new Batch(8, rings.mem), drops), 0);
  assert.equal(drops[Reason.TRUNCATED], 1);
  assert.equal(new DataView(rings.mem.buffer).getUint32(rings.rxBase[0], true), TP_STATUS_KERNEL);
});

test('tx ring: an untagged frame goes out with its virtio header as received, asking the kernel to copy it whole', () => {
  const rings = memoryRings();
  const vnet = [1, 0, 0, 0, 0, 0, 34, 0, 16, 0];
  const f = frame(98);
  fillRx(rings, 0, [{ frame: f, vnet }]);
  const batch = new Batch(8, rings.mem);
  readRx(rings, 0, batch, new Float64Array(REASON_COUNT));
  const tx = new TxRings(rings);
  assert.equal(tx.transmit(1, batch, 0), true);
  const out = txSlot(rings, 1, 0);
  assert.equal(out.status, TP_STATUS_SEND_REQUEST);
  // hdr_len (bytes 2-3) becomes the frame length: no page fragments for veth to copy again
  assert.deepEqual([...out.data.subarray(0, VNET_HDR_LEN)], [1, 0, 98, 0, 0, 0, 34, 0, 16, 0]);
  assert.deepEqual(out.data.subarray(VNET_HDR_LEN), f);
  assert.equal(rings.txPending[1], 1);
  assert.equal(rings.txHead[1], 1);
});

test('tx ring: a stripped 802.1Q tag is put back after the MACs, and virtio offsets move by 4', () => {
  const rings = memoryRings();
  const vnet = [1 /* NEEDS_CSUM */, 1 /* TCPV4 */, 66, 0, 0xa8, 0x05, 34, 0, 16, 0];
  const f = frame(200);
  const tci = (5 << 13) | 123;
  fillRx(rings, 0, [{ frame: f, vnet, tci, tpid: 0x88a8 }]);
  const batch = new Batch(8, rings.mem);
  readRx(rings, 0, batch, new Float64Array(REASON_COUNT));
  new TxRings(rings).transmit(1, batch, 0);
  const { data } = txSlot(rings, 1, 0);
  const eth = data.subarray(VNET_HDR_LEN);
  assert.equal(eth.length, 204);
  assert.deepEqual(eth.subarray(0, 12), f.subarray(0, 12));
  assert.deepEqual([...eth.subarray(12, 16)], [0x88, 0xa8, tci >> 8, tci & 0xff]);
  assert.deepEqual(eth.subarray(16), f.subarray(12));
  assert.equal(data[6] | (data[7] << 8), 38, 'csum_start counts the tag');
  assert.equal(data[2] | (data[3] << 8), 70, 'hdr_len counts the tag');
});

test('tx ring: a full ring is kicked once, and refuses the frame if the kernel frees no slot', () => {
  const rings = memoryRings();
  fillRx(rings, 0, [{ frame: frame(60) }]);
  const batch = new Batch(8, rings.mem);
  readRx(rings, 0, batch, new Float64Array(REASON_COUNT));
  let kicks = 0;
  const tx = new TxRings(rings, () => {
    kicks++; // a kernel that sends nothing (the receiver is backed up)
    return 0;
  });
  for (let i = 0; i < rings.geometry.txFrames; i++) assert.equal(tx.transmit(1, batch, 0), true);
  assert.equal(rings.txHead[1], 0, 'the head wrapped around');
  assert.equal(kicks, 0, 'no kick while the ring has room');
  assert.equal(tx.transmit(1, batch, 0), false, 'a slot the kernel has not sent was overwritten');
  assert.equal(kicks, 1);
  assert.equal(tx.transmit(1, batch, 0), false);
  assert.equal(kicks, 1, 'a ring kicked already is not kicked again for nothing');
});

test('tx ring: a full ring is kicked and the frame takes the slot the kernel frees', () => {
  const rings = memoryRings();
  fillRx(rings, 0, [{ frame: frame(60) }]);
  const batch = new Batch(8, rings.mem);
  readRx(rings, 0, batch, new Float64Array(REASON_COUNT));
  const v = new DataView(rings.mem.buffer);
  let kicks = 0;
  const tx = new TxRings(rings, () => {
    kicks++; // a kernel that sends every queued frame and frees its slot
    for (let i = 0; i < rings.geometry.txFrames; i++) v.setUint32(rings.txBase[1] + i * FRAME_SIZE, TP_STATUS_AVAILABLE, true);
    return 0;
  });
  const n = rings.geometry.txFrames * 3;
  for (let i = 0; i < n; i++) assert.equal(tx.transmit(1, batch, 0), true, `frame ${i} was refused`);
  assert.equal(kicks, 2, 'one kick each time the ring filled');
  tx.kickAll(Int32Array.of(0, 1), 2);
  assert.equal(kicks, 3, 'the last frames are kicked at the end of the round');
});

test('tx ring: a slot holds any frame of a 1500-byte MTU with a tag', () => {
  assert.ok(TX_SLOT_ROOM >= VNET_HDR_LEN + 1514 + 4);
});
