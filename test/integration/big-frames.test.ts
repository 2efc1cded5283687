// GSO frames bigger than the switch's 68 KiB big-frame buffers: a veth whose
// gso_max_size is raised past 64 KiB (BIG TCP, IPv6) hands the switch such
// frames. recvmmsg cuts them (MSG_TRUNC); the switch must drop and count them
// as truncated, never forward them cut short, and the frames after them must
// still be read with their own slots. The kernel datapath has no such buffer:
// it redirects the frames whole, and the same transfer must simply complete.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dropCounts, type Host, Lab, run, TEST_DATAPATH, waitUntil } from '../helpers/lab.js';

const lab = new Lab();
let A: Host, B: Host;

before(async () => {
  [A, B] = [1, 2].map((n) => lab.addHost(n));
  await lab.startSwitch();
  for (const h of lab.hosts) lab.ok('add', h.port);
  assert.ok(lab.ping(A, B.ip), 'A cannot ping B');
});

after(async () => {
  await lab.cleanup();
});

/** A 1-second IPv6 TCP transfer from A to B (iperf3); returns its client output. */
async function transfer(port: number): Promise<string> {
  lab.spawn('ip', ['netns', 'exec', B.ns, 'iperf3', '-s', '-1', '-p', String(port)]);
  const up = await waitUntil(() => lab.inNs(B.ns, `ss -Hltn sport = :${port}`).trim() !== '', 10_000, 50);
  assert.ok(up, 'iperf3 server did not start');
  const r = run('ip', ['netns', 'exec', A.ns, 'timeout', '20', 'iperf3', '-6', '-c', B.ip6, '-p', String(port), '-t', '1']);
  assert.equal(r.code, 0, `iperf3: ${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const grown = (base: Record<string, number>, reason: string): number => (dropCounts(lab)[reason] ?? 0) - (base[reason] ?? 0);

const KERNEL = TEST_DATAPATH === 'kernel';

// One test per datapath run (test/run.mjs runs the file once for each).
if (KERNEL) test('kernel datapath: GSO frames past 64 KiB (gso_max_size 185000) cross whole, none truncated', async () => {
  const base = dropCounts(lab);
  lab.sh(`ip -n ${A.ns} link set ${A.ifname} gso_max_size 185000`);
  try {
    assert.match(await transfer(5303), /receiver/);
  } finally {
    lab.sh(`ip -n ${A.ns} link set ${A.ifname} gso_max_size 65536`);
  }
  assert.equal(grown(base, 'truncated'), 0);
});

else test('userspace datapath: GSO frames past 64 KiB (gso_max_size 185000) are dropped as truncated, and later big frames still pass', async () => {
  const base = dropCounts(lab);
  lab.sh(`ip -n ${A.ns} link set ${A.ifname} gso_max_size 185000`);
  try {
    await transfer(5301);
  } finally {
    lab.sh(`ip -n ${A.ns} link set ${A.ifname} gso_max_size 65536`);
  }
  assert.ok(grown(base, 'truncated') > 0, `no frame was counted as truncated: ${JSON.stringify(dropCounts(lab))}`);

  // Back to 64 KiB GSO frames: they fit the buffers and none is lost, so the
  // queue and the ring are still in step.
  const base2 = dropCounts(lab);
  const out = await transfer(5302);
  assert.match(out, /receiver/, out);
  assert.equal(grown(base2, 'truncated'), 0, 'big frames dropped after the oversized ones');
});
