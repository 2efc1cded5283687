// Command line of vswitchd.

import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { DEFAULT_SOCKET_PATH } from '../control/protocol.js';
import { ATTACH_MODES, type AttachMode } from '../datapath/bpf.js';
import { type DatapathOptions, REDIRECT_PEER, type RedirectPeer } from '../datapath/messages.js';

export const DEFAULTS = {
  maxPorts: 24,
  agingSeconds: 300,
  fdbSize: 65536,
  fdbPortLimit: 0,
  ringFrames: 256,
  txRingFrames: 64,
  spinUs: 100,
} as const;

export const LIMITS = {
  maxPorts: [1, 1024],
  agingSeconds: [10, 1_000_000],
  fdbSize: [16, 16_777_216],
  fdbPortLimit: [0, 16_777_216],
  /** Each ring frame is a 2 KiB slot: 16384 frames are 32 MiB per port and ring. */
  ringFrames: [32, 16384],
  txRingFrames: [32, 16384],
  spinUs: [0, 1_000_000],
} as const;

export const USAGE = `usage: vswitchd [OPTIONS]

Runs the switch in the foreground (as root) and serves vswconfig on a Unix socket.

options:
  --socket PATH          control socket (default ${DEFAULT_SOCKET_PATH})
  --db PATH              keep the configuration (ports, VLAN modes, ACL) in PATH and apply it at
                         start (default: none, nothing is kept)
  --max-ports N          most ports the switch takes, ${LIMITS.maxPorts[0]}..${LIMITS.maxPorts[1]} (default ${DEFAULTS.maxPorts})
  --aging-time SECONDS   forget a MAC address not seen for this long, ${LIMITS.agingSeconds[0]}..${LIMITS.agingSeconds[1]} (default ${DEFAULTS.agingSeconds})
  --fdb-size N           most MAC addresses remembered, ${LIMITS.fdbSize[0]}..${LIMITS.fdbSize[1]} (default ${DEFAULTS.fdbSize})
  --fdb-port-limit N     most MAC addresses learned on one port, ${LIMITS.fdbPortLimit[0]}..${LIMITS.fdbPortLimit[1]}
                         (default ${DEFAULTS.fdbPortLimit}: no limit)
  --ring-frames N        slots in each port's RX ring, ${LIMITS.ringFrames[0]}..${LIMITS.ringFrames[1]} (default ${DEFAULTS.ringFrames})
  --tx-ring-frames N     slots in each port's TX ring, ${LIMITS.txRingFrames[0]}..${LIMITS.txRingFrames[1]} (default ${DEFAULTS.txRingFrames})
  --spin-us N            after the last frame, keep polling the rings N µs before sleeping,
                         ${LIMITS.spinUs[0]}..${LIMITS.spinUs[1]} (default ${DEFAULTS.spinUs}): more is lower latency for more CPU
                         (userspace datapath)
  --datapath kernel|user where frames are forwarded: in the kernel (eBPF at tc ingress) or in this
                         process (AF_PACKET rings); default kernel where this kernel allows it, else user
  --metrics [ADDR:]PORT  serve Prometheus metrics at http://ADDR:PORT/metrics (ADDR: an IPv4
                         address or [IPv6 address], default 127.0.0.1; PORT 0: any free port, logged)
  --attach tcx|tc        how the programs are attached at each port's tc ingress (both datapaths): a
                         tcx link (Linux 6.6) or a tc clsact cls_bpf filter; default tcx where this
                         kernel has it, else tc
  --redirect-peer all|small|auto|none
                         kernel datapath only: which frames for a veth peer's own MAC in another netns
                         enter it directly (bpf_redirect_peer) instead of through the veth's TX:
                         all, small (not GSO frames), auto (not for a station that took GSO frames
                         in the last second) or none (default auto)
  --cleanup              remove the tc filters a vswitchd that is gone left on this network
                         namespace's interfaces (its own only: priority, handle, program name), then exit
  --handover STATE       (set by 'vswconfig restart') take the switch over from the vswitchd that
                         started this one, as STATE describes, instead of starting afresh
  --web [ADDR:]PORT      serve a live, read-only web page of the switch at http://ADDR:PORT/
                         (ADDR as for --metrics, default 127.0.0.1)
  -h, --help             show this help
  --version              print the version
`;

export type DatapathKind = 'kernel' | 'user';
export const DATAPATHS: readonly DatapathKind[] = ['kernel', 'user'];

/** Where --metrics listens. */
export interface ListenAddress {
  /** An IP address (IPv6 without brackets). */
  host: string;
  /** 0: a free port the kernel picks. */
  port: number;
}

/** The address --metrics takes when given a port alone: the loopback, reached from this host only. */
export const METRICS_DEFAULT_HOST = '127.0.0.1';

export interface DaemonConfig {
  socket: string;
  /** The configuration file (--db); undefined: nothing is kept. */
  db?: string;
  /** undefined: kernel where the kernel allows it, else user. */
  datapath?: DatapathKind;
  /** undefined: tcx where the kernel has it, else tc (bpf.ts chooseAttachMode). */
  attach?: AttachMode;
  /** --redirect-peer (kernel datapath). */
  redirectPeer: RedirectPeer;
  maxPorts: number;
  agingSeconds: number;
  fdbSize: number;
  fdbPortLimit: number;
  ringFrames: number;
  txRingFrames: number;
  spinUs: number;
  /** --metrics: where to serve GET /metrics; undefined: not served. */
  metrics?: ListenAddress;
  /** --web: where to serve the page; undefined: not served. */
  web?: ListenAddress;
  /** --handover: a restart's state file (restart-state.ts); undefined: start afresh. */
  handover?: string;
}

export type DaemonCommand = { kind: 'help' } | { kind: 'version' } | { kind: 'cleanup' } | { kind: 'run'; config: DaemonConfig };

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type NumericOption = 'maxPorts' | 'agingSeconds' | 'fdbSize' | 'fdbPortLimit' | 'ringFrames' | 'txRingFrames' | 'spinUs';

const NUMERIC: Record<string, NumericOption> = {
  '--max-ports': 'maxPorts',
  '--aging-time': 'agingSeconds',
  '--fdb-size': 'fdbSize',
  '--fdb-port-limit': 'fdbPortLimit',
  '--ring-frames': 'ringFrames',
  '--tx-ring-frames': 'txRingFrames',
  '--spin-us': 'spinUs',
};

function parseInteger(option: string, value: string, [min, max]: readonly [number, number]): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`option '${option}' needs a whole number, not '${value}'`);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`option '${option}' must be between ${min} and ${max}, not ${value}`);
  }
  return n;
}

/**
 * `[ADDR:]PORT` of --metrics: a port alone is on the loopback; ADDR is an IPv4
 * address or an IPv6 address in brackets (`[::1]:9100`), never a host name.
 */
export function parseListenAddress(option: string, value: string): ListenAddress {
  const bad = (why: string): UsageError => new UsageError(`option '${option}' needs [ADDR:]PORT (${why}), not '${value}'`);
  let host = METRICS_DEFAULT_HOST;
  let port = value;
  const colon = value.lastIndexOf(':');
  if (colon >= 0) {
    host = value.slice(0, colon);
    port = value.slice(colon + 1);
    if (host.startsWith('[') && host.endsWith(']')) {
      host = host.slice(1, -1);
      if (!isIPv6(host)) throw bad('an IPv6 address goes in brackets');
    } else if (!isIPv4(host)) {
      throw bad('ADDR is an IPv4 address or [IPv6 address]');
    }
  }
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) throw bad('PORT is 0..65535');
  return { host, port: Number(port) };
}

/** Parse argv (without node and script). Throws UsageError with a one-line message. */
export function parseDaemonArgs(argv: readonly string[]): DaemonCommand {
  const config: DaemonConfig = { socket: DEFAULT_SOCKET_PATH, redirectPeer: 'auto', ...DEFAULTS };
  let help = false;
  let version = false;
  let cleanup = false;
  let redirectPeerGiven = false;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    const takeValue = (what: string): string => {
      if (inline !== undefined) return inline;
      const value = argv[i + 1];
      if (value === undefined) throw new UsageError(`option '${name}' needs ${what}`);
      i++;
      return value;
    };

    if (name === '-h' || name === '--help') {
      help = true;
    } else if (name === '--version') {
      version = true;
    } else if (name === '--socket') {
      const value = takeValue('a path');
      if (value === '') throw new UsageError("option '--socket' needs a non-empty path");
      config.socket = value;
    } else if (name === '--db') {
      const value = takeValue('a path');
      if (value === '') throw new UsageError("option '--db' needs a non-empty path");
      config.db = value;
    } else if (name === '--datapath') {
      const value = takeValue('kernel or user');
      if (!(DATAPATHS as readonly string[]).includes(value)) {
        throw new UsageError(`option '--datapath' must be kernel or user, not '${value}'`);
      }
      config.datapath = value as DatapathKind;
    } else if (name === '--metrics') {
      config.metrics = parseListenAddress(name, takeValue('[ADDR:]PORT'));
    } else if (name === '--attach') {
      const value = takeValue('tcx or tc');
      if (!(ATTACH_MODES as readonly string[]).includes(value)) {
        throw new UsageError(`option '--attach' must be tcx or tc, not '${value}'`);
      }
      config.attach = value as AttachMode;
    } else if (name === '--redirect-peer') {
      const value = takeValue('all, small, auto or none');
      if (!(REDIRECT_PEER as readonly string[]).includes(value)) {
        throw new UsageError(`option '--redirect-peer' must be all, small, auto or none, not '${value}'`);
      }
      config.redirectPeer = value as RedirectPeer;
      redirectPeerGiven = true;
    } else if (name === '--cleanup') {
      if (inline !== undefined) throw new UsageError("option '--cleanup' takes no value");
      cleanup = true;
    } else if (name === '--handover') {
      const value = takeValue('a path');
      if (value === '') throw new UsageError("option '--handover' needs a non-empty path");
      config.handover = value;
    } else if (name === '--web') {
      config.web = parseListenAddress(name, takeValue('[ADDR:]PORT'));
    } else if (name in NUMERIC) {
      const key = NUMERIC[name]!;
      config[key] = parseInteger(name, takeValue('a number'), LIMITS[key]);
    } else if (arg.startsWith('-')) {
      throw new UsageError(`unknown option '${name}'`);
    } else {
      throw new UsageError(`unexpected argument '${arg}'`);
    }
  }
  if (help) return { kind: 'help' };
  if (version) return { kind: 'version' };
  if (cleanup) return { kind: 'cleanup' };
  // The userspace datapath has no bpf_redirect_peer: said, not ignored. (--attach
  // is valid there: its claim program is attached the same way.)
  if (redirectPeerGiven && config.datapath === 'user') {
    throw new UsageError("option '--redirect-peer' applies to the kernel datapath only");
  }
  return { kind: 'run', config };
}

/** The package version, from package.json (dist/src/daemon → repo root). */
export function packageVersion(): string {
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'vswitch' && pkg.version) return pkg.version;
    } catch {
      // try the next layout
    }
  }
  return 'unknown';
}

/**
 * DatapathOptions from the configuration and the FDB hash secret (random,
 * drawn by the caller); the attach mode chosen and, in the tc mode, the
 * watchdog's pipe.
 */
export function datapathOptions(c: DaemonConfig, hashSecret: number, attach: AttachMode = 'tcx', tcWatchdogFd = -1): DatapathOptions {
  return {
    attach,
    redirectPeer: c.redirectPeer,
    tcWatchdogFd,
    maxPorts: c.maxPorts,
    fdbSize: c.fdbSize,
    agingMs: c.agingSeconds * 1000,
    fdbPortLimit: c.fdbPortLimit,
    hashSecret,
    rxFrames: c.ringFrames,
    txFrames: c.txRingFrames,
    spinMs: c.spinUs / 1000,
  };
}
