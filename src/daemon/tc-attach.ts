// vswitchd's side of the tc attach mode (src/datapath/tc.ts has the filters):
// the watchdog process that removes its filters if it dies, and the sweep of
// filters a vswitchd that is gone left behind (at start, and `--cleanup`).

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { progNameById } from '../native/libbpf.js';
import * as libc from '../native/libc.js';
import { type Leftover, sweepLeftovers } from '../datapath/tc.js';
import type { Logger } from './log.js';
import type { PortLocks } from './port-lock.js';

const WATCHDOG = fileURLToPath(new URL('./tc-watchdog.js', import.meta.url));

/** A running watchdog: the write end of its pipe, for the datapath threads. */
export interface TcWatchdog {
  fd: number;
  pid: number;
  /** Stop reporting its exit (vswitchd is stopping: the watchdog then ends too). */
  quiet(): void;
}

/**
 * Starts the watchdog (tc-watchdog.ts) on a new pipe: its stdin is the read
 * end; the write end, close-on-exec so that no program vswitchd runs holds it,
 * stays here. The watchdog logs to vswitchd's stderr.
 */
export function startTcWatchdog(log: Logger): TcWatchdog {
  const [readEnd, writeEnd] = libc.pipe2(libc.O_CLOEXEC);
  let child;
  try {
    child = spawn(process.execPath, [WATCHDOG, String(process.pid)], { stdio: [readEnd, 'ignore', 'inherit'] });
  } finally {
    libc.close(readEnd);
  }
  child.unref();
  let reporting = true;
  child.on('error', (err) => log(`cannot start the tc watchdog: ${err.message}: a crash of vswitchd would leave its tc filters until the next start`));
  child.on('exit', (code, signal) => {
    if (reporting) log(`the tc watchdog (pid ${child.pid}) exited (${signal ?? `status ${code}`}): a crash of vswitchd now leaves its tc filters until the next start or 'vswitchd --cleanup'`);
  });
  return {
    fd: writeEnd,
    pid: child.pid ?? -1,
    quiet: () => {
      reporting = false;
    },
  };
}

/**
 * Removes the tc filters of vswitchds that are gone (src/datapath/tc.ts
 * sweepLeftovers): never one on an interface another running vswitchd holds.
 */
export function removeLeftoverFilters(locks: PortLocks): Leftover[] {
  return sweepLeftovers((ifindex) => locks.heldByAnother(ifindex), progNameById);
}

/** One log line per leftover removed. */
export function leftoverText(l: Leftover): string {
  return `removed the tc filter (${l.program}) a vswitchd that is gone left on ${l.ifname}`;
}
