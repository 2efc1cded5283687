// VXLAN tunnel ports (vswconfig tunnel …) against Linux's own VXLAN, between
// network namespaces acting as hosts joined by an underlay (a bridge in a
// namespace of its own, addresses of a /24 picked per run). vswitchd runs
// inside host A's namespace; host B is a Linux bridge with a vxlan device as
// the kernel's selftest forwarding/vxlan_bridge_1d.sh builds it. Tenants are
// namespaces behind each host. What crosses the underlay is counted with
// tcpdump on host A's underlay interface, by outer destination and inner MAC.
//
// - two hosts: tenants ping both ways, TCP (iperf3, offloads on) runs, an
//   unknown unicast reaches B exactly once, B's tenant is learned on the tunnel;
//   a tenant at MTU 1500 over the 1450 tunnel is logged, listed by
//   `tunnel show`, and its big frames are counted mtu-exceeded; `delete` of
//   the tunnel port is refused, `tunnel del` removes the device;
// - bad input: one line, exit 2, no device;
// - an IPv6 underlay: the device at MTU 1430 with its IPv6 remote, tenants
//   ping both ways with full-size packets;
// - three hosts (vswitch on A and C, Linux on B): a broadcast reaches each
//   remote exactly once; a frame to a MAC learned behind one remote goes to
//   that remote only.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addLinuxVxlanBridge,
  addTenant,
  addUnderlay,
  assertOk,
  bridgePort,
  dropGrowth,
  dropCounts,
  fdbEntries,
  innerMacFilter,
  labsCleanedAfterAll,
  randomSubnet24,
  run,
  vxlanPacketsTo,
  waitUntil,
} from '../helpers/lab.js';

const newLab = labsCleanedAfterAll();
const VNI = 4242;

function linkExists(ns: string, name: string): boolean {
  return run('ip', ['-n', ns, 'link', 'show', name]).code === 0;
}

function ping(ns: string, ip: string, args: string[] = []): boolean {
  return run('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '2', ...args, ip]).code === 0;
}

/** A frame from a tenant, built by scapy (no reply expected). */
function sendFrame(lab: ReturnType<typeof newLab>, ns: string, src: string, dst: string): void {
  lab.sendFrames(ns, 'eth0', `Ether(src='${src}', dst='${dst}', type=0x88b5)/Raw(b'vxlan-test'*4)`);
}

describe('tunnel to a Linux VXLAN bridge (two hosts)', () => {
  const lab = newLab();
  const under = randomSubnet24();
  const tenants = randomSubnet24();
  const [A, B] = addUnderlay(lab, ['A', 'B'], under);
  const vx = `${lab.prefix}vx`;
  // Tenants at the tunnel's MTU (1500 - 50), so that full-size packets cross.
  const a1 = addTenant(lab, A!.ns, 'ta1', `${tenants}.1`, 1450);
  const b1 = addTenant(lab, B!.ns, 'tb1', `${tenants}.2`, 1450);
  addLinuxVxlanBridge(lab, B!.ns, VNI, B!.ip, [A!.ip]);
  bridgePort(lab, B!.ns, b1.port);

  it('tunnel add creates the vxlan device (VNI, port 4789, learning, MTU 1450, one entry per remote) and attaches it', async () => {
    await lab.startSwitch([], { netns: A!.ns });
    assertOk(lab.vswconfig('add', a1.port), 'add');
    assertOk(lab.vswconfig('tunnel', 'add', vx, 'vxlan', 'vni', String(VNI), 'remote', B!.ip), 'tunnel add');
    const link = lab.inNs(A!.ns, `ip -d link show ${vx}`);
    assert.match(link, /mtu 1450 /);
    assert.match(link, new RegExp(`vxlan id ${VNI} .*dev ${A!.ifname} .*dstport 4789 `));
    assert.doesNotMatch(link, /nolearning/);
    assert.match(link, /,UP,/);
    const fdb = lab.sh(`bridge -n ${A!.ns} fdb show dev ${vx}`);
    assert.equal(fdb.match(/^00:00:00:00:00:00 dst .* self permanent$/gm)?.length, 1, fdb);
    assert.match(fdb, new RegExp(`00:00:00:00:00:00 dst ${B!.ip} self permanent`));
    const show = lab.vswconfig('tunnel', 'show');
    assertOk(show, 'tunnel show');
    assert.match(show.stdout, new RegExp(`^${vx} +${VNI} +- +${B!.ip.replace(/\./g, '\\.')} +4789 +${A!.ifname} +1450 +all `, 'm'));
  });

  it('tenants ping both ways', () => {
    assert.ok(ping(a1.ns, b1.ip), 'A1 → B1');
    assert.ok(ping(b1.ns, a1.ip), 'B1 → A1');
    // Full-size packets at the tunnel's MTU cross too.
    assert.ok(ping(a1.ns, b1.ip, ['-s', '1422', '-M', 'do']), 'A1 → B1, 1450-byte packet');
  });

  it('B1 is learned on the tunnel port, and frames to it reach B once', async () => {
    assert.ok(await waitUntil(() => fdbEntries(lab).some((e) => e.mac === b1.mac && e.port === vx)), 'B1 not learned on the tunnel');
    const cap = await lab.capture(A!.ns, A!.ifname, innerMacFilter('dst', b1.mac));
    sendFrame(lab, a1.ns, a1.mac, b1.mac);
    const lines = await cap.stop();
    assert.equal(vxlanPacketsTo(lines, B!.ip), 1, lines.join('\n'));
  });

  it('an unknown unicast reaches B exactly once', async () => {
    const unknown = '02:5e:00:00:42:01';
    const cap = await lab.capture(A!.ns, A!.ifname, innerMacFilter('dst', unknown));
    sendFrame(lab, a1.ns, a1.mac, unknown);
    const lines = await cap.stop();
    assert.equal(vxlanPacketsTo(lines, B!.ip), 1, lines.join('\n'));
    assert.equal(lines.filter((l) => / > \S+\.4789: /.test(l)).length, 1, lines.join('\n'));
  });

  it('TCP runs across with offloads on (iperf3 both ways)', async () => {
    const server = lab.spawn('ip', ['netns', 'exec', b1.ns, 'iperf3', '-s', '-p', '5301']);
    assert.ok(await waitUntil(() => lab.inNs(b1.ns, 'ss -Hltn sport = :5301').trim() !== '', 10_000), 'iperf3 server did not start');
    for (const reverse of [[], ['-R']]) {
      const r = run('ip', ['netns', 'exec', a1.ns, 'iperf3', '-c', b1.ip, '-p', '5301', '-t', '2', '-J', ...reverse]);
      assertOk(r, `iperf3 ${reverse.join(' ')}`);
      const bytes = (JSON.parse(r.stdout) as { end: { sum_received: { bytes: number } } }).end.sum_received.bytes;
      assert.ok(bytes > 1_000_000, `only ${bytes} bytes crossed`);
    }
    server.kill('SIGKILL');
    const offloads = lab.inNs(a1.ns, 'ethtool -k eth0');
    assert.match(offloads, /tcp-segmentation-offload: on/);
  });

  it('a port at MTU 1500 over the 1450 tunnel is logged and listed, and its big frames count as mtu-exceeded', async () => {
    const a2 = addTenant(lab, A!.ns, 'ta2', `${tenants}.3`, 1500);
    assertOk(lab.vswconfig('add', a2.port), 'add');
    const warning = `mtu: port ${a2.port} has MTU 1500, larger than tunnel ${vx}'s 1450`;
    assert.ok(await waitUntil(() => lab.daemon!.stderr.includes(warning)), `no warning in the log:\n${lab.daemon!.stderr}`);
    const show = lab.vswconfig('tunnel', 'show');
    assert.match(show.stdout, new RegExp(`^mtu: port ${a2.port} has MTU 1500 > tunnel ${vx} 1450: set ${a2.port}'s MTU to 1450`, 'm'));
    const plain = lab.vswconfig('show');
    assert.match(plain.stdout, new RegExp(`^warning: port ${a2.port} has MTU 1500 > tunnel ${vx} 1450: set ${a2.port}'s MTU to 1450`, 'm'), 'vswconfig show says so too');
    assert.deepEqual((JSON.parse(lab.vswconfig('-j', 'show').stdout) as { mtuWarnings: unknown[] }).mtuWarnings, [{ port: a2.port, mtu: 1500, tunnel: vx, tunnelMtu: 1450 }]);
    assert.ok(ping(a2.ns, b1.ip), 'small packets cross');
    const base = dropCounts(lab);
    assert.equal(ping(a2.ns, b1.ip, ['-s', '1472', '-M', 'do']), false, 'a 1500-byte packet crossed a 1450 tunnel');
    assert.ok((await dropGrowth(lab, 'mtu-exceeded', base, 1)) >= 1, 'the drop was not counted mtu-exceeded');
    // The same port at the tunnel's MTU is no longer listed.
    lab.sh(`ip -n ${A!.ns} link set ${a2.port} mtu 1450`);
    assert.ok(await waitUntil(() => !lab.vswconfig('tunnel', 'show').stdout.includes(`port ${a2.port}`)), 'still listed at MTU 1450');
  });

  it('delete refuses the tunnel port; tunnel del detaches it and removes the device', () => {
    const r = lab.vswconfig('delete', vx);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `vswconfig: ${vx} is a tunnel: remove it with 'vswconfig tunnel del ${vx}'\n`);
    assert.ok(linkExists(A!.ns, vx));
    assertOk(lab.vswconfig('tunnel', 'del', vx), 'tunnel del');
    assert.equal(linkExists(A!.ns, vx), false, 'the device is still there');
    assert.doesNotMatch(lab.vswconfig('show').stdout, new RegExp(`^${vx}$`, 'm'));
  });
  it('vlan VID: the tunnel carries that VLAN only (an access port of it)', () => {
    assertOk(lab.vswconfig('tunnel', 'add', vx, 'vxlan', 'vni', String(VNI), 'remote', B!.ip, 'vlan', '10'), 'tunnel add … vlan 10');
    assert.equal(lab.vswconfig('vlan', vx).stdout, `${vx} access 10\n`);
    assert.match(lab.vswconfig('tunnel', 'show').stdout, new RegExp(`^${vx} .* 1450 +10 `, 'm'));
    assertOk(lab.vswconfig('vlan', a1.port, 'access', '10'), 'vlan');
    assert.ok(ping(a1.ns, b1.ip), 'VLAN 10 does not cross');
    assertOk(lab.vswconfig('vlan', a1.port, 'access', '20'), 'vlan');
    assert.equal(ping(a1.ns, b1.ip), false, 'VLAN 20 crossed a tunnel of VLAN 10');
  });
});

describe('tunnel add: bad input is one line, exit 2, and creates nothing', () => {
  const lab = newLab();
  const under = randomSubnet24();
  const [A, B] = addUnderlay(lab, ['A', 'B'], under);
  const vx = `${lab.prefix}vx`;
  const fresh = `${lab.prefix}bad`;

  const cases: [string, string[], RegExp][] = [
    ['a VNI above 16777215', ['vni', '16777216', 'remote', '%B'], /^vswconfig: bad VNI 16777216 \(0-16777215\)/],
    ['a VNI that is not a number', ['vni', '0x10', 'remote', '%B'], /^vswconfig: bad VNI '0x10'/],
    ['a malformed remote', ['vni', '7', 'remote', '10.1.2'], /^vswconfig: bad remote address '10\.1\.2'/],
    ['a multicast remote', ['vni', '7', 'remote', '239.1.1.1'], /^vswconfig: bad remote address '239\.1\.1\.1': not unicast/],
    ['a remote that is this host', ['vni', '7', 'remote', '%A'], /^vswconfig: remote %A is an address of this host\n/],
    ['a remote no interface routes to', ['vni', '7', 'remote', '192.0.2.1'], /^vswconfig: unknown underlay: no route to remote 192\.0\.2\.1/],
    ['a local address that is not this host\'s', ['vni', '7', 'remote', '%B', 'local', '198.51.100.7'], /^vswconfig: unknown underlay: local address 198\.51\.100\.7 is not an address of an interface of this host that is up and running\n/],
    ['VLAN 0', ['vni', '7', 'remote', '%B', 'vlan', '0'], /^vswconfig: VLAN ID 0 out of range 1-4094/],
    ['VLAN 4095', ['vni', '7', 'remote', '%B', 'vlan', '4095'], /^vswconfig: VLAN ID 4095 out of range 1-4094/],
  ];

  it('starts with one good tunnel', async () => {
    await lab.startSwitch([], { netns: A!.ns });
    assertOk(lab.vswconfig('tunnel', 'add', vx, 'vxlan', 'vni', '7', 'remote', B!.ip), 'tunnel add');
  });

  for (const [what, args, expected] of cases) {
    it(what, () => {
      const fill = (s: string): string => s.replace('%A', A!.ip).replace('%B', B!.ip);
      const r = lab.vswconfig('tunnel', 'add', fresh, 'vxlan', ...args.map(fill));
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(fill(expected.source)));
      assert.equal(r.stderr.split('\n').length, 2, `not one line: ${r.stderr}`);
      assert.equal(linkExists(A!.ns, fresh), false, `${fresh} was created`);
    });
  }

  it('a duplicate name', () => {
    const r = lab.vswconfig('tunnel', 'add', vx, 'vxlan', 'vni', '8', 'remote', B!.ip);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `vswconfig: an interface named ${vx} already exists\n`);
    assert.match(lab.inNs(A!.ns, `ip -d link show ${vx}`), /vxlan id 7 /, 'the first tunnel changed');
  });

  it('a second tunnel with the same VNI and port', () => {
    const r = lab.vswconfig('tunnel', 'add', fresh, 'vxlan', 'vni', '7', 'remote', B!.ip);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^vswconfig: cannot create vxlan device \S+: another vxlan device already has VNI 7 on UDP port 4789\n$/);
    assert.equal(linkExists(A!.ns, fresh), false);
    assert.deepEqual(
      lab.vswconfig('show').stdout.split('\n').filter((l) => l !== '' && !l.startsWith('datapath')),
      [vx],
    );
  });
});

describe('three hosts: vswitch on A and C, Linux on B', () => {
  const lab = newLab();
  const labC = newLab();
  const under = randomSubnet24();
  const tenants = randomSubnet24();
  const [A, B, C] = addUnderlay(lab, ['A', 'B', 'C'], under);
  const a1 = addTenant(lab, A!.ns, 'ta1', `${tenants}.1`, 1450);
  const b1 = addTenant(lab, B!.ns, 'tb1', `${tenants}.2`, 1450);
  const c1 = addTenant(lab, C!.ns, 'tc1', `${tenants}.3`, 1450);
  addLinuxVxlanBridge(lab, B!.ns, VNI, B!.ip, [A!.ip, C!.ip]);
  bridgePort(lab, B!.ns, b1.port);
  const vxA = `${lab.prefix}vx`;
  const vxC = `${labC.prefix}vx`;

  it('the tenants ping each other', async () => {
    await lab.startSwitch([], { netns: A!.ns });
    await labC.startSwitch([], { netns: C!.ns });
    assertOk(lab.vswconfig('add', a1.port), 'add on A');
    assertOk(labC.vswconfig('add', c1.port), 'add on C');
    assertOk(lab.vswconfig('tunnel', 'add', vxA, 'vxlan', 'vni', String(VNI), 'remote', `${B!.ip},${C!.ip}`), 'tunnel add on A');
    assertOk(labC.vswconfig('tunnel', 'add', vxC, 'vxlan', 'vni', String(VNI), 'remote', `${A!.ip},${B!.ip}`), 'tunnel add on C');
    assert.equal(lab.sh(`bridge -n ${A!.ns} fdb show dev ${vxA}`).match(/^00:00:00:00:00:00 dst /gm)?.length, 2);
    for (const [from, to] of [[a1, b1], [a1, c1], [b1, c1], [c1, a1]] as const) assert.ok(ping(from.ns, to.ip), `${from.ns} → ${to.ip}`);
  });

  it('a broadcast from A reaches each remote exactly once', async () => {
    const src = '02:5e:00:00:43:01';
    const cap = await lab.capture(A!.ns, A!.ifname, innerMacFilter('src', src));
    sendFrame(lab, a1.ns, src, 'ff:ff:ff:ff:ff:ff');
    const lines = await cap.stop();
    assert.equal(vxlanPacketsTo(lines, B!.ip), 1, lines.join('\n'));
    assert.equal(vxlanPacketsTo(lines, C!.ip), 1, lines.join('\n'));
  });

  for (const [name, behind, remote, other] of [
    ['B (Linux)', () => b1, () => B!, () => C!],
    ['C (vswitch)', () => c1, () => C!, () => B!],
  ] as const) {
    it(`a frame to a MAC learned behind ${name} goes to that remote only`, async () => {
      const t = behind();
      const mac = t === b1 ? '02:5e:00:00:44:0b' : '02:5e:00:00:44:0c';
      // The station announces itself with a broadcast: every end learns where it is.
      sendFrame(lab, t.ns, mac, 'ff:ff:ff:ff:ff:ff');
      assert.ok(await waitUntil(() => fdbEntries(lab).some((e) => e.mac === mac && e.port === vxA)), `${mac} not learned on A's tunnel`);
      const cap = await lab.capture(A!.ns, A!.ifname, innerMacFilter('dst', mac));
      sendFrame(lab, a1.ns, a1.mac, mac);
      const lines = await cap.stop();
      assert.equal(vxlanPacketsTo(lines, remote().ip), 1, lines.join('\n'));
      assert.equal(vxlanPacketsTo(lines, other().ip), 0, lines.join('\n'));
    });
  }
});

describe('tunnel over an IPv6 underlay, to a Linux VXLAN bridge', () => {
  const lab = newLab();
  const under = randomSubnet24();
  const tenants = randomSubnet24();
  const [A, B] = addUnderlay(lab, ['A', 'B'], under);
  // The run's own IPv6 underlay (ULA), beside the IPv4 one.
  const six = `fd${Math.floor(Math.random() * 0xff).toString(16).padStart(2, '0')}:${Math.floor(Math.random() * 0xffff).toString(16)}::`;
  const [a6, b6] = [`${six}1`, `${six}2`];
  lab.sh(`ip -n ${A!.ns} addr add ${a6}/64 dev ${A!.ifname} nodad && ip -n ${B!.ns} addr add ${b6}/64 dev ${B!.ifname} nodad`);
  const vx = `${lab.prefix}vx`;
  // IPv6 takes 70 bytes: the tunnel's MTU is 1430, and so are the tenants'.
  const a1 = addTenant(lab, A!.ns, 'ta1', `${tenants}.1`, 1430);
  const b1 = addTenant(lab, B!.ns, 'tb1', `${tenants}.2`, 1430);
  addLinuxVxlanBridge(lab, B!.ns, VNI, b6, [a6]);
  bridgePort(lab, B!.ns, b1.port);

  it('tunnel add with an IPv6 remote makes a device at MTU 1430 whose remote is that address, and tenants ping both ways with full-size packets', async () => {
    await lab.startSwitch([], { netns: A!.ns });
    assertOk(lab.vswconfig('add', a1.port), 'add');
    assertOk(lab.vswconfig('tunnel', 'add', vx, 'vxlan', 'vni', String(VNI), 'remote', b6), 'tunnel add');
    assert.match(lab.inNs(A!.ns, `ip -d link show ${vx}`), /mtu 1430 /);
    assert.match(lab.inNs(A!.ns, `bridge fdb show dev ${vx}`), new RegExp(`00:00:00:00:00:00 dst ${b6} self permanent`));
    assert.ok(await waitUntil(() => ping(a1.ns, b1.ip), 10_000), 'tenant A -> tenant B');
    assert.ok(ping(b1.ns, a1.ip), 'tenant B -> tenant A');
    assert.ok(ping(a1.ns, b1.ip, ['-s', String(1430 - 28), '-M', 'do']), 'a 1430-byte packet crosses');
    const show = JSON.parse(lab.vswconfig('-j', 'tunnel', 'show').stdout) as { tunnels: Array<{ remotes: string[]; mtu: number }> };
    assert.deepEqual(show.tunnels.map((t) => [t.remotes, t.mtu]), [[[b6], 1430]]);
  });
});
