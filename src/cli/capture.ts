// `vswconfig capture`: the frames of a capture as text (one line each, as
// `tcpdump -e -n` prints them) or as pcapng (-w FILE, `-w -` for stdout).
// Ctrl-C, -c COUNT or the port going away end it; the file then holds every
// frame received, each block whole.

import { closeSync, openSync, writeSync } from 'node:fs';
import { capture } from '../control/capture-client.js';
import { request } from '../control/client.js';
import type { CaptureEnd, CapturedFrame } from '../control/results.js';
import { EPB_INBOUND, EPB_OUTBOUND, enhancedPacket, interfaceDescription, sectionHeader } from './pcapng.js';

export interface CaptureCommand {
  socket: string;
  ifname?: string;
  what: 'in' | 'out' | 'both' | 'drops';
  count?: number;
  /** pcapng to this file ('-': stdout); absent: text. */
  write?: string;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

function mac(b: Buffer, at: number): string {
  return Array.from(b.subarray(at, at + 6), hex2).join(':');
}

function clock(ms: number): string {
  const d = new Date(ms);
  const us = Math.floor((ms * 1000) % 1_000_000);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}:${String(d.getSeconds()).padStart(2, '0')}.${String(us).padStart(6, '0')}`;
}

/** A drop's reason as the text line and the pcapng comment say it. */
export function dropComment(f: CapturedFrame): string {
  return f.rule !== undefined ? `${f.reason} rule ${f.rule}` : (f.reason ?? 'drop');
}

/** One line per frame: time, port, direction or drop reason, MACs, VLAN tags, ethertype, length. */
export function formatCapturedFrame(f: CapturedFrame): string {
  const b = Buffer.from(f.data, 'base64');
  const dir = f.dir === 'drop' ? `drop ${dropComment(f)}` : f.dir;
  if (b.length < 14) return `${clock(f.time)} ${f.ifname} ${dir} runt, length ${f.len}\n`;
  let at = 12;
  let tags = '';
  let type = b.readUInt16BE(at);
  while ((type === 0x8100 || type === 0x88a8) && at + 6 <= b.length) {
    const tci = b.readUInt16BE(at + 2);
    tags += `${type === 0x88a8 ? 'vlan(802.1ad)' : 'vlan'} ${tci & 0xfff}, p ${tci >> 13}, `;
    at += 4;
    type = b.readUInt16BE(at);
  }
  return `${clock(f.time)} ${f.ifname} ${dir} ${mac(b, 6)} > ${mac(b, 0)}, ${tags}ethertype 0x${type.toString(16).padStart(4, '0')}, length ${f.len}\n`;
}

/** Writes pcapng: the section header, an IDB per port (the known ones first), an EPB per frame. */
class PcapngOut {
  private readonly ifIndex = new Map<string, number>();
  constructor(
    private readonly put: (b: Buffer) => void,
    ports: readonly string[],
  ) {
    put(sectionHeader());
    for (const p of ports) this.port(p);
  }

  private port(ifname: string): number {
    let k = this.ifIndex.get(ifname);
    if (k === undefined) {
      k = this.ifIndex.size;
      this.ifIndex.set(ifname, k);
      this.put(interfaceDescription(ifname, 0)); // 0: no limit told (the daemon keeps 1600 bytes)
    }
    return k;
  }

  frame(f: CapturedFrame): void {
    const k = this.port(f.ifname);
    const flags = f.dir === 'in' || f.dir === 'drop' ? EPB_INBOUND : EPB_OUTBOUND;
    this.put(enhancedPacket(k, f.time, Buffer.from(f.data, 'base64'), f.len, flags, f.dir === 'drop' ? dropComment(f) : undefined));
  }
}

/** Runs the capture until it ends; resolves with the daemon's (or Ctrl-C's) end. */
export async function runCapture(cmd: CaptureCommand): Promise<CaptureEnd> {
  let put: (b: Buffer | string) => void;
  let finish: () => Promise<void>;
  if (cmd.write === undefined || cmd.write === '-') {
    put = (b) => void process.stdout.write(b);
    finish = () => new Promise((resolve) => process.stdout.write('', () => resolve()));
  } else {
    const fd = openSync(cmd.write, 'w', 0o644);
    put = (b) => void (typeof b === 'string' ? writeSync(fd, b) : writeSync(fd, b));
    finish = async () => closeSync(fd);
  }
  let onFrame: (f: CapturedFrame) => void = (f) => put(formatCapturedFrame(f));
  if (cmd.write !== undefined) {
    // Every port known now gets its interface block first (a port added later gets one when it first appears).
    const ports = cmd.ifname !== undefined ? [cmd.ifname] : (await request(cmd.socket, { cmd: 'show' })).ports;
    const out = new PcapngOut(put, ports);
    onFrame = (f) => out.frame(f);
  }
  const req = { what: cmd.what, ...(cmd.ifname !== undefined ? { ifname: cmd.ifname } : {}), ...(cmd.count !== undefined ? { count: cmd.count } : {}) };
  const session = capture(cmd.socket, req, onFrame);
  const onSignal = (): void => session.stop();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await session.done;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await finish();
  }
}
