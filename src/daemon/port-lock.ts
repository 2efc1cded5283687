// One lock per interface the switch uses as a port, so that two vswitchd never
// take the same interface: each would forward its frames, so twice.
//
// The lock is flock(2) on PORT_LOCK_DIR/net-NETNS-ifindex-IFINDEX. The kernel
// releases it when its holder closes the file or dies, even by SIGKILL, so a
// crashed daemon leaves no claim behind. An ifindex names an interface within
// one network namespace (hence the namespace's inode in the name) and stays
// through a rename. The holder writes its pid and control socket into the
// file: that is how a refusal names it.

import { closeSync, ftruncateSync, fstatSync, mkdirSync, openSync, readdirSync, readSync, statSync, unlinkSync, writeSync, constants } from 'node:fs';
import { join } from 'node:path';
import { InUseError, VswError } from '../errors.js';
import * as libc from '../native/libc.js';

export const PORT_LOCK_DIR = '/run/vswitch/ports';

export interface PortLock {
  /** Give the interface up (idempotent). */
  release(): void;
}

export interface PortLockOptions {
  /** Where the lock files are; every vswitchd of the host must use the same (tests pass their own). */
  dir?: string;
  /** Written into each lock this daemon holds. */
  owner: { pid: number; socket: string };
}

export class PortLocks {
  private readonly dir: string;
  private readonly owner: string;
  private readonly netns: number;

  constructor(opts: PortLockOptions) {
    this.dir = opts.dir ?? PORT_LOCK_DIR;
    this.owner = `${JSON.stringify(opts.owner)}\n`;
    this.netns = statSync('/proc/self/ns/net').ino;
  }

  /**
   * Remove the files of claims nobody holds (left by daemons that crashed);
   * returns how many. Each is removed while locked, as release() does.
   */
  sweep(): number {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return 0; // no directory yet: nothing was ever claimed
    }
    let removed = 0;
    for (const name of names) {
      const path = join(this.dir, name);
      let fd: number;
      try {
        fd = openSync(path, constants.O_RDWR);
      } catch {
        continue; // gone already
      }
      try {
        if (libc.tryLockExclusive(fd) && isFileAt(fd, path)) {
          unlinkSync(path);
          removed++;
        }
      } catch {
        // not ours to judge: leave it
      } finally {
        closeSync(fd);
      }
    }
    return removed;
  }

  /** Does a running vswitchd (another than this one, which holds nothing yet when it asks) hold interface `ifindex`? */
  heldByAnother(ifindex: number): boolean {
    let fd: number;
    try {
      fd = openSync(join(this.dir, `net-${this.netns}-ifindex-${ifindex}`), constants.O_RDWR);
    } catch {
      return false; // no claim file: nobody holds it
    }
    try {
      return !libc.tryLockExclusive(fd); // taken: the lock goes with the fd
    } catch {
      return true; // cannot tell: leave its filters alone
    } finally {
      closeSync(fd);
    }
  }

  /** Take the interface, or throw InUseError naming the vswitchd that has it. */
  claim(ifname: string, ifindex: number): PortLock {
    const path = join(this.dir, `net-${this.netns}-ifindex-${ifindex}`);
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      // A holder that releases unlinks the file while still holding it; a lock
      // taken on that unlinked file is worth nothing: open the new one.
      for (let attempt = 0; attempt < 5; attempt++) {
        const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
        let locked: boolean;
        try {
          locked = libc.tryLockExclusive(fd);
        } catch (err) {
          closeSync(fd);
          throw err;
        }
        if (!locked) {
          const holder = holderOf(fd);
          closeSync(fd);
          throw new InUseError(ifname, holder);
        }
        if (!isFileAt(fd, path)) {
          closeSync(fd);
          continue;
        }
        ftruncateSync(fd, 0);
        writeSync(fd, this.owner, 0);
        return lockOn(fd, path);
      }
    } catch (err) {
      if (err instanceof VswError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new VswError(e.code === 'EACCES' ? 'EACCES' : 'ESYSCALL', `cannot lock ${path}: ${e.code ?? e.message}`);
    }
    throw new VswError('ESYSCALL', `cannot lock ${path}: it keeps being replaced`);
  }
}

function lockOn(fd: number, path: string): PortLock {
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      try {
        unlinkSync(path); // while still locked: see claim()
      } catch {
        // already gone (someone cleaned the directory): the lock goes with the fd all the same
      }
      closeSync(fd);
    },
  };
}

function isFileAt(fd: number, path: string): boolean {
  try {
    return statSync(path).ino === fstatSync(fd).ino;
  } catch {
    return false;
  }
}

/** "a port of another vswitchd (pid 1234, control socket /run/…)", from what the holder wrote. */
function holderOf(fd: number): string {
  const buf = Buffer.alloc(4096);
  let text = '';
  try {
    text = buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
    const o = JSON.parse(text) as { pid?: unknown; socket?: unknown };
    if (typeof o.pid === 'number' && typeof o.socket === 'string') {
      return `a port of another vswitchd (pid ${o.pid}, control socket ${o.socket})`;
    }
  } catch {
    // being written right now, or not ours: say what we know
  }
  return 'a port of another vswitchd';
}
