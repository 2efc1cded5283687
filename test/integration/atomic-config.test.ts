// A configuration change under traffic (issue 15 item 3), on the datapath
// VSWITCH_TEST_DATAPATH names: each frame meets the whole old ACL or the whole
// new one. Host 1 sends broadcast frames from station B at 50,000 frames/s
// (trafgen) while the ACL drops source B; meanwhile a rule of higher priority
// that allows another station A is added and deleted 100 times. Under the
// old table and the new one alike B's frames are dropped; only a mix lets one
// through: the new rule in the first slot while the count still says one
// rule, or B's flow, cached under the old generation as "rule 0", reading the
// first slot's new action (the kernel datapath's ACL written slot by slot did
// both). Not one frame may leave towards host 2.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Host, Lab, portStats, waitUntil } from '../helpers/lab.js';

const lab = new Lab();
let H1: Host, H2: Host;
let sender: ChildProcess | null = null;

const B = '02:00:00:00:0b:0b';
const A = '02:00:00:00:0a:0a';
const CHANGES = 100;

const ok = (...args: string[]): string => lab.ok(...args);

before(async () => {
  [H1, H2] = [1, 2].map((n) => lab.addHost(n, { quiet: true }));
  await lab.startSwitch();
  for (const h of lab.hosts) ok('add', h.port);
});

/** Stops trafgen as ^C does, and its worker with it (its own process group), at worst by SIGKILL after 3 s. */
async function stopSender(): Promise<void> {
  const p = sender;
  sender = null;
  if (p === null || p.pid === undefined || p.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
  process.kill(-p.pid, 'SIGINT');
  const timer = setTimeout(() => process.kill(-p.pid!, 'SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
  try {
    process.kill(-p.pid, 'SIGKILL'); // a worker left behind
  } catch {
    // the group is gone
  }
}

after(async () => {
  await stopSender();
  await lab.cleanup();
});

test(`acl: a rule added and deleted ${CHANGES} times under 50,000 frames/s lets none of a dropped source's frames through`, async () => {
  ok('acl', 'add', 'src', B, 'drop');
  const conf = join(lab.dir, 'b.trafgen');
  const bytes = (mac: string): string => mac.split(':').map((x) => `0x${x}`).join(', ');
  writeFileSync(conf, `{ ${bytes('ff:ff:ff:ff:ff:ff')}, ${bytes(B)}, 0x88, 0xb5, fill(0x00, 46) }\n`);
  sender = spawn('ip', ['netns', 'exec', H1.ns, 'trafgen', '--dev', H1.ifname, '--conf', conf, '--cpus', '1', '--rate', '50000pps', '--no-sock-mem', '--notouch-irq'], {
    stdio: 'ignore',
    detached: true,
  });
  const rx0 = portStats(lab).get(H1.port)!.rxFrames;
  // The sentinel: B's frames are arriving at the switch.
  assert.ok(await waitUntil(() => portStats(lab).get(H1.port)!.rxFrames > rx0 + 1000, 10_000, 50), 'trafgen frames reach the switch');
  const tx0 = portStats(lab).get(H2.port)!.txFrames;

  for (let k = 0; k < CHANGES; k++) {
    const id = ok('acl', 'add', 'priority', '40000', 'src', A, 'allow').trim();
    ok('acl', 'del', id);
  }
  const s = portStats(lab);
  await stopSender();
  const sent = s.get(H1.port)!.rxFrames - rx0;
  const leaked = s.get(H2.port)!.txFrames - tx0;
  assert.ok(sent > 10_000, `B sent ${sent} frames during the changes`);
  assert.equal(leaked, 0, `${leaked} of ${sent} frames of B reached host 2 while the ACL changed ${2 * CHANGES} times`);
});
