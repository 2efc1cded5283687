// MTU on the switch: jumbo frames pass between 9000-byte ports; a frame too
// big for the egress port is dropped and counted as mtu-exceeded (the switch
// does not fragment), per egress port, while frames that fit still pass.
//
// Hosts: J1, J2, J3 with host interface and switch port at MTU 9000; S4 at 1500.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  type Capture,
  dropCounts,
  dropGrowth,
  frameLines,
  type Host,
  Lab,
  run,
  waitForFrames,
} from '../helpers/lab.js';

const lab = new Lab();
let J1: Host, J2: Host, J3: Host, S4: Host;

before(async () => {
  J1 = lab.addHost(1, { mtu: 9000 });
  J2 = lab.addHost(2, { mtu: 9000 });
  J3 = lab.addHost(3, { mtu: 9000 });
  S4 = lab.addHost(4, { mtu: 1500 });
  await lab.startSwitch();
  for (const h of lab.hosts) lab.ok('add', h.port);
  // The switch knows every port's MTU.
  const stats = lab.vswconfig('stats').stdout;
  for (const h of lab.hosts) {
    assert.match(stats, new RegExp(`^${h.port}\\s+up\\s+${h === S4 ? 1500 : 9000}\\s`, 'm'), stats);
  }
  // Learn every host with small frames, so the tests' big frames are known unicast.
  for (const h of [J2, J3, S4]) assert.ok(lab.ping(J1, h.ip), `${J1.ns} cannot ping ${h.ip}`);
});

after(async () => {
  await lab.cleanup();
});

function ping(from: Host, to: Host, args: string): { code: number; out: string } {
  const r = run('ip', ['netns', 'exec', from.ns, 'ping', ...args.split(' '), to.ip]);
  return { code: r.code, out: r.stdout + r.stderr };
}

/** Frame length from a `tcpdump -e` line (`…, length 1514: …`). */
const frameLen = (line: string): number => Number(/, length (\d+):/.exec(line)?.[1] ?? NaN);

test('9000-byte MTU everywhere: ping -M do -s 8972 (a 9000-byte IP packet) is answered', () => {
  const r = ping(J1, J2, '-M do -s 8972 -c 3 -i 0.2 -W 2');
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /3 packets transmitted, 3 received/, r.out);
  assert.match(r.out, /8980 bytes from/, r.out);
});

test('9000 → 1500: ping -s 4000 -M do is not delivered, counts mtu-exceeded, and small pings still work', async () => {
  const base = dropCounts(lab);
  const cap: Capture = await lab.capture(S4.ns, S4.ifname, `icmp and src ${J1.ip}`);
  let lines: string[];
  let big: { code: number; out: string };
  try {
    big = ping(J1, S4, '-M do -s 4000 -c 3 -i 0.2 -W 1');
    // Then a small one through the same path: once it is in, the big ones would be too.
    assert.ok(lab.ping(J1, S4.ip), `${J1.ns} cannot ping ${S4.ip} with a small packet`);
    await waitForFrames(cap, 1);
  } finally {
    lines = frameLines(await cap.stop());
  }
  assert.notEqual(big.code, 0, `the 4028-byte packets were answered:\n${big.out}`);
  assert.match(big.out, /3 packets transmitted, 0 received/, big.out);
  assert.ok(lines.length >= 1, 'the small ping did not reach S4');
  assert.deepEqual(
    lines.filter((l) => frameLen(l) > 1514),
    [],
    'S4 received frames bigger than its MTU',
  );
  assert.equal(await dropGrowth(lab, 'mtu-exceeded', base, 3), 3, 'drops mtu-exceeded');

  const small = ping(J1, S4, '-c 3 -i 0.2 -s 1000 -W 2');
  assert.equal(small.code, 0, small.out);
  assert.match(small.out, /3 packets transmitted, 3 received/, small.out);
});

test('9000 → 1500 boundary: a 1500-byte IP packet passes, a 1501-byte one is dropped as mtu-exceeded', async () => {
  const fits = ping(J1, S4, '-M do -s 1472 -c 2 -i 0.2 -W 2');
  assert.equal(fits.code, 0, `1500-byte packets to the 1500-MTU port were not answered:\n${fits.out}`);
  assert.match(fits.out, /2 packets transmitted, 2 received/, fits.out);

  const base = dropCounts(lab);
  const over = ping(J1, S4, '-M do -s 1473 -c 2 -i 0.2 -W 1');
  assert.match(over.out, /2 packets transmitted, 0 received/, `1501-byte packets got through:\n${over.out}`);
  assert.equal(await dropGrowth(lab, 'mtu-exceeded', base, 2), 2, 'drops mtu-exceeded');
});

test('a flooded 4000-byte frame reaches the 9000-byte ports and is counted mtu-exceeded once for the 1500-byte port', async () => {
  const n = 4;
  const base = dropCounts(lab);
  const filter = `ether src ${J1.mac} and ether proto 0x88b5`;
  const caps = await Promise.all([J2, J3, S4].map((h) => lab.capture(h.ns, h.ifname, filter)));
  let lines: string[][];
  try {
    lab.sendFrames(J1.ns, J1.ifname, `Ether(dst='ff:ff:ff:ff:ff:ff', src='${J1.mac}', type=0x88b5)/Raw(load=b'j'*4000)`, n);
    // A small one after them, which S4 must get: once it is in, a big one would be too.
    lab.sendFrames(J1.ns, J1.ifname, `Ether(dst='ff:ff:ff:ff:ff:ff', src='${J1.mac}', type=0x88b5)/Raw(load=b's'*100)`);
    for (const c of caps) await waitForFrames(c, 1);
    await waitForFrames(caps[0]!, n + 1);
    await waitForFrames(caps[1]!, n + 1);
  } finally {
    lines = (await Promise.all(caps.map((c) => c.stop()))).map(frameLines);
  }
  const [l2, l3, l4] = lines as [string[], string[], string[]];
  assert.deepEqual(l2.map(frameLen), [...Array(n).fill(4014), 114], `${J2.ns}:\n${l2.join('\n')}`);
  assert.deepEqual(l3.map(frameLen), [...Array(n).fill(4014), 114], `${J3.ns}:\n${l3.join('\n')}`);
  assert.deepEqual(l4.map(frameLen), [114], `${S4.ns} should get only the small frame:\n${l4.join('\n')}`);
  assert.equal(await dropGrowth(lab, 'mtu-exceeded', base, n), n, 'drops mtu-exceeded');
});
