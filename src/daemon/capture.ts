// `vswconfig capture`: the captures running, each a subscriber on the control
// socket (a streamed reply, control/server.ts). The datapath copies the frames
// asked for into its capture ring (datapath/capture-ring.ts); while any
// capture runs this reads the ring every TICK_MS and hands each frame to the
// captures that asked for it, each with a bounded queue: a capture whose
// client does not keep up loses frames (counted, told at its end), never
// slows the switch. The datapath's flags are the union of the captures'; when
// the last capture ends they are all cleared and its ring emptied, so nothing
// of it is left in the datapath.

import { REASON_NAMES } from '../core/reasons.js';
import { StreamedReply, type CapturesLike } from '../control/server.js';
import { encodeReply, okReply, partReply } from '../control/protocol.js';
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
/** Frames queued for one capture's client at most; more are lost. */
const QUEUE_FRAMES = 4096;

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
  readonly queue: string[];
  sent: number;
  lost: number;
  end: CaptureEnd['end'] | null;
  wake: (() => void) | null;
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
  ) {
    this.reader = new CaptureReader(datapath.captureBuffer);
    this.ringLost = this.reader.lost;
  }

  open(req: CaptureRequest, closed: AbortSignal): StreamedReply {
    const drops = req.what === 'drops';
    const slot = req.ifname === undefined ? -1 : this.ports.slot(req.ifname); // throws ENOTATTACHED
    const flags = drops ? CAPTURE_DROPS : req.what === 'in' ? CAPTURE_IN : req.what === 'out' ? CAPTURE_OUT : CAPTURE_IN | CAPTURE_OUT;
    const c: Capture = { id: req.id, slot, ifname: req.ifname, flags, what: req.what, count: req.count ?? Infinity, queue: [], sent: 0, lost: 0, end: null, wake: null };
    this.running.add(c);
    this.log(`capture ${captureName(c)} started`);
    this.sync();
    if (this.timer === null) this.timer = setInterval(() => this.tick(), TICK_MS);
    const onClose = (): void => this.finish(c, 'client');
    closed.addEventListener('abort', onClose);
    return new StreamedReply(this.stream(c, closed, onClose));
  }

  /** Ends every capture (vswitchd stops). */
  close(): void {
    for (const c of this.running) this.finish(c, 'shutdown');
  }

  private async *stream(c: Capture, closed: AbortSignal, onClose: () => void): AsyncGenerator<string> {
    try {
      if (closed.aborted) c.end = 'client';
      for (;;) {
        while (c.queue.length > 0 && c.sent < c.count) {
          const line = c.queue.shift()!;
          c.sent++;
          yield line;
        }
        if (c.sent >= c.count) c.end ??= 'count';
        if (c.end !== null) break;
        await new Promise<void>((resolve) => (c.wake = resolve));
        c.wake = null;
      }
      yield encodeReply(okReply(c.id, { frames: c.sent, lost: c.lost, end: c.end } satisfies CaptureEnd));
    } finally {
      closed.removeEventListener('abort', onClose);
      this.running.delete(c);
      this.log(`capture ${captureName(c)} ended (${c.end ?? 'client'}): ${c.sent} frames, ${c.lost} lost`);
      this.sync();
    }
  }

  private finish(c: Capture, why: CaptureEnd['end']): void {
    c.end ??= why;
    c.wake?.();
  }

  private tick(): void {
    const names = this.ports.names();
    this.reader.drain((f) => this.deliver(f, names));
    // Frames the datapath found no room for: every running capture may have missed them.
    const lost = this.reader.lost - this.ringLost;
    this.ringLost += lost;
    for (const c of this.running) {
      c.lost += lost;
      if (c.ifname !== undefined && names[c.slot] !== c.ifname) this.finish(c, 'port-gone');
      if (c.queue.length > 0) c.wake?.();
    }
    this.sync(names);
  }

  private deliver(f: CapturedFrame, names: (string | undefined)[]): void {
    const ifname = names[f.port];
    if (ifname === undefined) return; // a port gone (its slot may be another's soon)
    // The line carries the capture's request id: built once for all captures of the same id.
    let line: string | null = null;
    let lineId = -1;
    for (const c of this.running) {
      if (!wants(c, f)) continue;
      if (c.queue.length >= QUEUE_FRAMES) {
        c.lost++;
        continue;
      }
      if (line === null || lineId !== c.id) {
        line = frameLine(c.id, f, ifname);
        lineId = c.id;
      }
      c.queue.push(line);
    }
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

function frameLine(id: number, f: CapturedFrame, ifname: string): string {
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
  return encodeReply(partReply(id, { frame }));
}
