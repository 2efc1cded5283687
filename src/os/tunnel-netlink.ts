// The rtnetlink messages of a VXLAN tunnel port: create the vxlan device
// (what `ip link add NAME type vxlan id N local IP dstport P dev UNDERLAY up`
// sends), mark it as vswitchd's (`ip link set NAME alias …`: the kernel takes
// no alias in the request that creates a device), read a device back
// (`ip -d link show NAME`: kind, alias, VNI, port), add a head-end replication entry per remote (`bridge fdb append
// 00:00:00:00:00:00 dev NAME dst IP self`), delete the device, and ask the
// kernel which route reaches a remote (`ip route get IP`). Building and
// parsing are pure functions over bytes (unit-tested without root); only
// rtnlTalk() sends, on a NETLINK_ROUTE socket of datapath/rtnetlink.ts.

import { cString as stringAt, walkAttributes } from './rtnetlink.js';
import * as libc from '../native/libc.js';

const NLMSG_HDRLEN = 16;
const NLMSG_ERROR = 2;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const NLM_F_APPEND = 0x800;
const NLM_F_CAPPED = 0x100; // in an NLMSG_ERROR: the request is not echoed, only its header
const NLM_F_ACK_TLVS = 0x200; // in an NLMSG_ERROR: extended ack attributes follow
const NLMSGERR_ATTR_MSG = 1;

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWROUTE = 24;
export const RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28;

const AF_INET = 2;
const AF_INET6 = 10;
const AF_BRIDGE = 7;
const IFF_UP = 0x1;

const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_LINKINFO = 18;
const IFLA_IFALIAS = 20;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
export const IFLA_VXLAN_ID = 1;
export const IFLA_VXLAN_LINK = 3;
export const IFLA_VXLAN_LOCAL = 4;
export const IFLA_VXLAN_LEARNING = 7;
export const IFLA_VXLAN_PORT = 15;
export const IFLA_VXLAN_LOCAL6 = 17;

const NDA_DST = 1;
const NDA_LLADDR = 2;
const NUD_NOARP = 0x40;
const NUD_PERMANENT = 0x80;
const NTF_SELF = 0x02;

const RTA_DST = 1;
const RTA_OIF = 4;
export const RTN_LOCAL = 2;

const IFINFOMSG_LEN = 16;
const NDMSG_LEN = 12;
const RTMSG_LEN = 12;

/** What the vxlan device is made of (addresses as 4 or 16 bytes, network order). */
export interface VxlanLink {
  name: string;
  vni: number;
  /** Local address; for IPv6 without one, 16 zero bytes (makes the device IPv6). Null: IPv4, any local address. */
  local: Uint8Array | null;
  dstport: number;
  mtu: number;
  /** The underlay's ifindex, or 0 for none. */
  underlay: number;
}

/** Attributes as (type, payload) pairs; a nested one has its members as payload. */
type Attr = [number, Uint8Array | Attr[]];

function attrLength(a: Attr): number {
  const [, p] = a;
  return 4 + (p instanceof Uint8Array ? p.length : p.reduce((s, m) => s + align(attrLength(m)), 0));
}

function align(n: number): number {
  return (n + 3) & ~3;
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

/** One request: nlmsghdr, a fixed header `fixed` bytes long (filled by `fill`), then attributes. */
function message(type: number, flags: number, seq: number, fixed: number, fill: (v: DataView, at: number) => void, attrs: Attr[]): Uint8Array {
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

const u8 = (n: number): Uint8Array => Uint8Array.of(n);
function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}
function be16(n: number): Uint8Array {
  return Uint8Array.of(n >> 8, n & 0xff);
}
function cString(s: string): Uint8Array {
  return Uint8Array.from([...Buffer.from(s, 'latin1'), 0]);
}

/** RTM_NEWLINK creating the vxlan device, up, in flood-and-learn mode; fails (EEXIST) if the name is taken. */
export function newVxlanRequest(seq: number, l: VxlanLink): Uint8Array {
  const data: Attr[] = [[IFLA_VXLAN_ID, u32(l.vni)]];
  if (l.underlay > 0) data.push([IFLA_VXLAN_LINK, u32(l.underlay)]);
  if (l.local !== null) data.push([l.local.length === 16 ? IFLA_VXLAN_LOCAL6 : IFLA_VXLAN_LOCAL, l.local]);
  data.push([IFLA_VXLAN_PORT, be16(l.dstport)], [IFLA_VXLAN_LEARNING, u8(1)]);
  const attrs: Attr[] = [
    [IFLA_IFNAME, cString(l.name)],
    [IFLA_MTU, u32(l.mtu)],
    [IFLA_LINKINFO, [[IFLA_INFO_KIND, cString('vxlan')], [IFLA_INFO_DATA, data]]],
  ];
  return message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq, IFINFOMSG_LEN, (v, at) => {
    v.setUint32(at + 8, IFF_UP, true); // ifi_flags
    v.setUint32(at + 12, IFF_UP, true); // ifi_change
  }, attrs);
}

/** RTM_NEWLINK setting the alias of the interface with this index. */
export function setAliasRequest(seq: number, ifindex: number, alias: string): Uint8Array {
  return message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, IFINFOMSG_LEN, (v, at) => v.setInt32(at + 4, ifindex, true), [
    [IFLA_IFALIAS, cString(alias)],
  ]);
}

/** RTM_GETLINK of the interface named `name` (answered by a link, or ENODEV). */
export function getLinkRequest(seq: number, name: string): Uint8Array {
  return message(RTM_GETLINK, NLM_F_REQUEST, seq, IFINFOMSG_LEN, () => undefined, [[IFLA_IFNAME, cString(name)]]);
}

/** RTM_DELLINK of the interface with this index (an index, not a name: never someone else's device). */
export function delLinkRequest(seq: number, ifindex: number): Uint8Array {
  return message(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, seq, IFINFOMSG_LEN, (v, at) => v.setInt32(at + 4, ifindex, true), []);
}

/** RTM_NEWNEIGH appending the all-zeros entry to `remote` to the vxlan device's own FDB: head-end replication. */
export function appendRemoteRequest(seq: number, ifindex: number, remote: Uint8Array): Uint8Array {
  return message(RTM_NEWNEIGH, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND, seq, NDMSG_LEN, (v, at) => {
    v.setUint8(at, AF_BRIDGE);
    v.setInt32(at + 4, ifindex, true);
    v.setUint16(at + 8, NUD_NOARP | NUD_PERMANENT, true);
    v.setUint8(at + 10, NTF_SELF);
  }, [
    [NDA_LLADDR, new Uint8Array(6)],
    [NDA_DST, remote],
  ]);
}

/** RTM_GETROUTE for one address (`ip route get`). */
export function getRouteRequest(seq: number, dst: Uint8Array): Uint8Array {
  return message(RTM_GETROUTE, NLM_F_REQUEST, seq, RTMSG_LEN, (v, at) => {
    v.setUint8(at, dst.length === 16 ? AF_INET6 : AF_INET);
    v.setUint8(at + 1, dst.length * 8); // rtm_dst_len
  }, [[RTA_DST, dst]]);
}

/** The answer to request `seq`: done (an ack), an error (errno, and the kernel's own words if it gave any), a route, or nothing yet. */
export type Reply =
  | { kind: 'ack' }
  | { kind: 'error'; errno: number; message: string | null }
  | { kind: 'route'; type: number; oif: number }
  | LinkReply
  | null;

/** An interface as RTM_GETLINK describes it: its kind ('vxlan', 'veth', or null for none), alias, and for vxlan its VNI and UDP port. */
export interface LinkReply {
  kind: 'link';
  ifindex: number;
  linkKind: string | null;
  alias: string | null;
  vni: number | null;
  dstport: number | null;
}

/** The reply to request `seq` in one datagram of `length` bytes. */
export function parseReply(buf: Uint8Array, length: number, seq: number): Reply {
  const v = new DataView(buf.buffer, buf.byteOffset, length);
  let off = 0;
  while (off + NLMSG_HDRLEN <= length) {
    const msgLen = v.getUint32(off, true);
    if (msgLen < NLMSG_HDRLEN || off + msgLen > length) break;
    const type = v.getUint16(off + 4, true);
    const flags = v.getUint16(off + 6, true);
    if (v.getUint32(off + 8, true) === seq) {
      if (type === NLMSG_ERROR && msgLen >= NLMSG_HDRLEN + 4 + NLMSG_HDRLEN) {
        const err = v.getInt32(off + NLMSG_HDRLEN, true);
        if (err === 0) return { kind: 'ack' };
        let message: string | null = null;
        if (flags & NLM_F_ACK_TLVS) {
          // After the error: the request's header (and its payload unless capped), then attributes.
          const echoed = off + NLMSG_HDRLEN + 4;
          const tlvs = flags & NLM_F_CAPPED ? echoed + NLMSG_HDRLEN : echoed + align(v.getUint32(echoed, true));
          message = extackMessage(buf, v, tlvs, off + msgLen);
        }
        return { kind: 'error', errno: -err, message };
      }
      if (type === RTM_NEWROUTE && msgLen >= NLMSG_HDRLEN + RTMSG_LEN) {
        const rtm = off + NLMSG_HDRLEN;
        let oif = 0;
        walkAttributes(v, rtm + RTMSG_LEN, off + msgLen, (t, a, l) => {
          if (t === RTA_OIF && l >= 4) oif = v.getUint32(a, true);
        });
        return { kind: 'route', type: v.getUint8(rtm + 7), oif };
      }
      if (type === RTM_NEWLINK && msgLen >= NLMSG_HDRLEN + IFINFOMSG_LEN) return parseLink(buf, v, off + NLMSG_HDRLEN, off + msgLen);
    }
    off += align(msgLen);
  }
  return null;
}

function parseLink(buf: Uint8Array, v: DataView, ifi: number, end: number): LinkReply {
  const link: LinkReply = { kind: 'link', ifindex: v.getInt32(ifi + 4, true), linkKind: null, alias: null, vni: null, dstport: null };
  walkAttributes(v, ifi + IFINFOMSG_LEN, end, (type, at, len) => {
    if (type === IFLA_IFALIAS) link.alias = stringAt(buf, at, len);
    if (type !== IFLA_LINKINFO) return;
    walkAttributes(v, at, at + len, (t, a, l) => {
      if (t === IFLA_INFO_KIND) link.linkKind = stringAt(buf, a, l);
      if (t !== IFLA_INFO_DATA) return;
      walkAttributes(v, a, a + l, (d, da, dl) => {
        if (d === IFLA_VXLAN_ID && dl >= 4) link.vni = v.getUint32(da, true);
        if (d === IFLA_VXLAN_PORT && dl >= 2) link.dstport = v.getUint16(da, false);
      });
    });
  });
  // Data of a kind not known here is not read as vxlan's.
  if (link.linkKind !== 'vxlan') link.vni = link.dstport = null;
  return link;
}

function extackMessage(buf: Uint8Array, v: DataView, start: number, end: number): string | null {
  let message: string | null = null;
  walkAttributes(v, start, end, (t, at, len) => {
    if (t !== NLMSGERR_ATTR_MSG || message !== null) return;
    let e = at;
    while (e < at + len && buf[e] !== 0) e++;
    message = Buffer.from(buf.buffer, buf.byteOffset + at, e - at).toString('utf8'); // the kernel's words: UTF-8
  });
  return message;
}

const SOL_NETLINK = 270;
const NETLINK_EXT_ACK = 11;
let lastSeq = 0;
const replyBuf = new Uint8Array(1 << 16);

/**
 * Ask for the kernel's own words in error replies on a NETLINK_ROUTE socket
 * (best effort: an old kernel still gives the errno).
 */
export function askExtendedAcks(fd: number): void {
  try {
    libc.setsockoptInt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1, 'NETLINK_EXT_ACK');
  } catch {
    // errno alone then
  }
}

/**
 * Send one request built by `make(seq)` on a NETLINK_ROUTE socket and return
 * its answer. rtnetlink handles a request inside send(), so the answer is
 * queued when send returns; replies to earlier requests are skipped by seq.
 */
export function rtnlTalk(fd: number, make: (seq: number) => Uint8Array): Exclude<Reply, null> {
  const seq = (lastSeq = (lastSeq + 1) >>> 0);
  const sent = libc.send(fd, make(seq), 0);
  if (sent < 0) return { kind: 'error', errno: -sent, message: null };
  for (;;) {
    const n = libc.recv(fd, replyBuf, libc.MSG_DONTWAIT);
    if (n < 0) return { kind: 'error', errno: -n, message: 'no answer from rtnetlink' };
    const r = parseReply(replyBuf, n, seq);
    if (r !== null) return r;
  }
}
