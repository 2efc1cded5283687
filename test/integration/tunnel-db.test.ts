// Tunnels kept by `vswitchd --db`, on the datapath VSWITCH_TEST_DATAPATH
// names, with the two-host set-up of tunnel.test.ts (vswitchd in host A's
// namespace, Linux's vxlan bridge on B):
//
// - after kill -9 (which leaves the vxlan device behind) a new vswitchd on the
//   same file deletes that leftover, makes the tunnel again in its place among
//   the ports, and the tenants ping across it again;
// - an interface of the tunnel's name that vswitchd did not make (a vxlan
//   device with the same VNI and port, a veth) is refused with one log line
//   and left as it is; the tunnel is dropped from the file.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { addLinuxVxlanBridge, addTenant, addUnderlay, assertOk, bridgePort, labsCleanedAfterAll, randomSubnet24, run, showPorts, signalDaemon, waitUntil } from '../helpers/lab.js';

const newLab = labsCleanedAfterAll();
const VNI = 4243;

function ping(ns: string, ip: string): boolean {
  return run('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '2', ip]).code === 0;
}

describe('tunnels survive a restart with --db', () => {
  const lab = newLab();
  const DB = join(lab.dir, 'db.json');
  const under = randomSubnet24();
  const tenants = randomSubnet24();
  const [A, B] = addUnderlay(lab, ['A', 'B'], under);
  const vx = `${lab.prefix}vx`;
  const a1 = addTenant(lab, A!.ns, 'ta1', `${tenants}.1`, 1450);
  const a2 = addTenant(lab, A!.ns, 'ta2', `${tenants}.3`, 1450);
  const b1 = addTenant(lab, B!.ns, 'tb1', `${tenants}.2`, 1450);
  addLinuxVxlanBridge(lab, B!.ns, VNI, B!.ip, [A!.ip]);
  bridgePort(lab, B!.ns, b1.port);

  const ok = (...args: string[]): string => {
    const r = lab.vswconfig(...args);
    assertOk(r, `vswconfig ${args.join(' ')}`);
    return r.stdout;
  };
  /** `tunnel show -j` without the counters, the ports in order and their modes. */
  const snapshot = (): unknown => {
    const shown = JSON.parse(ok('-j', 'tunnel', 'show')) as { tunnels: Array<Record<string, unknown>> };
    const tunnels = shown.tunnels.map(({ rxFrames: _rx, txFrames: _tx, ...t }) => t);
    const ports = showPorts(lab);
    return { tunnels, ports, vlans: ports.map((p) => ok('vlan', p)) };
  };
  const link = (name: string): string => lab.inNs(A!.ns, `ip -d link show ${name}`);
  const ifindex = (name: string): number => Number(/^(\d+):/.exec(link(name))?.[1]);
  const kill9 = async (): Promise<void> => assert.equal(await signalDaemon(lab.daemon!, 'SIGKILL'), null, 'killed');
  const start = () => lab.startSwitch(['--db', DB], { netns: A!.ns });
  let saved = '';

  it('after kill -9 the same --db makes the tunnel again (the device left behind deleted and made anew): tunnel show lists it, tenants ping across', async () => {
    await start();
    ok('add', a1.port);
    ok('tunnel', 'add', vx, 'vxlan', 'vni', String(VNI), 'remote', B!.ip, 'vlan', '10');
    ok('add', a2.port);
    ok('vlan', a1.port, 'access', '10');
    ok('vlan', a2.port, 'access', '20');
    assert.ok(ping(a1.ns, b1.ip), 'VLAN 10 crosses before the kill');
    const before = snapshot();
    assert.deepEqual((before as { ports: string[] }).ports, [a1.port, vx, a2.port]);
    saved = readFileSync(DB, 'utf8');

    await kill9();
    const left = ifindex(vx);
    assert.match(link(vx), /alias vswitch tunnel/, 'the killed vswitchd left its device, marked');
    const d = await start();
    assert.deepEqual(snapshot(), before);
    assert.notEqual(ifindex(vx), left, 'made anew');
    const remade = new RegExp(`tunnel ${vx}: deleted its device left by an earlier vswitchd \\(vxlan vni ${VNI}, ifindex ${left}\\), to make it again\n`);
    await waitUntil(() => remade.test(d.stderr)); // the log is read as it comes
    assert.match(d.stderr, remade);
    assert.match(link(vx), new RegExp(`vxlan id ${VNI} .*dstport 4789 `));
    assert.ok(ping(a1.ns, b1.ip), 'A1 → B1 across the tunnel after the restart');
    assert.ok(ping(b1.ns, a1.ip), 'B1 → A1 across the tunnel after the restart');
    assert.equal(ping(a2.ns, b1.ip), false, 'VLAN 20 crossed a tunnel of VLAN 10');
    assert.equal(readFileSync(DB, 'utf8'), saved, 'the file is as before');
  });

  for (const [what, make, kind] of [
    ['a vxlan device with the same VNI and port', `type vxlan id ${VNI} dstport 4789`, 'a vxlan device not made by vswitchd'],
    ['a veth', `type veth peer name ${lab.prefix}vxp`, 'a veth device, not made by vswitchd'],
  ] as const) {
    it(`${what} of the tunnel's name not made by vswitchd is refused with a log line and left untouched; the tunnel is dropped`, async () => {
      await kill9();
      lab.sh(`ip -n ${A!.ns} link del ${vx}`);
      lab.sh(`ip -n ${A!.ns} link add ${vx} ${make}`); // deleted with the namespace
      const theirs = link(vx);
      writeFileSync(DB, saved);
      const d = await start();
      const refused = new RegExp(`tunnel ${vx} dropped from ${DB}: an interface named ${vx} already exists \\(${kind}\\): left as it is\n`);
      await waitUntil(() => refused.test(d.stderr)); // the log is read as it comes
      assert.match(d.stderr, refused);
      assert.equal(link(vx), theirs, 'the interface is as it was');
      assert.deepEqual(showPorts(lab), [a1.port, a2.port]);
      assert.deepEqual(JSON.parse(ok('-j', 'tunnel', 'show')).tunnels, []);
      const file = JSON.parse(readFileSync(DB, 'utf8')) as { ports: Array<{ ifname: string }>; tunnels: unknown[] };
      assert.deepEqual([file.ports.map((p) => p.ifname), file.tunnels], [[a1.port, a2.port], []], 'the tunnel is dropped from the file');
    });
  }
});
