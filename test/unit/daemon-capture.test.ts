// The daemon's captures (src/daemon/capture.ts) over a fake datapath: the
// datapath's flags are the union of the running captures and nothing once
// the last ends; each capture gets the frames it asked for as part lines, at
// most -c of them; one ends when its port goes; a client that does not read
// loses frames (counted), it does not hold the others up; over the real
// control server, a capture ended with frames still unread by a slow client
// delivers them all, then its last line, before the connection closes.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseReply } from '../../src/control/protocol.js';
import { type CaptureRequest, PROTOCOL_VERSION } from '../../src/control/requests.js';
import { ControlServer } from '../../src/control/server.js';
import { ReplyStream } from '../../src/control/stream.js';
import { VswError } from '../../src/errors.js';
import { CAPTURE_DROPS, CAPTURE_IN, CAPTURE_KIND_DROP, CAPTURE_KIND_IN, CAPTURE_KIND_OUT, CaptureWriter, newCaptureBuffer } from '../../src/datapath/capture-ring.js';
import type { Datapath } from '../../src/datapath/datapath.js';
import { Captures, STALLED_MS } from '../../src/daemon/capture.js';
import { FakeDatapath } from '../helpers/fake-datapath.js';

class Names {
  names: (string | undefined)[] = ['p0', 'p1', 'p2'];
  slot(ifname: string): number {
    const k = this.names.indexOf(ifname);
    if (k < 0) throw new VswError('ENOTATTACHED', `${ifname} is not a port of the switch`);
    return k;
  }
}

function setup(clock: () => number = Date.now): { dp: FakeDatapath; names: Names; caps: Captures; w: CaptureWriter } {
  const dp = new FakeDatapath();
  const names = new Names();
  const caps = new Captures(dp, { slot: (n) => names.slot(n), names: () => names.names.slice() }, () => {}, clock);
  return { dp, names, caps, w: new CaptureWriter(dp.captureBuffer) };
}

const FRAME = new Uint8Array(60).fill(0xab);

/**
 * A capture's client over a fake connection (the stream the control server
 * would make): the lines written to it; not `reading`, it takes none of them
 * (all stay unsent). close() is the client closing its side.
 */
class Client {
  readonly lines: string[] = [];
  readonly ended: Promise<void>;
  private unsent = 0;
  private readonly ctl = new AbortController();

  constructor(caps: Captures, req: CaptureRequest, reading = true) {
    let done = (): void => undefined;
    this.ended = new Promise((resolve) => (done = resolve));
    const out = {
      write: (text: string): boolean => {
        this.lines.push(text);
        if (!reading) this.unsent += Buffer.byteLength(text);
        return true;
      },
      writableLength: 0,
      destroy: (): void => this.ctl.abort(),
    };
    Object.defineProperty(out, 'writableLength', { get: () => this.unsent });
    caps.open(req).open(new ReplyStream(req.id, 'test', out, this.ctl.signal, done));
  }

  close(): void {
    this.ctl.abort();
  }

  /** Its parts until the stream ends, then the last line's result as { end }. */
  async parts(): Promise<Array<Record<string, unknown>>> {
    await this.ended;
    return this.lines.map((l) => {
      const r = parseReply(l.trimEnd());
      assert.ok(r.ok && r.reply.ok);
      return (r.reply.part ?? { end: r.reply.result }) as Record<string, unknown>;
    });
  }
}

async function until(cond: () => boolean): Promise<void> {
  for (let k = 0; k < 500 && !cond(); k++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond());
}

describe('daemon captures', () => {
  it('the flags are the union of the captures, and nothing once the last ends', async () => {
    const { dp, caps } = setup();
    const c1 = new Client(caps, { id: 1, ifname: 'p1', what: 'in' });
    const c2 = new Client(caps, { id: 2, what: 'drops' });
    await until(() => JSON.stringify(dp.captureFlags) === JSON.stringify([[0, CAPTURE_DROPS], [1, CAPTURE_IN | CAPTURE_DROPS], [2, CAPTURE_DROPS]]));
    c1.close();
    assert.deepEqual((await c1.parts()).at(-1), { end: { frames: 0, lost: 0, end: 'client' } });
    await until(() => JSON.stringify(dp.captureFlags) === JSON.stringify([[0, CAPTURE_DROPS], [1, CAPTURE_DROPS], [2, CAPTURE_DROPS]]));
    c2.close();
    await c2.parts();
    await until(() => dp.captureFlags.length === 0);
  });

  it('each capture gets the frames it asked for, at most its count, with port, direction, reason and rule', async () => {
    const { caps, w } = setup();
    const ins = new Client(caps, { id: 1, ifname: 'p1', what: 'in', count: 2 }).parts();
    const drops = new Client(caps, { id: 2, what: 'drops', ifname: 'p2', count: 1 }).parts();
    w.frame(1, CAPTURE_KIND_OUT, 0, -1, 1, FRAME, 0, 60, -1); // not asked for
    w.frame(1, CAPTURE_KIND_IN, 0, -1, 2, FRAME, 0, 60, -1);
    w.frame(0, CAPTURE_KIND_DROP, 1, -1, 3, FRAME, 0, 60, -1); // another port's drop
    w.frame(2, CAPTURE_KIND_DROP, 11, 7, 4, FRAME, 0, 60, -1);
    w.frame(1, CAPTURE_KIND_IN, 0, -1, 5, FRAME, 0, 60, -1);
    w.frame(1, CAPTURE_KIND_IN, 0, -1, 6, FRAME, 0, 60, -1); // past the count
    w.publish();
    const got = await ins;
    assert.deepEqual(got.map((p) => (p['frame'] as { time: number } | undefined)?.time ?? p['end']), [2, 5, { frames: 2, lost: 0, end: 'count' }]);
    const d = await drops;
    assert.deepEqual(d[0], { frame: { time: 4, ifname: 'p2', dir: 'drop', reason: 'acl-drop', rule: 7, len: 60, data: Buffer.from(FRAME).toString('base64') } });
    assert.deepEqual(d[1], { end: { frames: 1, lost: 0, end: 'count' } });
  });

  it('a capture ends when its port goes; an unknown port is refused', async () => {
    const { caps, names } = setup();
    const r = new Client(caps, { id: 1, ifname: 'p0', what: 'both' }).parts();
    names.names[0] = undefined;
    assert.deepEqual((await r).at(-1), { end: { frames: 0, lost: 0, end: 'port-gone' } });
    assert.throws(() => caps.open({ id: 2, ifname: 'nope', what: 'in' }), /nope is not a port/);
  });

  it('a client that does not read loses frames beyond its queue, counted', async () => {
    const { caps, w } = setup();
    const client = new Client(caps, { id: 1, ifname: 'p1', what: 'in' }, false);
    for (let batch = 0; batch < 10; batch++) {
      for (let k = 0; k < 500; k++) w.frame(1, CAPTURE_KIND_IN, 0, -1, k, FRAME, 0, 60, -1);
      w.publish();
      await new Promise((r) => setTimeout(r, 40));
    }
    client.close();
    const e = (await client.parts()).at(-1)!['end'] as { frames: number; lost: number };
    assert.ok(e.lost > 0, 'frames lost');
    assert.equal(e.frames + e.lost, 5000, 'every frame sent or counted');
  });

  it('a client that reads nothing for STALLED_MS with its queue full is dropped and its capture ended: the datapath copies nothing more for it', async () => {
    let now = 1_000_000;
    const { caps, w, dp } = setup(() => now);
    let dropped = false;
    const client = new Client(caps, { id: 1, ifname: 'p1', what: 'in' }, false);
    client.ended.then(() => (dropped = true), () => undefined);
    await until(() => dp.captureFlags.some(([p, f]) => p === 1 && f === CAPTURE_IN));
    for (let batch = 0; batch < 10; batch++) {
      for (let k = 0; k < 420; k++) w.frame(1, CAPTURE_KIND_IN, 0, -1, k, FRAME, 0, 60, -1);
      w.publish();
      await new Promise((r) => setTimeout(r, 40)); // the ring's room: read by the ticks
    }
    await new Promise((r) => setTimeout(r, 60)); // ticks: the queue full, since now
    now += STALLED_MS - 1;
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(dropped, false, 'dropped before STALLED_MS');
    now += 2;
    await until(() => dropped);
    const e = (await client.parts()).at(-1)!['end'] as { frames: number; lost: number; end: string };
    assert.equal(e.end, 'client');
    assert.equal(e.frames + e.lost, 4200);
    await until(() => dp.captureFlags.length === 0);
  });

  it('over the control socket: a capture ended with frames its slow client has not read yet delivers them all, then its last line, before the connection closes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vsw-cap-'));
    const path = join(dir, 'vswitchd.sock');
    const buf = newCaptureBuffer(8 << 20);
    const logs: string[] = [];
    const log = (m: string): void => void logs.push(m);
    const dp = { captureBuffer: buf, setCapture: async () => undefined } as unknown as Datapath;
    const caps = new Captures(dp, { slot: () => 0, names: () => ['p0'] }, log);
    // No linger after our side is closed: before the fix the connection was cut right after end(), its unsent tail lost.
    const server = new ControlServer({
      path,
      log,
      lingerMs: 0,
      handler: async (req) => {
        assert.equal(req.cmd, 'capture');
        const { v: _v, cmd: _cmd, ...capture } = req as Extract<typeof req, { cmd: 'capture' }>;
        return caps.open(capture);
      },
    });
    await server.start();
    const sock = net.createConnection({ path });
    try {
      // 2,000 frames of 1,500 bytes: about 4 MB of lines, far more than the socket buffers hold.
      const n = 2000;
      const w = new CaptureWriter(buf);
      const big = new Uint8Array(1500).fill(0xcd);
      for (let k = 0; k < n; k++) w.frame(0, CAPTURE_KIND_DROP, 1, -1, k, big, 0, big.length, -1);
      w.publish();
      await new Promise((r) => sock.once('connect', r));
      sock.pause(); // reads nothing until the capture has ended
      sock.write(`${JSON.stringify({ v: PROTOCOL_VERSION, id: 1, cmd: 'capture', what: 'drops', count: n })}\n`);
      await until(() => logs.some((l) => /capture of drops ended \(count\)/.test(l)));
      await new Promise((r) => setTimeout(r, 100)); // the slow client: well past the server's end and its linger of 0 ms
      let text = '';
      sock.setEncoding('utf8');
      sock.on('data', (t: string) => (text += t));
      const closed = new Promise((r) => sock.once('close', r));
      sock.on('error', () => undefined);
      sock.resume();
      await closed;
      const lines = text.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, n + 1, `every frame and the last line (got ${lines.length})`);
      const last = parseReply(lines.at(-1)!);
      assert.ok(last.ok && last.reply.ok);
      assert.deepEqual(last.reply.result, { frames: n, lost: 0, end: 'count' });
      assert.ok(logs.every((l) => !/dropped/.test(l)), logs.join('\n'));
    } finally {
      sock.destroy();
      caps.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
