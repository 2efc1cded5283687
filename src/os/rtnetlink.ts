// rtnetlink: link notifications (which interface went up, down, changed MTU
// or name, or disappeared), and RTM_GETLINK about one interface (is it a veth
// whose peer is in another namespace). Only the generic link messages
// (ifi_family AF_UNSPEC) say that: the kernel also sends RTM_NEWLINK/
// RTM_DELLINK with AF_BRIDGE about an interface's bridge-port state (an
// RTM_DELLINK when it leaves a bridge) and AF_INET6 about its IPv6 settings.
// Parsing is plain TypeScript over bytes; only the open*() and getLink() calls
// touch the kernel. Control path: allocation here is fine.

import { readMac } from '../core/mac.js';
import * as libc from '../native/libc.js';

const NETLINK_ROUTE = 0;
const RTMGRP_LINK = 1;
const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_GETLINK = 18;
const NLMSG_ERROR = 2;
const NLM_F_REQUEST = 1;
const NLA_TYPE_MASK = 0x3fff;
const EINVAL = 22;
const AF_UNSPEC = 0;
const NLMSG_HDRLEN = 16;
const IFINFOMSG_LEN = 16;
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_LINK = 5;
const IFLA_LINKINFO = 18;
const IFLA_LINK_NETNSID = 37;
const IFLA_XDP = 43;
const IFLA_TARGET_NETNSID = 46;
const IFLA_INFO_KIND = 1; // in IFLA_LINKINFO
const IFLA_XDP_ATTACHED = 2; // in IFLA_XDP
export const IFF_UP = 0x1;
export const IFF_LOWER_UP = 0x10000;

export interface LinkMessage {
  kind: 'new' | 'del';
  ifindex: number;
  ifname: string;
  /** Administratively up and with carrier. */
  up: boolean;
  /** -1 if the message did not carry it. */
  mtu: number;
}

/** A non-blocking NETLINK_ROUTE socket subscribed to link notifications. */
export function openLinkMonitor(): number {
  const fd = libc.socket(libc.AF_NETLINK, libc.SOCK_RAW | libc.SOCK_NONBLOCK | libc.SOCK_CLOEXEC, NETLINK_ROUTE);
  try {
    // A burst of link changes must not overflow the queue (ENOBUFS loses events).
    libc.setsockoptInt(fd, libc.SOL_SOCKET, libc.SO_RCVBUFFORCE, 1 << 20, 'SO_RCVBUFFORCE');
    const addr = new Uint8Array(12);
    const v = new DataView(addr.buffer);
    v.setUint16(0, libc.AF_NETLINK, true);
    v.setUint32(8, RTMGRP_LINK, true);
    libc.bind(fd, addr, 'rtnetlink');
    return fd;
  } catch (err) {
    libc.close(fd);
    throw err;
  }
}

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
    a += (alen + 3) & ~3;
  }
}

/** The NUL-terminated string of an attribute's payload (latin1: interface names, kinds, aliases). */
export function cString(buf: Uint8Array, at: number, len: number): string {
  let e = at;
  while (e < at + len && buf[e] !== 0) e++;
  return Buffer.from(buf.buffer, buf.byteOffset + at, e - at).toString('latin1');
}

/** Parse the AF_UNSPEC RTM_NEWLINK / RTM_DELLINK messages in one datagram; other messages are skipped. */
export function parseLinkMessages(buf: Uint8Array, length: number): LinkMessage[] {
  const out: LinkMessage[] = [];
  const v = new DataView(buf.buffer, buf.byteOffset, length);
  let off = 0;
  while (off + NLMSG_HDRLEN <= length) {
    const msgLen = v.getUint32(off, true);
    const type = v.getUint16(off + 4, true);
    if (msgLen < NLMSG_HDRLEN || off + msgLen > length) break;
    const ifi = off + NLMSG_HDRLEN;
    if (
      (type === RTM_NEWLINK || type === RTM_DELLINK) &&
      msgLen >= NLMSG_HDRLEN + IFINFOMSG_LEN &&
      v.getUint8(ifi) === AF_UNSPEC
    ) {
      const ifindex = v.getInt32(ifi + 4, true);
      const flags = v.getUint32(ifi + 8, true);
      let ifname = '';
      let mtu = -1;
      walkAttributes(v, ifi + IFINFOMSG_LEN, off + msgLen, (atype, at, len) => {
        if (atype === IFLA_IFNAME) ifname = cString(buf, at, len);
        else if (atype === IFLA_MTU && len >= 4) mtu = v.getUint32(at, true);
      });
      out.push({
        kind: type === RTM_NEWLINK ? 'new' : 'del',
        ifindex,
        ifname,
        up: (flags & IFF_UP) !== 0 && (flags & IFF_LOWER_UP) !== 0,
        mtu,
      });
    }
    off += (msgLen + 3) & ~3;
  }
  return out;
}

// ---- asking about one link (RTM_GETLINK) ----

/** What RTM_GETLINK says of one interface (the attributes the kernel datapath needs). */
export interface LinkInfo {
  ifindex: number;
  /** IFLA_INFO_KIND ("veth", "bridge", …), '' if none. */
  kind: string;
  /** IFLA_LINK: for a veth, its peer's ifindex (in the peer's namespace); -1 if absent. */
  link: number;
  /** IFLA_LINK_NETNSID: present only when the link (a veth's peer) is in another namespace; null if absent. */
  linkNetnsid: number | null;
  /** IFLA_ADDRESS as a number (src/core/mac.ts); -1 if not a 6-octet address. */
  mac: number;
  /** IFLA_MTU; -1 if absent. */
  mtu: number;
  /** An XDP program is attached (IFLA_XDP_ATTACHED not XDP_ATTACHED_NONE). */
  xdp: boolean;
}

/** An RTM_GETLINK request for `ifindex`, in the namespace `targetNetnsid` (an nsid of ours) if given. */
export function getLinkRequest(seq: number, ifindex: number, targetNetnsid?: number): Uint8Array {
  const len = NLMSG_HDRLEN + IFINFOMSG_LEN + (targetNetnsid === undefined ? 0 : 8);
  const req = new Uint8Array(len);
  const v = new DataView(req.buffer);
  v.setUint32(0, len, true);
  v.setUint16(4, RTM_GETLINK, true);
  v.setUint16(6, NLM_F_REQUEST, true);
  v.setUint32(8, seq, true);
  v.setInt32(NLMSG_HDRLEN + 4, ifindex, true); // ifinfomsg.ifi_index; ifi_family AF_UNSPEC
  if (targetNetnsid !== undefined) {
    const a = NLMSG_HDRLEN + IFINFOMSG_LEN;
    v.setUint16(a, 8, true);
    v.setUint16(a + 2, IFLA_TARGET_NETNSID, true);
    v.setInt32(a + 4, targetNetnsid, true);
  }
  return req;
}

/**
 * The reply to request `seq` in one datagram: the link it describes, or the
 * negative errno of an NLMSG_ERROR (ENODEV …), or null if the datagram holds
 * neither.
 */
export function parseGetLinkReply(buf: Uint8Array, length: number, seq: number): LinkInfo | number | null {
  const v = new DataView(buf.buffer, buf.byteOffset, length);
  let off = 0;
  while (off + NLMSG_HDRLEN <= length) {
    const msgLen = v.getUint32(off, true);
    const type = v.getUint16(off + 4, true);
    if (msgLen < NLMSG_HDRLEN || off + msgLen > length) break;
    if (v.getUint32(off + 8, true) === seq) {
      if (type === NLMSG_ERROR && msgLen >= NLMSG_HDRLEN + 4) {
        const err = v.getInt32(off + NLMSG_HDRLEN, true);
        return err < 0 ? err : -EINVAL; // an ack (0) is not an answer to a GETLINK
      }
      if (type === RTM_NEWLINK && msgLen >= NLMSG_HDRLEN + IFINFOMSG_LEN) return linkInfoAt(buf, v, off, msgLen);
    }
    off += (msgLen + 3) & ~3;
  }
  return null;
}

function linkInfoAt(buf: Uint8Array, v: DataView, off: number, msgLen: number): LinkInfo {
  const ifi = off + NLMSG_HDRLEN;
  const info: LinkInfo = { ifindex: v.getInt32(ifi + 4, true), kind: '', link: -1, linkNetnsid: null, mac: -1, mtu: -1, xdp: false };
  walkAttributes(v, ifi + IFINFOMSG_LEN, off + msgLen, (type, at, len) => {
    if (type === IFLA_ADDRESS && len === 6) info.mac = readMac(buf, at);
    else if (type === IFLA_MTU && len >= 4) info.mtu = v.getUint32(at, true);
    else if (type === IFLA_LINK && len >= 4) info.link = v.getInt32(at, true);
    else if (type === IFLA_LINK_NETNSID && len >= 4) info.linkNetnsid = v.getInt32(at, true);
    else if (type === IFLA_LINKINFO) {
      walkAttributes(v, at, at + len, (t, a, l) => {
        if (t === IFLA_INFO_KIND) info.kind = cString(buf, a, l);
      });
    } else if (type === IFLA_XDP) {
      walkAttributes(v, at, at + len, (t, a, l) => {
        if (t === IFLA_XDP_ATTACHED && l >= 1 && v.getUint8(a) !== 0) info.xdp = true;
      });
    }
  });
  return info;
}

/** A NETLINK_ROUTE socket for requests (no notifications). Non-blocking: rtnetlink answers within send(). */
export function openRtnetlink(): number {
  return libc.socket(libc.AF_NETLINK, libc.SOCK_RAW | libc.SOCK_NONBLOCK | libc.SOCK_CLOEXEC, NETLINK_ROUTE);
}

let lastSeq = 0;
const replyBuf = new Uint8Array(1 << 15);

/** RTM_GETLINK of `ifindex` (in namespace `targetNetnsid` if given) on `fd`; null if the kernel has no answer. */
export function getLink(fd: number, ifindex: number, targetNetnsid?: number): LinkInfo | null {
  const seq = (lastSeq = (lastSeq + 1) >>> 0);
  if (libc.send(fd, getLinkRequest(seq, ifindex, targetNetnsid), 0) < 0) return null;
  for (;;) {
    // Replies to earlier requests that were not read are skipped by their seq.
    const n = libc.recv(fd, replyBuf, libc.MSG_DONTWAIT);
    if (n <= 0) return null;
    const r = parseGetLinkReply(replyBuf, n, seq);
    if (r !== null) return typeof r === 'number' ? null : r;
  }
}

/** A veth's peer in another network namespace, as bpf_redirect_peer delivers to it. */
export interface VethPeer {
  mac: number;
  mtu: number;
}

/**
 * The peer of `ifindex` if it is a veth whose peer lives in another network
 * namespace than ours and has no XDP program (the veth's TX would run it, a
 * peer redirect does not); null otherwise, or if the kernel does not say.
 */
export function vethPeerElsewhere(fd: number, ifindex: number): VethPeer | null {
  const self = getLink(fd, ifindex);
  if (self === null || self.kind !== 'veth' || self.linkNetnsid === null || self.link <= 0) return null;
  const peer = getLink(fd, self.link, self.linkNetnsid);
  if (peer === null || peer.mac < 0 || peer.mtu < 0 || peer.xdp) return null;
  return { mac: peer.mac, mtu: peer.mtu };
}
