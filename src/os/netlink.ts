// Netlink messages, the one place that builds them, walks them and talks to
// the kernel over a NETLINK_ROUTE socket: the message header (nlmsghdr), its
// attributes (nlattr, nested or not), the error and ack (nlmsgerr, with the
// kernel's own words when extended acks are on), and one request answered at
// a time. rtnetlink.ts (links) and tunnel-netlink.ts (the tunnel's vxlan
// device) say what each request carries and read what they need of an answer.
// Building and parsing are pure functions over bytes; only talk() and
// askExtendedAcks() touch the socket. Control path: allocation here is fine.

import * as libc from '../native/libc.js';

export const NETLINK_ROUTE = 0;
export const NLMSG_HDRLEN = 16;
export const NLMSG_ERROR = 2;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;
const NLM_F_CAPPED = 0x100; // in an NLMSG_ERROR: the request is not echoed, only its header
const NLM_F_ACK_TLVS = 0x200; // in an NLMSG_ERROR: extended ack attributes follow
const NLMSGERR_ATTR_MSG = 1;
const NLA_TYPE_MASK = 0x3fff;
/** struct nlmsgerr: the error, then the header of the request it answers. */
const NLMSGERR_LEN = 4 + NLMSG_HDRLEN;

// The rtnetlink message types (linux/rtnetlink.h) and their fixed headers.
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWROUTE = 24;
export const RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28;
/** struct ifinfomsg */
export const IFINFOMSG_LEN = 16;
// Link attributes (linux/if_link.h) both link requests and the tunnel's read.
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_LINKINFO = 18;
export const IFLA_INFO_KIND = 1;
/** ifi_flags (linux/if.h): the interface is up. */
export const IFF_UP = 0x1;
/** struct rtmsg */
export const RTMSG_LEN = 12;
/** struct ndmsg */
export const NDMSG_LEN = 12;

/** Netlink's alignment of messages and attributes: 4 bytes. */
export function align(n: number): number {
  return (n + 3) & ~3;
}

// ---- building ----

/** An attribute as (type, payload); a nested one has its members as payload. */
export type Attr = [number, Uint8Array | Attr[]];

function attrLength(a: Attr): number {
  const [, p] = a;
  return 4 + (p instanceof Uint8Array ? p.length : p.reduce((s, m) => s + align(attrLength(m)), 0));
}

function putAttr(v: DataView, buf: Uint8Array, at: number, a: Attr): number {
  const [type, p] = a;
  const len = attrLength(a);
  v.setUint16(at, len, true);
  v.setUint16(at + 2, type, true);
  if (p instanceof Uint8Array) buf.set(p, at + 4);
  else {
    let m = at + 4;
    for (const member of p) m = putAttr(v, buf, m, member);
  }
  return at + align(len);
}

/**
 * One request: nlmsghdr, a fixed header `fixed` bytes long (zeros, then
 * `fill` writes what it holds at `at`), then the attributes.
 */
export function message(type: number, flags: number, seq: number, fixed: number, fill: (v: DataView, at: number) => void, attrs: Attr[]): Uint8Array {
  const len = NLMSG_HDRLEN + fixed + attrs.reduce((s, a) => s + align(attrLength(a)), 0);
  const buf = new Uint8Array(len);
  const v = new DataView(buf.buffer);
  v.setUint32(0, len, true);
  v.setUint16(4, type, true);
  v.setUint16(6, flags, true);
  v.setUint32(8, seq, true);
  fill(v, NLMSG_HDRLEN);
  let at = NLMSG_HDRLEN + fixed;
  for (const a of attrs) at = putAttr(v, buf, at, a);
  return buf;
}

/** An ifinfomsg naming the interface `ifindex` (0: none), family AF_UNSPEC. */
export function ifinfo(ifindex: number): (v: DataView, at: number) => void {
  return (v, at) => v.setInt32(at + 4, ifindex, true);
}

// Attribute payloads.
export const u8 = (n: number): Uint8Array => Uint8Array.of(n);
/** 32 bits in host (little-endian) order; a negative number as its two's complement. */
export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
}
/** 16 bits in network order (a UDP port). */
export function be16(n: number): Uint8Array {
  return Uint8Array.of(n >> 8, n & 0xff);
}
/** A NUL-terminated string (latin1: interface names, kinds, aliases). */
export function stringz(s: string): Uint8Array {
  return Uint8Array.from([...Buffer.from(s, 'latin1'), 0]);
}

// ---- reading ----

/**
 * Calls visit(type, at, len) for each attribute (struct nlattr) between
 * `start` and `end`: `at` is where its payload starts. Stops at the first
 * malformed one.
 */
export function walkAttributes(v: DataView, start: number, end: number, visit: (type: number, at: number, len: number) => void): void {
  let a = start;
  while (a + 4 <= end) {
    const alen = v.getUint16(a, true);
    if (alen < 4 || a + alen > end) return;
    visit(v.getUint16(a + 2, true) & NLA_TYPE_MASK, a + 4, alen - 4);
    a += align(alen);
  }
}

/** The NUL-terminated string of an attribute's payload (latin1: interface names, kinds, aliases). */
export function cString(buf: Uint8Array, at: number, len: number): string {
  let e = at;
  while (e < at + len && buf[e] !== 0) e++;
  return Buffer.from(buf.buffer, buf.byteOffset + at, e - at).toString('latin1');
}

/** One whole message of a datagram: its type and flags, and where it starts and ends. */
export interface NlMessage {
  v: DataView;
  type: number;
  flags: number;
  off: number;
  end: number;
}

/**
 * Calls `read` for each whole message of the `length`-byte datagram, or only
 * for those answering request `seq` if given, until it returns something
 * other than null; that, or null.
 */
export function eachMessage<T>(buf: Uint8Array, length: number, seq: number | null, read: (m: NlMessage) => T | null): T | null {
  const v = new DataView(buf.buffer, buf.byteOffset, length);
  let off = 0;
  while (off + NLMSG_HDRLEN <= length) {
    const msgLen = v.getUint32(off, true);
    if (msgLen < NLMSG_HDRLEN || off + msgLen > length) break;
    if (seq === null || v.getUint32(off + 8, true) === seq) {
      const r = read({ v, type: v.getUint16(off + 4, true), flags: v.getUint16(off + 6, true), off, end: off + msgLen });
      if (r !== null) return r;
    }
    off += align(msgLen);
  }
  return null;
}

/**
 * An NLMSG_ERROR: errno 0 is an ack; `message` is the kernel's own words
 * if it gave them (extended acks). Null if `m` is not a whole one.
 */
export function nlError(buf: Uint8Array, m: NlMessage): { errno: number; message: string | null } | null {
  if (m.type !== NLMSG_ERROR || m.end - m.off < NLMSG_HDRLEN + NLMSGERR_LEN) return null;
  const { v, off, flags } = m;
  const errno = -v.getInt32(off + NLMSG_HDRLEN, true);
  let message: string | null = null;
  if (errno !== 0 && flags & NLM_F_ACK_TLVS) {
    // After the error: the request's header (and its payload unless capped), then attributes.
    const echoed = off + NLMSG_HDRLEN + 4;
    const tlvs = flags & NLM_F_CAPPED ? echoed + NLMSG_HDRLEN : echoed + align(v.getUint32(echoed, true));
    walkAttributes(v, tlvs, m.end, (t, at, len) => {
      if (t !== NLMSGERR_ATTR_MSG || message !== null) return;
      let e = at;
      while (e < at + len && buf[e] !== 0) e++;
      message = Buffer.from(buf.buffer, buf.byteOffset + at, e - at).toString('utf8'); // the kernel's words: UTF-8
    });
  }
  return { errno, message };
}

// ---- talking ----

const SOL_NETLINK = 270;
const NETLINK_EXT_ACK = 11;

/**
 * Ask for the kernel's own words in error replies on a netlink socket (best
 * effort: an old kernel still gives the errno).
 */
export function askExtendedAcks(fd: number): void {
  try {
    libc.setsockoptInt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1, 'NETLINK_EXT_ACK');
  } catch {
    // errno alone then
  }
}

let lastSeq = 0;
const replyBuf = new Uint8Array(1 << 16);

/**
 * Send one request built by `make(seq)` on `fd` and return what `read` finds
 * of its answer. rtnetlink handles a request inside send(), so the answer is
 * queued when send returns; replies to earlier requests are skipped by seq.
 * If the request cannot be sent, or no answer can be read, `failed` says
 * what then (with the errno, and whether the request was sent).
 */
export function talk<T>(fd: number, make: (seq: number) => Uint8Array, read: (buf: Uint8Array, length: number, seq: number) => T | null, failed: (errno: number, sent: boolean) => T): T {
  const seq = (lastSeq = (lastSeq + 1) >>> 0);
  const sent = libc.send(fd, make(seq), 0);
  if (sent < 0) return failed(-sent, false);
  for (;;) {
    const n = libc.recv(fd, replyBuf, libc.MSG_DONTWAIT);
    if (n <= 0) return failed(n < 0 ? -n : libc.EAGAIN, true); // an empty datagram is no answer either
    const r = read(replyBuf, n, seq);
    if (r !== null) return r;
  }
}
