// The configuration file (src/daemon/db.ts) on its own, and the registry
// keeping it (src/daemon/switch.ts over the FakeDatapath): a round trip, each
// kind of damaged file refused naming the file and the field, atomic writes,
// every change written before it is made, a change the file cannot take
// refused, and a restore that drops what is gone.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Db, type DbConfig, DbError, EMPTY_DB, writeWhole } from '../../src/daemon/db.js';
import { VswError } from '../../src/errors.js';
import { startTestSwitch, type TestSwitch } from '../helpers/fake-datapath.js';

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

const SAMPLE: DbConfig = {
  version: 1,
  ports: [
    { ifname: 'veth1', vlan: { mode: 'access', tag: 10, trunks: null } },
    { ifname: 'veth2', vlan: { mode: 'native-untagged', tag: 20, trunks: [[10, 10], [100, 199]] } },
    { ifname: 'veth3', vlan: { mode: 'default', tag: 0, trunks: null } },
  ],
  acl: {
    nextId: 5,
    rules: [
      { id: 4, priority: 40000, in: 'veth2', src: '02:00:00:00:00:00/ff:ff:ff:00:00:00', dst: null, type: 2054, vlan: 'untagged', action: 'allow' },
      { id: 1, priority: 32768, in: null, src: '02:00:00:00:00:01', dst: null, type: null, vlan: 10, action: 'drop' },
    ],
  },
  mirrors: [{ name: 'span', output: 'veth3', selectAll: false, selectIngress: ['veth1'], selectEgress: ['veth2'], selectVlans: [[10, 10]], leftIngress: [], leftEgress: [] }],
  tunnels: [],
};

/** SAMPLE with two tunnel ports: vx1 (IPv4, vlan 10) between veth1 and veth2, vx6 (IPv6, a local address) last. */
const WITH_TUNNELS: DbConfig = {
  ...SAMPLE,
  ports: [
    SAMPLE.ports[0]!,
    { ifname: 'vx1', vlan: { mode: 'access', tag: 10, trunks: null } },
    ...SAMPLE.ports.slice(1),
    { ifname: 'vx6', vlan: { mode: 'default', tag: 0, trunks: null } },
  ],
  tunnels: [
    { name: 'vx1', vni: 1000, remotes: ['10.0.0.2', '10.0.0.3'], local: null, dstport: 4789, vlan: 10 },
    { name: 'vx6', vni: 0, remotes: ['fd00::2'], local: 'fd00::1', dstport: 8472, vlan: null },
  ],
};

/** WITH_TUNNELS with `edit` applied to a copy of its first tunnel. */
function tunnelWith(edit: (t: Record<string, unknown>) => void): DbConfig {
  const d = structuredClone(WITH_TUNNELS);
  edit(d.tunnels[0] as unknown as Record<string, unknown>);
  return d;
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vsw-db-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The DbError loading `value` (written as JSON, or as is if a string) gives. */
function loadError(value: unknown): string {
  const path = join(dir, 'db.json');
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
  try {
    new Db(path).load();
  } catch (err) {
    assert.ok(err instanceof DbError, `not a DbError: ${String(err)}`);
    assert.ok(!err.message.includes('\n'), 'one line');
    return err.message;
  }
  assert.fail('the file was accepted');
}

/** SAMPLE with `edit` applied to a copy. */
function sampleWith(edit: (d: DbConfig) => void): DbConfig {
  const d = structuredClone(SAMPLE);
  edit(d);
  return d;
}

describe('db: the file', () => {
  it('round trip: what save writes, load gives back; the directory is made (0755) and no .tmp is left', () => {
    const path = join(dir, 'var', 'lib', 'vswitch', 'db.json');
    new Db(path).save(SAMPLE);
    assert.deepEqual(new Db(path).load(), SAMPLE);
    assert.equal(statSync(join(dir, 'var', 'lib', 'vswitch')).mode & 0o777, 0o755);
    assert.deepEqual(readdirSync(join(dir, 'var', 'lib', 'vswitch')), ['db.json']);
  });

  it('round trip with tunnels: their specs and their ports in their places', () => {
    const path = join(dir, 'db.json');
    new Db(path).save(WITH_TUNNELS);
    assert.deepEqual(new Db(path).load(), WITH_TUNNELS);
  });

  it('a file without the tunnels section reads as no tunnels (files of before tunnels still load)', () => {
    const path = join(dir, 'db.json');
    const { tunnels: _tunnels, ...old } = SAMPLE;
    writeFileSync(path, JSON.stringify(old));
    assert.deepEqual(new Db(path).load(), SAMPLE);
  });

  it('a missing file is the empty configuration, and is not created by loading it', () => {
    const path = join(dir, 'db.json');
    assert.deepEqual(new Db(path).load(), EMPTY_DB);
    assert.ok(!existsSync(path));
  });

  it('a file without the acl section reads as an empty ACL (an older file gains a new section)', () => {
    const path = join(dir, 'db.json');
    writeFileSync(path, JSON.stringify({ version: 1, ports: [{ ifname: 'veth1', vlan: { mode: 'trunk', tag: 0, trunks: null } }] }));
    assert.deepEqual(new Db(path).load().acl, { nextId: 1, rules: [] });
  });

  const damaged: Array<[string, unknown, string]> = [
    ['not JSON', '{"version":1,', 'not valid JSON ('],
    ['empty', '', 'not valid JSON ('],
    ['not an object', '[1]', 'not a JSON object'],
    ['no version', { ports: [] }, 'version: missing'],
    ['an unknown version', { version: 2, ports: [] }, 'version: unsupported version 2 (this vswitchd reads version 1)'],
    ['ports missing', { version: 1 }, 'ports: missing'],
    ['ports not a list', { version: 1, ports: {} }, 'ports: Expected array, received object'],
    ['a VID out of range', sampleWith((d) => (d.ports[1]!.vlan.tag = 5000)), 'ports[1].vlan.tag: VLAN ID 5000 out of range 1-4094'],
    ['a reversed trunk range', sampleWith((d) => (d.ports[1]!.vlan.trunks = [[20, 10]])), 'ports[1].vlan.trunks: reversed VLAN range 20-10'],
    ['a list on an access port', sampleWith((d) => (d.ports[0]!.vlan.trunks = [[20, 20]])), 'ports[0].vlan.trunks: mode access takes no VLAN list'],
    ['an unknown mode', sampleWith((d) => ((d.ports[0]!.vlan as { mode: string }).mode = 'hybrid')), 'ports[0].vlan.mode: Invalid enum value'],
    ['a misspelt field', sampleWith((d) => ((d.ports[0]!.vlan as Record<string, unknown>)['tga'] = 1)), 'ports[0].vlan.tga: unknown field'],
    ['a field missing', sampleWith((d) => delete (d.ports[0] as Partial<DbConfig['ports'][0]>).vlan), 'ports[0].vlan: missing'],
    ['a bad interface name', sampleWith((d) => (d.ports[2]!.ifname = 'a/b')), 'ports[2].ifname: invalid interface name'],
    ['a duplicate port', sampleWith((d) => (d.ports[2]!.ifname = 'veth1')), 'ports[2].ifname: veth1 is already ports[0]'],
    ['a priority out of range', sampleWith((d) => (d.acl.rules[1]!.priority = 70000)), 'acl.rules[1].priority: priority 70000 out of range 0-65535'],
    ['a bad MAC mask', sampleWith((d) => (d.acl.rules[0]!.src = '02:00:00:00:00:00/16')), "acl.rules[0].src: MAC mask is not a MAC: '16'"],
    ['an ethertype out of range', sampleWith((d) => (d.acl.rules[1]!.type = 0x100)), 'acl.rules[1].type: ethertype 0x0100 out of range'],
    ['a rule VID out of range', sampleWith((d) => (d.acl.rules[1]!.vlan = 4095)), 'acl.rules[1].vlan: VLAN ID 4095 out of range 1-4094'],
    ['a duplicate rule id', sampleWith((d) => (d.acl.rules[1]!.id = 4)), 'acl.rules[1].id: rule 4 appears twice'],
    ['a rule id not below nextId', sampleWith((d) => (d.acl.nextId = 4)), 'acl.rules[0].id: rule 4 is not below acl.nextId 4'],
    ['a rule on a port not in ports', sampleWith((d) => (d.acl.rules[0]!.in = 'veth9')), 'acl.rules[0].in: veth9 is not in ports'],
    ['a mirror output not in ports', sampleWith((d) => (d.mirrors[0]!.output = 'veth9')), 'mirrors[0].output: veth9 is not in ports'],
    ['a mirror that selects its own output', sampleWith((d) => (d.mirrors[0]!.selectIngress = ['veth3'])), 'mirrors[0]: veth3 cannot be both the output of mirror span and selected by it'],
    ['two mirrors on one output', sampleWith((d) => d.mirrors.push({ ...d.mirrors[0]!, name: 'span2', selectIngress: [], selectEgress: [] })), 'mirrors[1]: veth3 is already the output of mirror span'],
    ['a bad mirror name', sampleWith((d) => (d.mirrors[0]!.name = 'a b')), "mirrors[0].name: bad mirror name 'a b'"],
    ['a reversed select-vlan range', sampleWith((d) => (d.mirrors[0]!.selectVlans = [[20, 10]])), 'mirrors[0].selectVlans: reversed VLAN range 20-10'],
    ['a VNI out of range', tunnelWith((t) => (t['vni'] = 16777216)), 'tunnels[0].vni: bad VNI 16777216 (0-16777215)'],
    ['a VNI that is not an integer', tunnelWith((t) => (t['vni'] = 1.5)), 'tunnels[0].vni: Expected integer, received float'],
    ['a UDP port out of range', tunnelWith((t) => (t['dstport'] = 0)), 'tunnels[0].dstport: bad UDP port 0 (1-65535)'],
    ['a tunnel VID out of range', tunnelWith((t) => (t['vlan'] = 4095)), 'tunnels[0].vlan: VLAN ID 4095 out of range 1-4094'],
    ['no remote', tunnelWith((t) => (t['remotes'] = [])), 'tunnels[0].remotes: a tunnel needs at least one remote'],
    ['a multicast remote', tunnelWith((t) => (t['remotes'] = ['239.1.1.1'])), "tunnels[0].remotes: bad remote address '239.1.1.1': not unicast"],
    ['a remote twice', tunnelWith((t) => (t['remotes'] = ['10.0.0.2', '10.0.0.2'])), 'tunnels[0].remotes: remote 10.0.0.2 given twice'],
    ['a local address of the other family', tunnelWith((t) => (t['local'] = 'fd00::1')), 'tunnels[0].local: the remotes and the local address must be all IPv4 or all IPv6'],
    ['a malformed local address', tunnelWith((t) => (t['local'] = '10.0.0')), "tunnels[0].local: bad local address '10.0.0'"],
    ['a tunnel field missing', tunnelWith((t) => delete t['dstport']), 'tunnels[0].dstport: missing'],
    ['an unknown tunnel field', tunnelWith((t) => (t['ttl'] = 64)), 'tunnels[0].ttl: unknown field'],
    ['a tunnel whose port is not in ports', tunnelWith((t) => (t['name'] = 'vx9')), 'tunnels[0].name: vx9 is not in ports'],
    ['a tunnel twice', sampleWith((d) => Object.assign(d, structuredClone(WITH_TUNNELS), { tunnels: [WITH_TUNNELS.tunnels[0], WITH_TUNNELS.tunnels[0]] })), 'tunnels[1].name: vx1 is already tunnels[0]'],
  ];
  for (const [what, value, problem] of damaged) {
    it(`${what}: refused with one line naming the file and the problem`, () => {
      const message = loadError(value);
      assert.ok(message.startsWith(`${join(dir, 'db.json')}: ${problem}`), message);
    });
  }

  it('a file that cannot be read (a directory) is refused naming it', () => {
    const path = join(dir, 'db.json');
    mkdirSync(path);
    assert.throws(() => new Db(path).load(), (e: unknown) => e instanceof DbError && e.message.startsWith(`${path}: cannot read: EISDIR`));
  });

  it('a save that fails leaves the old file, no .tmp, and throws', () => {
    const path = join(dir, 'db.json');
    mkdirSync(path); // rename over a directory fails
    assert.throws(() => new Db(path).save(SAMPLE), /EISDIR|ENOTEMPTY|EEXIST/);
    assert.deepEqual(readdirSync(dir), ['db.json']);
    assert.ok(statSync(path).isDirectory());
  });
  it('a symlink planted at PATH.tmp is removed, not written through; the file is made 0600 whatever was there', () => {
    const path = join(dir, 'db.json');
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious\n', { mode: 0o644 });
    symlinkSync(victim, `${path}.tmp`);
    new Db(path).save(SAMPLE);
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n', 'the link target is untouched');
    assert.deepEqual(new Db(path).load(), SAMPLE);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.ok(!existsSync(`${path}.tmp`));
  });

  it('a file left at PATH.tmp (world-readable, by a crash or anyone) does not keep its mode or its bytes', () => {
    const path = join(dir, 'db.json');
    writeFileSync(`${path}.tmp`, 'x'.repeat(100_000), { mode: 0o666 });
    new Db(path).save(SAMPLE);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(new Db(path).load(), SAMPLE);
  });

  it('writeWhole writes on after a short write and throws the error of the write that fails (a full disk)', () => {
    const bytes = new Uint8Array(10_000).fill(7);
    const got: number[] = [];
    writeWhole(3, bytes, ((_fd: number, _b: Uint8Array, off: number, len: number) => {
      got.push(off);
      return Math.min(len, 4096);
    }) as never);
    assert.deepEqual(got, [0, 4096, 8192]);
    let calls = 0;
    assert.throws(
      () =>
        writeWhole(3, bytes, (() => {
          if (++calls === 1) return 4096;
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        }) as never),
      /ENOSPC/,
    );
    assert.equal(calls, 2);
  });
});

describe('db: the registry keeps it', () => {
  let t: TestSwitch;
  let path: string;
  const file = (): DbConfig => JSON.parse(readFileSync(path, 'utf8')) as DbConfig;

  beforeEach(async () => {
    t = await startTestSwitch();
    path = join(dir, 'db.json');
    for (const [n, ifindex] of [['veth1', 61], ['veth2', 62], ['veth3', 63]] as const) await t.sysfs.add(n, { ifindex });
  });
  afterEach(async () => t.close());

  it('every change is in the file: add, vlan, acl add and del, delete (with its rules), a rename and a deleted interface', async () => {
    t.sw.config.record(new Db(path));
    await t.sw.add('veth1');
    await t.sw.add('veth2');
    await t.sw.add('veth3');
    assert.deepEqual(file().ports.map((p) => p.ifname), ['veth1', 'veth2', 'veth3']);
    await t.sw.vlan('veth2', { mode: 'trunk', tag: 0, trunks: [[10, 20]] });
    assert.deepEqual(file().ports[1]!.vlan, { mode: 'trunk', tag: 0, trunks: [[10, 20]] });
    const a = await t.sw.acl.add({ src: '02:00:00:00:00:01', action: 'drop' });
    const b = await t.sw.acl.add({ in: 'veth1', priority: 40000, action: 'allow' });
    assert.deepEqual(file().acl, {
      nextId: b + 1,
      rules: [
        { id: b, priority: 40000, in: 'veth1', src: null, dst: null, type: null, vlan: null, action: 'allow' },
        { id: a, priority: 32768, in: null, src: '02:00:00:00:00:01', dst: null, type: null, vlan: null, action: 'drop' },
      ],
    });
    await t.sw.acl.del(a);
    assert.deepEqual(file().acl.rules.map((r) => r.id), [b]);
    await t.sw.delete('veth1');
    assert.deepEqual(file().ports.map((p) => p.ifname), ['veth2', 'veth3']);
    assert.deepEqual(file().acl, { nextId: b + 1, rules: [] }, 'the rule on veth1 went with it');
    t.datapath.interfaceRenamed(2, 'veth3b');
    assert.deepEqual(file().ports.map((p) => p.ifname), ['veth2', 'veth3b']);
    t.datapath.interfaceDeleted(1);
    await settle();
    assert.deepEqual(file().ports.map((p) => p.ifname), ['veth3b']);
    assert.deepEqual(readdirSync(dir), ['db.json'], 'no .tmp left');
  });

  it('the file is written before the datapath is asked; a change the datapath refuses is taken back out', async () => {
    t.sw.config.record(new Db(path));
    let during: string[] = [];
    let release!: () => void;
    t.datapath.addGate = new Promise((r) => (release = r));
    const adding = t.sw.add('veth1');
    while (!t.datapath.calls.some((c) => c.op === 'addPort')) await settle();
    during = file().ports.map((p) => p.ifname);
    release();
    await adding;
    assert.deepEqual(during, ['veth1'], 'in the file while the datapath opens it');
    t.datapath.addGate = null;
    t.datapath.failNextAdd = new VswError('ESYSCALL', 'socket: EPERM');
    await assert.rejects(t.sw.add('veth2'), /EPERM/);
    assert.deepEqual(file().ports.map((p) => p.ifname), ['veth1']);
  });

  it('while a delete waits for the datapath, the file written first loads: the port leaves the mirrors that name it', async () => {
    t.sw.config.record(new Db(path));
    for (const n of ['veth1', 'veth2', 'veth3']) await t.sw.add(n);
    await t.sw.mirrors.add({ name: 'span', output: 'veth3', selectIngress: ['veth1'], selectEgress: ['veth2'] });
    const during: DbConfig[] = [];
    for (const gone of ['veth1', 'veth3']) {
      let release!: () => void;
      t.datapath.removeGate = new Promise((r) => (release = r));
      const calls = t.datapath.calls.length;
      const deleting = t.sw.delete(gone);
      while (!t.datapath.calls.slice(calls).some((c) => c.op === 'removePort')) await settle();
      during.push(new Db(path).load());
      release();
      await deleting;
    }
    assert.deepEqual(during[0]!.mirrors, [
      { name: 'span', output: 'veth3', selectAll: false, selectIngress: [], selectEgress: ['veth2'], selectVlans: null, leftIngress: ['veth1'], leftEgress: [] },
    ]);
    assert.deepEqual(during[1]!.mirrors, [], 'the mirror whose output it was');
  });

  it('a change the file cannot take is refused (ESYSCALL naming the file) and nothing changes', async () => {
    writeFileSync(join(dir, 'notadir'), '');
    const bad = join(dir, 'notadir', 'db.json');
    t.sw.config.record(new Db(bad));
    assert.match(t.logs.join('\n'), new RegExp(`configuration not saved to ${bad}`));
    await assert.rejects(t.sw.add('veth1'), (e: unknown) => {
      assert.ok(e instanceof VswError && e.code === 'ESYSCALL', String(e));
      assert.match(e.message, new RegExp(`^cannot save the configuration to ${bad} \\(.*\\); nothing changed$`));
      return true;
    });
    assert.deepEqual(t.sw.show(), []);
    assert.deepEqual(t.datapath.calls, []);
    // The same for a port already in (added before the file went bad) and the ACL.
    const ok = join(dir, 'ok', 'db.json');
    const db = new Db(ok);
    t.sw.config.record(db);
    await t.sw.add('veth1');
    rmSync(join(dir, 'ok'), { recursive: true });
    writeFileSync(join(dir, 'ok'), '');
    const calls = t.datapath.calls.length;
    await assert.rejects(t.sw.vlan('veth1', { mode: 'access', tag: 10, trunks: null }), /cannot save the configuration/);
    await assert.rejects(t.sw.acl.add({ action: 'drop' }), /cannot save the configuration/);
    await assert.rejects(t.sw.delete('veth1'), /cannot save the configuration/);
    assert.equal(t.datapath.calls.length, calls, 'the datapath was not asked');
    assert.deepEqual(t.sw.show(), ['veth1']);
    assert.equal((await t.sw.vlan('veth1', null)).mode, 'default');
    assert.deepEqual((await t.sw.acl.show()).rules, []);
  });

  it('restore: ports in order with their modes, rules with their ids and the next id; a missing interface is logged, dropped with its rules, and the file rewritten', async () => {
    const before = sampleWith((d) => {
      d.ports.splice(1, 0, { ifname: 'gone0', vlan: { mode: 'access', tag: 30, trunks: null } });
      d.acl.rules.push({ id: 2, priority: 1, in: 'gone0', src: null, dst: null, type: null, vlan: null, action: 'drop' });
    });
    writeFileSync(path, JSON.stringify(before));
    const db = new Db(path);
    await t.sw.config.restore(db.load(), path);
    t.sw.config.record(db);
    assert.deepEqual(t.sw.show(), ['veth1', 'veth2', 'veth3']);
    assert.deepEqual((await t.sw.vlan('veth2', null)).trunks, [[10, 10], [100, 199]]);
    assert.deepEqual((await t.sw.acl.show()).rules.map((r) => [r.id, r.in]), [[4, 'veth2'], [1, null]]);
    assert.equal(await t.sw.acl.add({ action: 'allow' }), 5, 'the next id is kept');
    const logs = t.logs.join('\n');
    assert.match(logs, new RegExp(`port gone0 dropped from ${path}: no such interface: gone0`));
    assert.match(logs, new RegExp(`acl 2 dropped from ${path}: its port gone0 was dropped`));
    const after = file();
    assert.deepEqual(after.ports, SAMPLE.ports);
    assert.deepEqual(after.acl.rules.map((r) => r.id), [4, 1, 5]);
  });

  it('restore: a port now held by a bridge is logged and dropped, as a missing one', async () => {
    await t.sysfs.add('br0', { ifindex: 70, kind: 'bridge' });
    await t.sysfs.add('eth9', { ifindex: 71, master: 'br0' });
    writeFileSync(path, JSON.stringify(sampleWith((d) => d.ports.unshift({ ifname: 'eth9', vlan: { mode: 'default', tag: 0, trunks: null } }))));
    const db = new Db(path);
    await t.sw.config.restore(db.load(), path);
    t.sw.config.record(db);
    assert.deepEqual(t.sw.show(), ['veth1', 'veth2', 'veth3']);
    assert.match(t.logs.join('\n'), new RegExp(`port eth9 dropped from ${path}: eth9 is a port of bridge br0`));
    assert.deepEqual(file(), SAMPLE);
  });

  it('a restore writes nothing until record; stopping (detachAll) keeps the file', async () => {
    writeFileSync(path, JSON.stringify(SAMPLE));
    const db = new Db(path);
    await t.sw.config.restore(db.load(), path);
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), SAMPLE);
    t.sw.config.record(db);
    await t.sw.detachAll();
    assert.deepEqual(t.sw.show(), []);
    assert.deepEqual(file(), SAMPLE);
  });
});
