// Command line of vswconfig:
//   vswconfig [--socket PATH] add IFNAME | delete IFNAME | show | fdb | stats | --help
// Parsing never touches the daemon: a usage error is found before any connection.

import { DEFAULT_SOCKET_PATH, ifnameProblem } from '../control/protocol.js';

export const USAGE = `usage: vswconfig [--socket PATH] COMMAND

commands:
  add IFNAME      attach the network interface IFNAME to the switch
  delete IFNAME   detach IFNAME from the switch
  show            list the attached interfaces, one per line
  fdb             list the learned MAC addresses (forwarding database)
  stats           per-port counters, drops by reason, FDB counters

options:
  --socket PATH   control socket of vswitchd (default: $VSWITCH_SOCKET, else ${DEFAULT_SOCKET_PATH})
  -h, --help      show this help
`;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type CliCommand =
  | { kind: 'help' }
  | { kind: 'run'; socket: string; cmd: 'add' | 'delete'; ifname: string }
  | { kind: 'run'; socket: string; cmd: 'show' | 'fdb' | 'stats' };

const SUBCOMMANDS = ['add', 'delete', 'show', 'fdb', 'stats'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

function isSubcommand(s: string): s is Subcommand {
  return (SUBCOMMANDS as readonly string[]).includes(s);
}

/** Parse argv (without node and script). Throws UsageError with a one-line message. */
export function parseCliArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): CliCommand {
  let socket: string | undefined;
  const positional: string[] = [];
  let help = false;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h' || arg === '--help') {
      help = true;
    } else if (arg === '--socket') {
      const value = argv[i + 1];
      if (value === undefined) throw new UsageError("option '--socket' needs a path");
      if (value === '') throw new UsageError("option '--socket' needs a non-empty path");
      socket = value;
      i++;
    } else if (arg.startsWith('--socket=')) {
      const value = arg.slice('--socket='.length);
      if (value === '') throw new UsageError("option '--socket' needs a non-empty path");
      socket = value;
    } else if (arg.startsWith('-') && arg !== '-') {
      throw new UsageError(`unknown option '${arg}'`);
    } else {
      positional.push(arg);
    }
  }

  if (help) return { kind: 'help' };
  socket ??= env['VSWITCH_SOCKET'] || DEFAULT_SOCKET_PATH;

  const [sub, ...rest] = positional;
  if (sub === undefined) throw new UsageError(`missing command (one of ${SUBCOMMANDS.join(', ')})`);
  if (!isSubcommand(sub)) throw new UsageError(`unknown subcommand '${sub}'`);

  if (sub === 'add' || sub === 'delete') {
    const [ifname, extra] = rest;
    if (ifname === undefined) throw new UsageError(`missing interface name for '${sub}'`);
    if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
    const problem = ifnameProblem(ifname);
    if (problem !== null) throw new UsageError(`invalid interface name '${ifname}': ${problem}`);
    return { kind: 'run', socket, cmd: sub, ifname };
  }
  if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`);
  return { kind: 'run', socket, cmd: sub };
}
