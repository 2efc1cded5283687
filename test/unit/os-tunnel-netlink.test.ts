// The rtnetlink messages of a tunnel (src/os/tunnel-netlink.ts), byte by
// byte, and the parsing of the kernel's answers: no root needed.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RTM_DELLINK, RTM_GETLINK, RTM_GETROUTE, RTM_NEWLINK, RTM_NEWNEIGH, RTM_NEWROUTE } from '../../src/os/netlink.js';
import {
  appendRemoteRequest,
  delLinkRequest,
  getLinkRequest,
  getRouteRequest,
  IFLA_VXLAN_ID,
  IFLA_VXLAN_LEARNING,
  IFLA_VXLAN_LINK,
  IFLA_VXLAN_LOCAL,
  IFLA_VXLAN_LOCAL6,
  IFLA_VXLAN_PORT,
  newVxlanRequest,
  parseReply,
  setAliasRequest,
} from '../../src/os/tunnel-netlink.js';

/** Attributes between start and end as type → payload (the last one of a type wins). */
function attrs(b: Uint8Array, start: number, end: number): Map<number, Uint8Array> {
  const v = new DataView(b.buffer, b.byteOffset);
  const out = new Map<number, Uint8Array>();
  for (let a = start; a + 4 <= end; ) {
    const len = v.getUint16(a, true);
    assert.ok(len >= 4 && a + len <= end, `bad attribute at ${a}`);
    out.set(v.getUint16(a + 2, true), b.subarray(a + 4, a + len));
    a += (len + 3) & ~3;
  }
  return out;
}

function header(b: Uint8Array): { len: number; type: number; flags: number; seq: number } {
  const v = new DataView(b.buffer, b.byteOffset);
  return { len: v.getUint32(0, true), type: v.getUint16(4, true), flags: v.getUint16(6, true), seq: v.getUint32(8, true) };
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('tunnel rtnetlink requests', () => {
  it('RTM_NEWLINK: name, MTU, kind vxlan, VNI, underlay, local, port 4789 big-endian, learning; create, exclusive, ack, up', () => {
    const m = newVxlanRequest(9, { name: 'vx1', vni: 0x123456, local: Uint8Array.of(10, 1, 2, 3), dstport: 4789, mtu: 1450, underlay: 7 });
    const h = header(m);
    assert.deepEqual(h, { len: m.length, type: RTM_NEWLINK, flags: 0x1 | 0x4 | 0x400 | 0x200, seq: 9 });
    const v = new DataView(m.buffer);
    assert.equal(m[16], 0, 'ifi_family AF_UNSPEC');
    assert.equal(v.getUint32(16 + 8, true), 1, 'ifi_flags IFF_UP');
    assert.equal(v.getUint32(16 + 12, true), 1, 'ifi_change IFF_UP');
    const top = attrs(m, 32, m.length);
    assert.equal(Buffer.from(top.get(3)!).toString('latin1'), 'vx1\0');
    assert.equal(new DataView(top.get(4)!.buffer, top.get(4)!.byteOffset).getUint32(0, true), 1450);
    const linkinfo = top.get(18)!;
    const info = attrs(linkinfo, 0, linkinfo.length);
    assert.equal(Buffer.from(info.get(1)!).toString('latin1'), 'vxlan\0');
    const data = attrs(info.get(2)!, 0, info.get(2)!.length);
    assert.equal(hex(data.get(IFLA_VXLAN_ID)!), '56341200', 'VNI, host order');
    assert.equal(hex(data.get(IFLA_VXLAN_LINK)!), '07000000');
    assert.equal(hex(data.get(IFLA_VXLAN_LOCAL)!), '0a010203');
    assert.equal(hex(data.get(IFLA_VXLAN_PORT)!), '12b5', '4789, network order');
    assert.equal(hex(data.get(IFLA_VXLAN_LEARNING)!), '01');
    assert.equal(data.has(IFLA_VXLAN_LOCAL6), false);
  });

  it('RTM_NEWLINK: an IPv6 tunnel without a local address says LOCAL6 :: (the device is IPv6); no underlay, no LINK', () => {
    const m = newVxlanRequest(1, { name: 'vx6', vni: 0, local: new Uint8Array(16), dstport: 4789, mtu: 1430, underlay: 0 });
    const linkinfo = attrs(m, 32, m.length).get(18)!;
    const info = attrs(linkinfo, 0, linkinfo.length);
    const data = attrs(info.get(2)!, 0, info.get(2)!.length);
    assert.equal(hex(data.get(IFLA_VXLAN_LOCAL6)!), '00'.repeat(16));
    assert.equal(data.has(IFLA_VXLAN_LOCAL), false);
    assert.equal(data.has(IFLA_VXLAN_LINK), false);
  });

  // The same bytes as iproute2 6.1 sends (strace of bridge fdb append), seq and ifindex aside.
  it('RTM_NEWNEIGH: what `bridge fdb append 00:00:00:00:00:00 dev vx1 dst 10.0.0.2 self` sends', () => {
    const m = appendRemoteRequest(5, 42, Uint8Array.of(10, 0, 0, 2));
    // nlmsghdr (REQUEST|ACK|CREATE|APPEND), ndmsg (AF_BRIDGE, ifindex 42, NUD_NOARP|NUD_PERMANENT, NTF_SELF),
    // NDA_LLADDR 00:00:00:00:00:00, NDA_DST 10.0.0.2.
    assert.equal(
      hex(m),
      '30000000' + '1c00' + '050c' + '05000000' + '00000000' +
        '07000000' + '2a000000' + 'c000' + '02' + '00' +
        '0a00' + '0200' + '000000000000' + '0000' +
        '0800' + '0100' + '0a000002',
    );
    assert.equal(header(m).type, RTM_NEWNEIGH);
  });

  it('RTM_DELLINK names the device by its index', () => {
    const m = delLinkRequest(3, 42);
    assert.equal(hex(m), '20000000' + '1100' + '0500' + '03000000' + '00000000' + '00000000' + '2a000000' + '00000000' + '00000000');
    assert.equal(header(m).type, RTM_DELLINK);
  });

  it('RTM_NEWLINK setting an alias (`ip link set dev vx1 alias "vswitch tunnel"`): the index, IFLA_IFALIAS, ack, no create', () => {
    const m = setAliasRequest(4, 42, 'vswitch tunnel');
    assert.equal(
      hex(m),
      '34000000' + '1000' + '0500' + '04000000' + '00000000' + '00000000' + '2a000000' + '00000000' + '00000000' +
        '1300' + '1400' + Buffer.from('vswitch tunnel\0').toString('hex') + '00',
    );
  });

  it('RTM_GETLINK by name (`ip link show vx1`): no index, IFLA_IFNAME, no dump', () => {
    const m = getLinkRequest(5, 'vx1');
    assert.equal(hex(m), '28000000' + '1200' + '0100' + '05000000' + '00000000' + '00000000' + '00000000' + '00000000' + '00000000' + '0800' + '0300' + '76783100');
    assert.equal(header(m).type, RTM_GETLINK);
  });

  it('RTM_GETROUTE for one IPv4 or IPv6 address', () => {
    const m4 = getRouteRequest(4, Uint8Array.of(192, 0, 2, 1));
    assert.equal(header(m4).type, RTM_GETROUTE);
    assert.equal(m4[16], 2, 'AF_INET');
    assert.equal(m4[17], 32, 'rtm_dst_len');
    assert.equal(hex(attrs(m4, 28, m4.length).get(1)!), 'c0000201');
    const m6 = getRouteRequest(4, new Uint8Array(16).fill(0xfd, 0, 1));
    assert.equal(m6[16], 10, 'AF_INET6');
    assert.equal(m6[17], 128);
  });
});

/** An NLMSG_ERROR answering request `seq` with `error`, echoing a 16-byte header, then ext-ack attributes. */
function errorReply(seq: number, error: number, extackMsg?: string): Uint8Array {
  const msg = extackMsg === undefined ? new Uint8Array(0) : Buffer.from(`${extackMsg}\0`);
  const tlv = msg.length === 0 ? 0 : (4 + msg.length + 3) & ~3;
  const len = 16 + 4 + 16 + tlv;
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  v.setUint32(0, len, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, msg.length ? 0x100 | 0x200 : 0x100, true); // CAPPED, ACK_TLVS
  v.setUint32(8, seq, true);
  v.setInt32(16, error, true);
  v.setUint32(20, 16, true); // the echoed header's length
  v.setUint32(28, seq, true);
  if (tlv) {
    v.setUint16(36, 4 + msg.length, true);
    v.setUint16(38, 1, true); // NLMSGERR_ATTR_MSG
    b.set(msg, 40);
  }
  return b;
}

describe('tunnel rtnetlink answers', () => {
  it('an ack, an errno, and the kernel\'s own words when it gave them', () => {
    const ack = errorReply(7, 0);
    assert.deepEqual(parseReply(ack, ack.length, 7), { kind: 'ack' });
    const plain = errorReply(7, -17);
    assert.deepEqual(parseReply(plain, plain.length, 7), { kind: 'error', errno: 17, message: null });
    const words = errorReply(7, -17, 'A VXLAN device with the specified VNI already exists');
    assert.deepEqual(parseReply(words, words.length, 7), { kind: 'error', errno: 17, message: 'A VXLAN device with the specified VNI already exists' });
  });

  it('an answer to another request is not this one\'s', () => {
    const other = errorReply(6, -1);
    assert.equal(parseReply(other, other.length, 7), null);
  });

  it('a route: its type (local or not) and output interface', () => {
    const len = 16 + 12 + 8 + 8;
    const b = new Uint8Array(len);
    const v = new DataView(b.buffer);
    v.setUint32(0, len, true);
    v.setUint16(4, RTM_NEWROUTE, true);
    v.setUint32(8, 3, true);
    b[16] = 2;
    b[16 + 7] = 2; // RTN_LOCAL
    v.setUint16(28, 8, true);
    v.setUint16(30, 1, true); // RTA_DST
    v.setUint16(36, 8, true);
    v.setUint16(38, 4, true); // RTA_OIF
    v.setUint32(40, 5, true);
    assert.deepEqual(parseReply(b, len, 3), { kind: 'route', type: 2, oif: 5 });
  });

  // Linux 6.18's answers to RTM_GETLINK, trimmed to the attributes read (name, MTU, alias, link info).
  const VXLAN_LINK =
    '1c01000010000000770000000000000000000100020000000210000000000000080003007678310008000400dc05000013001400767377697463682074756e6e656c0000' +
    'd80012000a00010076786c616e000000c80002000800010092100000050005000000000005001c0000000000050006000000000005001d000000000008001a000000000008002000000000' +
    '00050007000100000005000b000000000005000c000000000005000d000000000005000e00000000000500190000000000080008002c010000080009000000000006000f0012b5000005001200' +
    '01000000050013000000000005001400000000000500150000000000050016000000000005001f000100000008000a00000000000c002100f7ffffff000000ff';
  const VETH_LINK = '4000000010000000770000000000000000000100040000000210000000000000080003007665310008000400dc05000010001200090001007665746800000000';

  it('a link: its index, kind, alias, and for vxlan its VNI and UDP port (as the kernel answers `ip link show`)', () => {
    const vx = Buffer.from(VXLAN_LINK, 'hex');
    assert.deepEqual(parseReply(vx, vx.length, 0x77), { kind: 'link', ifindex: 2, linkKind: 'vxlan', alias: 'vswitch tunnel', vni: 4242, dstport: 4789 });
    const veth = Buffer.from(VETH_LINK, 'hex');
    assert.deepEqual(parseReply(veth, veth.length, 0x77), { kind: 'link', ifindex: 4, linkKind: 'veth', alias: null, vni: null, dstport: null });
  });

  it('a truncated datagram is no answer', () => {
    const ack = errorReply(7, 0);
    assert.equal(parseReply(ack, 20, 7), null);
  });
});
