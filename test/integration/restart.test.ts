// vswconfig restart (src/daemon/restart.ts): the running vswitchd hands the
// switch over to a new one started from the files on disk. On the kernel
// datapath (tcx or, with VSWITCH_TEST_ATTACH=tc, tc filters) no frame is
// lost and the FDB carries on; on the userspace datapath frames are lost
// while no daemon has the ports, and the test reports how many. Either way the
// configuration is the same afterwards, nothing stays pinned, and a new
// vswitchd that cannot start leaves the host as a stop would.
//
// Each run prints its figures (frames lost, the control socket's downtime):
// the README's restart row comes from them.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { probeSocket } from '../../bench/restart.js';
import {
  assertOk,
  type Host,
  type Lab,
  labsCleanedAfterAll,
  promiscuity,
  randomSubnet24,
  ROOT,
  sleep,
  TEST_ATTACH,
  TEST_DATAPATH,
  VSWCONFIG,
  waitUntil,
} from '../helpers/lab.js';

const newLab = labsCleanedAfterAll();
const KERNEL = TEST_DATAPATH !== 'user';
/** ping -i 0.01: 100 per second, for PING_SECONDS. */
const PING_SECONDS = 8;

function datapathArgs(): string[] {
  return [...(TEST_DATAPATH === '' ? [] : ['--datapath', TEST_DATAPATH]), ...(TEST_ATTACH === '' ? [] : ['--attach', TEST_ATTACH])];
}

/** What a port looks like to the host: promiscuity and the programs on it (tcx and tc, as bpftool lists them). */
function portState(lab: Lab, ports: string[]): unknown {
  return ports.map((p) => [promiscuity(lab, p), lab.sh(`bpftool net show dev ${p}`)]);
}

/** The bpffs mounts and what is in them: a hand-over's directory, if one was left. */
function pinsLeft(): string[] {
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.split(' ')[2] === 'bpf').map((l) => l.split(' ')[1]!);
  const left: string[] = mounts.filter((m) => m === '/run/vswitch/bpffs');
  for (const m of mounts) for (const d of readdirSync(m)) if (d.startsWith('vswitch-restart-')) left.push(join(m, d));
  if (existsSync('/run/vswitch')) for (const f of readdirSync('/run/vswitch')) if (f.startsWith('restart-')) left.push(join('/run/vswitch', f));
  return left;
}

/** A vswitchd started from `bin` (its argv, with the lab's socket), its stderr kept. */
function startDaemon(lab: Lab, bin: string, args: string[] = []): { proc: ChildProcess; log: () => string } {
  let log = '';
  const proc = spawn(process.execPath, [bin, '--socket', lab.socket, ...datapathArgs(), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => (log += s));
  return { proc, log: () => log };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A process's whole output and exit code. */
function finished(p: ChildProcess): Promise<{ code: number | null; out: string }> {
  let out = '';
  p.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s));
  p.stderr?.setEncoding('utf8').on('data', (s: string) => (out += s));
  return new Promise((resolve) => p.on('close', (code) => resolve({ code, out })));
}

/** A copy of the built program (bin, dist/src, dist/bpf, package.json; node_modules linked) whose files a test replaces. */
function programCopy(): string {
  const copy = mkdtempSync(join(tmpdir(), 'vswitch-restart-'));
  cpSync(join(ROOT, 'bin'), join(copy, 'bin'), { recursive: true });
  mkdirSync(join(copy, 'dist'));
  cpSync(join(ROOT, 'dist', 'src'), join(copy, 'dist', 'src'), { recursive: true });
  cpSync(join(ROOT, 'dist', 'bpf'), join(copy, 'dist', 'bpf'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(copy, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
  return copy;
}

describe(`vswconfig restart (${TEST_DATAPATH || 'default'} datapath${TEST_ATTACH ? `, --attach ${TEST_ATTACH}` : ''})`, () => {
  it(
    KERNEL
      ? 'loses no ping reply at 100/s, keeps an iperf3 TCP stream, the FDB (no unknown unicast flooded) and the configuration; nothing stays pinned; a kill -9 afterwards leaves nothing attached'
      : 'keeps an iperf3 TCP stream, the FDB and the configuration (pings lost while no daemon has the ports: counted); nothing stays pinned; a kill -9 afterwards leaves nothing attached',
    async () => {
      const lab = newLab();
      // h3 (the third port, captured) and h4 (the mirror's output) send nothing of their own.
      const [h1, h2, h3, h4] = [lab.addHost(1), lab.addHost(2), lab.addHost(3, { quiet: true }), lab.addHost(4, { quiet: true })] as [Host, Host, Host, Host];
      const ports = [h1.port, h2.port, h3.port, h4.port];
      // A tunnel over an underlay of its own (a veth pair in this namespace).
      const under = randomSubnet24();
      const [ua, ub] = [`${lab.prefix}ua`, `${lab.prefix}ub`];
      lab.addVethPair(ua, ub);
      lab.sh(`ip addr add ${under}.1/24 dev ${ua} && ip link set ${ua} up && ip link set ${ub} up`);
      const vx = `${lab.prefix}vx`;
      const before = portState(lab, ports);

      const d = startDaemon(lab, join(ROOT, 'bin', 'vswitchd'));
      const ok = (...args: string[]): string => {
        const r = lab.vswconfig(...args);
        assertOk(r, `vswconfig ${args.join(' ')}`);
        return r.stdout;
      };
      let newPid = 0;
      try {
        assert.ok(await waitUntil(() => lab.vswconfig('show').code === 0, 15_000), `vswitchd did not start:\n${d.log()}`);
        for (const p of ports) ok('add', p);
        for (const p of [h1.port, h2.port, h3.port]) ok('vlan', p, 'access', '10');
        ok('vlan', h4.port, 'trunk', '10,20');
        ok('acl', 'add', 'priority', '100', 'src', '02:00:00:00:00:09', 'drop');
        ok('acl', 'add', 'type', '0x88b5', 'drop');
        ok('mirror', 'add', 'span', 'output', h4.port, 'select-ingress', h3.port);
        ok('tunnel', 'add', vx, 'vxlan', 'vni', String(4000 + Math.floor(Math.random() * 1000)), 'remote', `${under}.2`, 'vlan', '20');
        assert.ok(lab.ping(h1, h2.ip, '-c 3 -i 0.2 -W 2'), 'h1 pings h2 before the restart');

        const stations = (): string[] =>
          (JSON.parse(ok('-j', 'fdb')) as Array<{ mac: string; ifname: string; vlan?: number }>).map((e) => `${e.mac} ${e.ifname} ${e.vlan ?? 0}`).sort();
        const ages = (): Map<string, number> =>
          new Map((JSON.parse(ok('-j', 'fdb')) as Array<{ mac: string; age: number }>).map((e) => [e.mac, e.age]));
        const config = (): unknown => ({
          show: ok('show'),
          vlans: ports.map((p) => ok('vlan', p)),
          // Ids kept; hits start again from 0 (a new process counts).
          acl: (JSON.parse(ok('-j', 'acl', 'show')) as Array<Record<string, unknown>>).map(({ hits: _h, ...r }) => r),
          mirrors: (JSON.parse(ok('-j', 'mirror', 'show')) as Array<Record<string, unknown>>).map(({ copies: _c, ...m }) => m),
          tunnels: (JSON.parse(ok('-j', 'tunnel', 'show')) as { tunnels: Array<Record<string, unknown>> }).tunnels.map(({ rxFrames: _r, txFrames: _t, ...t }) => t),
        });
        const fdbBefore = stations();
        assert.ok(fdbBefore.some((s) => s.startsWith(h1.mac)) && fdbBefore.some((s) => s.startsWith(h2.mac)), `both pinging hosts learned: ${fdbBefore.join(', ')}`);
        const agesBefore = ages();
        const configBefore = config();

        // The pair's unicast frames on the third port: floods of unknown unicast.
        const unicast = `ether dst ${h1.mac} or ether dst ${h2.mac}`;
        const flooded = KERNEL ? await lab.capture(h3.ns, h3.ifname, unicast) : null;
        lab.sh(`ip netns exec ${h2.ns} iperf3 -s -1 -D -p 5301`);
        await sleep(200);
        const iperf = finished(lab.spawn('ip', ['netns', 'exec', h1.ns, 'iperf3', '-c', h2.ip, '-p', '5301', '-t', String(PING_SECONDS), '-b', '200M']));
        const ping = finished(lab.spawn('ip', ['netns', 'exec', h1.ns, 'ping', '-i', '0.01', '-c', String(PING_SECONDS * 100), '-W', '1', h2.ip]));
        const probe = probeSocket(lab.socket);
        await sleep(2000);
        const t0 = Date.now();
        // Not spawnSync: the probe of the socket runs in this process meanwhile.
        const r = await finished(spawn(process.execPath, [VSWCONFIG, '--socket', lab.socket, 'restart'], { stdio: ['ignore', 'pipe', 'pipe'] }));
        const restartMs = Date.now() - t0;
        assert.equal(r.code, 0, `vswconfig restart: ${r.out}\n${d.log()}`);
        newPid = Number(r.out.trim());
        assert.ok(newPid > 0 && newPid !== d.proc.pid && alive(newPid), `restart prints the new vswitchd's pid: ${r.out}`);
        assert.ok(await waitUntil(() => d.proc.exitCode !== null, 5000), 'the old vswitchd exits');
        assert.equal(d.proc.exitCode, 0, d.log());
        const downMs = await probe.stop();

        const pinged = await ping;
        const m = /(\d+) packets transmitted, (\d+) received/.exec(pinged.out);
        assert.ok(m, pinged.out);
        const lost = Number(m[1]) - Number(m[2]);
        const tcp = await iperf;
        console.log(
          `# restart (${TEST_DATAPATH || 'default'}${TEST_ATTACH ? `, ${TEST_ATTACH}` : ''}): ${lost} of ${m[1]} pings lost (100/s), ` +
            `control socket down ${downMs.toFixed(0)} ms, vswconfig restart took ${restartMs} ms`,
        );
        if (KERNEL) assert.equal(lost, 0, `no ping reply lost:\n${pinged.out.split('\n').slice(-4).join('\n')}`);
        assert.equal(tcp.code, 0, `iperf3 ran through the restart without an error:\n${tcp.out}`);
        assert.doesNotMatch(tcp.out, /error/i);

        if (!KERNEL) {
          // Frames lost while no daemon had the ports; once the new one has them, the FDB is there.
          const cap = await lab.capture(h3.ns, h3.ifname, unicast);
          assert.ok(lab.ping(h1, h2.ip, '-c 5 -i 0.05 -W 2'));
          assert.deepEqual(await cap.stop(), [], 'no frame of the pair flooded to a third port after the restart');
        } else {
          assert.deepEqual(await flooded!.stop(), [], 'no frame of the pair flooded to a third port across the restart');
        }
        assert.deepEqual(stations(), fdbBefore, 'vswconfig fdb lists the same stations');
        const agesAfter = ages();
        for (const [mac, age] of agesBefore) {
          if (mac !== h1.mac && mac !== h2.mac) assert.ok(agesAfter.get(mac)! >= age, `${mac} keeps its age (${age} s, now ${agesAfter.get(mac)} s)`);
        }
        assert.deepEqual(config(), configBefore, 'show, vlan, acl show, mirror show and tunnel show print the same');
        assert.deepEqual(pinsLeft(), [], 'nothing is left pinned, no state file');
        assert.match(d.log(), /restarted: took the switch over from vswitchd pid \d+/);

        // kill -9 of the new vswitchd: nothing attached (no pin holds a link; its tc watchdog removes its filters).
        process.kill(newPid, 'SIGKILL');
        assert.ok(await waitUntil(() => !alive(newPid), 5000));
        assert.ok(await waitUntil(() => JSON.stringify(portState(lab, ports)) === JSON.stringify(before), 5000), 'after kill -9 the ports are as before the switch took them');
        newPid = 0;
      } finally {
        if (newPid > 0 && alive(newPid)) {
          process.kill(newPid, 'SIGTERM');
          await waitUntil(() => !alive(newPid), 10_000);
        }
        if (d.proc.exitCode === null) d.proc.kill('SIGTERM');
      }
    },
  );

  it('a new vswitchd that cannot start (a broken file on disk): the old one gives every port back as a stop would, exits 1, with one log line', async () => {
    const lab = newLab();
    const [h1, h2] = [lab.addHost(1), lab.addHost(2)];
    const ports = [h1.port, h2.port];
    const before = portState(lab, ports);
    // A copy of the program, whose files the test breaks.
    const copy = programCopy();
    try {
      const d = startDaemon(lab, join(copy, 'bin', 'vswitchd'));
      try {
        assert.ok(await waitUntil(() => lab.vswconfig('show').code === 0, 15_000), `vswitchd did not start:\n${d.log()}`);
        for (const p of ports) assertOk(lab.vswconfig('add', p), `add ${p}`);
        assert.ok(lab.ping(h1, h2.ip, '-c 2 -i 0.2 -W 2'), 'forwarding before');
        writeFileSync(join(copy, 'dist', 'src', 'daemon', 'restart-state.js'), 'this is not JavaScript {\n');

        const r = lab.vswconfig('restart');
        assert.equal(r.code, 1, `${r.stdout}${r.stderr}`);
        assert.match(r.stderr, /the new vswitchd \(pid \d+\) refused: cannot load .*main\.js: /);
        assert.ok(await waitUntil(() => d.proc.exitCode !== null, 10_000), 'the old vswitchd exits');
        assert.equal(d.proc.exitCode, 1);
        const failed = d.log().split('\n').filter((l) => /restart failed|cannot load|refused/.test(l));
        assert.equal(failed.length, 1, `one log line says why:\n${d.log()}`);
        assert.match(failed[0]!, /restart failed: the new vswitchd \(pid \d+\) refused: cannot load .*: SyntaxError.*; stopped as a stop would \(every port given back\)$/);
        assert.deepEqual(portState(lab, ports), before, 'the ports are as before the switch took them');
        assert.deepEqual(pinsLeft(), [], 'nothing is left pinned, no state file');
        assert.equal(existsSync(lab.socket), false, 'the control socket is gone');
        assert.equal(lab.ping(h1, h2.ip, '-c 1 -W 1'), false, 'nothing forwards any more');
      } finally {
        if (d.proc.exitCode === null) d.proc.kill('SIGKILL');
      }
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  if (KERNEL) {
    it('an upgrade to a program whose maps differ: the new program replaces the old one on every port with no ping lost, the FDB written anew, one log line saying why', async () => {
      const lab = newLab();
      const [h1, h2, h3] = [lab.addHost(1), lab.addHost(2), lab.addHost(3, { quiet: true })];
      const copy = programCopy();
      try {
        // The upgrade: datapath.bpf.o built with a smaller ACL cache (another acl_cache map).
        cpSync(join(ROOT, 'bpf'), join(copy, 'bpf'), { recursive: true });
        const header = join(copy, 'bpf', 'datapath.h');
        writeFileSync(header, readFileSync(header, 'utf8').replace('#define VSW_ACL_CACHE 4096', '#define VSW_ACL_CACHE 2048'));
        const d = startDaemon(lab, join(copy, 'bin', 'vswitchd'));
        let newPid = 0;
        try {
          assert.ok(await waitUntil(() => lab.vswconfig('show').code === 0, 15_000), `vswitchd did not start:\n${d.log()}`);
          for (const h of [h1, h2, h3]) assertOk(lab.vswconfig('add', h.port), `add ${h.port}`);
          assertOk(lab.vswconfig('acl', 'add', 'type', '0x88b5', 'drop'), 'acl add');
          assert.ok(lab.ping(h1, h2.ip, '-c 3 -i 0.2 -W 2'));
          const fdbBefore = lab.vswconfig('fdb').stdout.replace(/ age \d+/g, '');
          const arch = lab.sh('uname -m').trim();
          lab.sh(`clang -O2 -g -Wall -Werror -target bpf -I/usr/include/${arch}-linux-gnu -c ${join(copy, 'bpf', 'datapath.bpf.c')} -o ${join(copy, 'dist', 'bpf', 'datapath.bpf.o')}`);

          const flooded = await lab.capture(h3.ns, h3.ifname, `ether dst ${h1.mac} or ether dst ${h2.mac}`);
          const ping = finished(lab.spawn('ip', ['netns', 'exec', h1.ns, 'ping', '-i', '0.01', '-c', '400', '-W', '1', h2.ip]));
          await sleep(1500);
          const r = await finished(spawn(process.execPath, [VSWCONFIG, '--socket', lab.socket, 'restart'], { stdio: ['ignore', 'pipe', 'pipe'] }));
          assert.equal(r.code, 0, `vswconfig restart: ${r.out}\n${d.log()}`);
          newPid = Number(r.out.trim());
          const pinged = await ping;
          const m = /(\d+) packets transmitted, (\d+) received/.exec(pinged.out);
          assert.ok(m, pinged.out);
          console.log(`# restart to another map layout (${TEST_ATTACH || 'default'}): ${Number(m[1]) - Number(m[2])} of ${m[1]} pings lost`);
          assert.equal(m[1], m[2], 'no ping reply lost');
          assert.deepEqual(await flooded.stop(), [], 'no frame of the pair flooded to a third port');
          const why = d.log().split('\n').filter((l) => l.includes('cannot adopt'));
          assert.equal(why.length, 1, d.log());
          assert.match(why[0]!, /cannot adopt the old program's maps \(the running program's map acl_cache differs \(maxEntries 4096, this program's 2048\)\): this program replaced it on every port/);
          assert.equal(lab.vswconfig('fdb').stdout.replace(/ age \d+/g, ''), fdbBefore, 'the same stations');
          assert.match(lab.vswconfig('acl', 'show').stdout, /type 0x88b5 +drop/);
          assert.deepEqual(pinsLeft(), []);
          assert.ok(lab.ping(h1, h2.ip, '-c 2 -i 0.2 -W 2'), 'the new program forwards');
        } finally {
          if (newPid > 0 && alive(newPid)) {
            process.kill(newPid, 'SIGTERM');
            await waitUntil(() => !alive(newPid), 10_000);
          }
          if (d.proc.exitCode === null) d.proc.kill('SIGTERM');
        }
      } finally {
        rmSync(copy, { recursive: true, force: true });
      }
    });
  }
});
