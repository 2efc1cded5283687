// The machine's thread wake-up cost: the floor under measure (3) for any
// switch that forwards in a thread of its own.
//
// Two processes pass a byte back and forth through pipes, 2 ms apart (the
// pings' interval, so the waiting side has gone idle each time), once with
// both pinned to CPU 0 and once with the echoing side on CPU 1. Each round
// trip is two wake-ups; the median over the rounds is reported. On a VM a
// wake-up across CPUs must first wake the halted vCPU through the hypervisor.
// Python (already needed for measure 5) keeps it free of a compiler; its own
// overhead is in both figures alike.

import { BenchError, run } from './proc.js';

const PROGRAM = `
import os, sys, time
a, b, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
r1, w1 = os.pipe()
r2, w2 = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(w1)
    os.close(r2)
    os.sched_setaffinity(0, {b})
    while True:
        x = os.read(r1, 1)
        if not x:
            os._exit(0)
        os.write(w2, x)
os.close(r1)
os.close(w2)
os.sched_setaffinity(0, {a})
rtts = []
for i in range(n):
    time.sleep(0.002)
    t0 = time.perf_counter_ns()
    os.write(w1, b'x')
    os.read(r2, 1)
    rtts.append(time.perf_counter_ns() - t0)
os.close(w1)
os.waitpid(pid, 0)
rtts.sort()
print(rtts[len(rtts) // 2] / 1000)
`;

export interface WakeupFloor {
  /** Median round trip (two wake-ups), µs, both processes on CPU 0. */
  sameCpuUs: number;
  /** The same with the echoing process on CPU 1. */
  crossCpuUs: number;
}

async function roundTripUs(python: string, a: number, b: number, rounds: number): Promise<number> {
  const r = await run(python, ['-c', PROGRAM, String(a), String(b), String(rounds)], { timeoutMs: 30_000 });
  const us = Number(r.stdout.trim());
  if (r.code !== 0 || !Number.isFinite(us)) throw new BenchError(`wake-up probe failed: ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
  return us;
}

/** Measure the wake-up floor (500 round trips each way). */
export async function wakeupFloor(python: string, rounds = 500): Promise<WakeupFloor> {
  return { sameCpuUs: await roundTripUs(python, 0, 0, rounds), crossCpuUs: await roundTripUs(python, 0, 1, rounds) };
}
