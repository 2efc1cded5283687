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
// The requests and what each command answers are in requests.ts and
// results.ts. Commands: add / delete (ifname), show, fdb, stats (no arguments),
// vlan, acl-*, mirror-*, trace, tunnel-*. Anything else — bad JSON, another
// version, an unknown command or field, a line longer than MAX_LINE_BYTES — is
// answered with code EPROTO (and the server then closes the connection).

import { z } from 'zod';
import type { ErrorCode } from '../errors.js';
import { COMMANDS, type Command, idSchema, PROTOCOL_VERSION, type Request, requestSchema, versionSchema } from './requests.js';
import type { FdbEntry, FdbListing } from './results.js';

export { ifnameProblem, MAX_IFNAME_BYTES } from '../os/ifname.js';

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


/**
 * Entries per part line of the fdb reply. An entry is at most about 100 bytes
 * of JSON (a 15-byte interface name escaped throughout is 30), so a part line
 * stays far below MAX_LINE_BYTES.
 */
export const FDB_PART_ENTRIES = 256;

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
    v: versionSchema,
    id: idSchema.nullable(),
    ok: z.literal(true),
    result: z.unknown(),
    part: z.record(z.string(), z.unknown()).optional(),
  }),
  z.object({
    v: versionSchema,
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
