// A batch of received frames, described by offsets into one block of memory.
//
// The datapath fills a Batch from an ingress ring (or a test fills it from an
// in-memory port), the forwarding core writes a verdict per frame, and the
// egress step copies each frame out. A Batch is allocated once per ingress
// port and reused for every batch: nothing here is created per frame.

/** No 802.1Q tag was stripped from this frame on receive. */
export const NO_TAG = -1;

/** Verdicts >= 0 name the one egress port; negative verdicts are these. */
export const FLOOD = -1;
/** Dropped; the reason is counted in Counters (see reasons.ts). */
export const DROP = -2;

export class Batch {
  /** Memory that `off` points into (one view over every ring, or test memory). */
  mem: Uint8Array;
  /** Number of frames in the batch. */
  count = 0;
  /** Offset in `mem` of each frame's Ethernet header (destination MAC). */
  readonly off: Int32Array;
  /** Bytes of the frame in `mem`, starting at `off` (without any stripped tag). */
  readonly len: Int32Array;
  /** 802.1Q tag the kernel stripped on receive, as (TPID << 16) | TCI, or NO_TAG. */
  readonly vlan: Int32Array;
  /**
   * Bytes past the Ethernet header of the largest frame that will reach the wire:
   * len - 14 for an ordinary frame, header length + segment size - 14 for a GSO
   * frame that the kernel segments later. Compared with the egress port's MTU.
   */
  readonly l3len: Int32Array;
  /** Written by the forwarding core: the VLAN (0-4094) the frame is in, by its ingress port's mode. */
  readonly vid: Int32Array;
  /** Written by the forwarding core: egress port, FLOOD or DROP. */
  readonly verdict: Int32Array;
  /**
   * Written by the forwarding core for a frame it gives the verdict DROP: the
   * Reason, plus (the matching rule's index in the ACL table) << 8 for an ACL
   * drop. Read by a capture of drops (the datapath's), never by the core.
   */
  readonly why: Int32Array;

  constructor(readonly capacity: number, mem: Uint8Array = new Uint8Array(0)) {
    this.mem = mem;
    this.off = new Int32Array(capacity);
    this.len = new Int32Array(capacity);
    this.vlan = new Int32Array(capacity);
    this.l3len = new Int32Array(capacity);
    this.vid = new Int32Array(capacity);
    this.verdict = new Int32Array(capacity);
    this.why = new Int32Array(capacity);
  }
}

// Ethernet and 802.1Q layout (IEEE 802.3, 802.1Q): written once for the core and the rings.
/** Bytes of an Ethernet header (MACs and type). */
export const ETH_HLEN = 14;
/** Bytes of an 802.1Q/802.1ad tag. */
export const VLAN_HLEN = 4;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_8021AD = 0x88a8;
