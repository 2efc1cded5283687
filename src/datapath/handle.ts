// The control plane's handle on the datapath worker thread.
//
// A request is posted on a MessageChannel and the worker is woken by a write
// to its eventfd (it is blocked in poll(), not in Node's event loop); the
// reply comes back on parentPort with the same id.

import { EventEmitter } from 'node:events';
import { writeSync } from 'node:fs';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { DatapathTimeoutError, VswError } from '../errors.js';
import { newCaptureBuffer } from './capture-ring.js';
import type { AclTable } from '../core/acl.js';
import type { MirrorTable } from '../core/mirror.js';
import type { Trace, TraceFrame } from '../core/trace.js';
import type { PortVlan } from '../core/vlan.js';
import type { Datapath } from './datapath.js';
import type { FdbDump } from './fdb-dump.js';
import type { DatapathOptions, HandedOverPort, Reply, Request, Stats, ThreadMemory } from './messages.js';
import type { ThreadData } from './thread.js';

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };
type RequestBody = Request extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

const ONE = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]);
const REQUEST_TIMEOUT_MS = 10_000;
/** Requests whose late answer the caller follows (it changed the switch); a query's late answer is dropped. */
const FOLLOWED = new Set<string>(['add', 'delete', 'vlan', 'acl', 'mirrors', 'shutdown', 'handover', 'adopted', 'seedFdb']);

/** Exported for tests, which drive it with a stand-in worker and a short timeout. */
export class WorkerDatapath extends EventEmitter implements Datapath {
  private nextId = 1;
  /** Requests waiting for their answer in time. */
  private readonly pending = new Map<number, Pending>();
  /** Changes that timed out: their late answer settles the error's `late` (until then, or the thread's exit). */
  private readonly following = new Map<number, (ok: boolean) => void>();
  private exited = false;

  constructor(
    private readonly worker: Worker,
    private readonly ctl: MessagePort,
    private readonly eventFd: number,
    private readonly requestTimeoutMs = REQUEST_TIMEOUT_MS,
    readonly captureBuffer: SharedArrayBuffer = newCaptureBuffer(4096),
  ) {
    super();
    worker.on('message', (m: Reply | { event: string }) => {
      if ('event' in m) {
        this.emit(m.event, m);
        return;
      }
      const late = this.following.get(m.id);
      if (late !== undefined) {
        this.following.delete(m.id);
        late(m.ok);
        return;
      }
      const p = this.pending.get(m.id);
      if (p === undefined) return; // a query that timed out: nobody waits for it any more
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new VswError(m.code, m.message));
    });
    // A crash of the datapath thread is reported as 'exit' (below), never as an unhandled 'error'.
    worker.on('error', (err) => this.emit('log', { event: 'log', message: `datapath error: ${err.message}` }));
    worker.on('exit', (code) => {
      this.exited = true;
      for (const p of this.pending.values()) p.reject(new VswError('EINTERNAL', 'the datapath thread has exited'));
      this.pending.clear();
      for (const late of this.following.values()) late(false);
      this.following.clear();
      this.emit('exit', code);
    });
  }

  /** Requests waiting for an answer in time, and timed-out changes whose late answer is followed. */
  get outstanding(): { pending: number; following: number } {
    return { pending: this.pending.size, following: this.following.size };
  }

  private request(body: RequestBody): Promise<unknown> {
    if (this.exited) return Promise.reject(new VswError('EINTERNAL', 'the datapath thread has exited'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // Its entry goes: a wedged worker must not grow this map with every
        // `stats` asked of it. A change may still be carried out: its late
        // answer (or the thread's exit) settles `late`, so that the caller can
        // follow what it did; a query's late answer is dropped.
        this.pending.delete(id);
        const late = FOLLOWED.has(body.op)
          ? new Promise<boolean>((settle) => this.following.set(id, settle))
          : Promise.resolve(false);
        reject(new DatapathTimeoutError(body.op, late));
      }, this.requestTimeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.ctl.postMessage({ ...body, id });
      writeSync(this.eventFd, ONE);
    });
  }

  async addPort(port: number, ifname: string, ifindex: number): Promise<void> {
    await this.request({ op: 'add', port, ifname, ifindex });
  }

  async removePort(port: number): Promise<void> {
    await this.request({ op: 'delete', port });
  }

  async setVlan(port: number, vlan: PortVlan): Promise<void> {
    await this.request({ op: 'vlan', port, vlan });
  }

  async setAcl(table: AclTable): Promise<void> {
    await this.request({ op: 'acl', table });
  }

  async aclHits(): Promise<number[]> {
    return (await this.request({ op: 'aclHits' })) as number[];
  }

  async setMirrors(table: MirrorTable): Promise<void> {
    await this.request({ op: 'mirrors', table });
  }

  async mirrorCopies(): Promise<number[]> {
    return (await this.request({ op: 'mirrorCopies' })) as number[];
  }

  async setCapture(flags: Array<[number, number]>): Promise<void> {
    await this.request({ op: 'capture', flags });
  }

  async trace(frame: TraceFrame): Promise<Trace> {
    return (await this.request({ op: 'trace', frame })) as Trace;
  }

  async fdb(): Promise<FdbDump> {
    return (await this.request({ op: 'fdb' })) as FdbDump;
  }

  async stats(): Promise<Stats> {
    return (await this.request({ op: 'stats' })) as Stats;
  }

  async memory(): Promise<ThreadMemory> {
    return (await this.request({ op: 'memory' })) as ThreadMemory;
  }

  async handOver(dir: string): Promise<HandedOverPort[]> {
    return (await this.request({ op: 'handover', dir })) as HandedOverPort[];
  }

  async adopted(): Promise<void> {
    await this.request({ op: 'adopted' });
  }

  async seedFdb(dump: FdbDump): Promise<void> {
    await this.request({ op: 'seedFdb', dump });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    await this.request({ op: 'shutdown' });
    await exited;
  }
}

/**
 * Start a datapath's thread (`worker`: its module, chosen by the daemon); resolves once it is ready (rings reserved, or the
 * eBPF program loaded), rejects with the reason it could not start.
 */
export async function startDatapath(options: DatapathOptions, worker: URL): Promise<Datapath> {
  const { port1, port2 } = new MessageChannel();
  const capture = newCaptureBuffer();
  const data: ThreadData = { options, ctl: port2, capture };
  // No resourceLimits: vswitchd's --max-semi-space-size=1 (daemon/node-flags.ts)
  // is a V8 flag, process-wide, and holds this thread's young generation too
  // (2 MiB new space). Under it a Worker's maxYoungGenerationSizeMb has no
  // effect at all (2 to 64 MiB: new space 2 MiB each; test/unit/node-memory).
  const thread = new Worker(worker, { workerData: data, transferList: [port2] });
  const eventFd = await new Promise<number>((resolve, reject) => {
    const onMessage = (m: { event?: string; eventFd?: number; message?: string }) => {
      if (m.event === 'ready') {
        cleanup();
        resolve(m.eventFd!);
      } else if (m.event === 'failed') {
        cleanup();
        reject(new VswError('EINTERNAL', `the datapath could not start: ${m.message}`));
      }
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new VswError('EINTERNAL', `the datapath could not start: ${err.message}`));
    };
    const cleanup = () => {
      thread.off('message', onMessage);
      thread.off('error', onError);
    };
    thread.on('message', onMessage);
    thread.on('error', onError);
  });
  return new WorkerDatapath(thread, port1, eventFd, REQUEST_TIMEOUT_MS, capture);
}
