// What the page receives each time it is told the switch's state: one reading
// of the switch (daemon/web.ts webSnapshot), in the control protocol's own
// result shapes (control/results.ts). Types only: nothing of this runs.

import type { AclShowResult, FdbEntry, MirrorShowResult, StatsResult, TunnelShowResult, VlanResult } from '../control/results.js';

export interface WebSnapshot {
  /** When it was read (ms since the epoch, the daemon's clock). */
  time: number;
  version: string;
  datapath: 'kernel' | 'user';
  /** `stats`: ports in the order they were added, drops by reason, FDB counters. */
  stats: StatsResult;
  /** `vlan PORT` of every port, in the order they were added. */
  vlans: VlanResult[];
  /** `fdb`: at most `FDB_ROWS` entries; `count` is the table's size. */
  fdb: { entries: FdbEntry[]; count: number };
  acl: AclShowResult;
  mirrors: MirrorShowResult;
  tunnels: TunnelShowResult;
}

/** The entries of the FDB a snapshot carries at most (the page says when there are more). */
export const FDB_ROWS = 10_000;
