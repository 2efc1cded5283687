// vswitchd's command line, its log format, and how the program reports errors.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_SOCKET_PATH } from '../../src/control/protocol.js';
import { datapathOptions, parseDaemonArgs, UsageError } from '../../src/daemon/args.js';
import { createLogger, formatLogLine } from '../../src/daemon/log.js';
import { NOBODY, programCopy } from '../helpers/program-copy.js';

const MAIN = fileURLToPath(new URL('../../src/daemon/main.js', import.meta.url));

function run(
  args: string[],
  as?: { uid: number; main: string; cwd: string },
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [as?.main ?? MAIN, ...args], as === undefined ? {} : { uid: as.uid, gid: as.uid, cwd: as.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('vswitchd arguments', () => {
  it('defaults: socket, 24 ports, 300 s aging, 65536 fdb entries, no per-port fdb limit, 256 rx and 64 tx ring frames, 100 µs spin, every peer frame redirected', () => {
    const cmd = parseDaemonArgs([]);
    assert.deepEqual(cmd, {
      kind: 'run',
      config: {
        socket: DEFAULT_SOCKET_PATH,
        redirectPeer: 'auto',
        maxPorts: 24,
        agingSeconds: 300,
        fdbSize: 65536,
        fdbPortLimit: 0,
        ringFrames: 256,
        txRingFrames: 64,
        spinUs: 100,
      },
    });
  });

  it('parses every option, as "--opt value" and "--opt=value"', () => {
    const cmd = parseDaemonArgs([
      '--socket',
      '/tmp/x.sock',
      '--max-ports=4',
      '--aging-time',
      '10',
      '--fdb-size',
      '16',
      '--fdb-port-limit=8',
      '--ring-frames=128',
      '--tx-ring-frames',
      '32',
      '--spin-us=0',
      '--db',
      '/var/lib/x/db.json',
      '--redirect-peer=small',
    ]);
    assert.deepEqual(cmd, {
      kind: 'run',
      config: { socket: '/tmp/x.sock', redirectPeer: 'small', db: '/var/lib/x/db.json', maxPorts: 4, agingSeconds: 10, fdbSize: 16, fdbPortLimit: 8, ringFrames: 128, txRingFrames: 32, spinUs: 0 },
    });
  });

  it('maps the configuration and the hash secret to DatapathOptions', () => {
    const cmd = parseDaemonArgs(['--ring-frames', '128', '--tx-ring-frames', '96', '--aging-time', '20', '--spin-us', '2500', '--fdb-port-limit', '100']);
    assert.equal(cmd.kind, 'run');
    if (cmd.kind !== 'run') return;
    assert.deepEqual(datapathOptions(cmd.config, 0xdeadbeef, 'tc', 7), {
      attach: 'tc',
      redirectPeer: 'auto',
      tcWatchdogFd: 7,
      maxPorts: 24,
      fdbSize: 65536,
      agingMs: 20_000,
      fdbPortLimit: 100,
      hashSecret: 0xdeadbeef,
      rxFrames: 128,
      txFrames: 96,
      spinMs: 2.5,
    });
    const d = parseDaemonArgs([]);
    if (d.kind === 'run') {
      const o = datapathOptions(d.config, 1);
      assert.deepEqual([o.rxFrames, o.txFrames, o.fdbPortLimit], [256, 64, 0]);
    }
  });

  it('--attach tcx|tc: the mode asked for (either form); absent: left to the kernel', () => {
    for (const argv of [['--attach', 'tc'], ['--attach=tc']]) {
      const cmd = parseDaemonArgs(argv);
      assert.equal(cmd.kind === 'run' && cmd.config.attach, 'tc');
    }
    const tcx = parseDaemonArgs(['--attach', 'tcx', '--datapath', 'user']);
    assert.deepEqual(tcx.kind === 'run' && [tcx.config.attach, tcx.config.datapath], ['tcx', 'user']);
    const none = parseDaemonArgs([]);
    assert.equal(none.kind === 'run' && 'attach' in none.config, false);
    assert.equal(datapathOptions(none.kind === 'run' ? none.config : ({} as never), 1).attach, 'tcx');
  });

  it('--redirect-peer all|small|auto|none: the choice, to DatapathOptions; anything else refused in one line', () => {
    for (const v of ['all', 'small', 'auto', 'none'] as const) {
      const cmd = parseDaemonArgs(['--redirect-peer', v]);
      assert.equal(cmd.kind === 'run' && datapathOptions(cmd.config, 1).redirectPeer, v);
    }
    assert.throws(() => parseDaemonArgs(['--redirect-peer', 'some']), /option '--redirect-peer' must be all, small, auto or none, not 'some'/);
    assert.throws(() => parseDaemonArgs(['--redirect-peer']), /option '--redirect-peer' needs all, small, auto or none/);
  });

  it('--redirect-peer with --datapath user is refused in one line (it applies to the kernel datapath only), in either order; with kernel or no --datapath it is taken', () => {
    for (const argv of [
      ['--datapath', 'user', '--redirect-peer', 'none'],
      ['--redirect-peer=all', '--datapath=user'],
    ]) {
      assert.throws(
        () => parseDaemonArgs(argv),
        (e: unknown) => e instanceof UsageError && e.message === "option '--redirect-peer' applies to the kernel datapath only",
        argv.join(' '),
      );
    }
    for (const argv of [['--datapath', 'kernel', '--redirect-peer', 'small'], ['--redirect-peer', 'small']]) {
      const cmd = parseDaemonArgs(argv);
      assert.equal(cmd.kind === 'run' && cmd.config.redirectPeer, 'small', argv.join(' '));
    }
    // --attach is the userspace datapath's too (its claim program): taken.
    const user = parseDaemonArgs(['--datapath', 'user', '--attach', 'tc']);
    assert.deepEqual(user.kind === 'run' && [user.config.datapath, user.config.attach], ['user', 'tc']);
  });

  it('--attach refuses anything but tcx and tc, and a missing value', () => {
    for (const [argv, re] of [
      [['--attach', 'xdp'], /option '--attach' must be tcx or tc, not 'xdp'/],
      [['--attach', 'TC'], /must be tcx or tc, not 'TC'/],
      [['--attach='], /must be tcx or tc, not ''/],
      [['--attach'], /option '--attach' needs tcx or tc/],
    ] as Array<[string[], RegExp]>) {
      assert.throws(() => parseDaemonArgs(argv), (e: unknown) => e instanceof UsageError && re.test(e.message), argv.join(' '));
    }
  });

  it('--cleanup is a command of its own, taking no value', () => {
    assert.deepEqual(parseDaemonArgs(['--cleanup']), { kind: 'cleanup' });
    assert.deepEqual(parseDaemonArgs(['--cleanup', '--socket', '/tmp/x']), { kind: 'cleanup' });
    assert.throws(() => parseDaemonArgs(['--cleanup=yes']), /option '--cleanup' takes no value/);
    assert.deepEqual(parseDaemonArgs(['--cleanup', '--help']), { kind: 'help' });
  });

  it('help and version', () => {
    assert.deepEqual(parseDaemonArgs(['--help']), { kind: 'help' });
    assert.deepEqual(parseDaemonArgs(['-h']), { kind: 'help' });
    assert.deepEqual(parseDaemonArgs(['--version']), { kind: 'version' });
  });

  it('refuses out-of-range, non-numeric, missing and unknown values', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--max-ports', '0'], /'--max-ports' must be between 1 and 1024, not 0/],
      [['--max-ports', '1025'], /between 1 and 1024/],
      [['--aging-time', '9'], /'--aging-time' must be between 10 and 1000000/],
      [['--aging-time', '1000001'], /between 10 and 1000000/],
      [['--fdb-size', '15'], /'--fdb-size' must be between 16 and 16777216/],
      [['--fdb-size', '16777217'], /between 16 and 16777216/],
      [['--ring-frames', '31'], /'--ring-frames' must be between/],
      [['--tx-ring-frames', '16385'], /'--tx-ring-frames' must be between 32 and 16384/],
      [['--spin-us', '1000001'], /'--spin-us' must be between 0 and 1000000/],
      [['--fdb-port-limit', '16777217'], /^option '--fdb-port-limit' must be between 0 and 16777216, not 16777217$/],
      [['--fdb-port-limit', '-5'], /^option '--fdb-port-limit' needs a whole number, not '-5'$/],
      [['--fdb-port-limit=many'], /^option '--fdb-port-limit' needs a whole number, not 'many'$/],
      [['--fdb-port-limit'], /^option '--fdb-port-limit' needs a number$/],
      [['--max-ports', 'ten'], /needs a whole number, not 'ten'/],
      [['--max-ports', '-1'], /needs a whole number/],
      [['--max-ports', '1.5'], /needs a whole number/],
      [['--max-ports'], /'--max-ports' needs a number/],
      [['--socket'], /'--socket' needs a path/],
      [['--db'], /^option '--db' needs a path$/],
      [['--db='], /^option '--db' needs a non-empty path$/],
      [['--frobnicate'], /unknown option '--frobnicate'/],
      [['stray'], /unexpected argument 'stray'/],
    ];
    for (const [argv, pattern] of cases) {
      assert.throws(() => parseDaemonArgs(argv), (e: unknown) => e instanceof UsageError && pattern.test(e.message), argv.join(' '));
    }
  });

  it('the program: a bad option is one line on stderr and exit 2, no stack trace', async () => {
    const r = await run(['--max-ports', 'lots']);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^vswitchd: option '--max-ports' needs a whole number, not 'lots'[^\n]*\n$/);
  });

  it('the program: a bad --fdb-port-limit is one line on stderr and exit 2, no stack trace', async () => {
    const r = await run(['--fdb-port-limit', '1e3']);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^vswitchd: option '--fdb-port-limit' needs a whole number, not '1e3'[^\n]*\n$/);
  });

  it('the program: --redirect-peer with --datapath user is one line on stderr and exit 2, before anything is made (no socket)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vsw-args-'));
    try {
      const socket = join(dir, 'run', 'vswitchd.sock');
      const r = await run(['--socket', socket, '--datapath', 'user', '--redirect-peer', 'small']);
      assert.equal(r.status, 2);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^vswitchd: option '--redirect-peer' applies to the kernel datapath only[^\n]*\n$/);
      assert.deepEqual(await readdir(dir), [], 'nothing made');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the program: --version prints the version and exits 0', async () => {
    const r = await run(['--version']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^vswitchd \d+\.\d+\.\d+\n$/);
  });

  it('the program: refuses to run when not root, exit 1', async () => {
    // As root, run the child as nobody; as anyone else, just run it. nobody may
    // not be able to read the checkout (a clone under /root): it runs a copy.
    const program = process.getuid?.() === 0 ? programCopy() : undefined;
    try {
      const as = program && { uid: NOBODY, main: program.path('dist', 'src', 'daemon', 'main.js'), cwd: program.root };
      const r = await run(['--socket', '/nonexistent/vsw.sock'], as);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /^vswitchd: must be run as root[^\n]*\n$/);
    } finally {
      program?.remove();
    }
  });
});

describe('vswitchd log', () => {
  it('formats a line as "ISO-time vswitchd: message"', () => {
    const when = new Date('2026-11-25T12:00:00.000Z');
    assert.equal(formatLogLine('port veth1-vsw added', when), '2026-11-25T12:00:00.000Z vswitchd: port veth1-vsw added\n');
  });

  it('keeps a multi-line message on one line', () => {
    const lines: string[] = [];
    const log = createLogger({ write: (s: string) => lines.push(s) }, () => new Date(0));
    log('first\nsecond\u0007');
    assert.deepEqual(lines, ['1970-01-01T00:00:00.000Z vswitchd: first | second\\x07\n']);
  });

  it('stops writing once stderr is gone (an error event: EPIPE, its reader died), instead of failing on every line', () => {
    // Before: every later line was written again and failed again (an 'error' event
    // nobody heard is an uncaught exception, whose log line failed in turn); a
    // vswitchd whose stderr reader died went down on it.
    const sink = new EventEmitter() as EventEmitter & { write(s: string): boolean };
    const written: string[] = [];
    sink.write = (s: string) => {
      written.push(s);
      return true;
    };
    const log = createLogger(sink, () => new Date(0));
    log('first');
    sink.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    log('second');
    log('third');
    assert.deepEqual(written, ['1970-01-01T00:00:00.000Z vswitchd: first\n']);
  });
});
