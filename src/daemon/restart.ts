// `vswconfig restart`: the running vswitchd replaces itself by a new one,
// started from the files on disk as they are now (bin/vswitchd, with this one's
// options and --handover STATE), so that replacing the files and restarting is
// an upgrade. This is the old vswitchd's side; takeover.ts has the channel's
// protocol and main.ts the new one's side.
//
// The old vswitchd stays until the new one is ready:
//  1. the FDB dumped; on the kernel datapath the maps and the ports' tcx links
//     pinned in a private bpffs directory (datapath/bpffs.ts) and the datapath
//     thread stilled (tc filters stay without pins); the configuration, slots
//     and FDB written to the state file (restart-state.ts);
//  2. the port locks given up, --metrics and --web closed, the control socket
//     no longer listened on (the connection that asked keeps its answer);
//  3. the new vswitchd started with the channel as its fd 3. On the userspace
//     datapath it says `attach` when about to open the ports: the old one
//     closes its own then (frames are lost in between; the kernel datapath
//     forwards throughout, by the old program and then the new one);
//  4. `ready`: the new one serves the socket. The old one exits without
//     detaching anything (its tc watchdog told to forget its filters).
// Whatever else happens first — the new one refuses (it says why), exits, or
// is not ready within READY_TIMEOUT_MS (it is killed) — the caller stops as a
// stop would: every port given back. The pins are removed either way, and the
// bpffs unmounted if it was mounted for this.

import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import type net from 'node:net';
import { makePinDir, type PinDir, removePinDir } from '../datapath/bpffs.js';
import type { Datapath } from '../datapath/datapath.js';
import { VswError } from '../errors.js';
import { restartStatePath, type RestartState, writeRestartState } from './restart-state.js';
import type { Switch } from './switch.js';

/** How long the new vswitchd has to take the switch over. */
export const READY_TIMEOUT_MS = 30_000;
/** The hand-over's bpffs directory: PREFIX-PID, PID the old vswitchd's. */
export const PIN_DIR_PREFIX = 'vswitch-restart';

/** Is process `pid` running (a hand-over's old vswitchd)? */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** How long a new vswitchd that refused has to exit before it is killed. */
const EXIT_GRACE_MS = 5_000;
/** The option that makes a vswitchd the new one of a restart (args.ts). */
export const HANDOVER_OPTION = '--handover';

export interface RestartParts {
  /** The daemon's own arguments (without node and the script). */
  argv: readonly string[];
  kind: 'kernel' | 'user';
  sw: Switch;
  datapath: Datapath;
  /** Stop accepting on the control socket, --metrics and --web (the asking connection stays). */
  stopListening(): Promise<void>;
  /** The userspace datapath: close every port (the new vswitchd is about to open them). */
  closePorts(): Promise<void>;
}

/** The arguments of the new vswitchd: ours, without a --handover of our own. */
export function newArgv(argv: readonly string[], statePath: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === HANDOVER_OPTION) i++;
    else if (!argv[i]!.startsWith(`${HANDOVER_OPTION}=`)) out.push(argv[i]!);
  }
  return [...out, HANDOVER_OPTION, statePath];
}

/**
 * Hands the switch over to a new vswitchd; resolves with its pid once it is
 * ready (the caller then exits without detaching), rejects with ERESTART
 * saying why not (the caller then stops as a stop would). `handed` is told
 * the ports as handed over (the tc watchdog forgets them on success).
 */
export async function handOver(p: RestartParts): Promise<{ pid: number; ifindexes: number[] }> {
  const statePath = restartStatePath(process.pid);
  let pins: PinDir | null = null;
  try {
    const fdb = await p.datapath.fdb();
    const state: RestartState = {
      version: 1,
      pid: process.pid,
      datapath: p.kind,
      config: p.sw.config.configuration(),
      slots: Object.fromEntries(p.sw.ports().map((port) => [port.ifname, port.index])),
      fdb: Array.from(fdb),
      pinDir: null,
      qdiscsMade: [],
    };
    let ifindexes = p.sw.ports().map((port) => port.ifindex);
    if (p.kind === 'kernel') {
      pins = makePinDir(`${PIN_DIR_PREFIX}-${process.pid}`);
      const ports = await p.datapath.handOver(pins.path);
      state.pinDir = pins.path;
      state.qdiscsMade = ports.filter((h) => h.qdiscMade).map((h) => h.ifindex);
      ifindexes = ports.map((h) => h.ifindex);
    }
    writeRestartState(statePath, state);
    p.sw.releaseLocks();
    await p.stopListening();
    const pid = await startNew(newArgv(p.argv, statePath), p.kind === 'user' ? p.closePorts : null);
    return { pid, ifindexes };
  } catch (err) {
    if (err instanceof VswError && err.code === 'ERESTART') throw err;
    throw new VswError('ERESTART', `cannot hand the switch over: ${(err as Error)?.message ?? String(err)}`);
  } finally {
    rmSync(statePath, { force: true });
    if (pins !== null) removePinDir(pins);
  }
}

/** Starts the new vswitchd and follows the channel until it is ready (its pid) or is not (ERESTART, it is killed). */
function startNew(args: string[], closePorts: (() => Promise<void>) | null): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...args], {
    stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
    // Its own session: a signal to our process group (a Ctrl-C) is not for it.
    detached: true,
  });
  const channel = child.stdio[3] as net.Socket;
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => fail(`was not ready within ${READY_TIMEOUT_MS / 1000} s (killed)`), READY_TIMEOUT_MS);
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      return true;
    };
    // Rejected once it is gone: its links, filters and sockets closed before the caller gives the ports back.
    const fail = (why: string): void => {
      if (!settle()) return;
      channel.destroy();
      const error = new VswError('ERESTART', `the new vswitchd${child.pid ? ` (pid ${child.pid})` : ''} ${why}`);
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
        reject(error);
        return;
      }
      const kill = setTimeout(() => child.kill('SIGKILL'), EXIT_GRACE_MS);
      child.once('exit', () => {
        clearTimeout(kill);
        reject(error);
      });
      if (why.startsWith('was not ready')) child.kill('SIGKILL');
    };
    let got = '';
    channel.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      for (let nl = got.indexOf('\n'); nl >= 0; nl = got.indexOf('\n')) {
        const line = got.slice(0, nl);
        got = got.slice(nl + 1);
        if (line === 'ready') {
          if (!settle()) return;
          channel.destroy();
          child.unref();
          resolve(child.pid!);
        } else if (line.startsWith('refuse ')) {
          fail(`refused: ${line.slice('refuse '.length)}`);
        } else if (line === 'attach' && closePorts !== null) {
          closePorts().then(
            () => channel.write('go\n'),
            (err: unknown) => fail(`could not have the ports: ${(err as Error)?.message ?? String(err)}`),
          );
        } else {
          fail(`said what it should not: ${JSON.stringify(line)}`);
        }
      }
    });
    channel.on('error', () => undefined); // its exit says it
    child.on('error', (err) => fail(`could not be started: ${err.message}`));
    child.on('exit', (code, signal) => fail(`exited (${signal ?? `status ${code}`}) before it was ready`));
  });
}
