import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  encodeReply,
  errorReply,
  ifnameProblem,
  LineSplitter,
  MAX_LINE_BYTES,
  okReply,
  parseReply,
  parseRequest,
} from '../../src/control/protocol.js';

function expectProto(line: string | Uint8Array, messagePart: RegExp, id: number | null = null): void {
  const r = parseRequest(line);
  assert.equal(r.ok, false, `expected an error for ${String(line).slice(0, 80)}`);
  if (r.ok) return;
  assert.equal(r.error.code, 'EPROTO');
  assert.match(r.error.message, messagePart);
  assert.equal(r.id, id);
}

describe('control protocol: requests', () => {
  it('accepts add and delete with an interface name', () => {
    for (const cmd of ['add', 'delete'] as const) {
      const r = parseRequest(JSON.stringify({ v: 1, id: 3, cmd, ifname: 'veth1-vsw' }));
      assert.deepEqual(r, { ok: true, request: { v: 1, id: 3, cmd, ifname: 'veth1-vsw' } });
    }
  });

  it('accepts show, fdb and stats without arguments', () => {
    for (const cmd of ['show', 'fdb', 'stats'] as const) {
      const r = parseRequest(`{"v":1,"id":0,"cmd":"${cmd}"}`);
      assert.deepEqual(r, { ok: true, request: { v: 1, id: 0, cmd } });
    }
  });

  it('accepts vlan to ask for a port\'s mode or set a valid one; refuses a bad VID, range or mode with EPROTO', () => {
    const ask = { v: 1, id: 4, cmd: 'vlan', ifname: 'veth1-vsw' };
    assert.deepEqual(parseRequest(JSON.stringify(ask)), { ok: true, request: ask });
    const set = { ...ask, mode: 'native-untagged', tag: 10, trunks: [[20, 30]] };
    assert.deepEqual(parseRequest(JSON.stringify(set)), { ok: true, request: set });
    expectProto(JSON.stringify({ ...ask, mode: 'access', tag: 0 }), /VLAN ID 0 out of range 1-4094/, 4);
    expectProto(JSON.stringify({ ...ask, mode: 'access', tag: 4095 }), /VLAN ID 4095 out of range/, 4);
    expectProto(JSON.stringify({ ...ask, mode: 'access', tag: 5000 }), /VLAN ID 5000 out of range/, 4);
    expectProto(JSON.stringify({ ...ask, mode: 'trunk', trunks: [[30, 20]] }), /reversed VLAN range 30-20/, 4);
    expectProto(JSON.stringify({ ...ask, mode: 'trunk', trunks: [[0, 20]] }), /VLAN ID 0 out of range/, 4);
    expectProto(JSON.stringify({ ...ask, mode: 'trunk', tag: 5 }), /mode trunk takes no VLAN ID/, 4);
    expectProto(JSON.stringify({ ...ask, mode: 'hybrid' }), /field 'mode'/, 4);
    expectProto(JSON.stringify({ ...ask, tag: 5 }), /'tag' and 'trunks' need a 'mode'/, 4);
  });

  it('accepts acl-add, acl-del and acl-show; refuses out-of-range values and a mask that is not a MAC with EPROTO', () => {
    const add = { v: 1, id: 5, cmd: 'acl-add', priority: 100, in: 'veth1-vsw', src: '02:00:00:00:00:01/ff:ff:ff:00:00:00', dst: 'ff:ff:ff:ff:ff:ff', type: 0x0806, vlan: 'untagged', action: 'drop' };
    assert.deepEqual(parseRequest(JSON.stringify(add)), { ok: true, request: add });
    const del = { v: 1, id: 6, cmd: 'acl-del', rule: 3 };
    assert.deepEqual(parseRequest(JSON.stringify(del)), { ok: true, request: del });
    const show = { v: 1, id: 7, cmd: 'acl-show' };
    assert.deepEqual(parseRequest(JSON.stringify(show)), { ok: true, request: show });
    const bare = { v: 1, id: 5, cmd: 'acl-add', action: 'allow' };
    expectProto(JSON.stringify({ ...bare, priority: 65536 }), /priority 65536 out of range 0-65535/, 5);
    expectProto(JSON.stringify({ ...bare, type: 0x5ff }), /ethertype 0x05ff out of range/, 5);
    expectProto(JSON.stringify({ ...bare, vlan: 4095 }), /VLAN ID 4095 out of range/, 5);
    expectProto(JSON.stringify({ ...bare, src: '02:00:00:00:00:01/8' }), /MAC mask is not a MAC/, 5);
    expectProto(JSON.stringify({ ...bare, dst: 'nope' }), /not a MAC address/, 5);
    expectProto(JSON.stringify({ ...bare, action: 'reject' }), /field 'action'/, 5);
  });

  it('accepts a request given as UTF-8 bytes', () => {
    const r = parseRequest(Buffer.from('{"v":1,"id":9,"cmd":"show"}'));
    assert.equal(r.ok, true);
  });

  it('refuses bad JSON with EPROTO', () => {
    expectProto('{"v":1,"id":1,"cmd":"show"', /not valid JSON/);
    expectProto('', /not valid JSON/);
    expectProto('hello', /not valid JSON/);
  });

  it('refuses JSON that is not an object', () => {
    expectProto('[1,2]', /not a JSON object/);
    expectProto('42', /not a JSON object/);
    expectProto('null', /not a JSON object/);
  });

  it('refuses bytes that are not UTF-8', () => {
    expectProto(Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x0a]), /not valid UTF-8/);
  });

  it('refuses an unknown command, keeping the request id', () => {
    expectProto('{"v":1,"id":5,"cmd":"reboot"}', /unknown command "reboot"/, 5);
    expectProto('{"v":1,"id":5,"cmd":7}', /unknown command 7/, 5);
  });

  it('refuses a missing command', () => {
    expectProto('{"v":1,"id":5}', /missing field 'cmd'/, 5);
  });

  it('refuses a wrong or missing protocol version', () => {
    expectProto('{"v":2,"id":4,"cmd":"show"}', /unsupported protocol version 2/, 4);
    expectProto('{"v":"1","id":4,"cmd":"show"}', /unsupported protocol version "1"/, 4);
    expectProto('{"id":4,"cmd":"show"}', /missing field 'v'/, 4);
  });

  it('refuses a missing or invalid id', () => {
    expectProto('{"v":1,"cmd":"show"}', /id/);
    expectProto('{"v":1,"id":-1,"cmd":"show"}', /id/);
    expectProto('{"v":1,"id":1.5,"cmd":"show"}', /id/);
    expectProto('{"v":1,"id":"1","cmd":"show"}', /id/);
  });

  it('refuses unknown fields', () => {
    expectProto('{"v":1,"id":2,"cmd":"show","force":true}', /unknown field 'force'/, 2);
    expectProto('{"v":1,"id":2,"cmd":"add","ifname":"eth0","port":3}', /unknown field 'port'/, 2);
    // show takes no interface name
    expectProto('{"v":1,"id":2,"cmd":"show","ifname":"eth0"}', /unknown field 'ifname'/, 2);
  });

  it('refuses add and delete without an interface name', () => {
    expectProto('{"v":1,"id":2,"cmd":"add"}', /missing field 'ifname'/, 2);
    expectProto('{"v":1,"id":2,"cmd":"delete","ifname":3}', /ifname/, 2);
  });

  it('refuses interface names Linux would refuse', () => {
    const bad = ['', '.', '..', 'a/b', 'a b', 'a\tb', 'a\nb', 'a:1', 'abcdefghijklmnop', 'ééééééééé', 'a\u0000b'];
    for (const ifname of bad) {
      expectProto(JSON.stringify({ v: 1, id: 8, cmd: 'add', ifname }), /invalid interface name/, 8);
      assert.notEqual(ifnameProblem(ifname), null, JSON.stringify(ifname));
    }
  });

  it('accepts interface names of 1 to 15 bytes', () => {
    for (const ifname of ['a', 'veth1-vsw', 'abcdefghijklmno', 'eth0.100', 'br-lan_2', '-x']) {
      assert.equal(ifnameProblem(ifname), null, ifname);
      assert.equal(parseRequest(JSON.stringify({ v: 1, id: 1, cmd: 'delete', ifname })).ok, true, ifname);
    }
  });

  it('refuses a request line longer than 64 KiB', () => {
    const line = JSON.stringify({ v: 1, id: 1, cmd: 'show', pad: 'x'.repeat(MAX_LINE_BYTES) });
    expectProto(line, /too long/);
  });
});

describe('control protocol: replies', () => {
  it('encodes a success and an error reply as one JSON line each', () => {
    assert.equal(encodeReply(okReply(3, { ports: ['a'] })), '{"v":1,"id":3,"ok":true,"result":{"ports":["a"]}}\n');
    assert.equal(encodeReply(okReply(4, undefined)), '{"v":1,"id":4,"ok":true,"result":null}\n');
    assert.equal(
      encodeReply(errorReply(5, 'ENODEV', 'no such interface: x')),
      '{"v":1,"id":5,"ok":false,"error":{"code":"ENODEV","message":"no such interface: x"}}\n',
    );
  });

  it('parses replies and refuses malformed ones', () => {
    const good = parseReply('{"v":1,"id":3,"ok":false,"error":{"code":"EEXIST","message":"m"}}');
    assert.equal(good.ok, true);
    assert.equal(parseReply('{"v":1,"id":3}').ok, false);
    assert.equal(parseReply('nope').ok, false);
    assert.equal(parseReply('{"v":2,"id":3,"ok":true,"result":null}').ok, false);
  });
});

describe('control protocol: line splitting', () => {
  it('reassembles lines split across chunks and strips CR', () => {
    const s = new LineSplitter(100);
    assert.deepEqual(s.push(Buffer.from('{"a"')), []);
    const evs = s.push(Buffer.from(':1}\r\n{"b":2}\n{"c"'));
    assert.deepEqual(
      evs.map((e) => (e.kind === 'line' ? e.line.toString() : e.kind)),
      ['{"a":1}', '{"b":2}'],
    );
    assert.equal(s.rest()?.toString(), '{"c"');
    assert.equal(s.rest(), null);
  });

  it('reports an overflow once for a line longer than the limit, then nothing more', () => {
    const s = new LineSplitter(10);
    assert.deepEqual(s.push(Buffer.from('12345')), []);
    assert.deepEqual(s.push(Buffer.from('678901\n')), [{ kind: 'overflow' }]);
    assert.deepEqual(s.push(Buffer.from('ok\n')), []);
    assert.equal(s.rest(), null);
  });

  it('accepts a line of exactly the limit', () => {
    const s = new LineSplitter(10);
    const evs = s.push(Buffer.from('0123456789\n'));
    assert.equal(evs.length, 1);
    assert.equal(evs[0]!.kind, 'line');
  });
});
