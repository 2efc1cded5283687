// `vswconfig monitor`: what changes in the switch, streamed to every client
// that subscribed on the control socket (and to the web page), like
// `bridge monitor`.
//
// Design. Events come from two places. The datapath thread journals what its
// FDB does (core/fdb-journal.ts: a fixed buffer written only when a station
// is learned, moves or leaves, never per frame) and posts it once per turn,
// at most every 100 ms, and before each reply and event so that a port's
// flush comes before its delete's answer (datapath/thread.ts); the daemon
// names the ports (daemon/switch.ts). Ports and configuration changes come
// from the registry as they happen. Both arrive here, in the main thread, as
// MonitorEventBody.
//
// The hub admits each event through a per-kind token bucket (RateLimiter:
// `rate` a second, bursts up to `burst`): beyond it, and for every record the
// thread's journal had no room for, the event is only counted, and once a
// second each kind's count goes out as one `suppressed` event. So under a MAC
// storm the stream is bounded (a few hundred lines a second whatever the
// frame rate) and the main thread's work per learned station is a counter.
// Nothing is made while nobody listens (`listening`).
//
// Each admitted event is serialized once and handed to every subscriber.
// A subscriber is a control connection's stream (stream.ts) or a web page's
// response: its writes are buffered by Node, and a subscriber whose unsent
// bytes pass `bufferBytes` (it stopped reading: a stopped process, a full
// pipe) is dropped there and then by the streams' rule (stream.ts
// dropIfOver), counted and logged; it never holds up the switch or the others.
// The counts (subscribers, dropped, suppressed) are in `stats`.

import type { MonitorEventBody, MonitorEventKind } from './monitor-events.js';
import { dropIfOver, type StreamSubscriber } from './stream.js';

/** Events a second admitted per kind. */
export const MONITOR_RATE = 100;
/** Unsent bytes a subscriber may hold before it is dropped. */
export const MONITOR_BUFFER_BYTES = 64 * 1024;
/** How often the suppressed counts are reported. */
export const SUPPRESSED_INTERVAL_MS = 1000;

/** A per-kind token bucket with an injected clock (ms). */
export class RateLimiter {
  private readonly tokens = new Map<string, number>();
  private readonly last = new Map<string, number>();
  private readonly counted = new Map<string, number>();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly clock: () => number,
  ) {}

  /** Whether one more event of `kind` goes out now; if not, it is counted. */
  admit(kind: string): boolean {
    const now = this.clock();
    const was = this.last.get(kind);
    const tokens = Math.min(this.burst, (this.tokens.get(kind) ?? this.burst) + (was === undefined ? 0 : ((now - was) * this.rate) / 1000));
    this.last.set(kind, now);
    if (tokens >= 1) {
      this.tokens.set(kind, tokens - 1);
      return true;
    }
    this.tokens.set(kind, tokens);
    this.count(kind, 1);
    return false;
  }

  /** Count `n` events of `kind` that were not sent (the journal's overflow). */
  count(kind: string, n: number): void {
    if (n > 0) this.counted.set(kind, (this.counted.get(kind) ?? 0) + n);
  }

  /** The counts since the last call, by kind, and zero again. */
  take(): Array<[string, number]> {
    const out = [...this.counted];
    this.counted.clear();
    return out;
  }
}

/** One listener of the stream: a control connection, a web page. */
export type MonitorSubscriber = StreamSubscriber;

export interface MonitorCounts {
  /** Listening now. */
  subscribers: number;
  /** Dropped because they stopped reading, since start. */
  dropped: number;
  /** Events counted and not sent (over the rate, or not journaled), since start. */
  suppressed: number;
}

export interface MonitorHubOptions {
  log: (message: string) => void;
  rate?: number;
  burst?: number;
  bufferBytes?: number;
  /** Wall clock in ms (Date.now): the events' time and the limiter's. */
  clock?: () => number;
  /** Report suppressed counts every SUPPRESSED_INTERVAL_MS by itself (default); a test calls tick(). */
  timer?: boolean;
}

export class MonitorHub {
  private readonly subscribers = new Set<MonitorSubscriber>();
  private readonly limiter: RateLimiter;
  private readonly log: (message: string) => void;
  private readonly bufferBytes: number;
  private readonly clock: () => number;
  private readonly useTimer: boolean;
  private interval: NodeJS.Timeout | undefined;
  private dropped = 0;
  private suppressedTotal = 0;

  constructor(opts: MonitorHubOptions) {
    this.log = opts.log;
    this.clock = opts.clock ?? Date.now;
    const rate = opts.rate ?? MONITOR_RATE;
    this.limiter = new RateLimiter(rate, opts.burst ?? rate, this.clock);
    this.bufferBytes = opts.bufferBytes ?? MONITOR_BUFFER_BYTES;
    this.useTimer = opts.timer ?? true;
  }

  /** Whether anyone listens: producers make no event otherwise. */
  get listening(): boolean {
    return this.subscribers.size > 0;
  }

  subscribe(sub: MonitorSubscriber): void {
    this.subscribers.add(sub);
    if (this.useTimer && this.interval === undefined) {
      this.interval = setInterval(() => this.tick(), SUPPRESSED_INTERVAL_MS);
      this.interval.unref();
    }
  }

  unsubscribe(sub: MonitorSubscriber): void {
    this.subscribers.delete(sub);
    if (this.subscribers.size === 0 && this.interval !== undefined) {
      clearInterval(this.interval);
      this.interval = undefined;
      this.limiter.take(); // counts nobody will see
    }
  }

  /** One event, to every subscriber, if its kind is within its rate. */
  publish(body: MonitorEventBody): void {
    if (this.admit(body.event)) this.send(body);
  }

  /**
   * Whether an event of `kind` is to be sent now (then send() it); if not,
   * it is counted. For a producer whose event costs something to make.
   */
  admit(kind: MonitorEventKind): boolean {
    if (this.subscribers.size === 0) return false;
    if (this.limiter.admit(kind)) return true;
    this.suppressedTotal++;
    return false;
  }

  /** `n` events of `kind` that were not made (the datapath's journal was full): reported as suppressed. */
  suppressed(kind: MonitorEventKind, n: number): void {
    if (this.subscribers.size === 0 || n <= 0) return;
    this.suppressedTotal += n;
    this.limiter.count(kind, n);
  }

  /** Report what was suppressed since the last tick, one event per kind. */
  tick(): void {
    for (const [kind, count] of this.limiter.take()) this.send({ event: 'suppressed', kind, count });
  }

  counts(): MonitorCounts {
    return { subscribers: this.subscribers.size, dropped: this.dropped, suppressed: this.suppressedTotal };
  }

  /** Send an event admit() let through. */
  send(body: MonitorEventBody): void {
    const json = JSON.stringify({ time: new Date(this.clock()).toISOString(), ...body });
    for (const sub of this.subscribers) {
      sub.send(json);
      const unsent = dropIfOver(sub, this.bufferBytes);
      if (unsent >= 0) {
        this.dropped++;
        this.unsubscribe(sub);
        this.log(`monitor ${sub.name} dropped: it stopped reading (${unsent} bytes unsent); ${this.dropped} dropped so far`);
      }
    }
  }
}
