// Exact frames on real interfaces, for tests that compare what a switch did
// with a model: send given bytes from hosts' interfaces in one global order,
// and read back what tcpdump wrote (a pcap file).

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Host, type Lab, PYTHON } from './lab.js';

/** Frames sent back to back from one host's interface. */
export interface Chunk {
  /** Index into the `hosts` given to sendChunks. */
  host: number;
  frames: Uint8Array[];
}

// One process opens a packet socket in each host's namespace (a socket stays
// in the namespace it was made in), then sends every chunk in order from
// there: no process start-up between chunks, and one sender, so the order is
// the list's. A pause between chunks lets the switch finish a chunk before
// the next one arrives on another port (ports are not read in arrival order).
const SENDER = `
import ctypes, json, os, socket, sys, time
CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)
def enter(path):
    fd = os.open(path, os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), 'setns ' + path)
    os.close(fd)
spec = json.load(open(sys.argv[1]))
home = '/proc/self/ns/net'
home_fd = os.open(home, os.O_RDONLY)
socks = []
for ns, ifname in spec['ifaces']:
    enter('/run/netns/' + ns)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    s.bind((ifname, 0))
    socks.append(s)
if libc.setns(home_fd, CLONE_NEWNET) != 0:
    raise OSError(ctypes.get_errno(), 'setns back')
sent_at = []
for i, (h, frames) in enumerate(spec['chunks']):
    if i:
        time.sleep(spec['gap'])
    for f in frames:
        socks[h].send(bytes.fromhex(f))
        sent_at.append(time.monotonic_ns() / 1e6)
print(json.dumps(sent_at))
`;

/**
 * Send `chunks` in order, each from its host's interface, pausing `gapMs` between chunks.
 * Returns when each frame was sent (CLOCK_MONOTONIC, ms), in order.
 */
export function sendChunks(lab: Lab, hosts: readonly Host[], chunks: readonly Chunk[], gapMs: number): number[] {
  const spec = join(lab.dir, `chunks-${Date.now()}.json`);
  writeFileSync(
    spec,
    JSON.stringify({
      ifaces: hosts.map((h) => [h.ns, h.ifname]),
      gap: gapMs / 1000,
      chunks: chunks.map((c) => [c.host, c.frames.map((f) => Buffer.from(f).toString('hex'))]),
    }),
  );
  const script = join(lab.dir, 'send-chunks.py');
  writeFileSync(script, SENDER);
  return JSON.parse(lab.sh(`${PYTHON} ${script} ${spec}`)) as number[];
}

/** The frames of a pcap file (Ethernet link type), in order. */
export function readPcap(path: string): Uint8Array[] {
  const b = readFileSync(path);
  if (b.length < 24) throw new Error(`${path}: not a pcap file (${b.length} bytes)`);
  const magic = b.readUInt32LE(0);
  // 0xa1b2c3d4 microseconds, 0xa1b23c4d nanoseconds; the other byte order is the writer's other endianness.
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && b.readUInt32BE(0) !== 0xa1b2c3d4 && b.readUInt32BE(0) !== 0xa1b23c4d) {
    throw new Error(`${path}: not a pcap file (magic ${magic.toString(16)})`);
  }
  const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  if (u32(20) !== 1) throw new Error(`${path}: link type ${u32(20)}, not Ethernet`);
  const frames: Uint8Array[] = [];
  for (let o = 24; o + 16 <= b.length; ) {
    const incl = u32(o + 8);
    if (o + 16 + incl > b.length) break; // a record cut short when tcpdump was stopped
    frames.push(new Uint8Array(b.subarray(o + 16, o + 16 + incl)));
    o += 16 + incl;
  }
  return frames;
}
