// The port registry (src/daemon/switch.ts) over the FakeDatapath and a fake
// sysfs: interfaces held by something else are refused, the registry follows
// renames, and it agrees with the datapath after a late answer.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { VswError } from '../../src/errors.js';
import { startTestSwitch, type TestSwitch } from '../helpers/fake-datapath.js';

/** A VswError with this code whose message matches. */
function vswError(code: string, message: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof VswError, `not a VswError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  };
}

/** Let every pending promise callback run (the fake datapath answers on promises). */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Which interface each open datapath port has, as [index, ifname] sorted by index. */
function datapathPorts(t: TestSwitch): [number, string][] {
  return [...t.datapath.ports].map(([i, p]) => [i, p.ifname] as [number, string]).sort((a, b) => a[0] - b[0]);
}

function registryPorts(t: TestSwitch): [number, string][] {
  return t.sw
    .list()
    .map((p) => [p.index, p.ifname] as [number, string])
    .sort((a, b) => a[0] - b[0]);
}

describe('port registry: interfaces in use are refused', () => {
  let t: TestSwitch;
  beforeEach(async () => {
    t = await startTestSwitch();
    await t.sysfs.add('br0', { ifindex: 10, kind: 'bridge' });
    await t.sysfs.add('bond0', { ifindex: 11, kind: 'bond' });
    await t.sysfs.add('vrf0', { ifindex: 12 });
    await t.sysfs.add('eth1', { ifindex: 21, master: 'br0' });
    await t.sysfs.add('eth2', { ifindex: 22, master: 'bond0' });
    await t.sysfs.add('eth3', { ifindex: 23, master: 'vrf0' });
  });
  afterEach(async () => t.close());

  for (const [ifname, holder] of [
    ['eth1', 'a port of bridge br0'],
    ['eth2', 'a port of bond bond0'],
    ['eth3', 'a port of vrf0'],
    ['br0', 'a Linux bridge'],
  ] as const) {
    it(`${ifname} (${holder}) is refused with EBUSY naming it and its holder; nothing changes`, async () => {
      await assert.rejects(t.sw.add(ifname), vswError('EBUSY', new RegExp(`^${ifname} is ${holder}$`)));
      assert.deepEqual(t.datapath.calls, []);
      assert.deepEqual(t.sw.show(), []);
    });
  }

  it('a bond itself (not a port of anything) can be a port', async () => {
    await t.sw.add('bond0');
    assert.deepEqual(t.sw.show(), ['bond0']);
  });
});

describe('port registry: an interface is a port of one vswitchd at a time', () => {
  let a: TestSwitch;
  let b: TestSwitch;
  beforeEach(async () => {
    a = await startTestSwitch();
    b = await startTestSwitch({ lockDir: `${a.dir}/ports` });
    for (const t of [a, b]) {
      await t.sysfs.add('veth1', { ifindex: 31 });
      await t.sysfs.add('veth2', { ifindex: 32 });
    }
  });
  afterEach(async () => {
    await b.close();
    await a.close();
  });

  it("a port of another switch is refused with EBUSY naming the holder's pid and control socket; nothing changes", async () => {
    await a.sw.add('veth1');
    await assert.rejects(
      b.sw.add('veth1'),
      vswError('EBUSY', new RegExp(`^veth1 is a port of another vswitchd \\(pid ${process.pid}, control socket ${a.path}\\)$`)),
    );
    assert.deepEqual(b.datapath.calls, []);
    assert.deepEqual(b.sw.show(), []);
    await b.sw.add('veth2'); // another interface is free
    assert.deepEqual(b.sw.show(), ['veth2']);
  });

  it('the interface is free again once deleted, deleted from the host, or after a failed add', async () => {
    await a.sw.add('veth1');
    await a.sw.delete('veth1');
    await b.sw.add('veth1');
    b.datapath.interfaceDeleted(0);
    a.datapath.failNextAdd = new VswError('ESYSCALL', 'bind (veth1): ENETDOWN');
    await assert.rejects(a.sw.add('veth1'), vswError('ESYSCALL', /ENETDOWN/));
    await a.sw.add('veth1');
    assert.deepEqual(a.sw.show(), ['veth1']);
  });
});

describe('port registry: renames', () => {
  let t: TestSwitch;
  beforeEach(async () => {
    t = await startTestSwitch();
    await t.sysfs.add('veth1', { ifindex: 41 });
    await t.sysfs.add('veth2', { ifindex: 42 });
  });
  afterEach(async () => t.close());

  it("a 'renamed' event renames the port: show, fdb and delete use the new name, and it is logged", async () => {
    await t.sw.add('veth1');
    await t.sw.add('veth2');
    t.datapath.interfaceRenamed(0, 'uplink');
    assert.deepEqual(t.sw.show(), ['uplink', 'veth2']);
    t.datapath.fdbRows = [{ mac: '02:00:00:00:00:01', port: 0, ageSeconds: 1 }];
    assert.deepEqual([...(await t.sw.fdb())], [{ mac: '02:00:00:00:00:01', vlan: 0, port: 'uplink', ageSeconds: 1 }]);
    assert.ok(t.logs.includes('port veth1 renamed to uplink'), t.logs.join('\n'));
    await assert.rejects(t.sw.delete('veth1'), vswError('ENOTATTACHED', /veth1/));
    await t.sw.delete('uplink');
    assert.deepEqual(t.sw.show(), ['veth2']);
  });
});

describe('port registry: an answer after the request timeout', () => {
  let t: TestSwitch;
  let open: () => void;
  beforeEach(async () => {
    t = await startTestSwitch();
    await t.sysfs.add('veth1', { ifindex: 51 });
    await t.sysfs.add('veth2', { ifindex: 52 });
    t.datapath.requestTimeoutMs = 10;
  });
  afterEach(async () => t.close());

  const gate = (): Promise<void> => new Promise<void>((r) => (open = r));

  it('an add that completes after the timeout: the caller gets ETIMEDOUT, then registry and datapath agree (the port is listed)', async () => {
    t.datapath.addGate = gate();
    await assert.rejects(t.sw.add('veth1'), vswError('ETIMEDOUT', /veth1/));
    // Meanwhile the slot and the name stay reserved.
    await assert.rejects(t.sw.add('veth1'), vswError('EEXIST', /veth1/));
    open();
    await settle();
    assert.deepEqual(datapathPorts(t), [[0, 'veth1']]);
    assert.deepEqual(registryPorts(t), datapathPorts(t));
    assert.ok(t.logs.some((l) => /veth1 added.*after the timeout/.test(l)), t.logs.join('\n'));
  });

  it('an add that fails after the timeout: registry and datapath agree (no port), and the slot is free', async () => {
    t.datapath.addGate = gate();
    t.datapath.failNextAdd = new VswError('ESYSCALL', 'bind (veth1): ENETDOWN');
    await assert.rejects(t.sw.add('veth1'), vswError('ETIMEDOUT', /veth1/));
    open();
    await settle();
    assert.deepEqual(datapathPorts(t), []);
    assert.deepEqual(registryPorts(t), []);
    t.datapath.addGate = null;
    await t.sw.add('veth2');
    assert.deepEqual(registryPorts(t), [[0, 'veth2']]);
  });

  it('a delete that completes after the timeout: the caller gets ETIMEDOUT, then registry and datapath agree (the port is gone)', async () => {
    await t.sw.add('veth1');
    await t.sw.add('veth2');
    t.datapath.removeGate = gate();
    await assert.rejects(t.sw.delete('veth1'), vswError('ETIMEDOUT', /veth1/));
    open();
    await settle();
    assert.deepEqual(datapathPorts(t), [[1, 'veth2']]);
    assert.deepEqual(registryPorts(t), datapathPorts(t));
  });
});

describe('ACL rules in the registry', () => {
  let t: TestSwitch;
  beforeEach(async () => {
    t = await startTestSwitch();
    await t.sysfs.add('veth1', { ifindex: 51 });
    await t.sysfs.add('veth2', { ifindex: 52 });
    await t.sw.add('veth1');
    await t.sw.add('veth2');
  });
  afterEach(async () => t.close());

  /** The ids of the last table handed to the datapath. */
  const lastTable = (): number[] => {
    const c = [...t.datapath.calls].reverse().find((x) => x.op === 'setAcl');
    assert.ok(c !== undefined && c.op === 'setAcl');
    return c.table.ids;
  };

  it('the datapath gets the rules sorted by priority (highest first), then by age; the port is its slot', async () => {
    const a = await t.sw.acl.add({ action: 'drop' });
    const b = await t.sw.acl.add({ priority: 40000, in: 'veth2', action: 'allow' });
    const c = await t.sw.acl.add({ action: 'allow' });
    const d = await t.sw.acl.add({ priority: 0, action: 'allow' });
    assert.deepEqual(lastTable(), [b, a, c, d]);
    const c2 = [...t.datapath.calls].reverse().find((x) => x.op === 'setAcl');
    assert.ok(c2?.op === 'setAcl');
    assert.equal(c2.table.rules[0], 1, 'in veth2: slot 1');
    assert.deepEqual((await t.sw.acl.show()).rules.map((r) => [r.id, r.in]), [[b, 'veth2'], [a, null], [c, null], [d, null]]);
  });

  it('a rule on a port is deleted with the port (its slot may be the next port\'s)', async () => {
    const a = await t.sw.acl.add({ in: 'veth1', action: 'drop' });
    const b = await t.sw.acl.add({ in: 'veth2', action: 'drop' });
    await t.sw.delete('veth1');
    await settle();
    assert.deepEqual(lastTable(), [b]);
    assert.deepEqual((await t.sw.acl.show()).rules.map((r) => r.id), [b]);
    t.datapath.interfaceDeleted(1);
    await settle();
    assert.deepEqual(lastTable(), []);
    assert.ok(a < b);
  });

  it('an unknown port or rule id is refused and nothing changes', async () => {
    await assert.rejects(t.sw.acl.add({ in: 'veth9', action: 'drop' }), vswError('ENOTATTACHED', /veth9 is not a port/));
    await assert.rejects(t.sw.acl.del(7), vswError('ENOACL', /^no ACL rule 7$/));
    assert.ok(!t.datapath.calls.some((c) => c.op === 'setAcl'));
  });
});
