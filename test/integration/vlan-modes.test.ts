// 802.1Q port modes (`vswconfig vlan`) on real namespaces, on the datapath
// VSWITCH_TEST_DATAPATH names: the two-VLAN walkthrough of the README with
// pings, then tagged frames built with scapy and captured with tcpdump (this
// kernel has no VLAN sub-interfaces).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Capture, capturedFrames as allFrames, dropCounts, dropGrowth, type Host, Lab, waitUntil } from '../helpers/lab.js';

const lab = new Lab();
let H1: Host, H2: Host, H3: Host, H4: Host;

function vlan(...args: string[]): void {
  const r = lab.vswconfig('vlan', ...args);
  assert.equal(r.code, 0, `vswconfig vlan ${args.join(' ')}: ${r.stderr}`);
}

before(async () => {
  [H1, H2, H3, H4] = [1, 2, 3, 4].map((n) => lab.addHost(n));
  await lab.startSwitch();
  for (const h of lab.hosts) lab.ok('add', h.port);
});

after(async () => {
  await lab.cleanup();
});

/** The test's own frames a capture saw (UDP to port 4001): the hosts' own IPv6 frames cross the switch too. */
function capturedFrames(cap: Capture): string[] {
  return allFrames(cap).filter((l) => /\.4001: UDP/.test(l));
}

function waitForFrames(cap: Capture, n: number): Promise<boolean> {
  return waitUntil(() => capturedFrames(cap).length >= n);
}

/** What `to` captures from `from` while `from` sends the scapy layers after its Ether header. */
async function sendAndCapture(from: Host, to: Host, layers: string, expect: number): Promise<string[]> {
  const cap = await lab.capture(to.ns, to.ifname, `ether src ${from.mac}`);
  try {
    lab.sendFrames(from.ns, from.ifname, `Ether(dst='ff:ff:ff:ff:ff:ff', src='${from.mac}')/${layers}`);
    if (expect > 0) await waitForFrames(cap, expect);
  } finally {
    await cap.stop();
  }
  return capturedFrames(cap);
}

const PAYLOAD = (from: Host, to: Host) => `IP(src='${from.ip}', dst='${to.ip}')/UDP(sport=4000, dport=4001)/Raw(load=b'vlan-test')`;

test('access: NS1 and NS3 in VLAN 10, NS2 and NS4 in VLAN 20: pings inside a VLAN are answered, across are not', () => {
  vlan(H1.port, 'access', '10');
  vlan(H2.port, 'access', '20');
  vlan(H3.port, 'access', '10');
  vlan(H4.port, 'access', '20');
  assert.equal(lab.vswconfig('vlan', H1.port).stdout, `${H1.port} access 10\n`);
  assert.ok(lab.ping(H1, H3.ip), 'NS1 -> NS3 (VLAN 10)');
  assert.ok(lab.ping(H2, H4.ip), 'NS2 -> NS4 (VLAN 20)');
  assert.ok(!lab.ping(H1, H2.ip, '-c 1 -W 1'), 'NS1 -> NS2 crosses VLANs');
  assert.ok(!lab.ping(H3, H4.ip, '-c 1 -W 1'), 'NS3 -> NS4 crosses VLANs');
  const fdb = lab.vswconfig('fdb').stdout;
  assert.match(fdb, new RegExp(`^${H1.mac} dev ${H1.port} vlan 10 age \\d+$`, 'm'));
  assert.match(fdb, new RegExp(`^${H4.mac} dev ${H4.port} vlan 20 age \\d+$`, 'm'));
});

test('access: a tagged frame is dropped and counted as vlan-tagged, even with the port\'s own VID', async () => {
  const base = dropCounts(lab);
  const seen = await sendAndCapture(H1, H3, `Dot1Q(vlan=10)/${PAYLOAD(H1, H3)}`, 0);
  assert.equal(await dropGrowth(lab, 'vlan-tagged', base, 1), 1);
  assert.deepEqual(seen, []);
});

test('trunk and native-tagged: a VLAN 10 frame from a trunk reaches the access ports untagged and the other trunk tagged with its priority', async () => {
  vlan(H4.port, 'trunk', '10,20');
  vlan(H2.port, 'native-tagged', '20', '10');
  assert.equal(lab.vswconfig('vlan', H2.port).stdout, `${H2.port} native-tagged 20 trunks 10\n`);
  const caps = await Promise.all([H1, H2, H3].map((h) => lab.capture(h.ns, h.ifname, `ether src ${H4.mac}`)));
  let lines: string[][];
  try {
    lab.sendFrames(H4.ns, H4.ifname, `Ether(dst='ff:ff:ff:ff:ff:ff', src='${H4.mac}')/Dot1Q(prio=5, vlan=10)/${PAYLOAD(H4, H1)}`);
    for (const c of caps) await waitForFrames(c, 1);
  } finally {
    for (const c of caps) await c.stop();
  }
  lines = caps.map((c) => capturedFrames(c));
  for (const [k, h] of [H1, H3].entries()) {
    const l = lines[k === 0 ? 0 : 2]!;
    assert.equal(l.length, 1, `${h.ns}: ${l.join('\n')}`);
    assert.match(l[0]!, /ethertype IPv4 \(0x0800\)/, 'access ports get it untagged');
    assert.doesNotMatch(l[0]!, /802\.1Q/);
  }
  assert.equal(lines[1]!.length, 1, lines[1]!.join('\n'));
  assert.match(lines[1]![0]!, /ethertype 802\.1Q \(0x8100\), length \d+: vlan 10, p 5, ethertype IPv4/, 'the trunk gets it tagged, priority kept');
});

test('trunk: an untagged frame from an access port leaves a trunk tagged with the access VLAN', async () => {
  const seen = await sendAndCapture(H3, H4, PAYLOAD(H3, H4), 1);
  assert.equal(seen.length, 1, seen.join('\n'));
  assert.match(seen[0]!, /ethertype 802\.1Q \(0x8100\), length \d+: vlan 10, p 0, ethertype IPv4/);
});

test('native-tagged: an untagged frame is in the native VLAN (20) and leaves the trunk tagged 20', async () => {
  const seen = await sendAndCapture(H2, H4, PAYLOAD(H2, H4), 1);
  assert.equal(seen.length, 1, seen.join('\n'));
  assert.match(seen[0]!, /ethertype 802\.1Q \(0x8100\), length \d+: vlan 20, p 0, ethertype IPv4/);
});

test('trunk: a VID not in the list is dropped and counted as vlan-not-allowed', async () => {
  const base = dropCounts(lab);
  const cap = await lab.capture(H2.ns, H2.ifname, `ether src ${H4.mac}`);
  try {
    lab.sendFrames(H4.ns, H4.ifname, `Ether(dst='ff:ff:ff:ff:ff:ff', src='${H4.mac}')/Dot1Q(vlan=30)/${PAYLOAD(H4, H2)}`, 5);
    // At least the 5 frames: H4's own untagged IPv6 frames (VLAN 0, not in the list) count too.
    assert.ok((await dropGrowth(lab, 'vlan-not-allowed', base, 5)) >= 5);
  } finally {
    await cap.stop();
  }
  assert.deepEqual(capturedFrames(cap), []);
});

test('native-untagged: the native VLAN leaves untagged, another VLAN tagged; a unicast to a learned station stays in its VLAN', async () => {
  vlan(H2.port, 'native-untagged', '10', '20');
  // H2 is now in VLAN 10 untagged: it pings H1 and H3 (access 10), not H4's VLAN 20 address.
  assert.ok(lab.ping(H2, H1.ip), 'NS2 -> NS1 in native VLAN 10');
  const seen = await sendAndCapture(H4, H2, `Dot1Q(prio=3, vlan=20)/${PAYLOAD(H4, H2)}`, 1);
  assert.equal(seen.length, 1, seen.join('\n'));
  assert.match(seen[0]!, /vlan 20, p 3, ethertype IPv4/, 'VLAN 20 is tagged on a native-untagged 10 port');
  const fdb = lab.vswconfig('fdb').stdout;
  assert.match(fdb, new RegExp(`^${H2.mac} dev ${H2.port} vlan 10 age \\d+$`, 'm'));
});
