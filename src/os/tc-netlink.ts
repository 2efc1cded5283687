// tc qdiscs and filters as rtnetlink lists them (`tc qdisc show`, `tc filter
// show dev X ingress|egress`): RTM_GETQDISC and RTM_GETTFILTER dumps, read as
// plain records. vswitchd asks them, in the tc attach mode, whether a port has
// a clsact qdisc before it makes one, which filter is at its own priority and
// handle (with the program's id: cls_bpf reports it), and whether a clsact
// qdisc it made holds anyone else's filter before it deletes it. They are read
// here, without libbpf, because libbpf prints the kernel's refusals (a qdisc
// that exists, a hook with no qdisc) to stderr. Building and parsing are pure;
// only dump() talks to the kernel. Control path only.

import { SyscallError } from '../errors.js';
import * as libc from '../native/libc.js';
import { cString, eachMessage, message, NETLINK_ROUTE, NLM_F_REQUEST, NLMSG_ERROR, type NlMessage, walkAttributes } from './netlink.js';

export const RTM_NEWQDISC = 36;
export const RTM_GETQDISC = 38;
export const RTM_NEWTFILTER = 44;
export const RTM_GETTFILTER = 46;
const NLM_F_DUMP = 0x300;
const NLMSG_DONE = 3;
/** struct tcmsg: family, pads, ifindex, handle, parent, info (protocol, priority). */
const TCMSG_LEN = 20;
const TCA_KIND = 1;
const TCA_OPTIONS = 2;
const TCA_BPF_ID = 11;

/** TC_H_INGRESS: where an ingress or clsact qdisc hangs. */
export const TC_H_INGRESS = 0xfffffff1;
/** TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS) and …EGRESS: the two hooks of a clsact qdisc. */
export const CLSACT_INGRESS = 0xfffffff2;
export const CLSACT_EGRESS = 0xfffffff3;

export interface TcFilter {
  priority: number;
  /** 0 for the line that stands for a priority's classifier itself. */
  handle: number;
  kind: string;
  /** A bpf filter's program id; 0 for any other. */
  progId: number;
}

export interface TcQdisc {
  ifindex: number;
  parent: number;
  kind: string;
}

function tcmsg(ifindex: number, parent: number): (v: DataView, at: number) => void {
  return (v, at) => {
    v.setInt32(at + 4, ifindex, true);
    v.setUint32(at + 12, parent >>> 0, true);
  };
}

/** RTM_GETTFILTER dump of the filters of `ifindex` under `parent`. */
export function dumpFiltersRequest(seq: number, ifindex: number, parent: number): Uint8Array {
  return message(RTM_GETTFILTER, NLM_F_REQUEST | NLM_F_DUMP, seq, TCMSG_LEN, tcmsg(ifindex, parent), []);
}

/** RTM_GETQDISC dump (every interface's: the kernel does not filter qdiscs by interface). */
export function dumpQdiscsRequest(seq: number): Uint8Array {
  return message(RTM_GETQDISC, NLM_F_REQUEST | NLM_F_DUMP, seq, TCMSG_LEN, tcmsg(0, 0), []);
}

/** One RTM_NEWTFILTER message as a TcFilter, or null if it is none. */
export function readFilter(buf: Uint8Array, m: NlMessage): TcFilter | null {
  if (m.type !== RTM_NEWTFILTER || m.end - m.off < 16 + TCMSG_LEN) return null;
  const at = m.off + 16;
  const f: TcFilter = { priority: m.v.getUint32(at + 16, true) >>> 16, handle: m.v.getUint32(at + 8, true), kind: '', progId: 0 };
  walkAttributes(m.v, at + TCMSG_LEN, m.end, (t, a, len) => {
    if (t === TCA_KIND) f.kind = cString(buf, a, len);
    else if (t === TCA_OPTIONS) {
      walkAttributes(m.v, a, a + len, (o, b, olen) => {
        if (o === TCA_BPF_ID && olen >= 4) f.progId = m.v.getUint32(b, true);
      });
    }
  });
  return f;
}

/** One RTM_NEWQDISC message as a TcQdisc, or null if it is none. */
export function readQdisc(buf: Uint8Array, m: NlMessage): TcQdisc | null {
  if (m.type !== RTM_NEWQDISC || m.end - m.off < 16 + TCMSG_LEN) return null;
  const at = m.off + 16;
  const q: TcQdisc = { ifindex: m.v.getInt32(at + 4, true), parent: m.v.getUint32(at + 12, true), kind: '' };
  walkAttributes(m.v, at + TCMSG_LEN, m.end, (t, a, len) => {
    if (t === TCA_KIND) q.kind = cString(buf, a, len);
  });
  return q;
}

/**
 * The records of one datagram of the dump answering `seq`, appended to `out`;
 * 'done' at its end, or a positive errno if the kernel refused it.
 */
export function parseDump<T>(buf: Uint8Array, length: number, seq: number, read: (buf: Uint8Array, m: NlMessage) => T | null, out: T[]): 'more' | 'done' | number {
  const r = eachMessage(buf, length, seq, (m) => {
    if (m.type === NLMSG_DONE) return 'done' as const;
    if (m.type === NLMSG_ERROR) {
      const errno = m.end - m.off >= 20 ? -m.v.getInt32(m.off + 16, true) : 0;
      return errno === 0 ? ('done' as const) : errno;
    }
    const rec = read(buf, m);
    if (rec !== null) out.push(rec);
    return null;
  });
  return r ?? 'more';
}

function fail(call: string, errno: number, what: string): never {
  throw new SyscallError(call, errno, libc.errnoName(errno), what);
}

const dumpBuf = new Uint8Array(1 << 16);
let dumpSeq = 0;

function dump<T>(what: string, make: (seq: number) => Uint8Array, read: (buf: Uint8Array, m: NlMessage) => T | null): T[] {
  // Blocking: each recv() waits for the part of the dump it asks the kernel to make.
  const fd = libc.socket(libc.AF_NETLINK, libc.SOCK_RAW | libc.SOCK_CLOEXEC, NETLINK_ROUTE);
  try {
    const seq = (dumpSeq = (dumpSeq + 1) >>> 0) || 1;
    const sent = libc.send(fd, make(seq), 0);
    if (sent < 0) fail('send', -sent, what);
    const out: T[] = [];
    for (;;) {
      const n = libc.recv(fd, dumpBuf, 0);
      if (n < 0) fail('recv', -n, what);
      const r = parseDump(dumpBuf, n, seq, read, out);
      if (r === 'done') return out;
      if (typeof r === 'number') fail(what, r, '');
    }
  } finally {
    libc.close(fd);
  }
}

/** Every filter of `ifindex` under `parent` (CLSACT_INGRESS, CLSACT_EGRESS); none without a clsact qdisc. */
export function tcFilters(ifindex: number, parent: number): TcFilter[] {
  return dump(`RTM_GETTFILTER of ifindex ${ifindex}`, (seq) => dumpFiltersRequest(seq, ifindex, parent), readFilter);
}

/** The qdisc at the ingress hook of `ifindex` (kind clsact or ingress), or null. */
export function ingressQdisc(ifindex: number): TcQdisc | null {
  const all = dump('RTM_GETQDISC', dumpQdiscsRequest, readQdisc);
  return all.find((q) => q.ifindex === ifindex && q.parent === TC_H_INGRESS) ?? null;
}
