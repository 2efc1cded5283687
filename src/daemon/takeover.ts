// A restart's new vswitchd: its end of the hand-over channel, fd 3, a Unix
// socket pair the old vswitchd made when it started this one (restart.ts).
// One line per message:
//
//   new → old   attach          (userspace datapath) about to open the ports: close yours
//   old → new   go              they are closed
//   new → old   ready           the switch is taken over and the control socket served
//   new → old   refuse WHY      cannot take it over (WHY: one line); exits next
//
// bin/vswitchd sends `refuse` too when the daemon's files cannot be loaded.

import net from 'node:net';
import { closeSync, writeSync } from 'node:fs';
import { oneLine } from '../errors.js';

/** The fd the old vswitchd gives the channel (its stdio[3]). */
export const CHANNEL_FD = 3;

export class TakeoverChannel {
  private socket: net.Socket | null = null;

  constructor(private readonly fd = CHANNEL_FD) {}

  private tell(line: string): void {
    try {
      writeSync(this.fd, `${line}\n`); // a line is small: the socket takes it whole
    } catch {
      // the old vswitchd is gone: nobody to tell
    }
  }

  /** Cannot take the switch over: `why`, for the old vswitchd's log. */
  refuse(why: string): void {
    this.tell(`refuse ${oneLine(why)}`);
  }

  /** Taken over, the socket served: the old vswitchd exits. */
  ready(): void {
    this.tell('ready');
    if (this.socket !== null) this.socket.destroy();
    else closeSync(this.fd);
  }

  /** The userspace datapath: asks the old vswitchd to close its ports; resolves once it has. */
  attach(): Promise<void> {
    const socket = (this.socket ??= new net.Socket({ fd: this.fd, readable: true, writable: false }));
    return new Promise((resolve, reject) => {
      let got = '';
      const onData = (d: Buffer): void => {
        got += d.toString('latin1');
        if (!got.includes('\n')) return;
        done();
        if (got.startsWith('go\n')) resolve();
        else reject(new Error(`the old vswitchd answered ${JSON.stringify(got.trim())}`));
      };
      const onEnd = (): void => {
        done();
        reject(new Error('the old vswitchd went away'));
      };
      const done = (): void => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('error', onEnd);
      };
      socket.on('data', onData);
      socket.on('end', onEnd);
      socket.on('error', onEnd);
      this.tell('attach');
    });
  }
}
