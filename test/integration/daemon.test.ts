// vswitchd as a process: its command line, one daemon per socket, what it does
// with a misbehaving control client, its log, and that it sleeps when idle.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  addQuietPairs,
  assertOk,
  cpuTicks,
  labsCleanedAfterAll,
  type RunResult,
  showPorts,
  sleep,
  VSWITCHD,
  waitFor,
} from '../helpers/lab.js';
import { datapathThread, inPoll, threadSample } from '../helpers/threads.js';

const newLab = labsCleanedAfterAll();

const ok = assertOk;

/** Run vswitchd to completion (it is expected to exit by itself). */
function vswitchd(args: string[]): RunResult & { signal: NodeJS.Signals | null } {
  const r = spawnSync(process.execPath, [VSWITCHD, ...args], { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
  return { code: r.status ?? -1, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Exactly one stderr line, starting `vswitchd: `, matching every pattern, and no stack trace. */
function oneErrorLine(stderr: string, ...patterns: (string | RegExp)[]): void {
  assert.doesNotMatch(stderr, /^ {4}at /m, `stack trace on stderr: ${stderr}`);
  const lines = stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `expected one stderr line, got ${JSON.stringify(stderr)}`);
  assert.ok(lines[0]!.startsWith('vswitchd: '), `stderr line does not start with 'vswitchd: ': ${lines[0]}`);
  for (const p of patterns) {
    if (typeof p === 'string') assert.ok(lines[0]!.includes(p), `stderr line does not name '${p}': ${lines[0]}`);
    else assert.match(lines[0]!, p);
  }
}

interface Conversation {
  /** Everything the daemon sent. */
  data: string;
  /** Whether the daemon closed the connection within the time allowed. */
  closed: boolean;
}

/** Connect to `path`, write `chunks`, collect what comes back until the connection closes (or `ms` pass). */
function converse(path: string, chunks: Buffer[], ms = 5000): Promise<Conversation> {
  return new Promise((resolve) => {
    let data = '';
    const sock = net.createConnection({ path });
    const done = (closed: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ data, closed });
    };
    const timer = setTimeout(() => done(false), ms);
    sock.setEncoding('utf8');
    sock.on('data', (s: string) => (data += s));
    sock.on('error', () => undefined); // EPIPE / ECONNRESET once the daemon has hung up
    sock.on('close', () => done(true));
    sock.on('connect', () => {
      for (const c of chunks) sock.write(c);
    });
  });
}

/** The first reply line, parsed. */
function firstReply(c: Conversation): { v?: unknown; id?: unknown; ok?: unknown; error?: { code?: unknown; message?: unknown } } {
  const nl = c.data.indexOf('\n');
  assert.ok(nl > 0, `no reply line from the daemon: ${JSON.stringify(c.data)}`);
  return JSON.parse(c.data.slice(0, nl)) as ReturnType<typeof firstReply>;
}

describe('vswitchd', () => {
  for (const [args, option] of [
    [['--max-ports', '0'], '--max-ports'],
    [['--bogus'], '--bogus'],
    [['--aging-time', 'abc'], '--aging-time'],
  ] as const) {
    it(`refuses ${args.join(' ')}: one clear stderr line, nonzero exit, no stack trace, no socket left`, () => {
      const lab = newLab();
      const socket = join(lab.dir, 'bad.sock');
      const r = vswitchd(['--socket', socket, ...args]);
      assert.equal(r.signal, null, `vswitchd did not exit by itself (killed by ${r.signal}); stderr ${r.stderr}`);
      assert.notEqual(r.code, 0, 'exit status');
      oneErrorLine(r.stderr, option);
      assert.equal(existsSync(socket), false, 'socket left behind');
    });
  }

  it('a second vswitchd on the same socket is refused and the first keeps working', async () => {
    const lab = newLab();
    const [h1, h2, h3] = [lab.addHost(1), lab.addHost(2), lab.addHost(3)];
    const first = await lab.startSwitch();
    ok(lab.vswconfig('add', h1.port), 'add h1');
    ok(lab.vswconfig('add', h2.port), 'add h2');
    const ino = statSync(lab.socket).ino;

    const r = vswitchd(['--socket', lab.socket]);
    assert.equal(r.signal, null, `the second vswitchd did not exit by itself; stderr ${r.stderr}`);
    assert.notEqual(r.code, 0, 'exit status of the second vswitchd');
    oneErrorLine(r.stderr, lab.socket, /already running/i);

    assert.ok(first.alive, 'the first daemon died');
    assert.equal(statSync(lab.socket).ino, ino, 'the socket file was replaced');
    assert.deepEqual(showPorts(lab), [h1.port, h2.port]);
    assert.ok(lab.ping(h1, h2.ip), 'the first daemon still forwards');
    ok(lab.vswconfig('add', h3.port), 'add h3 to the first daemon');
    assert.ok(lab.ping(h3, h1.ip), 'the first daemon forwards for a new port');
  });

  it('garbage on the control socket gets an error reply and the connection closed; the daemon keeps answering show', async () => {
    const lab = newLab();
    const [p] = addQuietPairs(lab, 'g', 1);
    await lab.startSwitch();
    ok(lab.vswconfig('add', p!), 'add');

    // Binary junk (every byte but the newline, so not UTF-8 and not JSON), then a newline.
    const junk = Buffer.from([...Array(256).keys()].filter((b) => b !== 0x0a).concat(0x0a));
    const c1 = await converse(lab.socket, [junk]);
    const r1 = firstReply(c1);
    assert.equal(r1.ok, false);
    assert.equal(r1.error?.code, 'EPROTO');
    assert.equal(c1.closed, true, 'the daemon did not close the connection after junk');
    assert.deepEqual(showPorts(lab), [p]);

    // One megabyte without a newline.
    const c2 = await converse(lab.socket, [Buffer.alloc(1 << 20, 'x')]);
    const r2 = firstReply(c2);
    assert.equal(r2.ok, false);
    assert.equal(r2.error?.code, 'EPROTO');
    assert.match(String(r2.error?.message), /too long/i);
    assert.equal(c2.closed, true, 'the daemon did not close the connection after a 1 MB line');

    assert.ok(lab.daemon!.alive, 'the daemon died');
    assert.deepEqual(showPorts(lab), [p]);
  });

  it('a request with a wrong protocol version gets an error reply', async () => {
    const lab = newLab();
    await lab.startSwitch();
    const c = await converse(lab.socket, [Buffer.from('{"v":2,"id":5,"cmd":"show"}\n')]);
    const r = firstReply(c);
    assert.equal(r.v, 1);
    assert.equal(r.id, 5);
    assert.equal(r.ok, false);
    assert.equal(r.error?.code, 'EPROTO');
    assert.match(String(r.error?.message), /version/i);
    assert.deepEqual(showPorts(lab), []);
  });

  it('logs ports added and removed to stderr', async () => {
    const lab = newLab();
    const [p] = addQuietPairs(lab, 'o', 1) as [string];
    const d = await lab.startSwitch();
    const lineWith = (re: RegExp) => () => d.stderr.split('\n').some((l) => l.includes(p) && re.test(l));

    ok(lab.vswconfig('add', p), 'add');
    await waitFor(`a log line saying ${p} was added`, lineWith(/\badded\b/i), 3000).catch(() =>
      assert.fail(`no log line saying ${p} was added:\n${d.stderr}`),
    );

    ok(lab.vswconfig('delete', p), 'delete');
    await waitFor(`a log line saying ${p} was removed`, lineWith(/\b(deleted|removed|detached)\b/i), 3000).catch(() =>
      assert.fail(`no log line saying ${p} was removed:\n${d.stderr}`),
    );
  });

  it('--spin-us (userspace datapath): after a frame the datapath keeps polling that long before it sleeps; 0 sleeps at once', async () => {
    /**
     * `count` pings `interval` s apart through a switch with this --spin-us,
     * while the datapath thread is looked at every few ms: how often it was
     * found asleep in poll(), and how many times it went to sleep, from the
     * first reply to the last.
     */
    const duringPings = async (spinUs: number, count: number, interval: string) => {
      const lab = newLab();
      const a = lab.addHost(1);
      const b = lab.addHost(2);
      const d = await lab.startSwitch(['--datapath', 'user', '--spin-us', String(spinUs)]);
      ok(lab.vswconfig('add', a.port), 'add');
      ok(lab.vswconfig('add', b.port), 'add');
      assert.ok(lab.ping(a, b.ip), 'no ping through the switch');
      const pid = d.proc.pid!;
      const tid = await datapathThread(pid);
      const ping = lab.spawn('ip', ['netns', 'exec', a.ns, 'ping', '-c', String(count), '-i', interval, '-W', '2', b.ip]);
      let out = '';
      ping.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
      const exit = new Promise<number | null>((res) => ping.on('exit', (code) => res(code)));
      await waitFor('the first ping reply', () => out.includes('bytes from') || ping.exitCode !== null, 10_000, 5);
      const first = threadSample(pid, tid);
      let samples = 0;
      let asleepInPoll = 0;
      while (ping.exitCode === null) {
        if (inPoll(threadSample(pid, tid))) asleepInPoll++;
        samples++;
        await sleep(5);
      }
      const sleeps = threadSample(pid, tid).sleeps - first.sleeps;
      assert.equal(await exit, 0, `ping failed:\n${out}`);
      return { lab, pid, tid, samples, asleepInPoll, sleeps };
    };

    // 0.3 s between frames is less than 0.9 s: the thread never blocks in poll() between them...
    const spinning = await duringPings(900_000, 10, '0.3');
    assert.ok(spinning.samples >= 5, `the datapath thread was looked at only ${spinning.samples} times`);
    assert.equal(spinning.asleepInPoll, 0, `with --spin-us 900000 it slept in poll() in ${spinning.asleepInPoll} of ${spinning.samples} looks`);
    // ...and once the frames stop, it does.
    await waitFor('the datapath thread asleep in poll() after the pings', () => inPoll(threadSample(spinning.pid, spinning.tid)), 10_000);
    await spinning.lab.cleanup();

    // With 0 it goes back to poll() after every round: even between pings 10 ms apart.
    const sleeping = await duringPings(0, 50, '0.01');
    assert.ok(sleeping.asleepInPoll > 0, `with --spin-us 0 it never slept in poll() in ${sleeping.samples} looks`);
    assert.ok(sleeping.sleeps >= 25, `with --spin-us 0 it went to sleep only ${sleeping.sleeps} times during 50 pings 10 ms apart`);
    await sleeping.lab.cleanup();
  });

  it('an idle daemon with 24 ports uses no CPU: its datapath thread sleeps in poll() and nothing wakes it', async () => {
    const lab = newLab();
    // A namespace of its own: links other programs add or remove on the host
    // would wake it (rtnetlink), and it would be right to wake.
    const ns = lab.addNamespace('idle');
    const names = addQuietPairs(lab, 'i', 24, ns);
    const d = await lab.startSwitch([], { netns: ns });
    for (const n of names) ok(lab.vswconfig('add', n), `add ${n}`);
    assert.equal(showPorts(lab).length, 24);
    const pid = d.proc.pid!;
    const tid = await datapathThread(pid);

    // Let the link events of the ports' promiscuity pass: 1 s in which it is not woken.
    let before = threadSample(pid, tid);
    await waitFor(
      'the datapath thread to stay asleep for 1 s',
      async () => {
        await sleep(1000);
        const now = threadSample(pid, tid);
        const quiet = inPoll(now) && now.sleeps === before.sleeps;
        before = now;
        return quiet;
      },
      15_000,
      0,
    );
    const ticks = cpuTicks(pid);
    await sleep(3000);
    const after = threadSample(pid, tid);
    assert.ok(d.alive, 'the daemon died');
    assert.ok(inPoll(after), `the datapath thread is not asleep in poll(): state ${after.state}, in ${after.wchan}`);
    assert.equal(after.sleeps - before.sleeps, 0, 'the datapath thread was woken while idle');
    // node's own threads (timers, GC) wake now and then; they must stay near nothing too.
    const clkTck = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
    const used = cpuTicks(pid) - ticks;
    assert.ok(used <= clkTck / 10, `the idle daemon used ${used} ticks of CPU in 3 s (${clkTck} ticks/s)`);
  });
});
