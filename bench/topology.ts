// The benchmark's network: the article's topology, grown to 24 hosts.
//
//   <P>NS1 … <P>NS24   one host each: <P>vethN (192.168.100.(100+N)/24, a fixed
//                      MAC 02:b0:xx:xx:00:NN), IPv6 off so hosts stay silent
//   <P>SW              the switch side: <P>vethN-vsw, the peer of each host's
//                      interface; vswitchd, the Linux bridge and Open vSwitch
//                      all run here, one at a time
//
// <P> is 'b' + 4 random characters, unique to the run. Keeping the switch
// side in a namespace of its own (instead of the root namespace, as the
// article does) keeps every frame inside namespaces the run made, and lets the
// run turn br_netfilter off for its bridge (bridge-nf-call-* are per
// namespace) without touching the system's settings. Deleting the namespaces
// removes every interface.

import { readFileSync } from 'node:fs';
import { BenchError, check, onCleanup, type Proc, run, runSync, sleep, start } from './proc.js';
import { type DevCounters, readNetDev } from './stats.js';

export interface Host {
  n: number;
  ns: string;
  /** The host's interface, inside its namespace. */
  ifname: string;
  /** Its peer, a port of the switch, in the switch namespace. */
  port: string;
  ip: string;
  mac: string;
}

export const SUBNET = '192.168.100';

function randomPrefix(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let s = 'b';
  for (let i = 0; i < 4; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
  return s;
}

async function existingNamespaces(): Promise<string[]> {
  const r = await run('ip', ['netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

/**
 * Shell lines that make namespace `ns`: loopback up, IPv6 off (its hosts stay
 * silent), and where a Linux bridge will run, br_netfilter off: its switches
 * are per namespace (on by default in a new one when the module is loaded, as
 * here), and off the bridge bridges only, without touching the system's settings.
 */
export function newNamespace(ns: string, bridge = false): string[] {
  const nf = bridge ? `for f in /proc/sys/net/bridge/bridge-nf-call-*; do [ -e "$f" ] && echo 0 > "$f"; done; ` : '';
  return [
    `ip netns add ${ns}`,
    `ip -n ${ns} link set lo up`,
    `ip netns exec ${ns} sh -c '${nf}sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1'`,
  ];
}

/** Where a switch runs: a namespace of the run, the interfaces it takes as ports, and the run's prefix for names of its own. */
export interface Site {
  net: Namespaces;
  ns: string;
  ports: readonly string[];
  prefix: string;
}

/** A prefix for the run's names, 'b' + 4 random characters, that no namespace starts with. */
export async function uniquePrefix(): Promise<string> {
  const taken = await existingNamespaces();
  let prefix = randomPrefix();
  while (taken.some((n) => n.startsWith(prefix))) prefix = randomPrefix();
  return prefix;
}

/**
 * Namespaces the run made, with hosts in some of them: counters of their
 * interfaces and commands inside them. Topology (the star of 24 hosts) and
 * the hosts mode's two hosts (hosts.ts) are both one.
 */
export class Namespaces {
  readonly hosts: Host[] = [];
  private readonly sleepers = new Map<string, Proc>();

  /**
   * One idle process per namespace: /proc/PID/net/dev then gives that
   * namespace's interface counters without starting a process per reading.
   */
  protected async watch(namespaces: readonly string[]): Promise<void> {
    for (const ns of namespaces) this.sleepers.set(ns, start(`sleep in ${ns}`, 'ip', ['netns', 'exec', ns, 'sleep', 'infinity']));
    const deadline = Date.now() + 10_000;
    for (const [ns, p] of this.sleepers) {
      for (;;) {
        let comm = '';
        try {
          comm = readFileSync(`/proc/${p.pid}/comm`, 'utf8').trim();
        } catch {
          throw new BenchError(`could not start a process in namespace ${ns}: ${p.stderr.trim()}`);
        }
        if (comm === 'sleep') break;
        if (Date.now() > deadline) throw new BenchError(`could not start a process in namespace ${ns}`);
        await sleep(10);
      }
    }
  }

  host(n: number): Host {
    const h = this.hosts[n - 1];
    if (!h) throw new Error(`no host ${n}`);
    return h;
  }

  /** Counters of every interface in namespace ns. */
  netDev(ns: string): Map<string, DevCounters> {
    const p = this.sleepers.get(ns);
    if (!p) throw new Error(`no namespace ${ns}`);
    return readNetDev(p.pid);
  }

  /** Counters of a host's own interface. */
  hostDev(h: Host): DevCounters {
    const c = this.netDev(h.ns).get(h.ifname);
    if (!c) throw new BenchError(`interface ${h.ifname} has vanished from ${h.ns}`);
    return c;
  }

  /** Run a command inside a namespace. */
  inNs(ns: string, cmd: string, args: readonly string[], timeoutMs = 30_000) {
    return run('ip', ['netns', 'exec', ns, cmd, ...args], { timeoutMs });
  }

  /** Ping until answered (the switch learns both hosts); false after timeoutMs. */
  async pingUntilAnswered(from: Host, to: Host, timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const r = await this.inNs(from.ns, 'ping', ['-n', '-c', '1', '-W', '1', to.ip], 5000);
      if (r.code === 0) return true;
      await sleep(100);
    }
    return false;
  }
}

export class Topology extends Namespaces {
  readonly sw: string;

  private constructor(
    readonly prefix: string,
    readonly macBase: string,
  ) {
    super();
    this.sw = `${prefix}SW`;
  }

  /** Build the namespaces and veth pairs; everything is removed by cleanupAll(). */
  static async create(nHosts: number, log: (s: string) => void): Promise<Topology> {
    const prefix = await uniquePrefix();
    const r = () => Math.floor(Math.random() * 256).toString(16).padStart(2, '0');
    const topo = new Topology(prefix, `02:b0:${r()}:${r()}:00`);
    for (let n = 1; n <= nHosts; n++) {
      topo.hosts.push({
        n,
        ns: `${prefix}NS${n}`,
        ifname: `${prefix}veth${n}`,
        port: `${prefix}veth${n}-vsw`,
        ip: `${SUBNET}.${100 + n}`,
        mac: `${topo.macBase}:${n.toString(16).padStart(2, '0')}`,
      });
    }
    const all = [topo.sw, ...topo.hosts.map((h) => h.ns)];
    onCleanup(`namespaces ${prefix}*`, () => {
      for (const ns of all) runSync('ip', ['netns', 'del', ns]);
    });

    const lines = ['set -e', ...newNamespace(topo.sw, true)];
    for (const h of topo.hosts) {
      lines.push(
        ...newNamespace(h.ns),
        `ip -n ${topo.sw} link add ${h.port} type veth peer name ${h.ifname} address ${h.mac} netns ${h.ns}`,
        `ip -n ${h.ns} addr add ${h.ip}/24 dev ${h.ifname}`,
        `ip -n ${h.ns} link set ${h.ifname} up`,
        `ip -n ${topo.sw} link set ${h.port} up`,
      );
    }
    log(`topology: namespaces ${topo.sw}, ${topo.hosts[0]!.ns}…${topo.hosts[nHosts - 1]!.ns}`);
    await check('building the namespaces', 'bash', ['-c', lines.join('\n')], { timeoutMs: 60_000 });

    await topo.watch(all);
    return topo;
  }

  /** The switch namespace with every host's port. */
  get site(): Site {
    return { net: this, ns: this.sw, ports: this.hosts.map((h) => h.port), prefix: this.prefix };
  }
}
