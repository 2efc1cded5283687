// Daemon log: one line per event on stderr, with an ISO timestamp:
//   2026-11-25T12:00:00.000Z vswitchd: port veth1-vsw added

import { oneLine } from '../errors.js';

export { oneLine };

export type Logger = (message: string) => void;

export interface LogSink {
  write(chunk: string): unknown;
}

export function formatLogLine(message: string, now: Date, name = 'vswitchd'): string {
  return `${now.toISOString()} ${name}: ${oneLine(message)}\n`;
}

export function createLogger(sink: LogSink = process.stderr, now: () => Date = () => new Date(), name = 'vswitchd'): Logger {
  return (message: string) => {
    try {
      sink.write(formatLogLine(message, now(), name));
    } catch {
      // stderr gone (closed pipe): nothing sensible left to do with a log line.
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
