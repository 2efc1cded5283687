// rtnetlink: link notifications (which interface went up, down, changed MTU
// or name, or disappeared), and RTM_GETLINK about one interface (is it a veth
// whose peer is in another namespace). Only the generic link messages
// (ifi_family AF_UNSPEC) say that: the kernel also sends RTM_NEWLINK/
// RTM_DELLINK with AF_BRIDGE about an interface's bridge-port state (an
// RTM_DELLINK when it leaves a bridge) and AF_INET6 about its IPv6 settings.
// Messages are built, walked and sent by netlink.ts; only openLinkMonitor()
// and getLink() touch the kernel. Control path: allocation here is fine.

import { readMac } from '../core/mac.js';
import * as libc from '../native/libc.js';
import {
  cString,
  eachMessage,
  ifinfo,
  IFF_UP,
  IFINFOMSG_LEN,
  IFLA_IFNAME,
  IFLA_INFO_KIND,
  IFLA_LINKINFO,
  IFLA_MTU,
  message,
  NETLINK_ROUTE,
  nlError,
  NLM_F_REQUEST,
  NLMSG_HDRLEN,
  RTM_DELLINK,
  RTM_GETLINK,
  RTM_NEWLINK,
  talk,
  u32,
  walkAttributes,
} from './netlink.js';

const RTMGRP_LINK = 1;
const EINVAL = 22;
const AF_UNSPEC = 0;
const IFLA_ADDRESS = 1;
const IFLA_LINK = 5;
const IFLA_LINK_NETNSID = 37;
const IFLA_XDP = 43;
const IFLA_TARGET_NETNSID = 46;
const IFLA_XDP_ATTACHED = 2; // in IFLA_XDP
export { IFF_UP };
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
  const fd = openRtnetlink();
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

/** Parse the AF_UNSPEC RTM_NEWLINK / RTM_DELLINK messages in one datagram; other messages are skipped. */
export function parseLinkMessages(buf: Uint8Array, length: number): LinkMessage[] {
  const out: LinkMessage[] = [];
  eachMessage(buf, length, null, ({ v, type, off, end }) => {
    const ifi = off + NLMSG_HDRLEN;
    if ((type !== RTM_NEWLINK && type !== RTM_DELLINK) || end - off < NLMSG_HDRLEN + IFINFOMSG_LEN || v.getUint8(ifi) !== AF_UNSPEC) return null;
    const flags = v.getUint32(ifi + 8, true);
    let ifname = '';
    let mtu = -1;
    walkAttributes(v, ifi + IFINFOMSG_LEN, end, (atype, at, len) => {
      if (atype === IFLA_IFNAME) ifname = cString(buf, at, len);
      else if (atype === IFLA_MTU && len >= 4) mtu = v.getUint32(at, true);
    });
    out.push({
      kind: type === RTM_NEWLINK ? 'new' : 'del',
      ifindex: v.getInt32(ifi + 4, true),
      ifname,
      up: (flags & IFF_UP) !== 0 && (flags & IFF_LOWER_UP) !== 0,
      mtu,
    });
    return null;
  });
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
  return message(RTM_GETLINK, NLM_F_REQUEST, seq, IFINFOMSG_LEN, ifinfo(ifindex), targetNetnsid === undefined ? [] : [[IFLA_TARGET_NETNSID, u32(targetNetnsid)]]);
}

/**
 * The reply to request `seq` in one datagram: the link it describes, or the
 * negative errno of an NLMSG_ERROR (ENODEV …), or null if the datagram holds
 * neither.
 */
export function parseGetLinkReply(buf: Uint8Array, length: number, seq: number): LinkInfo | number | null {
  return eachMessage<LinkInfo | number>(buf, length, seq, (m) => {
    const err = nlError(buf, m);
    if (err !== null) return err.errno > 0 ? -err.errno : -EINVAL; // an ack is not an answer to a GETLINK
    if (m.type === RTM_NEWLINK && m.end - m.off >= NLMSG_HDRLEN + IFINFOMSG_LEN) return linkInfoAt(buf, m.v, m.off + NLMSG_HDRLEN, m.end);
    return null;
  });
}

function linkInfoAt(buf: Uint8Array, v: DataView, ifi: number, end: number): LinkInfo {
  const info: LinkInfo = { ifindex: v.getInt32(ifi + 4, true), kind: '', link: -1, linkNetnsid: null, mac: -1, mtu: -1, xdp: false };
  walkAttributes(v, ifi + IFINFOMSG_LEN, end, (type, at, len) => {
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

/** RTM_GETLINK of `ifindex` (in namespace `targetNetnsid` if given) on `fd`; null if the kernel has no answer. */
export function getLink(fd: number, ifindex: number, targetNetnsid?: number): LinkInfo | null {
  const r = talk(fd, (seq) => getLinkRequest(seq, ifindex, targetNetnsid), parseGetLinkReply, () => null);
  return typeof r === 'number' ? null : r;
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
