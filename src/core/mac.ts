// MAC addresses as numbers.
//
// A 48-bit MAC fits exactly in a JavaScript number (< 2**53), so the control
// path uses one number per address. The hot path splits it instead into two
// small integers that V8 keeps untagged: `hi` (first two octets, 0..0xffff)
// and `lo` (last four octets as a signed 32-bit int, i.e. `x | 0`). Nothing in
// this file allocates except format/parse, which are for the control path.

/** MAC = hi * 2**32 + (lo >>> 0). */
const TWO32 = 4294967296;

/** Destination MAC of the frame at `o` as a number. */
export function readDst(mem: Uint8Array, o: number): number {
  return readMac(mem, o);
}

/** Source MAC of the frame at `o` (the Ethernet header starts at `o`) as a number. */
export function readSrc(mem: Uint8Array, o: number): number {
  return readMac(mem, o + 6);
}

/** The six octets at `o` as a number. */
export function readMac(mem: Uint8Array, o: number): number {
  return readHi(mem, o) * TWO32 + (readLo(mem, o) >>> 0);
}

/** First two octets of the MAC at `o` (0..0xffff). */
export function readHi(mem: Uint8Array, o: number): number {
  return (mem[o] << 8) | mem[o + 1];
}

/** Last four octets of the MAC at `o`, as a signed 32-bit int. */
export function readLo(mem: Uint8Array, o: number): number {
  return (mem[o + 2] << 24) | (mem[o + 3] << 16) | (mem[o + 4] << 8) | mem[o + 5];
}

/** The `hi` half of a MAC number. */
export function macHi(mac: number): number {
  return Math.floor(mac / TWO32) & 0xffff;
}

/** The `lo` half of a MAC number, as a signed 32-bit int. */
export function macLo(mac: number): number {
  return (mac % TWO32) | 0;
}

/** Join the halves back into a MAC number. */
export function macFrom(hi: number, lo: number): number {
  return (hi & 0xffff) * TWO32 + (lo >>> 0);
}

/** Write the MAC number into mem at `o` (six octets). */
export function writeMac(mem: Uint8Array, o: number, mac: number): void {
  const hi = macHi(mac);
  const lo = macLo(mac);
  mem[o] = hi >>> 8;
  mem[o + 1] = hi & 0xff;
  mem[o + 2] = lo >>> 24;
  mem[o + 3] = (lo >>> 16) & 0xff;
  mem[o + 4] = (lo >>> 8) & 0xff;
  mem[o + 5] = lo & 0xff;
}

const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** "aa:bb:cc:dd:ee:ff" (lower case). Control path only. */
export function formatMac(mac: number): string {
  const hi = macHi(mac);
  const lo = macLo(mac);
  return (
    HEX[hi >>> 8] + ':' + HEX[hi & 0xff] + ':' +
    HEX[lo >>> 24] + ':' + HEX[(lo >>> 16) & 0xff] + ':' +
    HEX[(lo >>> 8) & 0xff] + ':' + HEX[lo & 0xff]
  );
}

const MAC_RE = /^([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})$/i;

/** Parse "aa:bb:cc:dd:ee:ff" (or with '-') into a number. Throws RangeError if malformed. */
export function parseMac(s: string): number {
  const m = MAC_RE.exec(s.trim());
  if (m === null) throw new RangeError(`not a MAC address: ${JSON.stringify(s)}`);
  let v = 0;
  for (let k = 1; k <= 6; k++) v = v * 256 + parseInt(m[k], 16);
  return v;
}

/** Group (multicast or broadcast) address: I/G bit, the low bit of the first octet. */
export function isMulticast(mac: number): boolean {
  return (macHi(mac) & 0x0100) !== 0;
}

/** ff:ff:ff:ff:ff:ff */
export function isBroadcast(mac: number): boolean {
  return mac === 0xffffffffffff;
}

/** 00:00:00:00:00:00 */
export function isZero(mac: number): boolean {
  return mac === 0;
}

/** IEEE 802.1D reserved group addresses 01:80:C2:00:00:00–0F (BPDU, pause, LACP, LLDP, 802.1X…). */
export function isLinkLocal(mac: number): boolean {
  return isLinkLocalHL(macHi(mac), macLo(mac));
}

/** `hi` and `lo` halves of 01:80:C2:00:00:00. */
export const LINK_LOCAL_HI = 0x0180;
export const LINK_LOCAL_LO = 0xc2000000 | 0;

/** Hot-path form of isLinkLocal on the split halves. */
export function isLinkLocalHL(hi: number, lo: number): boolean {
  return hi === LINK_LOCAL_HI && (lo & ~0xf) === LINK_LOCAL_LO;
}

/** A usable source address: unicast and not all-zero. */
export function isValidSource(mac: number): boolean {
  return mac !== 0 && !isMulticast(mac);
}
