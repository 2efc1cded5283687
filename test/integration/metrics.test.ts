// vswitchd --metrics (issue 17 part 2) on real namespaces, on the datapath
// VSWITCH_TEST_DATAPATH names: a scrape during a ping flood lies between two
// `stats -j` around it; once the traffic has stopped a scrape equals `stats -j`,
// `acl show -j` and `mirror show -j` taken right after, figure for figure, and
// `promtool check metrics` passes on it; `--metrics PORT` listens on the
// loopback only; anything but GET /metrics is refused and the daemon carries
// on; a second vswitchd on the same address stops with one line, exit 1.
//
// The hosts are quiet (IPv6 off) with static neighbours: the only frames on
// the wire are those the test sends, so a quiet switch stays quiet.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cpuTicks, type Host, Lab, run, VSWITCHD, waitFor } from '../helpers/lab.js';

const lab = new Lab('10.84');
let H1: Host, H2: Host, H3: Host, H4: Host;
let port = 0;
let daemonPid = 0;
let dropRule = '';
let allowRule = '';

interface StatsJson {
  ports: Array<{ ifname: string; up: boolean; mtu: number; rxFrames: number; rxBytes: number; txFrames: number; txBytes: number; rxRingDrops: number }>;
  drops: Record<string, number>;
  fdb: Record<'entries' | 'learned' | 'moved' | 'expired' | 'evicted' | 'flushed' | 'refused' | 'suppressed', number>;
  monitor: Record<'subscribers' | 'dropped' | 'suppressed', number>;
}

const ok = (...args: string[]): string => lab.ok(...args);

function statsJson(): StatsJson {
  return JSON.parse(ok('-j', 'stats')) as StatsJson;
}

/** GET (or `method`) http://127.0.0.1:port/path. */
async function http(path = '/metrics', method = 'GET', body?: string): Promise<{ status: number; allow: string | null; text: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { method, body });
  return { status: r.status, allow: r.headers.get('allow'), text: await r.text() };
}

async function scrape(): Promise<string> {
  const r = await http();
  assert.equal(r.status, 200, r.text);
  return r.text;
}

/** `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^([a-z_]+(?:\{[^}]*\})?) (\S+)$/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

/** Each counter of `stats -j` as the series that must carry it. */
function counterSeries(s: StatsJson): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of s.ports) {
    const at = `{port="${p.ifname}"}`;
    out.set(`vswitch_port_receive_frames_total${at}`, p.rxFrames);
    out.set(`vswitch_port_receive_bytes_total${at}`, p.rxBytes);
    out.set(`vswitch_port_transmit_frames_total${at}`, p.txFrames);
    out.set(`vswitch_port_transmit_bytes_total${at}`, p.txBytes);
    out.set(`vswitch_port_receive_ring_drops_total${at}`, p.rxRingDrops);
  }
  for (const [reason, n] of Object.entries(s.drops)) out.set(`vswitch_drops_total{reason="${reason}"}`, n);
  const f = s.fdb;
  for (const [k, name] of [['learned', 'learned'], ['moved', 'moved'], ['expired', 'aged'], ['evicted', 'evicted'], ['flushed', 'flushed'], ['refused', 'refused'], ['suppressed', 'suppressed']] as const) {
    out.set(`vswitch_fdb_${name}_total`, f[k]);
  }
  return out;
}

/** Every series of `stats -j` (counters and gauges). */
function statsSeries(s: StatsJson): Map<string, number> {
  const out = counterSeries(s);
  for (const p of s.ports) {
    out.set(`vswitch_port_up{port="${p.ifname}"}`, p.up ? 1 : 0);
    out.set(`vswitch_port_mtu_bytes{port="${p.ifname}"}`, p.mtu);
  }
  out.set('vswitch_fdb_entries', s.fdb.entries);
  out.set('vswitch_monitors', s.monitor.subscribers);
  out.set('vswitch_monitor_dropped_total', s.monitor.dropped);
  out.set('vswitch_monitor_suppressed_events_total', s.monitor.suppressed);
  return out;
}

before(async () => {
  [H1, H2, H3, H4] = [1, 2, 3, 4].map((n) => lab.addHost(n, { quiet: true }));
  // Addresses for the pinging pair, and each other's MAC written in: no ARP ever.
  for (const [h, peer] of [[H1, H2], [H2, H1]] as const) {
    lab.sh(`ip -n ${h.ns} addr add ${h.ip}/16 dev ${h.ifname} && ip -n ${h.ns} neigh replace ${peer.ip} lladdr ${peer.mac} dev ${h.ifname} nud permanent`);
  }
  // A port alone: the loopback; 0: a free port, which the log names.
  const d = await lab.startSwitch(['--metrics', '0']);
  daemonPid = d.proc.pid!;
  const m = await waitFor('the log line naming where metrics are served', () => /metrics: serving http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(d.stderr));
  port = Number(m![1]);
  for (const h of lab.hosts) ok('add', h.port);
  allowRule = ok('acl', 'add', 'src', H1.mac, 'allow').trim();
  dropRule = ok('acl', 'add', 'in', H3.port, 'type', '0x88b5', 'drop').trim();
  ok('mirror', 'add', 'span', 'output', H4.port, 'select-ingress', H1.port);
  // A link-local frame and one the ACL drops, from NS3; pings both ways.
  const eth = `Ether(src='${H3.mac}', dst='${H1.mac}'`;
  lab.sendFrames(H3.ns, H3.ifname, `[${eth}, type=0x88b5)/Raw(b'x'*46), Ether(src='${H3.mac}', dst='01:80:c2:00:00:0e', type=0x88cc)/Raw(b'x'*46)]`);
  assert.ok(lab.ping(H1, H2.ip, '-c 3 -i 0.05 -W 2'), 'NS1 -> NS2');
});

after(async () => {
  await lab.cleanup();
});

test('metrics: --metrics PORT listens on the loopback only', () => {
  const listening = lab.sh(`ss -Hltn 'sport = :${port}'`).trim().split('\n');
  assert.equal(listening.length, 1, listening.join('\n'));
  assert.match(listening[0]!, new RegExp(`\\s127\\.0\\.0\\.1:${port}\\s`));
});

test('metrics: a scrape during a ping flood lies between the stats -j taken before and after it', async () => {
  // -q: a flood ping prints a dot a frame otherwise, and blocks once its pipe is full.
  const flood = lab.spawn('ip', ['netns', 'exec', H1.ns, 'ping', '-f', '-q', '-w', '4', H2.ip]);
  flood.stdout!.resume();
  flood.stderr!.resume();
  const done = new Promise((r) => flood.on('exit', r));
  try {
    // The flood is under way once frames are counted on NS1's port.
    const start = statsJson().ports.find((p) => p.ifname === H1.port)!.rxFrames;
    await waitFor('the flood', () => statsJson().ports.find((p) => p.ifname === H1.port)!.rxFrames > start + 100, 5000, 20);
    const before = counterSeries(statsJson());
    const s = samples(await scrape());
    const afterwards = counterSeries(statsJson());
    for (const [series, low] of before) {
      const v = s.get(series);
      assert.ok(v !== undefined, `${series} scraped`);
      assert.ok(low <= v && v <= afterwards.get(series)!, `${series}: ${low} <= ${v} <= ${afterwards.get(series)}`);
    }
    const rx = `vswitch_port_receive_frames_total{port="${H1.port}"}`;
    assert.ok(afterwards.get(rx)! > before.get(rx)!, 'frames went through while it was scraped');
  } finally {
    await done;
  }
});

test('metrics: with the traffic stopped a scrape equals stats -j, acl show -j and mirror show -j taken right after, and promtool check metrics passes', async () => {
  // Quiet: two readings 300 ms apart are the same.
  let last = ok('-j', 'stats');
  await waitFor(
    'the switch to be quiet',
    async () => {
      await new Promise((r) => setTimeout(r, 300));
      const now = ok('-j', 'stats');
      const same = now === last;
      last = now;
      return same;
    },
    10_000,
    0,
  );
  const text = await scrape();
  const stats = statsJson();
  const acl = JSON.parse(ok('-j', 'acl', 'show')) as Array<{ id: number; hits: number }>;
  const mirrors = JSON.parse(ok('-j', 'mirror', 'show')) as Array<{ name: string; copies: number }>;
  const { datapath, attach } = JSON.parse(ok('-j', 'show')) as { datapath: string; attach: string };
  const s = samples(text);

  const expected = statsSeries(stats);
  for (const r of acl) expected.set(`vswitch_acl_rule_hits_total{rule="${r.id}"}`, r.hits);
  for (const m of mirrors) expected.set(`vswitch_mirror_copies_total{mirror="${m.name}"}`, m.copies);
  for (const [series, v] of expected) assert.equal(s.get(series), v, series);
  assert.equal(stats.ports.length, 4);
  assert.deepEqual(
    [...s.keys()].filter((k) => /_(total|up|bytes)\{(port|rule|mirror)=/.test(k)).sort(),
    [...expected.keys()].filter((k) => /\{(port|rule|mirror)=/.test(k)).sort(),
    'no series beyond those of the switch',
  );
  // What the traffic made: the figures compared above are not all zeros.
  assert.ok(s.get(`vswitch_port_receive_frames_total{port="${H1.port}"}`)! >= 3);
  assert.ok(s.get(`vswitch_acl_rule_hits_total{rule="${allowRule}"}`)! >= 3);
  assert.equal(s.get(`vswitch_acl_rule_hits_total{rule="${dropRule}"}`), 1);
  assert.equal(s.get('vswitch_drops_total{reason="acl-drop"}'), 1);
  assert.equal(s.get('vswitch_drops_total{reason="link-local"}'), 1);
  assert.ok(s.get('vswitch_mirror_copies_total{mirror="span"}')! >= 3);
  assert.ok(s.get('vswitch_fdb_entries')! >= 2);
  assert.equal(s.get('vswitch_fdb_entries_limit'), 65536);
  const info = [...s.keys()].filter((k) => k.startsWith('vswitch_info'));
  assert.equal(info.length, 1);
  assert.match(info[0]!, new RegExp(`^vswitch_info\\{version="[^"]+",datapath="${datapath}",attach="${attach}"\\}$`));
  assert.equal(s.get(info[0]!), 1);
  assert.doesNotMatch(text, /mac=/, 'no per-MAC series');

  const check = run('promtool', ['check', 'metrics'], text);
  assert.equal(check.code, 0, `promtool check metrics: ${check.stdout}${check.stderr}`);
});

test('metrics: vswitchd\'s own memory and CPU — RSS and CPU time as /proc reads them, each thread\'s V8 heap', async () => {
  const status = (): number => Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${daemonPid}/status`, 'utf8'))![1]) * 1024;
  const ticks = (): number => cpuTicks(daemonPid) / 100;
  const [rss0, cpu0] = [status(), ticks()];
  const s = samples(await scrape());
  const [rss1, cpu1] = [status(), ticks()];
  const rss = s.get('process_resident_memory_bytes')!;
  // Read between two readings of /proc (the scrape itself may grow the heap a little).
  assert.ok(rss >= Math.min(rss0, rss1) - (4 << 20) && rss <= Math.max(rss0, rss1) + (4 << 20), `RSS ${rss} between ${rss0} and ${rss1}`);
  const cpu = s.get('process_cpu_seconds_total')!;
  assert.ok(cpu >= cpu0 - 0.02 && cpu <= cpu1 + 0.02, `CPU ${cpu} s between ${cpu0} and ${cpu1}`);
  for (const who of ['nodejs_heap_size', 'vswitch_datapath_heap']) {
    const used = s.get(`${who}_used_bytes`)!;
    const size = s.get(who === 'nodejs_heap_size' ? 'nodejs_heap_size_total_bytes' : 'vswitch_datapath_heap_size_bytes')!;
    assert.ok(used > 1e6 && used <= size && size < rss, `${who}: ${used} used of ${size}, RSS ${rss}`);
  }
  // Two isolates: the datapath thread's heap is its own, not the main thread's read twice.
  assert.notEqual(s.get('vswitch_datapath_heap_used_bytes'), s.get('nodejs_heap_size_used_bytes'));
  assert.ok(s.get('nodejs_external_memory_bytes')! > 0 && s.get('vswitch_datapath_external_memory_bytes')! >= 0);
});

test('metrics: anything but GET /metrics is refused, and the daemon still answers afterwards', async () => {
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const r = await http('/metrics', method, method === 'DELETE' ? undefined : 'x'.repeat(1 << 20));
    assert.equal(r.status, 405, method);
    assert.equal(r.allow, 'GET');
  }
  for (const path of ['/', '/metric', '/metrics/x', '/debug']) assert.equal((await http(path)).status, 404, path);
  const garbage = await new Promise<string>((resolve, reject) => {
    const sock = net.createConnection({ host: '127.0.0.1', port }, () => sock.end('\x00\x01 not http\r\n\r\n'));
    let out = '';
    sock.setEncoding('utf8').on('data', (c: string) => (out += c));
    sock.on('close', () => resolve(out));
    sock.on('error', reject);
  });
  assert.match(garbage, /^HTTP\/1\.1 400 /);
  assert.ok(lab.daemon!.alive, 'vswitchd runs');
  assert.deepEqual(JSON.parse(ok('-j', 'show')).ports.length, 4);
  assert.ok(samples(await scrape()).has('vswitch_fdb_entries'));
  assert.doesNotMatch(lab.daemon!.stderr, /uncaught|unhandled/);
});

test('metrics: a second vswitchd on the same address stops at start with one line, exit 1, and touches nothing', () => {
  const socket = join(lab.dir, 'second.sock');
  const r = run(process.execPath, [VSWITCHD, '--socket', socket, '--metrics', `127.0.0.1:${port}`]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `vswitchd: cannot serve metrics on 127.0.0.1:${port}: address already in use\n`);
  assert.equal(existsSync(socket), false, 'no control socket made');
  assert.ok(lab.daemon!.alive, 'the first vswitchd runs on');
});
