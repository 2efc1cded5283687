// The bpffs a restart hands the kernel datapath over in (src/daemon/restart.ts):
// the old vswitchd pins its maps and tcx links in a private directory of it,
// the new one takes them from there and unpins them. A bpffs already mounted
// (systemd mounts /sys/fs/bpf) is used; else one is mounted at BPFFS_MOUNT for
// the hand-over and unmounted after it. Nothing stays pinned: the directory
// goes with the hand-over, whatever its end.

import { mkdirSync, readdirSync, readFileSync, rmdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import * as libc from '../native/libc.js';

/** Where vswitchd mounts a bpffs when the host has none. */
export const BPFFS_MOUNT = '/run/vswitch/bpffs';

/** A directory of pins for one hand-over; `mounted`: the bpffs was mounted for it (and is unmounted with it). */
export interface PinDir {
  path: string;
  mounted: string | null;
}

/** The mount points of bpffs in this mount namespace (/proc/self/mounts). */
export function bpffsMounts(mounts = readFileSync('/proc/self/mounts', 'utf8')): string[] {
  return mounts
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'bpf' && f[1] !== undefined)
    .map((f) => f[1]!.replace(/\\040/g, ' '));
}

/** Makes `name` in a bpffs (mounting one at BPFFS_MOUNT if none is). */
export function makePinDir(name: string): PinDir {
  let root = bpffsMounts()[0];
  let mounted: string | null = null;
  if (root === undefined) {
    mkdirSync(BPFFS_MOUNT, { recursive: true, mode: 0o700 });
    libc.mount('bpf', BPFFS_MOUNT, 'bpf');
    root = mounted = BPFFS_MOUNT;
  }
  const path = join(root, name);
  try {
    mkdirSync(path, { mode: 0o700 });
  } catch (err) {
    if (mounted !== null) libc.umount(mounted);
    throw err;
  }
  return { path, mounted };
}

/** The pins left in `dir` (none once the new vswitchd took them). */
export function pinsIn(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * The hand-over directories (`PREFIX-PID`) of vswitchds that are gone: a
 * restart whose old and new vswitchd were both killed mid-way leaves its pins,
 * which hold the old links. Unpinned and removed (so the links go), the bpffs
 * at BPFFS_MOUNT unmounted if it is then empty; their paths.
 */
export function removeLeftoverPinDirs(prefix: string, alive: (pid: number) => boolean): string[] {
  const removed: string[] = [];
  for (const root of bpffsMounts()) {
    for (const name of pinsIn(root)) {
      const m = new RegExp(`^${prefix}-(\\d+)$`).exec(name);
      if (m === null || alive(Number(m[1]))) continue;
      removePinDir({ path: join(root, name), mounted: null });
      removed.push(join(root, name));
    }
    if (root === BPFFS_MOUNT && pinsIn(root).length === 0) removePinDir({ path: join(root, '.none'), mounted: root });
  }
  return removed;
}

/** Unpins what is left, removes the directory and unmounts the bpffs if it was mounted for it. */
export function removePinDir(d: PinDir): void {
  for (const name of pinsIn(d.path)) unlinkSync(join(d.path, name));
  try {
    rmdirSync(d.path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (d.mounted !== null) {
    libc.umount(d.mounted);
    rmdirSync(d.mounted);
  }
}
