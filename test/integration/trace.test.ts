// `vswconfig trace` against the datapath VSWITCH_TEST_DATAPATH names: with
// VLAN modes, ACL rules and a mirror in force, each made-up frame is traced
// first and then sent for real (scapy); the ports tcpdump sees it leave, and
// the tag it leaves each with, are the trace's verdict, and a frame the trace
// drops is dropped for the reason it names. Each frame carries its own
// ethertype (0x9000 + k), so the captures tell them apart.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Capture, dropCounts, frameLines, type Host, Lab, sleep, waitUntil } from '../helpers/lab.js';

const lab = new Lab('10.79');
let H: Host[] = [];
const caps: Capture[] = [];

const ok = (...args: string[]): string => lab.ok(...args);

interface TraceJson {
  ingress: { port: string };
  egress: Array<{ port: string; tag: number | null; skipped?: string }>;
  mirrors: Array<{ mirror: string; output: string; tag: number | null; skipped?: string }>;
  verdict: { action: 'forward'; ports: string[] } | { action: 'drop'; reason: string };
}

/** What each host's capture saw of frame type `type`: the outer VLAN (null: untagged), per host index. */
function seen(type: number): Map<number, Array<number | null>> {
  const hex = `(0x${type.toString(16)})`;
  const out = new Map<number, Array<number | null>>();
  caps.forEach((c, i) => {
    for (const l of frameLines(c.out.split('\n'))) {
      if (!l.includes(hex)) continue;
      const v = /ethertype 802\.1Q \(0x8100\), length \d+: vlan (\d+)/.exec(l);
      out.set(i, [...(out.get(i) ?? []), v ? Number(v[1]) : null]);
    }
  });
  return out;
}

const S = (n: number): string => `02:00:00:00:${n.toString(16).padStart(2, '0')}:01`;
const BCAST = 'ff:ff:ff:ff:ff:ff';

before(async () => {
  H = [1, 2, 3, 4, 5, 6].map((n) => lab.addHost(n, { quiet: true }));
  await lab.startSwitch();
  for (const h of H) ok('add', h.port);
  ok('vlan', H[0]!.port, 'access', '10');
  ok('vlan', H[1]!.port, 'access', '10');
  ok('vlan', H[2]!.port, 'trunk', '10,20');
  ok('vlan', H[3]!.port, 'access', '20');
  ok('acl', 'add', 'type', '0x9004', 'drop');
  ok('mirror', 'add', 'm', 'output', H[4]!.port, 'select-ingress', H[0]!.port, 'select-egress', H[3]!.port);
  // Frames coming in only: a host's capture would see what it sends too.
  for (const h of H) caps.push(await lab.capture(h.ns, h.ifname, '-Q in'));
});

after(async () => {
  for (const c of caps) await c.stop().catch(() => undefined);
  await lab.cleanup();
});

test('trace: the verdict of each traced frame is what the datapath then does with it (egress ports, tags, drop reasons)', async () => {
  // [ingress host, src, dst, VLAN of the tag it arrives with]; frame k has type 0x9000 + k.
  const frames: Array<[number, string, string, number | null]> = [
    [0, S(1), BCAST, null], // VLAN 10 flood: H2 untagged, H3 and H6 tagged 10; mirror (ingress H1) tagged 10
    [1, S(2), S(1), null], // learned on H1: unicast
    [2, S(3), BCAST, 20], // VLAN 20 flood: H4 untagged (mirror: egress H4), H6 tagged
    [2, S(3), BCAST, 10], // type 0x9004: the ACL drops it
    [2, S(3), BCAST, 30], // VLAN 30 is not on the trunk
    [0, S(1), BCAST, 10], // tagged on an access port
    [4, S(5), BCAST, null], // arrives on the mirror's output
    [3, S(4), '02:00:00:00:99:99', null], // unknown unicast in VLAN 20
    [0, S(6), S(1), null], // S(1) is on H1 itself: same-port
    [5, S(6), BCAST, null], // VLAN 0 from a port with no mode: nobody else carries VLAN 0
    [5, S(6), S(3), 20], // known in VLAN 20 behind the trunk
    [0, S(1), '01:80:c2:00:00:0e', null], // LLDP: link-local
    [1, S(2), S(1), 10], // a priority-less VLAN 10 tag on an access port: vlan-tagged
  ];
  const byName = new Map(H.map((h, i) => [h.port, i]));
  let forwarded = 0;
  let dropped = 0;
  for (const [k, [from, src, dst, vlan]] of frames.entries()) {
    const type = 0x9000 + k;
    const args = ['-j', 'trace', 'in', H[from]!.port, 'src', src, 'dst', dst, 'type', `0x${type.toString(16)}`];
    if (vlan !== null) args.push('vlan', String(vlan));
    const t = JSON.parse(ok(...args)) as TraceJson;
    const where = `frame ${k} (${args.slice(2).join(' ')}): ${JSON.stringify(t)}`;
    const base = dropCounts(lab);
    const tag = vlan === null ? '' : `Dot1Q(vlan=${vlan}, type=${type})/`;
    const ether = vlan === null ? `Ether(dst='${dst}', src='${src}', type=${type})` : `Ether(dst='${dst}', src='${src}')`;
    lab.sendFrames(H[from]!.ns, H[from]!.ifname, `${ether}/${tag}Raw(load=b'trace-${k}'.ljust(46, b'.'))`);

    // Expected: host index -> the tags it gets the frame with.
    const expect = new Map<number, Array<number | null>>();
    const add = (port: string, tagged: number | null): void => {
      const i = byName.get(port);
      assert.ok(i !== undefined, `${where}: unknown port ${port}`);
      expect.set(i, [...(expect.get(i) ?? []), tagged]);
    };
    for (const e of t.egress) if (e.skipped === undefined) add(e.port, e.tag);
    for (const m of t.mirrors) if (m.skipped === undefined) add(m.output, m.tag);
    const want = [...expect.values()].reduce((n, tags) => n + tags.length, 0);
    if (t.verdict.action === 'drop') {
      const reason = t.verdict.reason;
      await waitUntil(() => (dropCounts(lab)[reason] ?? 0) > (base[reason] ?? 0), 3000);
      assert.equal((dropCounts(lab)[reason] ?? 0) - (base[reason] ?? 0), 1, `${where}: one ${reason} drop`);
      dropped++;
    } else {
      assert.deepEqual([...t.verdict.ports].sort(), [...expect.keys()].map((i) => H[i]!.port).sort(), where);
      forwarded++;
    }
    await waitUntil(() => [...seen(type).values()].reduce((n, tags) => n + tags.length, 0) >= want, 3000);
    await sleep(200); // a copy the trace did not foresee would come now
    assert.deepEqual(Object.fromEntries([...seen(type).entries()].sort()), Object.fromEntries([...expect.entries()].sort()), `${where}: where it went, and with which tag`);
  }
  assert.ok(forwarded >= 6 && dropped >= 6, `forwarded ${forwarded}, dropped ${dropped}`);
});
