// npm run bench -- --hosts: TCP and 64-byte frames between tenants on two
// hosts (hosts.ts), a switch on each joined by VXLAN (host-pair.ts): each
// vswitchd datapath against itself and against the Linux bridge, and bridge
// against bridge, over the plain underlay and over WireGuard, in rounds
// (every combination once per round). See bench/README.md, "Hosts mode".

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { SwitchPair, VNI } from './host-pair.js';
import { TwoHosts } from './hosts.js';
import { cpuSplitText, type Durations, fmtRate, others, type PairCtx, startIperfServer, tcp, unicast64 } from './measures.js';
import { attempt, onCleanup, sleep } from './proc.js';
import { HOST_UNDERLAYS, hostPairs, type HostSwitchName, hostsKey, hostsTable, pairLabel } from './report.js';
import { ETHERTYPE, FRAME_BYTES } from './trafgen.js';

export interface HostsModeOptions {
  /** the switches a host may run; pairs are made of them (hostPairs) */
  switches: HostSwitchName[];
  rounds: number;
  dur: Durations;
  vswitchdArgs: string[];
  nodeArgs: string[];
  resultsFile: string;
  /** what the results file says of the run besides the samples (options, machine) */
  header: Record<string, unknown>;
  log: (s: string) => void;
}

/** Runs the rounds and writes the results file after each combination; resolves to the table and the failures. */
export async function runHostsMode(o: HostsModeOptions): Promise<{ table: string; errors: string[] }> {
  const pairs = hostPairs(o.switches);
  const samples: Record<string, Record<string, number[]>> = {};
  const add = (key: string, pair: string, v: number): void => {
    if (Number.isFinite(v)) ((samples[key] ??= {})[pair] ??= []).push(v);
  };
  const errors: string[] = [];
  const rounds: Array<{ round: number; sessions: unknown[] }> = [];
  const results: Record<string, unknown> = {
    ...o.header,
    mode: 'hosts',
    complete: false,
    settings: {
      durations: o.dur,
      frame: `${FRAME_BYTES} bytes + FCS = 64 on the wire, ethertype 0x${ETHERTYPE.toString(16)}`,
      sender: 'trafgen --cpus 1 (one sender on CPU 0), qdisc bypass, in tenant A to tenant B\'s MAC',
      tcp: 'iperf3 -c tenant B -P 1, from tenant A',
      tunnel: `VXLAN VNI ${VNI}, dstport 4789; MTU 1450 plain, 1390 over WireGuard (wireguard-go, interface MTU 1440)`,
      vswitchd: `bin/vswitchd --datapath kernel|user ${o.vswitchdArgs.join(' ')}, tenant port added, tunnel-add with local and remote`.trim(),
      bridge: 'ip link add type bridge stp_state 0 forward_delay 0 ageing_time 30000 nf_call_* 0, a vxlan device (id, local, dev, dstport 4789, fdb append 00:00:00:00:00:00 dst remote)',
    },
    pairs: pairs.map(pairLabel),
    rounds,
    samples,
    errors,
  };
  const save = (): void => writeFileSync(o.resultsFile, JSON.stringify(results, null, 1) + '\n');

  const work = mkdtempSync(join(os.tmpdir(), 'vswbench-hosts-'));
  onCleanup(`work dir ${work}`, () => rmSync(work, { recursive: true, force: true }));
  const hosts = await TwoHosts.create(work, o.log);
  results['prefix'] = hosts.prefix;
  await startIperfServer(hosts.b.tenant);

  const t0 = Date.now();
  for (let round = 1; round <= o.rounds; round++) {
    const roundRec = { round, sessions: [] as unknown[] };
    rounds.push(roundRec);
    for (const underlay of HOST_UNDERLAYS) {
      const mtu = hosts.endpoint(hosts.a, underlay).mtu;
      await hosts.tenantMtu(mtu);
      for (const pair of pairs) {
        const label = pairLabel(pair);
        const tag = `[round ${round}/${o.rounds} ${underlay} ${label}]`;
        const details: Record<string, unknown> = {};
        const sessionErrors: string[] = [];
        roundRec.sessions.push({ underlay, pair: label, tenantMtu: mtu, startedAt: new Date().toISOString(), details, errors: sessionErrors });
        const step = <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> =>
          attempt(fn, {
            na: (why) => o.log(`${tag} ${what}: n/a (${why})`),
            failed: (why) => {
              const msg = `${underlay} ${label}, round ${round}, ${what}: ${why}`;
              o.log(`${tag} ${what}: FAILED: ${why}`);
              sessionErrors.push(msg);
              errors.push(msg);
            },
          });
        o.log(`${tag} starting`);
        const sw = new SwitchPair(hosts, pair, underlay, { args: o.vswitchdArgs, nodeArgs: o.nodeArgs });
        const ctx: PairCtx = { topo: hosts, sw, dur: o.dur, dir: work };
        if (await step('start', async () => (await sw.start(), true))) {
          await step('TCP', async () => {
            const r = await tcp(ctx, 1);
            details['tcp'] = r;
            add(hostsKey(underlay, 'tcp'), label, r.gbps);
            o.log(`${tag} TCP: ${r.gbps.toFixed(2)} Gbit/s, ${r.retransmits} retransmits`);
          });
          await step('64-byte frames', async () => {
            const w = await unicast64(ctx);
            details['unicast64'] = w;
            add(hostsKey(underlay, 'u64'), label, w.rxRate);
            o.log(`${tag} 64 B: received ${fmtRate(w.rxRate)}, sent ${fmtRate(w.sentRate)}, loss ${(w.loss * 100).toFixed(1)} % [${cpuSplitText(w.cpuSplit)}]${others(w.otherCpuS, w.seconds)}`);
          });
        }
        await step('stop', () => sw.stop());
        save();
        await sleep(500);
      }
    }
  }
  const table = hostsTable({ pairs: pairs.map(pairLabel), samples });
  Object.assign(results, { complete: true, finishedAt: new Date().toISOString(), seconds: (Date.now() - t0) / 1000, table });
  save();
  return { table, errors };
}
