import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getLinkRequest, IFF_LOWER_UP, IFF_UP, parseGetLinkReply, parseLinkMessages } from '../../src/os/rtnetlink.js';

const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_NEWADDR = 20;
const AF_UNSPEC = 0;
const AF_BRIDGE = 7;
const AF_INET6 = 10;
const IFLA_MASTER = 10;

/** One netlink message: nlmsghdr, ifinfomsg, then attributes (type, bytes). */
function linkMsg(type: number, ifindex: number, flags: number, attrs: [number, Uint8Array][], family = AF_UNSPEC, seq = 0): Uint8Array {
  const pad = (n: number) => (n + 3) & ~3;
  const attrLen = attrs.reduce((s, [, b]) => s + pad(4 + b.length), 0);
  const len = 16 + 16 + attrLen;
  const buf = new Uint8Array(len);
  const v = new DataView(buf.buffer);
  v.setUint32(0, len, true);
  v.setUint16(4, type, true);
  v.setUint32(8, seq, true);
  buf[16] = family; // ifinfomsg.ifi_family
  v.setInt32(16 + 4, ifindex, true);
  v.setUint32(16 + 8, flags, true);
  let at = 32;
  for (const [t, b] of attrs) {
    v.setUint16(at, 4 + b.length, true);
    v.setUint16(at + 2, t, true);
    buf.set(b, at + 4);
    at += pad(4 + b.length);
  }
  return buf;
}

const name = (s: string) => new Uint8Array([...Buffer.from(s), 0]);
/** A nested attribute: its members, each (type, bytes), padded as the kernel lays them out. */
function nest(attrs: [number, Uint8Array][]): Uint8Array {
  const parts = attrs.map(([t, b]) => {
    const out = new Uint8Array((4 + b.length + 3) & ~3);
    new DataView(out.buffer).setUint16(0, 4 + b.length, true);
    new DataView(out.buffer).setUint16(2, t, true);
    out.set(b, 4);
    return out;
  });
  return concat(...parts);
}
const u32 = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

test('rtnetlink: link up (admin up and carrier), down, MTU and name are read from RTM_NEWLINK', () => {
  const buf = concat(
    linkMsg(RTM_NEWLINK, 7, IFF_UP | IFF_LOWER_UP, [[3, name('veth1-vsw')], [4, u32(9000)]]),
    linkMsg(RTM_NEWLINK, 8, IFF_UP, [[3, name('veth2-vsw')]]),
  );
  assert.deepEqual(parseLinkMessages(buf, buf.length), [
    { kind: 'new', ifindex: 7, ifname: 'veth1-vsw', up: true, mtu: 9000 },
    { kind: 'new', ifindex: 8, ifname: 'veth2-vsw', up: false, mtu: -1 },
  ]);
});

test('rtnetlink: RTM_DELLINK is a deletion; other messages are skipped', () => {
  const buf = concat(
    linkMsg(RTM_NEWADDR, 7, 0, []),
    linkMsg(RTM_DELLINK, 9, 0, [[3, name('gone')]]),
  );
  assert.deepEqual(parseLinkMessages(buf, buf.length), [{ kind: 'del', ifindex: 9, ifname: 'gone', up: false, mtu: -1 }]);
});

test('rtnetlink: AF_BRIDGE and AF_INET6 link messages are skipped: an interface leaving a bridge is not a deletion', () => {
  // What the kernel sends when veth1 leaves bridge br (ifindex 3): an AF_BRIDGE
  // RTM_DELLINK about the bridge port, and an AF_UNSPEC RTM_NEWLINK about the link.
  const buf = concat(
    linkMsg(RTM_DELLINK, 9, IFF_UP | IFF_LOWER_UP, [[3, name('veth1')], [IFLA_MASTER, u32(3)]], AF_BRIDGE),
    linkMsg(RTM_NEWLINK, 9, IFF_UP | IFF_LOWER_UP, [[3, name('veth1')], [4, u32(1500)]], AF_INET6),
    linkMsg(RTM_NEWLINK, 9, IFF_UP | IFF_LOWER_UP, [[3, name('veth1')], [4, u32(1500)]]),
  );
  assert.deepEqual(parseLinkMessages(buf, buf.length), [{ kind: 'new', ifindex: 9, ifname: 'veth1', up: true, mtu: 1500 }]);
});

test('rtnetlink: truncated or malformed datagrams never throw and yield only whole messages', () => {
  const good = linkMsg(RTM_NEWLINK, 7, IFF_UP | IFF_LOWER_UP, [[3, name('a')]]);
  for (let cut = 0; cut < good.length; cut++) {
    const out = parseLinkMessages(good, cut);
    assert.equal(out.length, 0, `cut at ${cut}`);
  }
  const bad = good.slice();
  new DataView(bad.buffer).setUint16(32, 2, true); // attribute length below its header
  assert.equal(parseLinkMessages(bad, bad.length)[0].ifname, '');
  const zeroLen = new Uint8Array(64); // nlmsg_len 0 must not loop forever
  assert.deepEqual(parseLinkMessages(zeroLen, zeroLen.length), []);
});

const NLMSG_ERROR = 2;
const IFLA_ADDRESS = 1;
const IFLA_LINK = 5;
const IFLA_LINKINFO = 18;
const IFLA_LINK_NETNSID = 37;
const IFLA_XDP = 43;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const IFLA_XDP_ATTACHED = 2;
const NLA_F_NESTED = 0x8000;
const mac = (s: string) => new Uint8Array(s.split(':').map((h) => parseInt(h, 16)));

test('rtnetlink: RTM_GETLINK request for an ifindex, and for one in another namespace (IFLA_TARGET_NETNSID)', () => {
  const plain = getLinkRequest(7, 42);
  const v = new DataView(plain.buffer);
  assert.equal(plain.length, 32);
  assert.equal(v.getUint32(0, true), 32); // nlmsg_len
  assert.equal(v.getUint16(4, true), 18); // RTM_GETLINK
  assert.equal(v.getUint16(6, true), 1); // NLM_F_REQUEST, not a dump
  assert.equal(v.getUint32(8, true), 7); // seq
  assert.equal(plain[16], AF_UNSPEC);
  assert.equal(v.getInt32(20, true), 42); // ifi_index
  const there = getLinkRequest(8, 3, 5);
  const w = new DataView(there.buffer);
  assert.equal(there.length, 40);
  assert.equal(w.getUint32(0, true), 40);
  assert.deepEqual([w.getUint16(32, true), w.getUint16(34, true), w.getInt32(36, true)], [8, 46, 5]);
});

test('rtnetlink: a veth whose peer is in another namespace: kind, peer ifindex, link netnsid, MAC, MTU from the GETLINK reply', () => {
  // As the kernel answers for the switch side of `ip link add p type veth peer name h netns NS`.
  const reply = linkMsg(RTM_NEWLINK, 12, IFF_UP | IFF_LOWER_UP, [
    [IFLA_ADDRESS, mac('02:00:5e:10:20:30')],
    [3, name('vsw-p1')],
    [4, u32(1500)],
    [IFLA_LINK, u32(2)],
    [IFLA_LINKINFO | NLA_F_NESTED, nest([[IFLA_INFO_KIND, name('veth')], [IFLA_INFO_DATA | NLA_F_NESTED, new Uint8Array(0)]])],
    [IFLA_LINK_NETNSID, u32(4)],
  ], AF_UNSPEC, 77);
  assert.deepEqual(parseGetLinkReply(reply, reply.length, 77), {
    ifindex: 12, kind: 'veth', link: 2, linkNetnsid: 4, mac: 0x02005e102030, mtu: 1500, xdp: false,
  });
});

test('rtnetlink: a veth with its peer in the same namespace has no IFLA_LINK_NETNSID; other kinds and no kind are told apart', () => {
  const samens = linkMsg(RTM_NEWLINK, 12, 0, [[IFLA_LINK, u32(13)], [IFLA_LINKINFO, nest([[IFLA_INFO_KIND, name('veth')]])]], AF_UNSPEC, 1);
  assert.deepEqual(parseGetLinkReply(samens, samens.length, 1), {
    ifindex: 12, kind: 'veth', link: 13, linkNetnsid: null, mac: -1, mtu: -1, xdp: false,
  });
  const bridge = linkMsg(RTM_NEWLINK, 3, 0, [[IFLA_LINKINFO, nest([[IFLA_INFO_KIND, name('bridge')]])]], AF_UNSPEC, 2);
  assert.equal((parseGetLinkReply(bridge, bridge.length, 2) as { kind: string }).kind, 'bridge');
  const phys = linkMsg(RTM_NEWLINK, 2, 0, [[IFLA_ADDRESS, mac('00:11:22:33:44:55')]], AF_UNSPEC, 3);
  assert.equal((parseGetLinkReply(phys, phys.length, 3) as { kind: string }).kind, '');
});

test('rtnetlink: an XDP program on a link is seen (IFLA_XDP_ATTACHED), none when XDP_ATTACHED_NONE', () => {
  const withProg = linkMsg(RTM_NEWLINK, 2, 0, [[IFLA_XDP | NLA_F_NESTED, nest([[IFLA_XDP_ATTACHED, new Uint8Array([1])]])]], AF_UNSPEC, 5);
  assert.equal((parseGetLinkReply(withProg, withProg.length, 5) as { xdp: boolean }).xdp, true);
  const none = linkMsg(RTM_NEWLINK, 2, 0, [[IFLA_XDP | NLA_F_NESTED, nest([[IFLA_XDP_ATTACHED, new Uint8Array([0])]])]], AF_UNSPEC, 6);
  assert.equal((parseGetLinkReply(none, none.length, 6) as { xdp: boolean }).xdp, false);
});

test('rtnetlink: a GETLINK reply is matched by seq; NLMSG_ERROR gives the errno; truncation gives no answer', () => {
  const stale = linkMsg(RTM_NEWLINK, 9, 0, [[IFLA_LINK, u32(1)]], AF_UNSPEC, 4);
  const mine = linkMsg(RTM_NEWLINK, 10, 0, [[IFLA_LINK, u32(2)]], AF_UNSPEC, 5);
  const both = concat(stale, mine);
  assert.equal((parseGetLinkReply(both, both.length, 5) as { ifindex: number }).ifindex, 10);
  assert.equal(parseGetLinkReply(stale, stale.length, 5), null);
  const err = new Uint8Array(36);
  const ev = new DataView(err.buffer);
  ev.setUint32(0, 36, true);
  ev.setUint16(4, NLMSG_ERROR, true);
  ev.setUint32(8, 6, true);
  ev.setInt32(16, -19, true); // ENODEV
  assert.equal(parseGetLinkReply(err, err.length, 6), -19);
  for (let cut = 0; cut < mine.length; cut++) {
    const r = parseGetLinkReply(mine, cut, 5);
    assert.ok(r === null || (typeof r === 'object' && r.ifindex === 10), `cut at ${cut}`);
  }
  assert.equal(parseGetLinkReply(mine, 31, 5), null); // the ifinfomsg itself cut short
});
