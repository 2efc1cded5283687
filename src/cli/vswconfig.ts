// vswconfig: the management command of vswitch.
//
//   vswconfig [--socket PATH] add IFNAME | delete IFNAME | show | fdb | stats | --help
//
// Every error is one line on stderr starting with "vswconfig: "; exit status 2
// for a usage error (the daemon is not contacted), 1 for anything else.

import { request } from '../control/client.js';
import { VswError } from '../errors.js';
import { parseCliArgs, USAGE, UsageError } from './args.js';
import { formatFdb, formatShow, formatStats } from './format.js';

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ');
}

function fail(message: string, status: number): void {
  process.stderr.write(`vswconfig: ${oneLine(message)}\n`);
  process.exitCode = status;
}

function print(text: string): void {
  if (text) process.stdout.write(text);
}

async function main(argv: readonly string[]): Promise<void> {
  let cmd;
  try {
    cmd = parseCliArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      fail(`${err.message} (see 'vswconfig --help')`, 2);
      return;
    }
    throw err;
  }
  if (cmd.kind === 'help') {
    print(USAGE);
    return;
  }
  try {
    switch (cmd.cmd) {
      case 'add':
      case 'delete':
        await request(cmd.socket, { cmd: cmd.cmd, ifname: cmd.ifname });
        break;
      case 'show':
        print(formatShow((await request(cmd.socket, { cmd: 'show' })).ports));
        break;
      case 'fdb':
        print(formatFdb((await request(cmd.socket, { cmd: 'fdb' })).entries));
        break;
      case 'stats':
        print(formatStats(await request(cmd.socket, { cmd: 'stats' })));
        break;
    }
  } catch (err) {
    if (err instanceof VswError) fail(err.message, 1);
    else fail(`internal error: ${err instanceof Error ? err.message : String(err)}`, 1);
  }
}

// `vswconfig show | head -1` must not end in an EPIPE stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  fail(`cannot write output: ${err.code ?? err.message}`, 1);
});

main(process.argv.slice(2)).catch((err: unknown) => {
  fail(`internal error: ${err instanceof Error ? err.message : String(err)}`, 1);
});
