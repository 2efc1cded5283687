// What the control plane needs to know about a network interface before it
// becomes a port, read from /sys/class/net/IFNAME/ (plain fs: this is the
// control path, not the packet path).

import { readFileSync } from 'node:fs';
import { access, readFile, readlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { VswError } from '../errors.js';
import { ifnameProblem } from './ifname.js';
import { IFF_UP } from './netlink.js';

export const SYSFS_NET = '/sys/class/net';

/** ARPHRD_ETHER: Ethernet-like link layer (veth, physical NICs, tap, bridges, bonds…). */
export const ARPHRD_ETHER = 1;
export const ARPHRD_LOOPBACK = 772;
export const IFF_LOOPBACK = 0x8;

export interface InterfaceInfo {
  ifname: string;
  ifindex: number;
  /** ARPHRD_* link type. */
  type: number;
  /** IFF_* flags. */
  flags: number;
  mtu: number;
  /** Link-layer address as the kernel prints it (aa:bb:cc:dd:ee:ff for Ethernet). */
  address: string;
}

function parseIntStrict(text: string, file: string, ifname: string): number {
  const s = text.trim();
  const n = /^0x[0-9a-f]+$/i.test(s) ? Number.parseInt(s, 16) : /^\d+$/.test(s) ? Number.parseInt(s, 10) : Number.NaN;
  if (!Number.isSafeInteger(n)) {
    throw new VswError('ESYSCALL', `cannot read ${file} of ${ifname}: unexpected content ${JSON.stringify(s.slice(0, 40))}`);
  }
  return n;
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENODEV';
}

/**
 * Read an interface's attributes, or null if there is no such interface.
 * `root` is the sysfs net class directory (tests pass a fake one).
 * Throws VswError for an invalid name or an unreadable attribute.
 */
export async function readInterface(ifname: string, root: string = SYSFS_NET): Promise<InterfaceInfo | null> {
  const problem = ifnameProblem(ifname);
  if (problem !== null) throw new VswError('ENODEV', `no such interface: ${ifname} (invalid name: ${problem})`);
  const dir = join(root, ifname);
  const read = async (file: string): Promise<string> => readFile(join(dir, file), 'utf8');
  try {
    const [ifindex, type, flags, mtu, address] = await Promise.all([
      read('ifindex'),
      read('type'),
      read('flags'),
      read('mtu'),
      read('address'),
    ]);
    return {
      ifname,
      ifindex: parseIntStrict(ifindex, 'ifindex', ifname),
      type: parseIntStrict(type, 'type', ifname),
      flags: parseIntStrict(flags, 'flags', ifname),
      mtu: parseIntStrict(mtu, 'mtu', ifname),
      address: address.trim(),
    };
  } catch (err) {
    if (isMissing(err)) return null;
    if (err instanceof VswError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new VswError(e.code === 'EACCES' ? 'EACCES' : 'ESYSCALL', `cannot read ${dir}: ${e.code ?? e.message}`);
  }
}

/** An interface the switch can use as a port: Ethernet link type and not a loopback. */
export function isEthernet(info: InterfaceInfo): boolean {
  return info.type === ARPHRD_ETHER && (info.flags & IFF_LOOPBACK) === 0;
}

/** A loopback interface: ARPHRD_LOOPBACK or IFF_LOOPBACK. */
export function isLoopback(info: InterfaceInfo): boolean {
  return info.type === ARPHRD_LOOPBACK || (info.flags & IFF_LOOPBACK) !== 0;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

/**
 * What already holds an interface, or null if nothing does: the master it is
 * a port of (a Linux bridge, a bond, a team, a VRF, Open vSwitch…: its
 * `master` link), or its being a Linux bridge itself (its `bridge` directory).
 * Frames of such an interface are forwarded already; a port on it would
 * forward them a second time. The kernel's bridge refuses the same two (a
 * device has one master; a bridge in a bridge is ELOOP). Said as a phrase:
 * "a port of bridge br0".
 */
export async function interfaceHolder(ifname: string, root: string = SYSFS_NET): Promise<string | null> {
  const dir = join(root, ifname);
  try {
    if (await exists(join(dir, 'bridge'))) return 'a Linux bridge';
    let master: string;
    try {
      master = basename(await readlink(join(dir, 'master')));
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    if (await exists(join(root, master, 'bridge'))) return `a port of bridge ${master}`;
    if (await exists(join(root, master, 'bonding'))) return `a port of bond ${master}`;
    return `a port of ${master}`;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new VswError(e.code === 'EACCES' ? 'EACCES' : 'ESYSCALL', `cannot read ${dir}: ${e.code ?? e.message}`);
  }
}

/**
 * Whether a port's interface can carry frames now (administratively up and
 * with carrier) and its MTU, read synchronously for the datapath thread,
 * which never returns to Node's event loop. Throws ENODEV if the interface is
 * gone or is no longer the one with `ifindex` (deleted and made again).
 */
export function readLinkStateSync(ifname: string, ifindex: number, root: string = SYSFS_NET): { up: boolean; mtu: number } {
  const dir = join(root, ifname);
  let index: number;
  let flags: number;
  let mtu: number;
  try {
    index = parseIntStrict(readFileSync(join(dir, 'ifindex'), 'utf8'), 'ifindex', ifname);
    flags = parseIntStrict(readFileSync(join(dir, 'flags'), 'utf8'), 'flags', ifname);
    mtu = parseIntStrict(readFileSync(join(dir, 'mtu'), 'utf8'), 'mtu', ifname);
  } catch (err) {
    if (err instanceof VswError || isMissing(err)) throw new VswError('ENODEV', `no such interface: ${ifname}`);
    throw err;
  }
  if (index !== ifindex) throw new VswError('ENODEV', `interface ${ifname} was replaced`);
  let carrier = false;
  try {
    carrier = readFileSync(join(dir, 'carrier'), 'utf8').trim() === '1';
  } catch {
    // reading the carrier of a down interface fails with EINVAL: no carrier
  }
  return { up: (flags & IFF_UP) !== 0 && carrier, mtu };
}
