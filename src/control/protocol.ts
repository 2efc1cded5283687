// The control protocol between vswconfig (or any client) and vswitchd.
//
// Newline-delimited JSON over a Unix stream socket, one request per line, one
// reply per request, in order:
//
//   → {"v":1,"id":7,"cmd":"add","ifname":"veth1-vsw"}
//   ← {"v":1,"id":7,"ok":true,"result":null}
//   ← {"v":1,"id":7,"ok":false,"error":{"code":"ENODEV","message":"no such interface: veth1-vsw"}}
//
// fdb streams its reply, for a table of any size: part lines of at most
// FDB_PART_ENTRIES entries each, then a last line with the count of entries
// sent (zero parts for an empty table):
//
//   ← {"v":1,"id":8,"ok":true,"part":{"entries":[{"mac":"02:00:00:00:00:01","port":"veth1-vsw","ageSeconds":3},…]}}
//   ← {"v":1,"id":8,"ok":true,"result":{"count":1}}
//
// vlan (ifname, and to set it: mode, tag, trunks — see core/vlan.ts) answers
// with the port's mode after the request:
//
//   → {"v":1,"id":9,"cmd":"vlan","ifname":"veth1-vsw","mode":"trunk","trunks":[[10,10],[100,199]]}
//   ← {"v":1,"id":9,"ok":true,"result":{"ifname":"veth1-vsw","mode":"trunk","tag":0,"trunks":[[10,10],[100,199]]}}
//
// acl-add (priority, in, src, dst, type, vlan: each optional; action) answers
// with the new rule's id; acl-del (id); acl-show lists the rules in match order:
//
//   → {"v":1,"id":10,"cmd":"acl-add","src":"02:00:00:00:00:01/ff:ff:ff:00:00:00","vlan":"untagged","action":"drop"}
//   ← {"v":1,"id":10,"ok":true,"result":{"id":1}}
//
// mirror-add (name, output, select-ingress/-egress ports, select-vlans: each
// list optional), mirror-del (name), mirror-show (with the frames each copied):
//
//   → {"v":1,"id":11,"cmd":"mirror-add","name":"span","output":"veth4-vsw","selectIngress":["veth1-vsw"],"selectVlans":[[10,10]]}
//
// trace (in, and optional src, dst, vlan, type) answers with each stage of the
// pipeline for that made-up frame (core/trace.ts), ports named.
//
// tunnel-add (name, vni, remotes, and optional local, dstport, vlan), tunnel-del
// (name), tunnel-show (tunnels, and the ports whose MTU is larger than a tunnel's):
//
//   → {"v":1,"id":11,"cmd":"tunnel-add","name":"vx1","vni":1000,"remotes":["10.0.0.2"],"vlan":10}
//   ← {"v":1,"id":11,"ok":true,"result":null}
//
// Commands: add / delete (ifname), show, fdb, stats (no arguments), vlan, acl-*, mirror-*, trace, tunnel-*. Anything
// else — bad JSON, another version, an unknown command or field, a line longer
// than MAX_LINE_BYTES — is answered with code EPROTO (and the server then
// closes the connection).

import { z } from 'zod';
import type { ErrorCode } from '../errors.js';
import { ifnameProblem } from '../os/ifname.js';
import { aclRuleProblems, ethertypeProblem, parseMacMask } from '../core/acl.js';
import { mirrorNameProblem } from '../core/mirror.js';
import { portVlanProblem, VID_MAX, vidProblem } from '../core/vlan.js';
import { MAX_REMOTES, tunnelSpecProblem } from './tunnel-spec.js';

export { ifnameProblem, MAX_IFNAME_BYTES } from '../os/ifname.js';

export const PROTOCOL_VERSION = 1;
/** Longest request or reply line, in bytes, without its newline. */
export const MAX_LINE_BYTES = 64 * 1024;
export const DEFAULT_SOCKET_PATH = '/run/vswitch/vswitchd.sock';

const ERROR_CODES = [
  'EUSAGE',
  'EPROTO',
  'ENODEV',
  'ENOTETHER',
  'EEXIST',
  'EBUSY',
  'ENOTATTACHED',
  'EPORTLIMIT',
  'ENOACL',
  'EACLFULL',
  'EMIRROR',
  'ENOMIRROR',
  'ETUNNEL',
  'ENOTRUNNING',
  'EACCES',
  'ESYSCALL',
  'ETIMEDOUT',
  'EINTERNAL',
] as const satisfies readonly ErrorCode[];

export function isErrorCode(s: string): s is ErrorCode {
  return (ERROR_CODES as readonly string[]).includes(s);
}

export const ifnameSchema = z.string().superRefine((s, ctx) => {
  const problem = ifnameProblem(s);
  if (problem !== null) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `invalid interface name: ${problem}` });
});

const idSchema = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const vidRangesSchema = z.array(z.tuple([z.number().int(), z.number().int()])).max(VID_MAX);

/** What is wrong with a MAC address (no mask), or null. */
function macProblem(m: string): string | null {
  try {
    return parseMacMask(m).mask === 0xffffffffffff && !m.includes('/') ? null : `not a MAC address: '${m}'`;
  } catch (err) {
    return (err as Error).message;
  }
}
const v = z.literal(PROTOCOL_VERSION);

export const requestSchema = z.discriminatedUnion('cmd', [
  z.object({ v, id: idSchema, cmd: z.literal('add'), ifname: ifnameSchema }).strict(),
  z.object({ v, id: idSchema, cmd: z.literal('delete'), ifname: ifnameSchema }).strict(),
  z.object({ v, id: idSchema, cmd: z.literal('show') }).strict(),
  z.object({ v, id: idSchema, cmd: z.literal('fdb') }).strict(),
  z.object({ v, id: idSchema, cmd: z.literal('stats') }).strict(),
  z
    .object({
      v,
      id: idSchema,
      cmd: z.literal('vlan'),
      ifname: ifnameSchema,
      // Absent: only asks for the port's mode.
      mode: z.enum(['access', 'trunk', 'native-tagged', 'native-untagged']).optional(),
      tag: z.number().int().optional(),
      trunks: z.array(z.tuple([z.number().int(), z.number().int()])).max(VID_MAX).nullable().optional(),
    })
    .strict(),
  z
    .object({
      v,
      id: idSchema,
      cmd: z.literal('acl-add'),
      priority: z.number().optional(),
      in: ifnameSchema.optional(),
      src: z.string().max(64).optional(),
      dst: z.string().max(64).optional(),
      type: z.number().optional(),
      vlan: z.union([z.number(), z.literal('untagged')]).optional(),
      action: z.enum(['allow', 'drop']),
    })
    .strict(),
  z.object({ v, id: idSchema, cmd: z.literal('acl-del'), rule: idSchema }).strict(),
  z.object({ v, id: idSchema, cmd: z.literal('acl-show') }).strict(),
  z
    .object({
      v,
      id: idSchema,
      cmd: z.literal('mirror-add'),
      name: z.string().max(64),
      output: ifnameSchema,
      selectIngress: z.array(ifnameSchema).max(1024).optional(),
      selectEgress: z.array(ifnameSchema).max(1024).optional(),
      selectVlans: vidRangesSchema.optional(),
    })
    .strict(),
  z.object({ v, id: idSchema, cmd: z.literal('mirror-del'), name: z.string().max(64) }).strict(),
  z.object({ v, id: idSchema, cmd: z.literal('mirror-show') }).strict(),
  z
    .object({
      v,
      id: idSchema,
      cmd: z.literal('trace'),
      in: ifnameSchema,
      src: z.string().max(64).optional(),
      dst: z.string().max(64).optional(),
      vlan: z.number().int().optional(),
      type: z.number().optional(),
    })
    .strict(),
  z
    .object({
      v,
      id: idSchema,
      cmd: z.literal('tunnel-add'),
      name: ifnameSchema,
      vni: z.number(),
      remotes: z.array(z.string().max(64)).max(MAX_REMOTES),
      local: z.string().max(64).optional(),
      dstport: z.number().optional(),
      vlan: z.number().optional(),
    })
    .strict(),
  z.object({ v, id: idSchema, cmd: z.literal('tunnel-del'), name: ifnameSchema }).strict(),
  z.object({ v, id: idSchema, cmd: z.literal('tunnel-show') }).strict(),
]).superRefine((r, ctx) => {
  const report = (p: string | null): void => {
    if (p !== null) ctx.addIssue({ code: z.ZodIssueCode.custom, message: p });
  };
  if (r.cmd === 'mirror-add') {
    report(mirrorNameProblem(r.name));
    for (const [lo, hi] of r.selectVlans ?? []) report(vidProblem(lo) ?? vidProblem(hi) ?? (lo > hi ? `reversed VLAN range ${lo}-${hi}` : null));
    return;
  }
  if (r.cmd === 'trace') {
    report(r.type === undefined ? null : ethertypeProblem(r.type));
    report(r.vlan === undefined ? null : vidProblem(r.vlan));
    for (const m of [r.src, r.dst]) report(m === undefined ? null : macProblem(m));
    return;
  }
  if (r.cmd === 'tunnel-add') {
    const problem = tunnelSpecProblem(r);
    if (problem !== null) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
    return;
  }
  if (r.cmd === 'acl-add') {
    for (const [, p] of aclRuleProblems(r)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: p });
    return;
  }
  if (r.cmd !== 'vlan') return;
  if (r.mode === undefined) {
    if (r.tag !== undefined || r.trunks !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: "'tag' and 'trunks' need a 'mode'" });
    return;
  }
  const problem = portVlanProblem({ mode: r.mode, tag: r.tag ?? 0, trunks: r.trunks ?? null });
  if (problem !== null) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
});

export type Request = z.infer<typeof requestSchema>;
export type Command = Request['cmd'];
/** An acl-add request's rule (checked: every value in range, MACs parse). */
export type AclAddRequest = Omit<Extract<Request, { cmd: 'acl-add' }>, 'v' | 'id' | 'cmd'>;
/** A mirror-add request's mirror (checked: name, VLAN ranges). */
export type MirrorAddRequest = Omit<Extract<Request, { cmd: 'mirror-add' }>, 'v' | 'id' | 'cmd'>;
/** A trace request's frame (checked: MACs, VID, ethertype). */
export type TraceRequest = Omit<Extract<Request, { cmd: 'trace' }>, 'v' | 'id' | 'cmd'>;
export const COMMANDS: readonly Command[] = ['add', 'delete', 'show', 'fdb', 'stats', 'vlan', 'acl-add', 'acl-del', 'acl-show', 'mirror-add', 'mirror-del', 'mirror-show', 'trace', 'tunnel-add', 'tunnel-del', 'tunnel-show'];

// ---- results ----------------------------------------------------------------

const count = z.number().int().nonnegative();

/** The ports in the order they were added, and which datapath forwards their frames. */

export const fdbEntrySchema = z.object({ mac: z.string(), vlan: count.default(0), port: z.string(), ageSeconds: z.number().nonnegative() });
export type FdbEntry = z.infer<typeof fdbEntrySchema>;
/** What the client makes of the whole fdb reply. */
export interface FdbResult {
  entries: FdbEntry[];
}
/** What the handler returns for fdb: the entries, read as they are sent. */
export interface FdbListing {
  entries: Iterable<FdbEntry>;
}

/**
 * Entries per part line of the fdb reply. An entry is at most about 100 bytes
 * of JSON (a 15-byte interface name escaped throughout is 30), so a part line
 * stays far below MAX_LINE_BYTES.
 */
export const FDB_PART_ENTRIES = 256;
export const fdbPartSchema = z.object({ entries: z.array(fdbEntrySchema) });
/** The last line of the fdb reply: how many entries the parts carried. */
export const fdbEndSchema = z.object({ count });

export const namedPortStatsSchema = z.object({
  port: z.string(),
  up: z.boolean(),
  mtu: count,
  rxFrames: count,
  rxBytes: count,
  txFrames: count,
  txBytes: count,
  rxRingDrops: count,
});
export const statsResultSchema = z.object({
  ports: z.array(namedPortStatsSchema),
  drops: z.record(z.string(), count),
  fdb: z.object({
    entries: count,
    learned: count,
    moved: count,
    expired: count,
    evicted: count,
    flushed: count,
    refused: count,
  }),
});
/** A port's 802.1Q mode (core/vlan.ts PortVlan), named. */
export const vlanResultSchema = z.object({
  ifname: z.string(),
  mode: z.enum(['default', 'access', 'trunk', 'native-tagged', 'native-untagged']),
  tag: count,
  trunks: z.array(z.tuple([count, count])).nullable(),
});
export type VlanResult = z.infer<typeof vlanResultSchema>;

/** One ACL rule as `acl show` lists it (in: the port's name; src, dst: MAC[/MASK]). */
export const aclRuleResultSchema = z.object({
  id: count,
  priority: count,
  in: z.string().nullable(),
  src: z.string().nullable(),
  dst: z.string().nullable(),
  type: count.nullable(),
  vlan: z.union([count, z.literal('untagged')]).nullable(),
  action: z.enum(['allow', 'drop']),
  hits: count,
});
export type AclRuleResult = z.infer<typeof aclRuleResultSchema>;
export const aclShowResultSchema = z.object({ rules: z.array(aclRuleResultSchema) });
export type AclShowResult = z.infer<typeof aclShowResultSchema>;

/** One mirror as `mirror show` lists it. */
export const mirrorResultSchema = z.object({
  name: z.string(),
  output: z.string(),
  selectIngress: z.array(z.string()),
  selectEgress: z.array(z.string()),
  selectVlans: z.array(z.tuple([count, count])).nullable(),
  copies: count,
});
export type MirrorResult = z.infer<typeof mirrorResultSchema>;
export const mirrorShowResultSchema = z.object({ mirrors: z.array(mirrorResultSchema) });
export type MirrorShowResult = z.infer<typeof mirrorShowResultSchema>;

/** A trace (core/trace.ts) with ports named and MACs written out. */
const tagSchema = count.nullable();
export const traceResultSchema = z.object({
  frame: z.object({ in: z.string(), src: z.string(), dst: z.string(), vlan: count.nullable(), type: count }),
  ingress: z.object({ port: z.string(), mode: z.string(), mirrorOutput: z.boolean() }),
  validation: z.object({ drop: z.string() }).nullable(),
  vlan: z.object({ vid: count, why: z.string(), drop: z.string().optional() }).nullable(),
  acl: z.object({ rule: count.nullable(), action: z.enum(['allow', 'drop']), rules: count }).nullable(),
  learn: z
    .object({
      kind: z.enum(['refresh', 'move', 'new', 'refused']),
      from: z.string().optional(),
      evicts: z.object({ mac: z.string(), vlan: count, port: z.string() }).optional(),
    })
    .nullable(),
  lookup: z.object({ kind: z.enum(['group', 'hit', 'miss', 'aged']), port: z.string().optional() }).nullable(),
  egress: z.array(z.object({ port: z.string(), tag: tagSchema, skipped: z.string().optional() })),
  mirrors: z.array(z.object({ mirror: z.string(), output: z.string(), tag: tagSchema, skipped: z.string().optional() })),
  verdict: z.union([
    z.object({ action: z.literal('forward'), ports: z.array(z.string()) }),
    z.object({ action: z.literal('drop'), reason: z.string() }),
  ]),
});
export type TraceResult = z.infer<typeof traceResultSchema>;

/** One tunnel as `tunnel show` lists it; rx/tx: frames the switch took from it and gave it. */
export const tunnelResultSchema = z.object({
  name: z.string(),
  vni: count,
  local: z.string().nullable(),
  remotes: z.array(z.string()),
  dstport: count,
  underlay: z.string(),
  mtu: count,
  vlan: count.nullable(),
  rxFrames: count,
  txFrames: count,
});
/** A port whose MTU is larger than a tunnel's: frames over `tunnelMtu` from it are dropped (mtu-exceeded). */
export const mtuWarningSchema = z.object({ port: z.string(), mtu: count, tunnel: z.string(), tunnelMtu: count });
export const tunnelShowResultSchema = z.object({ tunnels: z.array(tunnelResultSchema), mtuWarnings: z.array(mtuWarningSchema) });
export type TunnelResult = z.infer<typeof tunnelResultSchema>;
export type MtuWarning = z.infer<typeof mtuWarningSchema>;

/** The ports in the order they were added, which datapath forwards their frames, and ports whose MTU is larger than a tunnel's. */
export const showResultSchema = z.object({
  datapath: z.enum(['kernel', 'user']),
  ports: z.array(z.string()),
  /** Only when there is one. */
  mtuWarnings: z.array(mtuWarningSchema).optional(),
});
export type ShowResult = z.infer<typeof showResultSchema>;
export type TunnelShowResult = z.infer<typeof tunnelShowResultSchema>;
export type TunnelAddRequest = Omit<Extract<Request, { cmd: 'tunnel-add' }>, 'v' | 'id' | 'cmd'>;

export type NamedPortStats = z.infer<typeof namedPortStatsSchema>;
export type StatsResult = z.infer<typeof statsResultSchema>;

/** What a successful request yields to the client, by command. */
export interface ResultOf {
  add: null;
  delete: null;
  show: ShowResult;
  fdb: FdbResult;
  stats: StatsResult;
  vlan: VlanResult;
  'acl-add': { id: number };
  'acl-del': null;
  'acl-show': AclShowResult;
  'mirror-add': null;
  'mirror-del': null;
  'mirror-show': MirrorShowResult;
  trace: TraceResult;
  'tunnel-add': null;
  'tunnel-del': null;
  'tunnel-show': TunnelShowResult;
}

/** What the last (for most commands the only) reply line carries, by command. */
export const resultSchemas = {
  add: z.null(),
  delete: z.null(),
  show: showResultSchema,
  fdb: fdbEndSchema,
  stats: statsResultSchema,
  vlan: vlanResultSchema,
  'acl-add': z.object({ id: count }),
  'acl-del': z.null(),
  'acl-show': aclShowResultSchema,
  'mirror-add': z.null(),
  'mirror-del': z.null(),
  'mirror-show': mirrorShowResultSchema,
  trace: traceResultSchema,
  'tunnel-add': z.null(),
  'tunnel-del': z.null(),
  'tunnel-show': tunnelShowResultSchema,
} as const;

// ---- replies ----------------------------------------------------------------

export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

/**
 * id is null when the request was too broken to carry a usable id. A reply
 * with `part` is one piece of a streamed result: more lines follow.
 */
export type Reply =
  | { v: 1; id: number | null; ok: true; result: unknown }
  | { v: 1; id: number | null; ok: true; part: unknown }
  | { v: 1; id: number | null; ok: false; error: ErrorBody };

export const replySchema = z.discriminatedUnion('ok', [
  z.object({
    v,
    id: idSchema.nullable(),
    ok: z.literal(true),
    result: z.unknown(),
    part: z.record(z.string(), z.unknown()).optional(),
  }),
  z.object({
    v,
    id: idSchema.nullable(),
    ok: z.literal(false),
    // A newer daemon may send a code this client does not know: keep the message.
    error: z.object({ code: z.string(), message: z.string() }),
  }),
]);

// ---- parsing and encoding ----------------------------------------------------

export type ParsedRequest =
  | { ok: true; request: Request }
  | { ok: false; id: number | null; error: ErrorBody };

function protoError(id: number | null, message: string): ParsedRequest {
  return { ok: false, id, error: { code: 'EPROTO', message } };
}

/** Describe the first zod issue in one short line. */
function describeIssue(err: z.ZodError, obj: Record<string, unknown>): string {
  const issue = err.issues[0];
  if (!issue) return 'invalid request';
  const path = issue.path.join('.');
  switch (issue.code) {
    case z.ZodIssueCode.unrecognized_keys:
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
    case z.ZodIssueCode.invalid_union_discriminator:
      return `unknown command ${JSON.stringify(obj['cmd'])}`;
    case z.ZodIssueCode.invalid_literal:
      if (path === 'v') return `unsupported protocol version ${JSON.stringify(obj['v'])} (this daemon speaks ${PROTOCOL_VERSION})`;
      break;
    case z.ZodIssueCode.invalid_type:
      if (issue.received === 'undefined') return `missing field '${path}'`;
      break;
    default:
      break;
  }
  return path ? `field '${path}': ${issue.message}` : issue.message;
}

/**
 * Parse one request line (without its newline). Never throws: every problem
 * becomes an EPROTO error carrying the request's id when one could be read.
 */
export function parseRequest(line: string | Uint8Array): ParsedRequest {
  let text: string;
  if (typeof line === 'string') {
    text = line;
  } else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(line);
    } catch {
      return protoError(null, 'request is not valid UTF-8');
    }
  }
  if (Buffer.byteLength(text, 'utf8') > MAX_LINE_BYTES) {
    return protoError(null, `request line too long (more than ${MAX_LINE_BYTES} bytes)`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return protoError(null, 'request is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return protoError(null, 'request is not a JSON object');
  }
  const obj = value as Record<string, unknown>;
  const idResult = idSchema.safeParse(obj['id']);
  const id = idResult.success ? idResult.data : null;
  // Check the version first so that a client from the future gets told so,
  // not that its command or fields are unknown.
  if (obj['v'] !== PROTOCOL_VERSION) {
    if (!('v' in obj)) return protoError(id, "missing field 'v' (protocol version)");
    return protoError(id, `unsupported protocol version ${JSON.stringify(obj['v'])} (this daemon speaks ${PROTOCOL_VERSION})`);
  }
  if (typeof obj['cmd'] !== 'string' || !(COMMANDS as readonly string[]).includes(obj['cmd'])) {
    if (!('cmd' in obj)) return protoError(id, "missing field 'cmd'");
    return protoError(id, `unknown command ${JSON.stringify(obj['cmd'])}`);
  }
  const parsed = requestSchema.safeParse(obj);
  if (!parsed.success) return protoError(id, describeIssue(parsed.error, obj));
  return { ok: true, request: parsed.data };
}

export function encodeRequest(req: Request): string {
  return `${JSON.stringify(req)}\n`;
}

export function okReply(id: number | null, result: unknown): Reply {
  return { v: PROTOCOL_VERSION, id, ok: true, result: result === undefined ? null : result };
}

export function partReply(id: number | null, part: unknown): Reply {
  return { v: PROTOCOL_VERSION, id, ok: true, part };
}

export function errorReply(id: number | null, code: ErrorCode, message: string): Reply {
  return { v: PROTOCOL_VERSION, id, ok: false, error: { code, message } };
}

export function encodeReply(reply: Reply): string {
  return `${JSON.stringify(reply)}\n`;
}

/**
 * The lines of a successful reply to `cmd`: one line, or for fdb its part
 * lines and then the count. Lazy: a big table is formatted as it is sent.
 */
export function* resultLines(id: number | null, cmd: Command, result: unknown): Generator<string, void, undefined> {
  if (cmd !== 'fdb') {
    yield encodeReply(okReply(id, result));
    return;
  }
  let part: FdbEntry[] = [];
  let count = 0;
  for (const entry of (result as FdbListing).entries) {
    part.push(entry);
    if (part.length === FDB_PART_ENTRIES) {
      yield encodeReply(partReply(id, { entries: part }));
      count += part.length;
      part = [];
    }
  }
  if (part.length > 0) {
    yield encodeReply(partReply(id, { entries: part }));
    count += part.length;
  }
  yield encodeReply(okReply(id, { count }));
}

export type ParsedReply = { ok: true; reply: z.infer<typeof replySchema> } | { ok: false; message: string };

/** Parse one reply line (without its newline). Never throws. */
export function parseReply(line: string): ParsedReply {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, message: 'reply is not valid JSON' };
  }
  const parsed = replySchema.safeParse(value);
  if (!parsed.success) return { ok: false, message: `malformed reply (${describeIssue(parsed.error, {})})` };
  return { ok: true, reply: parsed.data };
}

// ---- line framing -------------------------------------------------------------

export type LineEvent = { kind: 'line'; line: Buffer } | { kind: 'overflow' };

/**
 * Splits a byte stream into lines of at most `max` bytes (newline excluded).
 * A line longer than that yields one 'overflow' and the splitter then refuses
 * everything after it (the connection is to be closed).
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private overflowed = false;

  constructor(private readonly max = MAX_LINE_BYTES) {}

  push(chunk: Buffer): LineEvent[] {
    const out: LineEvent[] = [];
    if (this.overflowed) return out;
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl === -1 ? chunk.length : nl;
      const piece = chunk.subarray(start, end);
      if (this.size + piece.length > this.max) {
        this.overflowed = true;
        this.parts = [];
        this.size = 0;
        out.push({ kind: 'overflow' });
        return out;
      }
      if (nl === -1) {
        this.parts.push(piece);
        this.size += piece.length;
        break;
      }
      const line = this.parts.length === 0 ? piece : Buffer.concat([...this.parts, piece]);
      this.parts = [];
      this.size = 0;
      out.push({ kind: 'line', line: stripCR(line) });
      start = nl + 1;
    }
    return out;
  }

  /** Bytes held of a line whose newline has not come yet. */
  get buffered(): number {
    return this.size;
  }

  /** Bytes received after the last newline (an unterminated last line), if any. */
  rest(): Buffer | null {
    if (this.overflowed || this.size === 0) return null;
    const line = Buffer.concat(this.parts);
    this.parts = [];
    this.size = 0;
    return stripCR(line);
  }
}

function stripCR(line: Buffer): Buffer {
  return line.length > 0 && line[line.length - 1] === 0x0d ? line.subarray(0, line.length - 1) : line;
}
