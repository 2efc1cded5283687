// What `tunnel add` asks for, and the checks that need no kernel: VNI, UDP
// port, VLAN, and addresses that can be a VXLAN endpoint (unicast, one family).
// vswconfig runs them before it connects; the daemon runs them again on every
// request. Whether an address is this host's, and which interface carries the
// tunnel, only the daemon can tell (daemon/tunnels.ts).

import { isIP } from 'node:net';
import { vidProblem } from '../core/vlan.js';

export const VNI_MAX = 16_777_215; // 24 bits (RFC 7348)
/** The IANA port for VXLAN; Linux's own default, 8472, predates it. */
export const VXLAN_PORT = 4789;
/** At most this many head-end replication entries per tunnel (one per remote). */
export const MAX_REMOTES = 64;

export interface TunnelSpec {
  name: string;
  vni: number;
  remotes: string[];
  local?: string;
  dstport?: number;
  vlan?: number;
}

export function vniProblem(vni: number): string | null {
  return Number.isInteger(vni) && vni >= 0 && vni <= VNI_MAX ? null : `bad VNI ${vni} (0-${VNI_MAX})`;
}

export function dstportProblem(port: number): string | null {
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? null : `bad UDP port ${port} (1-65535)`;
}

/** 4 or 6 for an address that can be a tunnel endpoint; throws naming the problem otherwise. */
export function endpointFamily(addr: string, what: string): 4 | 6 {
  const family = isIP(addr);
  if (family === 0 || addr.includes('%')) throw new Error(`bad ${what} address '${addr}'`);
  const bytes = addressBytes(addr);
  if (bytes.every((b) => b === 0)) throw new Error(`bad ${what} address '${addr}': unspecified`);
  if (family === 4) {
    if (bytes[0]! >= 224) throw new Error(`bad ${what} address '${addr}': not unicast`);
    if (bytes[0] === 127) throw new Error(`bad ${what} address '${addr}': loopback`);
    return 4;
  }
  if (bytes[0] === 0xff) throw new Error(`bad ${what} address '${addr}': not unicast`);
  if (bytes.every((b, i) => b === (i === 15 ? 1 : 0))) throw new Error(`bad ${what} address '${addr}': loopback`);
  return 6;
}

/** The 4 or 16 bytes of an address isIP() accepts, in network order. */
export function addressBytes(addr: string): Uint8Array {
  if (isIP(addr) === 4) return Uint8Array.from(addr.split('.').map(Number));
  const out = new Uint8Array(16);
  let text = addr;
  // An embedded IPv4 tail (::ffff:10.0.0.1) becomes two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const groups = (s: string | undefined): number[] => (s ? s.split(':').map((g) => Number.parseInt(g, 16)) : []);
  const front = groups(head);
  const back = groups(tail);
  const all = [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/**
 * The first problem of a spec, in one line, or null. Remotes are distinct,
 * unicast, and of one family with the local address.
 */
export function tunnelSpecProblem(s: TunnelSpec): string | null {
  const problems = [vniProblem(s.vni), s.dstport === undefined ? null : dstportProblem(s.dstport), s.vlan === undefined ? null : vidProblem(s.vlan)];
  for (const p of problems) if (p !== null) return p;
  if (s.remotes.length === 0) return 'a tunnel needs at least one remote';
  if (s.remotes.length > MAX_REMOTES) return `at most ${MAX_REMOTES} remotes`;
  try {
    const families = new Set(s.remotes.map((r) => endpointFamily(r, 'remote')));
    if (s.local !== undefined) families.add(endpointFamily(s.local, 'local'));
    if (families.size > 1) return 'the remotes and the local address must be all IPv4 or all IPv6';
  } catch (err) {
    return (err as Error).message;
  }
  const seen = new Set<string>();
  for (const r of s.remotes) {
    const key = addressBytes(r).join('.');
    if (seen.has(key)) return `remote ${r} given twice`;
    seen.add(key);
    if (s.local !== undefined && key === addressBytes(s.local).join('.')) return `remote ${r} is the local address`;
  }
  return null;
}
