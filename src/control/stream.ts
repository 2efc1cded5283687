// A request that becomes a long-lived stream to its client: `monitor` (the
// switch's events, monitor.ts) and `capture` (frames, daemon/capture.ts). The
// control server has one way of doing it (server.ts): the handler answers a
// StreamedReply; once the replies before it are written, the server makes the
// connection's ReplyStream and hands it to the reply's `open`, between two
// commands (in the queue of requests). From then on nothing more is read from
// the connection: the daemon writes part lines when it has them, carrying the
// request's id, and perhaps a last line (end), until either side closes.
//
// Backpressure is the same for every stream: lines are written as they come,
// never awaited (a slow client holds up nobody), and a subscriber left with
// more than its bound of unsent bytes is dropped there and then (its
// connection closed) by dropIfOver; its producer counts and logs it. A
// producer may shed its own lines first (a capture loses frames, counted,
// past its queue, and drops a client that has read nothing of it for the
// control socket's idle timeout). A stream is never closed for being idle:
// a monitor may have nothing to say for hours.

import { PROTOCOL_VERSION } from './requests.js';

/** One listener of a stream: a control connection, a web page. */
export interface StreamSubscriber {
  /** Who, for the log line when it is dropped. */
  readonly name: string;
  /** Queue one line (for a ReplyStream: a part's JSON). */
  send(json: string): void;
  /** Bytes queued and not yet taken by the reader. */
  unsent(): number;
  /** Close it: it stopped reading. */
  drop(): void;
  /** Its own bound of unsent bytes (a web page's stream also carries snapshots); default the producer's. */
  readonly bufferBytes?: number;
}

/**
 * The backpressure rule of every stream, after a line was queued: a
 * subscriber with more than its bound (its own, else `bound`) unsent is
 * dropped. Returns the bytes it was dropped with, or -1 if it was not.
 */
export function dropIfOver(sub: StreamSubscriber, bound: number): number {
  const unsent = sub.unsent();
  if (unsent <= (sub.bufferBytes ?? bound)) return -1;
  sub.drop();
  return unsent;
}

/** What a stream is written to: the client's connection (a net.Socket), a fake in tests. */
export interface StreamOutlet {
  write(text: string): boolean;
  readonly writableLength: number;
  readonly destroyed?: boolean;
  destroy(): void;
}

/**
 * A result that becomes a stream (monitor, capture): `open` is given the
 * connection's stream once the replies before it are written, in the queue
 * of requests; it may throw a VswError, answered as the request's error.
 */
export class StreamedReply {
  constructor(readonly open: (stream: ReplyStream) => void) {}
}

/** The server's end of a stream: part lines with the request's id, then perhaps a last line. */
export class ReplyStream implements StreamSubscriber {
  private readonly head: string;
  private sent = 0;
  private ended = false;

  /**
   * `closed` is aborted when the client closes its side or goes (dropped
   * included); `onEnd` is told once, by end().
   */
  constructor(
    readonly id: number,
    readonly name: string,
    private readonly out: StreamOutlet,
    readonly closed: AbortSignal,
    private readonly onEnd: () => void = () => undefined,
  ) {
    // Each line's body is made once for all streams (monitor.ts): only the envelope is per connection.
    this.head = `{"v":${PROTOCOL_VERSION},"id":${id},"ok":true,"part":`;
  }

  /** Run `fn` once the client closes its side or goes (now, if it has). */
  onClose(fn: () => void): void {
    if (this.closed.aborted) fn();
    else this.closed.addEventListener('abort', fn, { once: true });
  }

  /** A part line whose `part` is `json`. */
  send(json: string): void {
    this.write(`${this.head}${json}}\n`);
  }

  /** Bytes written and not yet taken by the client. */
  unsent(): number {
    return this.out.writableLength;
  }

  /** Bytes written so far, the last line's end. */
  written(): number {
    return this.sent;
  }

  /** Bytes the client has taken so far. */
  taken(): number {
    return this.sent - this.out.writableLength;
  }

  drop(): void {
    this.out.destroy();
  }

  /** The stream is over: `last` (a whole reply line, if any) is its last line. */
  end(last: string | null = null): void {
    if (this.ended) return;
    if (last !== null) this.write(last);
    this.ended = true;
    this.onEnd();
  }

  private write(line: string): void {
    if (this.ended || this.out.destroyed === true) return;
    this.sent += Buffer.byteLength(line);
    this.out.write(line);
  }
}
