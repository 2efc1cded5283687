// Ports: add / show / delete against the real daemon, the port limit, what
// cannot be a port, and what a daemon leaves behind when it stops or crashes.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  addBridge,
  addQuietPairs,
  addTun,
  assertOk,
  fdbEntries,
  labsCleanedAfterAll,
  promiscuity,
  type RunResult,
  showPorts,
  signalDaemon,
  waitFor,
} from '../helpers/lab.js';

const newLab = labsCleanedAfterAll();

const ok = assertOk;

/** A refused command: nonzero exit, one `vswconfig: ` line on stderr mentioning `mention`. */
function refused(r: RunResult, mention: RegExp): void {
  assert.notEqual(r.code, 0, `expected a failure, got exit 0 (stdout ${JSON.stringify(r.stdout)})`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `expected one stderr line, got ${JSON.stringify(r.stderr)}`);
  assert.match(lines[0]!, /^vswconfig: /);
  assert.match(lines[0]!, mention);
}


describe('ports', () => {
  it('add lists ports in the order added and sets promiscuous mode; delete restores it, flushes the FDB and stops traffic while the others keep working', async () => {
    const lab = newLab();
    const [h1, h2, h3] = [lab.addHost(1), lab.addHost(2), lab.addHost(3)];
    await lab.startSwitch();
    for (const h of [h1, h2, h3]) assert.equal(promiscuity(lab, h.port), 0, `${h.port} promiscuous before add`);

    // Not in name order: show must keep the order of the adds.
    for (const h of [h3, h1, h2]) ok(lab.vswconfig('add', h.port), `add ${h.port}`);
    assert.deepEqual(showPorts(lab), [h3.port, h1.port, h2.port]);
    for (const h of [h1, h2, h3]) assert.equal(promiscuity(lab, h.port), 1, `${h.port} promiscuity after add`);

    assert.ok(lab.ping(h1, h2.ip), 'h1 → h2 before delete');
    assert.ok(lab.ping(h1, h3.ip), 'h1 → h3 before delete');
    assert.ok(lab.ping(h2, h3.ip), 'h2 → h3 before delete');
    assert.ok(
      fdbEntries(lab).some((e) => e.mac === h3.mac && e.port === h3.port),
      `fdb should list ${h3.mac} on ${h3.port}`,
    );

    ok(lab.vswconfig('delete', h3.port), `delete ${h3.port}`);
    assert.deepEqual(showPorts(lab), [h1.port, h2.port]);
    assert.equal(promiscuity(lab, h3.port), 0, 'promiscuity of the deleted port');
    assert.equal(promiscuity(lab, h1.port), 1, 'the other ports stay promiscuous');
    assert.equal(promiscuity(lab, h2.port), 1, 'the other ports stay promiscuous');
    const fdb = fdbEntries(lab);
    assert.ok(!fdb.some((e) => e.mac === h3.mac), `fdb still lists ${h3.mac}: ${JSON.stringify(fdb)}`);
    assert.ok(!fdb.some((e) => e.port === h3.port), `fdb still has entries on ${h3.port}`);

    // Nothing reaches the deleted port's host, nothing from it gets through.
    const cap = await lab.capture(h3.ns, h3.ifname, `icmp and src host ${h1.ip}`);
    assert.equal(lab.ping(h1, h3.ip, '-c 2 -i 0.2 -W 1'), false, 'h1 → h3 must fail after delete');
    assert.equal(lab.ping(h3, h2.ip, '-c 2 -i 0.2 -W 1'), false, 'h3 → h2 must fail after delete');
    assert.deepEqual(await cap.stop(), [], 'frames from h1 reached h3 after delete');
    assert.ok(lab.ping(h1, h2.ip), 'h1 → h2 after delete');
    assert.ok(lab.ping(h2, h1.ip), 'h2 → h1 after delete');
  });

  it('24 ports attach and the 25th is refused with an error naming the limit; show still lists exactly 24', async () => {
    const lab = newLab();
    const names = addQuietPairs(lab, 'a', 25);
    await lab.startSwitch();
    for (const n of names.slice(0, 24)) ok(lab.vswconfig('add', n), `add ${n}`);
    assert.deepEqual(showPorts(lab), names.slice(0, 24));

    const last = names[24]!;
    refused(lab.vswconfig('add', last), /\b24\b.*limit|limit.*\b24\b/);
    assert.deepEqual(showPorts(lab), names.slice(0, 24));
    assert.equal(showPorts(lab).length, 24);
    assert.equal(promiscuity(lab, last), 0, 'the refused interface must not be promiscuous');
  });

  it('with --max-ports 2 the third add is refused', async () => {
    const lab = newLab();
    const names = addQuietPairs(lab, 'm', 3);
    await lab.startSwitch(['--max-ports', '2']);
    ok(lab.vswconfig('add', names[0]!), 'first add');
    ok(lab.vswconfig('add', names[1]!), 'second add');
    refused(lab.vswconfig('add', names[2]!), /\b2\b.*limit|limit.*\b2\b/);
    assert.deepEqual(showPorts(lab), names.slice(0, 2));
    assert.equal(promiscuity(lab, names[2]!), 0);
  });

  it('loopback (lo) is refused', async () => {
    const lab = newLab();
    const [p] = addQuietPairs(lab, 'l', 1);
    await lab.startSwitch();
    ok(lab.vswconfig('add', p!), 'add');
    const before = promiscuity(lab, 'lo');
    refused(lab.vswconfig('add', 'lo'), /\blo\b.*loopback/);
    assert.deepEqual(showPorts(lab), [p]);
    assert.equal(promiscuity(lab, 'lo'), before);
  });

  it('a port of a Linux bridge and the bridge itself are refused with one line naming the interface and the bridge; nothing changes', async () => {
    const lab = newLab();
    const [a, b] = addQuietPairs(lab, 'b', 2) as [string, string];
    const br = `${lab.prefix}br`;
    addBridge(lab, br);
    lab.sh(`ip link set ${a} master ${br}`);
    await lab.startSwitch();
    ok(lab.vswconfig('add', b), `add ${b}`);
    const before = [a, br].map((n) => promiscuity(lab, n));
    refused(lab.vswconfig('add', a), new RegExp(`^vswconfig: ${a} is a port of bridge ${br}$`));
    refused(lab.vswconfig('add', br), new RegExp(`^vswconfig: ${br} is a Linux bridge$`));
    assert.deepEqual(showPorts(lab), [b]);
    assert.deepEqual([a, br].map((n) => promiscuity(lab, n)), before, 'promiscuity changed');

    // Out of the bridge, it can be a port.
    lab.sh(`ip link set ${a} nomaster`);
    ok(lab.vswconfig('add', a), `add ${a} once out of the bridge`);
    assert.deepEqual(showPorts(lab), [b, a]);
  });

  // A bond's port is refused the same way (sysfs `master`); this kernel has no
  // bonding driver, so test/unit/daemon-switch.test.ts covers it on a fake sysfs.

  it('an interface that is a port of another running vswitchd is refused naming that daemon; once it is killed (SIGKILL) the interface can be added', async () => {
    const lab = newLab();
    const other = newLab();
    const [a, b] = addQuietPairs(lab, 'x', 2) as [string, string];
    await lab.startSwitch();
    const first = await other.startSwitch();
    ok(other.vswconfig('add', a), `add ${a} to the other daemon`);
    refused(
      lab.vswconfig('add', a),
      new RegExp(`^vswconfig: ${a} is a port of another vswitchd \\(pid ${first.proc.pid}, control socket ${other.socket}\\)$`),
    );
    ok(lab.vswconfig('add', b), `add ${b}`);
    assert.deepEqual(showPorts(lab), [b]);
    assert.equal(promiscuity(lab, a), 1, 'promiscuous once, for the other daemon');

    assert.equal(await signalDaemon(first, 'SIGKILL'), null);
    ok(lab.vswconfig('add', a), `add ${a} once the other daemon is dead`);
    assert.deepEqual(showPorts(lab), [b, a]);
  });

  it('a non-Ethernet interface (a tun device) is refused', async () => {
    const lab = newLab();
    const tun = `${lab.prefix}tun`;
    addTun(lab, tun);
    assert.notEqual(lab.sh(`cat /sys/class/net/${tun}/type`).trim(), '1', 'a tun device is not ARPHRD_ETHER');
    await lab.startSwitch();
    refused(lab.vswconfig('add', tun), new RegExp(`${tun}.*Ethernet|Ethernet.*${tun}`, 'i'));
    assert.deepEqual(showPorts(lab), []);
    assert.equal(promiscuity(lab, tun), 0);
  });

  it('a refused add leaves nothing behind: promiscuity and show unchanged, the slot still free', async () => {
    const lab = newLab();
    const [a, b, c] = addQuietPairs(lab, 'f', 3) as [string, string, string];
    const tun = `${lab.prefix}tun`;
    addTun(lab, tun);
    // One interface already promiscuous for someone else: its count must not move.
    lab.sh(`ip link set ${c} promisc on`);
    await lab.startSwitch(['--max-ports', '2']);
    ok(lab.vswconfig('add', a), `add ${a}`);
    ok(lab.vswconfig('add', b), `add ${b}`);

    const snapshot = (): Record<string, number> =>
      Object.fromEntries([a, b, c, tun, 'lo'].map((n) => [n, promiscuity(lab, n)]));
    const before = snapshot();
    assert.deepEqual(before, { [a]: 1, [b]: 1, [c]: 1, [tun]: 0, lo: before['lo']! });

    for (const [args, why] of [
      [['add', c], 'port limit'],
      [['add', a], 'already a port'],
      [['add', 'lo'], 'loopback'],
      [['add', tun], 'not Ethernet'],
      [['add', `${lab.prefix}none`], 'no such interface'],
    ] as const) {
      const r = lab.vswconfig(...args);
      assert.notEqual(r.code, 0, `${why}: add should fail`);
      assert.deepEqual(snapshot(), before, `${why}: promiscuity changed`);
      assert.deepEqual(showPorts(lab), [a, b], `${why}: show changed`);
    }

    // The refused adds did not use up a slot.
    ok(lab.vswconfig('delete', b), `delete ${b}`);
    ok(lab.vswconfig('add', c), `add ${c} once a slot is free`);
    assert.deepEqual(showPorts(lab), [a, c]);
    assert.equal(promiscuity(lab, c), 2);
    assert.equal(promiscuity(lab, b), 0);
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} with ports attached: exit 0, the log says the ports were detached, promiscuity restored, socket removed`, async () => {
      const lab = newLab();
      const hosts = [lab.addHost(1), lab.addHost(2), lab.addHost(3)];
      // Promiscuous for someone else before the switch: must stay so (1), not drop to 0.
      lab.sh(`ip link set ${hosts[2]!.port} promisc on`);
      const before = hosts.map((h) => promiscuity(lab, h.port));
      assert.deepEqual(before, [0, 0, 1]);
      const d = await lab.startSwitch();
      for (const h of hosts) ok(lab.vswconfig('add', h.port), `add ${h.port}`);
      assert.deepEqual(
        hosts.map((h) => promiscuity(lab, h.port)),
        [1, 1, 2],
      );
      assert.ok(lab.ping(hosts[0]!, hosts[1]!.ip), 'forwarding before the signal');
      assert.ok(existsSync(lab.socket));

      const code = await signalDaemon(d, signal);
      assert.equal(code, 0, `exit code after ${signal}; log:\n${d.stderr}`);
      assert.deepEqual(
        hosts.map((h) => promiscuity(lab, h.port)),
        before,
        'promiscuity after stop',
      );
      assert.equal(existsSync(lab.socket), false, 'socket file left behind');

      const at = d.stderr.indexOf(signal);
      assert.ok(at >= 0, `the log does not mention ${signal}:\n${d.stderr}`);
      // Either a line per port (or one naming them all), or one line giving their number.
      const lines = d.stderr.slice(at).split('\n');
      const says = (l: string): boolean => /detach|delet|remov/i.test(l);
      const named = hosts.every((h) => lines.some((l) => l.includes(h.port) && says(l)));
      const counted = lines.some((l) => says(l) && /\b3 ports\b/.test(l));
      assert.ok(named || counted, `the shutdown log does not say the 3 ports were detached:\n${d.stderr}`);
    });
  }

  it('a crashed daemon (SIGKILL) leaves no promiscuity behind', async () => {
    const lab = newLab();
    const hosts = [lab.addHost(1), lab.addHost(2)];
    lab.sh(`ip link set ${hosts[1]!.port} promisc on`);
    const d = await lab.startSwitch();
    for (const h of hosts) ok(lab.vswconfig('add', h.port), `add ${h.port}`);
    assert.deepEqual(
      hosts.map((h) => promiscuity(lab, h.port)),
      [1, 2],
    );
    assert.ok(lab.ping(hosts[0]!, hosts[1]!.ip));

    assert.equal(await signalDaemon(d, 'SIGKILL'), null);
    assert.equal(d.proc.signalCode, 'SIGKILL');
    // The memberships die with the sockets; the kernel may finish closing them a moment after the exit.
    await waitFor('promiscuity back to 0 and 1', () => promiscuity(lab, hosts[0]!.port) === 0 && promiscuity(lab, hosts[1]!.port) === 1, 3000).catch(
      () => undefined,
    );
    assert.deepEqual(
      hosts.map((h) => promiscuity(lab, h.port)),
      [0, 1],
      'promiscuity after SIGKILL',
    );
  });
});
