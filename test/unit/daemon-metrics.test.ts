// vswitchd --metrics (src/daemon/metrics.ts) without root: the mapping of a
// snapshot to Prometheus series, a scrape equal to the control socket's
// `stats`, `acl show` and `mirror show` over the FakeDatapath, and the HTTP
// server (GET /metrics only, 404/405/503, bad requests, an address in use).

import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import net from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { parseDaemonArgs, parseListenAddress, UsageError } from '../../src/daemon/args.js';
import { type MetricsSnapshot, MetricsServer, SwitchMetrics, switchSnapshot } from '../../src/daemon/metrics.js';
import { ask, startTestSwitch, type TestSwitch } from '../helpers/fake-datapath.js';

const INFO = { version: '9.9.9', datapath: 'user', attach: 'tcx', fdbSize: 4096 } as const;

/** `name{labels}` → value, for every sample line of an exposition. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+?(?:\{.*\})?) (\S+)$/.exec(line);
    assert.ok(m, `a sample line: ${line}`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

function snapshot(over: Partial<MetricsSnapshot> = {}): MetricsSnapshot {
  return {
    stats: {
      ports: [
        { port: 'veth1-vsw', up: true, mtu: 1500, rxFrames: 10, rxBytes: 1000, txFrames: 20, txBytes: 2000, rxRingDrops: 1 },
        { port: 'vx1', up: false, mtu: 1450, rxFrames: 3, rxBytes: 300, txFrames: 4, txBytes: 400, rxRingDrops: 0 },
      ],
      drops: { runt: 0, 'link-local': 5, 'acl-drop': 7 },
      fdb: { entries: 12, learned: 30, moved: 2, expired: 15, evicted: 1, flushed: 2, refused: 9, suppressed: 4 },
      monitor: { subscribers: 2, dropped: 1, suppressed: 345 },
    },
    acl: [
      { id: 3, hits: 70 },
      { id: 1, hits: 0 },
    ],
    mirrors: [{ name: 'span', copies: 44 }],
    tunnels: ['vx1'],
    process: { rss: 90_000_000, cpuSeconds: 12.5, heapUsed: 20_000_000, heapTotal: 30_000_000, external: 4_000_000, datapath: { heapUsed: 3_000_000, heapTotal: 5_000_000, external: 600_000 } },
    ...over,
  };
}

describe('metrics: the mapping of a snapshot', () => {
  it('every figure of the snapshot under its conventional name and labels, with the info gauge and the FDB size', async () => {
    const m = new SwitchMetrics(INFO);
    const s = samples(await m.text(snapshot()));
    assert.deepEqual(
      [...s].sort(([a], [b]) => (a < b ? -1 : 1)),
      [
        ['nodejs_external_memory_bytes', 4_000_000],
        ['nodejs_heap_size_total_bytes', 30_000_000],
        ['nodejs_heap_size_used_bytes', 20_000_000],
        ['process_cpu_seconds_total', 12.5],
        ['process_resident_memory_bytes', 90_000_000],
        ['vswitch_acl_rule_hits_total{rule="1"}', 0],
        ['vswitch_acl_rule_hits_total{rule="3"}', 70],
        ['vswitch_datapath_external_memory_bytes', 600_000],
        ['vswitch_datapath_heap_size_bytes', 5_000_000],
        ['vswitch_datapath_heap_used_bytes', 3_000_000],
        ['vswitch_drops_total{reason="acl-drop"}', 7],
        ['vswitch_drops_total{reason="link-local"}', 5],
        ['vswitch_drops_total{reason="runt"}', 0],
        ['vswitch_fdb_aged_total', 15],
        ['vswitch_fdb_entries', 12],
        ['vswitch_fdb_entries_limit', 4096],
        ['vswitch_fdb_evicted_total', 1],
        ['vswitch_fdb_flushed_total', 2],
        ['vswitch_fdb_learned_total', 30],
        ['vswitch_fdb_moved_total', 2],
        ['vswitch_fdb_refused_total', 9],
        ['vswitch_fdb_suppressed_total', 4],
        ['vswitch_info{version="9.9.9",datapath="user",attach="tcx"}', 1],
        ['vswitch_mirror_copies_total{mirror="span"}', 44],
        ['vswitch_monitor_dropped_total', 1],
        ['vswitch_monitor_suppressed_events_total', 345],
        ['vswitch_monitors', 2],
        ['vswitch_port_mtu_bytes{port="veth1-vsw"}', 1500],
        ['vswitch_port_mtu_bytes{port="vx1"}', 1450],
        ['vswitch_port_receive_bytes_total{port="veth1-vsw"}', 1000],
        ['vswitch_port_receive_bytes_total{port="vx1"}', 300],
        ['vswitch_port_receive_frames_total{port="veth1-vsw"}', 10],
        ['vswitch_port_receive_frames_total{port="vx1"}', 3],
        ['vswitch_port_receive_ring_drops_total{port="veth1-vsw"}', 1],
        ['vswitch_port_receive_ring_drops_total{port="vx1"}', 0],
        ['vswitch_port_transmit_bytes_total{port="veth1-vsw"}', 2000],
        ['vswitch_port_transmit_bytes_total{port="vx1"}', 400],
        ['vswitch_port_transmit_frames_total{port="veth1-vsw"}', 20],
        ['vswitch_port_transmit_frames_total{port="vx1"}', 4],
        ['vswitch_port_up{port="veth1-vsw"}', 1],
        ['vswitch_port_up{port="vx1"}', 0],
        ['vswitch_tunnel_receive_frames_total{tunnel="vx1"}', 3],
        ['vswitch_tunnel_transmit_frames_total{tunnel="vx1"}', 4],
      ],
    );
  });

  it('each family has HELP and TYPE, counters end in _total, gauges do not', async () => {
    const text = await new SwitchMetrics(INFO).text(snapshot());
    const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
    const helps = new Set([...text.matchAll(/^# HELP (\S+) \S/gm)].map((m) => m[1]!));
    assert.equal(types.size, 33);
    for (const [name, type] of types) {
      assert.ok(helps.has(name), `${name} has HELP`);
      assert.equal(name.endsWith('_total'), type === 'counter', `${name} is a ${type}`);
    }
  });

  it('a port, rule, mirror or tunnel gone from the snapshot leaves no series behind', async () => {
    const m = new SwitchMetrics(INFO);
    await m.text(snapshot());
    const s = samples(
      await m.text(snapshot({ stats: { ...snapshot().stats, ports: snapshot().stats.ports.slice(0, 1) }, acl: [], mirrors: [], tunnels: [] })),
    );
    assert.equal([...s.keys()].filter((k) => /vx1|rule=|mirror=|tunnel=/.test(k)).length, 0);
    assert.equal(s.get('vswitch_port_receive_frames_total{port="veth1-vsw"}'), 10);
  });

  it('a tunnel whose port is not in the stats has no series (nothing is made up)', async () => {
    const s = samples(await new SwitchMetrics(INFO).text(snapshot({ tunnels: ['vx1', 'vx9'] })));
    assert.equal(s.get('vswitch_tunnel_receive_frames_total{tunnel="vx1"}'), 3);
    assert.ok(![...s.keys()].some((k) => k.includes('vx9')));
  });

  it('label values are escaped (an interface name may hold a quote or a backslash)', async () => {
    const ports = [{ ...snapshot().stats.ports[0]!, port: 'a"b\\c' }];
    const text = await new SwitchMetrics(INFO).text(snapshot({ stats: { ...snapshot().stats, ports }, tunnels: [] }));
    assert.match(text, /^vswitch_port_up\{port="a\\"b\\\\c"\} 1$/m);
  });

  it('two scrapes at once each show their own snapshot', async () => {
    const m = new SwitchMetrics(INFO);
    const a = snapshot();
    const b = snapshot({ stats: { ...a.stats, fdb: { ...a.stats.fdb, entries: 99 } } });
    const [ta, tb] = await Promise.all([m.text(a), m.text(b)]);
    assert.equal(samples(ta).get('vswitch_fdb_entries'), 12);
    assert.equal(samples(tb).get('vswitch_fdb_entries'), 99);
  });
});

describe('metrics: a scrape equals stats, acl show and mirror show (control server over the fake datapath)', () => {
  let t: TestSwitch;
  beforeEach(async () => {
    t = await startTestSwitch();
    for (const i of [1, 2, 3]) await t.sysfs.add(`veth${i}-vsw`, { ifindex: 100 + i });
    await t.sysfs.add('vx1', { ifindex: 110 });
  });
  afterEach(async () => t.close());

  it('the same figures, read through the control server queue', async () => {
    for (const i of [1, 2, 3]) assert.equal((await ask(t.path, { cmd: 'add', ifname: `veth${i}-vsw` })).ok, true);
    await t.sw.add('vx1', { tunnel: { vni: 1000, remotes: ['10.0.0.2'], local: null, dstport: 4789, vlan: null, underlay: 'eth0' } });
    assert.equal((await ask(t.path, { cmd: 'acl-add', src: '02:00:00:00:00:01', action: 'drop' })).ok, true);
    assert.equal((await ask(t.path, { cmd: 'acl-add', priority: 40000, action: 'allow' })).ok, true);
    assert.equal((await ask(t.path, { cmd: 'mirror-add', name: 'span', output: 'veth3-vsw', selectIngress: ['veth1-vsw'] })).ok, true);
    t.datapath.statsValue = {
      ports: [0, 1, 2, 3].map((port) => ({ port, up: port !== 2, mtu: 1500 - port, rxFrames: 10 + port, rxBytes: 1000 + port, txFrames: 20 + port, txBytes: 2000 + port, rxRingDrops: port })),
      drops: { runt: 1, 'link-local': 2, 'acl-drop': 3 },
      fdb: { entries: 5, learned: 6, moved: 7, expired: 8, evicted: 9, flushed: 10, refused: 11, suppressed: 12 },
    };
    t.datapath.aclHitsValue = [17, 4];
    t.datapath.mirrorCopiesValue = [23];

    const m = new SwitchMetrics(INFO);
    const s = samples(await m.text(await t.server.exclusive(() => switchSnapshot(t.sw))));
    const stats = (await ask(t.path, { cmd: 'stats' })).result as {
      ports: Array<Record<string, number | boolean | string>>;
      drops: Record<string, number>;
      fdb: Record<string, number>;
    };
    assert.equal(stats.ports.length, 4);
    for (const p of stats.ports) {
      const at = `{port="${p.port}"}`;
      assert.equal(s.get(`vswitch_port_receive_frames_total${at}`), p.rxFrames);
      assert.equal(s.get(`vswitch_port_receive_bytes_total${at}`), p.rxBytes);
      assert.equal(s.get(`vswitch_port_transmit_frames_total${at}`), p.txFrames);
      assert.equal(s.get(`vswitch_port_transmit_bytes_total${at}`), p.txBytes);
      assert.equal(s.get(`vswitch_port_receive_ring_drops_total${at}`), p.rxRingDrops);
      assert.equal(s.get(`vswitch_port_mtu_bytes${at}`), p.mtu);
      assert.equal(s.get(`vswitch_port_up${at}`), p.up ? 1 : 0);
    }
    for (const [reason, n] of Object.entries(stats.drops)) assert.equal(s.get(`vswitch_drops_total{reason="${reason}"}`), n);
    const f = stats.fdb;
    assert.equal(s.get('vswitch_fdb_entries'), f.entries);
    for (const [k, name] of [['learned', 'learned'], ['moved', 'moved'], ['expired', 'aged'], ['evicted', 'evicted'], ['flushed', 'flushed'], ['refused', 'refused'], ['suppressed', 'suppressed']]) {
      assert.equal(s.get(`vswitch_fdb_${name}_total`), f[k!], k);
    }
    const acl = (await ask(t.path, { cmd: 'acl-show' })).result as { rules: Array<{ id: number; hits: number }> };
    assert.equal(acl.rules.length, 2);
    for (const r of acl.rules) assert.equal(s.get(`vswitch_acl_rule_hits_total{rule="${r.id}"}`), r.hits);
    const mirrors = (await ask(t.path, { cmd: 'mirror-show' })).result as { mirrors: Array<{ name: string; copies: number }> };
    assert.equal(s.get('vswitch_mirror_copies_total{mirror="span"}'), mirrors.mirrors[0]!.copies);
    assert.equal(s.get('vswitch_tunnel_receive_frames_total{tunnel="vx1"}'), 13);
    assert.equal(s.get('vswitch_tunnel_transmit_frames_total{tunnel="vx1"}'), 23);
    // The datapath thread's heap as it answers, the process's own as Node reads it.
    assert.equal(s.get('vswitch_datapath_heap_used_bytes'), t.datapath.memoryValue.heapUsed);
    assert.equal(s.get('vswitch_datapath_heap_size_bytes'), t.datapath.memoryValue.heapTotal);
    assert.equal(s.get('vswitch_datapath_external_memory_bytes'), t.datapath.memoryValue.external);
    const rss = s.get('process_resident_memory_bytes')!;
    assert.ok(rss > 10e6 && rss <= process.memoryUsage().rss * 2, `RSS ${rss}`);
    assert.ok(s.get('nodejs_heap_size_used_bytes')! > 0 && s.get('nodejs_heap_size_used_bytes')! <= s.get('nodejs_heap_size_total_bytes')!);
    assert.ok(s.get('process_cpu_seconds_total')! > 0);
    // One reading of each: the figures come from one snapshot, not a count of their own.
    const reads = t.datapath.calls.filter((c) => c.op === 'stats' || c.op === 'aclHits' || c.op === 'mirrorCopies' || c.op === 'memory').map((c) => c.op);
    assert.deepEqual(reads.slice(0, 4), ['stats', 'aclHits', 'mirrorCopies', 'memory']);
  });

  it('a scrape waits for the command under way: it sees the switch between two commands', async () => {
    await t.sysfs.add('veth4-vsw', { ifindex: 104 });
    let open!: () => void;
    t.datapath.addGate = new Promise((r) => (open = r));
    const adding = ask(t.path, { cmd: 'add', ifname: 'veth4-vsw' });
    // The add is in the queue once the datapath has been asked.
    while (!t.datapath.calls.some((c) => c.op === 'addPort')) await new Promise((r) => setTimeout(r, 5));
    t.datapath.statsValue.ports = [{ port: 0, up: true, mtu: 1500, rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, rxRingDrops: 0 }];
    let taken: MetricsSnapshot | null = null;
    const scrape = t.server.exclusive(() => switchSnapshot(t.sw)).then((s) => (taken = s));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(taken, null, 'no snapshot while the add is under way');
    open();
    await adding;
    await scrape;
    assert.deepEqual(taken!.stats.ports.map((p) => p.port), ['veth4-vsw']);
  });
});

/** One HTTP request to the metrics server; resolves to status, headers and body. */
function get(port: number, path = '/metrics', method = 'GET'): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Raw bytes to the server; resolves to what it answered before closing. */
function raw(port: number, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ host: '127.0.0.1', port }, () => sock.write(data));
    let out = '';
    sock.setEncoding('utf8').on('data', (c: string) => (out += c));
    sock.on('close', () => resolve(out));
    sock.on('error', reject);
    sock.setTimeout(5000, () => sock.destroy(new Error('no answer within 5 s')));
  });
}

describe('metrics: the HTTP server', () => {
  let server: MetricsServer;
  let port: number;
  let logs: string[];
  beforeEach(async () => {
    logs = [];
    server = new MetricsServer((m) => logs.push(m));
    ({ port } = await server.listen({ host: '127.0.0.1', port: 0 }));
  });
  afterEach(async () => server.close());

  it('503 until it is told what to serve, then GET /metrics in the text format (a query string is ignored)', async () => {
    assert.equal((await get(port)).status, 503);
    server.serve(new SwitchMetrics(INFO), async () => snapshot());
    const r = await get(port);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(samples(r.body).get('vswitch_fdb_entries'), 12);
    assert.equal((await get(port, '/metrics?name[]=x')).status, 200);
  });

  it('only GET /metrics: another method is 405 (Allow: GET), another path 404, garbage 400; it still serves afterwards', async () => {
    server.serve(new SwitchMetrics(INFO), async () => snapshot());
    for (const method of ['POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH']) {
      const r = await get(port, '/metrics', method);
      assert.equal(r.status, 405, method);
      assert.equal(r.headers['allow'], 'GET');
    }
    for (const path of ['/', '/metrics/', '/metricsx', '/favicon.ico', '/../metrics']) assert.equal((await get(port, path)).status, 404, path);
    assert.match(await raw(port, 'NOT HTTP AT ALL\r\n\r\n'), /^HTTP\/1\.1 400 /);
    assert.match(await raw(port, `GET /metrics HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(20000)}\r\n\r\n`), /^HTTP\/1\.1 431 /);
    assert.equal((await get(port)).status, 200);
  });

  it('a snapshot that fails is a 503 with its reason, logged, and the next scrape is served', async () => {
    let fail = true;
    server.serve(new SwitchMetrics(INFO), async () => {
      if (fail) throw new Error('the datapath did not answer');
      return snapshot();
    });
    const r = await get(port);
    assert.equal(r.status, 503);
    assert.match(r.body, /the datapath did not answer/);
    assert.ok(logs.some((l) => l.includes('scrape failed: the datapath did not answer')));
    fail = false;
    assert.equal((await get(port)).status, 200);
  });

  it('an address in use is refused with one line naming it', async () => {
    const other = new MetricsServer(() => undefined);
    await assert.rejects(other.listen({ host: '127.0.0.1', port }), { message: `cannot serve metrics on 127.0.0.1:${port}: address already in use` });
    await other.close();
  });
});

describe('metrics: --metrics [ADDR:]PORT', () => {
  it('a port alone is on the loopback; an IPv4 address or an [IPv6] one may be given', () => {
    assert.deepEqual(parseListenAddress('--metrics', '9477'), { host: '127.0.0.1', port: 9477 });
    assert.deepEqual(parseListenAddress('--metrics', '0.0.0.0:9477'), { host: '0.0.0.0', port: 9477 });
    assert.deepEqual(parseListenAddress('--metrics', '[::1]:0'), { host: '::1', port: 0 });
    const cmd = parseDaemonArgs(['--metrics=10.1.2.3:65535']);
    assert.ok(cmd.kind === 'run');
    assert.deepEqual(cmd.config.metrics, { host: '10.1.2.3', port: 65535 });
    const none = parseDaemonArgs([]);
    assert.ok(none.kind === 'run' && none.config.metrics === undefined);
  });

  it('anything else is a usage error naming the option', () => {
    for (const bad of ['', 'x', '65536', '-1', 'localhost:9100', '::1:9100', '[127.0.0.1]:80', '1.2.3:80', '1.2.3.4:', ':80', '1.2.3.4:80x', '[::1]']) {
      assert.throws(() => parseListenAddress('--metrics', bad), UsageError, bad);
    }
    assert.throws(() => parseDaemonArgs(['--metrics']), { message: "option '--metrics' needs [ADDR:]PORT" });
  });
});
