// The fdb listing of a big table, through the real control server and client
// over a Unix socket (the FakeDatapath holds the table): streamed as part
// lines that each fit the line limit, then the count.

import assert from 'node:assert/strict';
import net from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { request } from '../../src/control/client.js';
import { FDB_PART_ENTRIES, MAX_LINE_BYTES } from '../../src/control/protocol.js';
import { formatMac } from '../../src/core/mac.js';
import { type FdbRow, startTestSwitch, type TestSwitch } from '../helpers/fake-datapath.js';

/** `n` distinct locally administered MACs, spread over ports 0..ports-1. */
function rows(n: number, ports: number): FdbRow[] {
  return Array.from({ length: n }, (_, i) => ({ mac: formatMac(0x020000000000 + i), port: i % ports, ageSeconds: i % 300 }));
}

/** Send one request line and collect every reply line until the server sends a line with `result` (or closes). */
function rawLines(path: string, line: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ path });
    const lines: string[] = [];
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(line));
    sock.on('data', (s: string) => {
      buf += s;
      for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
        const l = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(l);
        if ('result' in (JSON.parse(l) as object)) {
          sock.destroy();
          resolve(lines);
          return;
        }
      }
    });
    sock.on('close', () => resolve(lines));
    sock.on('error', reject);
  });
}

describe('control server: fdb listing of a big table', { timeout: 30_000 }, () => {
  let t: TestSwitch | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('lists all 65,536 entries of a full default-size table, each on its port', async () => {
    t = await startTestSwitch({ maxPorts: 4 });
    for (let i = 1; i <= 4; i++) {
      await t.sysfs.add(`veth${i}-vsw`, { ifindex: 100 + i });
      await request(t.path, { cmd: 'add', ifname: `veth${i}-vsw` });
    }
    t.datapath.fdbRows = rows(65_536, 4);
    const { entries } = await request(t.path, { cmd: 'fdb' });
    assert.equal(entries.length, 65_536);
    assert.equal(new Set(entries.map((e) => e.mac)).size, 65_536, 'every MAC once');
    const expected = new Map(t.datapath.fdbRows.map((r) => [r.mac, `veth${r.port + 1}-vsw`]));
    for (const e of entries) assert.equal(e.port, expected.get(e.mac), e.mac);
  });

  it('every reply line stays within the line limit, even for names that JSON escapes throughout; the last line counts the entries', async () => {
    t = await startTestSwitch({ maxPorts: 1 });
    const worst = '"\\'.repeat(7) + '"'; // 15 bytes, each one escaped in JSON
    await t.sysfs.add(worst, { ifindex: 101 });
    await request(t.path, { cmd: 'add', ifname: worst });
    const n = 10 * FDB_PART_ENTRIES + 7;
    t.datapath.fdbRows = rows(n, 1).map((r) => ({ ...r, ageSeconds: 999_999 }));
    const lines = await rawLines(t.path, '{"v":1,"id":5,"cmd":"fdb"}\n');
    for (const l of lines) assert.ok(Buffer.byteLength(l) <= MAX_LINE_BYTES, `a line of ${Buffer.byteLength(l)} bytes`);
    const replies = lines.map((l) => JSON.parse(l) as { id: number; part?: { entries: unknown[] }; result?: unknown });
    assert.deepEqual(replies.at(-1), { v: 1, id: 5, ok: true, result: { count: n } });
    const parts = replies.slice(0, -1);
    assert.equal(parts.length, 11);
    assert.ok(parts.every((p) => p.id === 5 && p.part !== undefined && p.part.entries.length <= FDB_PART_ENTRIES));
    assert.equal(parts.reduce((sum, p) => sum + p.part!.entries.length, 0), n);
  });

  it('an empty table is one line with count 0', async () => {
    t = await startTestSwitch();
    assert.deepEqual(await rawLines(t.path, '{"v":1,"id":2,"cmd":"fdb"}\n'), ['{"v":1,"id":2,"ok":true,"result":{"count":0}}']);
    assert.deepEqual(await request(t.path, { cmd: 'fdb' }), { entries: [] });
  });

  it('a client that does not read its listing holds up nobody else, and is dropped once it has left it unread for the idle timeout', async () => {
    t = await startTestSwitch({ maxPorts: 1, idleTimeoutMs: 500 });
    await t.sysfs.add('veth1-vsw', { ifindex: 101 });
    await request(t.path, { cmd: 'add', ifname: 'veth1-vsw' });
    t.datapath.fdbRows = rows(65_536, 1);
    const reader = net.createConnection({ path: t.path });
    reader.on('error', () => undefined);
    await new Promise((r) => reader.once('connect', r));
    reader.pause(); // reads nothing: the listing backs up in the socket
    reader.write('{"v":1,"id":1,"cmd":"fdb"}\n');
    assert.deepEqual(await request(t.path, { cmd: 'show' }), { datapath: 'user', ports: ['veth1-vsw'] });
    const dropped = 'control connection dropped: the client does not read its replies';
    while (!t.logs.includes(dropped)) await new Promise((r) => setTimeout(r, 50));
    // Reading again, the client finds the connection gone before the end of the listing.
    const closed = new Promise<void>((r) => reader.on('close', () => r()));
    let data = '';
    reader.setEncoding('utf8');
    reader.on('data', (s: string) => (data += s));
    reader.resume();
    await closed;
    assert.doesNotMatch(data, /"result"/);
  });
});
