// The rtnetlink messages of a VXLAN tunnel port: create the vxlan device
// (what `ip link add NAME type vxlan id N local IP dstport P dev UNDERLAY up`
// sends), mark it as vswitchd's (`ip link set NAME alias …`: the kernel takes
// no alias in the request that creates a device), read a device back
// (`ip -d link show NAME`: kind, alias, VNI, port), add a head-end replication
// entry per remote (`bridge fdb append 00:00:00:00:00:00 dev NAME dst IP
// self`), delete the device, and ask the kernel which route reaches a remote
// (`ip route get IP`). What each request carries and what is read of an
// answer is here; netlink.ts builds, walks and sends the messages.

import {
  type Attr,
  be16,
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
  NDMSG_LEN,
  nlError,
  NLM_F_ACK,
  NLM_F_APPEND,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  NLMSG_HDRLEN,
  RTM_DELLINK,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
  RTM_NEWROUTE,
  RTMSG_LEN,
  stringz,
  talk,
  u32,
  u8,
  walkAttributes,
} from './netlink.js';

const AF_INET = 2;
const AF_INET6 = 10;
const AF_BRIDGE = 7;

const IFLA_IFALIAS = 20;
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

/** RTM_NEWLINK creating the vxlan device, up, in flood-and-learn mode; fails (EEXIST) if the name is taken. */
export function newVxlanRequest(seq: number, l: VxlanLink): Uint8Array {
  const data: Attr[] = [[IFLA_VXLAN_ID, u32(l.vni)]];
  if (l.underlay > 0) data.push([IFLA_VXLAN_LINK, u32(l.underlay)]);
  if (l.local !== null) data.push([l.local.length === 16 ? IFLA_VXLAN_LOCAL6 : IFLA_VXLAN_LOCAL, l.local]);
  data.push([IFLA_VXLAN_PORT, be16(l.dstport)], [IFLA_VXLAN_LEARNING, u8(1)]);
  const attrs: Attr[] = [
    [IFLA_IFNAME, stringz(l.name)],
    [IFLA_MTU, u32(l.mtu)],
    [IFLA_LINKINFO, [[IFLA_INFO_KIND, stringz('vxlan')], [IFLA_INFO_DATA, data]]],
  ];
  return message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq, IFINFOMSG_LEN, (v, at) => {
    v.setUint32(at + 8, IFF_UP, true); // ifi_flags
    v.setUint32(at + 12, IFF_UP, true); // ifi_change
  }, attrs);
}

/** RTM_NEWLINK setting the alias of the interface with this index. */
export function setAliasRequest(seq: number, ifindex: number, alias: string): Uint8Array {
  return message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, IFINFOMSG_LEN, ifinfo(ifindex), [[IFLA_IFALIAS, stringz(alias)]]);
}

/** RTM_GETLINK of the interface named `name` (answered by a link, or ENODEV). */
export function getLinkRequest(seq: number, name: string): Uint8Array {
  return message(RTM_GETLINK, NLM_F_REQUEST, seq, IFINFOMSG_LEN, ifinfo(0), [[IFLA_IFNAME, stringz(name)]]);
}

/** RTM_DELLINK of the interface with this index (an index, not a name: never someone else's device). */
export function delLinkRequest(seq: number, ifindex: number): Uint8Array {
  return message(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, seq, IFINFOMSG_LEN, ifinfo(ifindex), []);
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
  return eachMessage<Exclude<Reply, null>>(buf, length, seq, (m) => {
    const { v, type, off, end } = m;
    const err = nlError(buf, m);
    if (err !== null) return err.errno === 0 ? { kind: 'ack' } : { kind: 'error', ...err };
    if (type === RTM_NEWROUTE && end - off >= NLMSG_HDRLEN + RTMSG_LEN) {
      const rtm = off + NLMSG_HDRLEN;
      let oif = 0;
      walkAttributes(v, rtm + RTMSG_LEN, end, (t, a, l) => {
        if (t === RTA_OIF && l >= 4) oif = v.getUint32(a, true);
      });
      return { kind: 'route', type: v.getUint8(rtm + 7), oif };
    }
    if (type === RTM_NEWLINK && end - off >= NLMSG_HDRLEN + IFINFOMSG_LEN) return parseLink(buf, v, off + NLMSG_HDRLEN, end);
    return null;
  });
}

function parseLink(buf: Uint8Array, v: DataView, ifi: number, end: number): LinkReply {
  const link: LinkReply = { kind: 'link', ifindex: v.getInt32(ifi + 4, true), linkKind: null, alias: null, vni: null, dstport: null };
  walkAttributes(v, ifi + IFINFOMSG_LEN, end, (type, at, len) => {
    if (type === IFLA_IFALIAS) link.alias = cString(buf, at, len);
    if (type !== IFLA_LINKINFO) return;
    walkAttributes(v, at, at + len, (t, a, l) => {
      if (t === IFLA_INFO_KIND) link.linkKind = cString(buf, a, l);
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

/** Send one request built by `make(seq)` on a NETLINK_ROUTE socket and return its answer (netlink.ts talk). */
export function rtnlTalk(fd: number, make: (seq: number) => Uint8Array): Exclude<Reply, null> {
  return talk<Exclude<Reply, null>>(fd, make, parseReply, (errno, sent) => ({ kind: 'error', errno, message: sent ? 'no answer from rtnetlink' : null }));
}
