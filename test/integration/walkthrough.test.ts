// The article's walkthrough (scripts/walkthrough.sh) end to end: Install.sh,
// construct-tap-bridge.sh, vswconfig show, 12 pings, destruct, Uninstall.sh —
// with names and the control socket unique to this run, so that nothing of the
// machine's own (NS1…, /run/vswitch) is touched, and checking that it leaves
// nothing behind.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Lab, ROOT } from '../helpers/lab.js';

const lab = new Lab();
const P = lab.prefix;
// VSWITCH_DB: Install.sh's configuration file in the run's directory, not the machine's.
const env = { ...process.env, VSW_PREFIX: P, VSWITCH_SOCKET: lab.socket, VSWITCH_DB: join(lab.dir, 'db.json') };

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

test('walkthrough.sh installs, builds 4 hosts, answers 12 of 12 pings, and removes everything', () => {
  assert.ok(P.length <= 6, `prefix ${P} must fit construct-tap-bridge.sh's 6 characters`);
  assert.deepEqual(namespacesWithPrefix(), [], 'namespaces with the prefix exist before the run');

  const r = spawnSync('bash', [join(ROOT, 'scripts', 'walkthrough.sh')], { env, encoding: 'utf8', timeout: 120_000 });
  const out = r.stdout ?? '';
  const report = `exit ${r.status} signal ${r.signal}\n--- stdout\n${out}\n--- stderr\n${r.stderr}`;

  assert.equal(r.status, 0, report);
  assert.match(out, /^vswitch is installed\.$/m, report);
  const ports = [1, 2, 3, 4].map((i) => `${P}veth${i}-vsw`);
  assert.match(out, new RegExp(`# vswconfig show\ndatapath (kernel|user)\n${ports.join('\n')}\n#`), `vswconfig show did not list ${ports.join(', ')} in order:\n${report}`);
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

  // Nothing is left behind: no namespace or interface with the prefix, no daemon on the socket.
  assert.deepEqual(namespacesWithPrefix(), [], 'namespaces left behind');
  assert.deepEqual(linksWithPrefix(), [], 'interfaces left behind');
  assert.deepEqual(daemonsOnSocket(), [], `vswitchd still running on ${lab.socket}`);
  const show = lab.vswconfig('show');
  assert.notEqual(show.code, 0, `vswconfig still reaches a daemon on ${lab.socket}: ${show.stdout}`);
});
