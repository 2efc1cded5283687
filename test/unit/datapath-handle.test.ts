// The main thread's handle on the datapath (src/datapath/handle.ts), driven
// with a stand-in worker: what a request that times out tells its caller.

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { WorkerDatapath } from '../../src/datapath/handle.js';
import { DatapathTimeoutError } from '../../src/errors.js';

describe('datapath handle: a request not answered in time', () => {
  let worker: EventEmitter;
  let inbox: MessagePort;
  let ctl: MessagePort;
  let eventFd: number;
  let dp: WorkerDatapath;

  beforeEach(() => {
    worker = new EventEmitter();
    ({ port1: ctl, port2: inbox } = new MessageChannel());
    eventFd = openSync('/dev/null', 'w'); // stands in for the worker's eventfd
    dp = new WorkerDatapath(worker as unknown as Worker, ctl, eventFd, 10);
  });
  afterEach(() => {
    ctl.close();
    inbox.close();
    closeSync(eventFd);
  });

  /** The timeout error of a request the stand-in worker does not answer, and the request's id. */
  async function timedOut(request: Promise<void>): Promise<{ err: DatapathTimeoutError; id: number }> {
    const err = await request.then(
      () => assert.fail('the request should time out'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof DatapathTimeoutError, `not a DatapathTimeoutError: ${String(err)}`);
    assert.equal(err.code, 'ETIMEDOUT');
    const id = (receiveMessageOnPort(inbox)?.message as { id: number }).id;
    return { err, id };
  }

  it("rejects with ETIMEDOUT, and a late success settles the error's `late` to true", async () => {
    const { err, id } = await timedOut(dp.addPort(0, 'veth1', 7));
    assert.equal(err.op, 'add');
    worker.emit('message', { id, ok: true });
    assert.equal(await err.late, true);
  });

  it('a late error settles `late` to false', async () => {
    const { err, id } = await timedOut(dp.removePort(3));
    worker.emit('message', { id, ok: false, code: 'ENOTATTACHED', message: 'port slot 3 is not attached' });
    assert.equal(await err.late, false);
  });

  it('the worker exiting before it answers settles `late` to false', async () => {
    const { err } = await timedOut(dp.addPort(0, 'veth1', 7));
    worker.emit('exit', 1);
    assert.equal(await err.late, false);
  });

  it('a query that times out leaves no entry behind (a wedged worker asked stats 100 times keeps nothing), and its late answer is dropped', async () => {
    for (let k = 0; k < 100; k++) {
      const err = await dp.stats().then(
        () => assert.fail('the request should time out'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof DatapathTimeoutError);
      assert.equal(await err.late, false, 'a query is not followed');
    }
    assert.deepEqual(dp.outstanding, { pending: 0, following: 0 });
    const id = (receiveMessageOnPort(inbox)?.message as { id: number }).id;
    worker.emit('message', { id, ok: true, result: {} }); // late: ignored
    assert.deepEqual(dp.outstanding, { pending: 0, following: 0 });
  });

  it('a change that times out leaves its pending entry; only its follow-up stays, until its late answer', async () => {
    const { err, id } = await timedOut(dp.setVlan(1, { mode: 'access', tag: 10, trunks: null } as never));
    assert.deepEqual(dp.outstanding, { pending: 0, following: 1 });
    worker.emit('message', { id, ok: true });
    assert.equal(await err.late, true);
    assert.deepEqual(dp.outstanding, { pending: 0, following: 0 });
  });
});

describe('datapath thread: the memory request', () => {
  /** threadMemory() as a worker thread answers it, after keeping `objects` small objects alive. */
  const inWorker = (objects: number): Promise<{ heapUsed: number; heapTotal: number; external: number }> =>
    new Promise((resolve, reject) => {
      const thread = new URL('../../src/datapath/thread.js', import.meta.url).href;
      const w = new Worker(
        `const { parentPort } = require('node:worker_threads');
         import(${JSON.stringify(thread)}).then((m) => {
           globalThis.kept = Array.from({ length: ${objects} }, (_, i) => ({ i, s: 'x' + i }));
           parentPort.postMessage(m.threadMemory());
         });`,
        { eval: true },
      );
      w.once('message', (m) => void w.terminate().then(() => resolve(m)));
      w.once('error', reject);
    });

  it("answers with that thread's own heap: 300,000 objects kept there show in it, not in the other thread's", async () => {
    const [idle, busy] = [await inWorker(0), await inWorker(300_000)];
    for (const m of [idle, busy]) assert.ok(m.heapUsed > 0 && m.heapUsed <= m.heapTotal && m.external >= 0, JSON.stringify(m));
    assert.ok(busy.heapUsed - idle.heapUsed > 15e6, `kept objects: ${idle.heapUsed} → ${busy.heapUsed} bytes`);
  });
});
