// A switch on each of the two hosts (hosts.ts) joined by a VXLAN tunnel over
// one underlay: what the hosts mode measures between the tenants. On a host,
// vswitchd (either datapath) with its tenant's port and `tunnel add`, or a
// Linux bridge with its tenant's port and a vxlan device as
// test/integration/tunnel.test.ts builds one (flood-and-learn, dstport 4789,
// one all-zeros entry to the other host): the same device vswitchd makes.

import { request } from '../src/control/client.js';
import { BenchError, check, onCleanup, run, runSync } from './proc.js';
import { type HostPair, type HostSwitchName, pairLabel, type Underlay } from './report.js';
import { isVswitchd, LinuxBridge, type Switch, Vswitchd, type VswitchdOptions } from './switches.js';
import type { HostNode, TwoHosts } from './hosts.js';

export const VNI = 4200;
const VXLAN_PORT = 4789;

/** One host's switch with its end of the tunnel. */
class HostSwitch {
  private sw?: Switch;
  private unregister?: () => void;
  private readonly vx: string;

  constructor(
    private readonly hosts: TwoHosts,
    private readonly host: HostNode,
    readonly name: HostSwitchName,
    private readonly underlay: Underlay,
    private readonly opts: VswitchdOptions,
  ) {
    this.vx = `${hosts.prefix}vx`;
  }

  async start(): Promise<void> {
    const ep = this.hosts.endpoint(this.host, this.underlay);
    const port = this.host.tenant.port;
    if (isVswitchd(this.name)) {
      const v = new Vswitchd(this.hosts.site(this.host, [port]), this.name, this.opts);
      this.sw = v;
      await v.start();
      try {
        await request(v.socket, { cmd: 'tunnel-add', name: this.vx, vni: VNI, remotes: [ep.remote], local: ep.local, dstport: VXLAN_PORT });
      } catch (err) {
        throw new BenchError(`vswconfig tunnel add on ${this.host.ns}: ${(err as Error).message}`);
      }
      return;
    }
    const ns = this.host.ns;
    this.unregister = onCleanup(`${this.vx} in ${ns}`, () => runSync('ip', ['-n', ns, 'link', 'del', this.vx]));
    const lines = [
      'set -e',
      `ip -n ${ns} link add ${this.vx} type vxlan id ${VNI} local ${ep.local} dev ${ep.dev} dstport ${VXLAN_PORT}`,
      `bridge -n ${ns} fdb append 00:00:00:00:00:00 dev ${this.vx} dst ${ep.remote} self`,
      `ip -n ${ns} link set ${this.vx} up`,
    ];
    await check(`vxlan device on ${ns}`, 'bash', ['-c', lines.join('\n')]);
    this.sw = new LinuxBridge(this.hosts.site(this.host, [port, this.vx]));
    await this.sw.start();
  }

  get switch(): Switch | undefined {
    return this.sw;
  }

  /** Stop the switch; vswitchd deletes its tunnel's device as it stops, the bridge's is deleted here. */
  async stop(): Promise<void> {
    try {
      await this.sw?.stop();
    } finally {
      this.sw = undefined;
      if (this.unregister) {
        // absent if its creation failed: nothing to delete then
        await run('ip', ['-n', this.host.ns, 'link', 'del', this.vx]);
        this.unregister();
        this.unregister = undefined;
      }
    }
  }
}

/** The two hosts' switches as one thing that forwards between the tenants. */
export class SwitchPair {
  readonly name: string;
  private readonly sides: [HostSwitch, HostSwitch];

  constructor(hosts: TwoHosts, pair: HostPair, underlay: Underlay, opts: VswitchdOptions) {
    this.name = pairLabel(pair);
    this.sides = [new HostSwitch(hosts, hosts.a, pair[0], underlay, opts), new HostSwitch(hosts, hosts.b, pair[1], underlay, opts)];
  }

  async start(): Promise<void> {
    for (const s of this.sides) await s.start();
  }

  async stop(): Promise<void> {
    const results = await Promise.allSettled(this.sides.map((s) => s.stop()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Each host's switch's counters. */
  async counters(): Promise<unknown> {
    const [a, b] = await Promise.all(this.sides.map((s) => s.switch?.counters().catch(() => null) ?? null));
    return { A: a, B: b };
  }

  /** vswitchd's processes, on either host. */
  pids(): number[] {
    return this.sides.flatMap((s) => s.switch?.pids() ?? []);
  }

  /** The sending host's vswitchd, else the receiving host's (its threads' CPU is recorded). */
  mainPid(): number | null {
    return this.sides[0].switch?.mainPid() ?? this.sides[1].switch?.mainPid() ?? null;
  }
}
