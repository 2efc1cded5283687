import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IFF_LOWER_UP, IFF_UP, parseLinkMessages } from '../../src/dataplane/rtnetlink.js';

const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_NEWADDR = 20;
const AF_UNSPEC = 0;
const AF_BRIDGE = 7;
const AF_INET6 = 10;
const IFLA_MASTER = 10;

/** One netlink message: nlmsghdr, ifinfomsg, then attributes (type, bytes). */
function linkMsg(type: number, ifindex: number, flags: number, attrs: [number, Uint8Array][], family = AF_UNSPEC): Uint8Array {
  const pad = (n: number) => (n + 3) & ~3;
  const attrLen = attrs.reduce((s, [, b]) => s + pad(4 + b.length), 0);
  const len = 16 + 16 + attrLen;
  const buf = new Uint8Array(len);
  const v = new DataView(buf.buffer);
  v.setUint32(0, len, true);
  v.setUint16(4, type, true);
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
