// A port's 802.1Q mode, as Open vSwitch's Port table has it (vswitch.xml:
// vlan_mode, tag, trunks), and the VID lists the commands take.
//
//   default          never given a mode: a trunk of all VLANs, an untagged
//                    frame (or one whose outer tag is 802.1ad) in VLAN 0; every
//                    tag passes unchanged, as before VLANs existed
//   access VID       untagged (or VID 0) frames are in VID; tagged ones are
//                    dropped; frames leave untagged
//   trunk [VIDS]     a tagged frame is in its VID (an untagged one in VLAN 0)
//                    and is dropped unless the VID is listed; frames leave tagged
//   native-tagged VID [VIDS], native-untagged VID [VIDS]
//                    a trunk whose untagged frames are in the native VLAN VID;
//                    frames of the native VLAN leave tagged / untagged
//
// No list means every VLAN (1-4094; and VLAN 0 for a trunk, as OVS's empty
// trunks). The native VLAN is always carried. On a port with a mode only
// 802.1Q (TPID 0x8100) tags are VLANs: a frame whose outer tag is 802.1ad
// (0x88a8) is dropped there.

export const VLAN_MODES = ['default', 'access', 'trunk', 'native-tagged', 'native-untagged'] as const;
export type VlanModeName = (typeof VLAN_MODES)[number];

/** Mode numbers shared with the kernel datapath (bpf/datapath.h VSW_VLAN_*). */
export const VlanMode = { DEFAULT: 0, ACCESS: 1, TRUNK: 2, NATIVE_TAGGED: 3, NATIVE_UNTAGGED: 4 } as const;

export const VID_MIN = 1;
export const VID_MAX = 4094;
/** Bytes of a port's membership bitmap: one bit per VID 0..4095. */
export const VLAN_BITMAP_BYTES = 512;

/** A port's VLAN configuration. `tag`: the access or native VLAN (0 otherwise); `trunks`: null for all. */
export interface PortVlan {
  mode: VlanModeName;
  tag: number;
  trunks: Array<[number, number]> | null;
}

export const DEFAULT_PORT_VLAN: Readonly<PortVlan> = Object.freeze({ mode: 'default', tag: 0, trunks: null });

/** What is wrong with a VID, or null. */
export function vidProblem(vid: number): string | null {
  if (!Number.isInteger(vid) || vid < VID_MIN || vid > VID_MAX) return `VLAN ID ${vid} out of range ${VID_MIN}-${VID_MAX}`;
  return null;
}

/** Parses a VID list such as `10,20,100-199` into ranges; throws a RangeError naming the problem. */
export function parseVids(text: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  if (text === '') throw new RangeError('empty VLAN list');
  for (const item of text.split(',')) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(item);
    if (m === null) throw new RangeError(`bad VLAN list item '${item}' (expected VID or VID-VID)`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (const v of [lo, hi]) {
      const p = vidProblem(v);
      if (p !== null) throw new RangeError(p);
    }
    if (lo > hi) throw new RangeError(`reversed VLAN range ${item}`);
    out.push([lo, hi]);
  }
  return out;
}

/** Parses a single VID; throws a RangeError naming the problem. */
export function parseVid(text: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new RangeError(`bad VLAN ID '${text}'`);
  const v = Number(text);
  const p = vidProblem(v);
  if (p !== null) throw new RangeError(p);
  return v;
}

/** The problem with a configuration, or null (the protocol checks the same). */
export function portVlanProblem(c: PortVlan): string | null {
  if (!VLAN_MODES.includes(c.mode)) return `unknown VLAN mode ${String(c.mode)}`;
  const needsTag = c.mode === 'access' || c.mode === 'native-tagged' || c.mode === 'native-untagged';
  if (needsTag) {
    const p = vidProblem(c.tag);
    if (p !== null) return p;
  } else if (c.tag !== 0) return `mode ${c.mode} takes no VLAN ID`;
  if (c.trunks !== null) {
    if (c.mode === 'access' || c.mode === 'default') return `mode ${c.mode} takes no VLAN list`;
    for (const [lo, hi] of c.trunks) {
      const p = vidProblem(lo) ?? vidProblem(hi);
      if (p !== null) return p;
      if (lo > hi) return `reversed VLAN range ${lo}-${hi}`;
    }
  }
  return null;
}

export function vlanModeNumber(c: PortVlan): number {
  switch (c.mode) {
    case 'default':
      return VlanMode.DEFAULT;
    case 'access':
      return VlanMode.ACCESS;
    case 'trunk':
      return VlanMode.TRUNK;
    case 'native-tagged':
      return VlanMode.NATIVE_TAGGED;
    case 'native-untagged':
      return VlanMode.NATIVE_UNTAGGED;
  }
}

/** The VLAN whose frames leave the port untagged (access, native-untagged), or -1. */
export function untaggedVid(c: PortVlan): number {
  return c.mode === 'access' || c.mode === 'native-untagged' ? c.tag : -1;
}

/** Writes the port's membership bitmap (bit v of byte v >> 3: VLAN v is carried) into `out` at `at`. */
export function fillVlanBitmap(c: PortVlan, out: Uint8Array, at = 0): void {
  const set = (v: number) => (out[at + (v >> 3)] |= 1 << (v & 7));
  if (c.mode === 'default') {
    // Every VID, 4095 included: a port with no mode passes whatever tag it is given.
    out.fill(0xff, at, at + VLAN_BITMAP_BYTES);
    return;
  }
  out.fill(0, at, at + VLAN_BITMAP_BYTES);
  if (c.mode === 'access') {
    set(c.tag);
    return;
  }
  if (c.trunks === null) {
    // Every VLAN; VLAN 0 (untagged frames) only where untagged frames are VLAN 0.
    for (let v = VID_MIN; v <= VID_MAX; v++) set(v);
    if (c.mode === 'trunk') set(0);
  } else {
    for (const [lo, hi] of c.trunks) for (let v = lo; v <= hi; v++) set(v);
  }
  if (c.mode === 'native-tagged' || c.mode === 'native-untagged') set(c.tag);
}

/** `10,20,100-199`, or `all`. */
export function formatVids(trunks: Array<[number, number]> | null): string {
  if (trunks === null) return 'all';
  return trunks.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(',');
}

/** What `vswconfig vlan PORT` prints: `access 10`, `trunk all`, `native-untagged 10 trunks 20,30`. */
export function formatPortVlan(c: PortVlan): string {
  switch (c.mode) {
    case 'default':
      return 'default (trunk of all VLANs, tags unchanged)';
    case 'access':
      return `access ${c.tag}`;
    case 'trunk':
      return `trunk ${formatVids(c.trunks)}`;
    default:
      return `${c.mode} ${c.tag} trunks ${formatVids(c.trunks)}`;
  }
}
