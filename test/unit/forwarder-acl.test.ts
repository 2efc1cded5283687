// The forwarding core's ACL (src/core/acl.ts): rule order, each match field,
// masks, hits, and drops before learning.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NO_TAG } from '../../src/core/batch.js';
import {
  type AclRule, aclTable, compareRules, parseAclVlan, parseEthertype, parseMacMask, parsePriority,
} from '../../src/core/acl.js';
import { Forwarder } from '../../src/core/forwarder.js';
import { parseMac } from '../../src/core/mac.js';
import { Reason } from '../../src/core/reasons.js';
import { ETH_P_8021AD, ETH_P_8021Q, ETH_P_IPV4, MemPorts, ethernet, makeBatch, vlanTag } from '../helpers/memports.js';

const H1 = '02:00:00:00:00:01';
const H2 = '02:00:00:00:00:02';
const H3 = '02:00:00:00:aa:03';
const BCAST = 'ff:ff:ff:ff:ff:ff';

function setup() {
  const mem = new MemPorts(8);
  const fwd = new Forwarder({ maxPorts: 8, fdbSize: 1024, agingMs: 300_000 }, mem);
  for (let p = 0; p < 3; p++) fwd.attach(p, true, 1500);
  return { fwd, mem };
}

let nextId = 1;
function rule(r: Partial<AclRule> & Pick<AclRule, 'action'>): AclRule {
  return { id: nextId++, priority: 32768, port: null, src: null, dst: null, type: null, vlan: null, ...r };
}

function setRules(fwd: Forwarder, rules: AclRule[]): void {
  fwd.setAcl(aclTable([...rules].sort(compareRules)));
}

/** Send one frame from `port`; true if it reached any other port. */
function passes(fwd: Forwarder, mem: MemPorts, port: number, src = H1, dst = BCAST, opts: { type?: number; tag?: number } = {}): boolean {
  mem.clear();
  fwd.process(makeBatch([{ frame: ethernet(dst, src, opts.type ?? ETH_P_IPV4, 50), vlan: opts.tag ?? NO_TAG }]), port, 0);
  return mem.sent.some((s) => s.length > 0);
}

const mac = (s: string) => ({ mac: parseMac(s), mask: 0xffffffffffff });

test('acl: no rule allows; a drop rule on a source MAC drops it, counts acl-drop and a hit, and others pass', () => {
  const { fwd, mem } = setup();
  assert.equal(passes(fwd, mem, 0), true);
  const r = rule({ src: mac(H1), action: 'drop' });
  setRules(fwd, [r]);
  assert.equal(passes(fwd, mem, 0), false);
  assert.equal(passes(fwd, mem, 0, H2), true);
  assert.equal(fwd.drops[Reason.ACL_DROP], 1);
  assert.deepEqual(fwd.aclHitCounts(), [1]);
});

test('acl: a dropped frame is not learned', () => {
  const { fwd, mem } = setup();
  setRules(fwd, [rule({ src: mac(H1), action: 'drop' })]);
  passes(fwd, mem, 0, H1);
  assert.equal(fwd.fdb.count, 0);
  passes(fwd, mem, 0, H2);
  assert.equal(fwd.fdb.count, 1);
});

test('acl: the higher priority wins, whichever is older; among equal priorities the older rule', () => {
  const { fwd, mem } = setup();
  const drop = rule({ src: mac(H1), action: 'drop' });
  const allow = rule({ priority: 40000, src: mac(H1), action: 'allow' });
  setRules(fwd, [drop, allow]);
  assert.equal(passes(fwd, mem, 0), true);
  assert.deepEqual(fwd.aclHitCounts(), [1, 0], 'the allow (first in match order) counted the hit');
  const older = rule({ priority: 100, action: 'drop' });
  const newer = rule({ priority: 100, action: 'allow' });
  setRules(fwd, [newer, older]);
  assert.equal(passes(fwd, mem, 0, H2), false, 'equal priority: the older (lower id) drop');
});

test('acl: masks on source and destination MACs', () => {
  const { fwd, mem } = setup();
  setRules(fwd, [rule({ src: parseMacMask('02:00:00:00:aa:00/ff:ff:ff:ff:ff:00'), action: 'drop' })]);
  assert.equal(passes(fwd, mem, 0, H3), false);
  assert.equal(passes(fwd, mem, 0, H1), true);
  setRules(fwd, [rule({ dst: parseMacMask('01:00:00:00:00:00/01:00:00:00:00:00'), action: 'drop' })]);
  assert.equal(passes(fwd, mem, 0, H1, BCAST), false, 'group destinations dropped');
  assert.equal(passes(fwd, mem, 0, H1, H2), true);
});

test('acl: ingress port, ethertype after the outer tag, VLAN and untagged', () => {
  const { fwd, mem } = setup();
  setRules(fwd, [rule({ port: 1, action: 'drop' })]);
  assert.equal(passes(fwd, mem, 0), true);
  assert.equal(passes(fwd, mem, 1, H2), false);

  setRules(fwd, [rule({ type: 0x86dd, action: 'drop' })]);
  assert.equal(passes(fwd, mem, 0, H1, BCAST, { type: 0x86dd }), false);
  assert.equal(passes(fwd, mem, 0, H1, BCAST, { type: 0x86dd, tag: vlanTag(ETH_P_8021Q, 0, 0, 10) }), false, 'tagged: the type after the tag');
  assert.equal(passes(fwd, mem, 0), true);
  setRules(fwd, [rule({ type: ETH_P_8021Q, action: 'drop' })]);
  assert.equal(passes(fwd, mem, 0, H1, BCAST, { type: ETH_P_8021Q, tag: vlanTag(ETH_P_8021AD, 0, 0, 300) }), false, 'QinQ: the inner TPID');

  setRules(fwd, [rule({ vlan: 10, action: 'drop' })]);
  assert.equal(passes(fwd, mem, 0, H1, BCAST, { tag: vlanTag(ETH_P_8021Q, 0, 0, 10) }), false);
  assert.equal(passes(fwd, mem, 0, H1, BCAST, { tag: vlanTag(ETH_P_8021Q, 0, 0, 20) }), true);
  assert.equal(passes(fwd, mem, 0), true);
  fwd.setVlan(2, { mode: 'access', tag: 10, trunks: null });
  assert.equal(passes(fwd, mem, 2, H3), false, 'the VLAN it was classified into');

  setRules(fwd, [rule({ vlan: 'untagged', action: 'drop' })]);
  assert.equal(passes(fwd, mem, 0), false);
  assert.equal(passes(fwd, mem, 2, H3), false, 'arrived untagged on an access port');
  assert.equal(passes(fwd, mem, 0, H1, BCAST, { tag: vlanTag(ETH_P_8021Q, 0, 0, 20) }), true);
});

test('acl: a rule kept by a new table keeps its hits; a deleted rule takes its hits with it', () => {
  const { fwd, mem } = setup();
  const a = rule({ src: mac(H1), action: 'allow' });
  const b = rule({ src: mac(H2), action: 'drop' });
  setRules(fwd, [a, b]);
  passes(fwd, mem, 0, H1);
  passes(fwd, mem, 0, H2);
  passes(fwd, mem, 0, H2);
  const c = rule({ priority: 50000, src: mac(H3), action: 'drop' });
  setRules(fwd, [a, b, c]);
  assert.deepEqual(fwd.aclHitCounts(), [0, 1, 2]);
  setRules(fwd, [a, c]);
  assert.deepEqual(fwd.aclHitCounts(), [0, 1]);
  setRules(fwd, []);
  assert.equal(passes(fwd, mem, 0, H2), true, 'no rule: allowed');
});

test('acl parsing: MAC masks, priority, ethertype and VLAN ranges name the problem', () => {
  assert.deepEqual(parseMacMask('02:00:00:00:00:01/ff:ff:ff:00:00:00'), { mac: parseMac(H1), mask: parseMac('ff:ff:ff:00:00:00') });
  assert.throws(() => parseMacMask('02:00:00:00:00:01/24'), /MAC mask is not a MAC: '24'/);
  assert.throws(() => parseMacMask('02:00:00:00:01'), /not a MAC address/);
  assert.equal(parsePriority('65535'), 65535);
  assert.throws(() => parsePriority('65536'), /priority 65536 out of range 0-65535/);
  assert.equal(parseEthertype('0x0800'), 0x800);
  assert.throws(() => parseEthertype('0x05ff'), /ethertype 0x05ff out of range 0x0600-0xffff/);
  assert.throws(() => parseEthertype('0x10000'), /out of range/);
  assert.equal(parseAclVlan('untagged'), 'untagged');
  assert.throws(() => parseAclVlan('4095'), /VLAN ID 4095 out of range 1-4094/);
  assert.throws(() => parseAclVlan('0'), /out of range/);
});
