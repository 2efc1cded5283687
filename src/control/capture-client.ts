// The client side of a capture (a streamed reply, server.ts): one request,
// then a frame per part line until the daemon's last line or stop(). No
// timeout: a quiet port sends nothing for as long as it is quiet.

import net from 'node:net';
import { VswError } from '../errors.js';
import { connectError, feedLines } from './client.js';
import { encodeRequest, isErrorCode, LineSplitter, MAX_LINE_BYTES, parseReply } from './protocol.js';
import { type CaptureRequest, PROTOCOL_VERSION, type Request } from './requests.js';
import { type CaptureEnd, captureEndSchema, type CapturedFrame, capturePartSchema } from './results.js';

/** After stop(), how long the daemon's last line is waited for. */
const STOP_WAIT_MS = 2000;

export interface CaptureSession {
  /** The daemon's last line (frames, lost, why it ended); rejects with VswError. */
  readonly done: Promise<CaptureEnd>;
  /**
   * Ends the capture from this side (Ctrl-C): the daemon's last line (with
   * what was lost) is awaited a moment, then `done` resolves with end 'client'.
   */
  stop(): void;
}

export function capture(path: string, args: Omit<CaptureRequest, 'id'>, onFrame: (f: CapturedFrame) => void): CaptureSession {
  const id = 1;
  const req = { v: PROTOCOL_VERSION, id, cmd: 'capture', ...args } as Request;
  const sock = net.createConnection({ path });
  let frames = 0;
  let stop = (): void => {};
  const done = new Promise<CaptureEnd>((resolve, reject) => {
    let settled = false;
    let connected = false;
    const splitter = new LineSplitter(MAX_LINE_BYTES);
    const settle = (err: VswError | null, value?: CaptureEnd): void => {
      if (settled) return;
      settled = true;
      sock.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    stop = () => {
      // Our side closed: the daemon ends the capture and sends its last line.
      sock.end();
      setTimeout(() => settle(null, { frames, lost: 0, end: 'client' }), STOP_WAIT_MS).unref();
    };
    const onLine = (line: Buffer): void => {
      const parsed = parseReply(line.toString('utf8'));
      if (!parsed.ok) return settle(new VswError('EPROTO', `bad reply from vswitchd: ${parsed.message}`));
      const reply = parsed.reply;
      if (!reply.ok) return settle(new VswError(isErrorCode(reply.error.code) ? reply.error.code : 'EINTERNAL', reply.error.message));
      if (reply.part !== undefined) {
        const part = capturePartSchema.safeParse(reply.part);
        if (!part.success) return settle(new VswError('EPROTO', 'bad reply from vswitchd: unexpected part for capture'));
        frames++;
        onFrame(part.data.frame);
        return;
      }
      const end = captureEndSchema.safeParse(reply.result);
      if (!end.success) return settle(new VswError('EPROTO', 'bad reply from vswitchd: unexpected result for capture'));
      settle(null, end.data);
    };
    sock.on('connect', () => {
      connected = true;
      sock.write(encodeRequest(req));
    });
    sock.on('data', (chunk: Buffer) => feedLines(splitter, chunk, onLine, () => settled, settle));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) settle(connectError(err, path));
      else settle(new VswError('ESYSCALL', `connection to vswitchd on ${path} failed: ${err.code ?? err.message}`));
    });
    sock.on('close', () => settle(new VswError('EPROTO', 'vswitchd closed the connection without replying')));
  });
  return { done, stop: () => stop() };
}
