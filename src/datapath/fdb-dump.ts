// The FDB as the datapath thread hands it to the control plane: one
// Uint32Array of four words per live entry, not one object per entry, so a
// full table of 65,536 entries costs the forwarding thread a few milliseconds
// and the message one copy of 1 MiB.
//
//   word 0: MAC bits 47..32 << 16 | port index (ports are < 65,536)
//   word 1: MAC bits 31..0
//   word 2: age in whole seconds
//   word 3: VLAN
//
// Entries come port by port, and within a port least recently seen first (the
// order the FDB keeps them in).

import type { Fdb } from '../core/fdb.js';
import { macFrom, macHi, macLo } from '../core/mac.js';

export type FdbDump = Uint32Array;

export const FDB_DUMP_STRIDE = 4;

/** Every live entry of `fdb` at time `now` (ms). Control path only. */
export function dumpFdb(fdb: Fdb, now: number): FdbDump {
  const out = new Uint32Array(fdb.count * FDB_DUMP_STRIDE);
  let o = 0;
  fdb.forEach((mac, port, ageMs, vlan) => {
    out[o] = ((macHi(mac) << 16) | port) >>> 0;
    out[o + 1] = macLo(mac) >>> 0;
    out[o + 2] = Math.floor(ageMs / 1000);
    out[o + 3] = vlan;
    o += FDB_DUMP_STRIDE;
  }, now);
  // fdb.count includes entries that have aged out but are not freed yet.
  return o === out.length ? out : out.slice(0, o);
}

/** Build a dump from rows (for tests and fakes of the datapath). */
export function fdbDumpOf(rows: readonly { mac: number; port: number; ageSeconds: number; vlan?: number }[]): FdbDump {
  const out = new Uint32Array(rows.length * FDB_DUMP_STRIDE);
  rows.forEach((r, i) => {
    out[i * FDB_DUMP_STRIDE] = ((macHi(r.mac) << 16) | r.port) >>> 0;
    out[i * FDB_DUMP_STRIDE + 1] = macLo(r.mac) >>> 0;
    out[i * FDB_DUMP_STRIDE + 2] = Math.floor(r.ageSeconds);
    out[i * FDB_DUMP_STRIDE + 3] = r.vlan ?? 0;
  });
  return out;
}

export function dumpLength(d: FdbDump): number {
  return Math.floor(d.length / FDB_DUMP_STRIDE);
}

export function dumpMac(d: FdbDump, i: number): number {
  return macFrom(d[i * FDB_DUMP_STRIDE] >>> 16, d[i * FDB_DUMP_STRIDE + 1]);
}

export function dumpPort(d: FdbDump, i: number): number {
  return d[i * FDB_DUMP_STRIDE] & 0xffff;
}

export function dumpVlan(d: FdbDump, i: number): number {
  return d[i * FDB_DUMP_STRIDE + 3];
}

export function dumpAgeSeconds(d: FdbDump, i: number): number {
  return d[i * FDB_DUMP_STRIDE + 2];
}

/**
 * Learns every entry of `d` (another vswitchd's, at a restart) into `fdb`,
 * each as last seen its age before `now`: in the dump's order, so that each
 * port's least recently seen stays first. Control path only.
 */
export function learnDump(fdb: Fdb, d: FdbDump, now: number): void {
  const n = dumpLength(d);
  // Oldest first over all ports: the table's own order of eviction.
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => dumpAgeSeconds(d, b) - dumpAgeSeconds(d, a));
  for (const i of order) fdb.learn(dumpMac(d, i), dumpPort(d, i), now - dumpAgeSeconds(d, i) * 1000, dumpVlan(d, i));
}
