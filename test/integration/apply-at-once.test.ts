// Changes apply at once (issue 9): an ACL rule and a VLAN mode given while a
// flow is under way act on its very next frames, on the datapath
// VSWITCH_TEST_DATAPATH names (mirrors: mirror.test.ts). A ping runs every
// 50 ms from NS1 to NS2; tcpdump in NS2 counts the echo requests that arrive.
// No fixed sleeps: each step waits for NS1's frames to enter the switch (its
// port's rx counter) before it looks at what left toward NS2 (its port's tx
// counter).

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, test } from 'node:test';
import { type Capture, frameLines, framesEntered, type Host, Lab, portStats, waitUntil } from '../helpers/lab.js';

const lab = new Lab('10.80');
let H1: Host, H2: Host;
let flow: ChildProcess;
let cap: Capture;

const ok = (...args: string[]): string => lab.ok(...args);

/** Echo requests from NS1 that reached NS2 so far. */
function arrived(): number {
  return frameLines(cap.out.split('\n')).filter((l) => l.includes(`${H1.ip} > ${H2.ip}: ICMP echo request`)).length;
}

/**
 * The flow stops reaching NS2: NS2's port's tx counter, read once the change
 * has answered (it is applied then), does not move while the next 6 of NS1's
 * frames enter the switch. (tcpdump in NS2 prints late, so it only says when
 * the flow runs again.)
 */
async function assertStopped(what: string): Promise<void> {
  const sentToNs2 = (): number => portStats(lab).get(H2.port)?.txFrames ?? 0;
  const n = sentToNs2();
  await framesEntered(lab, H1.port, 6);
  assert.equal(sentToNs2(), n, `${what}: no frame of NS1's reaches NS2's port any more`);
}

async function assertFlowing(what: string): Promise<void> {
  const n = arrived();
  assert.ok(await waitUntil(() => arrived() >= n + 3, 2000), `${what}: echo requests reach NS2 again`);
}

before(async () => {
  [H1, H2] = [1, 2].map((n) => lab.addHost(n));
  await lab.startSwitch();
  for (const h of lab.hosts) ok('add', h.port);
  assert.ok(lab.ping(H1, H2.ip), 'NS1 -> NS2 before the flow'); // ARP done: the flow is echo requests only
  cap = await lab.capture(H2.ns, H2.ifname, 'icmp');
  flow = lab.spawn('ip', ['netns', 'exec', H1.ns, 'ping', '-i', '0.05', '-c', '400', H2.ip]);
  assert.ok(await waitUntil(() => arrived() >= 3, 3000), 'the flow runs');
});

after(async () => {
  flow?.kill('SIGINT');
  await cap?.stop();
  await lab.cleanup();
});

test('apply at once: an ACL drop rule added during a flow stops its next frames; deleted, they pass again', async () => {
  // A rule the flow does not match first: the datapaths now remember that the flow matches none.
  const other = ok('acl', 'add', 'src', '02:00:00:00:00:99', 'drop').trim();
  await assertFlowing('under a rule it does not match');
  const id = ok('acl', 'add', 'src', H1.mac, 'drop').trim();
  await assertStopped('after acl add');
  ok('acl', 'del', id);
  await assertFlowing('after acl del');
  ok('acl', 'del', other);
  assert.equal(flow.exitCode, null, 'the same flow throughout');
});

test('apply at once: a VLAN mode given during a flow moves its next frames to the new VLAN', async () => {
  ok('vlan', H2.port, 'access', '20'); // NS1's frames are in VLAN 0, which an access port of 20 does not carry
  await assertStopped('NS2 in VLAN 20, NS1 in VLAN 0');
  ok('vlan', H1.port, 'access', '20');
  await assertFlowing('both in VLAN 20');
  ok('vlan', H1.port, 'access', '30');
  await assertStopped('NS1 in VLAN 30');
  assert.equal(flow.exitCode, null, 'the same flow throughout');
});
