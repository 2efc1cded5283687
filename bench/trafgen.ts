// trafgen (netsniff-ng): 64-byte frames from one host.
//
// Frames are 60 bytes on the wire before the FCS (64 with it): destination,
// source, ethertype 0x88B5 (IEEE 802 "local experimental"), 46 zero bytes.
// An experimental ethertype rather than IPv4 so that the receiving hosts drop
// each frame as soon as it arrives (no protocol handler) instead of running it
// through their IP stack: on a 2-core machine that work would compete with the
// switch for the same CPUs and blur what is measured. Counting is at the
// receiving host's interface (rx_packets), which happens before the drop.
//
// The sender is one trafgen process (--cpus 1: one sender, pinned by trafgen
// to CPU 0), so that the switch has the other core and runs are comparable.

import { writeFileSync } from 'node:fs';
import { BenchError, check, lastLine, pidAlive, type Proc, runSync, sleep, start } from './proc.js';
import { allProcesses } from './stats.js';
import type { Host } from './topology.js';

export const ETHERTYPE = 0x88b5;
export const FRAME_BYTES = 60;

function macBytes(mac: string): string {
  return mac
    .split(':')
    .map((b) => `0x${b}`)
    .join(', ');
}

/** trafgen configuration for one frame dst <- src; with `vid`, under an 802.1Q tag (still 60 bytes). */
export function frameConfig(dstMac: string, srcMac: string, vid?: number): string {
  const tag = vid === undefined ? '' : `0x81, 0x00, 0x${(vid >> 8).toString(16)}, 0x${(vid & 0xff).toString(16)}, `;
  return `{ ${macBytes(dstMac)}, ${macBytes(srcMac)}, ${tag}0x88, 0xb5, fill(0x00, ${FRAME_BYTES - 14 - (vid === undefined ? 0 : 4)}) }\n`;
}

export const BROADCAST = 'ff:ff:ff:ff:ff:ff';

export interface TrafgenOptions {
  /** Rate limit, frames per second (trafgen --rate Npps); full speed if absent. */
  ratePps?: number;
  /** The CPU its sender runs on (trafgen pins it to CPU 0, moved here once it runs); CPU 0 if absent. */
  cpu?: number;
}

export class Trafgen {
  readonly proc: Proc;

  private constructor(proc: Proc) {
    this.proc = proc;
  }

  /** Start sending from `from` with the frame in confPath. */
  static async start(from: Host, confPath: string, config: string, opts: TrafgenOptions = {}): Promise<Trafgen> {
    writeFileSync(confPath, config);
    const args = ['netns', 'exec', from.ns, 'trafgen', '--dev', from.ifname, '--conf', confPath, '--cpus', '1', '--no-sock-mem', '--notouch-irq'];
    if (opts.ratePps !== undefined) args.push('--rate', `${Math.max(1, Math.round(opts.ratePps))}pps`);
    const t = new Trafgen(start('trafgen', 'ip', args));
    // Started once it says so; an error (bad device, bad config) ends it at once.
    const deadline = Date.now() + 5000;
    while (!/Running!/.test(t.proc.stdout + t.proc.stderr)) {
      if (t.proc.code !== null) throw new BenchError(`trafgen failed: ${lastLine(t.proc.stderr) || lastLine(t.proc.stdout) || `exit code ${t.proc.code}`}`);
      if (Date.now() > deadline) {
        await t.stop();
        throw new BenchError('trafgen did not start within 5 s');
      }
      await sleep(20);
    }
    if (opts.cpu !== undefined && opts.cpu !== 0) {
      // every process of its group (ip netns exec, trafgen and the sender it forked), each thread
      for (const [pid, p] of allProcesses()) {
        if (p.pgrp === t.proc.pid && runSync('taskset', ['-a', '-p', '-c', String(opts.cpu), String(pid)]) !== 0 && pidAlive(pid)) {
          await t.stop(); // not left sending into the windows that follow
          throw new BenchError(`taskset could not move trafgen (pid ${pid}) to CPU ${opts.cpu}`);
        }
      }
    }
    return t;
  }

  /** Send `count` frames and wait until trafgen is done (to teach the switch a MAC, say). */
  static async send(from: Host, confPath: string, config: string, count: number): Promise<void> {
    writeFileSync(confPath, config);
    await check(`trafgen --num ${count} from ${from.ns}`, 'ip', ['netns', 'exec', from.ns, 'trafgen', '--dev', from.ifname, '--conf', confPath, '--cpus', '1', '--num', String(count), '--no-sock-mem', '--notouch-irq'], { timeoutMs: 10_000 });
  }

  get running(): boolean {
    return this.proc.code === null;
  }

  /** Its last words, once it has exited. */
  why(): string {
    return lastLine(this.proc.stderr) || lastLine(this.proc.stdout) || `exit code ${this.proc.code}`;
  }

  /** Stop with SIGINT (as ^C) and return what trafgen says it sent (NaN if unknown). */
  async stop(): Promise<number> {
    await this.proc.stop('SIGINT', 3000);
    const m = /(\d+)\s+packets outgoing/.exec(this.proc.stdout + this.proc.stderr);
    return m ? Number(m[1]) : NaN;
  }
}
