// Link events: what the switch does when an attached interface disappears,
// goes down (on either end of the veth pair), changes its MTU or its name, or
// joins and leaves a Linux bridge.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  addBridge,
  assertOk,
  fdbEntries,
  type Host,
  Lab,
  portStats,
  showPorts,
  waitFor,
} from '../helpers/lab.js';

const labs: Lab[] = [];
after(async () => {
  for (const lab of labs) await lab.cleanup();
});

const ok = assertOk;

/** A lab with hosts 1..n, all attached to a running switch. */
async function switchWithHosts(n: number): Promise<{ lab: Lab; hosts: Host[] }> {
  const lab = new Lab();
  labs.push(lab);
  const hosts: Host[] = [];
  for (let i = 1; i <= n; i++) hosts.push(lab.addHost(i));
  await lab.startSwitch();
  for (const h of hosts) ok(lab.vswconfig('add', h.port), `add ${h.port}`);
  return { lab, hosts };
}


/**
 * Wait (reading the daemon's stderr as it comes) for a log line, after the
 * first `from` characters of the log, that mentions `port` and matches `re`.
 */
async function waitForLog(lab: Lab, port: string, re: RegExp, what: string, from = 0): Promise<void> {
  const found = (): boolean =>
    lab
      .daemon!.stderr.slice(from)
      .split('\n')
      .some((l) => l.includes(port) && re.test(l));
  await waitFor(what, found, 3000).catch(() => assert.fail(`no log line: ${what}:\n${lab.daemon!.stderr}`));
}

/** Ping, retrying for a few seconds (a link that just came up may take a moment). */
async function pingsWithin(lab: Lab, from: Host, ip: string, ms = 5000): Promise<boolean> {
  return waitFor(`${from.ns} → ${ip}`, () => lab.ping(from, ip, '-c 1 -W 1'), ms).then(
    () => true,
    () => false,
  );
}

function linkOf(lab: Lab, port: string): string | undefined {
  return portStats(lab).get(port)?.link;
}

describe('link events', () => {
  it('an interface deleted while the switch runs leaves show and the FDB, is logged, the others keep forwarding; recreated, it can be added again and forwards', async () => {
    const { lab, hosts } = await switchWithHosts(3);
    const [h1, h2, h3] = hosts as [Host, Host, Host];
    assert.ok(lab.ping(h1, h3.ip), 'h1 → h3');
    assert.ok(lab.ping(h2, h3.ip), 'h2 → h3');
    assert.ok(lab.ping(h1, h2.ip), 'h1 → h2');
    assert.ok(fdbEntries(lab).some((e) => e.port === h3.port && e.mac === h3.mac), 'h3 learned on its port');

    lab.sh(`ip link del ${h3.port}`);
    await waitFor(`${h3.port} to leave show`, () => !showPorts(lab).includes(h3.port));
    assert.deepEqual(showPorts(lab), [h1.port, h2.port]);
    const entries = fdbEntries(lab);
    assert.ok(!entries.some((e) => e.port === h3.port || e.mac === h3.mac), `FDB not flushed: ${JSON.stringify(entries)}`);
    await waitForLog(lab, h3.port, /delet|remov|gone|vanish|disappear/i, `${h3.port} removed`);
    assert.ok(lab.ping(h1, h2.ip), 'h1 → h2 after the deletion');
    assert.ok(lab.ping(h2, h1.ip), 'h2 → h1 after the deletion');

    // The same name again (a new interface, new ifindex, new MAC).
    lab.sh(
      `ip link add ${h3.port} type veth peer name ${h3.ifname} netns ${h3.ns} && ` +
        `ip -n ${h3.ns} addr add ${h3.ip}/16 dev ${h3.ifname} && ip -n ${h3.ns} link set ${h3.ifname} up && ` +
        `ip link set ${h3.port} up`,
    );
    // The other hosts still have h3's old MAC in their ARP caches; a real host would announce itself.
    for (const h of [h1, h2]) lab.sh(`ip -n ${h.ns} neigh flush dev ${h.ifname}`);
    ok(lab.vswconfig('add', h3.port), `add ${h3.port} again`);
    assert.deepEqual(showPorts(lab), [h1.port, h2.port, h3.port]);
    assert.ok(await pingsWithin(lab, h1, h3.ip), 'h1 → the new h3');
    assert.ok(lab.ping(h3, h2.ip), 'the new h3 → h2');
  });

  it('a port set down stays listed, gets nothing, ping to it fails and link down is logged; set up again, ping works and link up is logged', async () => {
    const { lab, hosts } = await switchWithHosts(3);
    const [h1, h2, h3] = hosts as [Host, Host, Host];
    assert.ok(lab.ping(h1, h2.ip), 'h1 → h2 before');
    assert.ok(lab.ping(h1, h3.ip), 'h1 → h3 before');
    assert.equal(linkOf(lab, h2.port), 'up');

    lab.sh(`ip link set ${h2.port} down`);
    await waitFor(`stats to show ${h2.port} down`, () => linkOf(lab, h2.port) === 'down');
    await waitForLog(lab, h2.port, /\bdown\b/i, `${h2.port} link down`);
    assert.deepEqual(showPorts(lab), [h1.port, h2.port, h3.port], 'a down port stays listed');

    const txBefore = portStats(lab).get(h2.port)!.txFrames;
    const rxBefore = lab.stat(h2.ns, h2.ifname, 'rx_packets');
    // Unicast to h2 (h1 has its ARP entry), broadcasts (ARP for an unused address), and h3 → h1 traffic.
    assert.equal(lab.ping(h1, h2.ip, '-c 3 -i 0.2 -W 1'), false, 'ping to a down port must fail');
    lab.ping(h1, `${lab.subnet}.9.9`, '-c 2 -i 0.2 -W 1');
    assert.ok(lab.ping(h3, h1.ip), 'the other ports keep forwarding while one is down');
    assert.equal(portStats(lab).get(h2.port)!.txFrames, txBefore, 'the switch sent frames to a down port');
    assert.equal(lab.stat(h2.ns, h2.ifname, 'rx_packets'), rxBefore, 'the host behind a down port received frames');

    const downLogs = lab.daemon!.stderr.length;
    lab.sh(`ip link set ${h2.port} up`);
    await waitFor(`stats to show ${h2.port} up`, () => linkOf(lab, h2.port) === 'up');
    assert.ok(await pingsWithin(lab, h1, h2.ip), 'h1 → h2 after up');
    assert.ok(lab.ping(h2, h3.ip), 'h2 → h3 after up');
    await waitForLog(lab, h2.port, /\bup\b/i, `${h2.port} link up`, downLogs);
  });

  it('the host side going down (carrier lost on the port) is treated as link down: stats show down, nothing is sent to it', async () => {
    const { lab, hosts } = await switchWithHosts(3);
    const [h1, h2, h3] = hosts as [Host, Host, Host];
    // The root namespace must not send on the port itself (IPv6 MLD/RS), so that
    // its kernel TX counters count only what the switch sends.
    lab.sh(`sysctl -qw net.ipv6.conf.${h2.port}.disable_ipv6=1`);
    assert.ok(lab.ping(h1, h2.ip), 'h1 → h2 before');
    assert.equal(linkOf(lab, h2.port), 'up');

    lab.sh(`ip -n ${h2.ns} link set ${h2.ifname} down`);
    // The port itself stays administratively up: only its carrier is gone.
    assert.match(lab.sh(`ip link show ${h2.port}`), /NO-CARRIER/);
    await waitFor(`stats to show ${h2.port} down`, () => linkOf(lab, h2.port) === 'down');
    await waitForLog(lab, h2.port, /\bdown\b/i, `${h2.port} link down`);
    assert.deepEqual(showPorts(lab), [h1.port, h2.port, h3.port], 'the port stays listed');
    assert.ok(!fdbEntries(lab).some((e) => e.port === h2.port), 'entries on a port without carrier are flushed');

    const txBefore = portStats(lab).get(h2.port)!.txFrames;
    const kernelTxBefore = lab.stat(null, h2.port, 'tx_packets') + lab.stat(null, h2.port, 'tx_dropped');
    assert.equal(lab.ping(h1, h2.ip, '-c 3 -i 0.2 -W 1'), false, 'ping to a port without carrier must fail');
    assert.ok(lab.ping(h3, h1.ip), 'the other ports keep forwarding');
    assert.equal(portStats(lab).get(h2.port)!.txFrames, txBefore, 'the switch sent frames to a port without carrier');
    assert.equal(
      lab.stat(null, h2.port, 'tx_packets') + lab.stat(null, h2.port, 'tx_dropped'),
      kernelTxBefore,
      'frames were transmitted on a port without carrier',
    );

    lab.sh(`ip -n ${h2.ns} link set ${h2.ifname} up`);
    await waitFor(`stats to show ${h2.port} up`, () => linkOf(lab, h2.port) === 'up');
    assert.ok(await pingsWithin(lab, h1, h2.ip), 'h1 → h2 once the carrier is back');
  });

  it('an MTU change on a port is picked up: stats show mtu 1400', async () => {
    const { lab, hosts } = await switchWithHosts(2);
    const [h1] = hosts as [Host, Host];
    assert.equal(portStats(lab).get(h1.port)!.mtu, 1500);
    lab.sh(`ip link set ${h1.port} mtu 1400`);
    await waitFor(`stats to show mtu 1400 on ${h1.port}`, () => portStats(lab).get(h1.port)?.mtu === 1400);
    assert.equal(portStats(lab).get(h1.port)!.link, 'up', 'an MTU change does not take the link down');
  });

  it('a port renamed while attached is listed under its new name, keeps forwarding, and can be deleted by it', async () => {
    const { lab, hosts } = await switchWithHosts(2);
    const [h1, h2] = hosts as [Host, Host];
    assert.ok(lab.ping(h1, h2.ip), 'h1 → h2 before');
    const renamed = `${lab.prefix}r2`;
    // The kernel renames only an interface that is down.
    lab.sh(`ip link set ${h2.port} down`);
    lab.renameLink(h2.port, renamed);
    lab.sh(`ip link set ${renamed} up`);
    await waitFor(`show to list ${renamed}`, () => showPorts(lab).includes(renamed));
    assert.deepEqual(showPorts(lab), [h1.port, renamed]);
    await waitForLog(lab, renamed, /renamed/, `${h2.port} renamed to ${renamed}`);
    await waitFor(`stats to show ${renamed} up`, () => linkOf(lab, renamed) === 'up');
    assert.ok(await pingsWithin(lab, h1, h2.ip), 'h1 → h2 after the rename');
    assert.ok(fdbEntries(lab).some((e) => e.mac === h2.mac && e.port === renamed), 'h2 learned on the renamed port');
    ok(lab.vswconfig('delete', renamed), `delete ${renamed}`);
    assert.deepEqual(showPorts(lab), [h1.port]);
  });

  it('a port that joins a Linux bridge and leaves it (an AF_BRIDGE RTM_DELLINK) stays a port and keeps forwarding', async () => {
    const { lab, hosts } = await switchWithHosts(2);
    const [h1, h2] = hosts as [Host, Host];
    const br = `${lab.prefix}br`;
    addBridge(lab, br);
    lab.sh(`ip link set ${h2.port} master ${br}`);
    lab.sh(`ip link set ${h2.port} nomaster`);
    // Link events are handled in order: once this MTU change shows, the bridge's messages have been seen.
    lab.sh(`ip link set ${h2.port} mtu 1400`);
    await waitFor(`stats to show mtu 1400 on ${h2.port}`, () => portStats(lab).get(h2.port)?.mtu === 1400).catch(() =>
      assert.fail(`${h2.port} is no longer a port:\n${lab.daemon!.stderr}`),
    );
    assert.deepEqual(showPorts(lab), [h1.port, h2.port]);
    assert.ok(await pingsWithin(lab, h1, h2.ip), 'h1 → h2 after the bridge');
  });
});
