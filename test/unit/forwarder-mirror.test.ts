// The forwarding core's port mirrors (src/core/mirror.ts): selection by
// ingress, egress and VLAN, one copy per mirror, the output port given to the
// mirror, tags of the copies, counts kept by name.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NO_TAG } from '../../src/core/batch.js';
import { Forwarder } from '../../src/core/forwarder.js';
import { type MirrorSpec, mirrorTable, mirrorNameProblem } from '../../src/core/mirror.js';
import { Reason } from '../../src/core/reasons.js';
import { ETH_P_8021Q, ETH_P_IPV4, MemPorts, ethernet, insertTag, makeBatch, vlanTag } from '../helpers/memports.js';

const H1 = '02:00:00:00:00:01';
const H2 = '02:00:00:00:00:02';
const BCAST = 'ff:ff:ff:ff:ff:ff';
const N = 8;

function setup(ports = 5) {
  const mem = new MemPorts(N);
  const fwd = new Forwarder({ maxPorts: N, fdbSize: 1024, agingMs: 300_000 }, mem);
  for (let p = 0; p < ports; p++) fwd.attach(p, true, 1500);
  return { fwd, mem };
}

function mirror(m: Partial<MirrorSpec> & Pick<MirrorSpec, 'name' | 'output'>): MirrorSpec {
  // As `mirror add` makes it: no select list is every frame.
  return { selectIngress: [], selectEgress: [], selectVlans: null, selectAll: m.selectIngress === undefined && m.selectEgress === undefined, ...m };
}

function send(fwd: Forwarder, mem: MemPorts, port: number, src: string, dst: string, tag = NO_TAG): void {
  mem.clear();
  fwd.process(makeBatch([{ frame: ethernet(dst, src, ETH_P_IPV4, 50), vlan: tag }]), port, 0);
}

test('mirror: select-ingress copies what enters the port, once, after its deliveries; not what enters others', () => {
  const { fwd, mem } = setup();
  fwd.setMirrors(mirrorTable([mirror({ name: 'm', output: 4, selectIngress: [0] })], N));
  send(fwd, mem, 0, H1, BCAST);
  assert.deepEqual(mem.counts().slice(0, 5), [0, 1, 1, 1, 1]);
  assert.deepEqual(mem.log.map(([p]) => p), [1, 2, 3, 4]);
  assert.deepEqual(mem.sent[4]![0], ethernet(BCAST, H1, ETH_P_IPV4, 50));
  send(fwd, mem, 1, H2, BCAST);
  assert.deepEqual(mem.counts().slice(0, 5), [1, 0, 1, 1, 0]);
  assert.deepEqual(fwd.mirrorCopyCounts(), [1]);
  assert.equal(fwd.txFrames[4], 1);
});

test('mirror: select-egress copies what leaves the port (unicast and flood), not what goes elsewhere', () => {
  const { fwd, mem } = setup();
  fwd.setMirrors(mirrorTable([mirror({ name: 'm', output: 4, selectEgress: [2] })], N));
  send(fwd, mem, 2, H2, BCAST); // H2 learned on 2; leaves 0, 1, 3: not selected
  assert.equal(mem.counts()[4], 0);
  send(fwd, mem, 0, H1, H2); // unicast to 2
  assert.deepEqual(mem.counts().slice(0, 5), [0, 0, 1, 0, 1]);
  send(fwd, mem, 1, '02:00:00:00:00:09', H1); // unicast to 0
  assert.equal(mem.counts()[4], 0);
  assert.deepEqual(fwd.mirrorCopyCounts(), [1]);
});

test('mirror: a frame both entering and leaving selected ports is copied once per mirror', () => {
  const { fwd, mem } = setup(6);
  fwd.setMirrors(mirrorTable([
    mirror({ name: 'a', output: 4, selectIngress: [0], selectEgress: [1, 2] }),
    mirror({ name: 'b', output: 5, selectEgress: [1, 2, 3] }),
  ], N));
  send(fwd, mem, 0, H1, BCAST);
  assert.deepEqual(mem.counts().slice(0, 6), [0, 1, 1, 1, 1, 1]);
  assert.deepEqual(fwd.mirrorCopyCounts(), [1, 1]);
});

test('mirror: no select list selects every frame (select_all)', () => {
  const { fwd, mem } = setup();
  fwd.setMirrors(mirrorTable([mirror({ name: 'all', output: 4 })], N));
  for (const p of [0, 1, 2, 3]) {
    send(fwd, mem, p, `02:00:00:00:01:0${p}`, BCAST);
    assert.equal(mem.counts()[4], 1, `from port ${p}`);
  }
});

test('mirror: the output port is off the flood list, forgets its FDB entries, and what arrives on it is dropped and not learned', () => {
  const { fwd, mem } = setup();
  send(fwd, mem, 4, H2, BCAST); // H2 learned on 4 before it becomes an output
  assert.equal(fwd.fdb.lookup(0x020000000002, 0), 4);
  fwd.setMirrors(mirrorTable([mirror({ name: 'm', output: 4, selectIngress: [3] })], N));
  assert.equal(fwd.fdb.lookup(0x020000000002, 0), -1);
  assert.deepEqual(fwd.floodList(0), [1, 2, 3]);
  send(fwd, mem, 0, H1, BCAST);
  assert.deepEqual(mem.counts().slice(0, 5), [0, 1, 1, 1, 0]);
  send(fwd, mem, 4, '02:00:00:00:00:07', BCAST);
  assert.deepEqual(mem.counts(), new Array(N).fill(0));
  assert.equal(fwd.drops[Reason.MIRROR_OUTPUT], 1);
  assert.equal(fwd.fdb.lookup(0x020000000007, 0), -1);
  assert.equal(fwd.rxFrames[4], 2);
  fwd.setMirrors(mirrorTable([], N)); // the port is given back: on the flood lists again
  assert.deepEqual(fwd.floodList(0), [1, 2, 3, 4]);
});

test('mirror: select-vlan copies only frames of the listed VLANs; copies leave tagged with the frame VLAN unless it is the output port untagged one', () => {
  const { fwd, mem } = setup();
  fwd.setVlan(0, { mode: 'access', tag: 10, trunks: null });
  fwd.setVlan(1, { mode: 'access', tag: 20, trunks: null });
  fwd.setVlan(2, { mode: 'trunk', tag: 0, trunks: null });
  fwd.setMirrors(mirrorTable([mirror({ name: 'v10', output: 4, selectIngress: [0, 1, 2], selectVlans: [[10, 10]] })], N));
  send(fwd, mem, 0, H1, BCAST); // VLAN 10: port 2 (trunk) gets it tagged, the mirror too (port 4 has no mode)
  const tagged10 = insertTag(ethernet(BCAST, H1, ETH_P_IPV4, 50), vlanTag(ETH_P_8021Q, 0, 0, 10));
  assert.deepEqual(mem.sent[2]![0], tagged10);
  assert.deepEqual(mem.sent[4]![0], tagged10);
  send(fwd, mem, 1, H2, BCAST); // VLAN 20: not selected
  assert.equal(mem.counts()[4], 0);
  fwd.setVlan(4, { mode: 'access', tag: 10, trunks: null }); // now VLAN 10 leaves the output untagged
  send(fwd, mem, 2, H2, BCAST, vlanTag(ETH_P_8021Q, 5, 0, 10));
  assert.deepEqual(mem.sent[4]![0], ethernet(BCAST, H2, ETH_P_IPV4, 50));
  assert.deepEqual(fwd.mirrorCopyCounts(), [2]);
});

test('mirror: a select-ingress mirror copies a frame its egress refuses (tx ring full); nothing is copied for a frame dropped at ingress', () => {
  const { fwd, mem } = setup();
  fwd.setMirrors(mirrorTable([mirror({ name: 'm', output: 4, selectIngress: [0] })], N));
  send(fwd, mem, 1, H2, BCAST);
  mem.full.add(1);
  send(fwd, mem, 0, H1, H2);
  assert.equal(fwd.drops[Reason.TX_RING_FULL], 1);
  assert.equal(mem.counts()[4], 1);
  send(fwd, mem, 0, '01:80:c2:00:00:00', BCAST); // invalid source: dropped at validation
  assert.equal(mem.counts()[4], 0);
});

test('mirror: a mirror kept by name keeps its count across a new table; mirror names are checked', () => {
  const { fwd, mem } = setup();
  fwd.setMirrors(mirrorTable([mirror({ name: 'a', output: 4 })], N));
  send(fwd, mem, 0, H1, BCAST);
  fwd.setMirrors(mirrorTable([mirror({ name: 'b', output: 3 }), mirror({ name: 'a', output: 4 })], N));
  assert.deepEqual(fwd.mirrorCopyCounts(), [0, 1]);
  assert.equal(mirrorNameProblem('span-1.a_b'), null);
  assert.match(mirrorNameProblem('bad name') ?? '', /bad mirror name/);
  assert.match(mirrorNameProblem('') ?? '', /bad mirror name/);
});
