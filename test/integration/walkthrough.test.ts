// The article's walkthrough (scripts/walkthrough.sh) end to end: Install.sh,
// construct-tap-bridge.sh, vswconfig show, 12 pings, destruct, Uninstall.sh —
// and its two-VLAN version (--vlans: NS1, NS3 in VLAN 10, NS2, NS4 in VLAN 20)
// — on the datapath under test, with names and the control socket unique to
// this run, so that nothing of the machine's own (NS1…, /run/vswitch) is
// touched, and checking that it leaves nothing behind.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Lab, ROOT, TEST_DATAPATH } from '../helpers/lab.js';

const lab = new Lab();
const P = lab.prefix;
// VSWITCH_DB: Install.sh's configuration file in the run's directory, not the machine's.
const env = { ...process.env, VSW_PREFIX: P, VSWITCH_SOCKET: lab.socket, VSWITCH_DB: join(lab.dir, 'db.json') };
const DATAPATH = TEST_DATAPATH || 'kernel';

/** Pids of processes whose command line names this run's socket (a vswitchd left running). */
function daemonsOnSocket(): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(join('/proc', d, 'cmdline'), 'utf8');
    } catch {
      continue;
    }
    const argv = cmdline.split('\0');
    if (argv.some((a) => a.includes('vswitchd')) && argv.includes(lab.socket)) pids.push(Number(d));
  }
  return pids;
}

function namespacesWithPrefix(): string[] {
  const out = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  return out
    .split('\n')
    .map((l) => l.split(/\s+/)[0] ?? '')
    .filter((ns) => ns.startsWith(P));
}

function linksWithPrefix(): string[] {
  const out = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout ?? '';
  return [...out.matchAll(/^\d+: ([^:@\s]+)/gm)].map((m) => m[1]!).filter((l) => l.startsWith(P));
}

after(async () => {
  // Only if the walkthrough failed to clean up after itself: remove what it made.
  spawnSync('bash', [join(ROOT, 'scripts', 'destruct-tap-bridge.sh')], { env, stdio: 'ignore', timeout: 30_000 });
  spawnSync('bash', [join(ROOT, 'scripts', 'Uninstall.sh')], { env, stdio: 'ignore', timeout: 30_000 });
  for (const pid of daemonsOnSocket()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await lab.cleanup();
});

const ports = [1, 2, 3, 4].map((i) => `${P}veth${i}-vsw`);

/** Run walkthrough.sh with `args` on the datapath under test; its stdout and a report for failures. */
function walkthrough(...args: string[]): { out: string; report: string } {
  assert.ok(P.length <= 6, `prefix ${P} must fit construct-tap-bridge.sh's 6 characters`);
  assert.deepEqual(namespacesWithPrefix(), [], 'namespaces with the prefix exist before the run');
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'walkthrough.sh'), ...args, '--datapath', DATAPATH], { env, encoding: 'utf8', timeout: 120_000 });
  const out = r.stdout ?? '';
  const report = `exit ${r.status} signal ${r.signal}\n--- stdout\n${out}\n--- stderr\n${r.stderr}`;
  assert.equal(r.status, 0, report);
  assert.match(out, /^vswitch is installed\.$/m, report);
  assert.match(out, new RegExp(`# vswconfig show\ndatapath ${DATAPATH}( attach tcx?)?\n${ports.join('\n')}\n#`), `vswconfig show did not list ${ports.join(', ')} in order on the ${DATAPATH} datapath:\n${report}`);
  return { out, report };
}

/** Nothing is left behind: no namespace or interface with the prefix, no daemon on the socket. */
function assertAllRemoved(): void {
  assert.deepEqual(namespacesWithPrefix(), [], 'namespaces left behind');
  assert.deepEqual(linksWithPrefix(), [], 'interfaces left behind');
  assert.deepEqual(daemonsOnSocket(), [], `vswitchd still running on ${lab.socket}`);
  const show = lab.vswconfig('show');
  assert.notEqual(show.code, 0, `vswconfig still reaches a daemon on ${lab.socket}: ${show.stdout}`);
}

test(`walkthrough.sh installs, builds 4 hosts, answers 12 of 12 pings, and removes everything (${DATAPATH} datapath)`, () => {
  const { out, report } = walkthrough();
  // The hosts were this run's namespaces and interfaces, and the daemon used this run's socket.
  for (const i of [1, 2, 3, 4]) {
    assert.ok(out.includes(`# ip netns exec ${P}NS${i} ping`), `pings not run in ${P}NS${i}:\n${report}`);
    assert.match(out, new RegExp(`^${P}veth${i}@\\S+\\s+UP\\s+192\\.168\\.100\\.10${i}/24`, 'm'), report);
  }
  assert.ok(existsSync(join(lab.dir, 'vswitchd.log')), 'Install.sh did not put its log beside VSWITCH_SOCKET');
  // Install.sh keeps the configuration in VSWITCH_DB and Uninstall.sh leaves it; the ports left with the walkthrough.
  const db = JSON.parse(readFileSync(join(lab.dir, 'db.json'), 'utf8')) as { version: number; ports: unknown[] };
  assert.deepEqual([db.version, db.ports], [1, []], 'the configuration file Install.sh passed with --db');
  assert.match(out, /^walkthrough: 12 of 12 pings answered$/m, report);
  assert.match(out, /^vswitch is uninstalled\.$/m, report);
  // Every learned address of the four hosts was shown on one of this run's ports.
  const fdb = out.slice(out.indexOf('# vswconfig fdb'), out.indexOf('# destruct-tap-bridge.sh'));
  for (const port of ports) assert.match(fdb, new RegExp(`^\\S+ dev ${port} age \\d+$`, 'm'), report);
  assertAllRemoved();
});

test(`walkthrough.sh --vlans: NS1, NS3 in VLAN 10 and NS2, NS4 in VLAN 20 answer the 4 pings inside a VLAN and none of the 8 across (${DATAPATH} datapath)`, () => {
  const { out, report } = walkthrough('--vlans');
  const vlanOf = (i: number): number => (i % 2 === 1 ? 10 : 20);
  for (const i of [1, 2, 3, 4]) assert.match(out, new RegExp(`^# vswconfig vlan ${P}veth${i}-vsw\n${P}veth${i}-vsw access ${vlanOf(i)}$`, 'm'), `mode of ${P}veth${i}-vsw not shown:\n${report}`);
  for (const [a, b] of [[1, 3], [3, 1], [2, 4], [4, 2]]) {
    assert.match(out, new RegExp(`# ip netns exec ${P}NS${a} ping -c 1 192\\.168\\.100\\.10${b}\n[^#]*?1 packets transmitted, 1 received`), `NS${a} → NS${b} not answered:\n${report}`);
  }
  assert.match(out, /^walkthrough: 4 of 4 pings inside a VLAN answered, 0 of 8 across VLANs$/m, report);
  // The FDB shows each host's MAC in its VLAN, on its port.
  const fdb = out.slice(out.indexOf('# vswconfig fdb'), out.indexOf('# destruct-tap-bridge.sh'));
  for (const i of [1, 2, 3, 4]) assert.match(fdb, new RegExp(`^\\S+ dev ${P}veth${i}-vsw vlan ${vlanOf(i)} age \\d+$`, 'm'), report);
  assert.match(out, /^vswitch is uninstalled\.$/m, report);
  assertAllRemoved();
});
