// The ACL verdict cache (src/core/acl-cache.ts) and the forwarder using it: an
// answer is kept only for the exact fields, and a new ACL is in force for the
// very next frame of a flow the cache already knows.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ACL_CACHE_MISS, ACL_CACHE_SIZE, AclCache } from '../../src/core/acl-cache.js';
import { aclTable } from '../../src/core/acl.js';
import { Forwarder } from '../../src/core/forwarder.js';
import { Reason } from '../../src/core/reasons.js';
import { ETH_P_IPV4, MemPorts, ethernet, makeBatch } from '../helpers/memports.js';

test('acl cache: answers only for the exact fields it stored, and nothing after invalidate()', () => {
  const c = new AclCache();
  assert.equal(c.lookup(1, 2, 3, 4, 5), ACL_CACHE_MISS, 'a zeroed table is empty');
  c.store(1, 2, 3, 4, 5, 7);
  c.store(1, 2, 3, 4, 6, -1);
  assert.equal(c.lookup(1, 2, 3, 4, 5), 7);
  assert.equal(c.lookup(1, 2, 3, 4, 6), -1);
  for (const k of [[0, 2, 3, 4, 5], [1, 0, 3, 4, 5], [1, 2, 0, 4, 5], [1, 2, 3, 0, 5], [1, 2, 3, 4, 0]]) {
    assert.equal(c.lookup(k[0]!, k[1]!, k[2]!, k[3]!, k[4]!), ACL_CACHE_MISS, `fields ${k}`);
  }
  c.invalidate();
  assert.equal(c.lookup(1, 2, 3, 4, 5), ACL_CACHE_MISS);
  // More keys than entries: every answer read back is still the one stored for its own key.
  const n = ACL_CACHE_SIZE * 4;
  for (let k = 0; k < n; k++) c.store(k, k * 7, 0, k, 1, k % 100);
  let hits = 0;
  for (let k = 0; k < n; k++) {
    const r = c.lookup(k, k * 7, 0, k, 1);
    if (r === ACL_CACHE_MISS) continue;
    assert.equal(r, k % 100);
    hits++;
  }
  assert.ok(hits > 0 && hits <= ACL_CACHE_SIZE, `${hits} answers kept`);
});

test('acl cache: a drop rule added while a flow is cached drops its very next frame; deleted, the next passes', () => {
  const mem = new MemPorts(4);
  const fwd = new Forwarder({ maxPorts: 4, fdbSize: 64, agingMs: 300_000 }, mem);
  for (let p = 0; p < 3; p++) fwd.attach(p, true, 1500);
  const ipv6 = { id: 1, priority: 10, port: null, src: null, dst: null, type: 0x86dd, vlan: null, action: 'drop' as const };
  const frame = () => makeBatch([ethernet('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:01', ETH_P_IPV4)]);
  fwd.setAcl(aclTable([ipv6])); // a rule the flow does not match: its answer (-1) is cached
  for (let k = 0; k < 3; k++) fwd.process(frame(), 0, k);
  assert.equal(fwd.drops[Reason.ACL_DROP], 0);
  const drop = { id: 2, priority: 20, port: null, src: { mac: 0x020000000001, mask: 0xffffffffffff }, dst: null, type: null, vlan: null, action: 'drop' as const };
  fwd.setAcl(aclTable([drop, ipv6]));
  mem.clear();
  fwd.process(frame(), 0, 3);
  assert.equal(fwd.drops[Reason.ACL_DROP], 1);
  assert.deepEqual(mem.counts(), [0, 0, 0, 0]);
  assert.deepEqual(fwd.aclHitCounts(), [1, 0]);
  fwd.setAcl(aclTable([ipv6]));
  fwd.process(frame(), 0, 4);
  assert.deepEqual(mem.counts(), [0, 1, 1, 0]);
});
