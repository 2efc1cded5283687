// Forwarding on a real switch: four hosts (namespaces) on one vswitchd, frames
// sent by ping and scapy, seen by tcpdump on the hosts' interfaces, drops read
// from `vswconfig stats`.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  type Capture,
  capturedFrames,
  dropCounts,
  dropGrowth,
  fdbEntries,
  frameLines,
  type Host,
  Lab,
  run,
  showPorts,
  waitForFrames,
  waitUntil,
} from '../helpers/lab.js';

const lab = new Lab();
let A: Host, B: Host, C: Host, D: Host;

/** A locally administered unicast MAC that no host has. */
const NOBODY = '02:de:ad:00:be:ef';
/** IEEE 802 local experimental ethertype: nothing in the hosts' stacks sends or answers it. */
const EXP = 0x88b5;

before(async () => {
  [A, B, C, D] = [1, 2, 3, 4].map((n) => lab.addHost(n));
  await lab.startSwitch();
  for (const h of lab.hosts) lab.ok('add', h.port);
});

after(async () => {
  await lab.cleanup();
});

function captureOn(hosts: Host[], filter: string): Promise<Capture[]> {
  return Promise.all(hosts.map((h) => lab.capture(h.ns, h.ifname, filter)));
}

/** Stop captures; resolves to the frame lines of each. */
async function stopAll(caps: Capture[]): Promise<string[][]> {
  return (await Promise.all(caps.map((c) => c.stop()))).map(frameLines);
}

/** Per-port `rx frames` of `vswconfig stats`. */
function rxFrames(port: string): number {
  const r = lab.vswconfig('stats');
  assert.equal(r.code, 0, r.stderr);
  const m = new RegExp(`^${port}\\s+\\S+\\s+\\d+\\s+(\\d+)\\s`, 'm').exec(r.stdout);
  assert.ok(m, `no row for ${port} in:\n${r.stdout}`);
  return Number(m[1]);
}

const has = (lines: string[], s: string): number => lines.filter((l) => l.includes(s)).length;

/**
 * Send `count` copies of frames from A (addressed to `dst`, ethertype EXP), and
 * check that B, C and D each get every one and that none comes back to A. To
 * show that A's inbound capture works, B then sends one frame to the same
 * destination, which the switch floods (or sends) to A: A must see exactly
 * that one.
 */
async function floodedToAllButIngress(dst: string, count: number, tag: string): Promise<void> {
  const others = [B, C, D];
  const fwd = `ether dst ${dst} and ether proto ${EXP}`;
  const caps = await captureOn(others, `ether src ${A.mac} and ${fwd}`);
  const back = await lab.capture(A.ns, A.ifname, `-Q in ${fwd}`);
  try {
    lab.sendFrames(A.ns, A.ifname, `Ether(dst='${dst}', src='${A.mac}', type=${EXP})/Raw(load=b'${tag}-from-A'*4)`, count);
    for (const [i, c] of caps.entries()) {
      assert.ok(await waitForFrames(c, count), `${others[i]!.ns} saw ${capturedFrames(c).length} of ${count} frames to ${dst}`);
    }
    lab.sendFrames(B.ns, B.ifname, `Ether(dst='${dst}', src='${B.mac}', type=${EXP})/Raw(load=b'${tag}-from-B'*4)`);
    await waitForFrames(back, 1);
  } finally {
    const lines = await stopAll([...caps, back]);
    const backLines = lines.pop()!;
    for (const [i, l] of lines.entries()) assert.equal(l.length, count, `${others[i]!.ns}:\n${l.join('\n')}`);
    assert.equal(has(backLines, `${A.mac} > ${dst}`), 0, `A's own frames came back to A:\n${backLines.join('\n')}`);
    assert.equal(has(backLines, `${B.mac} > ${dst}`), 1, `A's inbound capture missed B's frame:\n${backLines.join('\n')}`);
  }
}

test('learning: once A and B have exchanged frames, a unicast stream A→B reaches B and is not flooded to C or D', async () => {
  assert.ok(lab.ping(A, B.ip), 'A cannot ping B');
  const flow = `icmp and host ${A.ip} and host ${B.ip}`;
  const [onB, onC, onD] = await captureOn([B, C, D], flow);
  const r = run('ip', ['netns', 'exec', A.ns, 'ping', '-c', '50', '-i', '0.01', '-W', '2', B.ip]);
  // 50 requests in and 50 replies out on B's interface.
  await waitForFrames(onB!, 100);
  const [lb, lc, ld] = await stopAll([onB!, onC!, onD!]);
  assert.equal(r.code, 0, `ping A→B: ${r.stdout}${r.stderr}`);
  assert.equal(has(lb!, 'ICMP echo request'), 50, `B did not receive the stream:\n${lb!.join('\n')}`);
  assert.deepEqual(lc, [], 'the stream A→B was flooded to C');
  assert.deepEqual(ld, [], 'the stream A→B was flooded to D');
});

test('unknown unicast is flooded to every port except the ingress port', async () => {
  assert.ok(!fdbEntries(lab).some((e) => e.mac === NOBODY), `${NOBODY} must be unknown`);
  await floodedToAllButIngress(NOBODY, 20, 'unknown');
});

test('broadcast reaches every other host and not the sender', async () => {
  await floodedToAllButIngress('ff:ff:ff:ff:ff:ff', 10, 'bcast');
});

test('BPDU and LLDP (01:80:C2:00:00:00 and :0E) are not forwarded and are counted as link-local; 01:80:C2:00:00:10 is forwarded', async () => {
  const base = dropCounts(lab);
  const caps = await captureOn([B, C, D], `ether src ${A.mac} and ether[0:4] = 0x0180c200 and ether[4] = 0`);
  const n = 5;
  try {
    lab.sendFrames(
      A.ns,
      A.ifname,
      `[Dot3(dst='01:80:c2:00:00:00', src='${A.mac}')/LLC()/STP(),` +
        ` Ether(dst='01:80:c2:00:00:0e', src='${A.mac}', type=0x88cc)/Raw(load=bytes.fromhex('020704${A.mac.replace(/:/g, '')}0403056131060200780000')),` +
        ` Ether(dst='01:80:c2:00:00:10', src='${A.mac}', type=${EXP})/Raw(load=b'not-reserved'*4)]`,
      n,
    );
    // The frames to :10 were sent after the others: once they are in, a forwarded BPDU or LLDPDU would be too.
    for (const c of caps) await waitForFrames(c, n);
  } finally {
    const lines = await stopAll(caps);
    for (const [i, l] of lines.entries()) {
      const who = [B, C, D][i]!.ns;
      assert.equal(has(l, '> 01:80:c2:00:00:00'), 0, `a BPDU was forwarded to ${who}:\n${l.join('\n')}`);
      assert.equal(has(l, '> 01:80:c2:00:00:0e'), 0, `an LLDPDU was forwarded to ${who}:\n${l.join('\n')}`);
      assert.equal(has(l, '> 01:80:c2:00:00:10'), n, `frames to 01:80:c2:00:00:10 did not all reach ${who}:\n${l.join('\n')}`);
    }
  }
  assert.equal(await dropGrowth(lab, 'link-local', base, 2 * n), 2 * n, 'drops link-local');
});

test('frames with a multicast, broadcast or all-zero source MAC are not forwarded and are counted as invalid-source', async () => {
  const base = dropCounts(lab);
  const bad = ['01:00:5e:00:00:01', '33:33:00:00:00:01', 'ff:ff:ff:ff:ff:ff', '00:00:00:00:00:00'];
  const caps = await captureOn([B, C, D], `ether broadcast and ether proto ${EXP}`);
  const n = 3;
  try {
    lab.sendFrames(A.ns, A.ifname, `[${bad.map((s) => `Ether(dst='ff:ff:ff:ff:ff:ff', src='${s}', type=${EXP})/Raw(load=b'bad-source'*4)`).join(', ')}]`, n);
    // Then one good frame, flooded like the bad ones would be: once it is in, they would be too.
    lab.sendFrames(A.ns, A.ifname, `Ether(dst='ff:ff:ff:ff:ff:ff', src='${A.mac}', type=${EXP})/Raw(load=b'good-source'*4)`);
    for (const c of caps) await waitForFrames(c, 1);
  } finally {
    const lines = await stopAll(caps);
    for (const [i, l] of lines.entries()) {
      assert.deepEqual(
        l.map((x) => /([0-9a-f:]{17}) > ff:ff:ff:ff:ff:ff/.exec(x)?.[1]),
        [A.mac],
        `${[B, C, D][i]!.ns} should see only A's good frame:\n${l.join('\n')}`,
      );
    }
  }
  assert.equal(await dropGrowth(lab, 'invalid-source', base, bad.length * n), bad.length * n, 'drops invalid-source');
  const fdb = fdbEntries(lab).map((e) => e.mac);
  for (const s of bad) assert.ok(!fdb.includes(s), `invalid source ${s} was learned`);
});

test('IPv6: ping -6 between two hosts is answered', () => {
  const r = run('ip', ['netns', 'exec', C.ns, 'ping', '-6', '-c', '3', '-W', '2', D.ip6]);
  assert.equal(r.code, 0, `ping -6 ${D.ip6} from ${C.ns}:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /3 packets transmitted, 3 received/);
});

test('vswconfig fdb lists every host MAC on its own port after traffic', () => {
  for (const [from, to] of [[A, B], [B, C], [C, D], [D, A]] as const) assert.ok(lab.ping(from, to.ip), `${from.ns} cannot ping ${to.ip}`);
  const entries = fdbEntries(lab);
  for (const h of [A, B, C, D]) {
    const mine = entries.filter((e) => e.mac === h.mac);
    assert.deepEqual(
      mine.map((e) => e.port),
      [h.port],
      `${h.mac} (${h.ns}) should be listed once, on ${h.port}:\n${lab.vswconfig('fdb').stdout}`,
    );
  }
});

/** mulberry32: a small seeded PRNG, so a failing junk run can be told apart by its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('the daemon survives malformed frames: 200 random junk frames and header-only frames, then A→B still pings', async () => {
  const seed = Date.now() >>> 0;
  const rnd = prng(seed);
  const frames: string[] = [];
  for (let i = 0; i < 200; i++) {
    const len = 14 + Math.floor(rnd() * 187); // 14..200
    frames.push(Buffer.from(Array.from({ length: len }, () => Math.floor(rnd() * 256))).toString('hex'));
  }
  // Header-only frames (14 bytes, nothing after the ethertype), and a tag with nothing behind it.
  const hdr = (type: string): string => B.mac.replace(/:/g, '') + A.mac.replace(/:/g, '') + type;
  for (const type of ['0800', '86dd', '0806', '88b5', '0000', 'ffff']) frames.push(hdr(type));
  frames.push(hdr('81000005'), hdr('88a80005'));
  const expectAtLeast = frames.filter((f) => !['8100', '88a8'].includes(f.slice(24, 28))).length;

  const rx0 = rxFrames(A.port);
  lab.sendFrames(A.ns, A.ifname, `[Raw(load=bytes.fromhex(h)) for h in ${JSON.stringify(frames)}]`);
  const rxGot = await waitUntil(() => rxFrames(A.port) - rx0 >= expectAtLeast, 5_000, 50);

  const ctx = `(junk seed ${seed})\n${lab.daemon!.stderr}`;
  assert.ok(lab.daemon!.alive, `vswitchd died ${ctx}`);
  assert.ok(rxGot, `the switch received ${rxFrames(A.port) - rx0} of at least ${expectAtLeast} junk frames ${ctx}`);
  assert.ok(lab.ping(A, B.ip, '-c 3 -W 2'), `A cannot ping B after the junk ${ctx}`);
  assert.deepEqual(showPorts(lab), [A.port, B.port, C.port, D.port], `vswconfig show after the junk ${ctx}`);
  assert.ok(lab.daemon!.alive, `vswitchd died ${ctx}`);
});
