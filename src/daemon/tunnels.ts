// VXLAN tunnel ports: a Linux vxlan device in flood-and-learn mode, one
// head-end replication entry per remote, attached to the switch as a port.
// The device does the per-remote work: it sends an unknown, broadcast or
// multicast frame to every remote once, learns which remote each MAC is
// behind, and sends a frame to a learned MAC to that remote only; the switch
// sees one port.
//
// add() checks everything it can before it creates anything (the spec, the
// name, the remotes are not this host's, an underlay carries them), then
// creates the device, its entries and the port in that order, and undoes
// what it made if a later step fails. The tunnel's MTU is its underlay's minus
// the encapsulation (50 bytes over IPv4, 70 over IPv6); a port with a larger
// MTU is logged, and `tunnel show` lists it with the MTU to set.
//
// Requests come one at a time (control/server.ts queues them), so nothing
// here races another request.
//
// A tunnel is its port: the registry (switch.ts) keeps its spec with the port,
// so a renamed port renames the tunnel, a deleted device takes the tunnel with
// its port, and `tunnel show` gives the port's VLAN mode as it is now.
//
// With --db the tunnel is written to the file (ConfigStore.commitTunnel) before its
// device is made, and restore() makes it again at the next start. Each device
// is marked as vswitchd's with the alias TUNNEL_ALIAS. vswitchd deletes its
// devices when it stops; one killed (kill -9, a crash) leaves them, so at
// restore a device of the tunnel's name that is a vxlan device with that alias,
// VNI and UDP port, in no bridge and no other vswitchd's port, is deleted and
// made anew from the file. Any other interface of that name is never touched:
// the tunnel is logged and dropped. Without --db a leftover is an interface
// like any other, and `tunnel add` of its name is refused (name in use).

import { networkInterfaces } from 'node:os';
import type { TunnelAddRequest } from '../control/requests.js';
import type { MtuWarning, TunnelResult, TunnelShowResult } from '../control/results.js';
import { interfaceHolder, readInterface, SYSFS_NET } from '../os/sysfs.js';
import { addressBytes, endpointFamily, tunnelSpecProblem, VXLAN_PORT } from '../control/tunnel-spec.js';
import { VswError } from '../errors.js';
import { type DbTunnel, tunnelSpecOf } from './db.js';
import * as libc from '../native/libc.js';
import { openRtnetlink } from '../os/rtnetlink.js';
import type { Logger } from './log.js';
import type { Port, PortTunnel } from './registry.js';
import type { Switch } from './switch.js';
import { askExtendedAcks } from '../os/netlink.js';
import {
  appendRemoteRequest,
  delLinkRequest,
  getLinkRequest,
  getRouteRequest,
  type LinkReply,
  newVxlanRequest,
  type Reply,
  RTN_LOCAL,
  rtnlTalk,
  setAliasRequest,
  type VxlanLink,
} from '../os/tunnel-netlink.js';

/** The alias of every vxlan device vswitchd makes: how a later vswitchd knows a leftover as its own. */
export const TUNNEL_ALIAS = 'vswitch tunnel';

/**
 * Why the interface `link`, found with the name of saved tunnel `t`, is not a
 * device vswitchd made for it (said as "a veth device, not made by
 * vswitchd"), or null if it is: a vxlan device with TUNNEL_ALIAS, t's VNI and UDP port.
 */
export function leftoverProblem(link: LinkReply, t: DbTunnel): string | null {
  if (link.linkKind !== 'vxlan') return `${link.linkKind === null ? 'a device of no kind' : `a ${link.linkKind} device`}, not made by vswitchd`;
  if (link.alias !== TUNNEL_ALIAS) return 'a vxlan device not made by vswitchd';
  if (link.vni !== t.vni) return `a vxlan device made by vswitchd, but with VNI ${link.vni}, not ${t.vni}`;
  if (link.dstport !== t.dstport) return `a vxlan device made by vswitchd, but with UDP port ${link.dstport}, not ${t.dstport}`;
  return null;
}

/** Outer Ethernet (14) + IP (20 or 40) + UDP (8) + VXLAN (8). */
export function encapOverhead(family: 4 | 6): number {
  return family === 6 ? 70 : 50;
}

/** A tunnel: its port, with its device's spec. */
type TunnelPort = Port & { readonly tunnel: PortTunnel };

/** The kernel side, replaceable in tests: each call is one rtnetlink request and its answer. */
export interface TunnelKernel {
  talk(make: (seq: number) => Uint8Array): Exclude<Reply, null>;
}

export function rtnetlinkKernel(): TunnelKernel & { close(): void } {
  const fd = openRtnetlink();
  askExtendedAcks(fd);
  return { talk: (make) => rtnlTalk(fd, make), close: () => libc.close(fd) };
}

function errnoText(r: { errno: number; message: string | null }): string {
  return r.message ? `${r.message} (${libc.errnoName(r.errno)})` : libc.errnoName(r.errno);
}

export class Tunnels {
  /** The MTU conflicts already logged ("port>tunnel"), so each is logged once until it changes. */
  private logged = new Set<string>();

  constructor(
    private readonly sw: Switch,
    private readonly kernel: TunnelKernel,
    private readonly log: Logger,
    private readonly sysfsRoot: string = SYSFS_NET,
  ) {
    sw.onPortsChanged(() => void this.checkMtus().catch((err: unknown) => this.log(`tunnel MTU check: ${(err as Error)?.message ?? String(err)}`)));
  }

  /** The tunnels, in the order of their ports. */
  private tunnels(): TunnelPort[] {
    return this.sw.ports().filter((p): p is TunnelPort => p.tunnel !== null);
  }

  async add(spec: TunnelAddRequest): Promise<void> {
    const problem = tunnelSpecProblem(spec);
    if (problem !== null) throw new VswError('ETUNNEL', problem);
    const { name } = spec;
    if (this.tunnels().some((t) => t.ifname === name) || (await readInterface(name, this.sysfsRoot)) !== null) {
      throw new VswError('EEXIST', `an interface named ${name} already exists`);
    }
    const family = endpointFamily(spec.remotes[0]!, 'remote');
    for (const remote of spec.remotes) {
      const r = this.kernel.talk((seq) => getRouteRequest(seq, addressBytes(remote)));
      if (r.kind === 'route' && r.type === RTN_LOCAL) throw new VswError('ETUNNEL', `remote ${remote} is an address of this host`);
      if (r.kind !== 'route' && spec.local === undefined) throw new VswError('ETUNNEL', `unknown underlay: no route to remote ${remote} (${r.kind === 'error' ? errnoText(r) : 'no answer'})`);
    }
    const underlay = await this.underlay(spec);
    const dstport = spec.dstport ?? VXLAN_PORT;
    const tunnel: PortTunnel = { vni: spec.vni, remotes: [...spec.remotes], local: spec.local ?? null, dstport, vlan: spec.vlan ?? null, underlay: underlay.name };
    const link: VxlanLink = {
      name,
      vni: spec.vni,
      local: spec.local !== undefined ? addressBytes(spec.local) : family === 6 ? new Uint8Array(16) : null,
      dstport,
      mtu: underlay.mtu - encapOverhead(family),
      underlay: underlay.ifindex,
    };

    // In the file before the device exists: a crash from here on leaves a tunnel restore() makes again.
    this.sw.config.commitTunnel(name, tunnel);
    const created = this.kernel.talk((seq) => newVxlanRequest(seq, link));
    if (created.kind === 'error') {
      this.sw.config.persist();
      // The name was free: EEXIST is another vxlan device with this VNI, port and local address.
      if (created.errno === 17) throw new VswError('EEXIST', `cannot create vxlan device ${name}: another vxlan device already has VNI ${spec.vni} on UDP port ${dstport}`);
      throw new VswError('ESYSCALL', `cannot create vxlan device ${name}: ${errnoText(created)}`);
    }
    const info = await readInterface(name, this.sysfsRoot);
    if (info === null) {
      this.sw.config.persist();
      throw new VswError('ESYSCALL', `vxlan device ${name} vanished as it was created`);
    }
    const undo = async (what: string, err: unknown): Promise<never> => {
      if (this.sw.ports().some((p) => p.ifindex === info.ifindex)) await this.sw.delete(name, { tunnel: true }).catch(() => undefined);
      this.sw.config.persist();
      const r = this.kernel.talk((seq) => delLinkRequest(seq, info.ifindex));
      if (r.kind === 'error' && r.errno !== 19) this.log(`tunnel ${name}: could not delete its device after a failed add: ${errnoText(r)}`);
      if (err instanceof VswError) throw new VswError(err.code, `${what}: ${err.message}`);
      throw new VswError('ESYSCALL', `${what}: ${(err as Error)?.message ?? String(err)}`);
    };
    const marked = this.kernel.talk((seq) => setAliasRequest(seq, info.ifindex, TUNNEL_ALIAS));
    if (marked.kind === 'error') return undo(`tunnel ${name} not added`, new Error(`cannot set its alias: ${errnoText(marked)}`));
    for (const remote of spec.remotes) {
      const r = this.kernel.talk((seq) => appendRemoteRequest(seq, info.ifindex, addressBytes(remote)));
      if (r.kind === 'error') return undo(`tunnel ${name} not added`, new Error(`remote ${remote}: ${errnoText(r)}`));
    }
    try {
      await this.sw.add(name, { tunnel });
      if (spec.vlan !== undefined) await this.sw.vlan(name, { mode: 'access', tag: spec.vlan, trunks: null });
    } catch (err) {
      return undo(`tunnel ${name} not added`, err);
    }
    this.sw.monitor.publish({ event: 'tunnel-add', name, vni: spec.vni });
    this.log(`tunnel ${name} added: vxlan vni ${spec.vni} remote ${spec.remotes.join(',')} dstport ${dstport} over ${underlay.name}, mtu ${link.mtu}${spec.vlan !== undefined ? `, vlan ${spec.vlan}` : ''}`);
    await this.checkMtus();
  }

  /**
   * Make saved tunnel `t` again at start (Switch.restore), deleting first a
   * device of its name an earlier vswitchd left (see the top of this file).
   * Throws why it cannot: the tunnel is then dropped, and the interface of its
   * name, if not ours, left as it is.
   */
  async restore(t: DbTunnel): Promise<void> {
    const found = this.kernel.talk((seq) => getLinkRequest(seq, t.name));
    if (found.kind === 'error' && found.errno !== 19) throw new VswError('ESYSCALL', `cannot look up ${t.name}: ${errnoText(found)}`);
    if (found.kind === 'link') {
      const notOurs = leftoverProblem(found, t) ?? (await interfaceHolder(t.name, this.sysfsRoot).then((h) => (h === null ? null : `a vxlan device made by vswitchd, but now ${h}`)));
      if (notOurs !== null) throw new VswError('EEXIST', `an interface named ${t.name} already exists (${notOurs}): left as it is`);
      this.sw.checkUnclaimed(t.name, found.ifindex);
      const r = this.kernel.talk((seq) => delLinkRequest(seq, found.ifindex));
      if (r.kind === 'error' && r.errno !== 19) throw new VswError('ESYSCALL', `cannot delete the device ${t.name} an earlier vswitchd left: ${errnoText(r)}`);
      this.log(`tunnel ${t.name}: deleted its device left by an earlier vswitchd (vxlan vni ${t.vni}, ifindex ${found.ifindex}), to make it again`);
    }
    await this.add(tunnelSpecOf(t));
  }

  /** The interface the tunnel's packets leave by: the one with the local address, else the one routing to the first remote. */
  private async underlay(spec: TunnelAddRequest): Promise<{ name: string; ifindex: number; mtu: number }> {
    let ifname: string | null = null;
    if (spec.local !== undefined) {
      const want = addressBytes(spec.local).join('.');
      for (const [n, addrs] of Object.entries(networkInterfaces())) {
        if (addrs?.some((a) => addressBytes(a.address.split('%')[0]!).join('.') === want)) ifname = n;
      }
      // networkInterfaces() lists the interfaces that are up with a carrier (IFF_RUNNING) only.
      if (ifname === null) throw new VswError('ETUNNEL', `unknown underlay: local address ${spec.local} is not an address of an interface of this host that is up and running`);
    } else {
      const r = this.kernel.talk((seq) => getRouteRequest(seq, addressBytes(spec.remotes[0]!)));
      if (r.kind === 'route') ifname = libc.ifIndexToName(r.oif);
      if (ifname === null) throw new VswError('ETUNNEL', `unknown underlay: no interface routes to remote ${spec.remotes[0]}`);
    }
    const info = await readInterface(ifname, this.sysfsRoot);
    if (info === null) throw new VswError('ETUNNEL', `unknown underlay: ${ifname} is gone`);
    return { name: ifname, ifindex: info.ifindex, mtu: info.mtu };
  }

  /**
   * A restart's new vswitchd: saved tunnel `t`'s device, left by the old
   * vswitchd, taken as it is (never made again: its ifindex is what the
   * kernel datapath's tables hold) as a port at slot `index`.
   */
  async adopt(t: DbTunnel, index: number | undefined): Promise<void> {
    const found = this.kernel.talk((seq) => getLinkRequest(seq, t.name));
    if (found.kind !== 'link') throw new VswError('ETUNNEL', `tunnel ${t.name}: its device is gone`);
    const notOurs = leftoverProblem(found, t);
    if (notOurs !== null) throw new VswError('ETUNNEL', `tunnel ${t.name}: ${notOurs}`);
    const spec = tunnelSpecOf(t);
    const underlay = await this.underlay(spec);
    const tunnel: PortTunnel = { vni: t.vni, remotes: [...t.remotes], local: t.local, dstport: t.dstport, vlan: t.vlan, underlay: underlay.name };
    await this.sw.add(t.name, { tunnel, index });
    if (t.vlan !== null) await this.sw.vlan(t.name, { mode: 'access', tag: t.vlan, trunks: null });
  }

  async del(name: string): Promise<void> {
    const t = this.tunnels().find((x) => x.ifname === name);
    if (t === undefined) throw new VswError('ENOTATTACHED', `${name} is not a tunnel of the switch`);
    await this.sw.delete(name, { tunnel: true });
    const r = this.kernel.talk((seq) => delLinkRequest(seq, t.ifindex));
    if (r.kind === 'error' && r.errno !== 19) throw new VswError('ESYSCALL', `tunnel ${name} detached, but its device was not deleted: ${errnoText(r)}`);
    this.log(`tunnel ${name} deleted`);
    this.sw.monitor.publish({ event: 'tunnel-del', name });
    await this.checkMtus();
  }

  /** The tunnels' devices; taken before the ports are detached on shutdown (the registry forgets them then). */
  devices(): Array<{ name: string; ifindex: number }> {
    return this.tunnels().map((t) => ({ name: t.ifname, ifindex: t.ifindex }));
  }

  /** On shutdown, after the ports are detached: the devices the daemon made go with it. */
  removeDevices(devices: ReadonlyArray<{ name: string; ifindex: number }>): void {
    for (const t of devices) {
      const r = this.kernel.talk((seq) => delLinkRequest(seq, t.ifindex));
      this.log(r.kind === 'error' && r.errno !== 19 ? `tunnel ${t.name}: device not deleted: ${errnoText(r)}` : `tunnel ${t.name} removed`);
    }
  }

  async show(): Promise<TunnelShowResult> {
    const stats = await this.sw.stats();
    const { mtus, warnings } = await this.mtuWarnings();
    const tunnels: TunnelResult[] = this.tunnels().map(({ ifname, vlan, tunnel: t }) => {
      const s = stats.ports.find((p) => p.port === ifname);
      return {
        name: ifname,
        vni: t.vni,
        local: t.local,
        remotes: t.remotes,
        dstport: t.dstport,
        underlay: t.underlay,
        mtu: mtus.get(ifname) ?? 0,
        // Its port's mode now (`vswconfig vlan` may have changed it): the VLAN of an access port, else none.
        vlan: vlan.mode === 'access' ? vlan.tag : null,
        rxFrames: s?.rxFrames ?? 0,
        txFrames: s?.txFrames ?? 0,
      };
    });
    return { tunnels, mtuWarnings: warnings };
  }

  /** Every port's MTU (sysfs), and the ports with a larger MTU than a tunnel's; nothing read without a tunnel. */
  private async mtuWarnings(): Promise<{ mtus: Map<string, number>; warnings: MtuWarning[] }> {
    const mtus = new Map<string, number>();
    const warnings: MtuWarning[] = [];
    const tunnels = this.tunnels();
    if (tunnels.length === 0) return { mtus, warnings };
    for (const p of this.sw.ports()) {
      const info = await readInterface(p.ifname, this.sysfsRoot).catch(() => null);
      if (info !== null) mtus.set(p.ifname, info.mtu);
    }
    for (const t of tunnels) {
      const tunnelMtu = mtus.get(t.ifname);
      if (tunnelMtu === undefined) continue;
      for (const [port, mtu] of mtus) {
        if (port !== t.ifname && mtu > tunnelMtu) warnings.push({ port, mtu, tunnel: t.ifname, tunnelMtu });
      }
    }
    return { mtus, warnings };
  }

  /** The ports whose MTU is larger than a tunnel's (`vswconfig show` lists them). */
  async warnings(): Promise<MtuWarning[]> {
    return (await this.mtuWarnings()).warnings;
  }

  /** Log each port whose MTU is (newly) larger than a tunnel's. */
  async checkMtus(): Promise<void> {
    const { warnings } = await this.mtuWarnings();
    const now = new Set<string>();
    for (const w of warnings) {
      const key = `${w.port}>${w.tunnel}:${w.mtu}:${w.tunnelMtu}`;
      now.add(key);
      if (this.logged.has(key)) continue;
      this.log(
        `mtu: port ${w.port} has MTU ${w.mtu}, larger than tunnel ${w.tunnel}'s ${w.tunnelMtu}: its frames over ${w.tunnelMtu} bytes are dropped (mtu-exceeded); ` +
          `set ${w.port}'s MTU (and its hosts') to ${w.tunnelMtu}, or raise the underlay's MTU by ${w.mtu - w.tunnelMtu}`,
      );
    }
    this.logged = now;
  }
}
