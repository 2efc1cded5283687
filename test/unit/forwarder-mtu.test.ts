// The MTU check and VLAN tags: the kernel strips only a frame's outer tag, so
// a C-tag under an 802.1ad S-tag is still in the frame's bytes. Tags are not
// payload: what must fit the egress MTU is what follows the last of them.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Forwarder } from '../../src/core/forwarder.js';
import { Reason } from '../../src/core/reasons.js';
import {
  ETH_P_8021AD,
  ETH_P_8021Q,
  ETH_P_IPV4,
  ethernet,
  type FrameSpec,
  insertTag,
  makeBatch,
  MemPorts,
  vlanTag,
} from '../helpers/memports.js';

const H1 = '02:00:00:00:00:01';
const H2 = '02:00:00:00:00:02';
const BCAST = 'ff:ff:ff:ff:ff:ff';
const S_TAG = vlanTag(ETH_P_8021AD, 3, 0, 300);
const C_TAG = vlanTag(ETH_P_8021Q, 5, 0, 123);

/** Ports 0-2 at MTU 1500, H2 learned on port 1. */
function setup() {
  const mem = new MemPorts(4);
  const fwd = new Forwarder({ maxPorts: 4, fdbSize: 64, agingMs: 300_000 }, mem);
  for (let p = 0; p < 3; p++) fwd.attach(p, true, 1500);
  fwd.process(makeBatch([ethernet(BCAST, H2, ETH_P_IPV4)]), 1, 0);
  mem.clear();
  return { fwd, mem };
}

/** As received: the S-tag stripped by the kernel, the C-tag (and any more) still in the frame. */
function qinq(dst: string, ipLen: number, inner = [C_TAG]): FrameSpec {
  let f = ethernet(dst, H1, ETH_P_IPV4, ipLen);
  for (const t of [...inner].reverse()) f = insertTag(f, t);
  return { frame: f, vlan: S_TAG };
}

test('forwarder MTU: a 1500-byte packet under an S-tag and a C-tag fits a 1500-byte port, unicast and flooded', () => {
  const { fwd, mem } = setup();
  const uni = qinq(H2, 1500);
  assert.equal(uni.frame.length, 14 + 4 + 1500);
  fwd.process(makeBatch([uni, qinq(BCAST, 1500)]), 0, 0);
  assert.equal(fwd.drops[Reason.MTU_EXCEEDED], 0);
  assert.deepEqual(mem.counts(), [0, 2, 1, 0]);
  // It leaves with both tags, in order, and all its bytes.
  assert.deepEqual(mem.sent[1]![0], insertTag(uni.frame, S_TAG));
});

test('forwarder MTU: a 1501-byte packet under two tags is dropped as mtu-exceeded', () => {
  const { fwd, mem } = setup();
  fwd.process(makeBatch([qinq(H2, 1501), qinq(BCAST, 1501)]), 0, 0);
  assert.deepEqual(mem.counts(), [0, 0, 0, 0]);
  assert.equal(fwd.drops[Reason.MTU_EXCEEDED], 3);
});

test('forwarder MTU: every tag left in the frame is taken off, and only tags', () => {
  const { fwd, mem } = setup();
  fwd.process(makeBatch([qinq(H2, 1500, [C_TAG, vlanTag(ETH_P_8021Q, 0, 0, 7)])]), 0, 0);
  assert.deepEqual(mem.counts(), [0, 1, 0, 0], 'three tags, 1500 bytes after them');
  // An untagged frame of 1504 bytes after its header has no tag to take off.
  fwd.process(makeBatch([ethernet(H2, H1, ETH_P_IPV4, 1504)]), 0, 0);
  assert.equal(fwd.drops[Reason.MTU_EXCEEDED], 1);
  // Nor has a frame whose payload merely starts with the bytes 81 00.
  const fake = ethernet(H2, H1, ETH_P_IPV4, 1504);
  fake[14] = 0x81;
  fake[15] = 0x00;
  fwd.process(makeBatch([fake]), 0, 0);
  assert.equal(fwd.drops[Reason.MTU_EXCEEDED], 2);
  assert.deepEqual(mem.counts(), [0, 1, 0, 0]);
});

test('forwarder MTU: a GSO frame under two tags is measured by its segments without the C-tag', () => {
  const { fwd, mem } = setup();
  // l3len from the virtio header counts the C-tag (csum_start is from the Ethernet header).
  fwd.process(makeBatch([{ ...qinq(H2, 30_000), l3len: 4 + 1500 }, { ...qinq(H2, 30_000), l3len: 4 + 1501 }]), 0, 0);
  assert.deepEqual(mem.counts(), [0, 1, 0, 0]);
  assert.equal(fwd.drops[Reason.MTU_EXCEEDED], 1);
});

test('forwarder MTU: a frame ending inside its tags is not read past its end', () => {
  const { fwd, mem } = setup();
  fwd.setLink(1, true, 0); // so that even a tiny frame needs its tags taken off to fit
  const f = ethernet(H2, H1, ETH_P_8021Q, 2); // 16 bytes: a tag type and half a tag
  const batch = makeBatch([{ frame: f, l3len: 2 }]);
  batch.mem = new Uint8Array([...batch.mem, 0x81, 0x00, 0x81, 0x00]);
  fwd.process(batch, 0, 0);
  assert.deepEqual(mem.counts(), [0, 0, 0, 0]);
  assert.equal(fwd.drops[Reason.MTU_EXCEEDED], 1);
});
