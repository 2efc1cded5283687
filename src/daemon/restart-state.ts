// What a restart's old vswitchd hands the new one besides the kernel's objects
// (src/daemon/restart.ts): one JSON file, /run/vswitch/restart-PID.json (0600),
// named on the new one's command line (--handover PATH) and removed by the old
// one whatever the end:
//
//   {"version":1,"pid":4242,"datapath":"kernel",
//    "config":{...the --db file's document (db.ts), the switch as it is...},
//    "slots":{"veth1-vsw":0,"veth2-vsw":1},
//    "fdb":[...an FdbDump (datapath/fdb-dump.ts) as numbers: port, MAC, age, VLAN...],
//    "pinDir":"/run/vswitch/bpffs/vswitch-restart-4242","qdiscsMade":[]}
//
// `pinDir` is null on the userspace datapath (nothing is pinned: its ports are
// opened again). The document is checked as the --db file is (db.ts parseDb).

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { DATAPATHS } from './args.js';
import { checkDb, type DbConfig } from './db.js';

/** Where the state file goes (beside the port locks). */
export const RESTART_STATE_DIR = '/run/vswitch';

export interface RestartState {
  version: 1;
  /** The old vswitchd. */
  pid: number;
  datapath: 'kernel' | 'user';
  config: DbConfig;
  /** Each port's slot, by name. */
  slots: Record<string, number>;
  /** The FDB as the old datapath dumped it. */
  fdb: number[];
  /** The kernel datapath: the bpffs directory of the pins (kernel/handover.ts). */
  pinDir: string | null;
  /** tc mode: the interfaces whose clsact qdisc the old vswitchd made. */
  qdiscsMade: number[];
}

const u32 = z.number().int().min(0).max(0xffffffff);
const stateSchema = z
  .object({
    version: z.literal(1),
    pid: z.number().int().positive(),
    datapath: z.enum(DATAPATHS as unknown as ['kernel', 'user']),
    config: z.unknown(),
    slots: z.record(z.string(), z.number().int().min(0)),
    fdb: z.array(u32),
    pinDir: z.string().nullable(),
    qdiscsMade: z.array(u32),
  })
  .strict();

export function restartStatePath(pid: number): string {
  return join(RESTART_STATE_DIR, `restart-${pid}.json`);
}

export function writeRestartState(path: string, s: RestartState): void {
  writeFileSync(path, JSON.stringify(s), { mode: 0o600 });
}

/** Reads and checks the state file; throws an Error saying what is wrong. */
export function readRestartState(path: string): RestartState {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  const parsed = stateSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`${path}: ${parsed.error.issues[0]?.path.join('.') ?? ''}: ${parsed.error.issues[0]?.message ?? 'not a restart state'}`);
  return { ...parsed.data, config: checkDb(path, parsed.data.config) } as RestartState;
}
