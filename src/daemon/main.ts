// vswitchd: the switch daemon. Runs in the foreground, as root.
//
// Starts the datapath worker, serves the control socket, and on SIGTERM or
// SIGINT stops accepting, detaches every port, removes the socket and exits 0.
// An error in the control plane is logged and the daemon keeps running; the
// datapath worker failing is fatal (log, remove the socket, exit 1).

import { oneLine } from '../errors.js';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { MonitorHub } from '../control/monitor.js';
import { ControlServer, probeSocket, switchHandler } from '../control/server.js';
import { Captures } from './capture.js';
import type { Datapath } from '../datapath/datapath.js';
import type { TraceResult } from '../control/results.js';
import { startDatapath } from '../datapath/handle.js';
import type { DatapathOptions } from '../datapath/messages.js';
import { chooseAttachMode, KERNEL_DATAPATH_MIN, kernelHasTcx, kernelRunsDatapath } from '../datapath/bpf.js';
import { KERNEL_WORKER } from '../datapath/kernel/index.js';
import { USER_WORKER } from '../datapath/user/index.js';
import { release } from 'node:os';
import {
  type DatapathKind,
  datapathOptions,
  packageVersion,
  parseDaemonArgs,
  USAGE,
  UsageError,
  type DaemonCommand,
} from './args.js';
import { errorText, log } from './log.js';
import { Db, type DbConfig, DbError } from './db.js';
import { formatAddress } from './http-listener.js';
import { MetricsServer, SwitchMetrics, switchSnapshot } from './metrics.js';
import { PortLocks } from './port-lock.js';
import { loadAssets, WebServer, webSnapshot } from './web.js';
import { Switch } from './switch.js';
import { rtnetlinkKernel, Tunnels } from './tunnels.js';
import { leftoverText, removeLeftoverFilters, startTcWatchdog, type TcWatchdog } from './tc-attach.js';
import { adoptConfig } from './config.js';
import { handOver, PIN_DIR_PREFIX, pidAlive } from './restart.js';
import { removeLeftoverPinDirs } from '../datapath/bpffs.js';
import { readRestartState, type RestartState } from './restart-state.js';
import { TakeoverChannel } from './takeover.js';
import { forgetLine, tellWatchdog } from '../datapath/tc.js';
import type { RestartResult } from '../control/results.js';
import { VswError } from '../errors.js';

const STOP_TIMEOUT_MS = 15_000;

/** A restart's new vswitchd: the channel to the old one (takeover.ts); null otherwise. */
let takeover: TakeoverChannel | null = null;

function die(message: string, status: number): never {
  process.stderr.write(`vswitchd: ${oneLine(message)}\n`);
  takeover?.refuse(message);
  process.exit(status);
}

/** A restart's new vswitchd that cannot take the switch over: one log line, the old one told why (it gives the ports back). */
function refuse(message: string): never {
  log(`cannot take the switch over from the old vswitchd: ${oneLine(message)}`);
  takeover?.refuse(message);
  process.exit(1);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function main(argv: readonly string[]): Promise<void> {
  let cmd: DaemonCommand;
  try {
    cmd = parseDaemonArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) die(`${err.message} (see 'vswitchd --help')`, 2);
    throw err;
  }
  if (cmd.kind === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  if (cmd.kind === 'version') {
    process.stdout.write(`vswitchd ${packageVersion()}\n`);
    return;
  }
  if (process.getuid?.() !== 0) {
    die('must be run as root (AF_PACKET sockets and promiscuous mode need CAP_NET_RAW and CAP_NET_ADMIN)', 1);
  }
  if (cmd.kind === 'cleanup') {
    cleanup();
    return;
  }
  const config = cmd.config;
  let handed: RestartState | null = null;
  if (config.handover !== undefined) {
    takeover = new TakeoverChannel();
    try {
      handed = readRestartState(config.handover);
    } catch (err) {
      die(`--handover: ${errorText(err)}`, 1);
    }
  }
  if (config.attach === 'tcx' && !kernelHasTcx()) {
    die(`--attach tcx: this kernel (${release()}) has no tcx links (Linux 6.6); use --attach tc`, 1);
  }
  const attach = chooseAttachMode(config.attach);

  // The control plane must not die silently: log and carry on.
  process.on('uncaughtException', (err) => log(`uncaught error: ${(err as Error)?.stack ?? errorText(err)}`));
  process.on('unhandledRejection', (err) => log(`unhandled rejection: ${(err as Error)?.stack ?? errorText(err)}`));

  // Fail fast, before starting the datapath, if another daemon answers.
  if (await probeSocket(config.socket)) die(`another vswitchd is already running on ${config.socket}`, 1);

  // The whole saved configuration is checked before anything is changed (a restart's is the old vswitchd's).
  const db = config.db === undefined ? null : new Db(resolve(config.db));
  let saved: DbConfig | null = handed?.config ?? null;
  try {
    if (handed === null) saved = db?.load() ?? null;
  } catch (err) {
    if (err instanceof DbError) die(err.message, 1);
    throw err;
  }

  // Listening before the datapath starts: an address in use stops vswitchd before it touches anything.
  const metrics = config.metrics === undefined ? null : new MetricsServer(log);
  if (metrics !== null) {
    try {
      const at = await metrics.listen(config.metrics!);
      log(`metrics: serving http://${formatAddress(at)}/metrics`);
    } catch (err) {
      die(errorText(err), 1);
    }
  }
  const locks = new PortLocks({ owner: { pid: process.pid, socket: resolve(config.socket) } });
  const stale = locks.sweep();
  if (stale > 0) log(`removed ${stale} stale port lock file(s) left by a daemon that crashed`);
  // A restart's pins left by a vswitchd killed mid-way hold its links: removed (ours only, by name and dead pid).
  if (handed === null) {
    try {
      for (const dir of removeLeftoverPinDirs(PIN_DIR_PREFIX, pidAlive)) log(`removed the pins a restart of a vswitchd that is gone left in ${dir}`);
    } catch (err) {
      log(`cannot look for pins left by an earlier restart: ${errorText(err)}`);
    }
  }
  // tc filters outlive a crashed vswitchd whose watchdog died too: ours only, on no running vswitchd's port
  // (a restart's old vswitchd gave its ports up for this one: its filters are handed over, not left).
  try {
    if (handed === null) for (const l of removeLeftoverFilters(locks)) log(leftoverText(l));
  } catch (err) {
    log(`cannot look for tc filters left by an earlier vswitchd: ${errorText(err)}`);
  }
  const how = config.attach !== undefined ? 'asked for' : attach === 'tcx' ? 'this kernel has tcx links' : `this kernel (${release()}) has no tcx links (Linux 6.6)`;
  let watchdog: TcWatchdog | null = null;
  if (attach === 'tc') watchdog = startTcWatchdog(log);

  let web: WebServer | null = null;
  if (config.web !== undefined) {
    try {
      web = new WebServer(log, loadAssets());
      const at = await web.listen(config.web);
      log(`web: serving http://${formatAddress(at)}/`);
    } catch (err) {
      await metrics?.close();
      die(errorText(err), 1);
    }
  }

  // A new FDB hash secret per process: senders cannot tell which MACs collide.
  const opts = datapathOptions(config, randomBytes(4).readUInt32LE(0), attach, watchdog?.fd ?? -1);
  if (handed?.pinDir != null) opts.adopt = { pinDir: handed.pinDir, qdiscsMade: handed.qdiscsMade };
  const portLimit = opts.fdbPortLimit === 0 ? 'none' : String(opts.fdbPortLimit);
  log(
    `vswitchd ${packageVersion()} starting (max ports ${opts.maxPorts}, fdb size ${opts.fdbSize}, fdb port limit ${portLimit}, ` +
      `aging ${config.agingSeconds} s, ring frames rx ${opts.rxFrames} tx ${opts.txFrames}, spin ${config.spinUs} µs)`,
  );
  log(`attach: ${attach} (${how})${attach === 'tc' ? ': programs are tc clsact filters, removed by a watchdog if vswitchd dies' : ''}`);

  let datapath: Datapath;
  let kind: DatapathKind;
  try {
    ({ datapath, kind } = await chooseDatapath(handed?.datapath ?? config.datapath, opts));
  } catch (err) {
    if (handed !== null) refuse(errorText(err));
    log(`cannot start the datapath: ${errorText(err)}`);
    process.exit(1);
  }
  log(`datapath: ${kind}`);

  let stopping = false;
  let server: ControlServer | undefined;
  let restart: () => Promise<RestartResult> = () => Promise.reject(new VswError('EBUSY', 'vswitchd is starting'));

  const fatal = async (message: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log(`fatal: ${message}`);
    await metrics?.close();
    await web?.close();
    try {
      await server?.close();
    } catch (err) {
      log(`while closing the control socket: ${errorText(err)}`);
    }
    process.exit(1);
  };

  datapath.on('exit', (code: unknown) => void fatal(`the datapath thread exited (code ${String(code)})`));
  datapath.on('error', (err: unknown) => void fatal(`the datapath failed: ${errorText(err)}`));

  const monitor = new MonitorHub({ log });
  const sw = new Switch({ datapath, datapathKind: kind, attachMode: attach, maxPorts: config.maxPorts, log, locks, monitor });
  const tunnels = new Tunnels(sw, rtnetlinkKernel(), log);
  if (handed !== null) {
    try {
      // The userspace datapath opens the ports again: the old vswitchd closes its own first.
      if (kind === 'user') await takeover!.attach();
      await adoptConfig(sw, handed.config, new Map(Object.entries(handed.slots)), tunnels);
      await datapath.seedFdb(Uint32Array.from(handed.fdb));
      await datapath.adopted();
    } catch (err) {
      refuse(errorText(err));
    }
    if (db !== null) sw.config.record(db);
  } else if (db !== null && saved !== null) {
    try {
      await sw.config.restore(saved, db.path, tunnels);
    } catch (err) {
      log(`cannot apply ${db.path}: ${errorText(err)}`);
      process.exit(1);
    }
    sw.config.record(db);
  }
  const captures = new Captures(datapath, sw, log);
  const handler = switchHandler(sw, { tunnels, monitor, captures, restart: () => restart() });
  server = new ControlServer({ path: config.socket, handler, log });
  try {
    await server.start();
  } catch (err) {
    if (handed !== null) refuse(`cannot listen on ${config.socket}: ${errorText(err)}`);
    stopping = true;
    log(`cannot listen on ${config.socket}: ${errorText(err)}`);
    await withTimeout(datapath.stop(), STOP_TIMEOUT_MS, 'stopping the datapath').catch((e: unknown) => log(errorText(e)));
    process.exit(1);
  }
  log(`listening on ${config.socket}`);
  if (handed !== null) {
    takeover!.ready();
    log(`restarted: took the switch over from vswitchd pid ${handed.pid} (${sw.ports().length} ports, ${handed.fdb.length / 4} FDB entries${kind === 'kernel' ? ', its maps and attachments adopted' : ''})`);
  }
  const info = { version: packageVersion(), datapath: kind, attach, fdbSize: opts.fdbSize };
  metrics?.serve(new SwitchMetrics(info), () => server!.exclusive(() => switchSnapshot(sw)));
  web?.serve({
    take: () => server!.exclusive(() => webSnapshot(sw, tunnels, info.version)),
    monitor,
    // The control socket's own handler, in its queue: the trace `vswconfig trace` gets.
    trace: (req) => server!.exclusive(async () => (await handler(req)) as TraceResult),
  });

  /**
   * What a stop does: every port given back, tunnels' devices deleted, the
   * datapath ended; false if something failed (logged). A failed restart
   * passes the tunnels it had (`devices`) and keeps its connections (the
   * asking one gets its answer).
   */
  const stopAll = async (restarting?: { devices: Array<{ name: string; ifindex: number }> }): Promise<boolean> => {
    try {
      // Stop accepting and drop connections (libuv unlinks the socket file as the
      // listener closes; removeSocket below makes sure it is gone).
      captures.close();
      if (restarting) await server!.stopListening();
      else await server!.close(false);
      await metrics?.close();
      await web?.close();
      // Taken first: the registry forgets a tunnel as its port is detached.
      const devices = restarting?.devices ?? tunnels.devices();
      await withTimeout(sw.detachAll(), STOP_TIMEOUT_MS, 'detaching the ports');
      tunnels.removeDevices(devices);
      await withTimeout(datapath.stop(), STOP_TIMEOUT_MS, 'stopping the datapath');
      return true;
    } catch (err) {
      log(`error while shutting down: ${errorText(err)}`);
      return false;
    } finally {
      await server!.removeSocket();
      watchdog?.quiet(); // it reads end-of-file as we exit, with every filter forgotten
    }
  };

  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) {
      log(`${signal} received again: exiting now`);
      await server?.removeSocket();
      process.exit(1);
    }
    stopping = true;
    log(`${signal} received: shutting down`);
    const ok = await stopAll();
    log(ok ? 'stopped' : 'stopped with errors');
    process.exit(ok ? 0 : 1);
  };

  // `vswconfig restart` (restart.ts): run in the control queue, so nothing else is asked meanwhile.
  restart = async (): Promise<RestartResult> => {
    if (stopping) throw new VswError('EBUSY', 'vswitchd is stopping');
    stopping = true;
    log('restart: handing the switch over to a new vswitchd');
    let status = 0;
    const devices = tunnels.devices();
    try {
      const { pid, ifindexes } = await handOver({
        argv,
        kind,
        sw,
        datapath,
        stopListening: async () => {
          captures.close();
          await metrics?.close();
          await web?.close();
          await server!.stopListening();
        },
        closePorts: async () => {
          await withTimeout(sw.detachAll(), STOP_TIMEOUT_MS, 'detaching the ports');
          await withTimeout(datapath.stop(), STOP_TIMEOUT_MS, 'stopping the datapath');
        },
      });
      // The new vswitchd holds every filter now (its own program): ours must not remove them.
      if (watchdog !== null) for (const ifindex of ifindexes) tellWatchdog(watchdog.fd, forgetLine(ifindex));
      watchdog?.quiet();
      // The thread ends (handed over, it detaches nothing): a thread blocked in poll() would hold process.exit.
      if (kind === 'kernel') await withTimeout(datapath.stop(), STOP_TIMEOUT_MS, 'stopping the datapath').catch((e: unknown) => log(errorText(e)));
      log(`restart: vswitchd pid ${pid} has taken the switch over: exiting`);
      return { pid };
    } catch (err) {
      status = 1;
      log(`restart failed: ${errorText(err)}; stopped as a stop would (every port given back)`);
      await stopAll({ devices });
      throw err;
    } finally {
      // Once the answer is on its way (the asking client closes its connection), or after a second.
      void server!.quiet(1000).then(() => process.exit(status));
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGHUP', () => log('SIGHUP ignored (use SIGTERM to stop)'));
}

/** `vswitchd --cleanup`: the tc filters of vswitchds that are gone, removed; one line each. */
function cleanup(): void {
  const locks = new PortLocks({ owner: { pid: process.pid, socket: '' } });
  let removed;
  try {
    removed = removeLeftoverFilters(locks);
  } catch (err) {
    die(`cannot remove the tc filters left by vswitchd: ${errorText(err)}`, 1);
  }
  for (const l of removed) process.stdout.write(`${leftoverText(l)}\n`);
  for (const dir of removeLeftoverPinDirs(PIN_DIR_PREFIX, pidAlive)) process.stdout.write(`removed the pins a restart of a vswitchd that is gone left in ${dir}\n`);
}

/** The thread of each datapath, by the name --datapath takes. */
const WORKERS: Record<DatapathKind, URL> = { user: USER_WORKER, kernel: KERNEL_WORKER };

/**
 * The datapath asked for; without one, the kernel datapath where this kernel
 * allows it, else (saying why) the userspace one.
 */
async function chooseDatapath(
  asked: DatapathKind | undefined,
  opts: DatapathOptions,
): Promise<{ datapath: Datapath; kind: DatapathKind }> {
  if (asked !== undefined) return { datapath: await startDatapath(opts, WORKERS[asked]), kind: asked };
  let why: string;
  if (!kernelRunsDatapath()) {
    why = `this kernel (${release()}) is older than Linux ${KERNEL_DATAPATH_MIN.join('.')} (bpf_loop)`;
  } else {
    try {
      return { datapath: await startDatapath(opts, WORKERS['kernel']), kind: 'kernel' };
    } catch (err) {
      why = errorText(err);
    }
  }
  // An option of the kernel datapath alone, given for it: said, not silently dropped.
  const unused = opts.redirectPeer !== undefined && opts.redirectPeer !== 'auto' ? `; --redirect-peer ${opts.redirectPeer} has no effect there` : '';
  log(`the kernel datapath is not available (${why}): using the userspace datapath${unused}`);
  return { datapath: await startDatapath(opts, WORKERS['user']), kind: 'user' };
}

main(process.argv.slice(2)).catch((err: unknown) => {
  log(`fatal: ${(err as Error)?.stack ?? errorText(err)}`);
  process.exit(1);
});
