// Measure (11), `vswconfig restart` (issue 16): what a restart costs the
// tenants and the operator. NS3 pings NS4 every 10 ms (pinger.ts) while the
// control socket is probed with a connect every 2 ms; vswitchd is asked to
// restart on its socket. Frames lost: pings with no reply, from the second
// before the restart to 2 s after the old vswitchd exited (the kernel
// datapath forwards throughout and should lose none; the userspace one has no
// daemon holding the ports for a moment). The socket's downtime: the longest
// time no connect was accepted, from the old daemon's last answer to the new
// one listening. Also the time `restart` took to answer with the new pid.
//
// Run last in a vswitchd's session: afterwards the switch is the new daemon
// (Vswitchd.restart follows it), which the session then stops.

import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Ctx } from './measures.js';
import { startPinger } from './pinger.js';
import { BenchError, sleep } from './proc.js';
import { PingLog } from './soak-summary.js';
import { Vswitchd } from './switches.js';

const PING_INTERVAL_MS = 10;
/** Pings before the restart (replies flowing) and after the new daemon answered. */
const SETTLE_MS = 1000;
const AFTER_MS = 2000;

export interface RestartResult {
  sent: number;
  lost: number;
  /** the control socket: longest time no connection was accepted, ms */
  socketDownMs: number;
  /** `restart` asked until it answered with the new pid, ms */
  answeredMs: number;
  oldPid: number | null;
  newPid: number;
}

/**
 * The control socket probed every 2 ms: the longest time no connection was
 * accepted (ms), once stop() is called.
 */
export function probeSocket(path: string): { stop: () => Promise<number> } {
  let running = true;
  let longest = 0;
  let downSince: number | null = null;
  const once = (): Promise<boolean> =>
    new Promise((resolve) => {
      const s = net.createConnection(path);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  const loop = (async () => {
    while (running) {
      const t = performance.now();
      const up = await once();
      if (!up && downSince === null) downSince = t;
      if (up && downSince !== null) {
        longest = Math.max(longest, performance.now() - downSince);
        downSince = null;
      }
      await sleep(2);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return longest;
    },
  };
}

export async function restartAcross(ctx: Ctx): Promise<RestartResult> {
  const sw = ctx.sw;
  if (!(sw instanceof Vswitchd)) throw new BenchError('restart: vswitchd only');
  // Not NS1 and NS2: measure (8) leaves their ports in VLAN modes (access 10, a trunk) until the switch stops.
  const [from, to] = [ctx.topo.host(3), ctx.topo.host(4)];
  const log = new PingLog(PING_INTERVAL_MS);
  const pinger = startPinger(ctx.python, from, to, PING_INTERVAL_MS);
  pinger.child.stdout!.on('data', (s: string) => log.feed(s));
  try {
    // replies flowing: the pair's path is up and learned before the restart
    const deadline = Date.now() + 5000;
    while (log.received === 0) {
      if (Date.now() > deadline) throw new BenchError(`restart: ${from.ns} got no reply from ${to.ns} before the restart`);
      await sleep(20);
    }
    await sleep(SETTLE_MS);
    const oldPid = sw.mainPid();
    // Counted from here: a ping lost while the pair's path came up is not the restart's.
    const lostBefore = log.lost;
    const sentBefore = log.received + log.lost;
    const probe = probeSocket(sw.socket);
    let restarted: { pid: number; answeredMs: number };
    try {
      restarted = await sw.restart();
    } catch (err) {
      await probe.stop(); // its loop must not outlive the measure
      throw err;
    }
    const socketDownMs = await probe.stop();
    await sleep(AFTER_MS);
    await pinger.stop('SIGINT', 5000);
    log.finish();
    const sent = (log.transmitted ?? log.received + log.lost) - sentBefore;
    return { sent, lost: log.lost - lostBefore, socketDownMs, answeredMs: restarted.answeredMs, oldPid, newPid: restarted.pid };
  } finally {
    await pinger.stop('SIGKILL', 1000);
  }
}
