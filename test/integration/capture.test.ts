// `vswconfig capture` (issue 17) on real namespaces, on the datapath
// VSWITCH_TEST_DATAPATH names: known frames sent with scapy are read back
// from the pcapng file by tcpdump and tshark byte for byte (VLAN tags as on
// the wire), in, out and both; `capture drops` records an LLDP frame as
// link-local and an ACL drop with its rule, as the packet comments tshark
// shows; two run at once; a capture ends when its port goes; out of a trunk
// with the tag the switch wrote; `-w -` into tcpdump -r -; Ctrl-C leaves a
// complete file; a frame refused on its way out (too big for the egress
// port's MTU) recorded on that port as mtu-exceeded; when the last capture
// of a port ends (Ctrl-C, -c, the port deleted) the datapath holds no flag
// of it (`stats -j`'s captures, and on the kernel datapath the program's
// `ports` map as bpftool dumps it); a flood's or a mirror's copy refused for
// the MTU recorded with the tag it would have left its own port with.

import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Daemon, type Host, Lab, run, TEST_DATAPATH, VSWCONFIG, waitUntil } from '../helpers/lab.js';

const lab = new Lab();
let H1: Host, H2: Host, H3: Host;
let daemon: Daemon;

const ok = (...args: string[]): string => lab.ok(...args);

interface Running {
  proc: ChildProcess;
  out: string;
  err: string;
  exited: Promise<number | null>;
}

function startCapture(...args: string[]): Running {
  const proc = lab.spawn(process.execPath, [VSWCONFIG, '--socket', lab.socket, 'capture', ...args]);
  const r: Running = { proc, out: '', err: '', exited: new Promise((res) => proc.on('exit', (code) => res(code))) };
  proc.stdout!.setEncoding('utf8').on('data', (s: string) => (r.out += s));
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => (r.err += s));
  return r;
}

/** Sends the frames (hex) from `h` until the capture ends (its -c reached); fails after 20 s. */
async function sendUntilDone(cap: Running, sends: Array<[Host, string]>): Promise<void> {
  let done = false;
  void cap.exited.then(() => (done = true));
  const deadline = Date.now() + 20_000;
  while (!done) {
    assert.ok(Date.now() < deadline, `the capture did not end: ${cap.err}`);
    for (const [h, hex] of sends) lab.sendFrames(h.ns, h.ifname, `Ether(bytes.fromhex('${hex}'))`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(await cap.exited, 0, cap.err);
}

function macHex(mac: string): string {
  return mac.replace(/:/g, '');
}

/** A frame as hex: MACs, tags (TCIs, 802.1Q), type, a payload naming it; at least 60 bytes. */
function frameHex(dst: string, src: string, tags: number[], type: number, label: string, size = 60): string {
  let hex = macHex(dst) + macHex(src);
  for (const t of tags) hex += '8100' + t.toString(16).padStart(4, '0');
  hex += type.toString(16).padStart(4, '0');
  hex += Buffer.from(label).toString('hex');
  while (hex.length < size * 2) hex += 'a5';
  return hex;
}

/** The frames of a pcap(ng) file as tcpdump -xx prints them, as hex strings. */
function tcpdumpFrames(file: string): string[] {
  const r = run('tcpdump', ['-r', file, '-nn', '-xx']);
  assert.equal(r.code, 0, r.stderr);
  const frames: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^\s+0x([0-9a-f]{4}):\s+(.*)$/.exec(line);
    if (m === null) {
      if (line.trim() !== '') frames.push('');
      continue;
    }
    frames[frames.length - 1] += m[2]!.replace(/\s+/g, '');
  }
  return frames;
}

/** tshark's fields of each frame of `file`, tab-separated. */
function tshark(file: string, ...fields: string[]): string[][] {
  const r = run('tshark', ['-r', file, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').map((l) => l.split('\t'));
}

before(async () => {
  [H1, H2] = [1, 2].map((n) => lab.addHost(n, { quiet: true }));
  H3 = lab.addHost(3, { quiet: true, mtu: 1000 }); // a port too small for a 1400-byte frame
  daemon = await lab.startSwitch();
  for (const h of lab.hosts) ok('add', h.port);
});

after(async () => {
  await lab.cleanup();
});

test('capture in: tcpdump and tshark read the pcapng file, the bytes are those sent, the VLAN tag as it was on the wire', async () => {
  const file = join(lab.dir, 'in.pcapng');
  const plain = frameHex('ff:ff:ff:ff:ff:ff', H1.mac, [], 0x0800, 'capture-plain');
  const tagged = frameHex('ff:ff:ff:ff:ff:ff', H1.mac, [0x2064], 0x0800, 'capture-tagged'); // VLAN 100, priority 1
  const big = frameHex('ff:ff:ff:ff:ff:ff', H1.mac, [], 0x0800, 'capture-big', 1400);
  const cap = startCapture(H1.port, 'in', '-c', '6', '-w', file);
  await sendUntilDone(cap, [[H1, plain], [H1, tagged], [H1, big]]);
  const sent = new Set([plain, tagged, big]);
  const frames = tcpdumpFrames(file);
  assert.equal(frames.length, 6, 'tcpdump reads the 6 frames');
  for (const f of frames) assert.ok(sent.has(f), `a frame as sent: ${f.slice(0, 80)}`);
  assert.ok(frames.includes(tagged), 'the tagged frame with its tag');
  const rows = tshark(file, 'frame.interface_name', 'frame.len', 'vlan.id', 'vlan.priority');
  assert.equal(rows.length, 6, 'tshark reads the 6 frames');
  for (const [ifname] of rows) assert.equal(ifname, H1.port, 'one interface block, named after the port');
  assert.ok(rows.some(([, len, vid, prio]) => len === '60' && vid === '100' && prio === '1'), `the tag in tshark: ${JSON.stringify(rows)}`);
  assert.ok(rows.some(([, len]) => len === '1400'), 'the 1400-byte frame whole');
  assert.match(cap.err, /^6 frames captured, 0 lost\n$/);
});

test('capture out and both: frames leaving the port, and both directions as text lines', async () => {
  const file = join(lab.dir, 'out.pcapng');
  const toH2 = frameHex(H2.mac, H1.mac, [], 0x88b5, 'capture-out');
  const cap = startCapture(H2.port, 'out', '-c', '2', '-w', file);
  await sendUntilDone(cap, [[H1, toH2]]);
  assert.deepEqual(tcpdumpFrames(file), [toH2, toH2], 'the frame as it left the port');
  assert.deepEqual(tshark(file, 'frame.interface_name', 'eth.type'), [[H2.port, '0x88b5'], [H2.port, '0x88b5']]);

  const back = frameHex(H1.mac, H2.mac, [], 0x88b6, 'capture-back');
  const both = startCapture(H1.port, 'both', '-c', '6');
  await sendUntilDone(both, [[H1, toH2], [H2, back]]);
  const lines = both.out.trim().split('\n');
  assert.equal(lines.length, 6, both.out);
  const re = (dir: string, src: string, dst: string, type: string): RegExp =>
    new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{6} ${H1.port} ${dir} ${src} > ${dst}, ethertype 0x${type}, length 60$`);
  assert.ok(lines.some((l) => re('in', H1.mac, H2.mac, '88b5').test(l)), `an in line: ${both.out}`);
  assert.ok(lines.some((l) => re('out', H2.mac, H1.mac, '88b6').test(l)), `an out line: ${both.out}`);
});

test('capture drops: an LLDP frame as link-local, an ACL drop naming its rule, as tshark packet comments; two captures at once', async () => {
  const file = join(lab.dir, 'drops.pcapng');
  const lldp = frameHex('01:80:c2:00:00:0e', H1.mac, [], 0x88cc, 'capture-lldp');
  const denied = frameHex(H1.mac, H2.mac, [], 0x88b7, 'capture-denied');
  const rule = ok('acl', 'add', 'type', '0x88b7', 'drop').trim();
  try {
    const all = startCapture('drops', '-c', '4', '-w', file);
    const onH1 = startCapture('drops', H1.port, '-c', '2');
    await sendUntilDone(all, [[H1, lldp], [H2, denied]]);
    await sendUntilDone(onH1, [[H1, lldp]]);
    const rows = tshark(file, 'frame.interface_name', 'frame.comment', 'eth.type');
    assert.equal(rows.length, 4);
    assert.ok(rows.some((r) => r[0] === H1.port && r[1] === 'link-local' && r[2] === '0x88cc'), JSON.stringify(rows));
    assert.ok(rows.some((r) => r[0] === H2.port && r[1] === `acl-drop rule ${rule}` && r[2] === '0x88b7'), JSON.stringify(rows));
    const frames = tcpdumpFrames(file);
    assert.ok(frames.includes(lldp) && frames.includes(denied), 'the dropped frames as sent');
    for (const l of onH1.out.trim().split('\n')) assert.match(l, new RegExp(` ${H1.port} drop link-local ${H1.mac} > 01:80:c2:00:00:0e, ethertype 0x88cc, length 60$`));
  } finally {
    ok('acl', 'del', rule);
  }
});

test('capture: ends when its port is deleted, and a bad port is refused in one line', async () => {
  const cap = startCapture(H2.port);
  // Its request reached the daemon once a frame of the port is captured.
  const hello = frameHex('ff:ff:ff:ff:ff:ff', H2.mac, [], 0x88b5, 'capture-hello');
  const deadline = Date.now() + 20_000;
  while (!cap.out.includes(`${H2.port} in`)) {
    assert.ok(Date.now() < deadline, 'the capture saw a frame');
    lab.sendFrames(H2.ns, H2.ifname, `Ether(bytes.fromhex('${hello}'))`);
    await new Promise((r) => setTimeout(r, 100));
  }
  ok('delete', H2.port);
  assert.equal(await cap.exited, 0);
  assert.match(cap.err, new RegExp(`frames captured, 0 lost \\(${H2.port} is no longer a port\\)\\n$`));
  ok('add', H2.port);
  const bad = lab.vswconfig('capture', 'nosuchport0');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^vswconfig: nosuchport0 is not a port of the switch\n$/);
  const usage = lab.vswconfig('capture', H1.port, 'sideways');
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /^vswconfig: unknown capture direction 'sideways'/);
});

/** `stats -j`'s count of ports the datapath copies frames of (read back from the datapath). */
function capturePorts(): number {
  return (JSON.parse(ok('stats', '-j')) as { captures: { ports: number } }).captures.ports;
}

function bpftool(...args: string[]): unknown {
  const r = run('bpftool', ['-j', ...args]);
  assert.equal(r.code, 0, `bpftool ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** The ids of the BPF maps this test's vswitchd holds open (its /proc fdinfo): other switches on the machine have maps of the same names. */
function daemonMapIds(): number[] {
  const dir = `/proc/${daemon.proc.pid}/fdinfo`;
  const ids: number[] = [];
  for (const fd of readdirSync(dir)) {
    let info: string;
    try {
      info = readFileSync(join(dir, fd), 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    const m = /^map_id:\s+(\d+)$/m.exec(info);
    if (m !== null) ids.push(Number(m[1]));
  }
  return [...new Set(ids)];
}

/**
 * Kernel datapath: the capture flags (struct vsw_port.capture, offset 36) of
 * every entry of this vswitchd's `ports` map, both banks, as bpftool dumps it.
 */
function kernelCaptureFlags(): number[] {
  const id = daemonMapIds().find((m) => (bpftool('map', 'show', 'id', String(m)) as { name: string }).name === 'ports');
  assert.ok(id !== undefined, "vswitchd holds the program's ports map");
  const entries = bpftool('map', 'dump', 'id', String(id)) as Array<{ value: string[] }>;
  assert.ok(entries.length > 0, 'the ports map dumped');
  return entries.map(({ value }) => value.slice(36, 40).reduce((n, b, k) => n + Number(b) * 2 ** (8 * k), 0));
}

/** Nothing of any capture left in the datapath: its count is 0 and, on the kernel datapath, every ports entry's flags are 0. */
function noCaptureLeft(): boolean {
  if (capturePorts() !== 0) return false;
  return TEST_DATAPATH !== 'kernel' || kernelCaptureFlags().every((f) => f === 0);
}

/** Starts a capture and waits until the datapath takes frames of `ports` ports for it (flags set: the count, and the map on the kernel datapath). */
async function startedCapture(ports: number, ...args: string[]): Promise<Running> {
  const cap = startCapture(...args);
  const set = await waitUntil(() => capturePorts() === ports && (TEST_DATAPATH !== 'kernel' || kernelCaptureFlags().filter((f) => f !== 0).length >= ports), 10_000);
  assert.ok(set, `the datapath's flags for ${args.join(' ')}: ${capturePorts()} ports; ${cap.err}`);
  return cap;
}

test("capture drops: a frame too big for the egress port's MTU is recorded on that port as mtu-exceeded, counted under it", async () => {
  const file = join(lab.dir, 'mtu.pcapng');
  const big = frameHex('ff:ff:ff:ff:ff:ff', H1.mac, [], 0x88b5, 'capture-mtu', 1400);
  const before = (JSON.parse(ok('stats', '-j')) as { drops: Record<string, number> }).drops['mtu-exceeded']!;
  const cap = startCapture('drops', H3.port, '-c', '2', '-w', file);
  await sendUntilDone(cap, [[H1, big]]);
  assert.deepEqual(tcpdumpFrames(file), [big, big], 'the refused frame as it came, whole');
  assert.deepEqual(tshark(file, 'frame.interface_name', 'frame.comment', 'frame.len'), [
    [H3.port, 'mtu-exceeded', '1400'],
    [H3.port, 'mtu-exceeded', '1400'],
  ]);
  const after = (JSON.parse(ok('stats', '-j')) as { drops: Record<string, number> }).drops['mtu-exceeded']!;
  assert.ok(after - before >= 2, `the drops counted as mtu-exceeded: ${before} -> ${after}`);
  // As text: the egress port, the reason.
  const text = startCapture('drops', '-c', '1');
  await sendUntilDone(text, [[H1, big]]);
  assert.match(text.out, new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{6} ${H3.port} drop mtu-exceeded ${H1.mac} > ff:ff:ff:ff:ff:ff, ethertype 0x88b5, length 1400\n$`));
});

test('capture: when the last capture of a port ends (Ctrl-C, -c, the port deleted), no flag of it is left in the datapath', async () => {
  assert.ok(noCaptureLeft(), 'no flag before');
  // Ctrl-C, with two captures running: the one left keeps its flags until it ends.
  const both = await startedCapture(1, H1.port, 'both');
  const drops = await startedCapture(2, 'drops', H2.port);
  both.proc.kill('SIGINT');
  assert.equal(await both.exited, 0, both.err);
  assert.ok(await waitUntil(() => capturePorts() === 1, 10_000), 'the other capture keeps its port flagged');
  drops.proc.kill('SIGINT');
  assert.equal(await drops.exited, 0, drops.err);
  assert.ok(await waitUntil(noCaptureLeft, 10_000), 'the flags cleared after Ctrl-C');

  // -c reached: a capture of every port's drops.
  const lldp = frameHex('01:80:c2:00:00:0e', H1.mac, [], 0x88cc, 'capture-flags');
  const counted = await startedCapture(lab.hosts.length, 'drops', '-c', '1');
  await sendUntilDone(counted, [[H1, lldp]]);
  assert.ok(await waitUntil(noCaptureLeft, 10_000), 'the flags cleared after -c');

  // The port deleted.
  const gone = await startedCapture(1, H2.port, 'in');
  ok('delete', H2.port);
  assert.equal(await gone.exited, 0, gone.err);
  try {
    assert.ok(await waitUntil(noCaptureLeft, 10_000), 'the flags cleared after the port went');
  } finally {
    ok('add', H2.port);
  }
  assert.equal(capturePorts(), 0, 'the port added again has no flag');
});

test('capture out on a trunk: the tag as the switch wrote it; -w - to stdout for tcpdump -r -; Ctrl-C leaves a complete file', async () => {
  // Last: the ports keep these modes.
  ok('vlan', H1.port, 'access', '30');
  ok('vlan', H2.port, 'trunk', '30');
  const untagged = frameHex(H2.mac, H1.mac, [], 0x88b5, 'capture-trunk');
  const piped = join(lab.dir, 'piped.pcapng');
  const cap = lab.spawn('bash', ['-c', `${process.execPath} ${VSWCONFIG} --socket ${lab.socket} capture ${H2.port} out -c 2 -w - > ${piped}`]);
  const exited = new Promise<number | null>((res) => cap.on('exit', (code) => res(code)));
  await sendUntilDone({ proc: cap, out: '', err: '', exited }, [[H1, untagged]]);
  const tagged = untagged.slice(0, 24) + '8100001e' + untagged.slice(24);
  const r = run('bash', ['-c', `tcpdump -r - -nn -xx < ${piped} | grep -c '^[0-9]'`]);
  assert.equal(r.stdout.trim(), '2', `tcpdump -r - reads the stream: ${r.stderr}`);
  assert.deepEqual(tcpdumpFrames(piped), [tagged, tagged], 'the frame left the trunk with the tag of VLAN 30');

  // Ctrl-C: the file holds every frame received, the last block whole.
  const file = join(lab.dir, 'sigint.pcapng');
  const open = startCapture(H1.port, 'in', '-w', file);
  const hello = frameHex('ff:ff:ff:ff:ff:ff', H1.mac, [], 0x88b5, 'capture-sigint');
  const deadline = Date.now() + 20_000;
  while (run('tcpdump', ['-r', file, '-nn']).stdout.trim() === '') {
    assert.ok(Date.now() < deadline, `the capture wrote a frame: ${open.err}`);
    lab.sendFrames(H1.ns, H1.ifname, `Ether(bytes.fromhex('${hello}'))`);
    await new Promise((res) => setTimeout(res, 100));
  }
  open.proc.kill('SIGINT');
  assert.equal(await open.exited, 0, open.err);
  const m = /^(\d+) frames captured, 0 lost\n$/.exec(open.err);
  assert.ok(m, open.err);
  const frames = tcpdumpFrames(file);
  assert.equal(frames.length, Number(m[1]), 'every frame told is in the file');
  for (const f of frames) assert.equal(f, hello);
  assert.equal(tshark(file, 'frame.len').length, frames.length, 'tshark reads it to its end');
});

test("capture drops: a flood's or a mirror's copy refused for the MTU is recorded with its own port's tag, not the copy before it's", async () => {
  // After the trunk test (H1 access 30). The flood: H2 takes it untagged, H3 (MTU 1000) would take it tagged.
  ok('vlan', H2.port, 'access', '30');
  ok('vlan', H3.port, 'trunk', '30');
  const big = frameHex('ff:ff:ff:ff:ff:ff', H1.mac, [], 0x88b5, 'capture-refused-tag', 1400);
  const tagged = big.slice(0, 24) + '8100001e' + big.slice(24);
  const flood = join(lab.dir, 'refused-flood.pcapng');
  const cap = startCapture('drops', H3.port, '-c', '1', '-w', flood);
  await sendUntilDone(cap, [[H1, big]]);
  assert.deepEqual(tcpdumpFrames(flood), [tagged], 'tagged, as trunk H3 would have sent it');

  // The mirror: its output H3 (access 30, off the flood lists) after the trunk H2's tagged copy.
  ok('vlan', H2.port, 'trunk', '30');
  ok('vlan', H3.port, 'access', '30');
  ok('mirror', 'add', 'refused', 'output', H3.port, 'select-ingress', H1.port);
  try {
    const mirrored = join(lab.dir, 'refused-mirror.pcapng');
    const copy = startCapture('drops', H3.port, '-c', '1', '-w', mirrored);
    await sendUntilDone(copy, [[H1, big]]);
    assert.deepEqual(tcpdumpFrames(mirrored), [big], 'untagged, as access port H3 would have sent it');
    assert.deepEqual(tshark(mirrored, 'frame.interface_name', 'frame.comment'), [[H3.port, 'mtu-exceeded']]);
  } finally {
    ok('mirror', 'del', 'refused');
  }
});
