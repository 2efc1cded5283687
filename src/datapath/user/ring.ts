// Layout of the PACKET_MMAP rings (TPACKET_V2, with PACKET_VNET_HDR).
//
// Each port's socket has an RX ring followed by a TX ring in one mapping.
// A ring slot ("frame") is 2 KiB: room for any frame of a 1500-byte MTU with
// its virtio header and a VLAN tag, so ordinary traffic never leaves the
// rings. Bigger frames — 64 KiB GSO super-frames from a veth, jumbo frames —
// take the "big" path: the RX slot holds a truncated copy marked
// TP_STATUS_COPY and the whole frame waits on the socket (PACKET_COPY_THRESH)
// to be read into a big buffer, all of a batch's with one recvmmsg; they leave
// from there (a tagged one is first rebuilt with its tag) with one sendmmsg
// per egress port per batch.
//
// All ports' mappings sit side by side in one reserved address range, with
// the big buffers after them, so one ArrayBuffer views every ring and a frame
// moves from an RX slot of one port to a TX slot of another with a single
// copyWithin.

export const FRAME_SIZE = 1 << 11;
export const BLOCK_SIZE = 1 << 16;
export const FRAMES_PER_BLOCK = BLOCK_SIZE / FRAME_SIZE;
/** A buffer for one big frame: virtio header + 64 KiB frame + VLAN tag, page-rounded. */
export const BIG_SLOT = (1 << 16) + (1 << 12);

// struct tpacket2_hdr
export const TP_STATUS = 0; // u32
export const TP_LEN = 4; // u32: length on the wire (RX) / to send (TX)
export const TP_SNAPLEN = 8; // u32: bytes present in the slot
export const TP_MAC = 12; // u16: offset of the Ethernet header from the slot start
export const TP_VLAN_TCI = 24; // u16
export const TP_VLAN_TPID = 26; // u16
export const TPACKET2_HDR_SIZE = 32;

// The status word is how the kernel and the switch hand a slot to each other:
// the slot's other bytes must be read only after the status that gives it to
// us, and written before the status that gives it back. On x86-64 plain
// typed-array accesses do that (every load is an acquire and every store a
// release, which is why the kernel's smp_rmb/smp_wmb are only compiler
// barriers there). Elsewhere (arm64) loads and stores may be reordered, so the
// status word is read with Atomics.load and written with Atomics.store, which
// are sequentially consistent. Not on x86-64: Node 20 makes each a call of
// about 10 ns instead of one access, half again the time per frame in the ring
// code, for nothing. The choice is a constant, made once when this loads.

const PLAIN_STATUS = process.arch === 'x64';

/** tp_status of the slot at byte offset `slot`. */
export function slotStatus(u32: Uint32Array, slot: number): number {
  return PLAIN_STATUS ? u32[slot >>> 2] : Atomics.load(u32, slot >>> 2);
}

/** Hand the slot at byte offset `slot` over with `status`, after everything written to it. */
export function setSlotStatus(u32: Uint32Array, slot: number, status: number): void {
  if (PLAIN_STATUS) u32[slot >>> 2] = status;
  else Atomics.store(u32, slot >>> 2, status);
}

// tp_status, RX side
export const TP_STATUS_KERNEL = 0;
export const TP_STATUS_USER = 1;
export const TP_STATUS_COPY = 2;
export const TP_STATUS_LOSING = 4;
export const TP_STATUS_VLAN_VALID = 0x10;
export const TP_STATUS_VLAN_TPID_VALID = 0x40;
// tp_status, TX side
export const TP_STATUS_AVAILABLE = 0;
export const TP_STATUS_SEND_REQUEST = 1;
export const TP_STATUS_SENDING = 2;
export const TP_STATUS_WRONG_FORMAT = 4;

/**
 * Where a TX frame's data starts in its slot: tp_hdrlen - sizeof(sockaddr_ll)
 * = TPACKET_ALIGN(32) + 20 - 20 (the kernel's default without PACKET_TX_HAS_OFF).
 */
export const TX_DATA_OFFSET = 32;

// struct virtio_net_hdr, just before the Ethernet header on RX and first on TX.
export const VNET_HDR_LEN = 10;
export const VNET_FLAGS = 0; // u8
export const VNET_GSO_TYPE = 1; // u8
export const VNET_HDR_LEN_FIELD = 2; // u16: bytes of headers before the payload
export const VNET_GSO_SIZE = 4; // u16: payload bytes per segment
export const VNET_CSUM_START = 6; // u16: from the Ethernet header
export const VNET_F_NEEDS_CSUM = 1;
export const VNET_GSO_NONE = 0;

export { ETH_HLEN, ETH_P_8021Q, VLAN_HLEN } from '../../core/batch.js';

/** The RX and TX rings of one port, as offsets into the shared ring view. */
export interface RingGeometry {
  rxFrames: number;
  txFrames: number;
  /** Bytes of one port's mapping: RX ring then TX ring. */
  span: number;
}

/** Round frame counts up to whole blocks. */
export function ringGeometry(rxFrames: number, txFrames: number): RingGeometry {
  const rxBlocks = Math.max(1, Math.ceil(rxFrames / FRAMES_PER_BLOCK));
  const txBlocks = Math.max(1, Math.ceil(txFrames / FRAMES_PER_BLOCK));
  return {
    rxFrames: rxBlocks * FRAMES_PER_BLOCK,
    txFrames: txBlocks * FRAMES_PER_BLOCK,
    span: (rxBlocks + txBlocks) * BLOCK_SIZE,
  };
}

/** Largest frame (virtio header + Ethernet frame) a TX slot takes. */
export const TX_SLOT_ROOM = FRAME_SIZE - TX_DATA_OFFSET;
