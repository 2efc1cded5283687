// Port mirrors (`vswconfig mirror`) on real namespaces, on the datapath
// VSWITCH_TEST_DATAPATH names: tcpdump on the far end of the output port sees
// what the mirror selects, and only that; the output port only sends copies;
// a mirror applies to the very next frame of a flow already under way; VLAN
// selection and the tag of a copy; bad input changes nothing.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Capture, dropCounts, dropGrowth, frameLines, framesEntered, type Host, Lab, waitUntil } from '../helpers/lab.js';

const lab = new Lab('10.78');
let H1: Host, H2: Host, H3: Host, H4: Host, H5: Host;

const ok = (...args: string[]): string => lab.ok(...args);

interface MirrorRow {
  name: string;
  output: string;
  selectAll: boolean;
  selectIngress: string[];
  selectEgress: string[];
  leftIngress: string[];
  leftEgress: string[];
  selectVlans: Array<[number, number]> | null;
  copies: number;
}

function mirrors(): MirrorRow[] {
  return JSON.parse(ok('-j', 'mirror', 'show')) as MirrorRow[];
}

/** ICMP echo requests from `from` to `to` a capture saw. */
function echoRequests(cap: Capture, from: Host, to: Host): string[] {
  return frameLines(cap.out.split('\n')).filter((l) => l.includes(`${from.ip} > ${to.ip}: ICMP echo request`));
}

before(async () => {
  [H1, H2, H3, H4, H5] = [1, 2, 3, 4, 5].map((n) => lab.addHost(n));
  await lab.startSwitch();
  for (const h of lab.hosts) ok('add', h.port);
});

after(async () => {
  await lab.cleanup();
});

test('mirror: tcpdump behind the output port sees the frames entering the select-ingress port, not the others; the output port is never flooded to', async () => {
  ok('mirror', 'add', 'span', 'output', H4.port, 'select-ingress', H1.port);
  const cap = await lab.capture(H4.ns, H4.ifname, 'icmp or arp');
  try {
    assert.ok(lab.ping(H1, H2.ip, '-c 3 -i 0.2 -W 2'), 'NS1 -> NS2');
    assert.ok(lab.ping(H3, H2.ip, '-c 2 -i 0.2 -W 2'), 'NS3 -> NS2');
    await waitUntil(() => echoRequests(cap, H1, H2).length >= 3);
  } finally {
    await cap.stop();
  }
  const lines = frameLines(cap.out.split('\n'));
  assert.equal(echoRequests(cap, H1, H2).length, 3, lines.join('\n'));
  // Neither the replies (they enter through NS2's port) nor NS3's pings nor their ARP broadcasts.
  assert.ok(lines.every((l) => l.includes(`${H1.mac} > `)), `only what NS1 sent:\n${lines.join('\n')}`);
  const [m] = mirrors();
  assert.deepEqual({ ...m, copies: undefined }, { name: 'span', output: H4.port, selectAll: false, selectIngress: [H1.port], selectEgress: [], leftIngress: [], leftEgress: [], selectVlans: null, copies: undefined });
  // Every frame copied is counted; NS1's own IPv6 frames (not captured here) are copied too.
  assert.ok(m!.copies >= lines.length, `copies ${m!.copies}, captured ${lines.length}`);
});

test('mirror: what arrives on the output port is dropped (mirror-output), not forwarded and not learned', async () => {
  const base = dropCounts(lab);
  const cap = await lab.capture(H2.ns, H2.ifname, `ether src ${H4.mac}`);
  try {
    lab.sendFrames(H4.ns, H4.ifname, `Ether(dst='ff:ff:ff:ff:ff:ff', src='${H4.mac}')/IP(src='${H4.ip}', dst='${H2.ip}')/UDP(dport=9)`, 3);
    // At least those 3: NS4's own IPv6 frames arrive on the output port too.
    assert.ok((await dropGrowth(lab, 'mirror-output', base, 3)) >= 3);
  } finally {
    await cap.stop();
  }
  assert.deepEqual(frameLines(cap.out.split('\n')), []);
  assert.doesNotMatch(ok('fdb'), new RegExp(H4.mac, 'i'));
});

test('mirror: select-egress copies frames leaving the port; a mirror of both ingress and egress copies a frame once', async () => {
  ok('mirror', 'del', 'span');
  ok('mirror', 'add', 'both', 'output', H4.port, 'select-ingress', H1.port, 'select-egress', `${H2.port},${H3.port}`);
  const cap = await lab.capture(H4.ns, H4.ifname, 'icmp');
  try {
    assert.ok(lab.ping(H1, H2.ip, '-c 2 -i 0.2 -W 2'));
    await waitUntil(() => frameLines(cap.out.split('\n')).length >= 4);
  } finally {
    await cap.stop();
  }
  // Requests NS1 -> NS2 enter a selected port and leave a selected port: one copy each. Replies leave NS1's port: not selected.
  assert.equal(echoRequests(cap, H1, H2).length, 2, cap.out);
  assert.equal(frameLines(cap.out.split('\n')).filter((l) => l.includes('echo reply')).length, 0, cap.out);
  const cap2 = await lab.capture(H4.ns, H4.ifname, 'icmp');
  try {
    assert.ok(lab.ping(H5, H3.ip, '-c 2 -i 0.2 -W 2'), 'NS5 -> NS3 leaves a select-egress port');
    await waitUntil(() => echoRequests(cap2, H5, H3).length >= 2);
  } finally {
    await cap2.stop();
  }
  assert.equal(echoRequests(cap2, H5, H3).length, 2, cap2.out);
  ok('mirror', 'del', 'both');
});

test('mirror: added while a ping flow runs, it copies the flow from the next frame on; deleted, the copies stop', async () => {
  const cap = await lab.capture(H4.ns, H4.ifname, 'icmp');
  const flow = lab.spawn('ip', ['netns', 'exec', H1.ns, 'ping', '-i', '0.05', '-c', '200', H2.ip]);
  try {
    // Sentinels, not sleeps: NS1's frames entering the switch (its port's rx counter).
    await framesEntered(lab, H1.port, 6);
    assert.equal(echoRequests(cap, H1, H2).length, 0, 'nothing mirrored before the mirror exists');
    ok('mirror', 'add', 'live', 'output', H4.port, 'select-ingress', H1.port);
    assert.ok(await waitUntil(() => echoRequests(cap, H1, H2).length >= 5, 3000), 'the running flow is mirrored');
    ok('mirror', 'del', 'live');
    // Once deleted, the output port is an ordinary port again and floods reach
    // it, so its tx counter is no copy count. Sentinels instead: a ping from
    // NS5 to NS4 seen in the capture is behind every copy made before it.
    const seenAfter = async (n: number): Promise<number> => {
      assert.ok(lab.ping(H5, H4.ip, '-c 1 -W 2'), 'sentinel ping NS5 -> NS4');
      assert.ok(await waitUntil(() => echoRequests(cap, H5, H4).length >= n, 3000), `sentinel ${n} seen behind the output port`);
      return echoRequests(cap, H1, H2).length;
    };
    const atDelete = await seenAfter(1);
    await framesEntered(lab, H1.port, 6);
    assert.equal(await seenAfter(2), atDelete, 'no copies once the mirror is gone');
    assert.equal(flow.exitCode, null, 'the flow was still running');
  } finally {
    flow.kill('SIGINT');
    await cap.stop();
  }
});

test('mirror: select-vlan copies only frames of that VLAN, tagged with it on an output port with no VLAN mode', async () => {
  ok('vlan', H1.port, 'access', '10');
  ok('vlan', H2.port, 'access', '10');
  ok('vlan', H3.port, 'access', '20');
  ok('vlan', H5.port, 'access', '20');
  ok('mirror', 'add', 'v10', 'output', H4.port, 'select-vlan', '10');
  const cap = await lab.capture(H4.ns, H4.ifname, 'vlan and icmp');
  const base = mirrors()[0]!.copies;
  try {
    assert.ok(lab.ping(H1, H2.ip, '-c 2 -i 0.2 -W 2'), 'NS1 -> NS2 in VLAN 10');
    assert.ok(lab.ping(H3, H5.ip, '-c 2 -i 0.2 -W 2'), 'NS3 -> NS5 in VLAN 20');
    await waitUntil(() => frameLines(cap.out.split('\n')).length >= 4);
  } finally {
    await cap.stop();
  }
  const lines = frameLines(cap.out.split('\n'));
  assert.equal(lines.length, 4, lines.join('\n'));
  for (const l of lines) assert.match(l, /vlan 10, p 0, ethertype IPv4/);
  assert.ok(lines.every((l) => l.includes(H1.ip) && l.includes(H2.ip)), lines.join('\n'));
  assert.equal(mirrors()[0]!.copies - base >= 4, true);
  ok('mirror', 'del', 'v10');
});

test('mirror: bad input gets one line and exit 2 and changes nothing', () => {
  ok('mirror', 'add', 'keep', 'output', H5.port, 'select-ingress', H1.port);
  const config = (): string => JSON.stringify(mirrors().map((m) => ({ ...m, copies: 0 })));
  const before = config();
  const cases: Array<[string[], RegExp]> = [
    [['mirror', 'add', 'keep', 'output', H4.port], /mirror keep exists/],
    [['mirror', 'add', 'm2', 'output', H5.port], /already the output of mirror keep/],
    [['mirror', 'add', 'm2', 'output', H1.port], /selected by mirror keep: it cannot be an output/],
    [['mirror', 'add', 'm2', 'output', H4.port, 'select-egress', H5.port], /output of mirror keep: it cannot be selected/],
    [['mirror', 'add', 'm2', 'output', H4.port, 'select-ingress', H4.port], /cannot be both the output of mirror m2 and selected by it/],
    [['mirror', 'add', 'm2', 'output', `${lab.prefix}none`], /is not a port of the switch/],
    [['mirror', 'add', 'm2', 'output', H4.port, 'select-ingress', `${lab.prefix}none`], /is not a port of the switch/],
    [['mirror', 'add', 'm2', 'output', H4.port, 'select-vlan', '0'], /VLAN ID 0 out of range 1-4094/],
    [['mirror', 'add', 'm2', 'output', H4.port, 'select-vlan', '4095'], /VLAN ID 4095 out of range/],
    [['mirror', 'add', 'm2', 'output', H4.port, 'select-vlan', '5000'], /VLAN ID 5000 out of range/],
    [['mirror', 'add', 'm2', 'output', H4.port, 'select-vlan', '20-10'], /reversed VLAN range 20-10/],
    [['mirror', 'add', 'bad name', 'output', H4.port], /bad mirror name/],
    [['mirror', 'del', 'nosuch'], /no mirror nosuch/],
    [['mirror', 'add', 'm2'], /missing 'output PORT'/],
  ];
  for (const [args, message] of cases) {
    const r = lab.vswconfig(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^vswconfig: /);
  }
  assert.equal(config(), before);
});

test('mirror: a mirror whose one selected port leaves selects nothing, never every frame (vswconfig delete, then the interface deleted)', async () => {
  for (const m of mirrors()) ok('mirror', 'del', m.name); // those earlier tests left ('keep')
  for (const p of [H1, H2, H3, H5]) ok('vlan', p.port, 'trunk'); // back to carrying every VLAN
  for (const [leave, why] of [[H3, 'vswconfig delete'], [H5, 'interface deleted']] as const) {
    ok('mirror', 'add', 'narrow', 'output', H4.port, 'select-ingress', leave.port);
    if (why === 'vswconfig delete') ok('delete', leave.port);
    else lab.sh(`ip link del ${leave.port}`);
    assert.ok(await waitUntil(() => mirrors()[0]!.leftIngress.length === 1), `${why}: the mirror notes the port left`);
    const [m] = mirrors();
    assert.deepEqual({ all: m!.selectAll, ingress: m!.selectIngress, left: m!.leftIngress }, { all: false, ingress: [], left: [leave.port] }, why);
    // Until its port left, the mirror copied what the host sent on its own
    // (an ARP probe 5 s after a ping, an IPv6 router solicitation): the copies
    // it has now are no fault. From now on it copies nothing.
    const atLeave = m!.copies;
    assert.match(ok('mirror', 'show'), new RegExp(`narrow +${H4.port} +\\(none: ${leave.port} left\\) +- +all +${atLeave}\\n`), why);
    const said = new RegExp(`mirror narrow selects nothing now: ${leave.port} left its select list`);
    assert.ok(await waitUntil(() => said.test(lab.daemon!.stderr)), `${why}: the log says so:\n${lab.daemon!.stderr}`);
    const cap = await lab.capture(H4.ns, H4.ifname, 'icmp');
    try {
      assert.ok(lab.ping(H1, H2.ip, '-c 10 -i 0.05 -W 2'), `${why}: NS1 -> NS2`);
      // The replies came back: every request (and reply) went through the switch, counted if copied.
      assert.equal(mirrors()[0]!.copies, atLeave, `${why}: no copy once the port left`);
      // The sentinel: a mirror of every frame now copies NS1's next echo request; the 10 before it were not copied.
      ok('mirror', 'del', 'narrow');
      ok('mirror', 'add', 'all', 'output', H4.port);
      assert.ok(lab.ping(H1, H2.ip, '-c 1 -W 2'), `${why}: the sentinel ping`);
      assert.ok(await waitUntil(() => echoRequests(cap, H1, H2).length >= 1), `${why}: the sentinel was copied`);
    } finally {
      await cap.stop();
    }
    assert.equal(echoRequests(cap, H1, H2).length, 1, `${why}: only the sentinel reached the output:\n${cap.out}`);
    ok('mirror', 'del', 'all');
  }
});
