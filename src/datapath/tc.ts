// The tc attach mode (kernels without tcx, Linux < 6.6): a program is a cls_bpf
// filter in direct-action mode at the clsact ingress hook of a port, made with
// libbpf's bpf_tc_* calls. Unlike a tcx link such a filter is not owned by a
// file descriptor: it stays after vswitchd dies. So
// - each filter vswitchd makes has its own priority and handle (TC_PRIORITY,
//   TC_HANDLE) and runs one of its programs (OUR_PROGRAMS): that is how it is
//   told from anyone else's filter, which vswitchd never touches;
// - a clsact qdisc is made only where there was none, and deleted with the
//   port only if vswitchd made it and it holds nobody else's filter;
// - each filter made is told to the watchdog (src/daemon/tc-watchdog.ts) over
//   a pipe, which removes it when vswitchd dies without removing it itself;
// - leftovers (a watchdog killed too) are found by sweepLeftovers() at the next
//   start, by `vswitchd --cleanup` and so by Uninstall.sh, and on a port being
//   added (its lock held: no running vswitchd has it) by attachTc().
// The watchdog checks a filter's program id and then deletes by handle and
// priority (the kernel has no compare-and-delete): a new vswitchd that replaced
// the dead one's filter in the microseconds between would lose its filter.

import { readdirSync, readFileSync, writeSync } from 'node:fs';
import { VswError } from '../errors.js';
import { progNameById, tcAttach, tcDetach, tcHookCreate, tcHookDestroy, tcReplace } from '../native/libbpf.js';
import { ifIndexToName } from '../native/libc.js';
import { CLSACT_EGRESS, CLSACT_INGRESS, ingressQdisc, tcFilters } from '../os/tc-netlink.js';

/**
 * The priority (`tc filter … pref`) of vswitchd's filters: low, so that they
 * run before filters at tc's own default priorities (49152 and down) as a tcx
 * program runs before every tc filter, and not 1, which people pick by hand.
 */
export const TC_PRIORITY = 0x1d;
/** The handle of vswitchd's filters: "vsw" and 0xd (`tc filter show` prints handle 0x76737764). */
export const TC_HANDLE = 0x76737764;
/** The programs vswitchd attaches (their names as the kernel keeps them). */
export const OUR_PROGRAMS: readonly string[] = ['vsw_forward', 'vsw_claim'];

/** One filter vswitchd made. */
export interface TcAttachment {
  ifindex: number;
  ifname: string;
  progId: number;
  /** Did vswitchd make the port's clsact qdisc (there was none)? */
  qdiscMade: boolean;
}

/** The watchdog's end of the story, one line per change: `watch IFINDEX HANDLE PRIORITY PROGID QDISC` or `forget IFINDEX`. */
export function watchLine(a: TcAttachment): string {
  return `watch ${a.ifindex} ${TC_HANDLE} ${TC_PRIORITY} ${a.progId} ${a.qdiscMade ? 1 : 0}\n`;
}
export function forgetLine(ifindex: number): string {
  return `forget ${ifindex}\n`;
}

/** Writes to the watchdog's pipe (fd -1: none); a watchdog gone is the main thread's to report. */
export function tellWatchdog(fd: number, line: string): void {
  if (fd < 0) return;
  try {
    writeSync(fd, line); // a line is far below PIPE_BUF: written whole or not at all
  } catch {
    // EPIPE: the watchdog died; the main thread logged it, the next start sweeps
  }
}

/** Our filter at ingress of `ifindex`: its program's id, or 0 if there is none. */
export function ourFilterProgram(ifindex: number): number {
  return tcFilters(ifindex, CLSACT_INGRESS).find((f) => f.priority === TC_PRIORITY && f.handle === TC_HANDLE)?.progId ?? 0;
}

/** Attaches `progFd` at ingress of `ifindex` as our filter; tells the watchdog on `watchdogFd`. */
export function attachTc(progFd: number, ifindex: number, ifname: string, watchdogFd: number): TcAttachment {
  const what = `tc ingress of ${ifname}`;
  const existing = ingressQdisc(ifindex);
  if (existing !== null && existing.kind !== 'clsact') {
    throw new VswError('EBUSY', `${ifname} has an ${existing.kind} qdisc, not clsact: the tc attach mode needs clsact (or use --attach tcx)`);
  }
  // Made only if absent; a race with someone making one counts as theirs.
  const qdiscMade = existing === null && tcHookCreate(ifindex, what);
  // Our filter already there is a dead vswitchd's (the caller holds the port's
  // lock: no running one has it) that its watchdog has not removed yet.
  const left = qdiscMade ? 0 : ourFilterProgram(ifindex);
  if (left !== 0 && OUR_PROGRAMS.includes(progNameById(left) ?? '')) tcDetach(ifindex, TC_HANDLE, TC_PRIORITY, what);
  let progId: number;
  try {
    progId = tcAttach(ifindex, progFd, TC_HANDLE, TC_PRIORITY, what);
  } catch (err) {
    if (qdiscMade) removeQdiscIfEmpty(ifindex, what);
    if ((err as { errno?: number }).errno === 17) {
      throw new VswError('EBUSY', `${ifname} already has a tc ingress filter with priority ${TC_PRIORITY} and handle 0x${TC_HANDLE.toString(16)} (not vswitchd's): left as it is`);
    }
    throw err;
  }
  const a = { ifindex, ifname, progId, qdiscMade };
  tellWatchdog(watchdogFd, watchLine(a));
  return a;
}

/**
 * A restart's new vswitchd: our filter at ingress of `ifindex`, made by the
 * old one and running `program`, switched to `progFd` in one change (the
 * filter is replaced, never removed); told to this vswitchd's watchdog.
 * `qdiscMade`: the old one made the clsact qdisc.
 */
export function adoptTc(progFd: number, ifindex: number, ifname: string, program: string, qdiscMade: boolean, watchdogFd: number): TcAttachment {
  const id = ourFilterProgram(ifindex);
  const running = id === 0 ? null : progNameById(id);
  if (running !== program) {
    throw new VswError('EADOPT', `no tc filter of vswitchd running ${program} was handed over on ${ifname}`);
  }
  const progId = tcReplace(ifindex, progFd, TC_HANDLE, TC_PRIORITY, `tc ingress of ${ifname}`);
  const a = { ifindex, ifname, progId, qdiscMade };
  tellWatchdog(watchdogFd, watchLine(a));
  return a;
}

/**
 * Removes exactly the filter attachTc() made (if it is still there with our
 * program), then the qdisc if we made it and nobody else's filter is on it.
 * An interface that is gone took both with it.
 */
export function detachTc(a: TcAttachment, watchdogFd: number): void {
  try {
    if (ourFilterProgram(a.ifindex) === a.progId) tcDetach(a.ifindex, TC_HANDLE, TC_PRIORITY, `tc ingress of ${a.ifname}`);
    if (a.qdiscMade) removeQdiscIfEmpty(a.ifindex, a.ifname);
  } catch (err) {
    if (ifIndexToName(a.ifindex) !== null) throw err;
  } finally {
    tellWatchdog(watchdogFd, forgetLine(a.ifindex));
  }
}

/** Deletes the clsact qdisc of `ifindex` if no filter is left on either hook; true if deleted. */
export function removeQdiscIfEmpty(ifindex: number, what: string): boolean {
  if (ingressQdisc(ifindex)?.kind !== 'clsact') return false;
  if (tcFilters(ifindex, CLSACT_INGRESS).length > 0 || tcFilters(ifindex, CLSACT_EGRESS).length > 0) return false;
  tcHookDestroy(ifindex, what);
  return true;
}

/** A leftover filter removed: where, and which program it ran. */
export interface Leftover {
  ifname: string;
  ifindex: number;
  program: string;
}

/**
 * Removes vswitchd's filters left in this network namespace by a vswitchd that
 * is gone: at our priority and handle, running one of OUR_PROGRAMS, on an
 * interface no running vswitchd holds (`heldByAnother`, its port locks).
 * Anyone else's filter is never touched. The clsact qdisc stays: whether
 * vswitchd made it is not known any more.
 */
export function sweepLeftovers(heldByAnother: (ifindex: number) => boolean, progName: (id: number) => string | null): Leftover[] {
  const removed: Leftover[] = [];
  for (const ifname of readdirSync('/sys/class/net')) {
    let ifindex: number;
    try {
      ifindex = Number(readFileSync(`/sys/class/net/${ifname}/ifindex`, 'utf8').trim());
    } catch {
      continue; // gone meanwhile
    }
    const id = ourFilterProgram(ifindex);
    if (id === 0) continue;
    const program = progName(id);
    if (program === null || !OUR_PROGRAMS.includes(program) || heldByAnother(ifindex)) continue;
    if (tcDetach(ifindex, TC_HANDLE, TC_PRIORITY, `tc ingress of ${ifname}`)) removed.push({ ifname, ifindex, program });
  }
  return removed;
}
