// VLAN tags through the switch. The switch is a transparent 802.1D bridge: a
// tagged frame must leave with its tag (TPID, priority, DEI, VID) exactly as it
// came in. The receiving packet socket gets the outer tag stripped by the
// kernel (it is in the ring's metadata) and the switch must put it back.
//
// This kernel has no VLAN sub-interfaces, so host A sends tagged frames built
// with scapy, and tcpdump on B (libpcap puts the stripped tag back from the
// packet metadata) shows what arrived, both decoded (-e) and as bytes (-xx).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dropCounts, frameLines, type Host, Lab, PYTHON, waitForFrames } from '../helpers/lab.js';

const lab = new Lab();
let A: Host, B: Host;

before(async () => {
  [A, B] = [1, 2].map((n) => lab.addHost(n));
  await lab.startSwitch();
  for (const h of lab.hosts) lab.ok('add', h.port);
  // Both hosts learned: tagged frames to B take the known-unicast path.
  assert.ok(lab.ping(A, B.ip), 'A cannot ping B');
});

after(async () => {
  await lab.cleanup();
});

interface Captured {
  /** tcpdump's one-line decode (-e -nn). */
  text: string;
  /** The frame's bytes as hex (from -xx). */
  hex: string;
}

/** Parse `tcpdump -e -nn -xx` output into frames: a header line, then `\t0x0000:  abcd ...` lines. */
function parseHexDump(lines: string[]): Captured[] {
  const frames: Captured[] = [];
  for (const line of lines) {
    const m = /^\s+0x[0-9a-f]+:\s+(.*)$/.exec(line);
    if (m) {
      const last = frames[frames.length - 1];
      if (last) last.hex += m[1]!.replace(/\s+/g, '');
    } else if (line.trim() !== '') {
      frames.push({ text: line, hex: '' });
    }
  }
  return frames;
}

/**
 * Build the frame `layers` (scapy, after the Ether header from A to B) in A,
 * send it, and return the bytes sent and what B's tcpdump saw.
 */
async function sendTagged(layers: string, etherType?: number): Promise<{ sent: string; seen: Captured[] }> {
  const cap = await lab.capture(B.ns, B.ifname, `-xx ether src ${A.mac} and vlan`);
  let sent = '';
  let lines: string[];
  try {
    const type = etherType === undefined ? '' : `, type=${etherType}`;
    const py =
      'from scapy.all import *\n' +
      `p = Ether(dst='${B.mac}', src='${A.mac}'${type})/${layers}\n` +
      'print(raw(p).hex())\n' +
      `sendp(p, iface='${A.ifname}', verbose=0)\n`;
    sent = lab.inNs(A.ns, `${PYTHON} -c "${py.replace(/"/g, '\\"')}"`).trim();
    await waitForFrames(cap, 1);
  } finally {
    lines = await cap.stop();
  }
  return { sent, seen: parseHexDump(lines) };
}

/** Exactly one frame arrived, byte for byte the one sent; resolves to its decode line. */
function arrivedUnchanged(r: { sent: string; seen: Captured[] }): string {
  assert.equal(r.seen.length, 1, `B should see exactly one tagged frame:\n${r.seen.map((f) => f.text).join('\n')}`);
  const got = r.seen[0]!;
  assert.equal(got.hex, r.sent, `the frame changed on the way:\n${got.text}`);
  assert.equal(frameLines([got.text]).length, 1);
  return got.text;
}

const ICMP = (tag: string): string => `IP(src='${A.ip}', dst='${B.ip}')/ICMP(id=0x5657, seq=7)/Raw(load=b'${tag}')`;

test('802.1Q: tag with priority 5 and VID 123 arrives at B unchanged', async () => {
  const r = await sendTagged(`Dot1Q(prio=5, vlan=123)/${ICMP('dot1q-123')}`);
  const text = arrivedUnchanged(r);
  assert.match(text, /ethertype 802\.1Q \(0x8100\), length \d+: vlan 123, p 5, ethertype IPv4 \(0x0800\)/, text);
  assert.match(text, /ICMP echo request, id 22103, seq 7/, text);
});

test('802.1Q: the DEI bit and the largest VID (4094) arrive unchanged', async () => {
  const r = await sendTagged(`Dot1Q(prio=7, id=1, vlan=4094)/${ICMP('dot1q-dei')}`);
  const text = arrivedUnchanged(r);
  assert.match(text, /ethertype 802\.1Q \(0x8100\), length \d+: vlan 4094, p 7, DEI, ethertype IPv4/, text);
});

test('802.1ad: an S-tag (TPID 0x88a8) with priority 5 and VID 123 arrives unchanged', async () => {
  const r = await sendTagged(`Dot1AD(prio=5, vlan=123)/${ICMP('dot1ad-123')}`, 0x88a8);
  const text = arrivedUnchanged(r);
  assert.match(text, /ethertype 802\.1Q-QinQ \(0x88a8\), length \d+: vlan 123, p 5, ethertype IPv4 \(0x0800\)/, text);
  assert.equal(r.sent.slice(24, 28), '88a8');
});

test('QinQ: an S-tag (0x88a8, VID 300) over a C-tag (0x8100, VID 123) arrive unchanged, in order', async () => {
  const r = await sendTagged(`Dot1AD(prio=3, vlan=300)/Dot1Q(prio=5, vlan=123)/${ICMP('qinq')}`, 0x88a8);
  const text = arrivedUnchanged(r);
  assert.match(text, /ethertype 802\.1Q-QinQ \(0x88a8\), length \d+: vlan 300, p 3, ethertype 802\.1Q \(0x8100\), vlan 123, p 5, ethertype IPv4/, text);
});

test('priority tag: VID 0 with priority 6 arrives unchanged', async () => {
  const r = await sendTagged(`Dot1Q(prio=6, vlan=0)/${ICMP('prio-tag')}`);
  const text = arrivedUnchanged(r);
  assert.match(text, /ethertype 802\.1Q \(0x8100\), length \d+: vlan 0, p 6, ethertype IPv4/, text);
});

test('an all-zero tag (priority 0, VID 0: TCI 0) is kept, not dropped from the frame', async () => {
  const r = await sendTagged(`Dot1Q(prio=0, vlan=0)/${ICMP('tci-zero')}`);
  const text = arrivedUnchanged(r);
  assert.match(text, /ethertype 802\.1Q \(0x8100\), length \d+: vlan 0, p 0, ethertype IPv4/, text);
});

/** An IPv4/ICMP packet of exactly 1500 bytes (a full 1500-byte MTU). */
const FULL = (): string => `IP(src='${A.ip}', dst='${B.ip}')/ICMP(id=0x5657, seq=8)/Raw(load=b'f'*1472)`;

test('a tagged frame carrying a full 1500-byte packet fits 1500-byte MTUs (the tag does not count) and arrives unchanged', async () => {
  const r = await sendTagged(`Dot1Q(prio=5, vlan=123)/${FULL()}`);
  assert.equal(r.sent.length / 2, 14 + 4 + 1500);
  const text = arrivedUnchanged(r);
  assert.match(text, /ethertype 802\.1Q \(0x8100\), length 1518: vlan 123, p 5, ethertype IPv4/, text);
});

test('an S-tagged (0x88a8) frame carrying a full 1500-byte packet fits 1500-byte MTUs and arrives unchanged', async () => {
  // A's packet socket only allows the 4 extra bytes for 0x8100, so A's own MTU is
  // raised by 4 for the send; the switch's ports stay at 1500.
  lab.sh(`ip -n ${A.ns} link set ${A.ifname} mtu 1504`);
  try {
    const r = await sendTagged(`Dot1AD(prio=5, vlan=123)/${FULL()}`, 0x88a8);
    assert.equal(r.sent.length / 2, 14 + 4 + 1500);
    const text = arrivedUnchanged(r);
    assert.match(text, /ethertype 802\.1Q-QinQ \(0x88a8\), length 1518: vlan 123, p 5, ethertype IPv4/, text);
  } finally {
    lab.sh(`ip -n ${A.ns} link set ${A.ifname} mtu 1500`);
  }
});

test('QinQ: a full 1500-byte packet under an S-tag and a C-tag fits 1500-byte MTUs (tags do not count) and arrives unchanged', async () => {
  // What is measured is B's switch port, which stays at 1500: the packet after
  // both tags is 1500 bytes. The other ends must take a 1522-byte frame. A's
  // packet socket allows 4 extra bytes only under 0x8100, hence 1508 on A, and
  // veth refuses a frame longer than its receiver's MTU + 18 (is_skb_forwardable):
  // so 1504 on A's port, and on B, which gets the frame from the switch's
  // packet socket with both tags in its bytes (a Linux bridge hands the S-tag
  // to veth beside the frame, and B could stay at 1500).
  const mtus: Array<[string | null, string, number]> = [
    [A.ns, A.ifname, 1508],
    [null, A.port, 1504],
    [B.ns, B.ifname, 1504],
  ];
  const setMtu = (ns: string | null, ifname: string, mtu: number) =>
    lab.sh(`ip ${ns ? `-n ${ns} ` : ''}link set ${ifname} mtu ${mtu}`);
  const base = dropCounts(lab);
  try {
    for (const [ns, ifname, mtu] of mtus) setMtu(ns, ifname, mtu);
    assert.match(lab.vswconfig('stats').stdout, new RegExp(`^${B.port}\\s+up\\s+1500\\s`, 'm'));
    const r = await sendTagged(`Dot1AD(prio=3, vlan=300)/Dot1Q(prio=5, vlan=123)/${FULL()}`, 0x88a8);
    assert.equal(r.sent.length / 2, 14 + 4 + 4 + 1500);
    const text = arrivedUnchanged(r);
    assert.match(text, /ethertype 802\.1Q-QinQ \(0x88a8\), length 1522: vlan 300, p 3, ethertype 802\.1Q \(0x8100\), vlan 123, p 5, ethertype IPv4/, text);
    assert.equal((dropCounts(lab)['mtu-exceeded'] ?? 0) - (base['mtu-exceeded'] ?? 0), 0);
  } finally {
    for (const [ns, ifname] of mtus) setMtu(ns, ifname, 1500);
  }
});
