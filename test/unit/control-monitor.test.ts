// The monitor's rate limiter and fan-out (control/monitor.ts) with an injected
// clock; the daemon's translation of the FDB journal (daemon/fdb-events.ts);
// and `monitor` over the control socket with the FakeDatapath.

import assert from 'node:assert/strict';
import net from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { monitor } from '../../src/control/client.js';
import type { MonitorEvent } from '../../src/control/monitor-events.js';
import { MonitorHub, type MonitorSubscriber, RateLimiter } from '../../src/control/monitor.js';
import { FDB_EV_FLUSH, FDB_EV_LEARN, FDB_EV_MOVE, FDB_EV_WORDS, FLUSH_DOWN } from '../../src/core/fdb-journal.js';
import { publishFdbEvents } from '../../src/daemon/fdb-events.js';
import { startTestSwitch, type TestSwitch } from '../helpers/fake-datapath.js';

describe('RateLimiter', () => {
  it('admits a burst, counts the rest by kind, refills with the clock', () => {
    let now = 1000;
    const l = new RateLimiter(10, 10, () => now);
    let admitted = 0;
    for (let i = 0; i < 25; i++) if (l.admit('fdb-learn')) admitted++;
    assert.equal(admitted, 10);
    assert.ok(l.admit('port-add'), 'another kind has its own bucket');
    now += 500; // 5 tokens back
    admitted = 0;
    for (let i = 0; i < 10; i++) if (l.admit('fdb-learn')) admitted++;
    assert.equal(admitted, 5);
    l.count('fdb-evict', 7);
    assert.deepEqual(l.take().sort(), [['fdb-evict', 7], ['fdb-learn', 20]]);
    assert.deepEqual(l.take(), [], 'take() starts the counts again');
    now += 60_000;
    admitted = 0;
    for (let i = 0; i < 30; i++) if (l.admit('fdb-learn')) admitted++;
    assert.equal(admitted, 10, 'never more than the burst, however long it was quiet');
  });
});

/** A subscriber that keeps what it is sent; `stalled` makes it look as if it stopped reading. */
class Sink implements MonitorSubscriber {
  readonly got: string[] = [];
  dropped = false;
  stalled = false;
  private bytes = 0;
  constructor(readonly name: string) {}
  send(json: string): void {
    this.got.push(json);
    if (this.stalled) this.bytes += json.length;
  }
  unsent(): number {
    return this.bytes;
  }
  drop(): void {
    this.dropped = true;
  }
  events(): MonitorEvent[] {
    return this.got.map((j) => JSON.parse(j) as MonitorEvent);
  }
}

describe('MonitorHub', () => {
  let now: number;
  let logs: string[];
  let hub: MonitorHub;
  beforeEach(() => {
    now = Date.UTC(2026, 11, 7, 12, 0, 0);
    logs = [];
    hub = new MonitorHub({ log: (m) => logs.push(m), rate: 5, bufferBytes: 1000, clock: () => now, timer: false });
  });

  it('sends each event to every subscriber, its time first', () => {
    const a = new Sink('a');
    const b = new Sink('b');
    hub.subscribe(a);
    hub.subscribe(b);
    hub.publish({ event: 'port-add', ifname: 'veth1' });
    assert.deepEqual(a.got, ['{"time":"2026-12-07T12:00:00.000Z","event":"port-add","ifname":"veth1"}']);
    assert.deepEqual(b.got, a.got);
    assert.deepEqual(hub.counts(), { subscribers: 2, dropped: 0, suppressed: 0 });
  });

  it('over the rate: counted, reported once per tick as suppressed, per kind', () => {
    const a = new Sink('a');
    hub.subscribe(a);
    for (let i = 0; i < 12; i++) hub.publish({ event: 'fdb-learn', mac: '02:00:00:00:00:01', vlan: 0, ifname: 'veth1' });
    hub.publish({ event: 'port-add', ifname: 'veth2' });
    hub.suppressed('fdb-evict', 3); // the datapath's journal was full
    assert.equal(a.events().filter((e) => e.event === 'fdb-learn').length, 5);
    assert.equal(a.events().filter((e) => e.event === 'port-add').length, 1);
    now += 1000;
    hub.tick();
    const sup = a.events().filter((e) => e.event === 'suppressed');
    assert.deepEqual(
      sup.map(({ time: _t, ...e }) => e).sort((x, y) => String(x['kind' as keyof typeof x]).localeCompare(String(y['kind' as keyof typeof y]))),
      [
        { event: 'suppressed', kind: 'fdb-evict', count: 3 },
        { event: 'suppressed', kind: 'fdb-learn', count: 7 },
      ],
    );
    assert.equal(sup[0]!.time, '2026-12-07T12:00:01.000Z');
    assert.equal(hub.counts().suppressed, 10);
    hub.tick();
    assert.equal(a.events().filter((e) => e.event === 'suppressed').length, 2, 'nothing more to report');
  });

  it('a subscriber that stops reading is dropped when its buffer fills, counted and logged; the others go on', () => {
    const slow = new Sink('slow');
    const fast = new Sink('fast');
    hub.subscribe(slow);
    hub.subscribe(fast);
    slow.stalled = true;
    for (let i = 0; i < 40; i++) {
      now += 1000; // within the rate
      hub.publish({ event: 'mtu', ifname: 'veth1', mtu: 1400 + i, old: 1500 });
    }
    assert.ok(slow.dropped, 'dropped');
    const bytes = slow.got.map((j) => j.length);
    const total = bytes.reduce((a, b) => a + b, 0);
    assert.ok(total > 1000 && total - bytes.at(-1)! <= 1000, `dropped by the event that took it past 1000 bytes (${slow.got.length} events, ${total} bytes)`);
    assert.equal(fast.got.length, 40);
    assert.deepEqual(hub.counts(), { subscribers: 1, dropped: 1, suppressed: 0 });
    assert.equal(logs.length, 1);
    assert.match(logs[0]!, /^monitor slow dropped: it stopped reading \(\d+ bytes unsent\); 1 dropped so far$/);
  });

  it('makes and counts nothing while nobody listens', () => {
    assert.equal(hub.listening, false);
    assert.equal(hub.admit('fdb-learn'), false);
    for (let i = 0; i < 20; i++) hub.publish({ event: 'port-add', ifname: 'veth1' });
    hub.suppressed('fdb-learn', 5);
    assert.deepEqual(hub.counts(), { subscribers: 0, dropped: 0, suppressed: 0 });
  });
});

describe('publishFdbEvents', () => {
  it('names ports, formats MACs and VLANs, counts the journal overflow', () => {
    const hub = new MonitorHub({ log: () => undefined, clock: () => 0, timer: false });
    const sink = new Sink('s');
    hub.subscribe(sink);
    const rec = (kind: number, hi: number, lo: number, port: number, extra: number): number[] => [kind, hi, lo, port, extra];
    const records = Int32Array.from([
      ...rec(FDB_EV_LEARN, (10 << 16) | 0x0200, 0x00000001, 1, 0),
      ...rec(FDB_EV_MOVE, 0x0200, 0x0a0b0c0d | 0, 2, 1),
      ...rec(FDB_EV_FLUSH, FLUSH_DOWN, 0, 2, 42),
      ...rec(FDB_EV_LEARN, 0x0200, 5, 7, 0), // a port no longer known: skipped
    ]);
    assert.equal(records.length, 4 * FDB_EV_WORDS);
    publishFdbEvents(hub, { records, overflow: [4, 0, 0, 0, 0] }, [undefined, 'veth1', 'veth2']);
    hub.tick();
    assert.deepEqual(
      sink.events().map(({ time: _t, ...e }) => e),
      [
        { event: 'fdb-learn', mac: '02:00:00:00:00:01', vlan: 10, ifname: 'veth1' },
        { event: 'fdb-move', mac: '02:00:0a:0b:0c:0d', vlan: 0, ifname: 'veth2', from: 'veth1' },
        { event: 'fdb-flush', ifname: 'veth2', count: 42, reason: 'link-down' },
        { event: 'suppressed', kind: 'fdb-learn', count: 4 },
      ],
    );
  });
});

describe('monitor over the control socket', () => {
  let t: TestSwitch;
  beforeEach(async () => {
    t = await startTestSwitch();
    for (let i = 1; i <= 2; i++) await t.sysfs.add(`veth${i}-vsw`, { ifindex: 100 + i });
  });
  afterEach(async () => t.close());

  it('two clients see port-add, link-down, mtu and port-del; a closed client leaves', async () => {
    const got: MonitorEvent[][] = [[], []];
    const stops = [new AbortController(), new AbortController()];
    const ends: Promise<void>[] = [];
    for (const k of [0, 1]) {
      await new Promise<void>((subscribed) => {
        ends.push(monitor(t.path, (ev) => void got[k]!.push(ev), { onSubscribed: subscribed, signal: stops[k]!.signal }));
      });
    }
    assert.equal(t.sw.monitor.counts().subscribers, 2);
    await t.sw.add('veth1-vsw');
    t.datapath.linkChanged(0, false, 1500);
    t.datapath.linkChanged(0, false, 9000);
    await t.sw.delete('veth1-vsw');
    const want = [
      { event: 'port-add', ifname: 'veth1-vsw' },
      { event: 'link-down', ifname: 'veth1-vsw' },
      { event: 'mtu', ifname: 'veth1-vsw', mtu: 9000, old: 1500 },
      { event: 'port-del', ifname: 'veth1-vsw', reason: 'deleted' },
    ];
    const strip = (evs: MonitorEvent[]): unknown[] => evs.map(({ time: _t, ...e }) => e);
    for (let i = 0; i < 100 && got[1]!.length < want.length; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(strip(got[0]!), want);
    assert.deepEqual(strip(got[1]!), want);
    assert.deepEqual(t.sw.monitor.counts(), { subscribers: 2, dropped: 0, suppressed: 0 });
    stops[0]!.abort();
    await ends[0];
    for (let i = 0; i < 100 && t.sw.monitor.counts().subscribers !== 1; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(t.sw.monitor.counts().subscribers, 1);
    stops[1]!.abort();
    await ends[1];
  });

  it('the first link change after an add that changes both state and MTU: link-down and mtu, each from what the datapath had', async () => {
    const got: string[] = [];
    t.sw.monitor.subscribe({ name: 'test', send: (j) => void got.push(j), unsent: () => 0, drop: () => undefined });
    await t.sw.add('veth1-vsw');
    // One report carrying both changes (the datapath read the link afresh after lost notifications).
    t.datapath.linkChanged(0, false, 9000);
    t.datapath.linkChanged(0, true, 9000);
    assert.deepEqual(
      got.map((j) => {
        const { time: _t, ...e } = JSON.parse(j) as MonitorEvent;
        return e;
      }),
      [
        { event: 'port-add', ifname: 'veth1-vsw' },
        { event: 'link-down', ifname: 'veth1-vsw' },
        { event: 'mtu', ifname: 'veth1-vsw', mtu: 9000, old: 1500 },
        { event: 'link-up', ifname: 'veth1-vsw' },
      ],
    );
  });

  it('an interface renamed, then deleted: rename and port-del (gone)', async () => {
    const got: MonitorEvent[] = [];
    const stop = new AbortController();
    let ended: Promise<void> = Promise.resolve();
    await new Promise<void>((subscribed) => {
      ended = monitor(t.path, (ev) => void got.push(ev), { onSubscribed: subscribed, signal: stop.signal });
    });
    await t.sw.add('veth1-vsw');
    t.datapath.interfaceRenamed(0, 'uplink');
    t.datapath.interfaceDeleted(0);
    for (let i = 0; i < 100 && got.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    stop.abort();
    await ended;
    assert.deepEqual(
      got.map(({ time: _t, ...e }) => e),
      [
        { event: 'port-add', ifname: 'veth1-vsw' },
        { event: 'rename', ifname: 'uplink', old: 'veth1-vsw' },
        { event: 'port-del', ifname: 'uplink', reason: 'gone' },
      ],
    );
  });

  it('a request before monitor is answered first; nothing more is read from a monitor connection', async () => {
    const sock = net.createConnection({ path: t.path });
    const lines: string[] = [];
    sock.setEncoding('utf8').on('data', (s: string) => lines.push(...s.split('\n').filter(Boolean)));
    sock.write('{"v":1,"id":3,"cmd":"show"}\n{"v":1,"id":4,"cmd":"monitor"}\n{"v":1,"id":5,"cmd":"show"}\n');
    for (let i = 0; i < 100 && lines.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    await t.sw.add('veth2-vsw');
    for (let i = 0; i < 100 && lines.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    sock.destroy();
    assert.deepEqual(JSON.parse(lines[0]!), { v: 1, id: 3, ok: true, result: { datapath: 'user', ports: [] } });
    assert.deepEqual(JSON.parse(lines[1]!), { v: 1, id: 4, ok: true, part: { subscribed: true } });
    const ev = JSON.parse(lines[2]!) as { id: number; part: MonitorEvent };
    assert.equal(ev.id, 4);
    assert.equal(ev.part.event, 'port-add');
    assert.equal(lines.length, 3, 'no answer to the show sent after monitor');
  });
});
