// A port's frames belong to the switch: while an interface is a port, nothing
// arriving on it reaches the host's own stack (IPv4, ARP, IPv6/ND), as on a
// Linux bridge port; detaching it, stopping vswitchd or kill -9 gives the
// interface back as it was. Each test first shows that the host does answer
// through the interface when it is not a port, so that it can fail.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  assertOk,
  type Host,
  type Lab,
  labsCleanedAfterAll,
  portStats,
  promiscuity,
  run,
  signalDaemon,
  TEST_ATTACH,
  vswitchTcFilters,
  waitFor,
} from '../helpers/lab.js';

const newLab = labsCleanedAfterAll();

/**
 * A subnet of each lab's own: the host gets a route to each lab's hosts, and
 * routes are shared by everything on the host (another run of these tests too).
 */
const subnetsTaken = new Set<number>();
function ownSubnet(): string {
  // Labs are removed after the whole file: two of its labs on one subnet would add the same route twice.
  for (;;) {
    const n = 100 + Math.floor(Math.random() * 150);
    if (subnetsTaken.has(n) || run('ip', ['route', 'show', 'root', `10.${n}.0.0/16`]).stdout.trim() !== '') continue;
    subnetsTaken.add(n);
    return `10.${n}`;
  }
}

/** The address the host takes on the port side of host h's veth pair (a /32, routed back to h only, in the lab's own subnet). */
function hostSideIp(lab: Lab, h: Host): string {
  return `${lab.subnet}.250.${h.n}`;
}

/** Gives the port side of h's veth an IPv4 address with a route to h, and waits for its IPv6 link-local address. */
async function giveHostAddresses(lab: Lab, h: Host): Promise<{ ip: string; ll: string }> {
  const ip = hostSideIp(lab, h);
  lab.sh(`ip addr add ${ip}/32 dev ${h.port} && ip route add ${h.ip}/32 dev ${h.port} src ${ip}`);
  const ll: string = await waitFor(`a usable link-local address on ${h.port}`, () => {
    const out = lab.sh(`ip -6 addr show dev ${h.port} scope link`);
    return /tentative/.test(out) ? '' : (/inet6 (fe80::[0-9a-f:]+)\//.exec(out)?.[1] ?? '');
  }, 10_000);
  // h pings from its own link-local address, which must have passed DAD too.
  await waitFor(`a usable link-local address on ${h.ifname}`, () => {
    const out = lab.inNs(h.ns, `ip -6 addr show dev ${h.ifname} scope link`);
    return /inet6 fe80::/.test(out) && !/tentative/.test(out);
  }, 10_000);
  return { ip, ll };
}

/** Does the host answer h through h's own link: IPv4 ping (with ARP) and IPv6 ping (with ND)? */
function hostAnswers(lab: Lab, h: Host, a: { ip: string; ll: string }): { v4: boolean; v6: boolean } {
  // Forget what ARP/ND learned, both sides, so that each ping needs them again.
  lab.sh(`ip neigh flush dev ${h.port}`);
  lab.inNs(h.ns, `ip neigh flush dev ${h.ifname}`);
  const ping = (args: string[]): boolean => run('ip', ['netns', 'exec', h.ns, 'ping', '-c', '1', '-W', '1', ...args]).code === 0;
  return { v4: ping([a.ip]), v6: ping(['-6', `${a.ll}%${h.ifname}`]) };
}

/** Neighbour entries the host holds on the port for h's MAC (what ARP or ND taught it). */
function hostKnows(lab: Lab, h: Host): boolean {
  return lab.sh(`ip neigh show dev ${h.port}`).includes(h.mac);
}

/** tcx links vswitchd holds: their ids and interfaces (from its file descriptors' fdinfo). */
function tcxLinks(pid: number): { id: number; ifindex: number }[] {
  const found: { id: number; ifindex: number }[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    if (!/^link_type:\s+tcx$/m.test(info)) continue;
    found.push({ id: Number(/^link_id:\s+(\d+)$/m.exec(info)?.[1]), ifindex: Number(/^ifindex:\s+(\d+)$/m.exec(info)?.[1]) });
  }
  return found;
}

/**
 * The interfaces among `ports` the daemon has a program on: with tcx, those of
 * its links; with --attach tc (VSWITCH_TEST_ATTACH), those with its tc filter.
 */
function programPorts(pid: number, ports: string[]): string[] {
  if (TEST_ATTACH === 'tc') return ports.filter((p) => vswitchTcFilters(p).length === 1);
  const linked = tcxLinks(pid).map((l) => l.ifindex);
  return ports.filter((p) => linked.includes(Number(readFileSync(`/sys/class/net/${p}/ifindex`, 'utf8'))));
}

/** Ids of every BPF link of the machine (`bpftool -j link show`). */
function bpfLinkIds(lab: Lab): number[] {
  return (JSON.parse(lab.sh('bpftool -j link show')) as { id: number }[]).map((l) => l.id);
}

describe('host isolation', () => {
  it("nothing arriving on a port reaches the host's stack (IPv4, ARP, IPv6/ND), and delete gives the interface back", async () => {
    const lab = newLab(ownSubnet());
    const [h1, h2] = [lab.addHost(1), lab.addHost(2)];
    const a = await giveHostAddresses(lab, h1);
    assert.deepEqual(hostAnswers(lab, h1, a), { v4: true, v6: true }, 'the host answers h1 before h1 is a port');

    const d = await lab.startSwitch();
    for (const h of [h1, h2]) assertOk(lab.vswconfig('add', h.port), `add ${h.port}`);
    assert.deepEqual(programPorts(d.proc.pid!, [h1.port, h2.port]), [h1.port, h2.port], 'ports with the program');

    lab.sh(`ip neigh flush dev ${h1.port}`);
    assert.deepEqual(hostAnswers(lab, h1, a), { v4: false, v6: false }, 'the host answers h1 through a port');
    assert.equal(hostKnows(lab, h1), false, 'ARP or ND from h1 reached the host');
    // The switch itself still gets every frame.
    assert.ok(lab.ping(h1, h2.ip), 'h1 → h2 through the switch');
    assert.ok(lab.ping(h1, h2.ip6), 'h1 → h2 over IPv6 through the switch');

    assertOk(lab.vswconfig('delete', h1.port), `delete ${h1.port}`);
    assert.deepEqual(programPorts(d.proc.pid!, [h1.port, h2.port]), [h2.port], 'ports with the program after delete');
    await waitFor('the host answers h1 again once it is no port', () => {
      const r = hostAnswers(lab, h1, a);
      return r.v4 && r.v6;
    });
  });

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`after ${signal} the host answers through every former port again`, async () => {
      const lab = newLab(ownSubnet());
      const [h1, h2] = [lab.addHost(1), lab.addHost(2)];
      const addrs = [await giveHostAddresses(lab, h1), await giveHostAddresses(lab, h2)];
      const d = await lab.startSwitch();
      for (const h of [h1, h2]) assertOk(lab.vswconfig('add', h.port), `add ${h.port}`);
      assert.deepEqual(hostAnswers(lab, h1, addrs[0]!), { v4: false, v6: false }, 'the host answers h1 through a port');

      await signalDaemon(d, signal);
      for (const [i, h] of [h1, h2].entries()) {
        // The kernel releases the links as it closes the dead process's files.
        await waitFor(`the host answers ${h.port} again`, () => {
          const r = hostAnswers(lab, h, addrs[i]!);
          return r.v4 && r.v6;
        }, 5_000);
      }
    });
  }
  it('kill -9 under iperf3 TCP: no BPF link or tc filter of the daemon survives, promiscuity is restored and the host answers again', async () => {
    const lab = newLab('10.86');
    const hosts = [lab.addHost(1), lab.addHost(2)] as const;
    const [h1, h2] = hosts;
    const addrs = [await giveHostAddresses(lab, h1), await giveHostAddresses(lab, h2)];
    const promisc0 = hosts.map((h) => promiscuity(lab, h.port));
    const d = await lab.startSwitch();
    for (const h of hosts) assertOk(lab.vswconfig('add', h.port), `add ${h.port}`);

    const ports = hosts.map((h) => h.port);
    assert.deepEqual(programPorts(d.proc.pid!, ports), ports, 'ports with the daemon\'s program');
    const ids = tcxLinks(d.proc.pid!).map((l) => l.id);
    assert.deepEqual(bpfLinkIds(lab).filter((id) => ids.includes(id)).sort(), [...ids].sort(), 'bpftool lists the daemon\'s links');
    hosts.forEach((h, i) => assert.ok(promiscuity(lab, h.port) > promisc0[i]!, `${h.port} is not promiscuous while a port`));

    const srv = lab.spawn('ip', ['netns', 'exec', h2.ns, 'iperf3', '-s', '-1', '-p', '5201']);
    await waitFor('iperf3 to listen', () => lab.inNs(h2.ns, 'ss -Hltn sport = :5201').trim() !== '', 10_000);
    const client = lab.spawn('ip', ['netns', 'exec', h1.ns, 'iperf3', '-c', h2.ip, '-p', '5201', '-t', '60']);
    try {
      // Under traffic: the switch is forwarding the stream when it dies.
      await waitFor('the switch to forward 5000 frames of the stream', () => (portStats(lab).get(h2.port)?.txFrames ?? 0) > 5000, 10_000);
      assert.equal(client.exitCode, null, 'iperf3 stopped before the kill');

      await signalDaemon(d, 'SIGKILL');
      assert.equal(d.proc.signalCode, 'SIGKILL');

      await waitFor('the daemon\'s BPF links to be gone', () => !bpfLinkIds(lab).some((id) => ids.includes(id)), 5_000);
      // With --attach tc its watchdog removes the filters (and the clsact qdiscs it made) as the daemon dies.
      await waitFor('the daemon\'s tc filters to be gone', () => ports.every((p) => vswitchTcFilters(p).length === 0), 5_000);
      // With tcx this shows that nothing was left at ingress the older way either.
      for (const h of hosts) assert.equal(lab.sh(`tc filter show dev ${h.port} ingress`).trim(), '', `tc filters on ${h.port}`);
      for (const h of hosts) assert.doesNotMatch(lab.sh(`tc qdisc show dev ${h.port}`), /clsact/, `a clsact qdisc left on ${h.port}`);
      for (const [i, h] of hosts.entries()) {
        await waitFor(`promiscuity ${promisc0[i]} on ${h.port}`, () => promiscuity(lab, h.port) === promisc0[i], 5_000);
        await waitFor(`the host answers ${h.port} again`, () => {
          const r = hostAnswers(lab, h, addrs[i]!);
          return r.v4 && r.v6;
        }, 5_000);
      }
    } finally {
      client.kill('SIGKILL');
      srv.kill('SIGKILL');
    }
  });
});
