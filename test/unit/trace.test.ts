// The trace (src/core/trace.ts): it changes nothing, names each stage, and on
// random frames through random configurations (VLAN modes, ACL rules,
// mirrors, ports down) gives the verdict Forwarder.process() then carries out:
// the same drop reason, or the same egress ports with the same tags.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NO_TAG } from '../../src/core/batch.js';
import { type AclRule, aclTable, compareRules } from '../../src/core/acl.js';
import { Forwarder } from '../../src/core/forwarder.js';
import { mirrorTable } from '../../src/core/mirror.js';
import { REASON_NAMES } from '../../src/core/reasons.js';
import type { PortVlan } from '../../src/core/vlan.js';
import { ETH_P_8021Q, MemPorts, ethernet, makeBatch, prng, vlanTag } from '../helpers/memports.js';

const N = 6;
const BCAST = 0xffffffffffff;

function setup() {
  const mem = new MemPorts(N);
  const fwd = new Forwarder({ maxPorts: N, fdbSize: 64, agingMs: 300_000 }, mem);
  for (let p = 0; p < N; p++) fwd.attach(p, true, 1500);
  return { fwd, mem };
}

test('trace: names each stage of a learned unicast through access ports, and changes no table or counter', () => {
  const { fwd } = setup();
  fwd.setVlan(0, { mode: 'access', tag: 10, trunks: null });
  fwd.setVlan(1, { mode: 'trunk', tag: 0, trunks: [[10, 20]] });
  fwd.process(makeBatch([{ frame: ethernet(BCAST, 0x020000000002, 0x0800), vlan: vlanTag(ETH_P_8021Q, 0, 0, 10) }]), 1, 0);
  const before = { count: fwd.fdb.count, learned: fwd.fdb.learned, rx: Array.from(fwd.rxFrames), tx: Array.from(fwd.txFrames), drops: Array.from(fwd.drops) };
  const t = fwd.trace({ ingress: 0, src: 0x020000000001, dst: 0x020000000002, vlan: null, type: 0x0800 }, 1);
  assert.deepEqual(t.vlan, { vid: 10, why: "untagged frame on an access port: the port's VLAN" });
  assert.deepEqual(t.acl, { rule: null, action: 'allow', rules: 0 });
  assert.deepEqual(t.learn, { kind: 'new' });
  assert.deepEqual(t.lookup, { kind: 'hit', port: 1 });
  assert.deepEqual(t.egress, [{ port: 1, tag: 10 }]);
  assert.deepEqual(t.verdict, { action: 'forward', ports: [1] });
  assert.deepEqual({ count: fwd.fdb.count, learned: fwd.fdb.learned, rx: Array.from(fwd.rxFrames), tx: Array.from(fwd.txFrames), drops: Array.from(fwd.drops) }, before);
});

test('trace: an ACL drop names the rule; a tagged frame on an access port is vlan-tagged; same-port and a mirror output are drops', () => {
  const { fwd } = setup();
  fwd.setVlan(2, { mode: 'access', tag: 10, trunks: null });
  const rule: AclRule = { id: 7, priority: 100, port: null, src: { mac: 0x020000000001, mask: 0xffffffffffff }, dst: null, type: null, vlan: null, action: 'drop' };
  fwd.setAcl(aclTable([rule]));
  const a = fwd.trace({ ingress: 0, src: 0x020000000001, dst: BCAST, vlan: null, type: 0x0800 }, 0);
  assert.deepEqual(a.acl, { rule: 7, action: 'drop', rules: 1 });
  assert.deepEqual(a.verdict, { action: 'drop', reason: 'acl-drop' });
  assert.equal(a.learn, null);
  const b = fwd.trace({ ingress: 2, src: 0x020000000003, dst: BCAST, vlan: 10, type: 0x0800 }, 0);
  assert.deepEqual(b.verdict, { action: 'drop', reason: 'vlan-tagged' });
  fwd.process(makeBatch([ethernet(BCAST, 0x020000000004, 0x0800)]), 3, 0);
  const c = fwd.trace({ ingress: 3, src: 0x020000000005, dst: 0x020000000004, vlan: null, type: 0x0800 }, 0);
  assert.deepEqual(c.verdict, { action: 'drop', reason: 'same-port' });
  fwd.setMirrors(mirrorTable([{ name: 'm', output: 5, selectAll: false, selectIngress: [0], selectEgress: [], selectVlans: null }], N));
  const d = fwd.trace({ ingress: 5, src: 0x020000000006, dst: BCAST, vlan: null, type: 0x0800 }, 0);
  assert.deepEqual(d.verdict, { action: 'drop', reason: 'mirror-output' });
  const e = fwd.trace({ ingress: 0, src: 0x020000000008, dst: BCAST, vlan: null, type: 0x86dd }, 0);
  assert.deepEqual(e.mirrors, [{ mirror: 'm', output: 5, tag: null }]);
  assert.deepEqual(e.egress.map((x) => x.port), [1, 2, 3, 4]);
  assert.deepEqual(e.egress.find((x) => x.port === 2), { port: 2, tag: null, skipped: 'VLAN 0 not carried' });
});

/** Tags as the wire would show them: the VID of the outer 802.1Q tag, or null. */
function outerVid(frame: Uint8Array): number | null {
  return frame[12] === 0x81 && frame[13] === 0x00 ? ((frame[14]! << 8) | frame[15]!) & 0xfff : null;
}

test('trace: on 3000 random frames through random configurations, the verdict is what process() then does', () => {
  const rand = prng(20261202);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const macs = [0x020000000001, 0x020000000002, 0x020000000003, 0x020000000004, 0x020000000005, 0x010000000000 * 0 + 0x0180c2000000, BCAST, 0x01005e000001, 0];
  const modes: PortVlan[] = [
    { mode: 'default', tag: 0, trunks: null },
    { mode: 'access', tag: 10, trunks: null },
    { mode: 'access', tag: 20, trunks: null },
    { mode: 'trunk', tag: 0, trunks: null },
    { mode: 'trunk', tag: 0, trunks: [[10, 10]] },
    { mode: 'native-untagged', tag: 10, trunks: [[20, 20]] },
    { mode: 'native-tagged', tag: 20, trunks: null },
  ];
  let compared = 0;
  for (let round = 0; round < 30; round++) {
    const { fwd, mem } = setup();
    for (let p = 0; p < N; p++) fwd.setVlan(p, pick(modes));
    const rules: AclRule[] = [];
    for (let k = 0; k < Math.floor(rand() * 4); k++) {
      rules.push({ id: k + 1, priority: pick([100, 32768]), port: rand() < 0.5 ? null : pick([0, 1, 2]), src: rand() < 0.5 ? null : { mac: pick(macs.slice(0, 5)), mask: 0xffffffffffff }, dst: null, type: rand() < 0.7 ? null : 0x86dd, vlan: rand() < 0.5 ? null : pick([10, 20, 'untagged'] as const), action: pick(['allow', 'drop'] as const) });
    }
    fwd.setAcl(aclTable(rules.sort(compareRules)));
    if (rand() < 0.6) fwd.setMirrors(mirrorTable([{ name: 'm', output: 5, selectAll: rand() < 0.3, selectIngress: rand() < 0.5 ? [0] : [], selectEgress: rand() < 0.5 ? [1, 2] : [], selectVlans: rand() < 0.5 ? null : [[10, 10]] }], N));
    if (rand() < 0.3) fwd.setLink(pick([1, 2, 3]), false, 1500);
    for (let k = 0; k < 100; k++) {
      const ingress = Math.floor(rand() * N);
      const src = pick(macs);
      const dst = pick(macs);
      const vid = rand() < 0.5 ? null : pick([0, 10, 20, 30]);
      const type = rand() < 0.5 ? 0x0800 : 0x86dd;
      const t = fwd.trace({ ingress, src, dst, vlan: vid, type }, k);
      const dropsBefore = Array.from(fwd.drops);
      const hitsBefore = fwd.aclHitCounts();
      mem.clear();
      fwd.process(makeBatch([{ frame: ethernet(dst, src, type), vlan: vid === null ? NO_TAG : vlanTag(ETH_P_8021Q, 0, 0, vid) }]), ingress, k);
      const dropped = REASON_NAMES.filter((_, r) => fwd.drops[r]! > dropsBefore[r]!);
      const got = mem.log.map(([p]) => p);
      const where = `round ${round} frame ${k}: ${JSON.stringify(t)}`;
      const ids = rules.map((r) => r.id);
      const hit = fwd.aclHitCounts().findIndex((h, r) => h > hitsBefore[r]!);
      assert.equal(hit < 0 ? null : ids[hit], t.acl === null ? null : t.acl.rule, `${where}: the rule that matched`);
      if (t.verdict.action === 'drop') {
        assert.deepEqual(dropped, [t.verdict.reason], where);
        assert.deepEqual(got, t.mirrors.filter((m) => m.skipped === undefined).map((m) => m.output), where);
      } else {
        assert.deepEqual(dropped, [], where);
        assert.deepEqual([...got].sort(), [...t.verdict.ports].sort(), where);
        for (const e of [...t.egress, ...t.mirrors.map((m) => ({ port: m.output, tag: m.tag, skipped: m.skipped }))]) {
          if (e.skipped !== undefined) continue;
          assert.equal(outerVid(mem.sent[e.port]![0]!), e.tag, `${where}: tag on port ${e.port}`);
        }
      }
      compared++;
    }
  }
  assert.equal(compared, 3000);
});
