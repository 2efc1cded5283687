// vswconfig: the management command of vswitch.
//
//   vswconfig [--socket PATH] [-j] add IFNAME | delete IFNAME | show | fdb | stats | vlan IFNAME [MODE …]
//             | acl add … | acl del ID | acl show | mirror add … | mirror del NAME | mirror show
//             | trace in PORT … | tunnel … | monitor | --help
//
// Every error is one line on stderr starting with "vswconfig: "; exit status 2
// for a usage error (the daemon is not contacted), for a `vlan`, `acl add in`,
// `mirror add`, `trace` or a tunnel command naming an interface that is not a
// port, an `acl del` of no rule, a mirror the others forbid or a `mirror del`
// of none, a tunnel the daemon refuses as given (see tunnels.ts); 1 for
// anything else.

import { once } from 'node:events';
import { listFdb, monitor, request } from '../control/client.js';
import { oneLine, VswError } from '../errors.js';
import { parseCliArgs, USAGE, UsageError } from './args.js';
import { formatAcl, formatFdb, formatMirrors, formatShow, formatStats, formatTunnels, formatVlan, jsonAcl, jsonFdb, jsonFdbItems, jsonMirrors, jsonShow, jsonStats, jsonVlan } from './format.js';
import { formatEvent, jsonEvent } from './format-monitor.js';
import { formatTrace, jsonTrace } from './format-trace.js';
import { runCapture } from './capture.js';

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
      case 'show': {
        const { datapath, attach, ports, mtuWarnings } = await request(cmd.socket, { cmd: 'show' });
        print(cmd.json ? jsonShow(datapath, ports, mtuWarnings, attach) : formatShow(datapath, ports, mtuWarnings, attach));
        break;
      }
      case 'fdb': {
        // Each part is formatted as it comes and kept off the heap, so a table of millions fits;
        // nothing is printed before the count confirms the whole table, and the daemon never
        // waits for our stdout.
        const parts: Buffer[] = [];
        await listFdb(cmd.socket, (entries) => {
          parts.push(Buffer.from(cmd.json ? jsonFdbItems(entries) : formatFdb(entries)));
        });
        for (const piece of cmd.json ? jsonFdb(parts) : parts) process.stdout.write(piece);
        break;
      }
      case 'stats': {
        const stats = await request(cmd.socket, { cmd: 'stats' });
        print(cmd.json ? jsonStats(stats) : formatStats(stats));
        break;
      }
      case 'vlan': {
        const set = cmd.set === null ? {} : { mode: cmd.set.mode as 'access' | 'trunk' | 'native-tagged' | 'native-untagged', tag: cmd.set.tag, trunks: cmd.set.trunks };
        const r = await request(cmd.socket, { cmd: 'vlan', ifname: cmd.ifname, ...set });
        // Setting prints nothing, as add and delete; asking prints the mode.
        if (cmd.set === null) print(cmd.json ? jsonVlan(r) : formatVlan(r));
        break;
      }
      case 'acl-add': {
        const { id } = await request(cmd.socket, { cmd: 'acl-add', ...cmd.rule });
        print(`${id}\n`);
        break;
      }
      case 'acl-del':
        await request(cmd.socket, { cmd: 'acl-del', rule: cmd.rule });
        break;
      case 'acl-show': {
        const r = await request(cmd.socket, { cmd: 'acl-show' });
        print(cmd.json ? jsonAcl(r) : formatAcl(r));
        break;
      }
      case 'mirror-add':
        await request(cmd.socket, { cmd: 'mirror-add', ...cmd.mirror });
        break;
      case 'mirror-del':
        await request(cmd.socket, { cmd: 'mirror-del', name: cmd.name });
        break;
      case 'mirror-show': {
        const r = await request(cmd.socket, { cmd: 'mirror-show' });
        print(cmd.json ? jsonMirrors(r) : formatMirrors(r));
        break;
      }
      case 'trace': {
        const r = await request(cmd.socket, { cmd: 'trace', ...cmd.frame });
        print(cmd.json ? jsonTrace(r) : formatTrace(r));
        break;
      }
      case 'tunnel-add':
        await request(cmd.socket, { cmd: 'tunnel-add', ...cmd.tunnel });
        break;
      case 'tunnel-del':
        await request(cmd.socket, { cmd: 'tunnel-del', name: cmd.name });
        break;
      case 'monitor':
        // Until interrupted, or vswitchd goes. A full stdout stops the reading: the daemon then drops us, not waits.
        await monitor(cmd.socket, (ev) => {
          if (!process.stdout.write(cmd.json ? jsonEvent(ev) : formatEvent(ev))) return once(process.stdout, 'drain').then(() => undefined);
        });
        break;
      case 'restart': {
        // The new daemon answers within the old one's time to start it (restart.ts READY_TIMEOUT_MS).
        const { pid } = await request(cmd.socket, { cmd: 'restart' }, { timeoutMs: 60_000 });
        print(`${pid}\n`);
        break;
      }
      case 'tunnel-show': {
        const r = await request(cmd.socket, { cmd: 'tunnel-show' });
        print(cmd.json ? `${JSON.stringify(r)}\n` : formatTunnels(r));
        break;
      }
      case 'capture': {
        const end = await runCapture(cmd);
        const why = end.end === 'port-gone' ? ` (${cmd.ifname} is no longer a port)` : '';
        process.stderr.write(`${end.frames} frames captured, ${end.lost} lost${why}\n`);
        break;
      }
    }
  } catch (err) {
    // An unknown port is bad input to `vlan` and `acl add`, as a bad VID is; so is an ACL id that is not there.
    // So is a tunnel the daemon refuses (a local remote, no underlay, a name in use, not a tunnel), and deleting a tunnel as a plain port.
    const tunnelCmd = cmd.cmd === 'tunnel-add' || cmd.cmd === 'tunnel-del';
    const naming = ['vlan', 'acl-add', 'mirror-add', 'trace', 'capture'].includes(cmd.cmd) || tunnelCmd;
    const badInput =
      err instanceof VswError &&
      ((err.code === 'ENOTATTACHED' && naming) || (err.code === 'EEXIST' && tunnelCmd) || ['ENOACL', 'EMIRROR', 'ENOMIRROR', 'ETUNNEL'].includes(err.code));
    if (badInput) fail((err as VswError).message, 2);
    else if (err instanceof VswError) fail(err.message, 1);
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
