// The tc watchdog: a small process vswitchd starts in the tc attach mode, which
// outlives it only to remove the filters it made. A tc filter, unlike a tcx
// link, stays when its owner dies; this process is what makes a kill -9 of
// vswitchd leave nothing attached on tc too.
//
// Its stdin is the read end of a pipe whose only write end vswitchd holds
// (O_CLOEXEC: no other program inherits it). vswitchd writes one line per
// filter it makes or removes (src/datapath/tc.ts: `watch IFINDEX HANDLE
// PRIORITY PROGID QDISC`, `forget IFINDEX`). When vswitchd dies, however it
// dies, the kernel closes the write end and the watchdog reads end-of-file:
// it then removes each filter still watched — only if the filter at that
// handle and priority still runs that program id — and the clsact qdisc if
// vswitchd made it and no other filter is on it; then it exits. After a clean
// stop every filter was forgotten, and it exits with nothing to do. It ignores
// SIGINT, SIGTERM and SIGHUP (a Ctrl-C reaches the whole process group): its
// end is the end of the pipe.
//
//   node tc-watchdog.js VSWITCHD_PID    (stdin: the pipe)

import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorText, log } from './log.js';

interface Watched {
  handle: number;
  priority: number;
  progId: number;
  qdiscMade: boolean;
}

/** Applies one line of vswitchd's to `watched` (by ifindex); false if it is no line of the protocol. */
export function applyLine(watched: Map<number, Watched>, line: string): boolean {
  const w = line.split(' ');
  const n = w.slice(1).map(Number);
  if (n.some((x) => !Number.isSafeInteger(x) || x < 0)) return false;
  if (w[0] === 'watch' && n.length === 5) {
    watched.set(n[0]!, { handle: n[1]!, priority: n[2]!, progId: n[3]!, qdiscMade: n[4] === 1 });
    return true;
  }
  if (w[0] === 'forget' && n.length === 1) {
    watched.delete(n[0]!);
    return true;
  }
  return false;
}

async function removeAll(pid: string, watched: Map<number, Watched>): Promise<void> {
  if (watched.size === 0) return;
  // Loaded only now: while it waits the watchdog is a bare node process (koffi and libbpf cost ~10 MB).
  const { tcDetach } = await import('../native/libbpf.js');
  const { ifIndexToName } = await import('../native/libc.js');
  const { ourFilterProgram, removeQdiscIfEmpty, TC_HANDLE, TC_PRIORITY } = await import('../datapath/tc.js');
  for (const [ifindex, f] of watched) {
    const name = ifIndexToName(ifindex);
    if (name === null) continue; // the interface is gone, and its filters with it
    try {
      // Only ours, as made: the handle and priority vswitchd uses, running the program it attached.
      if (f.handle !== TC_HANDLE || f.priority !== TC_PRIORITY || ourFilterProgram(ifindex) !== f.progId) continue;
      tcDetach(ifindex, f.handle, f.priority, `tc ingress of ${name}`);
      const qdisc = f.qdiscMade && removeQdiscIfEmpty(ifindex, name) ? ' and the clsact qdisc it made' : '';
      log(`tc watchdog: vswitchd (pid ${pid}) is gone: removed its tc filter on ${name}${qdisc}`);
    } catch (err) {
      log(`tc watchdog: cannot remove vswitchd's tc filter on ${name}: ${errorText(err)}`);
    }
  }
}

function main(): void {
  const pid = process.argv[2] ?? '?';
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, () => {});
  const watched = new Map<number, Watched>();
  let tail = '';
  process.stdin.setEncoding('latin1');
  process.stdin.on('data', (chunk: string) => {
    const lines = (tail + chunk).split('\n');
    tail = lines.pop() ?? '';
    for (const line of lines) if (!applyLine(watched, line)) log(`tc watchdog: ignored a line it does not know: ${JSON.stringify(line)}`);
  });
  const end = (status: number): void => {
    removeAll(pid, watched).then(
      () => process.exit(status),
      (err: unknown) => {
        log(`tc watchdog: ${errorText(err)}`);
        process.exit(1);
      },
    );
  };
  process.stdin.on('end', () => end(0));
  process.stdin.on('error', () => end(1));
}

// Run as a program, not when a test imports applyLine().
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) main();
