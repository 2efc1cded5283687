import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DROP, FLOOD, NO_TAG } from '../../src/core/batch.js';
import { Forwarder } from '../../src/core/forwarder.js';
import { parseMac, readSrc } from '../../src/core/mac.js';
import { Reason } from '../../src/core/reasons.js';
import {
  ETH_P_8021AD,
  ETH_P_8021Q,
  ETH_P_ARP,
  ETH_P_IPV4,
  ETH_P_LLDP,
  MemPorts,
  ethernet,
  insertTag,
  makeBatch,
  prng,
  randomUnicastMac,
  vlanTag,
} from '../helpers/memports.js';

const H1 = '02:00:00:00:00:01';
const H2 = '02:00:00:00:00:02';
const H3 = '02:00:00:00:00:03';
const H9 = '02:00:00:00:00:09';
const BCAST = 'ff:ff:ff:ff:ff:ff';

function setup(ports = 4, opts: Partial<{ fdbSize: number; agingMs: number; maxPorts: number; mtu: number }> = {}) {
  const maxPorts = opts.maxPorts ?? 8;
  const mem = new MemPorts(maxPorts);
  const fwd = new Forwarder({ maxPorts, fdbSize: opts.fdbSize ?? 1024, agingMs: opts.agingMs ?? 300_000 }, mem);
  for (let p = 0; p < ports; p++) fwd.attach(p, true, opts.mtu ?? 1500);
  return { fwd, mem };
}

/** Send one frame from `port` and return the ports it went out of. */
function send(fwd: Forwarder, mem: MemPorts, port: number, frame: Uint8Array, now = 0): number[] {
  mem.clear();
  fwd.process(makeBatch([frame]), port, now);
  return mem.portsWithTraffic();
}

test('forwarder: learns the source, then forwards unicast to that one port only', () => {
  const { fwd, mem } = setup(4);
  assert.deepEqual(send(fwd, mem, 0, ethernet(H2, H1, ETH_P_IPV4)), [1, 2, 3], 'unknown: flooded');
  assert.equal(fwd.fdb.lookup(parseMac(H1), 0), 0);
  assert.deepEqual(send(fwd, mem, 2, ethernet(H1, H2, ETH_P_IPV4)), [0], 'known: to port 0 only');
  assert.deepEqual(send(fwd, mem, 0, ethernet(H2, H1, ETH_P_IPV4)), [2], 'and back to port 2 only');
  assert.equal(fwd.fdb.learned, 2);
});

test('forwarder: a MAC seen on another port moves (counted) and traffic follows it', () => {
  const { fwd, mem } = setup(4);
  send(fwd, mem, 0, ethernet(H2, H1, ETH_P_IPV4));
  send(fwd, mem, 1, ethernet(H1, H2, ETH_P_IPV4));
  assert.deepEqual(send(fwd, mem, 0, ethernet(H2, H1, ETH_P_IPV4)), [1]);
  send(fwd, mem, 3, ethernet(H1, H2, ETH_P_IPV4), 10); // H2 moved to port 3
  assert.equal(fwd.fdb.moved, 1);
  assert.deepEqual(send(fwd, mem, 0, ethernet(H2, H1, ETH_P_IPV4), 20), [3]);
});

test('forwarder: unknown unicast floods to every other attached port, never back to ingress', () => {
  const { fwd, mem } = setup(6, { maxPorts: 8 });
  for (let ingress = 0; ingress < 6; ingress++) {
    const out = send(fwd, mem, ingress, ethernet(H9, `02:00:00:00:01:0${ingress}`, ETH_P_IPV4));
    assert.deepEqual(out, [0, 1, 2, 3, 4, 5].filter((p) => p !== ingress));
    assert.equal(mem.sent[ingress].length, 0);
    for (const p of out) assert.equal(mem.sent[p].length, 1, 'exactly one copy per port');
  }
  assert.deepEqual(fwd.floodList(2), [0, 1, 3, 4, 5]);
});

test('forwarder: broadcast and multicast destinations are flooded; 01:80:C2:00:00:10 is not link-local', () => {
  const { fwd, mem } = setup(4);
  assert.deepEqual(send(fwd, mem, 1, ethernet(BCAST, H1, ETH_P_ARP)), [0, 2, 3]);
  assert.deepEqual(send(fwd, mem, 1, ethernet('01:00:5e:00:00:fb', H1, ETH_P_IPV4)), [0, 2, 3]);
  assert.deepEqual(send(fwd, mem, 2, ethernet('33:33:00:00:00:01', H2, 0x86dd)), [0, 1, 3]);
  // 01:80:C2:00:00:10 (all bridges) is outside the link-local range: flooded.
  assert.deepEqual(send(fwd, mem, 0, ethernet('01:80:c2:00:00:10', H3, ETH_P_IPV4)), [1, 2, 3]);
  assert.equal(fwd.drops[Reason.LINK_LOCAL], 0);
});

test('forwarder: destination known on the ingress port is dropped and counted as same-port', () => {
  const { fwd, mem } = setup(4);
  send(fwd, mem, 1, ethernet(BCAST, H2, ETH_P_ARP)); // H2 on port 1
  assert.deepEqual(send(fwd, mem, 1, ethernet(H2, H1, ETH_P_IPV4)), []);
  assert.equal(fwd.drops[Reason.SAME_PORT], 1);
  assert.equal(fwd.fdb.lookup(parseMac(H1), 0), 1, 'the source is still learned');
});

test('forwarder: BPDU, LLDP and pause frames (01:80:C2:00:00:0x) are dropped and counted as link-local', () => {
  const { fwd, mem } = setup(4);
  const b = makeBatch([
    ethernet('01:80:c2:00:00:00', H1, 0x0026), // STP BPDU (802.3 length)
    ethernet('01:80:c2:00:00:0e', H1, ETH_P_LLDP), // LLDP
    ethernet('01:80:c2:00:00:01', H1, 0x8808), // pause
    ethernet('01:80:c2:00:00:0f', H1, 0x8808),
  ]);
  fwd.process(b, 0, 0);
  assert.deepEqual(Array.from(b.verdict.subarray(0, 4)), [DROP, DROP, DROP, DROP]);
  assert.deepEqual(mem.portsWithTraffic(), []);
  assert.equal(fwd.drops[Reason.LINK_LOCAL], 4);
  assert.equal(fwd.rxFrames[0], 4, 'received frames are still counted as rx');
});

test('forwarder: runts (< 14 bytes) are dropped and counted', () => {
  const { fwd, mem } = setup(4);
  const full = ethernet(BCAST, H1, ETH_P_ARP);
  const b = makeBatch([full.subarray(0, 0), full.subarray(0, 6), full.subarray(0, 13), full.subarray(0, 14)]);
  fwd.process(b, 0, 0);
  assert.deepEqual(Array.from(b.verdict.subarray(0, 4)), [DROP, DROP, DROP, FLOOD]);
  assert.equal(fwd.drops[Reason.RUNT], 3);
  assert.deepEqual(mem.counts().slice(0, 4), [0, 1, 1, 1], 'the 14-byte frame is forwarded');
});

test('forwarder: multicast, broadcast or zero source is dropped, counted and not learned', () => {
  const { fwd, mem } = setup(4);
  for (const src of ['01:00:5e:00:00:01', BCAST, '00:00:00:00:00:00']) {
    assert.deepEqual(send(fwd, mem, 0, ethernet(BCAST, src, ETH_P_ARP)), []);
    assert.equal(fwd.fdb.lookup(parseMac(src), 0), -1);
  }
  assert.equal(fwd.drops[Reason.INVALID_SOURCE], 3);
  assert.equal(fwd.fdb.count, 0);
});

test('forwarder: aging with an injected clock: forwarded before aging, flooded after; expire() schedules', () => {
  const { fwd, mem } = setup(4, { agingMs: 10_000 });
  assert.equal(fwd.expire(0), Infinity, 'empty FDB: no timer');
  send(fwd, mem, 1, ethernet(BCAST, H2, ETH_P_ARP), 1_000);
  assert.equal(fwd.expire(1_500), 11_000, 'next expiry of H2');
  assert.deepEqual(send(fwd, mem, 0, ethernet(H2, H1, ETH_P_IPV4), 10_999), [1]);
  assert.deepEqual(send(fwd, mem, 3, ethernet(H2, H3, ETH_P_IPV4), 11_000), [0, 1, 2], 'aged: flooded before GC');
  assert.equal(fwd.expire(11_000), 20_999, 'H1 (learned 10999) is next; H2 removed');
  assert.equal(fwd.fdb.expired, 1);
  assert.equal(fwd.expire(20_500), 21_500, 'never sooner than now + 1000');
  assert.equal(fwd.expire(21_000), Infinity, 'all gone');
  assert.equal(fwd.fdb.count, 0);
  assert.equal(fwd.fdb.expired, 3);
});

test('forwarder: detaching a port flushes its FDB entries and takes it off the flood lists', () => {
  const { fwd, mem } = setup(4);
  send(fwd, mem, 2, ethernet(BCAST, H2, ETH_P_ARP));
  send(fwd, mem, 2, ethernet(BCAST, H3, ETH_P_ARP));
  send(fwd, mem, 0, ethernet(BCAST, H1, ETH_P_ARP));
  fwd.detach(2);
  assert.equal(fwd.isAttached(2), false);
  assert.equal(fwd.fdb.flushed, 2);
  assert.equal(fwd.fdb.lookup(parseMac(H2), 0), -1);
  assert.equal(fwd.fdb.lookup(parseMac(H1), 0), 0);
  assert.deepEqual(send(fwd, mem, 1, ethernet(H2, H9, ETH_P_IPV4)), [0, 3]);
  assert.deepEqual(fwd.floodList(0), [1, 3]);
  // a batch that raced the detach is ignored
  const b = makeBatch([ethernet(BCAST, '02:00:00:00:0f:0f', ETH_P_ARP)]);
  mem.clear();
  fwd.process(b, 2, 0);
  assert.equal(b.verdict[0], DROP);
  assert.deepEqual(mem.portsWithTraffic(), []);
  assert.equal(fwd.fdb.lookup(parseMac('02:00:00:00:0f:0f'), 0), -1);
  // re-attach: floods reach it again
  fwd.attach(2, true, 1500);
  assert.deepEqual(send(fwd, mem, 1, ethernet(H2, H9, ETH_P_IPV4)), [0, 2, 3]);
});

test('forwarder: FDB bound; port 0 flooding 10x fdbSize random sources never evicts port 1\'s hosts', () => {
  const N = 128;
  const { fwd, mem } = setup(3, { fdbSize: N });
  const rand = prng(1);
  const hosts = Array.from({ length: 20 }, () => randomUnicastMac(rand));
  fwd.process(makeBatch(hosts.map((h) => ethernet(BCAST, h, ETH_P_ARP))), 1, 0);
  let now = 0;
  for (let round = 0; round < 10 * N / 64; round++) {
    const frames = Array.from({ length: 64 }, () => ethernet(BCAST, randomUnicastMac(rand), ETH_P_IPV4, 46));
    fwd.process(makeBatch(frames), 0, (now += 5));
    assert.ok(fwd.fdb.count <= N);
  }
  assert.equal(fwd.fdb.count, N);
  assert.ok(fwd.fdb.evicted >= 10 * N - N);
  assert.equal(fwd.fdb.countOf(1), hosts.length);
  // Traffic to port 1's hosts is still unicast to port 1.
  mem.clear();
  fwd.process(makeBatch(hosts.map((h) => ethernet(h, H9, ETH_P_IPV4))), 2, now);
  assert.deepEqual(mem.counts().slice(0, 3), [0, hosts.length, 0]);
  fwd.fdb.validate();
});

test('forwarder: VLAN tags (802.1Q and 802.1ad) are put back on egress unchanged', () => {
  const { fwd, mem } = setup(3);
  const tags = [
    vlanTag(ETH_P_8021Q, 5, 0, 100),
    vlanTag(ETH_P_8021Q, 0, 1, 4094),
    vlanTag(ETH_P_8021AD, 7, 0, 1),
  ];
  const frames = tags.map((tag, k) => ({ frame: ethernet(BCAST, H1, ETH_P_IPV4, 50 + k), vlan: tag }));
  frames.push({ frame: ethernet(BCAST, H1, ETH_P_IPV4, 60), vlan: NO_TAG });
  fwd.process(makeBatch(frames), 0, 0);
  for (const p of [1, 2]) {
    assert.equal(mem.sent[p].length, 4);
    tags.forEach((tag, k) => {
      const out = mem.sent[p][k];
      assert.deepEqual(out, insertTag(frames[k].frame, tag));
      assert.equal((out[12] << 8) | out[13], tag >>> 16, 'TPID');
      assert.equal((out[14] << 8) | out[15], tag & 0xffff, 'TCI (priority, DEI, VID)');
    });
    assert.deepEqual(mem.sent[p][3], frames[3].frame, 'untagged stays untagged');
  }
  assert.equal(tags[2] >>> 16, 0x88a8);
  // tx bytes count the tag
  const expectBytes = frames.reduce((s, f) => s + f.frame.length + (f.vlan === NO_TAG ? 0 : 4), 0);
  assert.equal(fwd.txBytes[1], expectBytes);
  assert.equal(fwd.rxBytes[0], expectBytes);
  // a tagged unicast reaches its one port with its tag
  mem.clear();
  fwd.process(makeBatch([{ frame: ethernet(H1, H2, ETH_P_IPV4), vlan: tags[0] }]), 2, 1);
  assert.deepEqual(mem.portsWithTraffic(), [0]);
  assert.equal((mem.sent[0][0][14] << 8) | mem.sent[0][0][15], tags[0] & 0xffff);
});

test('forwarder: MTU; a too-big frame is dropped and counted, a flood still reaches ports whose MTU fits', () => {
  const { fwd, mem } = setup(4);
  fwd.setLink(2, true, 1400);
  assert.equal(fwd.mtu(2), 1400);
  const big = ethernet(BCAST, H1, ETH_P_IPV4, 1450); // l3len 1450
  assert.deepEqual(send(fwd, mem, 0, big), [1, 3]);
  assert.equal(fwd.drops[Reason.MTU_EXCEEDED], 1);
  // unicast to the small port: dropped and counted
  send(fwd, mem, 2, ethernet(BCAST, H2, ETH_P_ARP));
  assert.deepEqual(send(fwd, mem, 0, ethernet(H2, H1, ETH_P_IPV4, 1450)), []);
  assert.equal(fwd.drops[Reason.MTU_EXCEEDED], 2);
  // exactly the MTU fits
  assert.deepEqual(send(fwd, mem, 0, ethernet(H2, H1, ETH_P_IPV4, 1400)), [2]);
  // GSO: l3len (wire segment size), not len, is what counts
  mem.clear();
  fwd.process(makeBatch([{ frame: ethernet(H2, H1, ETH_P_IPV4, 3000), l3len: 1400 }]), 0, 0);
  assert.deepEqual(mem.portsWithTraffic(), [2]);
  assert.equal(fwd.drops[Reason.MTU_EXCEEDED], 2);
});

test('forwarder: a down port gets nothing and loses its FDB entries; floods skip it silently', () => {
  const { fwd, mem } = setup(4);
  send(fwd, mem, 3, ethernet(BCAST, H3, ETH_P_ARP));
  assert.equal(fwd.fdb.lookup(readSrc(ethernet(BCAST, H3, ETH_P_ARP), 0), 0), 3);
  fwd.setLink(3, false, 1500);
  assert.equal(fwd.isUp(3), false);
  assert.equal(fwd.isAttached(3), true);
  assert.equal(fwd.fdb.countOf(3), 0);
  assert.deepEqual(send(fwd, mem, 0, ethernet(BCAST, H1, ETH_P_ARP)), [1, 2]);
  // H3 is unknown now: flooded to the ports that are up, never to the down one
  assert.deepEqual(send(fwd, mem, 0, ethernet(H3, H1, ETH_P_IPV4)), [1, 2]);
  assert.equal(fwd.drops[Reason.PORT_DOWN], 0);
  assert.equal(fwd.txFrames[3], 0);
  fwd.setLink(3, true, 1500);
  send(fwd, mem, 3, ethernet(BCAST, H3, ETH_P_ARP));
  assert.deepEqual(send(fwd, mem, 0, ethernet(H3, H1, ETH_P_IPV4)), [3]);
});

test('forwarder: egress refusing a frame (TX ring full) is counted; other ports still get theirs', () => {
  const { fwd, mem } = setup(4);
  mem.full.add(2);
  assert.deepEqual(send(fwd, mem, 0, ethernet(BCAST, H1, ETH_P_ARP)), [1, 3]);
  assert.equal(fwd.drops[Reason.TX_RING_FULL], 1);
  assert.equal(fwd.txFrames[2], 0);
  assert.equal(fwd.txFrames[1], 1);
});

test('forwarder: rx/tx frame and byte counters per port', () => {
  const { fwd, mem } = setup(3);
  const f1 = ethernet(BCAST, H1, ETH_P_ARP, 46); // 60 bytes
  const f2 = ethernet(H1, H2, ETH_P_IPV4, 100); // 114 bytes
  fwd.process(makeBatch([f1]), 0, 0);
  fwd.process(makeBatch([f2]), 1, 0);
  assert.deepEqual(Array.from(fwd.rxFrames.subarray(0, 3)), [1, 1, 0]);
  assert.deepEqual(Array.from(fwd.rxBytes.subarray(0, 3)), [60, 114, 0]);
  assert.deepEqual(Array.from(fwd.txFrames.subarray(0, 3)), [1, 1, 1]);
  assert.deepEqual(Array.from(fwd.txBytes.subarray(0, 3)), [114, 60, 60]);
  assert.deepEqual(mem.counts().slice(0, 3), [1, 1, 1]);
  fwd.resetCounters();
  assert.equal(fwd.rxFrames[0], 0);
});

test('forwarder: a mixed batch gets the right verdict per frame and keeps order per egress port', () => {
  const { fwd, mem } = setup(4);
  send(fwd, mem, 1, ethernet(BCAST, H2, ETH_P_ARP));
  mem.clear();
  const frames = [
    ethernet(H2, H1, ETH_P_IPV4, 50), // 0: unicast to 1
    ethernet(BCAST, H1, ETH_P_ARP, 51), // 1: flood
    ethernet('01:80:c2:00:00:00', H1, 0x26, 52), // 2: link-local
    ethernet(H9, H1, ETH_P_IPV4, 53), // 3: unknown -> flood
    ethernet(H2, H1, ETH_P_IPV4, 54), // 4: unicast to 1
    ethernet(H1, H1, ETH_P_IPV4, 55), // 5: to itself: same port
  ];
  const b = makeBatch(frames);
  fwd.process(b, 0, 0);
  assert.deepEqual(Array.from(b.verdict.subarray(0, 6)), [1, FLOOD, DROP, FLOOD, 1, DROP]);
  assert.deepEqual(mem.sent[1], [frames[0], frames[1], frames[3], frames[4]], 'batch order kept on port 1');
  assert.deepEqual(mem.sent[2], [frames[1], frames[3]]);
  assert.deepEqual(mem.sent[3], [frames[1], frames[3]]);
  assert.equal(fwd.drops[Reason.LINK_LOCAL], 1);
  assert.equal(fwd.drops[Reason.SAME_PORT], 1);
});

test('forwarder: attach/setLink/detach validate the port; state accessors', () => {
  const { fwd } = setup(2, { maxPorts: 4 });
  assert.throws(() => fwd.attach(4, true, 1500), RangeError);
  assert.throws(() => fwd.detach(-1), RangeError);
  assert.equal(fwd.isAttached(0), true);
  assert.equal(fwd.isUp(0), true);
  assert.equal(fwd.isAttached(3), false);
  assert.equal(fwd.isUp(9), false);
  fwd.setLink(3, true, 9000); // not attached: ignored
  assert.equal(fwd.isAttached(3), false);
  assert.equal(fwd.mtu(0), 1500);
});

test('forwarder: fdbPortLimit: a frame whose source the full port may not learn is still forwarded, and replies to it flood', () => {
  const mem = new MemPorts(4);
  const fwd = new Forwarder({ maxPorts: 4, fdbSize: 64, agingMs: 300_000, fdbPortLimit: 1, hashSecret: 0x1234 }, mem);
  for (let p = 0; p < 3; p++) fwd.attach(p, true, 1500);
  assert.deepEqual(send(fwd, mem, 0, ethernet(H9, H1, ETH_P_IPV4)), [1, 2]);
  assert.deepEqual(send(fwd, mem, 0, ethernet(BCAST, H2, ETH_P_ARP)), [1, 2], 'H2 not learned, frame still flooded');
  assert.equal(fwd.fdb.refused, 1);
  assert.equal(fwd.fdb.lookup(parseMac(H1), 0), 0);
  assert.equal(fwd.fdb.lookup(parseMac(H2), 0), -1);
  assert.deepEqual(send(fwd, mem, 1, ethernet(H1, H3, ETH_P_IPV4)), [0], 'to the learned H1: unicast');
  assert.deepEqual(send(fwd, mem, 1, ethernet(H2, H3, ETH_P_IPV4)), [0, 2], 'to the refused H2: flooded');
});
