// Command line of vswconfig:
//   vswconfig [--socket PATH] [-j] add IFNAME | delete IFNAME | show | fdb | stats
//             | vlan IFNAME [access VID | trunk [VIDS] | native-tagged VID [VIDS] | native-untagged VID [VIDS]]
//             | acl add [priority N] [in PORT] [src MAC[/MASK]] [dst MAC[/MASK]] [type ETHERTYPE] [vlan VID|untagged] allow|drop
//             | acl del ID | acl show
//             | mirror add NAME output PORT [select-ingress PORTS] [select-egress PORTS] [select-vlan VIDS]
//             | mirror del NAME | mirror show
//             | trace in PORT [src MAC] [dst MAC] [vlan VID] [type ETHERTYPE]
//             | tunnel add NAME vxlan vni N remote IP[,IP...] [local IP] [dstport PORT] [vlan VID]
//             | tunnel del NAME | tunnel show | monitor | restart
//             | capture IFNAME [in|out|both] [-c COUNT] [-w FILE] | capture drops [IFNAME] [-c COUNT] [-w FILE] | --help
// Parsing never touches the daemon: a usage error is found before any connection.

import { parseArgs } from 'node:util';
import { DEFAULT_SOCKET_PATH, ifnameProblem } from '../control/protocol.js';
import { parseVid, parseVids, type PortVlan } from '../core/vlan.js';
import { parseAclVlan, parseEthertype, parseMacMask, parsePriority } from '../core/acl.js';
import type { AclAddRequest, MirrorAddRequest, TraceRequest, TunnelAddRequest } from '../control/requests.js';
import { tunnelSpecProblem } from '../control/tunnel-spec.js';
import { mirrorNameProblem } from '../core/mirror.js';
import { parseMac } from '../core/mac.js';
import { TRACE_DEFAULT_DST, TRACE_DEFAULT_SRC } from '../core/trace.js';
import type { CaptureCommand } from './capture.js';

export const USAGE = `usage: vswconfig [--socket PATH] [-j] COMMAND

commands:
  add IFNAME      attach the network interface IFNAME to the switch
  delete IFNAME   detach IFNAME from the switch
  show            list the attached interfaces, one per line
  fdb             list the learned MAC addresses (forwarding database)
  stats           per-port counters, drops by reason, FDB counters
  vlan IFNAME     print the port's 802.1Q mode; or set it (applies to the next frame):
    vlan IFNAME access VID                 untagged frames are in VLAN VID; tagged ones are dropped
    vlan IFNAME trunk [VIDS]               tagged frames of VIDS (default: all) pass, tagged
    vlan IFNAME native-tagged VID [VIDS]   a trunk whose untagged frames are in VLAN VID (leaves tagged)
    vlan IFNAME native-untagged VID [VIDS] the same, VLAN VID leaving untagged
                  VID: 1-4094; VIDS: a list such as 10,20,100-199
  acl add [priority N] [in PORT] [src MAC[/MASK]] [dst MAC[/MASK]] [type ETHERTYPE] [vlan VID|untagged] allow|drop
                  add an L2 filter, checked at ingress before learning (prints its id);
                  the highest priority wins (0-65535, default 32768), then the older rule;
                  no match allows. ETHERTYPE: 0x0600-0xffff, the type after the outer tag
  acl del ID      delete rule ID
  acl show        list the rules in match order: id, priority, match, action, hits
  mirror add NAME output PORT [select-ingress PORTS] [select-egress PORTS] [select-vlan VIDS]
                  copy the frames entering a select-ingress port or leaving a select-egress
                  port (no list: every frame), of VIDS (default: all), to PORT, once each;
                  PORT then only sends copies. PORTS: IFNAME[,IFNAME…]
  mirror del NAME delete mirror NAME
  mirror show     list the mirrors with the frames each copied
  trace in PORT [src MAC] [dst MAC] [vlan VID] [type ETHERTYPE]
                  run a made-up frame through the pipeline, sending nothing and changing
                  nothing, and print each stage and the verdict (default: src
                  ${TRACE_DEFAULT_SRC}, dst ${TRACE_DEFAULT_DST}, untagged, type 0x0800)
  tunnel add NAME vxlan vni N remote IP[,IP...] [local IP] [dstport PORT] [vlan VID]
                  create a VXLAN device NAME (VNI 0-16777215, UDP port default 4789) sending
                  unknown and group frames to every remote, and attach it as a port;
                  vlan VID: it carries that VLAN only (an access port), else all
  tunnel del NAME detach the tunnel and delete its device
  tunnel show     name, VNI, local, remotes, MTU, VLAN, frames in/out; ports whose MTU is too big
  monitor         print what changes, one line per event, until interrupted: stations learned,
                  moved, aged, evicted, flushed; ports added, deleted, up, down, MTU, renamed;
                  VLAN modes, ACL rules, mirrors, tunnels (over a rate, events are counted
                  and reported once a second as suppressed)

  capture IFNAME [in|out|both] [-c COUNT] [-w FILE]
                  the frames entering (in), leaving (out) or both (default) port IFNAME, one
                  line each (time, port, direction, MACs, VLAN, ethertype, length), until
                  Ctrl-C, COUNT frames or the port's end; -w FILE: as pcapng (-w -: stdout)
  capture drops [IFNAME] [-c COUNT] [-w FILE]
                  the frames the switch drops (arriving on IFNAME, default every port), each
                  with its reason (pcapng: the packet's comment)
  restart         replace vswitchd by a new one started from the files on disk, same options
                  and configuration; the kernel datapath forwards throughout (prints the new pid)

options:
  --socket PATH   control socket of vswitchd (default: $VSWITCH_SOCKET, else ${DEFAULT_SOCKET_PATH})
  -c COUNT        capture: end after COUNT frames
  -w FILE         capture: write pcapng to FILE ('-': stdout)
  -j, --json      show, fdb, stats, vlan, acl show, mirror show, tunnel show and trace print one JSON document;
                  monitor one JSON object per line
  -h, --help      show this help
`;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type CliCommand =
  | { kind: 'help' }
  // add and delete print nothing, so -j changes nothing for them (as with ip -j link add).
  | { kind: 'run'; socket: string; cmd: 'add' | 'delete'; ifname: string }
  | { kind: 'run'; socket: string; cmd: 'show' | 'fdb' | 'stats' | 'monitor'; json: boolean }
  | { kind: 'run'; socket: string; cmd: 'restart' }
  // set: null only prints the port's mode.
  | { kind: 'run'; socket: string; cmd: 'vlan'; ifname: string; set: PortVlan | null; json: boolean }
  | { kind: 'run'; socket: string; cmd: 'acl-add'; rule: AclAddRequest }
  | { kind: 'run'; socket: string; cmd: 'acl-del'; rule: number }
  | { kind: 'run'; socket: string; cmd: 'acl-show'; json: boolean }
  | { kind: 'run'; socket: string; cmd: 'mirror-add'; mirror: MirrorAddRequest }
  | { kind: 'run'; socket: string; cmd: 'mirror-del'; name: string }
  | { kind: 'run'; socket: string; cmd: 'mirror-show'; json: boolean }
  | { kind: 'run'; socket: string; cmd: 'trace'; frame: TraceRequest; json: boolean }
  | { kind: 'run'; socket: string; cmd: 'tunnel-add'; tunnel: TunnelAddRequest }
  | { kind: 'run'; socket: string; cmd: 'tunnel-del'; name: string }
  | { kind: 'run'; socket: string; cmd: 'tunnel-show'; json: boolean }
  | ({ kind: 'run'; cmd: 'capture' } & CaptureCommand);

const SUBCOMMANDS = ['add', 'delete', 'show', 'fdb', 'stats', 'vlan', 'acl', 'mirror', 'trace', 'tunnel', 'monitor', 'capture', 'restart'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

function isSubcommand(s: string): s is Subcommand {
  return (SUBCOMMANDS as readonly string[]).includes(s);
}

const OPTIONS = {
  socket: { type: 'string' },
  json: { type: 'boolean', short: 'j' },
  help: { type: 'boolean', short: 'h' },
  count: { type: 'string', short: 'c' },
  write: { type: 'string', short: 'w' },
} as const;

/** Parse argv (without node and script). Throws UsageError with a one-line message. */
export function parseCliArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): CliCommand {
  // Not strict: parseArgs's own messages are long; the tokens let us say it in one line.
  const { positionals, tokens } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: false, tokens: true });
  let socket: string | undefined;
  let json = false;
  let help = false;
  let count: string | undefined;
  let write: string | undefined;
  let problem: string | null = null;
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    switch (token.name) {
      case 'help':
        help = true;
        break;
      case 'socket':
        if (token.value === undefined) problem ??= "option '--socket' needs a path";
        else if (token.value === '') problem ??= "option '--socket' needs a non-empty path";
        else socket = token.value;
        break;
      case 'json':
        if (token.value !== undefined) problem ??= `option '${token.rawName}' takes no value`;
        json = true;
        break;
      case 'count':
      case 'write':
        if (token.value === undefined || token.value === '') problem ??= `option '${token.rawName}' needs a value`;
        else if (token.name === 'count') count = token.value;
        else write = token.value;
        break;
      default:
        problem ??= `unknown option '${token.rawName}'`;
    }
  }

  if (help) return { kind: 'help' };
  if (problem !== null) throw new UsageError(problem);
  socket ??= env['VSWITCH_SOCKET'] || DEFAULT_SOCKET_PATH;

  const [sub, ...rest] = positionals;
  if (sub === undefined) throw new UsageError(`missing command (one of ${SUBCOMMANDS.join(', ')})`);
  if (!isSubcommand(sub)) throw new UsageError(`unknown subcommand '${sub}'`);
  if (sub !== 'capture' && (count !== undefined || write !== undefined)) throw new UsageError(`options -c and -w are for 'capture'`);
  if (sub === 'capture') return { kind: 'run', cmd: 'capture', ...parseCapture(socket, rest, count, write) };

  if (sub === 'add' || sub === 'delete') {
    const [ifname, extra] = rest;
    if (ifname === undefined) throw new UsageError(`missing interface name for '${sub}'`);
    if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
    return { kind: 'run', socket, cmd: sub, ifname: checkedIfname(ifname) };
  }
  if (sub === 'vlan') {
    const [ifname, mode, ...params] = rest;
    if (ifname === undefined) throw new UsageError("missing interface name for 'vlan'");
    return { kind: 'run', socket, cmd: sub, ifname: checkedIfname(ifname), set: mode === undefined ? null : parseVlanMode(mode, params), json };
  }
  if (sub === 'acl') {
    const [action, ...params] = rest;
    switch (action) {
      case 'add':
        return { kind: 'run', socket, cmd: 'acl-add', rule: parseAclAdd(params) };
      case 'del': {
        const [id, extra] = params;
        if (id === undefined) throw new UsageError("missing rule id for 'acl del'");
        if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
        if (!/^\d{1,15}$/.test(id)) throw new UsageError(`bad ACL rule id '${id}'`);
        return { kind: 'run', socket, cmd: 'acl-del', rule: Number(id) };
      }
      case 'show':
        if (params.length > 0) throw new UsageError(`unexpected argument '${params[0]}'`);
        return { kind: 'run', socket, cmd: 'acl-show', json };
      case undefined:
        throw new UsageError("missing 'acl' command (one of add, del, show)");
      default:
        throw new UsageError(`unknown 'acl' command '${action}' (one of add, del, show)`);
    }
  }
  if (sub === 'mirror') {
    const [action, name, ...params] = rest;
    if (action === 'show') {
      if (name !== undefined) throw new UsageError(`unexpected argument '${name}'`);
      return { kind: 'run', socket, cmd: 'mirror-show', json };
    }
    if (action !== 'add' && action !== 'del') {
      throw new UsageError(action === undefined ? "missing 'mirror' command (one of add, del, show)" : `unknown 'mirror' command '${action}' (one of add, del, show)`);
    }
    if (name === undefined) throw new UsageError(`missing mirror name for 'mirror ${action}'`);
    const problem = mirrorNameProblem(name);
    if (problem !== null) throw new UsageError(problem);
    if (action === 'del') {
      if (params.length > 0) throw new UsageError(`unexpected argument '${params[0]}'`);
      return { kind: 'run', socket, cmd: 'mirror-del', name };
    }
    return { kind: 'run', socket, cmd: 'mirror-add', mirror: parseMirrorAdd(name, params) };
  }
  if (sub === 'trace') return { kind: 'run', socket, cmd: 'trace', frame: parseTrace(rest), json };
  if (sub === 'tunnel') {
    const [action, ...params] = rest;
    switch (action) {
      case 'add':
        return { kind: 'run', socket, cmd: 'tunnel-add', tunnel: parseTunnelAdd(params) };
      case 'del': {
        const [name, extra] = params;
        if (name === undefined) throw new UsageError("missing tunnel name for 'tunnel del'");
        if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
        return { kind: 'run', socket, cmd: 'tunnel-del', name: checkedIfname(name) };
      }
      case 'show':
        if (params.length > 0) throw new UsageError(`unexpected argument '${params[0]}'`);
        return { kind: 'run', socket, cmd: 'tunnel-show', json };
      case undefined:
        throw new UsageError("missing 'tunnel' command (one of add, del, show)");
      default:
        throw new UsageError(`unknown 'tunnel' command '${action}' (one of add, del, show)`);
    }
  }
  if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`);
  if (sub === 'restart') return { kind: 'run', socket, cmd: sub };
  return { kind: 'run', socket, cmd: sub, json };
}

/** `IFNAME [in|out|both]` or `drops [IFNAME]`, with -c and -w. */
function parseCapture(socket: string, words: readonly string[], count: string | undefined, write: string | undefined): CaptureCommand {
  const [first, second, extra] = words;
  if (first === undefined) throw new UsageError("missing interface name (or 'drops') for 'capture'");
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
  const cmd: CaptureCommand = { socket, what: 'both' };
  if (first === 'drops') {
    cmd.what = 'drops';
    if (second !== undefined) cmd.ifname = checkedIfname(second);
  } else {
    cmd.ifname = checkedIfname(first);
    if (second !== undefined) {
      if (second !== 'in' && second !== 'out' && second !== 'both') throw new UsageError(`unknown capture direction '${second}' (in, out or both)`);
      cmd.what = second;
    }
  }
  if (count !== undefined) {
    if (!/^[0-9]+$/.test(count) || Number(count) < 1 || !Number.isSafeInteger(Number(count))) throw new UsageError(`invalid count '${count}' (a whole number from 1)`);
    cmd.count = Number(count);
  }
  if (write !== undefined) cmd.write = write;
  return cmd;
}

/** Runs a parser of core/, its RangeError becoming a UsageError. */
function usage<T>(what: () => T): T {
  try {
    return what();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** `word value` pairs, each word one of `words` and given once. */
function keywordPairs(params: readonly string[], words: readonly string[], command: string): Map<string, string> {
  const pairs = new Map<string, string>();
  for (let k = 0; k < params.length; k += 2) {
    const word = params[k]!;
    if (!words.includes(word)) throw new UsageError(`unknown '${command}' argument '${word}' (expected ${words.join(', ')})`);
    if (pairs.has(word)) throw new UsageError(`'${word}' given twice`);
    const value = params[k + 1];
    if (value === undefined) throw new UsageError(`missing value for '${word}'`);
    pairs.set(word, value);
  }
  return pairs;
}

function checkedIfname(value: string): string {
  const problem = ifnameProblem(value);
  if (problem !== null) throw new UsageError(`invalid interface name '${value}': ${problem}`);
  return value;
}

/** `output PORT [select-ingress PORTS] [select-egress PORTS] [select-vlan VIDS]`. */
function parseMirrorAdd(name: string, params: readonly string[]): MirrorAddRequest {
  const p = keywordPairs(params, ['output', 'select-ingress', 'select-egress', 'select-vlan'], 'mirror add');
  const output = p.get('output');
  if (output === undefined) throw new UsageError("missing 'output PORT' for 'mirror add'");
  const ports = (word: string): string[] | undefined => p.get(word)?.split(',').map(checkedIfname);
  const m: MirrorAddRequest = { name, output: checkedIfname(output) };
  const ingress = ports('select-ingress');
  const egress = ports('select-egress');
  const vids = p.get('select-vlan');
  if (ingress !== undefined) m.selectIngress = ingress;
  if (egress !== undefined) m.selectEgress = egress;
  if (vids !== undefined) m.selectVlans = usage(() => parseVids(vids));
  for (const s of [...(ingress ?? []), ...(egress ?? [])]) {
    if (s === m.output) throw new UsageError(`${s} cannot be both the output of mirror ${name} and selected by it`);
  }
  return m;
}

/** `in PORT [src MAC] [dst MAC] [vlan VID] [type ETHERTYPE]`. */
function parseTrace(params: readonly string[]): TraceRequest {
  const p = keywordPairs(params, ['in', 'src', 'dst', 'vlan', 'type'], 'trace');
  const port = p.get('in');
  if (port === undefined) throw new UsageError("missing 'in PORT' for 'trace'");
  const t: TraceRequest = { in: checkedIfname(port) };
  for (const word of ['src', 'dst'] as const) {
    const mac = p.get(word);
    if (mac === undefined) continue;
    usage(() => parseMac(mac));
    t[word] = mac;
  }
  const vlan = p.get('vlan');
  const type = p.get('type');
  if (vlan !== undefined) t.vlan = usage(() => parseVid(vlan));
  if (type !== undefined) t.type = usage(() => parseEthertype(type));
  return t;
}

/** `NAME vxlan vni N remote IP[,IP...] [local IP] [dstport PORT] [vlan VID]`, checked as the daemon checks it. */
function parseTunnelAdd(params: readonly string[]): TunnelAddRequest {
  const [name, type, ...words] = params;
  if (name === undefined) throw new UsageError("missing tunnel name for 'tunnel add'");
  checkedIfname(name);
  if (type === undefined) throw new UsageError("missing tunnel type for 'tunnel add' (vxlan)");
  if (type !== 'vxlan') throw new UsageError(`unknown tunnel type '${type}' (vxlan)`);
  const p = keywordPairs(words, ['vni', 'remote', 'local', 'dstport', 'vlan'], 'tunnel add');
  const given = Object.fromEntries(p) as Record<string, string | undefined>;
  const number = (word: string, what: string): number | undefined => {
    const text = given[word];
    if (text === undefined) return undefined;
    if (!/^\d{1,10}$/.test(text)) throw new UsageError(`bad ${what} '${text}'`);
    return Number(text);
  };
  const vni = number('vni', 'VNI');
  if (vni === undefined) throw new UsageError("missing 'vni' for 'tunnel add'");
  if (given['remote'] === undefined) throw new UsageError("missing 'remote' for 'tunnel add'");
  const spec: TunnelAddRequest = { name, vni, remotes: given['remote'].split(',') };
  if (given['local'] !== undefined) spec.local = given['local'];
  const dstport = number('dstport', 'UDP port');
  if (dstport !== undefined) spec.dstport = dstport;
  const vlan = number('vlan', 'VLAN ID');
  if (vlan !== undefined) spec.vlan = vlan;
  const specProblem = tunnelSpecProblem(spec);
  if (specProblem !== null) throw new UsageError(specProblem);
  return spec;
}

/** `[priority N] [in PORT] [src MAC[/MASK]] [dst MAC[/MASK]] [type ETHERTYPE] [vlan VID|untagged] allow|drop`. */
function parseAclAdd(params: readonly string[]): AclAddRequest {
  const rule: Partial<AclAddRequest> = {};
  for (let k = 0; k < params.length; k++) {
    const word = params[k]!;
    if (word === 'allow' || word === 'drop') {
      if (k !== params.length - 1) throw new UsageError(`unexpected argument '${params[k + 1]}' after '${word}'`);
      rule.action = word;
      break;
    }
    if (!['priority', 'in', 'src', 'dst', 'type', 'vlan'].includes(word)) throw new UsageError(`unknown ACL match '${word}' (expected priority, in, src, dst, type, vlan, allow or drop)`);
    if ((rule as Record<string, unknown>)[word] !== undefined) throw new UsageError(`'${word}' given twice`);
    const value = params[++k];
    if (value === undefined) throw new UsageError(`missing value for '${word}'`);
    switch (word) {
      case 'priority':
        rule.priority = usage(() => parsePriority(value));
        break;
      case 'in':
        rule.in = checkedIfname(value);
        break;
      case 'src':
      case 'dst':
        usage(() => parseMacMask(value));
        rule[word] = value;
        break;
      case 'type':
        rule.type = usage(() => parseEthertype(value));
        break;
      case 'vlan':
        rule.vlan = usage(() => parseAclVlan(value));
        break;
    }
  }
  if (rule.action === undefined) throw new UsageError("missing action for 'acl add' (allow or drop)");
  return rule as AclAddRequest;
}

/** `access VID`, `trunk [VIDS]`, `native-tagged VID [VIDS]`, `native-untagged VID [VIDS]`. */
function parseVlanMode(mode: string, params: readonly string[]): PortVlan {
  const most = mode === 'access' ? 1 : mode === 'trunk' ? 1 : 2;
  if (params.length > most) throw new UsageError(`unexpected argument '${params[most]}'`);
  switch (mode) {
    case 'access':
      if (params[0] === undefined) throw new UsageError("missing VLAN ID for 'access'");
      return { mode, tag: usage(() => parseVid(params[0]!)), trunks: null };
    case 'trunk':
      return { mode, tag: 0, trunks: params[0] === undefined ? null : usage(() => parseVids(params[0]!)) };
    case 'native-tagged':
    case 'native-untagged':
      if (params[0] === undefined) throw new UsageError(`missing native VLAN ID for '${mode}'`);
      return { mode, tag: usage(() => parseVid(params[0]!)), trunks: params[1] === undefined ? null : usage(() => parseVids(params[1]!)) };
    default:
      throw new UsageError(`unknown VLAN mode '${mode}' (one of access, trunk, native-tagged, native-untagged)`);
  }
}
