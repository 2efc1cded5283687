// npm run soak -- --minutes N [--datapath kernel|user]: issue 15's soak
// (soak.ts) on a topology of its own, removed at the end; the summary on
// stdout (soak-summary.ts), every figure in bench/results/<timestamp>-soak-<datapath>.json.
// See bench/README.md, "Soak".

import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { BenchError, findPython, need, runEntry } from './proc.js';
import { soak, SOAK_HOSTS, type SoakOptions } from './soak.js';
import { soakSummary } from './soak-summary.js';
import { ROOT } from './switches.js';
import { Topology } from './topology.js';

const USAGE = `usage: npm run soak -- --minutes N [OPTIONS]      (as root)

vswitchd under TCP, 100 pings/s, bursts of new MACs, link flaps and a
configuration change every few seconds for N minutes; prints RSS over time,
pings lost, the worst control-command latency and frames lost by reason, and
writes bench/results/<timestamp>-soak-<datapath>.json.

options:
  --minutes N            how long (0.5 to 1440; decimals allowed)
  --datapath kernel|user vswitchd's datapath (default kernel)
  --warmup-minutes N     RSS samples before this are the warm-up, not judged
                           (default: 6, or half the run if shorter)
  --tcp-bitrate RATE     iperf3's cap, -b (default 1G: the soak is about staying up, not speed)
  --vswitchd-args ARGS   extra vswitchd options, e.g. "--attach tc" (not --datapath)
  -h, --help             show this help
`;

const log = (s: string): void => {
  process.stderr.write(`${s}\n`);
};

function parseArgs(argv: string[]): Omit<SoakOptions, 'python'> | 'help' {
  let minutes: number | undefined;
  let warmup: number | undefined;
  const o = { datapath: 'kernel' as 'kernel' | 'user', tcpBitrate: '1G', vswitchdArgs: [] as string[] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new BenchError(`option '${arg}' needs a value`);
      return v;
    };
    const num = (lo: number, hi: number): number => {
      const v = value();
      if (!/^\d+(\.\d+)?$/.test(v) || Number(v) < lo || Number(v) > hi) throw new BenchError(`${arg} needs a number from ${lo} to ${hi}, not '${v}'`);
      return Number(v);
    };
    switch (arg) {
      case '-h':
      case '--help':
        return 'help';
      case '--minutes':
        minutes = num(0.5, 1440);
        break;
      case '--warmup-minutes':
        warmup = num(0, 1440);
        break;
      case '--datapath': {
        const v = value();
        if (v !== 'kernel' && v !== 'user') throw new BenchError(`--datapath must be kernel or user, not '${v}'`);
        o.datapath = v;
        break;
      }
      case '--tcp-bitrate': {
        const v = value();
        if (!/^\d+(\.\d+)?[KMG]?$/.test(v)) throw new BenchError(`--tcp-bitrate needs an iperf3 rate such as 1G or 500M, not '${v}'`);
        o.tcpBitrate = v;
        break;
      }
      case '--vswitchd-args':
        o.vswitchdArgs = value().split(/\s+/).filter(Boolean);
        if (o.vswitchdArgs.some((a) => a === '--datapath' || a.startsWith('--datapath='))) throw new BenchError('--vswitchd-args: no --datapath (use the soak\'s own --datapath)');
        break;
      default:
        throw new BenchError(`unknown option '${arg}' (see --help)`);
    }
  }
  if (minutes === undefined) throw new BenchError('--minutes N is required (see --help)');
  return { ...o, minutes, warmupMinutes: warmup ?? Math.min(6, minutes / 2) };
}

async function main(): Promise<number> {
  const parsed = parseArgs(process.argv.slice(2));
  if (parsed === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (process.platform !== 'linux') throw new BenchError('needs Linux (network namespaces, AF_PACKET)');
  if (process.getuid?.() !== 0) throw new BenchError('must run as root (it creates network namespaces): sudo npm run soak -- --minutes N');
  need('ip', 'install iproute2 (scripts/setup.sh)');
  need('ping', 'install iputils-ping (scripts/setup.sh)');
  need('iperf3', 'install iperf3 (scripts/setup.sh)');
  const python = findPython('it sends the bursts of new MACs');

  const started = new Date();
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${started.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')}-soak-${parsed.datapath}.json`);
  const header = {
    mode: 'soak',
    startedAt: started.toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '', linux: os.release(), node: process.version },
    note: 'the machine (2 CPUs) was shared with other engineers\' builds, tests and benchmarks during the soak',
  };
  const write = (body: Record<string, unknown>): void => writeFileSync(file, `${JSON.stringify({ ...header, ...body }, null, 1)}\n`);
  const topo = await Topology.create(SOAK_HOSTS, log);
  log(`soak: ${parsed.minutes} min on the ${parsed.datapath} datapath; partial figures in ${file}`);
  const r = await soak(topo, { ...parsed, python }, log, (partial) => write({ options: parsed, partial }));
  write({ ...r });
  process.stdout.write(`\n${soakSummary(r)}`);
  process.stdout.write(`results: ${file}\n`);
  if (r.errors.length > 0) {
    log(`soak: ${r.errors.length} error(s):`);
    for (const e of r.errors) log(`  ${e}`);
  }
  return r.alive && r.errors.length === 0 ? 0 : 1;
}

await runEntry('soak', main);
