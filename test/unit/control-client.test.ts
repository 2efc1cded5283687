// The control client against servers that misbehave.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from '../../src/control/client.js';
import { VswError } from '../../src/errors.js';

/** A server on a temp socket that answers each connection with `behave`. */
async function fakeServer(dir: string, name: string, behave: (sock: net.Socket) => void): Promise<{ path: string; close(): Promise<void> }> {
  const path = join(dir, name);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
    sock.resume();
    behave(sock);
  });
  await new Promise<void>((r) => server.listen(path, r));
  return {
    path,
    close: () =>
      new Promise<void>((r) => {
        for (const sock of sockets) sock.destroy();
        server.close(() => r());
      }),
  };
}

const isVsw = (code: string, message: RegExp) => (e: unknown) => e instanceof VswError && e.code === code && message.test(e.message);

describe('control client', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vsw-client-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('gives up after the timeout when the daemon does not answer', async () => {
    const s = await fakeServer(dir, 'silent.sock', () => {});
    try {
      await assert.rejects(request(s.path, { cmd: 'show' }, { timeoutMs: 200 }), isVsw('ESYSCALL', /no reply from vswitchd on .* within 0.2 s/));
    } finally {
      await s.close();
    }
  });

  it('refuses an fdb listing whose count disagrees with the entries received', async () => {
    const entry = { mac: '02:00:00:00:00:01', port: 'veth1-vsw', ageSeconds: 1 };
    const s = await fakeServer(dir, 'miscount.sock', (sock) => {
      sock.write(`${JSON.stringify({ v: 1, id: 1, ok: true, part: { entries: [entry] } })}\n`);
      sock.write(`${JSON.stringify({ v: 1, id: 1, ok: true, result: { count: 2 } })}\n`);
    });
    try {
      await assert.rejects(request(s.path, { cmd: 'fdb' }), isVsw('EPROTO', /^bad reply from vswitchd: 1 fdb entries received, 2 announced$/));
    } finally {
      await s.close();
    }
  });

  it('refuses a part line in the reply to a command that does not stream', async () => {
    const s = await fakeServer(dir, 'part.sock', (sock) => {
      sock.write(`${JSON.stringify({ v: 1, id: 1, ok: true, part: { ports: ['a'] } })}\n`);
    });
    try {
      await assert.rejects(request(s.path, { cmd: 'show' }), isVsw('EPROTO', /unexpected part for 'show'/));
    } finally {
      await s.close();
    }
  });

  it('reports a daemon that closes without replying', async () => {
    const s = await fakeServer(dir, 'closer.sock', (sock) => sock.end());
    try {
      await assert.rejects(request(s.path, { cmd: 'show' }), isVsw('EPROTO', /closed the connection without replying/));
    } finally {
      await s.close();
    }
  });

  it('refuses a reply that is not the protocol', async () => {
    const s = await fakeServer(dir, 'garbage.sock', (sock) => sock.end('HTTP/1.1 400 Bad Request\n'));
    try {
      await assert.rejects(request(s.path, { cmd: 'show' }), isVsw('EPROTO', /bad reply from vswitchd/));
    } finally {
      await s.close();
    }
  });

  it('refuses a result of the wrong shape for the command', async () => {
    const s = await fakeServer(dir, 'shape.sock', (sock) => sock.end('{"v":1,"id":1,"ok":true,"result":{"ports":[1,2]}}\n'));
    try {
      await assert.rejects(request(s.path, { cmd: 'show' }), isVsw('EPROTO', /unexpected result for 'show'/));
    } finally {
      await s.close();
    }
  });

  it('keeps the message of an error code it does not know', async () => {
    const s = await fakeServer(dir, 'future.sock', (sock) =>
      sock.end('{"v":1,"id":1,"ok":false,"error":{"code":"EFUTURE","message":"something new"}}\n'),
    );
    try {
      await assert.rejects(request(s.path, { cmd: 'show' }), isVsw('EINTERNAL', /^something new$/));
    } finally {
      await s.close();
    }
  });

  it('says not running when nothing listens on an existing socket file', async () => {
    // A stale socket file, as a daemon killed with SIGKILL leaves behind.
    const path = join(dir, 'stale.sock');
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`]);
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    await assert.rejects(request(path, { cmd: 'show' }), isVsw('ENOTRUNNING', /^vswitchd is not running \(nothing listening on .*stale\.sock\)$/));
  });

  it('says not running when there is no socket file', async () => {
    const path = join(dir, 'absent.sock');
    await assert.rejects(request(path, { cmd: 'show' }), isVsw('ENOTRUNNING', /^vswitchd is not running \(no socket at .*absent\.sock\)$/));
  });
});
