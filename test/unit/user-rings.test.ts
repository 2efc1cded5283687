// The ring code on ordinary memory, without root: RX slots are filled here the
// way the kernel fills them (tpacket2_hdr, virtio header, stripped tag), and
// TX slots are read back the way the kernel reads them.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Batch, NO_TAG } from '../../src/core/batch.js';
import { Reason, REASON_COUNT } from '../../src/core/reasons.js';
import * as libc from '../../src/native/libc.js';
import {
  BIG_SLOT,
  FRAME_SIZE,
  TP_STATUS_AVAILABLE,
  TP_STATUS_COPY,
  TP_STATUS_KERNEL,
  TP_STATUS_SEND_REQUEST,
  VNET_HDR_LEN,
} from '../../src/datapath/user/ring.js';
import { RingSet } from '../../src/datapath/user/ringset.js';
import { readRx, releaseRx } from '../../src/datapath/user/rx-ring.js';
import { TxRings } from '../../src/datapath/user/tx-ring.js';
import { fillRx, memoryRings } from '../helpers/memrings.js';

const MAC_OFFSET = 76; // where the kernel puts the Ethernet header in a V2 slot with a virtio header


function frame(len: number, ethertype = 0x0800): Uint8Array {
  const f = new Uint8Array(len);
  f.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, ethertype >> 8, ethertype & 0xff]);
  for (let i = 14; i < len; i++) f[i] = i & 0xff;
  return f;
}

/**
 * Where the kernel reads a TX frame in a V2 slot without PACKET_TX_HAS_OFF:
 * tp_hdrlen - sizeof(struct sockaddr_ll) = TPACKET_ALIGN(32) + 20 - 20. Written
 * out here, not imported: the test checks the ring code against the kernel.
 */
const KERNEL_TX_DATA = 32;

/** What the kernel would send from TX slot i of `port`: tp_len bytes at KERNEL_TX_DATA. */
function txSlot(rings: RingSet, port: number, i: number): { status: number; data: Uint8Array } {
  const slot = rings.txBase[port] + i * FRAME_SIZE;
  const v = new DataView(rings.mem.buffer);
  const len = v.getUint32(slot + 4, true);
  return { status: v.getUint32(slot, true), data: rings.mem.slice(slot + KERNEL_TX_DATA, slot + KERNEL_TX_DATA + len) };
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
  const tx = new TxRings(rings, new Float64Array(REASON_COUNT));
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
  new TxRings(rings, new Float64Array(REASON_COUNT)).transmit(1, batch, 0);
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
  const tx = new TxRings(rings, new Float64Array(REASON_COUNT), {
    kick: () => {
      kicks++; // a kernel that sends nothing (the receiver is backed up)
      return 0;
    },
    sendmmsgAt: () => assert.fail('no big frame here'),
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
  const tx = new TxRings(rings, new Float64Array(REASON_COUNT), {
    kick: () => {
      kicks++; // a kernel that sends every queued frame and frees its slot
      for (let i = 0; i < rings.geometry.txFrames; i++) v.setUint32(rings.txBase[1] + i * FRAME_SIZE, TP_STATUS_AVAILABLE, true);
      return 0;
    },
    sendmmsgAt: () => assert.fail('no big frame here'),
  });
  const n = rings.geometry.txFrames * 3;
  for (let i = 0; i < n; i++) assert.equal(tx.transmit(1, batch, 0), true, `frame ${i} was refused`);
  assert.equal(kicks, 2, 'one kick each time the ring filled');
  tx.kickAll(Int32Array.of(0, 1), 2);
  assert.equal(kicks, 3, 'the last frames are kicked at the end of the round');
});

test('tx ring: a slot holds any frame of a 1500-byte MTU with a tag, and the largest an RX slot holds', () => {
  // 1514: a full frame of a 1500-byte MTU; FRAME_SIZE - MAC_OFFSET: the most an RX slot holds.
  for (const len of [1514, FRAME_SIZE - MAC_OFFSET]) {
    const rings = memoryRings();
    const tci = (3 << 13) | 42;
    const f = frame(len);
    fillRx(rings, 0, [{ frame: f, tci, tpid: 0x8100 }]);
    const batch = new Batch(8, rings.mem);
    readRx(rings, 0, batch, new Float64Array(REASON_COUNT));
    // The next TX slot, filled with a mark: the frame must not spill into it.
    const next = rings.txBase[1] + FRAME_SIZE;
    rings.mem.fill(0xee, next, next + FRAME_SIZE);
    const tx = new TxRings(rings, new Float64Array(REASON_COUNT), {
      kick: () => assert.fail('no kick: the ring has room'),
      sendmmsgAt: () => assert.fail(`a ${len}-byte tagged frame left the ring for the big-frame path`),
    });
    assert.equal(tx.transmit(1, batch, 0), true, `${len}: refused`);
    const out = txSlot(rings, 1, 0);
    assert.equal(out.status, TP_STATUS_SEND_REQUEST, `${len}`);
    assert.equal(out.data.length, VNET_HDR_LEN + len + 4, `${len}: tp_len`);
    const eth = out.data.subarray(VNET_HDR_LEN);
    assert.deepEqual(eth.subarray(0, 12), f.subarray(0, 12), `${len}: MACs`);
    assert.deepEqual([...eth.subarray(12, 16)], [0x81, 0x00, tci >> 8, tci & 0xff], `${len}: tag`);
    assert.deepEqual(eth.subarray(16), f.subarray(12), `${len}: the rest of the frame, to its last byte`);
    assert.ok(
      rings.mem.subarray(next, next + FRAME_SIZE).every((b) => b === 0xee),
      `${len}: the next TX slot was written`,
    );
  }
});

// ---- frames too big for a slot: one recvmmsg per batch, one sendmmsg per port ----

/** Mark RX slot i of `port` as a frame the kernel cut to the slot and queued whole on the socket. */
function markCopied(rings: RingSet, port: number, i: number, wireLen: number): void {
  const v = new DataView(rings.mem.buffer);
  const slot = rings.rxBase[port] + i * FRAME_SIZE;
  v.setUint32(slot + 4, wireLen, true);
  v.setUint32(slot, v.getUint32(slot, true) | TP_STATUS_COPY, true);
}

function u64(rings: RingSet, at: number): number {
  const v = new DataView(rings.mem.buffer);
  return v.getUint32(at, true) + v.getUint32(at + 4, true) * 2 ** 32;
}

/** A socket queue holding `frames`: recvmmsg fills the vector's buffers in order, as the kernel does. */
function socketQueue(rings: RingSet, frames: Uint8Array[], calls: number[]) {
  return (_fd: number, addr: number, vlen: number): number => {
    calls.push(vlen);
    assert.equal(addr, rings.baseAddr + rings.rxMsgs, 'recvmmsg is given the RX vector');
    let k = 0;
    for (; k < vlen && frames.length > 0; k++) {
      const f = frames.shift()!;
      const hdr = rings.rxMsgs + k * libc.MMSGHDR_SIZE;
      const iov = u64(rings, hdr + libc.MMSG_IOV);
      assert.equal(u64(rings, hdr + libc.MMSG_IOVLEN), 1);
      const base = u64(rings, iov - rings.baseAddr);
      assert.equal(base, rings.baseAddr + rings.bigRx + k * BIG_SLOT, `message ${k} fills big buffer ${k}`);
      assert.equal(u64(rings, iov - rings.baseAddr + 8), BIG_SLOT);
      rings.mem.fill(0, base - rings.baseAddr, base - rings.baseAddr + VNET_HDR_LEN);
      rings.mem.set(f, base - rings.baseAddr + VNET_HDR_LEN);
      new DataView(rings.mem.buffer).setUint32(hdr + libc.MMSG_LEN, VNET_HDR_LEN + f.length, true);
    }
    return k === 0 ? -libc.EAGAIN : k;
  };
}

test('rx ring: big frames are read with one recvmmsg per batch, in ring order, as many as there are big buffers', () => {
  const rings = memoryRings(); // 4 big buffers
  const small = frame(60);
  const bigs = [3000, 3001, 3002, 3003, 3004].map((n) => frame(n));
  fillRx(rings, 0, [small, ...bigs, small].map((f) => ({ frame: f.subarray(0, Math.min(f.length, 200)) })));
  for (let i = 1; i <= 5; i++) markCopied(rings, 0, i, bigs[i - 1].length);
  const queue = [...bigs];
  const calls: number[] = [];
  const batch = new Batch(16, rings.mem);
  const drops = new Float64Array(REASON_COUNT);
  assert.equal(readRx(rings, 0, batch, drops, socketQueue(rings, queue, calls)), 5, 'the 5th big frame waits for a free big buffer');
  assert.deepEqual(calls, [4], 'one recvmmsg for the 4 big frames');
  assert.deepEqual([...batch.len.slice(0, 5)], [60, 3000, 3001, 3002, 3003]);
  for (let i = 1; i < 5; i++) assert.deepEqual(rings.mem.slice(batch.off[i], batch.off[i] + batch.len[i]), bigs[i - 1]);
  assert.deepEqual([...batch.l3len.slice(0, 5)], [46, 2986, 2987, 2988, 2989]);
  releaseRx(rings, batch);
  assert.equal(readRx(rings, 0, batch, drops, socketQueue(rings, queue, calls)), 2);
  assert.deepEqual(calls, [4, 1]);
  assert.deepEqual([...batch.len.slice(0, 2)], [3004, 60]);
  assert.equal(drops.reduce((a, b) => a + b), 0);
});

test('rx ring: a big frame the socket does not deliver is dropped as truncated and the batch closes up', () => {
  const rings = memoryRings();
  const f1 = frame(61);
  const f2 = frame(62);
  fillRx(rings, 0, [{ frame: f1 }, { frame: frame(200) }, { frame: frame(200) }, { frame: f2 }]);
  markCopied(rings, 0, 1, 5000);
  markCopied(rings, 0, 2, 5001);
  const calls: number[] = [];
  const batch = new Batch(8, rings.mem);
  const drops = new Float64Array(REASON_COUNT);
  // Only one of the two frames is on the socket queue.
  assert.equal(readRx(rings, 0, batch, drops, socketQueue(rings, [frame(5000)], calls)), 3);
  assert.deepEqual([...batch.len.slice(0, 3)], [61, 5000, 62]);
  assert.equal(drops[Reason.TRUNCATED], 1);
  assert.equal(batch.count, 3);
  releaseRx(rings, batch);
  for (let i = 0; i < 4; i++) assert.equal(new DataView(rings.mem.buffer).getUint32(rings.rxBase[0] + i * FRAME_SIZE, true), TP_STATUS_KERNEL);
});

/** Records the calls TxRings makes, in order; sendmmsg results can be scripted. */
function recordingCalls(rings: RingSet, results: number[] = []) {
  const log: string[] = [];
  const sent: Array<{ addr: number; len: number }> = [];
  return {
    log,
    sent,
    kick: (fd: number) => {
      log.push(`kick fd ${fd}`);
      return 0;
    },
    sendmmsgAt: (fd: number, addr: number, vlen: number) => {
      log.push(`sendmmsg fd ${fd} vlen ${vlen}`);
      const r = results.length > 0 ? results.shift()! : vlen;
      for (let k = 0; k < Math.max(0, r); k++) {
        const hdr = addr - rings.baseAddr + k * libc.MMSGHDR_SIZE;
        const iov = u64(rings, hdr + libc.MMSG_IOV) - rings.baseAddr;
        sent.push({ addr: u64(rings, iov) - rings.baseAddr, len: u64(rings, iov + 8) });
      }
      return r;
    },
  };
}

/** A batch of frames as read into big buffers (lengths as given), untagged. */
function bigBatch(rings: RingSet, lens: number[]): Batch {
  const batch = new Batch(8, rings.mem);
  lens.forEach((len, k) => {
    batch.off[k] = rings.bigRx + k * BIG_SLOT + VNET_HDR_LEN;
    batch.len[k] = len;
    batch.vlan[k] = NO_TAG;
    rings.mem.set(frame(len), batch.off[k]);
  });
  batch.count = lens.length;
  return batch;
}

/** Ports 1 and 2 attached (ring fds 11 and 12, big-frame fds 21 and 22) and a TxRings whose calls are recorded. */
function recordedTx(results: number[] = []) {
  const rings = memoryRings(3);
  rings.attach(1, 11, 21);
  rings.attach(2, 12, 22);
  const calls = recordingCalls(rings, results);
  const drops = new Float64Array(REASON_COUNT);
  return { rings, calls, drops, tx: new TxRings(rings, drops, calls) };
}

test('tx ring: big frames wait on the port and leave with one sendmmsg per port, from where they were received', () => {
  const { rings, calls, tx } = recordedTx();
  const batch = bigBatch(rings, [5000, 6000]);
  for (const port of [1, 2]) for (let i = 0; i < 2; i++) assert.equal(tx.transmit(port, batch, i), true);
  assert.deepEqual(calls.log, [], 'nothing is sent before the batch is done');
  tx.flushBig();
  assert.deepEqual(calls.log, ['sendmmsg fd 21 vlen 2', 'sendmmsg fd 22 vlen 2']);
  const at = (k: number) => rings.bigRx + k * BIG_SLOT;
  assert.deepEqual(calls.sent, [
    { addr: at(0), len: VNET_HDR_LEN + 5000 },
    { addr: at(1), len: VNET_HDR_LEN + 6000 },
    { addr: at(0), len: VNET_HDR_LEN + 5000 },
    { addr: at(1), len: VNET_HDR_LEN + 6000 },
  ]);
  tx.flushBig();
  assert.equal(calls.log.length, 2, 'a second flush sends nothing again');
});

test('tx ring: a port keeps its frames in order across the ring and the big-frame path', () => {
  const { rings, calls, tx } = recordedTx();
  const batch = bigBatch(rings, [5000]);
  fillRx(rings, 0, [{ frame: frame(60) }]);
  const small = new Batch(8, rings.mem);
  readRx(rings, 0, small, new Float64Array(REASON_COUNT));
  tx.transmit(1, small, 0); // on the ring
  tx.transmit(1, batch, 0); // big: the ring goes first
  tx.transmit(1, small, 0); // small again: the big frame goes first
  tx.flushBig();
  tx.kickAll(Int32Array.of(1), 1);
  assert.deepEqual(calls.log, ['kick fd 11', 'sendmmsg fd 21 vlen 1', 'kick fd 11']);
});

test('tx ring: a big frame the kernel refuses is counted as tx-error and the others still go', () => {
  const { rings, calls, drops, tx } = recordedTx([-libc.ENOBUFS, 2]);
  const batch = bigBatch(rings, [5000, 5001, 5002]);
  for (let i = 0; i < 3; i++) tx.transmit(1, batch, i);
  tx.flushBig();
  assert.deepEqual(calls.log, ['sendmmsg fd 21 vlen 3', 'sendmmsg fd 21 vlen 2']);
  assert.deepEqual(
    calls.sent.map((s) => s.len),
    [VNET_HDR_LEN + 5001, VNET_HDR_LEN + 5002],
  );
  assert.equal(drops[Reason.TX_ERROR], 1);
});

test('tx ring: a tagged big frame is rebuilt with its tag once per buffer and sent from there to every port', () => {
  // (This kernel has no 802.1Q devices, so no integration test makes tagged GSO frames.)
  const { rings, calls, tx } = recordedTx();
  const batch = bigBatch(rings, [3000, 4000]);
  const vnet = [1, 4, 54, 0, 0xa8, 5, 34, 0, 16, 0]; // NEEDS_CSUM, TCPv6 GSO, hdr_len 54, csum_start 34
  rings.mem.set(vnet, batch.off[1] - VNET_HDR_LEN);
  const original = rings.mem.slice(batch.off[1], batch.off[1] + 4000);
  batch.vlan[1] = (0x8100 << 16) | 100;
  for (const port of [1, 2]) for (let i = 0; i < 2; i++) tx.transmit(port, batch, i);
  tx.flushBig();
  const tagged = rings.bigTag + BIG_SLOT; // the tag buffer of big buffer 1
  assert.deepEqual(
    calls.sent.map((s) => [s.addr, s.len]),
    [
      [rings.bigRx, VNET_HDR_LEN + 3000],
      [tagged, VNET_HDR_LEN + 4004],
      [rings.bigRx, VNET_HDR_LEN + 3000],
      [tagged, VNET_HDR_LEN + 4004],
    ],
  );
  const out = rings.mem.subarray(tagged, tagged + VNET_HDR_LEN + 4004);
  assert.deepEqual([...out.subarray(0, VNET_HDR_LEN)], [1, 4, 58, 0, 0xa8, 5, 38, 0, 16, 0], 'hdr_len and csum_start count the tag');
  const eth = out.subarray(VNET_HDR_LEN);
  assert.deepEqual(eth.subarray(0, 12), original.subarray(0, 12));
  assert.deepEqual([...eth.subarray(12, 16)], [0x81, 0x00, 0, 100]);
  assert.deepEqual(eth.subarray(16), original.subarray(12));
  assert.deepEqual(rings.mem.slice(batch.off[1], batch.off[1] + 4000), original, 'the received frame is left as it was');

  // Built once per batch: a mark put in the rebuilt frame survives the
  // transmit to another port, and is gone once the next batch rebuilds it.
  const mark = tagged + VNET_HDR_LEN + 100;
  const before = rings.mem[mark];
  tx.transmit(1, batch, 1);
  rings.mem[mark] = before ^ 0xff;
  tx.transmit(2, batch, 1);
  assert.equal(rings.mem[mark], before ^ 0xff, 'rebuilt again within the same batch');
  tx.flushBig();
  tx.transmit(1, batch, 1);
  assert.equal(rings.mem[mark], before, 'not rebuilt for the next batch');
});

test('rx ring: an interrupted recvmmsg is tried again, so the queued big frames stay with their slots', () => {
  const rings = memoryRings();
  fillRx(rings, 0, [{ frame: frame(200) }]);
  markCopied(rings, 0, 0, 4000);
  const calls: number[] = [];
  const queue = socketQueue(rings, [frame(4000)], calls);
  let interrupted = false;
  const batch = new Batch(8, rings.mem);
  const drops = new Float64Array(REASON_COUNT);
  const n = readRx(rings, 0, batch, drops, (fd, addr, vlen) => {
    if (!interrupted) {
      interrupted = true;
      return -libc.EINTR;
    }
    return queue(fd, addr, vlen);
  });
  assert.equal(n, 1);
  assert.equal(batch.len[0], 4000);
  assert.equal(drops[Reason.TRUNCATED], 0);
});
