// Tunnel ports (src/daemon/tunnels.ts) over a fake kernel, the FakeDatapath
// and a fake sysfs: a failure halfway through `tunnel add` leaves nothing
// behind, and a port with a larger MTU than a tunnel's is logged and listed.
// With --db: tunnels are written before their device is made and made again at
// restore; a device a killed vswitchd left is deleted and made anew, and any
// other interface of the tunnel's name is left untouched.

import assert from 'node:assert/strict';
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Db, type DbConfig, type DbTunnel } from '../../src/daemon/db.js';
import { PortLocks } from '../../src/daemon/port-lock.js';
import { TUNNEL_ALIAS, Tunnels } from '../../src/daemon/tunnels.js';
import { RTM_DELLINK, RTM_GETROUTE, RTM_NEWLINK, RTM_NEWNEIGH } from '../../src/os/netlink.js';
import type { LinkReply } from '../../src/os/tunnel-netlink.js';
import { FakeTunnelKernel } from '../helpers/fake-tunnel-kernel.js';
import { VswError } from '../../src/errors.js';
import { startTestSwitch, type TestSwitch } from '../helpers/fake-datapath.js';

describe('tunnels', () => {
  let t: TestSwitch;
  let kernel: FakeTunnelKernel;
  let tunnels: Tunnels;
  beforeEach(async () => {
    t = await startTestSwitch();
    await t.sysfs.add('lo', { ifindex: 1, mtu: 1500 }); // the underlay, as if_indextoname(1) names it
    kernel = new FakeTunnelKernel(t.sysfs.root);
    tunnels = new Tunnels(t.sw, kernel, (m) => t.logs.push(m), t.sysfs.root);
  });
  afterEach(() => t.close());

  it('a remote the device refuses: the device is deleted again, no port', async () => {
    kernel.failNeigh = 1;
    await assert.rejects(tunnels.add({ name: 'vx1', vni: 1, remotes: ['10.0.0.2', '10.0.0.3'] }), (e: unknown) => e instanceof VswError && /remote 10\.0\.0\.2: ENOBUFS/.test(e.message));
    assert.deepEqual(kernel.sent, [RTM_GETROUTE, RTM_GETROUTE, RTM_GETROUTE, RTM_NEWLINK, RTM_NEWLINK, RTM_NEWNEIGH, RTM_DELLINK]);
    assert.deepEqual(t.sw.show(), []);
    assert.deepEqual((await tunnels.show()).tunnels, []);
  });

  it('the switch refuses the port: the device is deleted again', async () => {
    t.datapath.failNextAdd = new VswError('ESYSCALL', 'socket: EPERM');
    await assert.rejects(tunnels.add({ name: 'vx1', vni: 1, remotes: ['10.0.0.2'] }), /tunnel vx1 not added: socket: EPERM/);
    assert.equal(kernel.sent.at(-1), RTM_DELLINK);
    assert.deepEqual(t.sw.show(), []);
  });

  it('MTU: underlay minus 50; a port at 1500 is logged once and listed with the MTU to set', async () => {
    await tunnels.add({ name: 'vx1', vni: 1, remotes: ['10.0.0.2'] });
    await t.sysfs.add('tap1', { ifindex: 60, mtu: 1500 });
    await t.sw.add('tap1');
    await new Promise((r) => setImmediate(r));
    const show = await tunnels.show();
    assert.equal(show.tunnels[0]!.mtu, 1450);
    assert.deepEqual(show.mtuWarnings, [{ port: 'tap1', mtu: 1500, tunnel: 'vx1', tunnelMtu: 1450 }]);
    await tunnels.checkMtus();
    assert.equal(t.logs.filter((l) => l.startsWith("mtu: port tap1 has MTU 1500, larger than tunnel vx1's 1450")).length, 1, t.logs.join('\n'));
  });

  it('tunnel show gives the VLAN of the tunnel\'s port as it is now: changed by vlan, none when not an access port', async () => {
    await tunnels.add({ name: 'vx1', vni: 1, remotes: ['10.0.0.2'], vlan: 10 });
    const shownVlan = async (): Promise<number | null | undefined> => (await tunnels.show()).tunnels[0]?.vlan;
    assert.equal(await shownVlan(), 10);
    await t.sw.vlan('vx1', { mode: 'access', tag: 20, trunks: null });
    assert.equal(await shownVlan(), 20);
    await t.sw.vlan('vx1', { mode: 'trunk', tag: 0, trunks: [[20, 30]] });
    assert.equal(await shownVlan(), null);
  });

  it('delete of a tunnel port is refused; tunnel del removes port and device', async () => {
    await tunnels.add({ name: 'vx1', vni: 1, remotes: ['10.0.0.2'] });
    await assert.rejects(t.sw.delete('vx1'), (e: unknown) => e instanceof VswError && e.code === 'ETUNNEL');
    await tunnels.del('vx1');
    assert.deepEqual(t.sw.show(), []);
    assert.equal(kernel.sent.at(-1), RTM_DELLINK);
    await assert.rejects(tunnels.del('vx1'), (e: unknown) => e instanceof VswError && e.code === 'ENOTATTACHED');
  });

  it('monitor tells a tunnel added and deleted, after its port', async () => {
    const got: string[] = [];
    t.sw.monitor.subscribe({ name: 'test', send: (j) => void got.push(j), unsent: () => 0, drop: () => undefined });
    await tunnels.add({ name: 'vx1', vni: 7, remotes: ['10.0.0.2'] });
    await tunnels.del('vx1');
    assert.deepEqual(
      got.map((j) => {
        const { time: _t, ...e } = JSON.parse(j) as Record<string, unknown>;
        return e;
      }),
      [
        { event: 'port-add', ifname: 'vx1' },
        { event: 'tunnel-add', name: 'vx1', vni: 7 },
        { event: 'port-del', ifname: 'vx1', reason: 'deleted' },
        { event: 'tunnel-del', name: 'vx1' },
      ],
    );
  });
});

describe('tunnels in --db', () => {
  let t: TestSwitch;
  let kernel: FakeTunnelKernel;
  let tunnels: Tunnels;
  let path: string;
  const file = (): DbConfig => JSON.parse(readFileSync(path, 'utf8')) as DbConfig;
  const plain = { mode: 'default', tag: 0, trunks: null } as const;
  const VX1: DbTunnel = { name: 'vx1', vni: 1000, remotes: ['10.0.0.2'], local: null, dstport: 4789, vlan: 10 };
  /** veth1, the tunnel vx1 (since moved from VLAN 10 to 20), veth2. */
  const SAVED: DbConfig = {
    version: 1,
    ports: [
      { ifname: 'veth1', vlan: plain },
      { ifname: 'vx1', vlan: { mode: 'access', tag: 20, trunks: null } },
      { ifname: 'veth2', vlan: plain },
    ],
    acl: { nextId: 1, rules: [] },
    mirrors: [],
    tunnels: [VX1],
  };
  const restore = async (doc: DbConfig): Promise<void> => {
    writeFileSync(path, JSON.stringify(doc));
    const db = new Db(path);
    await t.sw.config.restore(db.load(), path, tunnels);
    t.sw.config.record(db);
  };

  beforeEach(async () => {
    t = await startTestSwitch();
    await t.sysfs.add('lo', { ifindex: 1, mtu: 1500 });
    await t.sysfs.add('veth1', { ifindex: 61 });
    await t.sysfs.add('veth2', { ifindex: 62 });
    kernel = new FakeTunnelKernel(t.sysfs.root);
    tunnels = new Tunnels(t.sw, kernel, (m) => t.logs.push(m), t.sysfs.root);
    path = join(t.dir, 'db.json');
  });
  afterEach(() => t.close());

  it('tunnel add is in the file before its device is made, its port in its place and VLAN; tunnel del takes both out', async () => {
    const db = new Db(path);
    t.sw.config.record(db);
    await t.sw.add('veth1');
    let during: DbConfig | null = null;
    kernel.onCreate = () => (during = file());
    const written: DbConfig[] = [];
    const save = db.save.bind(db);
    db.save = (doc) => (written.push(structuredClone(doc)), save(doc));
    await tunnels.add({ name: 'vx1', vni: 1000, remotes: ['10.0.0.2'], vlan: 10 });
    for (const doc of written) {
      assert.deepEqual(doc.ports[1], { ifname: 'vx1', vlan: { mode: 'access', tag: 10, trunks: null } }, 'written in no VLAN mode before its VLAN was set');
    }
    await t.sw.add('veth2');
    assert.deepEqual(during!.tunnels, [VX1], 'in the file as the device is made');
    assert.deepEqual(during!.ports.map((p) => p.ifname), ['veth1', 'vx1']);
    assert.deepEqual(file().ports, [SAVED.ports[0], { ifname: 'vx1', vlan: { mode: 'access', tag: 10, trunks: null } }, SAVED.ports[2]]);
    assert.deepEqual(file().tunnels, [VX1]);
    await tunnels.del('vx1');
    assert.deepEqual(file().ports.map((p) => p.ifname), ['veth1', 'veth2']);
    assert.deepEqual(file().tunnels, []);
  });

  it('a tunnel add that fails halfway (a remote refused) leaves the file as it was', async () => {
    t.sw.config.record(new Db(path));
    await t.sw.add('veth1');
    const before = readFileSync(path, 'utf8');
    kernel.failNeigh = 1;
    await assert.rejects(tunnels.add({ name: 'vx1', vni: 1000, remotes: ['10.0.0.2'] }), /not added/);
    assert.equal(readFileSync(path, 'utf8'), before);
  });

  it('a tunnel add the file cannot take is refused before any device is made', async () => {
    writeFileSync(join(t.dir, 'notadir'), '');
    t.sw.config.record(new Db(join(t.dir, 'notadir', 'db.json')));
    await assert.rejects(tunnels.add({ name: 'vx1', vni: 1000, remotes: ['10.0.0.2'] }), /cannot save the configuration .*; nothing changed/);
    assert.ok(!kernel.sent.includes(RTM_NEWLINK), 'a device was made');
  });

  it('restore: the tunnel is made again in its place among the ports, with its spec and its port\'s VLAN mode; the file is unchanged', async () => {
    await restore(SAVED);
    assert.deepEqual(t.sw.show(), ['veth1', 'vx1', 'veth2']);
    assert.equal(kernel.links.get('vx1')?.vni, 1000);
    assert.equal(kernel.links.get('vx1')?.alias, TUNNEL_ALIAS, 'marked as ours');
    assert.deepEqual(await t.sw.vlan('vx1', null), { ifname: 'vx1', mode: 'access', tag: 20, trunks: null });
    const [shown] = (await tunnels.show()).tunnels;
    assert.deepEqual([shown?.name, shown?.vni, shown?.remotes, shown?.dstport, shown?.vlan], ['vx1', 1000, ['10.0.0.2'], 4789, 20], 'its port\'s VLAN now, not the one it was added with');
    assert.deepEqual(file(), SAVED);
    await assert.rejects(t.sw.delete('vx1'), (e: unknown) => e instanceof VswError && e.code === 'ETUNNEL', 'restored as a tunnel port');
  });

  it('restore: a device a killed vswitchd left (vxlan, our alias, same VNI and port) is deleted and made again', async () => {
    kernel.addLink('vx1', { ifindex: 40, linkKind: 'vxlan', alias: TUNNEL_ALIAS, vni: 1000, dstport: 4789 });
    await restore(SAVED);
    assert.deepEqual(kernel.deleted, [40]);
    assert.deepEqual(t.sw.show(), ['veth1', 'vx1', 'veth2']);
    assert.notEqual(t.sw.list().find((p) => p.ifname === 'vx1')?.ifindex, 40, 'a new device');
    assert.match(t.logs.join('\n'), /tunnel vx1: deleted its device left by an earlier vswitchd \(vxlan vni 1000, ifindex 40\), to make it again/);
    assert.deepEqual(file(), SAVED);
  });

  const notOurs: Array<[string, Omit<LinkReply, 'kind' | 'ifindex'>, string]> = [
    ['a veth the user made', { linkKind: 'veth', alias: null, vni: null, dstport: null }, 'a veth device, not made by vswitchd'],
    ['a vxlan device the user made', { linkKind: 'vxlan', alias: null, vni: 1000, dstport: 4789 }, 'a vxlan device not made by vswitchd'],
    ['a vxlan device with an alias of its own', { linkKind: 'vxlan', alias: 'vswitch', vni: 1000, dstport: 4789 }, 'a vxlan device not made by vswitchd'],
    ['a device of vswitchd with another VNI', { linkKind: 'vxlan', alias: TUNNEL_ALIAS, vni: 7, dstport: 4789 }, 'a vxlan device made by vswitchd, but with VNI 7, not 1000'],
    ['a device of vswitchd with another port', { linkKind: 'vxlan', alias: TUNNEL_ALIAS, vni: 1000, dstport: 8472 }, 'a vxlan device made by vswitchd, but with UDP port 8472, not 4789'],
  ];
  for (const [what, link, reason] of notOurs) {
    it(`restore: ${what} with the tunnel's name is left untouched; the tunnel is logged and dropped, the ports after it restored`, async () => {
      kernel.addLink('vx1', { ifindex: 40, ...link });
      await restore(SAVED);
      assert.deepEqual(kernel.deleted, [], 'deleted');
      assert.ok(!kernel.sent.includes(RTM_NEWLINK), 'a device was made or changed');
      assert.deepEqual(t.sw.show(), ['veth1', 'veth2'], 'never a plain port');
      assert.match(t.logs.join('\n'), new RegExp(`tunnel vx1 dropped from ${path}: an interface named vx1 already exists \\(${reason}\\): left as it is`));
      assert.deepEqual(file(), { ...SAVED, ports: [SAVED.ports[0], SAVED.ports[2]], tunnels: [] });
    });
  }

  it('restore: a device of vswitchd now in a bridge is left untouched', async () => {
    kernel.addLink('vx1', { ifindex: 40, linkKind: 'vxlan', alias: TUNNEL_ALIAS, vni: 1000, dstport: 4789 });
    await t.sysfs.add('br0', { ifindex: 70, kind: 'bridge' });
    symlinkSync('../br0', join(t.sysfs.root, 'vx1', 'master'));
    await restore(SAVED);
    assert.match(t.logs.join('\n'), /tunnel vx1 dropped from .*: an interface named vx1 already exists \(a vxlan device made by vswitchd, but now a port of bridge br0\): left as it is/);
    assert.deepEqual(kernel.deleted, []);
  });

  it('restore: a device of vswitchd that another running vswitchd has as a port is left untouched', async () => {
    kernel.addLink('vx1', { ifindex: 40, linkKind: 'vxlan', alias: TUNNEL_ALIAS, vni: 1000, dstport: 4789 });
    const other = new PortLocks({ dir: join(t.dir, 'ports'), owner: { pid: 4242, socket: '/run/other.sock' } }).claim('vx1', 40);
    try {
      await restore(SAVED);
    } finally {
      other.release();
    }
    assert.match(t.logs.join('\n'), /tunnel vx1 dropped from .*: vx1 is a port of another vswitchd \(pid 4242, control socket \/run\/other\.sock\)/);
    assert.deepEqual(kernel.deleted, []);
    assert.deepEqual(t.sw.show(), ['veth1', 'veth2']);
  });

  it('restore without tunnels: a tunnel\'s port is dropped, never attached as a plain port', async () => {
    await t.sysfs.add('vx1', { ifindex: 40 }); // a device of that name exists
    writeFileSync(path, JSON.stringify(SAVED));
    await t.sw.config.restore(new Db(path).load(), path);
    assert.deepEqual(t.sw.show(), ['veth1', 'veth2']);
    assert.match(t.logs.join('\n'), new RegExp(`tunnel vx1 dropped from ${path}: no tunnels in this switch`));
  });
});
