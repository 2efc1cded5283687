// The switch's configuration store: what the --db file (db.ts) holds of the
// switch and when it is written, as ovsdb is to Open vSwitch's bridge.
//
// A change is written to the file before the datapath is asked (commit), as
// ovsdb commits before Open vSwitch reconfigures: a change the file cannot
// take is refused and nothing changes. Once the datapath has answered (or a
// port went away, or was renamed) the file is written again if the switch
// now differs from it (persist). At start, restore() applies a saved
// configuration as the commands would, then record() keeps the file from then
// on.

import { DEFAULT_PORT_VLAN, type PortVlan } from '../core/vlan.js';
import { DatapathTimeoutError, VswError } from '../errors.js';
import { type Db, type DbConfig, type DbTunnel, DB_VERSION } from './db.js';
import { errorText, type Logger } from './log.js';
import type { ConfiguredSwitch, PortTunnel } from './registry.js';

/** What restore() needs of the tunnels (daemon/tunnels.ts). */
export interface TunnelRestorer {
  /** Make the saved tunnel again, device, entries and port (with its spec's VLAN); throws why not. */
  restore(t: DbTunnel): Promise<void>;
  del(name: string): Promise<void>;
}

export class ConfigStore {
  /** Where the configuration is kept; null: nowhere (no --db, during restore, shutting down). */
  private db: Db | null = null;

  constructor(
    private readonly sw: ConfiguredSwitch,
    private readonly log: Logger,
  ) {}

  /** The configuration as the file keeps it: the ports in order with their modes, the ACL, the mirrors, the tunnels. */
  configuration(): DbConfig {
    const ports = this.sw.ports();
    return {
      version: DB_VERSION,
      ports: ports.map((p) => ({ ifname: p.ifname, vlan: { mode: p.vlan.mode, tag: p.vlan.tag, trunks: p.vlan.trunks } })),
      acl: this.sw.acl.saved(),
      mirrors: this.sw.mirrors.saved(),
      tunnels: ports.flatMap((p) => (p.tunnel ? [savedTunnel(p.ifname, p.tunnel)] : [])),
    };
  }

  /**
   * The configuration with `ifname` as a new last port; a tunnel's (`tunnel`)
   * in the VLAN tunnels.ts gives it next, never in the file carrying every VLAN.
   */
  withPort(ifname: string, tunnel: Omit<DbTunnel, 'name'> | null): DbConfig {
    const doc = this.configuration();
    doc.ports.push({ ifname, vlan: tunnel ? tunnelPortVlan(tunnel) : { ...DEFAULT_PORT_VLAN } });
    if (tunnel) doc.tunnels.push(savedTunnel(ifname, tunnel));
    return doc;
  }

  /** Write `doc` before the change it holds; the change is refused if it cannot be written. */
  commit(doc: DbConfig): void {
    if (this.db === null) return;
    try {
      this.db.save(doc);
    } catch (err) {
      throw new VswError('ESYSCALL', `cannot save the configuration to ${this.db.path} (${errorText(err)}); nothing changed`);
    }
  }

  /**
   * Write the configuration with tunnel `name` as a new last port (in its
   * spec's VLAN) before its device is made; refused (ESYSCALL) if the file
   * cannot take it. If the tunnel is then not made, persist() takes it back out.
   */
  commitTunnel(name: string, tunnel: PortTunnel): void {
    this.commit(this.withPort(name, tunnel));
  }

  /**
   * Make in the datapath a change already committed: `send` asks the datapath,
   * `adopt` makes the change the switch's once the datapath has it, even after
   * a timeout (`late` says then what became of it); the file is written again
   * either way. A timeout is an ETIMEDOUT error, `doing` saying what was asked.
   */
  async apply(send: () => Promise<void>, adopt: () => void, late: (ok: boolean) => string, doing: string): Promise<void> {
    try {
      await send();
    } catch (err) {
      if (err instanceof DatapathTimeoutError) {
        void err.late.then((ok) => {
          if (ok) adopt();
          this.log(`${late(ok)} (the datapath answered after the timeout)`);
          this.persist();
        });
        throw new VswError('ETIMEDOUT', `the datapath did not answer in time while ${doing}`);
      }
      this.persist();
      throw err;
    }
    adopt();
    this.persist();
  }

  /** Write what the switch now is, if the file differs; a failure is logged (the change is made). */
  persist(): void {
    if (this.db === null) return;
    try {
      this.db.save(this.configuration());
    } catch (err) {
      this.log(`configuration not saved to ${this.db.path}: ${errorText(err)}`);
    }
  }

  /** From now on keep the configuration in `db`; writes it now if the switch differs from it. */
  record(db: Db): void {
    this.db = db;
    this.persist();
  }

  /** Write nothing more: what follows (shutting down) is no change of configuration. */
  close(): void {
    this.db = null;
  }

  /**
   * Apply a saved configuration to this new switch as the commands would: the
   * ports in order with their VLAN modes (a tunnel's port by `tunnels`, which
   * makes its device again), then the ACL with its ids, then the mirrors. A
   * port or tunnel that cannot be added (its interface is missing or in use,
   * …) is logged and left out, and so are the rules on it. Nothing is written
   * (see record).
   */
  async restore(saved: DbConfig, from: string, tunnels: TunnelRestorer | null = null): Promise<void> {
    const specs = new Map(saved.tunnels.map((t) => [t.name, t]));
    const present = (ifname: string): boolean => this.sw.names().includes(ifname);
    for (const p of saved.ports) {
      const spec = specs.get(p.ifname);
      const what = spec ? 'tunnel' : 'port';
      try {
        // Never a plain port for a tunnel: its device may be missing, or not ours.
        if (spec === undefined) await this.sw.add(p.ifname);
        else if (tunnels === null) throw new VswError('ETUNNEL', 'no tunnels in this switch');
        else await tunnels.restore(spec);
        const now = this.sw.ports().find((q) => q.ifname === p.ifname)?.vlan;
        if (now !== undefined && !sameVlan(now, p.vlan)) await this.sw.vlan(p.ifname, p.vlan);
      } catch (err) {
        this.log(`${what} ${p.ifname} dropped from ${from}: ${errorText(err)}`);
        // Not without its VLAN mode: the port would carry every VLAN.
        if (present(p.ifname)) {
          const undo = spec && tunnels ? tunnels.del(p.ifname) : this.sw.delete(p.ifname);
          await undo.catch((e: unknown) => this.log(`${what} ${p.ifname}: ${errorText(e)}`));
        }
      }
    }
    await this.sw.acl.restore(saved.acl, from);
    await this.sw.mirrors.restore(saved.mirrors, from);
  }
}

/** What adopt() needs of the tunnels (daemon/tunnels.ts). */
export interface TunnelAdopter {
  /** Take the saved tunnel's device as it is (a restart's old vswitchd left it) as a port at slot `index`; throws why not. */
  adopt(t: DbTunnel, index: number | undefined): Promise<void>;
}

/**
 * A restart's new vswitchd: the old one's configuration applied as restore()
 * does, each port at the slot it had (`slots`, by name: the kernel's FDB and
 * tables name slots) and each tunnel's device taken as it is. The first thing
 * that fails throws: a switch taken over in part is none (restart.ts then
 * gives every port back).
 */
export async function adoptConfig(sw: ConfiguredSwitch, saved: DbConfig, slots: ReadonlyMap<string, number>, tunnels: TunnelAdopter): Promise<void> {
  const specs = new Map(saved.tunnels.map((t) => [t.name, t]));
  for (const p of saved.ports) {
    const spec = specs.get(p.ifname);
    if (spec === undefined) await sw.add(p.ifname, { index: slots.get(p.ifname) });
    else await tunnels.adopt(spec, slots.get(p.ifname));
    const now = sw.ports().find((q) => q.ifname === p.ifname)?.vlan;
    if (now !== undefined && !sameVlan(now, p.vlan)) await sw.vlan(p.ifname, p.vlan);
  }
  const from = 'the old vswitchd';
  await sw.acl.restore(saved.acl, from);
  await sw.mirrors.restore(saved.mirrors, from);
}

/** A tunnel as the file keeps it, named by its port. */
function savedTunnel(name: string, t: Omit<DbTunnel, 'name'>): DbTunnel {
  return { name, vni: t.vni, remotes: t.remotes, local: t.local, dstport: t.dstport, vlan: t.vlan };
}

/** The mode `tunnel add` gives a tunnel's port: access port of its `vlan`, else none. */
function tunnelPortVlan(t: Omit<DbTunnel, 'name'>): PortVlan {
  return t.vlan === null ? { ...DEFAULT_PORT_VLAN } : { mode: 'access', tag: t.vlan, trunks: null };
}

function sameVlan(a: PortVlan, b: PortVlan): boolean {
  return a.mode === b.mode && a.tag === b.tag && JSON.stringify(a.trunks) === JSON.stringify(b.trunks);
}
