// The kernel datapath's side of a restart (src/daemon/restart.ts): how the old
// vswitchd leaves its maps and tcx links in a bpffs directory, and how the new
// one takes them. The pins are named map-NAME and link-SLOT (a port's tcx
// link: pinned and taken where every attachment is made, ../bpf.ts).
//
// The new vswitchd checks each pinned map against its own program's definition
// of it (type, key and value size, entries, flags): equal, its program is
// loaded against the running maps (bpf_map__reuse_fd), so the FDB, counters
// and configuration carry on; any difference (a program of another layout after
// an upgrade) is an EADOPT saying which map differs, and the worker then sets its
// program up in maps of its own and replaces the old one (worker.ts).

import { join } from 'node:path';
import { unlinkSync } from 'node:fs';
import { VswError } from '../../errors.js';
import { type BpfObject, type MapDefinition, mapInfo, objGet, objPin } from '../../native/libbpf.js';
import * as libc from '../../native/libc.js';
import { pinsIn } from '../bpffs.js';

/** Maps libbpf makes for the object's own data (.rodata, .bss): the new program's, never taken over. */
function handedOver(m: MapDefinition): boolean {
  return !m.name.includes('.');
}

/** The old vswitchd: pins every map of `obj` in `dir`. */
export function pinMaps(obj: BpfObject, dir: string): void {
  for (const m of obj.maps()) if (handedOver(m)) objPin(obj.mapFd(m.name), join(dir, `map-${m.name}`));
}

/** What differs between a pinned map and the program's own definition of it, or null. */
export function mapDifference(want: MapDefinition, have: MapDefinition): string | null {
  const fields = ['type', 'keySize', 'valueSize', 'maxEntries', 'flags'] as const;
  const diff = fields.filter((f) => want[f] !== have[f]).map((f) => `${f} ${have[f]}, this program's ${want[f]}`);
  return diff.length === 0 ? null : diff.join(', ');
}

/**
 * The new vswitchd, before load: makes `obj` use the maps pinned in `dir`,
 * after checking each against its own definition. Throws EADOPT saying what
 * differs; the fds opened are closed then. Returns them otherwise (the
 * object holds its own copies once loaded: close these after).
 */
export function adoptMaps(obj: BpfObject, dir: string): number[] {
  const fds: number[] = [];
  try {
    for (const want of obj.maps()) {
      if (!handedOver(want)) continue;
      let fd: number;
      try {
        fd = objGet(join(dir, `map-${want.name}`));
      } catch {
        throw new VswError('EADOPT', `the running program has no map ${want.name} (another program layout)`);
      }
      fds.push(fd);
      const diff = mapDifference(want, mapInfo(fd, want.name));
      if (diff !== null) throw new VswError('EADOPT', `the running program's map ${want.name} differs (${diff})`);
      obj.reuseMap(want.name, fd);
    }
  } catch (err) {
    for (const fd of fds) libc.close(fd);
    throw err;
  }
  return fds;
}

/** Removes every pin in `dir` (what was taken is held by fds now). */
export function unpinAll(dir: string): void {
  for (const name of pinsIn(dir)) unlinkSync(join(dir, name));
}
