// The configuration that survives a restart (vswitchd --db PATH): the ports in
// the order they were added with their VLAN modes, the ACL with its ids, the
// mirrors, and the tunnels (each one's spec; its port is in `ports`, in its
// place in the order, and is re-made as a tunnel, never as a plain port).
//
//   {"version":1,
//    "ports":[{"ifname":"veth1-vsw","vlan":{"mode":"access","tag":10,"trunks":null}}],
//    "acl":{"nextId":3,"rules":[{"id":1,"priority":32768,"in":"veth1-vsw","src":"02:00:00:00:00:01",
//                                "dst":null,"type":null,"vlan":null,"action":"drop"}]},
//    "mirrors":[],
//    "tunnels":[{"name":"vx1","vni":1000,"remotes":["10.0.0.2"],"local":null,"dstport":4789,"vlan":10}]}
//
// A rule names its port (`in`) by interface name: slots are given again at
// each start. The values are checked by the same functions as the control
// protocol's (core/vlan.ts portVlanProblem, core/acl.ts aclRuleProblems,
// control/tunnel-spec.ts tunnelSpecProblems).
// loadDb reads and checks the whole file before the daemon changes anything;
// a problem is one DbError naming the file and the field. A new section is a
// new key with a default (as `acl`), so older files still read.
//
// Db.save writes PATH.tmp beside PATH, fsyncs it, renames it over PATH and
// fsyncs the directory: after a crash the file is the old or the new
// configuration, never a mix.

import { oneLine } from '../errors.js';
import { closeSync, constants, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { ACL_MAX_RULES, aclRuleProblems } from '../core/acl.js';
import { MIRROR_MAX, mirrorNameProblem } from '../core/mirror.js';
import { portVlanProblem, VLAN_MODES } from '../core/vlan.js';
import { ifnameSchema, vidListProblem, vidRangesSchema } from '../control/requests.js';
import { MAX_REMOTES, type TunnelSpec, tunnelSpecProblems } from '../control/tunnel-spec.js';
import { type Mirror, mirrorConflict } from './mirror-rules.js';

export const DB_VERSION = 1;

const int = z.number().int();

const vlanSchema = z
  .object({ mode: z.enum(VLAN_MODES), tag: int, trunks: vidRangesSchema.nullable() })
  .strict()
  .superRefine((v, ctx) => {
    const problem = portVlanProblem(v);
    if (problem === null) return;
    // Without the list the mode and tag are fine: the problem is in the list.
    const field = portVlanProblem({ ...v, trunks: null }) === null ? 'trunks' : 'tag';
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: [field], message: problem });
  });

const ruleSchema = z
  .object({
    id: int.min(1).max(Number.MAX_SAFE_INTEGER),
    priority: int,
    in: ifnameSchema.nullable(),
    src: z.string().max(64).nullable(),
    dst: z.string().max(64).nullable(),
    type: int.nullable(),
    vlan: z.union([int, z.literal('untagged')]).nullable(),
    action: z.enum(['allow', 'drop']),
  })
  .strict()
  .superRefine((r, ctx) => {
    for (const [field, message] of aclRuleProblems(r)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [field], message });
  });

const mirrorSchema = z
  .object({
    name: z.string(),
    output: ifnameSchema,
    // Absent (a file of an earlier vswitchd): every frame when both lists are empty, as it then meant.
    selectAll: z.boolean().optional(),
    selectIngress: z.array(ifnameSchema).default([]),
    selectEgress: z.array(ifnameSchema).default([]),
    selectVlans: vidRangesSchema.nullable().default(null),
    // Ports that left the lists: `mirror show` names them; a list they emptied selects nothing.
    leftIngress: z.array(ifnameSchema).default([]),
    leftEgress: z.array(ifnameSchema).default([]),
  })
  .strict()
  .transform((m) => ({ ...m, selectAll: m.selectAll ?? (m.selectIngress.length === 0 && m.selectEgress.length === 0) }))
  .superRefine((m, ctx) => {
    const report = (path: string, p: string | null): void => {
      if (p !== null) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [path], message: p });
    };
    report('name', mirrorNameProblem(m.name));
    report('selectVlans', vidListProblem(m.selectVlans ?? []));
  });

const tunnelSchema = z
  .object({
    name: ifnameSchema,
    vni: int,
    remotes: z.array(z.string().max(64)).max(MAX_REMOTES),
    local: z.string().max(64).nullable(),
    dstport: int,
    vlan: int.nullable(),
  })
  .strict()
  .superRefine((t, ctx) => {
    for (const [field, message] of tunnelSpecProblems(tunnelSpecOf(t))) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [field], message });
  });

const dbSchema = z
  .object({
    version: z.literal(DB_VERSION),
    ports: z.array(z.object({ ifname: ifnameSchema, vlan: vlanSchema }).strict()),
    acl: z
      .object({ nextId: int.min(1).max(Number.MAX_SAFE_INTEGER), rules: z.array(ruleSchema).max(ACL_MAX_RULES) })
      .strict()
      .default({ nextId: 1, rules: [] }),
    mirrors: z.array(mirrorSchema).max(MIRROR_MAX).default([]),
    tunnels: z.array(tunnelSchema).default([]),
  })
  .strict();

export type DbConfig = z.infer<typeof dbSchema>;
export type DbPort = DbConfig['ports'][number];
export type DbRule = DbConfig['acl']['rules'][number];
export type DbTunnel = DbConfig['tunnels'][number];

export const EMPTY_DB: Readonly<DbConfig> = Object.freeze({ version: DB_VERSION, ports: [], acl: { nextId: 1, rules: [] }, mirrors: [], tunnels: [] });

/** What `tunnel add` would have been asked for this saved tunnel. */
export function tunnelSpecOf(t: DbTunnel): TunnelSpec {
  return {
    name: t.name,
    vni: t.vni,
    remotes: t.remotes,
    ...(t.local === null ? {} : { local: t.local }),
    dstport: t.dstport,
    ...(t.vlan === null ? {} : { vlan: t.vlan }),
  };
}

/**
 * `doc` without the port `ifname` and what names it: its rules, the mirrors
 * whose output it is, its place in other mirrors' selections, its tunnel.
 * The file a delete writes first must load as it is.
 */
export function withoutPort(doc: DbConfig, ifname: string): DbConfig {
  return {
    ...doc,
    ports: doc.ports.filter((p) => p.ifname !== ifname),
    acl: { nextId: doc.acl.nextId, rules: doc.acl.rules.filter((r) => r.in !== ifname) },
    mirrors: doc.mirrors
      .filter((m) => m.output !== ifname)
      .map((m) => ({
        ...m,
        selectIngress: m.selectIngress.filter((n) => n !== ifname),
        selectEgress: m.selectEgress.filter((n) => n !== ifname),
        leftIngress: m.selectIngress.includes(ifname) ? [...m.leftIngress, ifname] : m.leftIngress,
        leftEgress: m.selectEgress.includes(ifname) ? [...m.leftEgress, ifname] : m.leftEgress,
      })),
    tunnels: doc.tunnels.filter((t) => t.name !== ifname),
  };
}

/** A file that cannot be read or is not a configuration: `problem` names the field. */
export class DbError extends Error {
  override readonly name = 'DbError';
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${oneLine(problem)}`);
  }
}

/** `ports[1].vlan.tag` */
/** ports[1].vlan.tag; a key that is no identifier is quoted: mirrors[0]["select Vlans"]. */
function fieldPath(path: ReadonlyArray<string | number>): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : !/^[A-Za-z_][A-Za-z0-9_]*$/.test(p) ? `[${JSON.stringify(p)}]` : i === 0 ? p : `.${p}`))
    .join('');
}

function describeIssue(issue: z.ZodIssue): string {
  const at = fieldPath(issue.path);
  let message = issue.message;
  if (issue.code === z.ZodIssueCode.unrecognized_keys) {
    // Named by its own path, as every other field: PATH: acl.rules[0].color: unknown field.
    return `${fieldPath([...issue.path, issue.keys[0]!])}: unknown field`;
  } else if (issue.code === z.ZodIssueCode.invalid_type && issue.received === 'undefined') {
    message = 'missing';
  }
  return at === '' ? message : `${at}: ${message}`;
}

/** The problem of a document that has the right shape: what the switch could not hold. */
function consistencyProblem(doc: DbConfig): string | null {
  const seen = new Map<string, number>();
  for (const [i, p] of doc.ports.entries()) {
    const first = seen.get(p.ifname);
    if (first !== undefined) return `ports[${i}].ifname: ${p.ifname} is already ports[${first}]`;
    seen.set(p.ifname, i);
  }
  const ids = new Set<number>();
  for (const [i, r] of doc.acl.rules.entries()) {
    if (ids.has(r.id)) return `acl.rules[${i}].id: rule ${r.id} appears twice`;
    ids.add(r.id);
    if (r.id >= doc.acl.nextId) return `acl.rules[${i}].id: rule ${r.id} is not below acl.nextId ${doc.acl.nextId}`;
    if (r.in !== null && !seen.has(r.in)) return `acl.rules[${i}].in: ${r.in} is not in ports`;
  }
  // Mirrors: their ports are ports, and each keeps the rules of mirror-rules.ts with those before it.
  const slotOf = new Map<string, number>([...seen.entries()]);
  const kept: Mirror[] = [];
  for (const [i, m] of doc.mirrors.entries()) {
    for (const [field, names] of [['output', [m.output]], ['selectIngress', m.selectIngress], ['selectEgress', m.selectEgress]] as const) {
      for (const n of names) if (!slotOf.has(n)) return `mirrors[${i}].${field}: ${n} is not in ports`;
    }
    const mirror: Mirror = {
      name: m.name,
      output: slotOf.get(m.output)!,
      selectAll: m.selectAll,
      selectIngress: m.selectIngress.map((n) => slotOf.get(n)!),
      selectEgress: m.selectEgress.map((n) => slotOf.get(n)!),
      selectVlans: m.selectVlans,
      leftIngress: m.leftIngress,
      leftEgress: m.leftEgress,
    };
    const problem = mirrorConflict(mirror, kept, (s) => doc.ports[s]?.ifname ?? `port ${s}`);
    if (problem !== null) return `mirrors[${i}]: ${problem}`;
    kept.push(mirror);
  }
  // A tunnel is re-made in its port's place: its port is in ports, once.
  const tunnels = new Map<string, number>();
  for (const [i, t] of doc.tunnels.entries()) {
    if (!seen.has(t.name)) return `tunnels[${i}].name: ${t.name} is not in ports`;
    const first = tunnels.get(t.name);
    if (first !== undefined) return `tunnels[${i}].name: ${t.name} is already tunnels[${first}]`;
    tunnels.set(t.name, i);
  }
  return null;
}

/** Check a parsed document; throws DbError naming `path` and the first problem. */
export function checkDb(path: string, value: unknown): DbConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new DbError(path, 'not a JSON object');
  const version = (value as Record<string, unknown>)['version'];
  // The version first: a file from a newer vswitchd is told so, not that its fields are unknown.
  if (version === undefined) throw new DbError(path, 'version: missing');
  if (version !== DB_VERSION) throw new DbError(path, `version: unsupported version ${JSON.stringify(version)} (this vswitchd reads version ${DB_VERSION})`);
  const parsed = dbSchema.safeParse(value);
  if (!parsed.success) throw new DbError(path, describeIssue(parsed.error.issues[0]!));
  const problem = consistencyProblem(parsed.data);
  if (problem !== null) throw new DbError(path, problem);
  return parsed.data;
}

export function serializeDb(doc: DbConfig): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** The configuration file at `path`. */
export class Db {
  /** What the file holds, as serializeDb writes it (null: unknown, or no file). */
  private written: string | null = null;

  constructor(readonly path: string) {}

  /** The whole configuration, checked; a missing file is the empty one. Throws DbError. */
  load(): DbConfig {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return structuredClone(EMPTY_DB);
      throw new DbError(this.path, `cannot read: ${(err as Error).message}`);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new DbError(this.path, `not valid JSON (${(err as Error).message})`);
    }
    const doc = checkDb(this.path, value);
    this.written = serializeDb(doc);
    return doc;
  }

  /**
   * Replace the file with `doc`, atomically (nothing is written if the file
   * already holds it). Throws the system's error, the file unchanged.
   *
   * The temporary file is made afresh (O_EXCL, O_NOFOLLOW, mode 0600): a
   * symlink or a file planted at PATH.tmp is never written through nor keeps
   * its mode; a leftover of a crash is removed first. Every byte is written
   * (a full disk gives a short write, then ENOSPC) before fsync and rename, so
   * only a whole, synced file ever replaces the old one.
   */
  save(doc: DbConfig): void {
    const text = serializeDb(doc);
    if (text === this.written) return;
    const dir = dirname(this.path);
    const tmp = `${this.path}.tmp`;
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    try {
      const fd = openFresh(tmp);
      try {
        writeWhole(fd, Buffer.from(text, 'utf8'));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
    } catch (err) {
      try {
        rmSync(tmp, { force: true });
      } catch {
        // the error that matters is the one thrown
      }
      throw err;
    }
    // The rename itself is durable once the directory is.
    const dirFd = openSync(dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    this.written = text;
  }
}

const CREATE_FRESH = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW; // libuv adds O_CLOEXEC

/** Create `path` as a new regular file of ours, removing whatever a crash or anyone else left there. */
function openFresh(path: string): number {
  try {
    return openSync(path, CREATE_FRESH, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  unlinkSync(path); // a link is removed, never followed
  return openSync(path, CREATE_FRESH, 0o600);
}

/** write(2) until every byte is down; a short write is followed by another, which reports why (ENOSPC). */
export function writeWhole(fd: number, bytes: Uint8Array, write: typeof writeSync = writeSync): void {
  let done = 0;
  while (done < bytes.length) {
    const n = write(fd, bytes, done, bytes.length - done);
    if (n <= 0) throw Object.assign(new Error(`write returned ${n}`), { code: 'EIO' });
    done += n;
  }
}
