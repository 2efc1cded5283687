// vswconfig's errors against the real daemon: each is one line on stderr that
// starts with "vswconfig: " and names what was wrong, a nonzero exit status,
// no stack trace, and the switch unchanged.

import assert from 'node:assert/strict';
import { chmodSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { addQuietPairs, Lab, promiscuity, run, type RunResult, showPorts, VSWCONFIG } from '../helpers/lab.js';
import { NOBODY, programCopy } from '../helpers/program-copy.js';

const lab = new Lab();
after(async () => {
  await lab.cleanup();
});

/** Ports a, b attached (the limit is 2); c exists and is not attached. */
let a: string;
let b: string;
let c: string;
let shown: string[];

before(async () => {
  [a, b, c] = addQuietPairs(lab, 'c', 3) as [string, string, string];
  await lab.startSwitch(['--max-ports', '2']);
  for (const p of [a, b]) {
    const r = lab.vswconfig('add', p);
    assert.equal(r.code, 0, `add ${p}: ${r.stderr}`);
  }
  shown = showPorts(lab);
  assert.deepEqual(shown, [a, b]);
});

/**
 * The error contract: nonzero exit, nothing on stdout, exactly one stderr line
 * starting "vswconfig: " that contains every `mentions` (string or pattern),
 * no stack trace; and the switch's port list unchanged.
 */
function assertCliError(r: RunResult, ...mentions: (string | RegExp)[]): void {
  const ctx = `stdout ${JSON.stringify(r.stdout)} stderr ${JSON.stringify(r.stderr)}`;
  assert.notEqual(r.code, 0, `exit status 0: ${ctx}`);
  assert.equal(r.stdout, '', `output on stdout: ${ctx}`);
  assert.doesNotMatch(r.stderr, /^ {4}at /m, `stack trace on stderr: ${ctx}`);
  assert.ok(r.stderr.endsWith('\n'), `stderr does not end with a newline: ${ctx}`);
  const lines = r.stderr.split('\n').slice(0, -1);
  assert.equal(lines.length, 1, `expected exactly one stderr line: ${ctx}`);
  const line = lines[0]!;
  assert.ok(line.startsWith('vswconfig: '), `stderr line does not start with 'vswconfig: ': ${ctx}`);
  for (const m of mentions) {
    if (typeof m === 'string') assert.ok(line.includes(m), `stderr line does not name '${m}': ${ctx}`);
    else assert.match(line, m, `stderr line: ${ctx}`);
  }
  assert.deepEqual(showPorts(lab), shown, 'show changed after a failed command');
  assert.equal(promiscuity(lab, c), 0, `${c} became promiscuous`);
  assert.equal(promiscuity(lab, a), 1, `${a} promiscuity changed`);
}

describe('vswconfig errors', () => {
  it('unknown subcommand', () => {
    assertCliError(lab.vswconfig('frobnicate'), 'frobnicate', /subcommand|command/i);
  });

  it('missing interface name for add', () => {
    assertCliError(lab.vswconfig('add'), "'add'", /interface/i);
  });

  it('missing interface name for delete', () => {
    assertCliError(lab.vswconfig('delete'), "'delete'", /interface/i);
  });

  it('extra argument to add', () => {
    assertCliError(lab.vswconfig('add', c, 'surplus'), 'surplus');
  });

  it('extra argument to show', () => {
    assertCliError(lab.vswconfig('show', 'surplus'), 'surplus');
  });

  it('add of an interface that does not exist', () => {
    const name = `${lab.prefix}nosuch`;
    assert.equal(existsSync(`/sys/class/net/${name}`), false);
    assertCliError(lab.vswconfig('add', name), name, /no such|does not exist|not found/i);
  });

  it('a second add of the same interface', () => {
    assertCliError(lab.vswconfig('add', a), a, /already/i);
  });

  it('delete of a port that is not attached', () => {
    assertCliError(lab.vswconfig('delete', c), c, /not (a port|attached)/i);
  });

  it('add when the port limit is reached', () => {
    assertCliError(lab.vswconfig('add', c), /limit/i, /\b2\b/);
  });

  it('no daemon running (the socket path does not exist)', () => {
    const socket = join(lab.dir, 'nobody-here', 'vswitchd.sock');
    assertCliError(run(process.execPath, [VSWCONFIG, '--socket', socket, 'show']), socket, /not running|no socket/i);
  });

  it('no permission on the socket (vswconfig run as an unprivileged user)', () => {
    // The socket itself must keep others out: open the lab directory to them.
    assert.equal(statSync(lab.socket).mode & 0o777, 0o600, 'socket mode');
    // nobody may not be able to read the checkout (a clone under /root): it runs a copy.
    const program = programCopy();
    chmodSync(lab.dir, 0o755);
    try {
      const r = run('setpriv', [
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        '--clear-groups',
        process.execPath,
        program.path('bin', 'vswconfig'),
        '--socket',
        lab.socket,
        'show',
      ]);
      assertCliError(r, lab.socket, /permission/i);
    } finally {
      chmodSync(lab.dir, 0o700);
      program.remove();
    }
  });
});
