// vswitchd --web without root: the server's request handling (GET only: 405
// for any other method, 404 for an unknown path), the framing of server-sent
// events and one reading for every page, the trace request built from a query
// as the control protocol checks it, failures answered and never thrown, an
// address in use; the snapshot read over the fake datapath equals the control
// socket's answers; the events of `monitor` in a page's stream.

import assert from 'node:assert/strict';
import { get } from 'node:http';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { VswError } from '../../src/errors.js';
import { parseDaemonArgs, UsageError } from '../../src/daemon/args.js';
import type { Request } from '../../src/control/requests.js';
import type { TraceResult } from '../../src/control/results.js';
import { loadAssets, localHost, sseFrame, traceRequest, WebServer, webSnapshot, type WebSource } from '../../src/daemon/web.js';
import type { Tunnels } from '../../src/daemon/tunnels.js';
import { MonitorHub } from '../../src/control/monitor.js';
import type { WebSnapshot } from '../../src/web/snapshot.js';
import { ask, startTestSwitch, type TestSwitch } from '../helpers/fake-datapath.js';

function snapshot(over: Partial<WebSnapshot> = {}): WebSnapshot {
  return {
    time: 1_000,
    version: '0.1.0',
    datapath: 'user',
    stats: {
      ports: [{ port: 'veth1-vsw', up: true, mtu: 1500, rxFrames: 1, rxBytes: 60, txFrames: 2, txBytes: 120, rxRingDrops: 0 }],
      drops: { runt: 0 },
      fdb: { entries: 0, learned: 0, moved: 0, expired: 0, evicted: 0, flushed: 0, refused: 0, suppressed: 0 },
    },
    vlans: [{ ifname: 'veth1-vsw', mode: 'default', tag: 0, trunks: null }],
    fdb: { entries: [], count: 0 },
    acl: { rules: [] },
    mirrors: { mirrors: [] },
    tunnels: { tunnels: [], mtuWarnings: [] },
    ...over,
  };
}

const TRACE: TraceResult = {
  frame: { in: 'veth1-vsw', src: '02:00:00:00:00:01', dst: 'ff:ff:ff:ff:ff:ff', vlan: null, type: 0x0800 },
  ingress: { port: 'veth1-vsw', mode: 'default', mirrorOutput: false },
  validation: null,
  vlan: { vid: 0, why: 'untagged' },
  acl: { rule: null, action: 'allow', rules: 0 },
  learn: { kind: 'new' },
  lookup: { kind: 'group' },
  egress: [],
  mirrors: [],
  verdict: { action: 'forward', ports: [] },
};

describe('web: sseFrame and traceRequest', () => {
  it('--web [ADDR:]PORT: the loopback unless an address is given', () => {
    const web = (...argv: string[]) => {
      const c = parseDaemonArgs(argv);
      return c.kind === 'run' ? c.config.web : undefined;
    };
    assert.equal(web(), undefined);
    assert.deepEqual(web('--web', '8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(web('--web=0.0.0.0:80'), { host: '0.0.0.0', port: 80 });
    assert.deepEqual(web('--web', '[::1]:0'), { host: '::1', port: 0 });
    for (const bad of ['x', 'localhost:80', '70000', '::1:80']) assert.throws(() => web('--web', bad), UsageError, bad);
    assert.throws(() => web('--web'), UsageError);
  });

  it('frames an event: one data line per line, a blank line to end it', () => {
    assert.equal(sseFrame('snapshot', '{"a":1}'), 'event: snapshot\ndata: {"a":1}\n\n');
    assert.equal(sseFrame('x', 'a\nb\r\nc'), 'event: x\ndata: a\ndata: b\ndata: c\n\n');
  });

  it('builds the trace request vswconfig builds, checked by the protocol schema', () => {
    const q = (s: string): Request => traceRequest(new URLSearchParams(s));
    assert.deepEqual(q('in=veth1-vsw'), { v: 1, id: 0, cmd: 'trace', in: 'veth1-vsw' });
    assert.deepEqual(q('in=veth1-vsw&src=02:00:00:00:00:09&dst=&vlan=10&type=0x86dd'), {
      v: 1,
      id: 0,
      cmd: 'trace',
      in: 'veth1-vsw',
      src: '02:00:00:00:00:09',
      vlan: 10,
      type: 0x86dd,
    });
    for (const [s, why] of [
      ['', /missing 'in PORT'/],
      ['in=veth1-vsw&vlan=4095', /VLAN ID 4095/],
      ['in=veth1-vsw&vlan=x', /bad VLAN ID/],
      ['in=veth1-vsw&type=0x10', /ethertype/],
      ['in=veth1-vsw&src=zz', /MAC/i],
      ['in=a/b', /interface name/i],
    ] as const) {
      assert.throws(() => q(s), (e: unknown) => e instanceof VswError && e.code === 'EUSAGE' && why.test(e.message), s);
    }
  });
});

describe('web: the HTTP server', () => {
  let server: WebServer;
  let base: string;
  let takes = 0;
  let fail: Error | null = null;
  let traced: Request[] = [];
  const logs: string[] = [];
  const hub = new MonitorHub({ log: (m) => logs.push(m), clock: () => Date.UTC(2026, 11, 7), timer: false });
  const source: WebSource = {
    monitor: hub,
    take: async () => {
      takes++;
      if (fail !== null) throw fail;
      return snapshot({ time: takes });
    },
    trace: async (req) => {
      traced.push(req);
      if (req.cmd === 'trace' && req.in === 'nope') throw new VswError('ENOTATTACHED', 'nope is not a port of the switch');
      return TRACE;
    },
  };

  beforeEach(async () => {
    takes = 0;
    fail = null;
    traced = [];
    server = new WebServer((m) => logs.push(m), loadAssets(), 50);
    const at = await server.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${at.port}`;
    server.serve(source);
  });
  afterEach(() => server.close());

  it('serves the page and its assets, with a policy of its own origin only', async () => {
    for (const [path, type] of [
      ['/', 'text/html'],
      ['/index.html', 'text/html'],
      ['/style.css', 'text/css'],
      ['/web/app.js', 'text/javascript'],
      ['/cli/format-trace.js', 'text/javascript'],
      ['/cli/format-monitor.js', 'text/javascript'],
      ['/uPlot.iife.min.js', 'text/javascript'],
      ['/uPlot.min.css', 'text/css'],
    ] as const) {
      const r = await fetch(base + path);
      assert.equal(r.status, 200, path);
      assert.ok(r.headers.get('content-type')!.startsWith(type), path);
      assert.match(r.headers.get('content-security-policy') ?? '', /default-src 'self'/);
      assert.ok((await r.text()).length > 0);
    }
  });

  it('refuses every method but GET with 405 (Allow: GET), on every path; an unknown path is 404', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      for (const path of ['/', '/api/events', '/api/trace?in=veth1-vsw', '/api/snapshot', '/nope']) {
        const r = await fetch(base + path, { method, body: method === 'POST' || method === 'PUT' ? 'x'.repeat(100_000) : undefined });
        assert.equal(r.status, 405, `${method} ${path}`);
        assert.equal(r.headers.get('allow'), 'GET');
      }
    }
    assert.equal(traced.length, 0, 'no trace ran');
    for (const path of ['/nope', '/web/', '/../package.json', '/node_modules/uplot/package.json', '/api']) assert.equal((await fetch(base + path)).status, 404, path);
  });

  it('answers a trace: 200 with the result, 400 with the code and message of a bad request', async () => {
    let r = await fetch(`${base}/api/trace?in=veth1-vsw&dst=ff:ff:ff:ff:ff:ff&vlan=7`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), TRACE);
    assert.deepEqual(traced, [{ v: 1, id: 0, cmd: 'trace', in: 'veth1-vsw', dst: 'ff:ff:ff:ff:ff:ff', vlan: 7 }]);
    r = await fetch(`${base}/api/trace?in=veth1-vsw&vlan=0`);
    assert.equal(r.status, 400);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'EUSAGE');
    r = await fetch(`${base}/api/trace?in=nope`);
    assert.equal(r.status, 400);
    assert.deepEqual(await r.json(), { error: { code: 'ENOTATTACHED', message: 'nope is not a port of the switch' } });
    assert.equal(traced.length, 2, 'a request the schema refuses never reaches the switch');
  });

  /** Read `n` events of GET /api/events; resolves to them (name, parsed data) and the raw text. */
  function readEvents(n: number): Promise<{ events: Array<[string, unknown]>; raw: string }> {
    return new Promise((resolve, reject) => {
      const req = get(`${base}/api/events`, (res) => {
        assert.equal(res.statusCode, 200);
        assert.ok(res.headers['content-type']!.startsWith('text/event-stream'));
        let raw = '';
        res.setEncoding('utf8').on('data', (c: string) => {
          raw += c;
          const blocks = raw.split('\n\n').filter((b) => b.startsWith('event: '));
          if (blocks.length >= n && raw.endsWith('\n\n')) {
            req.destroy();
            const events = blocks.slice(0, n).map((b): [string, unknown] => {
              const [head, ...data] = b.split('\n');
              return [head!.slice('event: '.length), JSON.parse(data.map((l) => l.slice('data: '.length)).join('\n'))];
            });
            resolve({ events, raw });
          }
        });
      });
      req.on('error', reject);
    });
  }

  it('streams snapshots as server-sent events, one reading for every page, none once no page listens', async () => {
    const [a, b] = await Promise.all([readEvents(3), readEvents(3)]);
    assert.ok(a.raw.startsWith('retry: 1000\n\nevent: snapshot\ndata: {'), a.raw.slice(0, 60));
    for (const { events } of [a, b]) {
      for (const [name, data] of events) {
        assert.equal(name, 'snapshot');
        assert.equal((data as WebSnapshot).stats.ports[0]!.port, 'veth1-vsw');
      }
    }
    // Two pages, a reading each 50 ms: both saw the same readings, not one each.
    const times = (e: Array<[string, unknown]>): number[] => e.map(([, d]) => (d as WebSnapshot).time);
    assert.ok(takes <= Math.max(...times(a.events), ...times(b.events)) + 1, `${takes} readings`);
    await new Promise((r) => setTimeout(r, 50));
    const after = takes;
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(takes, after, 'no reading while no page listens');
  });

  it("a page's stream carries the events of monitor, and the page stops listening when it goes", async () => {
    const reading = readEvents(5);
    for (let i = 0; i < 100 && hub.counts().subscribers === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(hub.counts().subscribers, 1);
    hub.publish({ event: 'port-add', ifname: 'veth9-vsw' });
    const { events } = await reading;
    const monitor = events.filter(([name]) => name === 'monitor');
    assert.deepEqual(monitor, [['monitor', { time: '2026-12-07T00:00:00.000Z', event: 'port-add', ifname: 'veth9-vsw' }]]);
    for (let i = 0; i < 100 && hub.counts().subscribers !== 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(hub.counts().subscribers, 0);
  });

  it('a failed reading is a 503 and a failure event, logged, and the server carries on', async () => {
    fail = new Error('the datapath did not answer\nwithin 5 s');
    const r = await fetch(`${base}/api/snapshot`);
    assert.equal(r.status, 503);
    assert.equal(await r.text(), 'cannot read the switch: the datapath did not answer | within 5 s\n');
    const { events } = await readEvents(1);
    assert.deepEqual(events[0], ['failure', { message: 'the datapath did not answer | within 5 s' }]);
    assert.ok(logs.some((l) => l === 'web: snapshot failed: the datapath did not answer | within 5 s'));
    fail = null;
    assert.equal((await fetch(`${base}/api/snapshot`)).status, 200);
  });

  it('on the loopback, answers only a Host of this machine (no DNS rebinding)', async () => {
    for (const h of ['localhost', 'localhost:8080', '127.0.0.1:1', '[::1]:80', '10.0.0.1']) assert.equal(localHost(h), true, h);
    for (const h of [undefined, 'evil.example', 'evil.example:8080', 'localhost.evil.example']) assert.equal(localHost(h), false, h);
    const status = await new Promise<number>((resolve, reject) => {
      const req = get(`${base}/api/snapshot`, { headers: { host: `evil.example:${new URL(base).port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
    });
    assert.equal(status, 403);
    assert.equal((await fetch(`${base}/api/snapshot`)).status, 200);
  });

  it('a second server on the same address: one line naming it', async () => {
    const port = Number(new URL(base).port);
    const other = new WebServer(() => undefined, loadAssets());
    await assert.rejects(other.listen({ host: '127.0.0.1', port }), { message: `cannot serve the web page on 127.0.0.1:${port}: address already in use` });
    await other.close();
  });
});

describe('web: the snapshot over the fake datapath equals the control socket answers', () => {
  let t: TestSwitch;
  beforeEach(async () => {
    t = await startTestSwitch();
    for (const i of [1, 2]) await t.sysfs.add(`veth${i}-vsw`, { ifindex: 100 + i });
  });
  afterEach(async () => t.close());

  it('stats, vlan, fdb, acl show and mirror show, read in the control queue', async () => {
    for (const i of [1, 2]) assert.equal((await ask(t.path, { cmd: 'add', ifname: `veth${i}-vsw` })).ok, true);
    assert.equal((await ask(t.path, { cmd: 'vlan', ifname: 'veth2-vsw', mode: 'access', tag: 10 })).ok, true);
    assert.equal((await ask(t.path, { cmd: 'acl-add', src: '02:00:00:00:00:01', action: 'drop' })).ok, true);
    assert.equal((await ask(t.path, { cmd: 'mirror-add', name: 'span', output: 'veth2-vsw', selectIngress: ['veth1-vsw'] })).ok, true);
    const s = await t.server.exclusive(() => webSnapshot(t.sw, {} as Tunnels, '0.1.0'));
    assert.deepEqual(s.stats, (await ask(t.path, { cmd: 'stats' })).result);
    assert.deepEqual(s.vlans[1], (await ask(t.path, { cmd: 'vlan', ifname: 'veth2-vsw' })).result);
    assert.deepEqual(s.acl, (await ask(t.path, { cmd: 'acl-show' })).result);
    assert.deepEqual(s.mirrors, (await ask(t.path, { cmd: 'mirror-show' })).result);
    assert.deepEqual(s.tunnels, { tunnels: [], mtuWarnings: [] });
    assert.equal(s.fdb.count, s.fdb.entries.length);
    assert.equal(s.datapath, t.sw.datapathKind);
  });
});


