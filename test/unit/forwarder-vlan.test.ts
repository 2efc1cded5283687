// The forwarding core's 802.1Q port modes (src/core/vlan.ts): classification
// on ingress, per-VLAN FDB and flooding, tagging on egress, drop reasons.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NO_TAG } from '../../src/core/batch.js';
import { Forwarder } from '../../src/core/forwarder.js';
import { parseMac } from '../../src/core/mac.js';
import { Reason } from '../../src/core/reasons.js';
import { formatPortVlan, parseVid, parseVids, type PortVlan, portVlanProblem } from '../../src/core/vlan.js';
import { ETH_P_8021AD, ETH_P_8021Q, ETH_P_IPV4, MemPorts, ethernet, insertTag, makeBatch, vlanTag } from '../helpers/memports.js';

const H1 = '02:00:00:00:00:01';
const H2 = '02:00:00:00:00:02';
const BCAST = 'ff:ff:ff:ff:ff:ff';

const access = (tag: number): PortVlan => ({ mode: 'access', tag, trunks: null });
const trunk = (trunks: Array<[number, number]> | null = null): PortVlan => ({ mode: 'trunk', tag: 0, trunks });
const nativeTagged = (tag: number, trunks: Array<[number, number]> | null = null): PortVlan => ({ mode: 'native-tagged', tag, trunks });
const nativeUntagged = (tag: number, trunks: Array<[number, number]> | null = null): PortVlan => ({ mode: 'native-untagged', tag, trunks });

function setup(ports = 4) {
  const mem = new MemPorts(8);
  const fwd = new Forwarder({ maxPorts: 8, fdbSize: 1024, agingMs: 300_000 }, mem);
  for (let p = 0; p < ports; p++) fwd.attach(p, true, 1500);
  return { fwd, mem };
}

const frame = (dst = BCAST, src = H1) => ethernet(dst, src, ETH_P_IPV4, 50);

/** Send one frame (tag: as stripped by the kernel) from `port`; returns what each port got, as (tag or null) per port. */
function send(fwd: Forwarder, mem: MemPorts, port: number, f: Uint8Array, tag = NO_TAG, now = 0): Array<number | null | undefined> {
  mem.clear();
  fwd.process(makeBatch([{ frame: f, vlan: tag }]), port, now);
  return mem.sent.slice(0, 4).map((s) => {
    if (s.length === 0) return undefined;
    assert.equal(s.length, 1);
    const out = s[0]!;
    const type = (out[12] << 8) | out[13];
    if (type === ETH_P_IPV4) {
      assert.deepEqual(out, f);
      return null;
    }
    assert.deepEqual(out, insertTag(f, ((type << 16) | (out[14] << 8) | out[15]) | 0), 'only the tag differs');
    return ((type << 16) | (out[14] << 8) | out[15]) | 0;
  });
}

const q = (vid: number, pcp = 0, dei = 0) => vlanTag(ETH_P_8021Q, pcp, dei, vid);

test('vlan: ports with no mode pass every tag unchanged (802.1Q, 802.1ad, priority tag, none)', () => {
  const { fwd, mem } = setup(3);
  for (const tag of [q(10, 5), q(0, 6), q(4095, 1), vlanTag(ETH_P_8021AD, 3, 0, 300), NO_TAG]) {
    assert.deepEqual(send(fwd, mem, 0, frame(), tag), [undefined, tag === NO_TAG ? null : tag, tag === NO_TAG ? null : tag, undefined]);
  }
});

test('vlan access: untagged and VID-0 frames are in its VLAN, leave untagged from access ports and tagged (priority kept) from trunks', () => {
  const { fwd, mem } = setup(4);
  fwd.setVlan(0, access(10));
  fwd.setVlan(1, access(10));
  fwd.setVlan(2, access(20));
  fwd.setVlan(3, trunk());
  assert.deepEqual(send(fwd, mem, 0, frame()), [undefined, null, undefined, q(10)]);
  // a priority tag (VID 0) is untagged for an access port; its priority rides on the trunk's tag
  assert.deepEqual(send(fwd, mem, 0, frame(), q(0, 5)), [undefined, null, undefined, q(10, 5)]);
  // from the trunk: VLAN 20 reaches only the VLAN 20 access port, untagged
  assert.deepEqual(send(fwd, mem, 3, frame(BCAST, H2), q(20, 7, 1)), [undefined, undefined, null, undefined]);
  assert.equal(fwd.drops.reduce((a, b) => a + b, 0), 0);
});

test('vlan access: a frame tagged with a nonzero VID is dropped as vlan-tagged, even its own VID; so is an 802.1ad frame', () => {
  const { fwd, mem } = setup(3);
  fwd.setVlan(0, access(10));
  assert.deepEqual(send(fwd, mem, 0, frame(), q(10)), [undefined, undefined, undefined, undefined]);
  assert.deepEqual(send(fwd, mem, 0, frame(), q(20)), [undefined, undefined, undefined, undefined]);
  assert.deepEqual(send(fwd, mem, 0, frame(), vlanTag(ETH_P_8021AD, 0, 0, 10)), [undefined, undefined, undefined, undefined]);
  assert.equal(fwd.drops[Reason.VLAN_TAGGED], 3);
  assert.equal(fwd.fdb.count, 0, 'nothing learned from a dropped frame');
});

test('vlan trunk: a tagged frame is in its VID and is dropped as vlan-not-allowed unless listed; frames leave tagged', () => {
  const { fwd, mem } = setup(3);
  fwd.setVlan(0, trunk([[10, 10], [100, 199]]));
  fwd.setVlan(1, trunk([[150, 150]]));
  assert.deepEqual(send(fwd, mem, 0, frame(), q(150, 3)), [undefined, q(150, 3), q(150, 3), undefined]);
  assert.deepEqual(send(fwd, mem, 0, frame(), q(10)), [undefined, undefined, q(10), undefined], 'port 1 does not carry 10');
  assert.deepEqual(send(fwd, mem, 0, frame(), q(20)), [undefined, undefined, undefined, undefined]);
  assert.equal(fwd.drops[Reason.VLAN_NOT_ALLOWED], 1);
  // untagged is VLAN 0: not in a list
  assert.deepEqual(send(fwd, mem, 0, frame()), [undefined, undefined, undefined, undefined]);
  assert.equal(fwd.drops[Reason.VLAN_NOT_ALLOWED], 2);
  // a trunk of all VLANs takes untagged frames in VLAN 0, which leave as they came
  fwd.setVlan(0, trunk());
  assert.deepEqual(send(fwd, mem, 0, frame()), [undefined, undefined, null, undefined]);
  // 802.1ad is no VLAN of a port with a mode
  assert.deepEqual(send(fwd, mem, 0, frame(), vlanTag(ETH_P_8021AD, 0, 0, 150)), [undefined, undefined, undefined, undefined]);
  assert.equal(fwd.drops[Reason.VLAN_NOT_ALLOWED], 3);
});

test('vlan native-tagged / native-untagged: untagged frames are in the native VLAN, which leaves tagged / untagged', () => {
  const { fwd, mem } = setup(4);
  fwd.setVlan(0, nativeUntagged(10, [[20, 20]]));
  fwd.setVlan(1, nativeTagged(10, [[20, 20]]));
  fwd.setVlan(2, access(10));
  fwd.setVlan(3, trunk([[20, 20]]));
  assert.deepEqual(send(fwd, mem, 0, frame()), [undefined, q(10), null, undefined]);
  assert.deepEqual(send(fwd, mem, 1, frame(BCAST, H2)), [null, undefined, null, undefined]);
  assert.deepEqual(send(fwd, mem, 1, frame(BCAST, H2), q(10, 4)), [null, undefined, null, undefined]);
  assert.deepEqual(send(fwd, mem, 0, frame(), q(20, 2)), [undefined, q(20, 2), undefined, q(20, 2)]);
  assert.deepEqual(send(fwd, mem, 0, frame(), q(30)), [undefined, undefined, undefined, undefined]);
  assert.equal(fwd.drops[Reason.VLAN_NOT_ALLOWED], 1);
});

test('vlan: the FDB is per VLAN; the same MAC in two VLANs is two entries, a known unicast stays in its VLAN', () => {
  const { fwd, mem } = setup(4);
  fwd.setVlan(0, access(10));
  fwd.setVlan(1, access(20));
  fwd.setVlan(2, trunk());
  send(fwd, mem, 0, frame(BCAST, H1));
  send(fwd, mem, 1, frame(BCAST, H1)); // the same MAC in VLAN 20: not a move
  assert.equal(fwd.fdb.moved, 0);
  assert.deepEqual(
    fwd.fdb.dump(0).map((r) => [r.vlan, r.port]),
    [
      [10, 0],
      [20, 1],
    ],
  );
  assert.equal(fwd.fdb.lookup(parseMac(H1), 0, 10), 0);
  assert.equal(fwd.fdb.lookup(parseMac(H1), 0, 20), 1);
  // H2 on the trunk, in VLAN 20, sends to H1: unicast to port 1, untagged, priority dropped with the tag
  assert.deepEqual(send(fwd, mem, 2, frame(H1, H2), q(20, 6)), [undefined, null, undefined, undefined]);
  // in VLAN 30 H1 is unknown: flooded to the ports that carry 30 (port 3, no mode)
  assert.deepEqual(send(fwd, mem, 2, frame(H1, H2), q(30)), [undefined, undefined, undefined, q(30)]);
  fwd.fdb.validate();
});

test('vlan: a new mode applies to the next frame and forgets what the port learned', () => {
  const { fwd, mem } = setup(3);
  send(fwd, mem, 0, frame(BCAST, H1));
  assert.equal(fwd.fdb.countOf(0), 1);
  fwd.setVlan(0, access(10));
  assert.equal(fwd.fdb.countOf(0), 0);
  assert.deepEqual(send(fwd, mem, 0, frame(), q(5)), [undefined, undefined, undefined, undefined]);
  assert.deepEqual(send(fwd, mem, 1, frame(BCAST, H2), q(10)), [null, undefined, q(10), undefined]);
  // detach forgets the mode: the slot's next port has none
  fwd.detach(0);
  fwd.attach(0, true, 1500);
  assert.deepEqual(send(fwd, mem, 0, frame(), q(5)), [undefined, q(5), q(5), undefined]);
});

test('vlan: tx bytes count the tag each copy leaves with', () => {
  const { fwd, mem } = setup(3);
  fwd.setVlan(0, access(10));
  fwd.setVlan(1, access(10));
  send(fwd, mem, 0, frame());
  assert.equal(fwd.txBytes[1], 64);
  assert.equal(fwd.txBytes[2], 68);
  assert.equal(fwd.rxBytes[0], 64);
});

test('vlan: VID lists and configurations are checked', () => {
  assert.deepEqual(parseVids('10,20,100-199'), [
    [10, 10],
    [20, 20],
    [100, 199],
  ]);
  assert.throws(() => parseVids('0'), /VLAN ID 0 out of range 1-4094/);
  assert.throws(() => parseVids('4095'), /VLAN ID 4095 out of range/);
  assert.throws(() => parseVids('5000'), /VLAN ID 5000 out of range/);
  assert.throws(() => parseVids('20-10'), /reversed VLAN range 20-10/);
  assert.throws(() => parseVids('10,,20'), /bad VLAN list item ''/);
  assert.throws(() => parseVids('x'), /bad VLAN list item 'x'/);
  assert.throws(() => parseVid('4095'), /out of range/);
  assert.equal(parseVid('4094'), 4094);
  assert.equal(portVlanProblem(access(0)), 'VLAN ID 0 out of range 1-4094');
  assert.equal(portVlanProblem({ mode: 'access', tag: 10, trunks: [[1, 2]] }), 'mode access takes no VLAN list');
  assert.equal(portVlanProblem(trunk([[9, 3]])), 'reversed VLAN range 9-3');
  assert.equal(portVlanProblem(nativeTagged(10, [[20, 30]])), null);
  assert.equal(formatPortVlan(nativeTagged(10, [[20, 30], [40, 40]])), 'native-tagged 10 trunks 20-30,40');
  assert.equal(formatPortVlan(trunk()), 'trunk all');
  assert.equal(formatPortVlan(access(7)), 'access 7');
});
