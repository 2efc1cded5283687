// The hosts mode's network (npm run bench -- --hosts): two hosts and a tenant
// on each, every name starting with the run's prefix <P>.
//
//   <P>TA  tenant A: <P>tA (10.R.T+2.1/24, MAC 02:b1:xx:xx:00:01)
//    |        its port <P>tA-p in host A
//   <P>HA  host A: <P>ul 10.R.T.1/24 ──── underlay veth ──── <P>ul 10.R.T.2/24  <P>HB  host B
//          <P>wgA 10.R.T+1.1/24 (wireguard-go)          <P>wgB 10.R.T+1.2/24 (wireguard-go)
//                                                             |  port <P>tB-p
//                                                            <P>TB  tenant B: <P>tB (….2)
//
// 10.R.T is picked per run. A switch on each host (host-pair.ts) joins its
// tenant's port to a VXLAN tunnel whose endpoints are the underlay addresses
// (plain) or the WireGuard ones (wireguard: the VXLAN packets are routed into
// WireGuard, and only its UDP crosses the underlay). wireguard-go runs for
// the whole run; its control socket is /var/run/wireguard/NAME.sock whatever
// the namespace, hence interface names of the run's own.

import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BenchError, check, onCleanup, runSync, sleep, start } from './proc.js';
import type { Underlay } from './report.js';
import { type Host, Namespaces, newNamespace, type Site, uniquePrefix } from './topology.js';

/** The underlay link's MTU; WireGuard over IPv4 takes 60 bytes of it, VXLAN 50 more. */
const UNDERLAY_MTU = 1500;
const WG_MTU = UNDERLAY_MTU - 60;
const VXLAN_OVERHEAD = 50;
const WG_PORT = 51820;
const WG_SOCKDIR = '/var/run/wireguard';

export interface HostNode {
  side: 'A' | 'B';
  ns: string;
  /** its tenant (a Host of the measures: n 1 for A, 2 for B) */
  tenant: Host;
  ulIp: string;
  wgIf: string;
  wgIp: string;
}

/** One end of the tunnel over an underlay: its address, the other's, and the interface under it. */
export interface Endpoint {
  local: string;
  remote: string;
  dev: string;
  /** the tunnel's MTU, and so the tenants' */
  mtu: number;
}

export class TwoHosts extends Namespaces {
  readonly a: HostNode;
  readonly b: HostNode;
  readonly ulIf: string;

  private constructor(
    readonly prefix: string,
    net: string,
  ) {
    super();
    this.ulIf = `${prefix}ul`;
    const r = () => Math.floor(Math.random() * 256).toString(16).padStart(2, '0');
    const macBase = `02:b1:${r()}:${r()}:00`;
    const [o1, o2, o3] = net.split('.').map(Number);
    const node = (side: 'A' | 'B', n: number): HostNode => ({
      side,
      ns: `${prefix}H${side}`,
      tenant: { n, ns: `${prefix}T${side}`, ifname: `${prefix}t${side}`, port: `${prefix}t${side}-p`, ip: `${o1}.${o2}.${o3! + 2}.${n}`, mac: `${macBase}:0${n}` },
      ulIp: `${net}.${n}`,
      wgIf: `${prefix}wg${side}`,
      wgIp: `${o1}.${o2}.${o3! + 1}.${n}`,
    });
    this.a = node('A', 1);
    this.b = node('B', 2);
    this.hosts.push(this.a.tenant, this.b.tenant);
  }

  /** Build both hosts, their tenants and WireGuard; everything is removed by cleanupAll(). */
  static async create(dir: string, log: (s: string) => void): Promise<TwoHosts> {
    const prefix = await uniquePrefix();
    // three /24s of 10.R: the underlay, WireGuard, the tenants
    const net = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 253)}`;
    const t = new TwoHosts(prefix, net);
    const nodes = [t.a, t.b];
    for (const h of nodes) {
      if (existsSync(join(WG_SOCKDIR, `${h.wgIf}.sock`))) throw new BenchError(`${WG_SOCKDIR}/${h.wgIf}.sock exists: a WireGuard interface ${h.wgIf} runs already`);
    }
    const all = nodes.flatMap((h) => [h.tenant.ns, h.ns]);
    onCleanup(`namespaces ${prefix}*`, () => {
      for (const ns of all) runSync('ip', ['netns', 'del', ns]);
    });
    const lines = ['set -e'];
    for (const h of nodes) lines.push(...newNamespace(h.ns, true), ...newNamespace(h.tenant.ns));
    lines.push(`ip -n ${t.a.ns} link add ${t.ulIf} mtu ${UNDERLAY_MTU} type veth peer name ${t.ulIf} mtu ${UNDERLAY_MTU} netns ${t.b.ns}`);
    for (const h of nodes) {
      const tn = h.tenant;
      lines.push(
        `ip -n ${h.ns} addr add ${h.ulIp}/24 dev ${t.ulIf}`,
        `ip -n ${h.ns} link set ${t.ulIf} up`,
        `ip -n ${tn.ns} link add ${tn.ifname} address ${tn.mac} type veth peer name ${tn.port} netns ${h.ns}`,
        `ip -n ${tn.ns} addr add ${tn.ip}/24 dev ${tn.ifname}`,
        `ip -n ${tn.ns} link set ${tn.ifname} up`,
        `ip -n ${h.ns} link set ${tn.port} up`,
      );
    }
    log(`hosts: namespaces ${t.a.ns} and ${t.b.ns} (underlay ${net}.0/24), tenants ${t.a.tenant.ns} and ${t.b.tenant.ns}`);
    await check('building the hosts', 'bash', ['-c', lines.join('\n')], { timeoutMs: 60_000 });
    await t.watch(all);
    for (const h of nodes) await t.operUp(h.ns, t.ulIf);
    await t.startWireGuard(dir);
    return t;
  }

  /**
   * Wait until `ifname` is operationally up, not only up with a carrier: the
   * kernel sets that state later (linkwatch, seconds later here when other
   * work holds the rtnl lock), and until then vswitchd's `tunnel add … local`
   * does not see the address (node's os.networkInterfaces() leaves out an
   * interface that is not IFF_RUNNING).
   */
  private async operUp(ns: string, ifname: string): Promise<void> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const r = await this.inNs(ns, 'cat', [`/sys/class/net/${ifname}/operstate`]);
      if (r.stdout.trim() === 'up') return;
      if (Date.now() > deadline) throw new BenchError(`${ifname} in ${ns} is not up after 15 s (operstate ${r.stdout.trim() || r.stderr.trim()})`);
      await sleep(100);
    }
  }

  /** wireguard-go in each host, the other host its one peer (keys in `dir`). */
  private async startWireGuard(dir: string): Promise<void> {
    const nodes = [this.a, this.b];
    const pub = new Map<HostNode, string>();
    for (const h of nodes) {
      const key = join(dir, `${h.wgIf}.key`);
      writeFileSync(key, (await check('wg genkey', 'wg', ['genkey'])).trim() + '\n', { mode: 0o600 });
      pub.set(h, (await check('wg pubkey', 'sh', ['-c', 'wg pubkey < "$1"', 'sh', key])).trim());
      const sock = join(WG_SOCKDIR, `${h.wgIf}.sock`);
      // -f: in the foreground, so that it is tracked and stopped like every process of the run
      const p = start(`wireguard-go ${h.wgIf}`, 'ip', ['netns', 'exec', h.ns, 'wireguard-go', '-f', h.wgIf]);
      // it removes its socket when stopped; not when killed
      onCleanup(`${sock}`, () => rmSync(sock, { force: true }));
      const deadline = Date.now() + 5000;
      while (!existsSync(sock)) {
        if (p.code !== null || Date.now() > deadline) throw new BenchError(`wireguard-go ${h.wgIf} did not start: ${(p.stderr || p.stdout).trim().split('\n').pop() ?? ''}`);
        await sleep(50);
      }
    }
    for (const [h, o] of [[this.a, this.b], [this.b, this.a]] as const) {
      const lines = [
        'set -e',
        `wg set ${h.wgIf} listen-port ${WG_PORT} private-key ${join(dir, `${h.wgIf}.key`)} peer ${pub.get(o)!} endpoint ${o.ulIp}:${WG_PORT} allowed-ips ${o.wgIp}/32`,
        `ip -n ${h.ns} addr add ${h.wgIp}/24 dev ${h.wgIf}`,
        `ip -n ${h.ns} link set ${h.wgIf} mtu ${WG_MTU} up`,
      ];
      await check(`WireGuard on ${h.ns}`, 'bash', ['-c', lines.join('\n')]);
    }
  }

  /** Host `h`'s end of the tunnel over `underlay`. */
  endpoint(h: HostNode, underlay: Underlay): Endpoint {
    const o = h === this.a ? this.b : this.a;
    return underlay === 'plain'
      ? { local: h.ulIp, remote: o.ulIp, dev: this.ulIf, mtu: UNDERLAY_MTU - VXLAN_OVERHEAD }
      : { local: h.wgIp, remote: o.wgIp, dev: h.wgIf, mtu: WG_MTU - VXLAN_OVERHEAD };
  }

  /** The tenants and their ports at the tunnel's MTU: the switches do not fragment, TCP sizes its segments to it. */
  async tenantMtu(mtu: number): Promise<void> {
    const lines = ['set -e'];
    for (const h of [this.a, this.b]) lines.push(`ip -n ${h.tenant.ns} link set ${h.tenant.ifname} mtu ${mtu}`, `ip -n ${h.ns} link set ${h.tenant.port} mtu ${mtu}`);
    await check('tenant MTU', 'bash', ['-c', lines.join('\n')]);
  }

  /** Where host h's switch runs, with `ports` (its tenant's port and, for the bridge, the vxlan device). */
  site(h: HostNode, ports: readonly string[]): Site {
    return { net: this, ns: h.ns, ports, prefix: this.prefix };
  }
}
