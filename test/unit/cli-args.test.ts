// vswconfig's command line: parsing, and the real program spawned against a
// test control server (the test's own process serves the socket, so the child
// is spawned asynchronously).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseCliArgs, UsageError } from '../../src/cli/args.js';
import { DEFAULT_SOCKET_PATH } from '../../src/control/protocol.js';
import { startTestSwitch, type TestSwitch } from '../helpers/fake-datapath.js';

const VSWCONFIG = fileURLToPath(new URL('../../src/cli/vswconfig.js', import.meta.url));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const baseEnv = { ...process.env };
    delete baseEnv['VSWITCH_SOCKET'];
    const child = spawn(process.execPath, [VSWCONFIG, ...args], { env: { ...baseEnv, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Exactly one line on stderr, starting "vswconfig: ", no stack trace. */
function assertOneErrorLine(r: Run, pattern: RegExp): void {
  const lines = r.stderr.split('\n');
  assert.equal(lines.length, 2, `one line expected on stderr, got: ${JSON.stringify(r.stderr)}`);
  assert.equal(lines[1], '');
  assert.match(lines[0]!, /^vswconfig: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

describe('vswconfig argument parsing', () => {
  const env = {};

  it('parses each subcommand with the default socket', () => {
    assert.deepEqual(parseCliArgs(['add', 'veth1-vsw'], env), {
      kind: 'run',
      socket: DEFAULT_SOCKET_PATH,
      cmd: 'add',
      ifname: 'veth1-vsw',
    });
    assert.deepEqual(parseCliArgs(['delete', 'veth1-vsw'], env), {
      kind: 'run',
      socket: DEFAULT_SOCKET_PATH,
      cmd: 'delete',
      ifname: 'veth1-vsw',
    });
    for (const cmd of ['show', 'fdb', 'stats'] as const) {
      assert.deepEqual(parseCliArgs([cmd], env), { kind: 'run', socket: DEFAULT_SOCKET_PATH, cmd, json: false });
    }
  });

  it('takes -j or --json, before or after the command', () => {
    for (const argv of [['-j', 'fdb'], ['fdb', '--json'], ['--socket', '/tmp/s', '-j', 'fdb']]) {
      assert.equal((parseCliArgs(argv, env) as { json: boolean }).json, true, argv.join(' '));
    }
    assert.deepEqual(parseCliArgs(['-jh'], env), { kind: 'help' });
    // add and delete print nothing: -j is accepted and changes nothing.
    assert.deepEqual(parseCliArgs(['-j', 'add', 'veth1-vsw'], env), {
      kind: 'run',
      socket: DEFAULT_SOCKET_PATH,
      cmd: 'add',
      ifname: 'veth1-vsw',
    });
  });

  it('takes the socket from VSWITCH_SOCKET, and --socket over it', () => {
    assert.equal((parseCliArgs(['show'], { VSWITCH_SOCKET: '/tmp/a.sock' }) as { socket: string }).socket, '/tmp/a.sock');
    assert.equal(
      (parseCliArgs(['--socket', '/tmp/b.sock', 'show'], { VSWITCH_SOCKET: '/tmp/a.sock' }) as { socket: string }).socket,
      '/tmp/b.sock',
    );
    assert.equal((parseCliArgs(['show', '--socket=/tmp/c.sock'], {}) as { socket: string }).socket, '/tmp/c.sock');
    assert.equal((parseCliArgs(['show'], { VSWITCH_SOCKET: '' }) as { socket: string }).socket, DEFAULT_SOCKET_PATH);
  });

  it('returns help for -h and --help, whatever else is given', () => {
    assert.deepEqual(parseCliArgs(['--help'], env), { kind: 'help' });
    assert.deepEqual(parseCliArgs(['bogus', '-h'], env), { kind: 'help' });
  });

  it('accepts an interface name starting with a dash after --', () => {
    assert.equal((parseCliArgs(['add', '--', '-odd'], env) as { ifname: string }).ifname, '-odd');
  });

  it('parses mirror add/del/show and trace', () => {
    const S = DEFAULT_SOCKET_PATH;
    assert.deepEqual(parseCliArgs(['mirror', 'add', 'span', 'output', 'p4', 'select-ingress', 'p1,p2', 'select-vlan', '10,20-30'], env), {
      kind: 'run', socket: S, cmd: 'mirror-add',
      mirror: { name: 'span', output: 'p4', selectIngress: ['p1', 'p2'], selectVlans: [[10, 10], [20, 30]] },
    });
    assert.deepEqual(parseCliArgs(['mirror', 'add', 'all', 'output', 'p4'], env), { kind: 'run', socket: S, cmd: 'mirror-add', mirror: { name: 'all', output: 'p4' } });
    assert.deepEqual(parseCliArgs(['mirror', 'del', 'span'], env), { kind: 'run', socket: S, cmd: 'mirror-del', name: 'span' });
    assert.deepEqual(parseCliArgs(['-j', 'mirror', 'show'], env), { kind: 'run', socket: S, cmd: 'mirror-show', json: true });
    assert.deepEqual(parseCliArgs(['trace', 'in', 'p1', 'dst', '02:00:00:00:00:02', 'vlan', '10', 'type', '0x86dd'], env), {
      kind: 'run', socket: S, cmd: 'trace', json: false, frame: { in: 'p1', dst: '02:00:00:00:00:02', vlan: 10, type: 0x86dd },
    });
  });

  it('throws a UsageError for every malformed mirror or trace command line', () => {
    const cases: Array<[string[], RegExp]> = [
      [['mirror'], /^missing 'mirror' command/],
      [['mirror', 'list'], /^unknown 'mirror' command 'list'/],
      [['mirror', 'add'], /^missing mirror name for 'mirror add'$/],
      [['mirror', 'add', 'a b', 'output', 'p4'], /^bad mirror name 'a b'/],
      [['mirror', 'add', 'm'], /^missing 'output PORT' for 'mirror add'$/],
      [['mirror', 'add', 'm', 'output'], /^missing value for 'output'$/],
      [['mirror', 'add', 'm', 'output', 'p4', 'output', 'p5'], /^'output' given twice$/],
      [['mirror', 'add', 'm', 'output', 'p4', 'select', 'p1'], /^unknown 'mirror add' argument 'select'/],
      [['mirror', 'add', 'm', 'output', 'p4', 'select-ingress', 'p4'], /^p4 cannot be both the output of mirror m and selected by it$/],
      [['mirror', 'add', 'm', 'output', 'p4', 'select-vlan', '0'], /^VLAN ID 0 out of range 1-4094$/],
      [['mirror', 'add', 'm', 'output', 'p4', 'select-vlan', '4095'], /^VLAN ID 4095 out of range 1-4094$/],
      [['mirror', 'add', 'm', 'output', 'p4', 'select-vlan', '5000'], /^VLAN ID 5000 out of range 1-4094$/],
      [['mirror', 'add', 'm', 'output', 'p4', 'select-vlan', '30-20'], /^reversed VLAN range 30-20$/],
      [['mirror', 'add', 'm', 'output', 'a/b'], /^invalid interface name 'a\/b'/],
      [['mirror', 'del'], /^missing mirror name for 'mirror del'$/],
      [['mirror', 'del', 'm', 'x'], /^unexpected argument 'x'$/],
      [['mirror', 'show', 'x'], /^unexpected argument 'x'$/],
      [['trace'], /^missing 'in PORT' for 'trace'$/],
      [['trace', 'in', 'p1', 'src', '02:00:00:00:00'], /MAC/],
      [['trace', 'in', 'p1', 'vlan', '0'], /^VLAN ID 0 out of range 1-4094$/],
      [['trace', 'in', 'p1', 'type', '0x10'], /^ethertype 0x0010 out of range/],
      [['trace', 'in', 'p1', 'ttl', '3'], /^unknown 'trace' argument 'ttl'/],
    ];
    for (const [argv, pattern] of cases) {
      assert.throws(
        () => parseCliArgs(argv, env),
        (e: unknown) => e instanceof UsageError && pattern.test(e.message),
        argv.join(' '),
      );
    }
  });

  it('throws a UsageError for every malformed command line', () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /^missing command/],
      [['frobnicate'], /^unknown subcommand 'frobnicate'$/],
      [['add'], /^missing interface name for 'add'$/],
      [['delete'], /^missing interface name for 'delete'$/],
      [['add', 'a', 'b'], /^unexpected argument 'b'$/],
      [['show', 'extra'], /^unexpected argument 'extra'$/],
      [['fdb', 'x'], /^unexpected argument 'x'$/],
      [['stats', 'x'], /^unexpected argument 'x'$/],
      [['--bogus', 'show'], /^unknown option '--bogus'$/],
      [['-x', 'show'], /^unknown option '-x'$/],
      [['--json=yes', 'show'], /^option '--json' takes no value$/],
      [['show', '--socket'], /^option '--socket' needs a path$/],
      [['--socket=', 'show'], /^option '--socket' needs a non-empty path$/],
      [['add', 'abcdefghijklmnopq'], /^invalid interface name 'abcdefghijklmnopq': longer than 15 bytes$/],
      [['add', 'a/b'], /^invalid interface name 'a\/b'/],
    ];
    for (const [argv, pattern] of cases) {
      assert.throws(
        () => parseCliArgs(argv, env),
        (e: unknown) => e instanceof UsageError && pattern.test(e.message),
        argv.join(' '),
      );
    }
  });
});

describe('vswconfig program', () => {
  let t: TestSwitch;
  before(async () => {
    t = await startTestSwitch({ maxPorts: 2 });
    await t.sysfs.add('veth1-vsw', { ifindex: 101 });
    await t.sysfs.add('veth2-vsw', { ifindex: 102 });
    await t.sysfs.add('veth3-vsw', { ifindex: 103 });
  });
  after(async () => t.close());

  it('every usage error: one line on stderr, exit 2, and the daemon is not contacted', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /missing command/],
      [['frobnicate'], /unknown subcommand 'frobnicate'/],
      [['add'], /missing interface name for 'add'/],
      [['delete'], /missing interface name for 'delete'/],
      [['add', 'veth1-vsw', 'y'], /unexpected argument 'y'/],
      [['show', 'y'], /unexpected argument 'y'/],
      [['--bogus'], /unknown option '--bogus'/],
      [['add', 'waytoolongname123'], /invalid interface name/],
      [['show', '--socket'], /option '--socket' needs a path/],
      [['vlan'], /missing interface name for 'vlan'/],
      [['vlan', 'veth1-vsw', 'access'], /missing VLAN ID for 'access'/],
      [['vlan', 'veth1-vsw', 'access', '0'], /VLAN ID 0 out of range 1-4094/],
      [['vlan', 'veth1-vsw', 'access', '4095'], /VLAN ID 4095 out of range 1-4094/],
      [['vlan', 'veth1-vsw', 'access', '5000'], /VLAN ID 5000 out of range 1-4094/],
      [['vlan', 'veth1-vsw', 'access', '10', '20'], /unexpected argument '20'/],
      [['vlan', 'veth1-vsw', 'trunk', '10,200-100'], /reversed VLAN range 200-100/],
      [['vlan', 'veth1-vsw', 'trunk', '10,,20'], /bad VLAN list item ''/],
      [['vlan', 'veth1-vsw', 'native-tagged'], /missing native VLAN ID for 'native-tagged'/],
      [['vlan', 'veth1-vsw', 'native-untagged', '10', '0-5'], /VLAN ID 0 out of range/],
      [['vlan', 'veth1-vsw', 'hybrid', '10'], /unknown VLAN mode 'hybrid'/],
      [['acl'], /missing 'acl' command/],
      [['acl', 'add'], /missing action for 'acl add'/],
      [['acl', 'add', 'src', '02:00:00:00:00:01/24', 'drop'], /MAC mask is not a MAC: '24'/],
      [['acl', 'add', 'dst', '02:00:00:00:01', 'drop'], /not a MAC address: '02:00:00:00:01'/],
      [['acl', 'add', 'priority', '65536', 'drop'], /priority 65536 out of range 0-65535/],
      [['acl', 'add', 'priority', 'high', 'drop'], /bad priority 'high'/],
      [['acl', 'add', 'vlan', '0', 'drop'], /VLAN ID 0 out of range 1-4094/],
      [['acl', 'add', 'vlan', '4095', 'allow'], /VLAN ID 4095 out of range 1-4094/],
      [['acl', 'add', 'type', '0x05ff', 'drop'], /ethertype 0x05ff out of range 0x0600-0xffff/],
      [['acl', 'add', 'type', '0x10000', 'drop'], /ethertype 0x10000 out of range/],
      [['acl', 'add', 'src'], /missing value for 'src'/],
      [['acl', 'add', 'drop', 'src', '02:00:00:00:00:01'], /unexpected argument 'src' after 'drop'/],
      [['acl', 'add', 'proto', 'tcp', 'drop'], /unknown ACL match 'proto'/],
      [['acl', 'add', 'src', '02:00:00:00:00:01', 'src', '02:00:00:00:00:02', 'drop'], /'src' given twice/],
      [['acl', 'del'], /missing rule id for 'acl del'/],
      [['acl', 'del', 'x'], /bad ACL rule id 'x'/],
      [['acl', 'show', 'y'], /unexpected argument 'y'/],
    ];
    const before = t.connections();
    for (const [args, pattern] of cases) {
      const r = await run(['--socket', t.path, ...args]);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assertOneErrorLine(r, pattern);
    }
    assert.equal(t.connections(), before, 'no usage error may connect to the daemon');
    assert.deepEqual(t.datapath.calls, []);
  });

  it('--help prints the usage on stdout and exits 0', async () => {
    const r = await run(['--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^usage: vswconfig/);
    assert.equal(r.stderr, '');
  });

  it("says vswitchd is not running when there is no socket, exit 1", async () => {
    const path = join(t.dir, 'no-such.sock');
    const r = await run(['--socket', path, 'show']);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assertOneErrorLine(r, new RegExp(`^vswconfig: vswitchd is not running \\(no socket at ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)$`));
  });

  it('honours VSWITCH_SOCKET, and --socket wins over it', async () => {
    const viaEnv = await run(['show'], { VSWITCH_SOCKET: t.path });
    assert.equal(viaEnv.status, 0, viaEnv.stderr);
    const flagWins = await run(['--socket', t.path, 'show'], { VSWITCH_SOCKET: join(t.dir, 'elsewhere.sock') });
    assert.equal(flagWins.status, 0, flagWins.stderr);
  });

  it('add and delete print nothing and exit 0; show prints the datapath, then one name per line', async () => {
    const a1 = await run(['--socket', t.path, 'add', 'veth1-vsw']);
    const a2 = await run(['--socket', t.path, 'add', 'veth2-vsw']);
    for (const r of [a1, a2]) assert.deepEqual(r, { status: 0, stdout: '', stderr: '' });
    const show = await run(['--socket', t.path, 'show']);
    assert.deepEqual(show, { status: 0, stdout: 'datapath user\nveth1-vsw\nveth2-vsw\n', stderr: '' });
    const d = await run(['--socket', t.path, 'delete', 'veth2-vsw']);
    assert.deepEqual(d, { status: 0, stdout: '', stderr: '' });
    assert.deepEqual(t.sw.show(), ['veth1-vsw']);
  });

  it("the daemon's errors: one line naming the problem, exit 1", async () => {
    const cases: Array<[string[], RegExp]> = [
      [['add', 'nope0'], /^vswconfig: no such interface: nope0$/],
      [['add', 'veth1-vsw'], /^vswconfig: veth1-vsw is already a port of the switch$/],
      [['delete', 'veth3-vsw'], /^vswconfig: veth3-vsw is not a port of the switch$/],
    ];
    if (!t.sw.show().includes('veth1-vsw')) await run(['--socket', t.path, 'add', 'veth1-vsw']);
    for (const [args, pattern] of cases) {
      const r = await run(['--socket', t.path, ...args]);
      assert.equal(r.status, 1, args.join(' '));
      assert.equal(r.stdout, '');
      assertOneErrorLine(r, pattern);
    }
  });

  it('vlan: sets a mode (prints nothing), prints it back; an unknown port is one line and exit 2, nothing changed', async () => {
    if (!t.sw.show().includes('veth1-vsw')) await run(['--socket', t.path, 'add', 'veth1-vsw']);
    assert.deepEqual(await run(['--socket', t.path, 'vlan', 'veth1-vsw']), {
      status: 0,
      stdout: 'veth1-vsw default (trunk of all VLANs, tags unchanged)\n',
      stderr: '',
    });
    for (const [args, shown] of [
      [['access', '10'], 'access 10'],
      [['trunk'], 'trunk all'],
      [['trunk', '10,20,100-199'], 'trunk 10,20,100-199'],
      [['native-tagged', '5', '10-12'], 'native-tagged 5 trunks 10-12'],
      [['native-untagged', '7'], 'native-untagged 7 trunks all'],
    ] as Array<[string[], string]>) {
      assert.deepEqual(await run(['--socket', t.path, 'vlan', 'veth1-vsw', ...args]), { status: 0, stdout: '', stderr: '' });
      assert.deepEqual(await run(['--socket', t.path, 'vlan', 'veth1-vsw']), { status: 0, stdout: `veth1-vsw ${shown}\n`, stderr: '' });
    }
    const j = await run(['--socket', t.path, '-j', 'vlan', 'veth1-vsw']);
    assert.deepEqual(JSON.parse(j.stdout), { ifname: 'veth1-vsw', mode: 'native-untagged', tag: 7, trunks: null });
    const calls = t.datapath.calls.length;
    const r = await run(['--socket', t.path, 'vlan', 'veth3-vsw', 'access', '10']);
    assert.equal(r.status, 2);
    assertOneErrorLine(r, /^vswconfig: veth3-vsw is not a port of the switch$/);
    assert.equal(t.datapath.calls.length, calls, 'the datapath was not asked');
  });

  it('acl: add prints the id, show lists rules in match order, del removes; an unknown port or rule id is one line, exit 2, nothing changed', async () => {
    if (!t.sw.show().includes('veth1-vsw')) await run(['--socket', t.path, 'add', 'veth1-vsw']);
    const add = (...args: string[]) => run(['--socket', t.path, 'acl', 'add', ...args]);
    const a = await add('src', '02:00:00:00:00:01', 'drop');
    assert.equal(a.status, 0, a.stderr);
    const b = await add('priority', '40000', 'in', 'veth1-vsw', 'src', '02:00:00:00:00:00/ff:ff:ff:00:00:00', 'type', '0x0800', 'vlan', 'untagged', 'allow');
    const c = await add('priority', '40000', 'dst', 'ff:ff:ff:ff:ff:ff', 'vlan', '10', 'drop');
    const [ida, idb, idc] = [a, b, c].map((r) => Number(r.stdout.trim()));
    assert.ok(ida! < idb! && idb! < idc!, 'ids grow');
    t.datapath.aclHitsValue = [5, 0, 7];
    const shown = await run(['--socket', t.path, 'acl', 'show']);
    assert.equal(shown.status, 0, shown.stderr);
    const lines = shown.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^id\s+priority\s+match\s+action\s+hits$/);
    assert.match(lines[1]!, new RegExp(`^\\s*${idb}\\s+40000\\s+in veth1-vsw src 02:00:00:00:00:00/ff:ff:ff:00:00:00 type 0x0800 vlan untagged\\s+allow\\s+5$`));
    assert.match(lines[2]!, new RegExp(`^\\s*${idc}\\s+40000\\s+dst ff:ff:ff:ff:ff:ff vlan 10\\s+drop\\s+0$`));
    assert.match(lines[3]!, new RegExp(`^\\s*${ida}\\s+32768\\s+src 02:00:00:00:00:01\\s+drop\\s+7$`));
    const j = JSON.parse((await run(['--socket', t.path, '-j', 'acl', 'show'])).stdout);
    assert.deepEqual(j.map((r: { id: number }) => r.id), [idb, idc, ida]);

    const calls = t.datapath.calls.length;
    const r1 = await add('in', 'veth3-vsw', 'drop');
    assert.equal(r1.status, 2);
    assertOneErrorLine(r1, /^vswconfig: veth3-vsw is not a port of the switch$/);
    const r2 = await run(['--socket', t.path, 'acl', 'del', '999']);
    assert.equal(r2.status, 2);
    assertOneErrorLine(r2, /^vswconfig: no ACL rule 999$/);
    assert.equal(t.datapath.calls.length, calls, 'the datapath was not asked');

    assert.deepEqual(await run(['--socket', t.path, 'acl', 'del', String(idc)]), { status: 0, stdout: '', stderr: '' });
    const last = t.datapath.calls.at(-1)!;
    assert.ok(last.op === 'setAcl' && last.table.ids.join() === [idb, ida].join(), 'the datapath has the table without it');
    for (const id of [ida, idb]) await run(['--socket', t.path, 'acl', 'del', String(id)]);
  });

  it('acl: the 257th rule is refused with one line, exit 1', async () => {
    for (let k = 0; k < 256; k++) await t.sw.acl.add({ action: 'allow' });
    const r = await run(['--socket', t.path, 'acl', 'add', 'drop']);
    assert.equal(r.status, 1);
    assertOneErrorLine(r, /at most 256 ACL rules/);
    const rules = (await t.sw.acl.show()).rules;
    assert.equal(rules.length, 256);
    for (const x of rules) await t.sw.acl.del(x.id);
  });

  it('fdb prints one "MAC dev PORT age N" line per entry', async () => {
    if (!t.sw.show().includes('veth1-vsw')) await run(['--socket', t.path, 'add', 'veth1-vsw']);
    const index = t.sw.list().find((p) => p.ifname === 'veth1-vsw')!.index;
    t.datapath.fdbRows = [{ mac: 'aa:bb:cc:dd:ee:ff', port: index, ageSeconds: 12.7 }];
    const r = await run(['--socket', t.path, 'fdb']);
    assert.deepEqual(r, { status: 0, stdout: 'aa:bb:cc:dd:ee:ff dev veth1-vsw age 12\n', stderr: '' });
  });

  it('-j: show, fdb and stats print one JSON document each, interfaces as "ifname"', async () => {
    if (!t.sw.show().includes('veth1-vsw')) await run(['--socket', t.path, 'add', 'veth1-vsw']);
    const index = t.sw.list().find((p) => p.ifname === 'veth1-vsw')!.index;
    t.datapath.fdbRows = [
      { mac: 'aa:bb:cc:dd:ee:ff', port: index, ageSeconds: 12.7 },
      { mac: '02:00:00:00:00:01', port: index, ageSeconds: 0 },
    ];
    t.datapath.statsValue = {
      ports: [{ port: index, up: true, mtu: 1500, rxFrames: 3, rxBytes: 300, txFrames: 4, txBytes: 400, rxRingDrops: 0 }],
      drops: { 'link-local': 2 },
      fdb: { entries: 2, learned: 2, moved: 0, expired: 0, evicted: 0, flushed: 0, refused: 0, suppressed: 0 },
    };
    const parse = async (args: string[]): Promise<unknown> => {
      const r = await run(['--socket', t.path, ...args]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.ok(r.stdout.endsWith('\n') && r.stdout.indexOf('\n') === r.stdout.length - 1, 'one line, one document');
      return JSON.parse(r.stdout);
    };
    assert.deepEqual(await parse(['-j', 'show']), { datapath: 'user', ports: [{ ifname: 'veth1-vsw' }] });
    assert.deepEqual(await parse(['fdb', '--json']), [
      { mac: 'aa:bb:cc:dd:ee:ff', ifname: 'veth1-vsw', age: 12 },
      { mac: '02:00:00:00:00:01', ifname: 'veth1-vsw', age: 0 },
    ]);
    assert.deepEqual(await parse(['-j', 'stats']), {
      ports: [{ ifname: 'veth1-vsw', up: true, mtu: 1500, rxFrames: 3, rxBytes: 300, txFrames: 4, txBytes: 400, rxRingDrops: 0 }],
      drops: { 'link-local': 2 },
      fdb: { entries: 2, learned: 2, moved: 0, expired: 0, evicted: 0, flushed: 0, refused: 0, suppressed: 0 },
      captures: { ports: 0 },
    });
  });

  it('stats prints the port table, drops by reason and fdb counters', async () => {
    if (!t.sw.show().includes('veth1-vsw')) await run(['--socket', t.path, 'add', 'veth1-vsw']);
    const index = t.sw.list().find((p) => p.ifname === 'veth1-vsw')!.index;
    t.datapath.statsValue = {
      ports: [{ port: index, up: true, mtu: 1500, rxFrames: 3, rxBytes: 300, txFrames: 4, txBytes: 400, rxRingDrops: 0 }],
      drops: { 'link-local': 2 },
      fdb: { entries: 1, learned: 1, moved: 0, expired: 0, evicted: 0, flushed: 0, refused: 0, suppressed: 0 },
    };
    const r = await run(['--socket', t.path, 'stats']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^port\s+link\s+mtu\s+rx frames\s+rx bytes\s+tx frames\s+tx bytes\s+ring drops\n/);
    assert.match(r.stdout, /\nveth1-vsw\s+up\s+1500\s+3\s+300\s+4\s+400\s+0\n/);
    assert.match(r.stdout, /\ndrops link-local 2\n/);
    assert.match(r.stdout, /\nfdb entries 1\n/);
  });
});
