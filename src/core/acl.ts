// L2 filters (ACL, issue 9): rules checked at ingress after VLAN
// classification and before learning, so a dropped frame is never learned.
// The highest priority wins (default 32768, as OpenFlow's); among equals the
// older rule (lower id); no match allows. The control plane keeps the rules
// sorted and hands each datapath an AclTable: the match fields of every rule,
// in that order, as int32s (ACL_STRIDE per rule), so the core matches on a
// typed array and the kernel gets the same fields in its `acl` map.
//
// What each field matches:
//   in     the ingress port's slot
//   src    (source MAC & mask) == value; dst the same with the destination
//   type   the 16 bits after the MAC addresses once the kernel has taken the
//          outer tag (802.1Q or 802.1ad) into metadata: 0x0800 for IPv4
//          whether it came tagged or not; the inner TPID (0x8100) for QinQ
//   vlan   VID: the VLAN the frame was classified into (vlan.ts);
//          untagged: the frame arrived with no tag at all

import { formatMac, parseMac } from './mac.js';
import { parseVid, vidProblem } from './vlan.js';

export const ACL_DEFAULT_PRIORITY = 32768;
export const ACL_PRIORITY_MAX = 65535;
/** Rules a switch holds (the kernel's `acl` map has as many entries). */
export const ACL_MAX_RULES = 256;
export const ETHERTYPE_MIN = 0x0600;

/** Int32s per rule in AclTable.rules, and their offsets. */
export const ACL_STRIDE = 12;
export const A_PORT = 0;
export const A_SRC_HI = 1;
export const A_SRC_HI_MASK = 2;
export const A_SRC_LO = 3;
export const A_SRC_LO_MASK = 4;
export const A_DST_HI = 5;
export const A_DST_HI_MASK = 6;
export const A_DST_LO = 7;
export const A_DST_LO_MASK = 8;
export const A_TYPE = 9;
export const A_VLAN = 10;
export const A_ACTION = 11;
/** A_PORT, A_TYPE, A_VLAN: any value. */
export const ACL_ANY = -1;
/** A_VLAN: frames that arrived with no tag. */
export const ACL_UNTAGGED = -2;
export const ACL_ALLOW = 0;
export const ACL_DROP = 1;

const FULL_MASK = 0xffffffffffff;

/** A rule as the control plane keeps it. */
export interface AclRule {
  id: number;
  priority: number;
  /** Ingress port slot, or null: any. */
  port: number | null;
  src: { mac: number; mask: number } | null;
  dst: { mac: number; mask: number } | null;
  type: number | null;
  vlan: number | 'untagged' | null;
  action: 'allow' | 'drop';
}

/** What the datapaths get: rule ids and fields, in match order. */
export interface AclTable {
  ids: number[];
  rules: Int32Array;
}

/**
 * The first of the `count` rules of `r` (AclTable.rules, in match order) a
 * frame matches, or -1: the ingress port slot, source and destination as
 * (hi, lo) pairs, the type after the outer tag, the classified VLAN, and
 * whether it arrived untagged. The forwarder (on a cache miss) and the trace
 * both call it, so they cannot disagree.
 */
export function aclFirstMatch(r: Int32Array, count: number, ingress: number, shi: number, slo: number, dhi: number, dlo: number, type: number, vid: number, untagged: boolean): number {
  for (let k = 0, at = 0; k < count; k++, at += ACL_STRIDE) {
    const port = r[at + A_PORT];
    if (port !== ACL_ANY && port !== ingress) continue;
    if ((shi & r[at + A_SRC_HI_MASK]) !== r[at + A_SRC_HI] || (slo & r[at + A_SRC_LO_MASK]) !== r[at + A_SRC_LO]) continue;
    if ((dhi & r[at + A_DST_HI_MASK]) !== r[at + A_DST_HI] || (dlo & r[at + A_DST_LO_MASK]) !== r[at + A_DST_LO]) continue;
    const t = r[at + A_TYPE];
    if (t !== ACL_ANY && t !== type) continue;
    const v = r[at + A_VLAN];
    if (v !== ACL_ANY && (v === ACL_UNTAGGED ? !untagged : v !== vid)) continue;
    return k;
  }
  return -1;
}

/** Match order: priority descending, then id ascending. */
export function compareRules(a: AclRule, b: AclRule): number {
  return b.priority - a.priority || a.id - b.id;
}

/** The table of `sorted` (already in match order). */
export function aclTable(sorted: readonly AclRule[]): AclTable {
  const rules = new Int32Array(sorted.length * ACL_STRIDE);
  sorted.forEach((r, k) => {
    const at = k * ACL_STRIDE;
    rules[at + A_PORT] = r.port ?? ACL_ANY;
    const put = (m: { mac: number; mask: number } | null, hi: number, lo: number): void => {
      const mask = m === null ? 0 : m.mask;
      const mac = m === null ? 0 : m.mac;
      rules[at + hi + 1] = Math.floor(mask / 2 ** 32);
      rules[at + lo + 1] = mask % 2 ** 32 | 0;
      rules[at + hi] = Math.floor(mac / 2 ** 32) & rules[at + hi + 1];
      rules[at + lo] = (mac % 2 ** 32 | 0) & rules[at + lo + 1];
    };
    put(r.src, A_SRC_HI, A_SRC_LO);
    put(r.dst, A_DST_HI, A_DST_LO);
    rules[at + A_TYPE] = r.type ?? ACL_ANY;
    rules[at + A_VLAN] = r.vlan === null ? ACL_ANY : r.vlan === 'untagged' ? ACL_UNTAGGED : r.vlan;
    rules[at + A_ACTION] = r.action === 'drop' ? ACL_DROP : ACL_ALLOW;
  });
  return { ids: sorted.map((r) => r.id), rules };
}

/** `MAC` or `MAC/MASK` (mask a MAC too); throws a RangeError naming the problem. */
export function parseMacMask(s: string): { mac: number; mask: number } {
  const slash = s.indexOf('/');
  const macText = slash < 0 ? s : s.slice(0, slash);
  let mac: number;
  try {
    mac = parseMac(macText);
  } catch {
    throw new RangeError(`not a MAC address: '${macText}'`);
  }
  if (slash < 0) return { mac, mask: FULL_MASK };
  const maskText = s.slice(slash + 1);
  try {
    return { mac, mask: parseMac(maskText) };
  } catch {
    throw new RangeError(`MAC mask is not a MAC: '${maskText}'`);
  }
}

export function formatMacMask(m: { mac: number; mask: number }): string {
  return m.mask === FULL_MASK ? formatMac(m.mac) : `${formatMac(m.mac)}/${formatMac(m.mask)}`;
}

export function priorityProblem(p: number): string | null {
  return Number.isInteger(p) && p >= 0 && p <= ACL_PRIORITY_MAX ? null : `priority ${p} out of range 0-${ACL_PRIORITY_MAX}`;
}

export function ethertypeProblem(t: number): string | null {
  return Number.isInteger(t) && t >= ETHERTYPE_MIN && t <= 0xffff ? null : `ethertype ${fmtType(t)} out of range 0x0600-0xffff`;
}

function fmtType(t: number): string {
  return Number.isInteger(t) && t >= 0 ? `0x${t.toString(16).padStart(4, '0')}` : String(t);
}

/** `0x0800` or `2048`; throws a RangeError naming the problem. */
export function parseEthertype(s: string): number {
  if (!/^(0x[0-9a-f]{1,8}|\d{1,10})$/i.test(s)) throw new RangeError(`bad ethertype '${s}'`);
  const t = Number(s);
  const p = ethertypeProblem(t);
  if (p !== null) throw new RangeError(p);
  return t;
}

export function parsePriority(s: string): number {
  if (!/^\d{1,10}$/.test(s)) throw new RangeError(`bad priority '${s}'`);
  const p = Number(s);
  const problem = priorityProblem(p);
  if (problem !== null) throw new RangeError(problem);
  return p;
}

/**
 * The problems of a rule's values, by field (priority, type, vlan, src, dst);
 * absent fields (undefined or null) have none. The protocol and the saved
 * configuration (daemon/db.ts) both check rules with it.
 */
export function aclRuleProblems(r: {
  priority?: number | null;
  type?: number | null;
  vlan?: number | 'untagged' | null;
  src?: string | null;
  dst?: string | null;
}): Array<[field: string, problem: string]> {
  const out: Array<[string, string]> = [];
  const check = (field: string, p: string | null): void => void (p !== null && out.push([field, p]));
  if (r.priority != null) check('priority', priorityProblem(r.priority));
  if (r.type != null) check('type', ethertypeProblem(r.type));
  if (r.vlan != null && r.vlan !== 'untagged') check('vlan', vidProblem(r.vlan));
  for (const field of ['src', 'dst'] as const) {
    const m = r[field];
    if (m == null) continue;
    try {
      parseMacMask(m);
    } catch (err) {
      check(field, (err as Error).message);
    }
  }
  return out;
}

/** `VID` (1-4094) or `untagged`. */
export function parseAclVlan(s: string): number | 'untagged' {
  return s === 'untagged' ? 'untagged' : parseVid(s);
}

/** `in PORT src … dst … type 0x0800 vlan 10` of a rule (`any` when it has no match field). */
export function formatAclMatch(r: { in: string | null; src: string | null; dst: string | null; type: number | null; vlan: number | 'untagged' | null }): string {
  const parts: string[] = [];
  if (r.in !== null) parts.push(`in ${r.in}`);
  if (r.src !== null) parts.push(`src ${r.src}`);
  if (r.dst !== null) parts.push(`dst ${r.dst}`);
  if (r.type !== null) parts.push(`type ${fmtType(r.type)}`);
  if (r.vlan !== null) parts.push(`vlan ${r.vlan}`);
  return parts.length === 0 ? 'any' : parts.join(' ');
}
