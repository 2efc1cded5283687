// ACL (`vswconfig acl`, issue 9) on real namespaces, on the datapath
// VSWITCH_TEST_DATAPATH names: a drop rule on a source MAC stops pings and its
// source is not learned, a higher-priority allow overrides it, hits and
// acl-drop count, `acl del` restores; bad input changes nothing.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dropCounts, dropGrowth, type Host, Lab } from '../helpers/lab.js';

const lab = new Lab();
let H1: Host, H2: Host;

const ok = (...args: string[]): string => lab.ok(...args);

/** Hits of rule `id` as `acl show` prints them. */
function hits(id: string): number {
  const line = ok('acl', 'show').split('\n').find((l) => new RegExp(`^\\s*${id}\\s`).test(l));
  assert.ok(line !== undefined, `rule ${id} listed`);
  return Number(line.trim().split(/\s+/).at(-1));
}

before(async () => {
  [H1, H2] = [1, 2].map((n) => lab.addHost(n));
  await lab.startSwitch();
  for (const h of lab.hosts) ok('add', h.port);
});

after(async () => {
  await lab.cleanup();
});

test('acl: a drop rule on a source MAC stops its pings, counts hits and acl-drop, and its source is not learned', async () => {
  assert.ok(lab.ping(H1, H2.ip), 'NS1 -> NS2 before any rule');
  const id = ok('acl', 'add', 'src', H1.mac, 'drop').trim();
  // Re-adding the port forgets what it learned before the rule.
  ok('delete', H1.port);
  ok('add', H1.port);
  const base = dropCounts(lab);
  assert.ok(!lab.ping(H1, H2.ip, '-c 2 -W 1'), 'NS1 -> NS2 with the drop rule');
  assert.ok((await dropGrowth(lab, 'acl-drop', base, 2)) >= 2, 'acl-drop counted');
  assert.ok(hits(id) >= 2, 'the rule counted its hits');
  assert.doesNotMatch(ok('fdb'), new RegExp(`^${H1.mac} `, 'm'), 'a dropped source is not learned');
});

test('acl: a higher-priority allow overrides the drop; acl del restores', () => {
  const drop = ok('acl', 'show').split('\n')[1]!.trim().split(/\s+/)[0]!;
  const allow = ok('acl', 'add', 'priority', '40000', 'src', `${H1.mac}/ff:ff:ff:ff:ff:ff`, 'allow').trim();
  const before = hits(drop);
  assert.ok(lab.ping(H1, H2.ip), 'NS1 -> NS2 with the higher-priority allow');
  assert.ok(hits(allow) >= 1, 'the allow counted');
  assert.equal(hits(drop), before, 'the drop, lower, matched nothing');
  ok('acl', 'del', allow);
  assert.ok(!lab.ping(H1, H2.ip, '-c 1 -W 1'), 'the drop is back');
  ok('acl', 'del', drop);
  assert.equal(ok('acl', 'show'), 'id  priority  match  action  hits\n');
  assert.ok(lab.ping(H1, H2.ip), 'NS1 -> NS2 once the rule is deleted');
  assert.match(ok('fdb'), new RegExp(`^${H1.mac} dev ${H1.port} `, 'm'));
});

test('acl: a rule on an ingress port, and on the ethertype (ARP) after the port', () => {
  const onPort = ok('acl', 'add', 'in', H2.port, 'type', '0x0806', 'drop').trim();
  lab.inNs(H1.ns, 'ip neigh flush all');
  lab.inNs(H2.ns, 'ip neigh flush all');
  assert.ok(!lab.ping(H1, H2.ip, '-c 1 -W 1'), "NS2's ARP replies are dropped");
  assert.ok(hits(onPort) >= 1);
  ok('acl', 'del', onPort);
  assert.ok(lab.ping(H1, H2.ip));
});

test('acl: bad input is one line, exit 2, and changes nothing', () => {
  for (const [args, pattern] of [
    [['acl', 'add', 'in', `${lab.prefix}zz`, 'drop'], /is not a port of the switch/],
    [['acl', 'del', '12345'], /no ACL rule 12345/],
    [['acl', 'add', 'src', `${H1.mac}/16`, 'drop'], /MAC mask is not a MAC/],
    [['acl', 'add', 'priority', '70000', 'drop'], /priority 70000 out of range/],
    [['acl', 'add', 'vlan', '4095', 'drop'], /VLAN ID 4095 out of range/],
    [['acl', 'add', 'type', '0x0100', 'drop'], /ethertype 0x0100 out of range/],
  ] as Array<[string[], RegExp]>) {
    const r = lab.vswconfig(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.split('\n').length, 2, 'one line');
  }
  assert.equal(ok('acl', 'show'), 'id  priority  match  action  hits\n');
});
