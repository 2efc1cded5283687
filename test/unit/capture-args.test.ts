// `vswconfig capture`'s command line: the port, the direction or drops, -c
// and -w; every mistake one UsageError.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCliArgs, UsageError } from '../../src/cli/args.js';

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
