// Issue 15, item 2: a tenant's MAC storm must not wedge the control plane.
// Host A sends 64-byte frames with random source MACs at full speed (trafgen,
// one CPU) while the test asks `stats` on the control socket (the daemon's
// answer, not vswconfig's start-up), sets another port down and pings between
// two other hosts. Before the fix the kernel datapath's thread never left its
// learn-ring drain while the storm lasted: `stats` timed out at 10 s.
//
// The bounds are generous for a shared 2-CPU machine (the benchmark measures
// the figures: bench/README.md, "MAC storm"); the old code misses them by far.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { request } from '../../src/control/client.js';
import { type Host, Lab, waitUntil } from '../helpers/lab.js';

/** Every control answer during the storm within this (the target is 250 ms; old code: 10 s timeouts). */
const ANSWER_BOUND_MS = 2000;
/** The storm lasts this long once it is seen running. */
const STORM_MS = 4000;

const lab = new Lab();
let A: Host, B: Host, C: Host, D: Host;

before(async () => {
  [A, B, C, D] = [1, 2, 3, 4].map((n) => lab.addHost(n));
  await lab.startSwitch();
  for (const h of lab.hosts) lab.ok('add', h.port);
});

after(async () => {
  await lab.cleanup();
});

/**
 * Host `h` sends 64-byte frames with random unicast sources (02:xx:…: locally
 * administered) to a MAC nobody has (ethertype 0x88B5) until killed; resolves
 * once 50,000 of them have left it (the sentinel that the storm runs).
 */
async function startStorm(l: Lab, h: Host): Promise<ReturnType<Lab['spawn']>> {
  const conf = join(l.dir, 'storm.cfg');
  writeFileSync(conf, '{ 0x02, 0xde, 0xad, 0x00, 0xbe, 0xef, 0x02, drnd(5), 0x88, 0xb5, fill(0x00, 46) }\n');
  const txBefore = l.stat(h.ns, h.ifname, 'tx_packets');
  const storm = l.spawn('ip', ['netns', 'exec', h.ns, 'trafgen', '--dev', h.ifname, '--conf', conf, '--cpus', '1', '--no-sock-mem', '--notouch-irq']);
  assert.ok(await waitUntil(() => l.stat(h.ns, h.ifname, 'tx_packets') - txBefore >= 50_000, 10_000, 20), `trafgen did not start: ${storm.exitCode}`);
  return storm;
}

/** How long the daemon takes to answer `cmd` on its control socket, and the answer. */
async function timed<T>(what: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const t0 = performance.now();
  const result = await what();
  return { ms: performance.now() - t0, result };
}

test('a MAC storm from one port: stats answers in time throughout, a port set down is seen, other hosts still ping, fdb lists the full table in time', async (t) => {
  assert.ok(lab.ping(B, C.ip), 'B pings C before the storm');
  const storm = await startStorm(lab, A);

  const stats: number[] = [];
  const start = performance.now();
  let downSeenMs = -1;
  let downAt = 0;
  let pinged = 0;
  let pings = 0;
  while (performance.now() - start < STORM_MS) {
    const { ms, result } = await timed(() => request(lab.socket, { cmd: 'stats' }, { timeoutMs: 15_000 }));
    stats.push(ms);
    if (downAt === 0 && performance.now() - start > STORM_MS / 3) {
      lab.sh(`ip link set ${D.port} down`);
      downAt = performance.now();
    } else if (downAt !== 0 && downSeenMs < 0 && result.ports.find((p) => p.port === D.port)?.up === false) {
      downSeenMs = performance.now() - downAt;
    }
    if (stats.length % 4 === 0) {
      pings++;
      if (lab.ping(B, C.ip)) pinged++;
    }
  }
  assert.equal(storm.exitCode, null, 'the storm lasted the whole window');
  storm.kill('SIGINT');
  const fdb = await timed(() => request(lab.socket, { cmd: 'fdb' }, { timeoutMs: 15_000 }));
  const after = await request(lab.socket, { cmd: 'stats' }, { timeoutMs: 15_000 });
  const { datapath } = await request(lab.socket, { cmd: 'show' });

  const worst = Math.max(...stats);
  const sorted = [...stats].sort((a, b) => a - b);
  t.diagnostic(`${stats.length} stats during the storm: worst ${worst.toFixed(0)} ms, median ${sorted[sorted.length >> 1]!.toFixed(0)} ms; port down seen after ${downSeenMs.toFixed(0)} ms; pings ${pinged}/${pings}; fdb of ${fdb.result.entries.length} entries in ${fdb.ms.toFixed(0)} ms`);
  assert.ok(stats.length >= 4, `only ${stats.length} stats answers in ${STORM_MS} ms of storm: ${stats.map((x) => x.toFixed(0)).join(' ')}`);
  assert.ok(worst <= ANSWER_BOUND_MS, `stats worst ${worst.toFixed(0)} ms during the storm: ${stats.map((x) => x.toFixed(0)).join(' ')}`);
  assert.ok(downSeenMs >= 0 && downSeenMs <= ANSWER_BOUND_MS, `port set down seen after ${downSeenMs.toFixed(0)} ms (-1: never)`);
  assert.equal(pinged, pings, `${pings - pinged} of ${pings} pings between B and C lost`);
  assert.ok(fdb.result.entries.length > 1000, `the storm filled the table: ${fdb.result.entries.length} entries`);
  // Whether the kernel's map itself fills (and the program suppresses events of stations it cannot learn)
  // depends on how far vswitchd's evictions lag the storm: the next test makes that certain with a port limit.
  t.diagnostic(`${datapath} datapath: fdb refused ${after.fdb.refused}, suppressed ${after.fdb.suppressed}`);
  if (datapath !== 'kernel') assert.equal(after.fdb.suppressed, 0, 'the userspace datapath suppresses nothing');
  assert.ok(fdb.ms <= 2 * ANSWER_BOUND_MS, `fdb of ${fdb.result.entries.length} entries took ${fdb.ms.toFixed(0)} ms`);
});

test('a MAC storm from a port at its --fdb-port-limit: the port keeps its limit, and the kernel program reports what it does not learn within the port\'s budget only (the rest counted as suppressed)', async (t) => {
  const l = new Lab('10.78');
  try {
    const [S, R] = [1, 2].map((n) => l.addHost(n)) as [Host, Host];
    await l.startSwitch(['--fdb-port-limit', '100']);
    for (const h of l.hosts) l.ok('add', h.port);
    const storm = await startStorm(l, S);
    storm.kill('SIGINT');
    const stats = await request(l.socket, { cmd: 'stats' }, { timeoutMs: 15_000 });
    const { datapath } = await request(l.socket, { cmd: 'show' });
    const onS = (await request(l.socket, { cmd: 'fdb' }, { timeoutMs: 15_000 })).entries.filter((e) => e.port === S.port).length;
    t.diagnostic(`${datapath} datapath: ${onS} entries on the storming port, fdb refused ${stats.fdb.refused}, suppressed ${stats.fdb.suppressed}`);
    assert.ok(onS <= 100, `${onS} entries on a port limited to 100`);
    assert.ok(stats.fdb.refused > 0, 'no station refused on a port at its limit');
    // 50,000 new sources within the 10 s the sentinel waits at most, against a budget of 64 at once and one a millisecond after.
    if (datapath === 'kernel') assert.ok(stats.fdb.suppressed > 0, `fdb suppressed ${stats.fdb.suppressed}: the program reported every station it did not learn`);
    else assert.equal(stats.fdb.suppressed, 0, 'the userspace datapath suppresses nothing');
    assert.ok(l.ping(R, S.ip), 'R pings S after the storm');
  } finally {
    await l.cleanup();
  }
});
