// What the parts of the switch know of its registry (switch.ts), so that they
// need not import it: a port, a tunnel port's spec, ports by name and slot (the
// ACL, the mirrors, the captures), and what the configuration store (config.ts)
// reads of the switch and drives at start. The registry fits them all.

import type { PortVlan } from '../core/vlan.js';
import type { DbConfig, DbTunnel } from './db.js';

/** A tunnel port's VXLAN device (daemon/tunnels.ts): its spec as the file keeps it, and the underlay it was made over. */
export interface PortTunnel extends Omit<DbTunnel, 'name'> {
  underlay: string;
}

/** An attached port. */
export interface Port {
  /** Index in the datapath, 0..maxPorts-1. */
  readonly index: number;
  readonly ifname: string;
  readonly ifindex: number;
  /** Its 802.1Q mode, as the datapath has it (a new port has none: DEFAULT_PORT_VLAN). */
  readonly vlan: PortVlan;
  /** A VXLAN tunnel's device: only `tunnel del` removes the port. */
  readonly tunnel: PortTunnel | null;
}

/** What the ACL and the mirrors need of the registry: ports by name and by slot. */
export interface PortNames {
  /** The slot of port `ifname`; throws ENOTATTACHED if it is no port. */
  slot(ifname: string): number;
  /** Port names by slot. */
  names(): (string | undefined)[];
}

/** A part of the switch the file keeps (the ACL, the mirrors): as the file has it, and applied from it at start. */
interface SavedPart<T> {
  saved(): T;
  restore(saved: T, from: string): Promise<void>;
}

/** What the configuration store reads of the switch (the file's contents) and drives (restore at start). */
export interface ConfiguredSwitch {
  /** The attached ports, in the order they were attached. */
  ports(): readonly Port[];
  names(): (string | undefined)[];
  add(ifname: string, opts?: { index?: number }): Promise<void>;
  delete(ifname: string): Promise<void>;
  vlan(ifname: string, set: PortVlan | null): Promise<unknown>;
  readonly acl: SavedPart<DbConfig['acl']>;
  readonly mirrors: SavedPart<DbConfig['mirrors']>;
}
