// The configuration that survives a restart (`vswitchd --db PATH`), on the
// datapath VSWITCH_TEST_DATAPATH names: after `kill -9` a new vswitchd on the
// same file has the same ports in the same order, VLAN modes and ACL (ids
// too), and forwards by them; a port whose veth was deleted while the daemon
// was down is logged and dropped from the file; a damaged file stops the
// daemon with one line naming the file and the problem, before it touches
// any interface.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { Db } from '../../src/daemon/db.js';
import { mutatedDb } from '../helpers/db-mutations.js';
import { type Host, Lab, portStats, promiscuity, run, showPorts, signalDaemon, TEST_DATAPATH, VSWITCHD, waitUntil } from '../helpers/lab.js';

const lab = new Lab();
// In a directory that does not exist yet: vswitchd makes it at the first change.
const DB = join(lab.dir, 'state', 'db.json');
let H1: Host, H2: Host, H3: Host, H4: Host;

const ok = (...args: string[]): string => lab.ok(...args);

/** The configuration as vswconfig shows it: the ports, each port's mode, the rules (-j) without their hits. */
function snapshot(): unknown {
  const ports = showPorts(lab);
  const rules = (JSON.parse(ok('-j', 'acl', 'show')) as Array<Record<string, unknown>>).map(({ hits: _hits, ...rule }) => rule);
  const mirrors = (JSON.parse(ok('-j', 'mirror', 'show')) as Array<Record<string, unknown>>).map(({ copies: _copies, ...m }) => m);
  return { ports, vlans: ports.map((p) => ok('vlan', p)), rules, mirrors };
}

async function kill9(): Promise<void> {
  assert.equal(await signalDaemon(lab.daemon!, 'SIGKILL'), null, 'killed');
}

before(async () => {
  [H1, H2, H3, H4] = [1, 2, 3, 4].map((n) => lab.addHost(n));
});

after(async () => {
  await lab.cleanup();
});

test('db: after kill -9 the same --db gives the same ports (in order), VLAN modes, ACL ids and mirrors, and traffic follows them', async () => {
  await lab.startSwitch(['--db', DB]);
  for (const h of [H3, H1, H2, H4]) ok('add', h.port);
  ok('vlan', H1.port, 'access', '10');
  ok('vlan', H2.port, 'access', '10');
  ok('vlan', H3.port, 'native-untagged', '20', '30,100-199');
  assert.equal(ok('acl', 'add', 'src', '02:00:00:00:00:99', 'drop').trim(), '1');
  assert.equal(ok('acl', 'add', 'priority', '100', 'in', H3.port, 'type', '0x86dd', 'drop').trim(), '2');
  assert.equal(ok('acl', 'add', 'priority', '40000', 'dst', '01:00:00:00:00:00/01:00:00:00:00:00', 'vlan', '30', 'allow').trim(), '3');
  ok('acl', 'del', '1');
  ok('mirror', 'add', 'span', 'output', H4.port, 'select-ingress', H1.port, 'select-vlan', '10');
  const before = snapshot();
  assert.ok(lab.ping(H1, H2.ip), 'VLAN 10: NS1 -> NS2 before the kill');

  await kill9();
  await lab.startSwitch(['--db', DB]);
  assert.deepEqual(snapshot(), before);
  assert.deepEqual(showPorts(lab), [H3.port, H1.port, H2.port, H4.port]);
  const cap = await lab.capture(H4.ns, H4.ifname, 'icmp');
  try {
    assert.ok(lab.ping(H1, H2.ip), 'VLAN 10: NS1 -> NS2 after the restart');
  } finally {
    await cap.stop();
  }
  assert.match(cap.out, new RegExp(`vlan 10, p 0, ethertype IPv4 \\(0x0800\\), ${H1.ip.replace(/\./g, '\\.')} > ${H2.ip.replace(/\./g, '\\.')}: ICMP echo request`), 'the mirror copies again after the restart');
  assert.ok(!lab.ping(H1, H3.ip, '-c 1 -W 1'), 'VLAN 10 does not reach VLAN 20 after the restart');
  assert.equal(ok('acl', 'add', 'drop').trim(), '4', 'ids go on from the last one given, not from the rules left');
  ok('acl', 'del', '4');
  assert.ok(!existsSync(`${DB}.tmp`), 'no .tmp left');
});

test('db: a port whose interface was deleted while vswitchd was down is logged and dropped from the file, with its rule and the mirror it was the output of', async () => {
  await kill9();
  lab.sh(`ip link del ${H3.port}`);
  lab.sh(`ip link del ${H4.port}`);
  const d = await lab.startSwitch(['--db', DB]);
  assert.deepEqual(showPorts(lab), [H1.port, H2.port]);
  const mirrorDropped = new RegExp(`mirror span dropped from ${DB}: its output ${H4.port} was dropped\n`);
  await waitUntil(() => mirrorDropped.test(d.stderr));
  assert.match(d.stderr, mirrorDropped);
  assert.equal(ok('mirror', 'show'), 'name  output  select-ingress  select-egress  select-vlan  copies\n');
  assert.match(d.stderr, new RegExp(`port ${H3.port} dropped from ${DB}: no such interface: ${H3.port}\n`));
  assert.match(d.stderr, new RegExp(`acl 2 dropped from ${DB}: its port ${H3.port} was dropped\n`));
  const file = JSON.parse(readFileSync(DB, 'utf8')) as { ports: Array<{ ifname: string }>; acl: { nextId: number; rules: Array<{ id: number }> } };
  assert.deepEqual(file.ports.map((p) => p.ifname), [H1.port, H2.port]);
  assert.deepEqual(file.acl.rules.map((r) => r.id), [3]);
  assert.deepEqual((file as unknown as { mirrors: unknown[] }).mirrors, []);
  assert.equal(file.acl.nextId, 5);
  assert.ok(lab.ping(H1, H2.ip), 'VLAN 10 still forwards');
});

test('db: a damaged file stops vswitchd (exit 1) with one line naming the file and the problem; no interface is touched', async () => {
  await kill9();
  const file = JSON.parse(readFileSync(DB, 'utf8')) as { ports: Array<{ vlan: { tag: number } }> };
  file.ports[1]!.vlan.tag = 5000;
  const damaged = JSON.stringify(file);
  writeFileSync(DB, damaged);
  const state = (): unknown => [H1.port, H2.port].map((p) => [promiscuity(lab, p), lab.sh(`bpftool net show dev ${p}`)]);
  const interfaces = state();
  const datapath = TEST_DATAPATH === '' ? [] : ['--datapath', TEST_DATAPATH];
  const r = run(process.execPath, [VSWITCHD, '--socket', lab.socket, ...datapath, '--db', DB]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr, `vswitchd: ${DB}: ports[1].vlan.tag: VLAN ID 5000 out of range 1-4094\n`);
  assert.deepEqual(state(), interfaces, 'promiscuity and tc programs as before');
  assert.equal(readFileSync(DB, 'utf8'), damaged, 'the file is left as it was');
  assert.notEqual(lab.vswconfig('show').code, 0, 'no daemon answers');
});

test('db: on a full disk (a real tmpfs filled to the brim) a change is refused with one line and the file is left whole; with room again the next change is saved', async () => {
  await kill9();
  const mnt = join(lab.dir, 'full');
  mkdirSync(mnt);
  lab.sh(`mount -t tmpfs -o size=256k,mode=0700 vswitch-test ${mnt}`);
  try {
    const db = join(mnt, 'db.json');
    await lab.startSwitch(['--db', db]);
    ok('add', H1.port);
    // A file of several pages, so that a write into the last free page is a short one.
    for (let k = 0; k < 60; k++) ok('acl', 'add', 'in', H1.port, 'src', `02:00:00:00:01:${k.toString(16).padStart(2, '0')}`, 'drop');
    const saved = readFileSync(db, 'utf8');
    assert.ok(saved.length > 3 * 4096, `the file is ${saved.length} bytes`);
    const rules = ok('acl', 'show');
    // Fill the tmpfs, then give back one page: the next file gets 4096 bytes and then ENOSPC.
    spawnSync('dd', ['if=/dev/zero', `of=${join(mnt, 'fill')}`, 'bs=4096'], { stdio: 'ignore' });
    const fill = join(mnt, 'fill');
    truncateSync(fill, statSync(fill).size - 4096);
    const r = lab.vswconfig('acl', 'add', 'src', '02:00:00:00:02:00', 'drop');
    assert.notEqual(r.code, 0, 'the change is refused');
    assert.match(r.stderr, new RegExp(`^vswconfig: cannot save the configuration to ${db} \\(.*ENOSPC.*\\); nothing changed\\n$`));
    assert.equal(readFileSync(db, 'utf8'), saved, 'the old file is whole');
    assert.ok(!existsSync(`${db}.tmp`), 'no .tmp left');
    assert.equal(ok('acl', 'show'), rules, 'the ACL is as it was');
    rmSync(fill);
    assert.equal(ok('acl', 'add', 'src', '02:00:00:00:02:00', 'drop').trim(), '61');
    assert.equal((JSON.parse(readFileSync(db, 'utf8')) as { acl: { rules: unknown[] } }).acl.rules.length, 61);
    await kill9();
  } finally {
    lab.sh(`umount ${mnt}`);
  }
});

test('db: vswitchd on randomly damaged files (fast-check mutations of a valid one naming this lab\'s ports): exit 1, the loader\'s one line, no interface touched', async () => {
  const names: Record<string, string> = { veth1: H1.port, veth2: H2.port, veth3: H3.port };
  const seed = Number(process.env.VSWITCH_FUZZ_SEED ?? Date.now() % 2 ** 31);
  const path = join(lab.dir, 'fuzzed.json');
  const refused: Array<[string, string]> = [];
  for (const text of fc.sample(mutatedDb, { seed, numRuns: 200 })) {
    const named = text.replace(/"veth([123])"/g, (_m, n: string) => JSON.stringify(names[`veth${n}`]));
    writeFileSync(path, named);
    try {
      new Db(path).load();
    } catch (err) {
      refused.push([named, (err as Error).message]);
    }
    if (refused.length === 8) break;
  }
  assert.equal(refused.length, 8, `seed ${seed}`);
  const state = (): unknown => [H1.port, H2.port].map((p) => [promiscuity(lab, p), lab.sh(`bpftool net show dev ${p}`), lab.sh(`ip -d link show ${p}`)]);
  const interfaces = state();
  const datapath = TEST_DATAPATH === '' ? [] : ['--datapath', TEST_DATAPATH];
  for (const [text, message] of refused) {
    writeFileSync(path, text);
    const r = run(process.execPath, [VSWITCHD, '--socket', lab.socket, ...datapath, '--db', path]);
    assert.equal(r.code, 1, `seed ${seed}: ${r.stderr}`);
    assert.equal(r.stderr, `vswitchd: ${message}\n`, `seed ${seed}`);
    assert.equal(readFileSync(path, 'utf8'), text, 'the file is left as it was');
  }
  assert.deepEqual(state(), interfaces, 'promiscuity, tc programs and link flags as before');
});

test('db: a mirror whose one selected port is missing at a restart selects nothing, says why, and keeps saying so in the file', async () => {
  const db = join(lab.dir, 'narrow.json');
  const H5 = lab.addHost(5);
  await lab.startSwitch(['--db', db]);
  for (const h of [H1, H2, H5]) ok('add', h.port);
  ok('vlan', H1.port, 'trunk');
  ok('vlan', H2.port, 'trunk');
  ok('mirror', 'add', 'narrow', 'output', H2.port, 'select-ingress', H5.port);
  await kill9();
  lab.sh(`ip link del ${H5.port}`);
  const d = await lab.startSwitch(['--db', db]);
  assert.ok(await waitUntil(() => /mirror narrow selects nothing/.test(d.stderr)), d.stderr);
  const [m] = JSON.parse(ok('-j', 'mirror', 'show')) as Array<{ selectAll: boolean; selectIngress: string[]; leftIngress: string[]; copies: number }>;
  assert.deepEqual([m!.selectAll, m!.selectIngress, m!.leftIngress], [false, [], [H5.port]]);
  const saved = (JSON.parse(readFileSync(db, 'utf8')) as { mirrors: Array<{ selectAll: boolean; selectIngress: string[]; leftIngress: string[] }> }).mirrors[0]!;
  assert.deepEqual([saved.selectAll, saved.selectIngress, saved.leftIngress], [false, [], [H5.port]], 'the file keeps it narrow');
  // Broadcasts from NS1 enter the switch (the sentinel: its port's rx counter); a mirror of every frame would copy them.
  lab.sendFrames(H1.ns, H1.ifname, `Ether(dst='ff:ff:ff:ff:ff:ff', src='${H1.mac}')/IP(src='${H1.ip}', dst='${H2.ip}')/UDP(dport=9)`, 5);
  assert.ok(await waitUntil(() => (portStats(lab).get(H1.port)?.rxFrames ?? 0) >= 5), 'the broadcasts entered');
  const [after] = JSON.parse(ok('-j', 'mirror', 'show')) as Array<{ copies: number }>;
  assert.equal(after!.copies, 0, 'nothing copied');
  await kill9();
});
