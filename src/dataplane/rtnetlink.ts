// Link notifications from rtnetlink: which interface went up, down, changed
// MTU or name, or disappeared. Only the generic link messages (ifi_family
// AF_UNSPEC) say that: the kernel also sends RTM_NEWLINK/RTM_DELLINK with
// AF_BRIDGE about an interface's bridge-port state (an RTM_DELLINK when it
// leaves a bridge) and AF_INET6 about its IPv6 settings. Parsing is plain
// TypeScript over bytes; only open() touches the kernel. Control path:
// allocation here is fine.

import * as libc from '../native/libc.js';

const NETLINK_ROUTE = 0;
const RTMGRP_LINK = 1;
const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const AF_UNSPEC = 0;
const NLMSG_HDRLEN = 16;
const IFINFOMSG_LEN = 16;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
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
      let a = ifi + IFINFOMSG_LEN;
      const end = off + msgLen;
      while (a + 4 <= end) {
        const alen = v.getUint16(a, true);
        const atype = v.getUint16(a + 2, true) & 0x3fff;
        if (alen < 4 || a + alen > end) break;
        if (atype === IFLA_IFNAME) {
          let e = a + 4;
          while (e < a + alen && buf[e] !== 0) e++;
          ifname = Buffer.from(buf.buffer, buf.byteOffset + a + 4, e - a - 4).toString('latin1');
        } else if (atype === IFLA_MTU && alen >= 8) {
          mtu = v.getUint32(a + 4, true);
        }
        a += (alen + 3) & ~3;
      }
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
