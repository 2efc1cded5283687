// Processes and clean-up for the benchmark.
//
// Every process the benchmark starts is spawned in a process group of its own
// (detached), tracked, and killed by group on clean-up: `ip netns exec` execs
// its command (same pid), and trafgen forks its sender into the same group.
// Clean-up is synchronous so that it can run from a signal handler or
// process.on('exit'); it runs its actions last-registered first.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

/** A failure the user sees as one line: `bench: <message>`. */
export class BenchError extends Error {
  override readonly name = 'BenchError';
}

/** A measure this switch has no equivalent of (on this machine): its cell stays empty, not an error. */
export class NotAvailable extends BenchError {}

/**
 * One step of a run: a failure goes to `failed` and a NotAvailable to `na`
 * (the run goes on with the next step); either way it resolves to undefined.
 */
export async function attempt<T>(fn: () => Promise<T>, report: { na: (why: string) => void; failed: (why: string) => void }): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof NotAvailable) report.na(err.message);
    else report.failed((err as Error).message);
    return undefined;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// ---- clean-up registry ----

interface Action {
  name: string;
  fn: () => void;
}

const actions: Action[] = [];
let cleaning = false;

/** Register a synchronous clean-up action; returns a function that unregisters it. */
export function onCleanup(name: string, fn: () => void): () => void {
  const a = { name, fn };
  actions.push(a);
  return () => {
    const i = actions.indexOf(a);
    if (i >= 0) actions.splice(i, 1);
  };
}

/** Run every registered action (last first), each at most once, errors ignored. */
export function cleanupAll(): void {
  if (cleaning) return;
  cleaning = true;
  try {
    // Processes first: one SIGTERM round, a short grace, then SIGKILL.
    const groups = [...live];
    for (const p of groups) p.signal('SIGTERM');
    const deadline = Date.now() + 1500;
    while (groups.some((p) => p.alive) && Date.now() < deadline) sleepSync(50);
    for (const p of groups) if (p.alive) p.signal('SIGKILL');
    while (actions.length > 0) {
      const a = actions.pop()!;
      try {
        a.fn();
      } catch {
        // keep going: the rest must still be removed
      }
    }
  } finally {
    cleaning = false;
  }
}

// ---- processes ----

const live = new Set<Proc>();
let refusing = false;

/**
 * Stop every running child (SIGTERM, then SIGKILL after graceMs) and wait for
 * them, so that none is left behind, not even as a zombie; from now on no new
 * process starts.
 */
export async function stopAll(graceMs = 2000): Promise<void> {
  refusing = true;
  await Promise.all([...live].map((p) => p.stop('SIGTERM', graceMs).catch(() => undefined)));
}

/** Process groups of the benchmark's running children (each leads its own). */
export function ourGroups(): Set<number> {
  const out = new Set<number>();
  for (const p of live) if (p.pid > 0) out.add(p.pid);
  return out;
}

/** True if pid exists and is not a zombie. */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  /** Keep at most this many characters of stdout/stderr (default 1 MiB). */
  keep?: number;
}

/** A tracked child process in its own process group. */
export class Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout = '';
  stderr = '';
  code: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly exited: Promise<void>;
  private done = false;

  constructor(
    readonly name: string,
    cmd: string,
    args: readonly string[],
    opts: StartOptions = {},
  ) {
    if (refusing) throw new BenchError('stopping: no new process');
    const keep = opts.keep ?? 1 << 20;
    this.child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    if (this.child.pid === undefined) {
      // spawn failed synchronously (ENOENT comes as an 'error' event, pid undefined)
      this.pid = -1;
    } else {
      this.pid = this.child.pid;
    }
    this.child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      if (this.stdout.length < keep) this.stdout += s;
    });
    this.child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      if (this.stderr.length < keep) this.stderr += s;
    });
    live.add(this);
    this.exited = new Promise((res) => {
      const finish = (): void => {
        if (this.done) return;
        this.done = true;
        live.delete(this);
        res();
      };
      this.child.on('error', (err: NodeJS.ErrnoException) => {
        this.stderr += `${cmd}: ${err.code === 'ENOENT' ? 'command not found' : err.message}`;
        this.code = 127;
        finish();
      });
      this.child.on('close', (code, sig) => {
        this.code = code;
        this.signalCode = sig;
        finish();
      });
    });
  }

  get alive(): boolean {
    return !this.done && this.pid > 0 && pidAlive(this.pid);
  }

  /** Signal the whole process group (it is ours: the child leads it). */
  signal(sig: NodeJS.Signals): void {
    if (this.done || this.pid <= 0) return;
    try {
      process.kill(-this.pid, sig);
    } catch {
      try {
        process.kill(this.pid, sig);
      } catch {
        // already gone
      }
    }
  }

  /** Send `sig`, wait up to graceMs, then SIGKILL; resolves once it has exited. */
  async stop(sig: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
    if (this.done) return;
    this.signal(sig);
    const t = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
    // the group may outlive its leader (forked children)
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // none left
    }
  }

  /** Wait for exit, killing it after timeoutMs. */
  async wait(timeoutMs: number): Promise<void> {
    let timedOut = false;
    const t = setTimeout(() => {
      timedOut = true;
      this.signal('SIGKILL');
    }, timeoutMs);
    await this.exited;
    clearTimeout(t);
    if (timedOut) throw new BenchError(`${this.name} did not finish within ${Math.round(timeoutMs / 1000)} s`);
  }
}

export function start(name: string, cmd: string, args: readonly string[], opts: StartOptions = {}): Proc {
  return new Proc(name, cmd, args, opts);
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command to completion (tracked, killed after timeoutMs). */
export async function run(cmd: string, args: readonly string[], opts: StartOptions & { timeoutMs?: number } = {}): Promise<RunResult> {
  const p = start(cmd, cmd, args, opts);
  await p.wait(opts.timeoutMs ?? 30_000);
  return { code: p.code, stdout: p.stdout, stderr: p.stderr };
}

/** The last non-empty line of a command's error output. */
export function lastLine(s: string): string {
  const lines = s.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? '';
}

/** Run a command; throws BenchError(`what: <last line of stderr>`) unless it exits 0. */
export async function check(what: string, cmd: string, args: readonly string[], opts: StartOptions & { timeoutMs?: number } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    const why = lastLine(r.stderr) || lastLine(r.stdout) || `exit code ${r.code}`;
    throw new BenchError(`${what}: ${why}`);
  }
  return r.stdout;
}

/** Synchronous command for clean-up (never throws). */
export function runSync(cmd: string, args: readonly string[], timeoutMs = 10_000): number | null {
  try {
    return spawnSync(cmd, args, { stdio: 'ignore', timeout: timeoutMs }).status;
  } catch {
    return null;
  }
}

/** Absolute path of a command on PATH, or null. */
export function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v -- "$1"`, 'sh', cmd], { encoding: 'utf8' });
  const p = (r.stdout ?? '').trim();
  return r.status === 0 && p.startsWith('/') ? p : null;
}

/** A missing command is one line: `<cmd> not found: <hint>`. */
export function need(cmd: string, hint: string): void {
  if (which(cmd) === null) throw new BenchError(`${cmd} not found: ${hint}`);
}

/** python3's path; `why` says what the run needs it for. */
export function findPython(why: string): string {
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : (which('python3') ?? '');
  if (!python) throw new BenchError(`python3 not found: ${why} (apt-get install python3)`);
  return python;
}

// ---- clean-up on every way out: the entry points (main.ts, soak-main.ts) ----

let exiting = false;

/** Stop every child (waiting for them), remove everything, exit. */
async function finish(code: number, message?: string): Promise<never> {
  if (message) process.stderr.write(`${message}\n`);
  if (!exiting) {
    exiting = true;
    await Promise.race([stopAll(2000), sleep(5000)]);
    cleanupAll();
  }
  process.exit(code);
}

/**
 * Run `main` as the program `tool` (`bench`, `soak`) and exit with its status;
 * whatever happens (an error, ^C, SIGTERM, SIGHUP), every child is stopped and
 * everything registered with onCleanup() removed first. A BenchError is one
 * line on stderr, `<tool>: <message>`.
 */
export async function runEntry(tool: string, main: () => Promise<number>): Promise<never> {
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.on(sig, () => {
      if (exiting) {
        // a second signal: no more waiting
        cleanupAll();
        process.exit(code);
      }
      void finish(code, `\n${tool}: ${sig}: stopped; cleaning up`);
    });
  }
  process.on('exit', () => cleanupAll());
  process.on('uncaughtException', (err) => void finish(1, `${tool}: ${err instanceof BenchError ? '' : 'internal error: '}${err.message}`));
  process.on('unhandledRejection', (err) => void finish(1, `${tool}: internal error: ${err instanceof Error ? err.message : String(err)}`));
  try {
    const code = await main();
    return await finish(code);
  } catch (err) {
    if (exiting) await new Promise(() => undefined); // a signal is already cleaning up
    if (err instanceof BenchError) return finish(1, `${tool}: ${err.message}`);
    if (process.env['BENCH_DEBUG']) process.stderr.write(`${(err as Error).stack}\n`);
    return finish(1, `${tool}: internal error: ${(err as Error).message}`);
  }
}
