// `vswconfig tunnel …` parsing and the checks of a tunnel spec shared by the
// CLI and the protocol (src/control/tunnel-spec.ts): every problem is one
// line, found before anything is sent.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCliArgs, UsageError } from '../../src/cli/args.js';
import { parseRequest } from '../../src/control/protocol.js';
import { addressBytes, tunnelSpecProblem } from '../../src/control/tunnel-spec.js';

const env = { VSWITCH_SOCKET: '/s' };
const parse = (...argv: string[]) => parseCliArgs(argv, env);

function usage(argv: string[], message: RegExp): void {
  assert.throws(
    () => parse(...argv),
    (e: unknown) => e instanceof UsageError && message.test(e.message) && !e.message.includes('\n'),
    argv.join(' '),
  );
}

describe('vswconfig tunnel', () => {
  it('add with every parameter, in any order', () => {
    assert.deepEqual(parse('tunnel', 'add', 'vx1', 'vxlan', 'vlan', '10', 'remote', '10.0.0.2,10.0.0.3', 'vni', '16777215', 'local', '10.0.0.1', 'dstport', '8472'), {
      kind: 'run',
      socket: '/s',
      cmd: 'tunnel-add',
      tunnel: { name: 'vx1', vni: 16777215, remotes: ['10.0.0.2', '10.0.0.3'], local: '10.0.0.1', dstport: 8472, vlan: 10 },
    });
    assert.deepEqual(parse('tunnel', 'add', 'vx1', 'vxlan', 'vni', '0', 'remote', 'fd00::2'), {
      kind: 'run',
      socket: '/s',
      cmd: 'tunnel-add',
      tunnel: { name: 'vx1', vni: 0, remotes: ['fd00::2'] },
    });
  });

  it('del and show', () => {
    assert.deepEqual(parse('tunnel', 'del', 'vx1'), { kind: 'run', socket: '/s', cmd: 'tunnel-del', name: 'vx1' });
    assert.deepEqual(parse('-j', 'tunnel', 'show'), { kind: 'run', socket: '/s', cmd: 'tunnel-show', json: true });
  });

  it('bad input: one line naming the problem', () => {
    const add = (...rest: string[]) => ['tunnel', 'add', 'vx1', 'vxlan', ...rest];
    usage(add('vni', '16777216', 'remote', '10.0.0.2'), /^bad VNI 16777216 \(0-16777215\)$/);
    usage(add('vni', 'x', 'remote', '10.0.0.2'), /^bad VNI 'x'$/);
    usage(add('remote', '10.0.0.2'), /^missing 'vni'/);
    usage(add('vni', '1'), /^missing 'remote'/);
    usage(add('vni', '1', 'remote', '10.0.0.256'), /^bad remote address '10\.0\.0\.256'$/);
    usage(add('vni', '1', 'remote', '10.0.0.2,'), /^bad remote address ''$/);
    usage(add('vni', '1', 'remote', '224.0.0.1'), /not unicast/);
    usage(add('vni', '1', 'remote', '0.0.0.0'), /unspecified/);
    usage(add('vni', '1', 'remote', '127.0.0.1'), /loopback/);
    usage(add('vni', '1', 'remote', '10.0.0.2,10.0.0.2'), /^remote 10\.0\.0\.2 given twice$/);
    usage(add('vni', '1', 'remote', '10.0.0.2', 'local', 'fd00::1'), /all IPv4 or all IPv6/);
    usage(add('vni', '1', 'remote', '10.0.0.2', 'local', '10.0.0.2'), /is the local address/);
    usage(add('vni', '1', 'remote', '10.0.0.2', 'vlan', '0'), /^VLAN ID 0 out of range 1-4094$/);
    usage(add('vni', '1', 'remote', '10.0.0.2', 'vlan', '4095'), /^VLAN ID 4095 out of range 1-4094$/);
    usage(add('vni', '1', 'remote', '10.0.0.2', 'dstport', '0'), /^bad UDP port 0/);
    usage(add('vni', '1', 'vni', '2', 'remote', '10.0.0.2'), /^'vni' given twice$/);
    usage(add('vni', '1', 'remote', '10.0.0.2', 'ttl', '3'), /^unknown 'tunnel add' argument 'ttl'/);
    usage(['tunnel', 'add', 'vx1', 'gre', 'vni', '1', 'remote', '10.0.0.2'], /^unknown tunnel type 'gre'/);
    usage(['tunnel', 'add', 'a-name-far-too-long', 'vxlan'], /^invalid interface name/);
    usage(['tunnel', 'del'], /^missing tunnel name/);
    usage(['tunnel', 'frob'], /^unknown 'tunnel' command 'frob'/);
  });
});

describe('tunnel spec', () => {
  it('IPv6 addresses become their 16 bytes', () => {
    assert.equal(Buffer.from(addressBytes('fd00::2')).toString('hex'), 'fd000000000000000000000000000002');
    assert.equal(Buffer.from(addressBytes('::ffff:10.0.0.1')).toString('hex'), '00000000000000000000ffff0a000001');
    assert.equal(Buffer.from(addressBytes('1:2:3:4:5:6:7:8')).toString('hex'), '00010002000300040005000600070008');
  });

  it('an IPv6 remote given twice in two spellings is caught', () => {
    assert.equal(tunnelSpecProblem({ name: 'v', vni: 1, remotes: ['fd00::2', 'fd00:0::0:2'] }), 'remote fd00:0::0:2 given twice');
    assert.equal(tunnelSpecProblem({ name: 'v', vni: 1, remotes: ['ff02::1'] }), "bad remote address 'ff02::1': not unicast");
  });

  it('the daemon checks the same on the protocol: a bad VNI is EPROTO', () => {
    const r = parseRequest(JSON.stringify({ v: 1, id: 1, cmd: 'tunnel-add', name: 'vx1', vni: 1 << 24, remotes: ['10.0.0.2'] }));
    assert.equal(r.ok, false);
    if (!r.ok) assert.deepEqual(r.error, { code: 'EPROTO', message: 'bad VNI 16777216 (0-16777215)' });
    const ok = parseRequest(JSON.stringify({ v: 1, id: 1, cmd: 'tunnel-add', name: 'vx1', vni: 5, remotes: ['10.0.0.2'], vlan: 10 }));
    assert.equal(ok.ok, true);
  });
});
