// The control server's deadlines, with short timeouts injected: a request line
// must be complete within requestTimeoutMs of its first byte, and a connection
// with nothing to do is closed after idleTimeoutMs, however long it was busy
// before.

import assert from 'node:assert/strict';
import net from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { startTestSwitch, type TestSwitch } from '../helpers/fake-datapath.js';

interface Conn {
  sock: net.Socket;
  /** Reply lines received so far, parsed. */
  replies: unknown[];
  /** Resolves when the server closes the connection. */
  closed: Promise<void>;
  isClosed(): boolean;
}

function connect(path: string): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ path });
    const replies: unknown[] = [];
    let buf = '';
    let isClosed = false;
    const closed = new Promise<void>((r) =>
      sock.on('close', () => {
        isClosed = true;
        r();
      }),
    );
    sock.setEncoding('utf8');
    sock.on('data', (s: string) => {
      buf += s;
      for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
        replies.push(JSON.parse(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
      }
    });
    sock.on('error', () => undefined); // EPIPE / ECONNRESET once the server has hung up
    sock.once('connect', () => resolve({ sock, replies, closed, isClosed: () => isClosed }));
    sock.once('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves true when `p` settles within `ms`, false otherwise. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  const answer = await Promise.race([p.then(() => true), late]);
  clearTimeout(timer);
  return answer;
}

describe('control server deadlines', () => {
  let t: TestSwitch | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('a client trickling a request a byte at a time is cut off at the request deadline, with an EPROTO reply', async () => {
    t = await startTestSwitch({ requestTimeoutMs: 300, idleTimeoutMs: 300 });
    const c = await connect(t.path);
    // Each byte comes well within the idle timeout; the line never ends.
    const line = '{"v":1,"id":1,"cmd":"show"' + ' '.repeat(200);
    for (let i = 0; i < line.length && !c.isClosed(); i++) {
      c.sock.write(line[i]!);
      await sleep(30);
    }
    assert.ok(c.isClosed(), 'the server must close a connection whose line never ends');
    assert.deepEqual(c.replies, [
      { v: 1, id: null, ok: false, error: { code: 'EPROTO', message: 'request line not complete within 0.3 s' } },
    ]);
    assert.ok(t.logs.every((l) => !/unexpectedly/.test(l)), t.logs.join('\n'));
  });

  it('each request line gets its own deadline: a slow but steady client is served past it', async () => {
    t = await startTestSwitch({ requestTimeoutMs: 400, idleTimeoutMs: 400 });
    const c = await connect(t.path);
    // Five requests, each sent in three pieces over ~150 ms: 750 ms in all, each line within 400 ms.
    for (let id = 1; id <= 5; id++) {
      const req = JSON.stringify({ v: 1, id, cmd: 'show' }) + '\n';
      const third = Math.ceil(req.length / 3);
      for (let k = 0; k < 3; k++) {
        c.sock.write(req.slice(k * third, (k + 1) * third));
        await sleep(50);
      }
    }
    await sleep(50);
    assert.equal(c.isClosed(), false);
    assert.deepEqual(
      c.replies.map((r) => (r as { id: number }).id),
      [1, 2, 3, 4, 5],
    );
    c.sock.destroy();
  });

  it('a connection that sends nothing is closed after the idle timeout', async () => {
    t = await startTestSwitch({ idleTimeoutMs: 200 });
    const c = await connect(t.path);
    assert.ok(await within(c.closed, 5000), 'an idle connection must be closed');
    assert.deepEqual(c.replies, []);
  });

  it('a connection kept busy past the idle timeout is still closed once it is idle', async () => {
    t = await startTestSwitch({ idleTimeoutMs: 200 });
    await t.sysfs.add('veth1-vsw', { ifindex: 101 });
    let release!: () => void;
    t.datapath.addGate = new Promise((r) => (release = r));
    const c = await connect(t.path);
    c.sock.write('{"v":1,"id":1,"cmd":"add","ifname":"veth1-vsw"}\n');
    // The request outlasts the idle timeout several times: the connection is busy, not idle.
    await sleep(700);
    assert.equal(c.isClosed(), false, 'a connection waiting for its reply is not idle');
    release();
    assert.ok(await within(c.closed, 5000), 'once answered and silent, the connection must be closed');
    assert.deepEqual(c.replies, [{ v: 1, id: 1, ok: true, result: null }]);
  });
});
