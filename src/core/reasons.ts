// Why a frame was dropped. Every drop is counted under exactly one reason, so
// `vswconfig stats` can say where frames went.

export const Reason = {
  /** Shorter than an Ethernet header (14 bytes). */
  RUNT: 0,
  /** Destination 01:80:C2:00:00:00–0F: STP BPDU, pause, LACP, LLDP, 802.1X… never forwarded. */
  LINK_LOCAL: 1,
  /** Source MAC is multicast, broadcast or all-zero (as the Linux bridge, such frames are dropped). */
  INVALID_SOURCE: 2,
  /** Destination is known on the ingress port itself: not sent back. */
  SAME_PORT: 3,
  /** Too big for the egress port's MTU. */
  MTU_EXCEEDED: 4,
  /** Not received whole: bigger than a ring slot and not queued whole, or bigger than a big-frame buffer. */
  TRUNCATED: 5,
  /** The egress port's TX ring had no free slot. */
  TX_RING_FULL: 6,
  /** The known egress port's link is down, or went down with the frame queued on its TX ring. */
  PORT_DOWN: 7,
  /** The kernel refused a frame sent outside the rings (a big frame: socket buffer full, device gone). */
  TX_ERROR: 8,
  /** A tagged frame (nonzero VID, or an 802.1ad outer tag) on an access port. */
  VLAN_TAGGED: 9,
  /** The frame's VLAN is not carried by the port: not in a trunk's list on ingress, or the known egress port's. */
  VLAN_NOT_ALLOWED: 10,
  /** An ACL rule (acl.ts) dropped it at ingress. */
  ACL_DROP: 11,
  /** Arrived on a mirror's output port (mirror.ts): that port only sends copies. */
  MIRROR_OUTPUT: 12,
} as const;

export const REASON_COUNT = 13;

/** Names as printed by `vswconfig stats`, indexed by reason. */
export const REASON_NAMES: readonly string[] = [
  'runt',
  'link-local',
  'invalid-source',
  'same-port',
  'mtu-exceeded',
  'truncated',
  'tx-ring-full',
  'port-down',
  'tx-error',
  'vlan-tagged',
  'vlan-not-allowed',
  'acl-drop',
  'mirror-output',
];
