// `vswconfig monitor` (issue 17, part 1) against a running vswitchd, on the
// datapath VSWITCH_TEST_DATAPATH picks: the events of stations, ports, links
// and configuration, as JSON lines and as text; two monitors at once; a
// monitor that stops reading is dropped while `stats` keeps answering; a MAC
// storm gives `suppressed` lines and a bounded stream.
//
// Sentinel: a monitor is listening once `stats -j` counts it (monitor.subscribers).

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from '../../src/control/client.js';
import { assertOk, type Host, Lab, VSWCONFIG, waitFor, waitUntil } from '../helpers/lab.js';

const lab = new Lab();
let A: Host, B: Host, C: Host;
const ok = assertOk;

interface Ev {
  time: string;
  event: string;
  [k: string]: unknown;
}

/** A running `vswconfig monitor` (JSON or text) and what it printed. */
class Monitor {
  readonly lines: string[] = [];
  private rest = '';
  readonly proc: ChildProcess;
  constructor(json: boolean) {
    this.proc = lab.spawn(process.execPath, [VSWCONFIG, '--socket', lab.socket, ...(json ? ['-j'] : []), 'monitor']);
    this.proc.stdout!.setEncoding('utf8').on('data', (s: string) => {
      const parts = (this.rest + s).split('\n');
      this.rest = parts.pop()!;
      this.lines.push(...parts);
    });
  }
  events(): Ev[] {
    return this.lines.map((l) => JSON.parse(l) as Ev);
  }
  /** The first event (after `from`) for which `match` holds. */
  async find(what: string, match: (e: Ev) => boolean, from = 0, ms = 5000): Promise<Ev> {
    try {
      return (await waitFor(what, () => this.events().slice(from).find(match), ms))!;
    } catch (err) {
      assert.fail(`${(err as Error).message}; the monitor printed:\n${this.lines.slice(from).join('\n')}`);
    }
  }
}

async function subscribers(): Promise<number> {
  return (await request(lab.socket, { cmd: 'stats' })).monitor?.subscribers ?? -1;
}

/** Start a monitor and wait until the daemon counts it. */
async function startMonitor(json = true): Promise<Monitor> {
  const n = await subscribers();
  const m = new Monitor(json);
  await waitFor('the monitor to subscribe', async () => (await subscribers()) === n + 1);
  return m;
}

const port = (e: Ev): unknown => e['ifname'];

before(async () => {
  [A, B, C] = [1, 2, 3].map((n) => lab.addHost(n));
  await lab.startSwitch();
});

after(async () => {
  await lab.cleanup();
});

describe('vswconfig monitor -j', () => {
  let m1: Monitor, m2: Monitor;
  before(async () => {
    m1 = await startMonitor();
    m2 = await startMonitor();
    // Added once the monitors listen: the hosts' first frames (IPv6) may come at once.
    for (const h of [A, B]) ok(lab.vswconfig('add', h.port), `add ${h.port}`);
  });
  after(async () => {
    m1.proc.kill('SIGINT');
    m2.proc.kill('SIGINT');
    await waitFor('the monitors to go', async () => (await subscribers()) === 0);
  });

  it('prints fdb-learn for both ends of a ping, with their MAC, VLAN and port', async () => {
    assert.ok(lab.ping(A, B.ip), 'A pings B');
    for (const h of [A, B]) {
      const e = await m1.find(`fdb-learn of ${h.mac}`, (e) => e.event === 'fdb-learn' && e['mac'] === h.mac);
      assert.deepEqual({ vlan: e['vlan'], ifname: e['ifname'] }, { vlan: 0, ifname: h.port });
      assert.match(e.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
  });

  it('prints port-add and port-del, with the flush of the deleted port', async () => {
    ok(lab.vswconfig('add', C.port), 'add C');
    await m1.find('port-add', (e) => e.event === 'port-add' && port(e) === C.port);
    assert.ok(lab.ping(C, A.ip), 'C pings A');
    await m1.find('fdb-learn of C', (e) => e.event === 'fdb-learn' && e['mac'] === C.mac);
    const from = m1.lines.length;
    ok(lab.vswconfig('delete', C.port), 'delete C');
    const flush = await m1.find('fdb-flush of C', (e) => e.event === 'fdb-flush' && port(e) === C.port, from);
    assert.equal(flush['reason'], 'port-removed');
    assert.ok((flush['count'] as number) >= 1);
    const del = await m1.find('port-del', (e) => e.event === 'port-del' && port(e) === C.port, from);
    assert.equal(del['reason'], 'deleted');
    // The flush is told before the port goes.
    const at = (e: Ev): number => m1.lines.indexOf(JSON.stringify(e));
    assert.ok(at(flush) >= 0 && at(flush) < at(del), 'fdb-flush before port-del');
  });

  it('prints link-down with the flush of the port, link-up, and an MTU change', async () => {
    assert.ok(lab.ping(A, B.ip), 'A pings B (its stations learned again)');
    await waitFor('A learned', async () => (await request(lab.socket, { cmd: 'fdb' })).entries.some((e) => e.mac === A.mac && e.port === A.port));
    const from = m1.lines.length;
    lab.sh(`ip link set ${A.port} down`);
    await m1.find('link-down', (e) => e.event === 'link-down' && port(e) === A.port, from);
    const flush = await m1.find('fdb-flush on link down', (e) => e.event === 'fdb-flush' && port(e) === A.port, from);
    assert.equal(flush['reason'], 'link-down');
    lab.sh(`ip link set ${A.port} up`);
    await m1.find('link-up', (e) => e.event === 'link-up' && port(e) === A.port, from);
    lab.sh(`ip link set ${B.port} mtu 1400`);
    const mtu = await m1.find('mtu', (e) => e.event === 'mtu' && port(e) === B.port, from);
    assert.deepEqual({ mtu: mtu['mtu'], old: mtu['old'] }, { mtu: 1400, old: 1500 });
    lab.sh(`ip link set ${B.port} mtu 1500`);
    await m1.find('mtu back', (e) => e.event === 'mtu' && port(e) === B.port && e['mtu'] === 1500, from);
  });

  it('prints VLAN, ACL and mirror changes', async () => {
    const from = m1.lines.length;
    ok(lab.vswconfig('vlan', B.port, 'access', '10'), 'vlan');
    const v = await m1.find('vlan', (e) => e.event === 'vlan' && port(e) === B.port, from);
    assert.deepEqual({ mode: v['mode'], tag: v['tag'] }, { mode: 'access', tag: 10 });
    ok(lab.vswconfig('vlan', B.port, 'trunk'), 'vlan back');
    const add = lab.vswconfig('acl', 'add', 'src', '02:00:00:00:00:99', 'drop');
    ok(add, 'acl add');
    const id = Number(add.stdout.trim());
    const acl = await m1.find('acl-add', (e) => e.event === 'acl-add' && e['id'] === id, from);
    assert.equal(acl['rule'], 'src 02:00:00:00:00:99 drop');
    ok(lab.vswconfig('acl', 'del', String(id)), 'acl del');
    await m1.find('acl-del', (e) => e.event === 'acl-del' && e['id'] === id, from);
    ok(lab.vswconfig('mirror', 'add', 'm1', 'output', B.port, 'select-ingress', A.port), 'mirror add');
    const mirror = await m1.find('mirror-add', (e) => e.event === 'mirror-add' && e['name'] === 'm1', from);
    assert.equal(mirror['output'], B.port);
    ok(lab.vswconfig('mirror', 'del', 'm1'), 'mirror del');
    await m1.find('mirror-del', (e) => e.event === 'mirror-del' && e['name'] === 'm1', from);
  });

  it('two monitors see the same events', async () => {
    await m2.find('mirror-del on the second monitor', (e) => e.event === 'mirror-del');
    const strip = (m: Monitor): string[] => m.events().filter((e) => !e.event.startsWith('fdb-')).map((e) => JSON.stringify(e));
    assert.deepEqual(strip(m2), strip(m1));
    assert.ok(strip(m1).length >= 10, `${strip(m1).length} events`);
  });

  it('text mode: one line per event, its ISO time first', async () => {
    const t = await startMonitor(false);
    ok(lab.vswconfig('add', C.port), 'add C');
    await waitFor('the port-add line', () => t.lines.length >= 1);
    assert.match(t.lines[0]!, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z port-add ${C.port}$`));
    ok(lab.vswconfig('delete', C.port), 'delete C');
    await waitFor('the port-del line', () => t.lines.some((l) => / port-del \S+ \(deleted\)$/.test(l)));
    t.proc.kill('SIGINT');
    await waitFor('the text monitor to go', async () => (await subscribers()) === 2);
  });
});

describe('vswconfig monitor, bad arguments', () => {
  it('an extra argument: one line on stderr, exit 2', () => {
    const r = lab.vswconfig('monitor', 'fdb');
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "vswconfig: unexpected argument 'fdb' (see 'vswconfig --help')\n");
    assert.equal(r.stdout, '');
  });
  it('no daemon: one line on stderr, exit 1', () => {
    const r = lab.vswconfig('--socket', join(lab.dir, 'nothing.sock'), 'monitor');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^vswconfig: vswitchd is not running \(no socket at .*\)\n$/);
  });
});

describe('under a MAC storm', () => {
  it('the stream carries suppressed lines and stays bounded; a monitor that stops reading is dropped; stats answers in time', async (t) => {
    const reader = await startMonitor();
    const listening = await subscribers(); // the reader, and any other monitor of the tests above still going
    // A raw client that subscribes and never reads.
    const stuck = net.createConnection({ path: lab.socket });
    stuck.on('error', () => undefined);
    stuck.write('{"v":1,"id":1,"cmd":"monitor"}\n');
    stuck.pause();
    await waitFor('the stuck monitor to subscribe', async () => (await subscribers()) === listening + 1);
    const droppedBefore = (await request(lab.socket, { cmd: 'stats' })).monitor!.dropped;

    const conf = join(lab.dir, 'storm.cfg');
    writeFileSync(conf, '{ 0x02, 0xde, 0xad, 0x00, 0xbe, 0xef, 0x02, drnd(5), 0x88, 0xb5, fill(0x00, 46) }\n');
    const txBefore = lab.stat(A.ns, A.ifname, 'tx_packets');
    const from = reader.lines.length;
    const storm = lab.spawn('ip', ['netns', 'exec', A.ns, 'trafgen', '--dev', A.ifname, '--conf', conf, '--cpus', '1', '--no-sock-mem', '--notouch-irq']);
    try {
      assert.ok(await waitUntil(() => lab.stat(A.ns, A.ifname, 'tx_packets') - txBefore >= 50_000, 10_000, 20), 'the storm runs');
      const start = performance.now();
      const answers: number[] = [];
      let dropped = droppedBefore;
      // Until the stuck monitor is dropped (its buffers fill at the stream's bounded rate), and at least 3 s.
      while (performance.now() - start < 3000 || dropped === droppedBefore) {
        assert.ok(performance.now() - start < 60_000, 'the stuck monitor was not dropped within 60 s');
        const t0 = performance.now();
        const s = await request(lab.socket, { cmd: 'stats' }, { timeoutMs: 15_000 });
        answers.push(performance.now() - t0);
        dropped = s.monitor!.dropped;
      }
      const seconds = (performance.now() - start) / 1000;
      const evs = reader.events().slice(from);
      const suppressed = evs.filter((e) => e.event === 'suppressed' && e['kind'] === 'fdb-learn');
      const worst = Math.max(...answers);
      t.diagnostic(`${evs.length} lines in ${seconds.toFixed(1)} s of storm, ${suppressed.length} suppressed lines for fdb-learn (last count ${String(suppressed.at(-1)?.['count'])}); stats worst ${worst.toFixed(0)} ms over ${answers.length}`);
      assert.ok(suppressed.length >= 1, 'suppressed lines for fdb-learn');
      assert.ok(suppressed.every((e) => (e['count'] as number) > 0));
      // Per kind at most 100 a second (bursts of 100), plus one suppressed line a second per kind: 5 FDB kinds.
      assert.ok(evs.length <= 5 * (100 * (seconds + 1) + seconds + 1) + 50, `${evs.length} lines in ${seconds.toFixed(1)} s`);
      assert.ok(evs.filter((e) => e.event === 'fdb-learn').length <= 100 * (seconds + 2), 'fdb-learn lines within their rate');
      assert.equal(dropped, droppedBefore + 1, 'the stuck monitor was dropped, and only it');
      assert.ok(worst <= 2000, `stats took ${worst.toFixed(0)} ms during the storm`);
      assert.equal(await subscribers(), listening, 'the reading monitor stays');
      assert.match(lab.daemon!.stderr, /monitor #\d+ on the control socket dropped: it stopped reading/);
    } finally {
      storm.kill('SIGINT');
      stuck.destroy();
    }
  });
});
