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
 * The problems of a spec by field (vni, dstport, vlan, remotes, local), in
 * the order they are checked; of the addresses, the first only. Remotes are
 * distinct, unicast, and of one family with the local address. The protocol
 * and the saved configuration (daemon/db.ts) both check a spec with it.
 */
export function tunnelSpecProblems(s: TunnelSpec): Array<[field: string, problem: string]> {
  const out: Array<[string, string]> = [];
  const check = (field: string, p: string | null): void => void (p !== null && out.push([field, p]));
  check('vni', vniProblem(s.vni));
  if (s.dstport !== undefined) check('dstport', dstportProblem(s.dstport));
  if (s.vlan !== undefined) check('vlan', vidProblem(s.vlan));
  const endpoints = endpointsProblem(s);
  if (endpoints !== null) out.push(endpoints);
  return out;
}

/** The first problem of a spec, in one line, or null. */
export function tunnelSpecProblem(s: TunnelSpec): string | null {
  return tunnelSpecProblems(s)[0]?.[1] ?? null;
}

function endpointsProblem(s: TunnelSpec): [field: string, problem: string] | null {
  if (s.remotes.length === 0) return ['remotes', 'a tunnel needs at least one remote'];
  if (s.remotes.length > MAX_REMOTES) return ['remotes', `at most ${MAX_REMOTES} remotes`];
  const family = (addr: string, field: 'remotes' | 'local'): 4 | 6 | [string, string] => {
    try {
      return endpointFamily(addr, field === 'remotes' ? 'remote' : 'local');
    } catch (err) {
      return [field, (err as Error).message];
    }
  };
  const families = new Set<number>();
  for (const r of s.remotes) {
    const f = family(r, 'remotes');
    if (typeof f !== 'number') return f;
    families.add(f);
  }
  const local = s.local === undefined ? null : family(s.local, 'local');
  if (local !== null && typeof local !== 'number') return local;
  const mixed = 'the remotes and the local address must be all IPv4 or all IPv6';
  if (families.size > 1) return ['remotes', mixed];
  if (local !== null && !families.has(local)) return ['local', mixed];
  const seen = new Set<string>();
  for (const r of s.remotes) {
    const key = addressBytes(r).join('.');
    if (seen.has(key)) return ['remotes', `remote ${r} given twice`];
    seen.add(key);
    if (s.local !== undefined && key === addressBytes(s.local).join('.')) return ['local', `remote ${r} is the local address`];
  }
  return null;
}
