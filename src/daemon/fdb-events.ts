// The datapath thread's FDB journal (core/fdb-journal.ts), as `monitor`
// events: ports named, MACs formatted, the records the journal had no room
// for counted as suppressed. An event over its kind's rate is only counted,
// before anything of it is made; nothing is made while nobody listens.

import { FDB_EV_FLUSH, FDB_EV_KINDS, FDB_EV_MOVE, FDB_EV_NAMES, FDB_EV_WORDS, FLUSH_REASONS } from '../core/fdb-journal.js';
import { formatMac, macFrom } from '../core/mac.js';
import type { MonitorHub } from '../control/monitor.js';

/** The 'fdb' event of a datapath (messages.ts), to the hub; `names`: port names by slot. */
export function publishFdbEvents(hub: MonitorHub, ev: { records: Int32Array; overflow: number[] }, names: readonly (string | undefined)[]): void {
  if (!hub.listening) return;
  const r = ev.records;
  for (let at = 0; at + FDB_EV_WORDS <= r.length; at += FDB_EV_WORDS) {
    const kind = r[at]!;
    const ifname = names[r[at + 3]!];
    // A port already forgotten: its flush was told when it went.
    if (ifname === undefined || kind < 0 || kind >= FDB_EV_KINDS) continue;
    if (!hub.admit(FDB_EV_NAMES[kind]!)) continue;
    if (kind === FDB_EV_FLUSH) {
      hub.send({ event: 'fdb-flush', ifname, count: r[at + 4]!, reason: FLUSH_REASONS[r[at + 1]!] ?? 'unknown' });
      continue;
    }
    const hi = r[at + 1]!;
    const station = { mac: formatMac(macFrom(hi & 0xffff, r[at + 2]!)), vlan: hi >>> 16, ifname };
    if (kind === FDB_EV_MOVE) hub.send({ event: 'fdb-move', ...station, from: names[r[at + 4]!] ?? `port ${r[at + 4]}` });
    else hub.send({ event: FDB_EV_NAMES[kind] as 'fdb-learn' | 'fdb-age' | 'fdb-evict', ...station });
  }
  for (let k = 0; k < FDB_EV_KINDS; k++) hub.suppressed(FDB_EV_NAMES[k]!, ev.overflow[k] ?? 0);
}
