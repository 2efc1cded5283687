// The per-interface claim that keeps two vswitchd off one interface
// (src/daemon/port-lock.ts).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PortLocks } from '../../src/daemon/port-lock.js';
import { InUseError } from '../../src/errors.js';

describe('port locks', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vsw-locks-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('a claimed interface is refused to another claimant, naming the holder; free again once released', () => {
    const first = new PortLocks({ dir, owner: { pid: 4242, socket: '/run/a.sock' } });
    const second = new PortLocks({ dir, owner: { pid: 4343, socket: '/run/b.sock' } });
    const lock = first.claim('veth1', 7);
    assert.throws(
      () => second.claim('veth1', 7),
      (e: unknown) =>
        e instanceof InUseError &&
        e.code === 'EBUSY' &&
        e.message === 'veth1 is a port of another vswitchd (pid 4242, control socket /run/a.sock)',
    );
    second.claim('veth2', 8).release(); // another interface is free
    lock.release();
    lock.release(); // twice is harmless
    assert.deepEqual(readdirSync(dir), [], 'a released lock leaves no file');
    second.claim('veth1', 7).release();
  });

  it('heldByAnother: true while another claim holds the interface, false once released or never claimed', () => {
    const first = new PortLocks({ dir, owner: { pid: 4242, socket: '/run/a.sock' } });
    const second = new PortLocks({ dir, owner: { pid: 4343, socket: '/run/b.sock' } });
    const lock = first.claim('veth3', 13);
    assert.equal(second.heldByAnother(13), true);
    assert.equal(second.heldByAnother(14), false);
    lock.release();
    assert.equal(second.heldByAnother(13), false);
    second.claim('veth3', 13).release(); // asking took nothing
  });

  it('is released by the kernel when its holder dies by SIGKILL; sweep() then removes the file it left, and only that', async () => {
    const module = new URL('../../src/daemon/port-lock.js', import.meta.url).href;
    const child = spawn(process.execPath, [
      '--input-type=module',
      '-e',
      `import { PortLocks } from ${JSON.stringify(module)};
       new PortLocks({ dir: ${JSON.stringify(dir)}, owner: { pid: process.pid, socket: 'child' } }).claim('veth9', 9);
       console.log('held'); setInterval(() => {}, 1000);`,
    ]);
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.once('data', () => resolve());
        child.once('exit', () => reject(new Error('the child exited before claiming')));
      });
      child.removeAllListeners('exit');
      const locks = new PortLocks({ dir, owner: { pid: process.pid, socket: 'parent' } });
      assert.throws(() => locks.claim('veth9', 9), new RegExp(`pid ${child.pid}, control socket child`));
      assert.equal(locks.sweep(), 0, 'a held lock is not stale');
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      assert.ok(existsSync(dir) && readdirSync(dir).length === 1, 'the dead holder left its file');
      const held = locks.claim('veth9', 9);
      assert.equal(locks.sweep(), 0, 'a lock held by this process is not stale');
      held.release();
      const dead = spawn(process.execPath, ['--input-type=module', '-e', claimAndExit(module, dir)]);
      await new Promise((r) => dead.once('exit', r));
      assert.equal(readdirSync(dir).length, 1, 'the dead holder left its file');
      assert.equal(locks.sweep(), 1);
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});

/** A script that claims ifindex 9 and dies without releasing it (process.exit runs no cleanup). */
function claimAndExit(module: string, dir: string): string {
  return `import { PortLocks } from ${JSON.stringify(module)};
    new PortLocks({ dir: ${JSON.stringify(dir)}, owner: { pid: process.pid, socket: 'x' } }).claim('veth9', 9);
    process.exit(0);`;
}
