// Daemon log: one line per event on stderr, with an ISO timestamp:
//   2026-11-25T12:00:00.000Z vswitchd: port veth1-vsw added

import { oneLine } from '../errors.js';

export { oneLine };

export type Logger = (message: string) => void;

export interface LogSink {
  write(chunk: string): unknown;
  /** A stream's 'error' event: the sink is gone for good (EPIPE once its reader died). */
  on?(event: 'error', listener: (err: Error) => void): unknown;
}

export function formatLogLine(message: string, now: Date, name = 'vswitchd'): string {
  return `${now.toISOString()} ${name}: ${oneLine(message)}\n`;
}

/**
 * A logger writing to `sink`. Once the sink fails (stderr is a pipe whose reader
 * died: EPIPE, reported as an 'error' event after the write), it writes nothing
 * more: an unheard 'error' would be an uncaught exception, whose log line would
 * fail again, and the daemon would spin on it.
 */
export function createLogger(sink: LogSink = process.stderr, now: () => Date = () => new Date(), name = 'vswitchd'): Logger {
  let gone = false;
  sink.on?.('error', () => {
    gone = true;
  });
  return (message: string) => {
    if (gone) return;
    try {
      sink.write(formatLogLine(message, now(), name));
    } catch {
      gone = true; // stderr closed: nothing sensible left to do with a log line
    }
  };
}

/** Log to stderr. */
export const log: Logger = createLogger();

/** The message of anything thrown, for a log line. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
