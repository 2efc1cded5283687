// A pcapng writer (the file format of Wireshark and tcpdump, IETF
// draft-ietf-opsawg-pcapng): a Section Header Block, an Interface Description
// Block per port (its name in if_name), and an Enhanced Packet Block per frame
// with its direction (epb_flags) and, for a dropped frame, its reason as the
// packet's comment (opt_comment). Little-endian; timestamps in microseconds
// (the default if_tsresol). Each call returns whole blocks, so a file cut
// after any of them is complete.

const SHB = 0x0a0d0d0a;
const IDB = 1;
const EPB = 6;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const LINKTYPE_ETHERNET = 1;
const OPT_END = 0;
const OPT_COMMENT = 1;
const IF_NAME = 2;
const EPB_FLAGS = 2;
/** epb_flags direction bits: 01 inbound, 10 outbound. */
export const EPB_INBOUND = 1;
export const EPB_OUTBOUND = 2;

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** Options (code, value) as bytes, with opt_endofopt; none: nothing. */
function options(opts: ReadonlyArray<[number, Uint8Array]>): Buffer {
  if (opts.length === 0) return Buffer.alloc(0);
  const size = opts.reduce((n, [, v]) => n + 4 + pad4(v.length), 4);
  const b = Buffer.alloc(size);
  let at = 0;
  for (const [code, v] of opts) {
    b.writeUInt16LE(code, at);
    b.writeUInt16LE(v.length, at + 2);
    b.set(v, at + 4);
    at += 4 + pad4(v.length);
  }
  b.writeUInt16LE(OPT_END, at);
  return b;
}

/** A block: type, total length, body, total length again. */
function block(type: number, body: Buffer): Buffer {
  const len = 12 + body.length;
  const b = Buffer.alloc(len);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(len, 4);
  body.copy(b, 8);
  b.writeUInt32LE(len, len - 4);
  return b;
}

export function sectionHeader(): Buffer {
  const body = Buffer.alloc(16);
  body.writeUInt32LE(BYTE_ORDER_MAGIC, 0);
  body.writeUInt16LE(1, 4); // version 1.0
  body.writeUInt16LE(0, 6);
  body.writeBigInt64LE(-1n, 8); // section length not given
  return block(SHB, body);
}

export function interfaceDescription(ifname: string, snaplen: number): Buffer {
  const fixed = Buffer.alloc(8);
  fixed.writeUInt16LE(LINKTYPE_ETHERNET, 0);
  fixed.writeUInt32LE(snaplen, 4);
  return block(IDB, Buffer.concat([fixed, options([[IF_NAME, Buffer.from(ifname)]])]));
}

/** A frame of interface `ifIndex` (the order of its IDB), at `timeMs` since the epoch; `origLen` its length on the wire. */
export function enhancedPacket(ifIndex: number, timeMs: number, data: Uint8Array, origLen: number, flags: number, comment?: string): Buffer {
  const fixed = Buffer.alloc(20 + pad4(data.length));
  const us = BigInt(Math.round(timeMs * 1000));
  fixed.writeUInt32LE(ifIndex, 0);
  fixed.writeUInt32LE(Number(us >> 32n), 4);
  fixed.writeUInt32LE(Number(us & 0xffffffffn), 8);
  fixed.writeUInt32LE(data.length, 12);
  fixed.writeUInt32LE(origLen, 16);
  fixed.set(data, 20);
  const opts: Array<[number, Uint8Array]> = [];
  if (comment !== undefined) opts.push([OPT_COMMENT, Buffer.from(comment)]);
  if (flags !== 0) {
    const f = Buffer.alloc(4);
    f.writeUInt32LE(flags, 0);
    opts.push([EPB_FLAGS, f]);
  }
  return block(EPB, Buffer.concat([fixed, options(opts)]));
}
