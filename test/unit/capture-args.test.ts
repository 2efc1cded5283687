// `vswconfig capture`'s command line: the port, the direction or drops, -c
// and -w; every mistake one UsageError. Then the real program against a
// switch on a fake datapath: its lines, and Ctrl-C.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseCliArgs, UsageError } from '../../src/cli/args.js';
import { CAPTURE_IN, CAPTURE_KIND_IN, CaptureWriter } from '../../src/datapath/capture-ring.js';
import { startTestSwitch, type TestSwitch } from '../helpers/fake-datapath.js';

const VSWCONFIG = fileURLToPath(new URL('../../src/cli/vswconfig.js', import.meta.url));

async function until(cond: () => boolean): Promise<void> {
  for (let k = 0; k < 1000 && !cond(); k++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond());
}

const env = { VSWITCH_SOCKET: '/tmp/s.sock' };

describe('vswconfig capture: arguments', () => {
  it('IFNAME alone is both directions; in, out, both; drops with or without a port', () => {
    assert.deepEqual(parseCliArgs(['capture', 'veth1'], env), { kind: 'run', cmd: 'capture', socket: '/tmp/s.sock', what: 'both', ifname: 'veth1' });
    for (const d of ['in', 'out', 'both'] as const) {
      assert.deepEqual(parseCliArgs(['capture', 'veth1', d], env), { kind: 'run', cmd: 'capture', socket: '/tmp/s.sock', what: d, ifname: 'veth1' });
    }
    assert.deepEqual(parseCliArgs(['capture', 'drops'], env), { kind: 'run', cmd: 'capture', socket: '/tmp/s.sock', what: 'drops' });
    assert.deepEqual(parseCliArgs(['capture', 'drops', 'veth2'], env), { kind: 'run', cmd: 'capture', socket: '/tmp/s.sock', what: 'drops', ifname: 'veth2' });
  });

  it('-c COUNT and -w FILE, -w - for stdout, before or after the words', () => {
    assert.deepEqual(parseCliArgs(['capture', 'veth1', 'in', '-c', '5', '-w', '/tmp/f.pcapng'], env), {
      kind: 'run', cmd: 'capture', socket: '/tmp/s.sock', what: 'in', ifname: 'veth1', count: 5, write: '/tmp/f.pcapng',
    });
    assert.deepEqual(parseCliArgs(['-w', '-', 'capture', 'drops'], env), { kind: 'run', cmd: 'capture', socket: '/tmp/s.sock', what: 'drops', write: '-' });
  });

  it('refuses a bad direction, count, port name, extra word, and -c or -w on other commands', () => {
    const bad: Array<[string[], RegExp]> = [
      [['capture'], /missing interface name \(or 'drops'\) for 'capture'/],
      [['capture', 'veth1', 'up'], /unknown capture direction 'up' \(in, out or both\)/],
      [['capture', 'veth1', 'in', 'x'], /unexpected argument 'x'/],
      [['capture', 'veth1', '-c', '0'], /invalid count '0'/],
      [['capture', 'veth1', '-c', 'ten'], /invalid count 'ten'/],
      [['capture', 'veth1', '-c'], /option '-c' needs a value/],
      [['capture', 'a/b'], /invalid interface name 'a\/b'/],
      [['show', '-w', 'f'], /options -c and -w are for 'capture'/],
    ];
    for (const [argv, re] of bad) assert.throws(() => parseCliArgs(argv, env), (e: unknown) => e instanceof UsageError && re.test(e.message), argv.join(' '));
  });
});

describe('vswconfig capture against a switch on a fake datapath', () => {
  let t: TestSwitch;
  before(async () => {
    t = await startTestSwitch();
    await t.sysfs.add('veth1-vsw', { ifindex: 101 });
    await t.sw.add('veth1-vsw');
  });
  after(async () => {
    await t.close();
  });

  it('prints a line per frame; Ctrl-C ends it with the daemon\'s count; the datapath\'s flags are cleared', async () => {
    const child = spawn(process.execPath, [VSWCONFIG, '--socket', t.path, 'capture', 'veth1-vsw', 'in']);
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    await until(() => t.datapath.captureFlags.length === 1);
    assert.deepEqual(t.datapath.captureFlags, [[0, CAPTURE_IN]]);
    const w = new CaptureWriter(t.datapath.captureBuffer);
    const frame = Buffer.from('ffffffffffff020000000001' + '0800' + '00'.repeat(46), 'hex');
    w.frame(0, CAPTURE_KIND_IN, 0, -1, Date.UTC(2026, 0, 1, 12, 0, 0) + 1.5, frame, 0, 60, (0x8100 << 16) | 10);
    w.publish();
    await until(() => out.includes('\n'));
    assert.match(out, /^\d\d:\d\d:\d\d\.001500 veth1-vsw in 02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, vlan 10, p 0, ethertype 0x0800, length 64\n$/);
    child.kill('SIGINT');
    assert.equal(await exited, 0, err);
    assert.equal(err, '1 frames captured, 0 lost\n');
    await until(() => t.datapath.captureFlags.length === 0);
    assert.ok(t.logs.includes('capture of veth1-vsw (in) ended (client): 1 frames, 0 lost'), t.logs.join('\n'));
  });
});
