// The control server and the port registry, over a real Unix socket in a temp
// dir, with the FakeDatapath and a fake sysfs (no root needed).

import assert from 'node:assert/strict';
import { lstat, mkdir, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { request } from '../../src/control/client.js';
import { MAX_LINE_BYTES } from '../../src/control/protocol.js';
import { ControlServer, switchHandler } from '../../src/control/server.js';
import { VswError } from '../../src/errors.js';
import { ask, exchange, startTestSwitch, type TestSwitch } from '../helpers/fake-datapath.js';

const ok = (result: unknown = null, id = 1) => ({ v: 1, id, ok: true, result });
const err = (code: string, message: string, id: number | null = 1) => ({ v: 1, id, ok: false, error: { code, message } });

async function addVeths(t: TestSwitch, n: number): Promise<void> {
  for (let i = 1; i <= n; i++) await t.sysfs.add(`veth${i}-vsw`, { ifindex: 100 + i });
}

describe('control server and port registry', () => {
  let t: TestSwitch;
  beforeEach(async () => {
    t = await startTestSwitch({ maxPorts: 3 });
    await addVeths(t, 4);
  });
  afterEach(async () => t.close());

  it('add, delete and show: show lists ports in the order they were added', async () => {
    assert.deepEqual(await ask(t.path, { cmd: 'add', ifname: 'veth2-vsw' }), ok());
    assert.deepEqual(await ask(t.path, { cmd: 'add', ifname: 'veth1-vsw' }), ok());
    assert.deepEqual(await ask(t.path, { cmd: 'add', ifname: 'veth3-vsw' }), ok());
    assert.deepEqual(await ask(t.path, { cmd: 'show' }), ok({ datapath: 'user', ports: ['veth2-vsw', 'veth1-vsw', 'veth3-vsw'] }));
    assert.deepEqual(await ask(t.path, { cmd: 'delete', ifname: 'veth1-vsw' }), ok());
    assert.deepEqual(await ask(t.path, { cmd: 'show' }), ok({ datapath: 'user', ports: ['veth2-vsw', 'veth3-vsw'] }));
    assert.deepEqual(t.datapath.calls, [
      { op: 'addPort', port: 0, ifname: 'veth2-vsw', ifindex: 102 },
      { op: 'addPort', port: 1, ifname: 'veth1-vsw', ifindex: 101 },
      { op: 'addPort', port: 2, ifname: 'veth3-vsw', ifindex: 103 },
      { op: 'removePort', port: 1 },
    ]);
    assert.ok(t.logs.includes('port veth2-vsw added'));
    assert.ok(t.logs.includes('port veth1-vsw deleted'));
  });

  it('add takes the lowest free port index', async () => {
    await ask(t.path, { cmd: 'add', ifname: 'veth1-vsw' });
    await ask(t.path, { cmd: 'add', ifname: 'veth2-vsw' });
    await ask(t.path, { cmd: 'delete', ifname: 'veth1-vsw' });
    await ask(t.path, { cmd: 'add', ifname: 'veth3-vsw' });
    assert.deepEqual(t.sw.list(), [
      { index: 1, ifname: 'veth2-vsw', ifindex: 102 },
      { index: 0, ifname: 'veth3-vsw', ifindex: 103 },
    ]);
  });

  it('adding a port twice fails with EEXIST and changes nothing', async () => {
    await ask(t.path, { cmd: 'add', ifname: 'veth1-vsw' });
    assert.deepEqual(
      await ask(t.path, { cmd: 'add', ifname: 'veth1-vsw' }),
      err('EEXIST', 'veth1-vsw is already a port of the switch'),
    );
    assert.equal(t.datapath.calls.filter((c) => c.op === 'addPort').length, 1);
    assert.deepEqual(t.sw.show(), ['veth1-vsw']);
  });

  it('adding beyond the port limit fails with EPORTLIMIT and does not touch the datapath', async () => {
    for (const i of [1, 2, 3]) assert.deepEqual(await ask(t.path, { cmd: 'add', ifname: `veth${i}-vsw` }), ok());
    assert.deepEqual(
      await ask(t.path, { cmd: 'add', ifname: 'veth4-vsw' }),
      err('EPORTLIMIT', 'the switch already has 3 ports (the limit)'),
    );
    assert.equal(t.datapath.calls.length, 3);
    assert.deepEqual(t.sw.show(), ['veth1-vsw', 'veth2-vsw', 'veth3-vsw']);
  });

  it('deleting an interface that is not a port fails with ENOTATTACHED', async () => {
    assert.deepEqual(
      await ask(t.path, { cmd: 'delete', ifname: 'veth1-vsw' }),
      err('ENOTATTACHED', 'veth1-vsw is not a port of the switch'),
    );
    assert.deepEqual(t.datapath.calls, []);
  });

  it('adding an interface that does not exist fails with ENODEV', async () => {
    assert.deepEqual(await ask(t.path, { cmd: 'add', ifname: 'nope0' }), err('ENODEV', 'no such interface: nope0'));
    assert.deepEqual(t.datapath.calls, []);
  });

  it('adding a non-Ethernet interface fails with ENOTETHER', async () => {
    await t.sysfs.add('gre0', { ifindex: 7, type: 778 });
    assert.deepEqual(
      await ask(t.path, { cmd: 'add', ifname: 'gre0' }),
      err('ENOTETHER', 'gre0 is not an Ethernet interface'),
    );
    assert.deepEqual(t.datapath.calls, []);
  });

  it('adding the loopback interface fails with ENOTETHER', async () => {
    await t.sysfs.add('lo', { ifindex: 1, type: 772, flags: 0x9 });
    await t.sysfs.add('lo2', { ifindex: 2, type: 1, flags: 0x9 }); // Ethernet type but IFF_LOOPBACK
    assert.deepEqual(await ask(t.path, { cmd: 'add', ifname: 'lo' }), err('ENOTETHER', 'lo is a loopback interface, not Ethernet'));
    assert.deepEqual(await ask(t.path, { cmd: 'add', ifname: 'lo2' }), err('ENOTETHER', 'lo2 is a loopback interface, not Ethernet'));
    assert.deepEqual(t.datapath.calls, []);
  });

  it('a failed datapath add leaves nothing registered', async () => {
    t.datapath.failNextAdd = new VswError('ESYSCALL', 'bind (veth1-vsw): ENETDOWN');
    assert.deepEqual(await ask(t.path, { cmd: 'add', ifname: 'veth1-vsw' }), err('ESYSCALL', 'bind (veth1-vsw): ENETDOWN'));
    assert.deepEqual(await ask(t.path, { cmd: 'show' }), ok({ datapath: 'user', ports: [] }));
    // The index is free again and the name can be added.
    assert.deepEqual(await ask(t.path, { cmd: 'add', ifname: 'veth1-vsw' }), ok());
    assert.deepEqual(t.sw.list(), [{ index: 0, ifname: 'veth1-vsw', ifindex: 101 }]);
  });

  it("a 'gone' event removes the port, logs it, and the re-created interface can be added again", async () => {
    await ask(t.path, { cmd: 'add', ifname: 'veth1-vsw' });
    await ask(t.path, { cmd: 'add', ifname: 'veth2-vsw' });
    t.datapath.interfaceDeleted(0);
    await t.sysfs.remove('veth1-vsw');
    assert.deepEqual(await ask(t.path, { cmd: 'show' }), ok({ datapath: 'user', ports: ['veth2-vsw'] }));
    assert.ok(t.logs.includes('port veth1-vsw removed: interface deleted'), t.logs.join('\n'));
    assert.deepEqual(
      await ask(t.path, { cmd: 'delete', ifname: 'veth1-vsw' }),
      err('ENOTATTACHED', 'veth1-vsw is not a port of the switch'),
    );
    await t.sysfs.add('veth1-vsw', { ifindex: 200 });
    assert.deepEqual(await ask(t.path, { cmd: 'add', ifname: 'veth1-vsw' }), ok());
    assert.deepEqual(t.sw.list(), [
      { index: 1, ifname: 'veth2-vsw', ifindex: 102 },
      { index: 0, ifname: 'veth1-vsw', ifindex: 200 },
    ]);
  });

  it("'link' and 'log' events are logged with the port name", async () => {
    await ask(t.path, { cmd: 'add', ifname: 'veth1-vsw' });
    t.datapath.linkChanged(0, false, 1500);
    t.datapath.linkChanged(0, true, 9000);
    t.datapath.emit('log', { event: 'log', message: 'ring of port 0 overflowed' });
    t.datapath.emit('log', 'plain string message');
    assert.ok(t.logs.includes('port veth1-vsw link down (mtu 1500)'));
    assert.ok(t.logs.includes('port veth1-vsw link up (mtu 9000)'));
    assert.ok(t.logs.includes('ring of port 0 overflowed'));
    assert.ok(t.logs.includes('plain string message'));
  });

  it('fdb and stats name ports by interface', async () => {
    await ask(t.path, { cmd: 'add', ifname: 'veth1-vsw' });
    await ask(t.path, { cmd: 'add', ifname: 'veth2-vsw' });
    t.datapath.fdbRows = [
      { mac: '02:00:00:00:00:01', port: 0, ageSeconds: 3 },
      { mac: '02:00:00:00:00:02', port: 1, ageSeconds: 0, vlan: 20 },
    ];
    t.datapath.statsValue = {
      ports: [
        { port: 1, up: true, mtu: 1500, rxFrames: 5, rxBytes: 500, txFrames: 6, txBytes: 600, rxRingDrops: 0 },
        { port: 0, up: false, mtu: 9000, rxFrames: 1, rxBytes: 100, txFrames: 2, txBytes: 200, rxRingDrops: 7 },
      ],
      drops: { runt: 1 },
      fdb: { entries: 2, learned: 2, moved: 0, expired: 0, evicted: 0, flushed: 0, refused: 0, suppressed: 0 },
      capturePorts: 1,
    };
    const fdb = await exchange(t.path, '{"v":1,"id":1,"cmd":"fdb"}\n', { expectReplies: 2 });
    assert.deepEqual(fdb.replies, [
      {
        v: 1,
        id: 1,
        ok: true,
        part: {
          entries: [
            { mac: '02:00:00:00:00:01', vlan: 0, port: 'veth1-vsw', ageSeconds: 3 },
            { mac: '02:00:00:00:00:02', vlan: 20, port: 'veth2-vsw', ageSeconds: 0 },
          ],
        },
      },
      ok({ count: 2 }),
    ]);
    assert.deepEqual(
      await ask(t.path, { cmd: 'stats' }),
      ok({
        ports: [
          { port: 'veth1-vsw', up: false, mtu: 9000, rxFrames: 1, rxBytes: 100, txFrames: 2, txBytes: 200, rxRingDrops: 7 },
          { port: 'veth2-vsw', up: true, mtu: 1500, rxFrames: 5, rxBytes: 500, txFrames: 6, txBytes: 600, rxRingDrops: 0 },
        ],
        drops: { runt: 1 },
        fdb: { entries: 2, learned: 2, moved: 0, expired: 0, evicted: 0, flushed: 0, refused: 0, suppressed: 0 },
        captures: { ports: 1 },
      }),
    );
  });

  it('answers several requests on one connection in order', async () => {
    const lines = [
      { v: 1, id: 10, cmd: 'add', ifname: 'veth1-vsw' },
      { v: 1, id: 11, cmd: 'add', ifname: 'nope0' },
      { v: 1, id: 12, cmd: 'show' },
    ]
      .map((r) => `${JSON.stringify(r)}\n`)
      .join('');
    const r = await exchange(t.path, lines, { expectReplies: 3 });
    assert.deepEqual(r.replies, [ok(null, 10), err('ENODEV', 'no such interface: nope0', 11), ok({ datapath: 'user', ports: ['veth1-vsw'] }, 12)]);
  });

  it('answers hundreds of pipelined requests on one connection, all in order', async () => {
    const n = 300;
    let lines = '';
    for (let id = 0; id < n; id++) lines += `${JSON.stringify({ v: 1, id, cmd: 'show' })}\n`;
    const r = await exchange(t.path, lines, { expectReplies: n, timeoutMs: 10_000 });
    assert.equal(r.replies.length, n);
    assert.deepEqual(
      r.replies.map((x) => (x as { id: number }).id),
      Array.from({ length: n }, (_, i) => i),
    );
  });

  it('answers a last request that has no newline once the client half-closes', async () => {
    const r = await exchange(t.path, '{"v":1,"id":4,"cmd":"show"}', { end: true });
    assert.deepEqual(r.replies, [ok({ datapath: 'user', ports: [] }, 4)]);
    assert.equal(r.closed, true);
  });

  it('handles requests one at a time across connections', async () => {
    let release!: () => void;
    t.datapath.addGate = new Promise((r) => (release = r));
    const first = ask(t.path, { cmd: 'add', ifname: 'veth1-vsw' });
    const second = ask(t.path, { cmd: 'add', ifname: 'veth2-vsw' });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(t.datapath.calls.length, 1, 'the second add must wait for the first');
    release();
    assert.deepEqual(await first, ok());
    assert.deepEqual(await second, ok());
    assert.deepEqual(t.sw.show(), ['veth1-vsw', 'veth2-vsw']);
  });

  it('garbage bytes get an EPROTO reply and the connection is closed; the server keeps serving', async () => {
    const garbage = Buffer.from([0x00, 0xff, 0xfe, 0x13, 0x37, 0x0a, 0x7b, 0x0a]);
    const r = await exchange(t.path, garbage);
    assert.equal(r.closed, true);
    assert.equal(r.replies.length, 1);
    assert.deepEqual(r.replies[0], err('EPROTO', 'request is not valid UTF-8', null));
    const r2 = await exchange(t.path, 'this is not json\n{"v":1,"id":2,"cmd":"show"}\n');
    assert.deepEqual(r2.replies, [err('EPROTO', 'request is not valid JSON', null)], 'nothing after the bad line is answered');
    assert.equal(r2.closed, true);
    assert.deepEqual(await ask(t.path, { cmd: 'show' }), ok({ datapath: 'user', ports: [] }));
  });

  it('an unknown command or field gets an EPROTO reply with its id and the connection is closed', async () => {
    const r = await exchange(t.path, '{"v":1,"id":7,"cmd":"reboot"}\n');
    assert.deepEqual(r.replies, [err('EPROTO', 'unknown command "reboot"', 7)]);
    assert.equal(r.closed, true);
    const r2 = await exchange(t.path, '{"v":9,"id":8,"cmd":"show"}\n');
    assert.equal((r2.replies[0] as { error: { code: string } }).error.code, 'EPROTO');
    assert.equal(r2.closed, true);
  });

  it('an oversized line gets an EPROTO reply and the connection is closed; the server keeps serving', async () => {
    const huge = Buffer.alloc(MAX_LINE_BYTES * 4, 0x61); // 256 KiB, no newline
    const r = await exchange(t.path, huge, { timeoutMs: 5000 });
    assert.equal(r.closed, true);
    assert.deepEqual(r.replies, [err('EPROTO', `request line too long (more than ${MAX_LINE_BYTES} bytes)`, null)]);
    assert.deepEqual(await ask(t.path, { cmd: 'show' }), ok({ datapath: 'user', ports: [] }));
  });

  it('a client that disconnects mid-request does not disturb the server', async () => {
    await new Promise<void>((resolve) => {
      const s = net.createConnection({ path: t.path }, () => {
        s.write('{"v":1,"id":1,"cmd":"add","ifn');
        s.destroy();
        resolve();
      });
    });
    const s2 = net.createConnection({ path: t.path });
    await new Promise((r) => s2.on('connect', r));
    s2.write('{"v":1,"id":1,"cmd":"add","ifname":"veth1-vsw"}\n');
    s2.destroy(); // gone before the reply
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual((await ask(t.path, { cmd: 'show' })).ok, true);
  });

  it('the client library maps error replies to VswError codes', async () => {
    await request(t.path, { cmd: 'add', ifname: 'veth1-vsw' });
    assert.deepEqual(await request(t.path, { cmd: 'show' }), { datapath: 'user', ports: ['veth1-vsw'] });
    await assert.rejects(request(t.path, { cmd: 'add', ifname: 'veth1-vsw' }), (e: unknown) => {
      return e instanceof VswError && e.code === 'EEXIST' && e.message === 'veth1-vsw is already a port of the switch';
    });
  });

  it('the socket is created mode 0600', async () => {
    const st = await lstat(t.path);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
  });
});

describe('control server start-up and shutdown', () => {
  it('refuses to start while another server answers on the path', async () => {
    const t = await startTestSwitch();
    try {
      const other = new ControlServer({ path: t.path, handler: async () => null, log: () => {} });
      await assert.rejects(other.start(), (e: unknown) => {
        return e instanceof VswError && e.message === `another vswitchd is already running on ${t.path}`;
      });
      // The running one is untouched.
      assert.deepEqual(await ask(t.path, { cmd: 'show' }), ok({ datapath: 'user', ports: [] }));
    } finally {
      await t.close();
    }
  });

  it('removes a stale socket file and starts', async () => {
    const t = await startTestSwitch();
    const dir = join(t.dir, 'stale');
    await mkdir(dir);
    const path = join(dir, 'sock');
    // Leave a socket file nobody listens on: a daemon killed with SIGKILL.
    const child = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`,
    ]);
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', () => reject(new Error('listener exited early')));
    });
    child.removeAllListeners('exit');
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    assert.ok((await lstat(path)).isSocket(), 'a stale socket file is left behind');
    const server = new ControlServer({ path, handler: switchHandler(t.sw), log: () => {} });
    try {
      await server.start();
      assert.deepEqual(await ask(path, { cmd: 'show' }), ok({ datapath: 'user', ports: [] }));
    } finally {
      await server.close();
      await t.close();
    }
  });

  it('refuses to replace a file that is not a socket', async () => {
    const t = await startTestSwitch();
    const path = join(t.dir, 'regular-file');
    await writeFile(path, 'precious');
    const server = new ControlServer({ path, handler: async () => null, log: () => {} });
    try {
      await assert.rejects(server.start(), /exists and is not a socket/);
    } finally {
      await t.close();
    }
  });

  it('close() stops accepting and removes the socket file', async () => {
    const t = await startTestSwitch();
    await t.server.close();
    await assert.rejects(lstat(t.path), /ENOENT/);
    await assert.rejects(request(t.path, { cmd: 'show' }), (e: unknown) => e instanceof VswError && e.code === 'ENOTRUNNING');
    await t.close();
  });
});
