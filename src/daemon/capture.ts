// `vswconfig capture`: the captures running, each a stream of the control
// socket (control/stream.ts), as a monitor is. The datapath copies the frames
// asked for into its capture ring (datapath/capture-ring.ts); while any
// capture runs this reads the ring every TICK_MS and writes each frame to the
// streams of the captures that asked for it, its JSON made once for all. A
// capture whose client has QUEUE_FRAMES frames unread loses the next ones
// (counted, told at its end), never slows the switch; one whose client has
// read none of them for STALLED_MS (a stopped `vswconfig capture`) is dropped,
// so that it does not keep the datapath copying for good, as is one past
// BUFFER_BYTES unsent by the streams' rule. The datapath's flags are
// the union of the captures'; when the last capture ends they are all
// cleared and its ring emptied, so nothing of it is left in the datapath.

import { REASON_NAMES } from '../core/reasons.js';
import type { CapturesLike } from '../control/server.js';
import { dropIfOver, type ReplyStream, StreamedReply } from '../control/stream.js';
import { encodeReply, okReply } from '../control/protocol.js';
import type { CaptureRequest } from '../control/requests.js';
import type { CaptureEnd, CapturedFrame as WireFrame } from '../control/results.js';
import {
  CAPTURE_DROPS,
  CAPTURE_IN,
  CAPTURE_KIND_DROP,
  CAPTURE_KIND_IN,
  CAPTURE_OUT,
  CaptureReader,
  type CapturedFrame,
} from '../datapath/capture-ring.js';
import type { Datapath } from '../datapath/datapath.js';
import type { PortNames } from './registry.js';

/** How often the ring is read while a capture runs (ms). */
const TICK_MS = 20;
/** Frames written and not yet read by one capture's client at most; more are lost. */
const QUEUE_FRAMES = 4096;
/** The streams' bound of unsent bytes for a capture: above QUEUE_FRAMES frames of CAPTURE_SNAPLEN as base64 JSON. */
const BUFFER_BYTES = 16 << 20;
/** A capture whose client has left QUEUE_FRAMES frames unread this long is dropped (the control socket's idle timeout). */
export const STALLED_MS = 60_000;

const DIRS = ['in', 'out', 'drop'] as const;

interface Capture {
  readonly id: number;
  /** The port captured, its slot and name (drops of every port: slot -1). */
  readonly slot: number;
  readonly ifname: string | undefined;
  /** CAPTURE_* of that port, and as the request said it. */
  readonly flags: number;
  readonly what: CaptureRequest['what'];
  readonly count: number;
  readonly stream: ReplyStream;
  /** Where each frame's line ends in the stream (ReplyStream.written), of the frames its client may not have read yet. */
  readonly ends: number[];
  /** ends[0 .. head - 1] are read: dropped in one go once there are many (not one shift per frame). */
  head: number;
  sent: number;
  lost: number;
  /** Since when (clock ms) its client has had QUEUE_FRAMES frames unread; -1: not full. */
  fullSince: number;
  end: CaptureEnd['end'] | null;
}

export class Captures implements CapturesLike {
  private readonly reader: CaptureReader;
  private readonly running = new Set<Capture>();
  private timer: NodeJS.Timeout | null = null;
  /** The flags last given to the datapath, as a key, and the port names they were for. */
  private written = '';
  /** The ring's count of lost frames when last read. */
  private ringLost = 0;
  /** Sequential: flag updates reach the datapath in the order they were made. */
  private updates: Promise<void> = Promise.resolve();

  constructor(
    private readonly datapath: Datapath,
    private readonly ports: PortNames,
    private readonly log: (message: string) => void,
    private readonly clock: () => number = Date.now,
  ) {
    this.reader = new CaptureReader(datapath.captureBuffer);
    this.ringLost = this.reader.lost;
  }

  /** Checks the port (throws ENOTATTACHED); the capture begins when its stream opens. */
  open(req: CaptureRequest): StreamedReply {
    const drops = req.what === 'drops';
    const slot = req.ifname === undefined ? -1 : this.ports.slot(req.ifname); // throws ENOTATTACHED
    const flags = drops ? CAPTURE_DROPS : req.what === 'in' ? CAPTURE_IN : req.what === 'out' ? CAPTURE_OUT : CAPTURE_IN | CAPTURE_OUT;
    return new StreamedReply((stream) => {
      const c: Capture = { id: req.id, slot, ifname: req.ifname, flags, what: req.what, count: req.count ?? Infinity, stream, ends: [], head: 0, sent: 0, lost: 0, fullSince: -1, end: null };
      this.running.add(c);
      this.log(`capture ${captureName(c)} started`);
      this.sync();
      if (this.timer === null) this.timer = setInterval(() => this.tick(), TICK_MS);
      stream.onClose(() => this.finish(c, 'client'));
    });
  }

  /** Ends every capture (vswitchd stops). */
  close(): void {
    for (const c of this.running) this.finish(c, 'shutdown');
  }

  /** Ends capture `c` (once): its last line (frames, lost, why) after its frames. */
  private finish(c: Capture, why: CaptureEnd['end']): void {
    if (c.end !== null) return;
    c.end = why;
    this.running.delete(c);
    c.stream.end(encodeReply(okReply(c.id, { frames: c.sent, lost: c.lost, end: c.end } satisfies CaptureEnd)));
    this.log(`capture ${captureName(c)} ended (${c.end}): ${c.sent} frames, ${c.lost} lost`);
    this.sync();
  }

  private tick(): void {
    const names = this.ports.names();
    this.reader.drain((f) => this.deliver(f, names));
    // Frames the datapath found no room for: every running capture may have missed them.
    const lost = this.reader.lost - this.ringLost;
    this.ringLost += lost;
    const now = this.clock();
    for (const c of this.running) {
      c.lost += lost;
      if (c.ifname !== undefined && names[c.slot] !== c.ifname) this.finish(c, 'port-gone');
      else if (unread(c) < QUEUE_FRAMES) c.fullSince = -1;
      else if (c.fullSince < 0) c.fullSince = now;
      else if (now - c.fullSince >= STALLED_MS) this.drop(c, `its client read nothing for ${STALLED_MS / 1000} s`);
    }
    this.sync(names);
  }

  private deliver(f: CapturedFrame, names: (string | undefined)[]): void {
    const ifname = names[f.port];
    if (ifname === undefined) return; // a port gone (its slot may be another's soon)
    // The part's JSON, made once for all captures (each stream adds its envelope).
    let part: string | null = null;
    for (const c of this.running) {
      if (!wants(c, f)) continue;
      if (unread(c) >= QUEUE_FRAMES) {
        c.lost++;
        continue;
      }
      part ??= framePart(f, ifname);
      c.stream.send(part);
      c.ends.push(c.stream.written());
      c.sent++;
      if (dropIfOver(c.stream, BUFFER_BYTES) >= 0) this.drop(c, `it stopped reading (over ${BUFFER_BYTES >> 20} MiB unsent)`);
      else if (c.sent >= c.count) this.finish(c, 'count');
    }
  }

  /** Drops capture `c` (its connection closed, if dropIfOver has not) and ends it at once: no more frames counted for it, its flags go. */
  private drop(c: Capture, why: string): void {
    this.log(`capture ${captureName(c)} dropped: ${why}`);
    c.stream.drop();
    this.finish(c, 'client');
  }

  /** Gives the datapath the union of the captures' flags (only when it changed); none: stops reading. */
  private sync(names = this.ports.names()): void {
    const want = new Map<number, number>();
    for (const c of this.running) {
      if (c.slot >= 0) want.set(c.slot, (want.get(c.slot) ?? 0) | c.flags);
      else names.forEach((n, p) => n !== undefined && want.set(p, (want.get(p) ?? 0) | c.flags));
    }
    const flags = [...want.entries()].filter(([p]) => names[p] !== undefined).sort((a, b) => a[0] - b[0]);
    if (this.running.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
    const key = JSON.stringify(flags);
    if (key === this.written) return;
    this.written = key;
    this.updates = this.updates
      .then(() => this.datapath.setCapture(flags))
      .catch((err: unknown) => this.log(`capture: cannot set the datapath's flags: ${(err as Error).message}`));
  }
}

/** How the log names a capture: "of veth1 (in)", "of drops". */
function captureName(c: Capture): string {
  if (c.what === 'drops') return c.ifname === undefined ? 'of drops' : `of drops on ${c.ifname}`;
  return `of ${c.ifname} (${c.what})`;
}

function wants(c: Capture, f: CapturedFrame): boolean {
  if (f.kind === CAPTURE_KIND_DROP) return (c.flags & CAPTURE_DROPS) !== 0 && (c.slot < 0 || c.slot === f.port);
  return c.slot === f.port && (c.flags & (f.kind === CAPTURE_KIND_IN ? CAPTURE_IN : CAPTURE_OUT)) !== 0;
}

/** Frames of `c` written and not yet read by its client (a line read in part counts). */
function unread(c: Capture): number {
  const taken = c.stream.taken();
  while (c.head < c.ends.length && c.ends[c.head]! <= taken) c.head++;
  if (c.head >= 1024 || c.head === c.ends.length) {
    c.ends.splice(0, c.head);
    c.head = 0;
  }
  return c.ends.length - c.head;
}

/** A frame as a part's JSON: {"frame":{…}}. */
function framePart(f: CapturedFrame, ifname: string): string {
  const frame: WireFrame = {
    time: f.timeMs,
    ifname,
    dir: DIRS[f.kind] ?? 'in',
    len: f.wireLen,
    data: Buffer.from(f.bytes.buffer, f.bytes.byteOffset, f.bytes.length).toString('base64'),
  };
  if (f.kind === CAPTURE_KIND_DROP) {
    frame.reason = REASON_NAMES[f.reason] ?? `reason-${f.reason}`;
    if (f.rule >= 0) frame.rule = f.rule;
  }
  return JSON.stringify({ frame });
}
