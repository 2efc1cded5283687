// What /proc says about the threads of a process: where each is blocked and
// how many times it has gone to sleep. A thread's state and its count of
// context switches do not depend on how loaded the machine is, unlike the CPU
// time it gets: the tests that say "sleeps" or "keeps polling" read these.

import { readdirSync, readFileSync } from 'node:fs';
import { waitFor } from './lab.js';

export interface ThreadSample {
  /** /proc/…/stat state: R running or runnable, S sleeping, … */
  state: string;
  /** The kernel function it sleeps in ("0" when it runs). */
  wchan: string;
  /** Times it went to sleep (voluntary_ctxt_switches). */
  sleeps: number;
}

export function threadIds(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map(Number);
}

export function threadSample(pid: number, tid: number): ThreadSample {
  const dir = `/proc/${pid}/task/${tid}`;
  const stat = readFileSync(`${dir}/stat`, 'utf8');
  const status = readFileSync(`${dir}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)$`, 'm').exec(status)?.[1] ?? NaN);
  return {
    state: stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3),
    wchan: readFileSync(`${dir}/wchan`, 'utf8'),
    sleeps: field('voluntary_ctxt_switches'),
  };
}

/** Asleep in poll() or ppoll() (epoll waits are ep_poll/do_epoll_wait, which do not match). */
export function inPoll(s: ThreadSample): boolean {
  return s.state === 'S' && /^(?:do_sys_poll|do_sys_ppoll|poll_schedule_timeout)/.test(s.wchan);
}

/**
 * The datapath thread of a running vswitchd: the one thread that sleeps in
 * poll() (node's own threads wait in epoll or on futexes). Waits until it is
 * asleep there.
 */
export async function datapathThread(pid: number, timeoutMs = 10_000): Promise<number> {
  return waitFor(
    `one thread of vswitchd ${pid} asleep in poll()`,
    () => {
      const polling = threadIds(pid).filter((tid) => {
        try {
          return inPoll(threadSample(pid, tid));
        } catch {
          return false; // a thread that just ended
        }
      });
      return polling.length === 1 ? polling[0]! : 0; // 0: not yet (no thread has id 0)
    },
    timeoutMs,
    20,
  );
}
