/* SPDX-License-Identifier: MIT */
/* The kernel datapath's maps, shared in layout with src/datapath/kernel/layout.ts
 * (which must change with this file; the asserts at the end hold both to the
 * same numbers). Little-endian x86-64/arm64 layouts. */
#ifndef VSW_DATAPATH_H
#define VSW_DATAPATH_H

#include <stddef.h> /* offsetof */

/* Port slots; vswitchd's --max-ports may not exceed it with --datapath kernel. */
#define VSW_MAX_PORTS 1024

/*
 * The configuration (ports, vlans, acl, mirrors and the words of config[1 +
 * bank]) is double-buffered: each table holds VSW_BANKS copies, bank b at
 * slots b * size + k. A frame reads config[0].bank once and the tables of that
 * bank only; vswitchd writes a change into the other bank and publishes it by
 * writing config[0] (only `bank` differs, and only in its low byte).
 */
#define VSW_BANKS 2

/* ports[port].flags */
#define VSW_PORT_ATTACHED 1
#define VSW_PORT_UP 2
#define VSW_PORT_LIMITED 4 /* holds --fdb-port-limit entries: a new station is left to vswitchd */
#define VSW_PORT_PEER 8    /* a veth whose peer is in another netns: peer_mac, peer_mtu are set */
#define VSW_PORT_MIRROR_OUT 16 /* a mirror's output: gets copies only, what arrives is dropped */
#define VSW_PORT_PEER_GSO 32 /* VSW_PORT_PEER also for GSO frames (vswitchd --redirect-peer all) */
#define VSW_PORT_PEER_AUTO 64 /* VSW_PORT_PEER but not for a station taking GSO frames (vswitchd --redirect-peer auto) */

/* --redirect-peer auto: a station is "bulk" for VSW_BULK_UNITS << VSW_BULK_SHIFT ns (~1.07 s) after its last GSO frame */
#define VSW_BULK_SHIFT 20
#define VSW_BULK_UNITS 1024

/* ports[port].vlan_mode (src/core/vlan.ts VlanMode) */
#define VSW_VLAN_DEFAULT 0
#define VSW_VLAN_ACCESS 1
#define VSW_VLAN_TRUNK 2
#define VSW_VLAN_NATIVE_TAGGED 3
#define VSW_VLAN_NATIVE_UNTAGGED 4

struct vsw_port {
	__u32 ifindex;
	__u32 flags;
	__u32 mtu;
	__u16 vlan_mode; /* VSW_VLAN_* */
	__u16 vlan_tag;  /* the access or native VLAN */
	__u32 peer_mtu;  /* VSW_PORT_PEER: the veth peer's MTU */
	__u32 mirror_in; /* bit k: mirror k copies the frames entering here */
	__u64 peer_mac;  /* VSW_PORT_PEER: the veth peer's MAC (48 bits, no VLAN) */
	__u32 mirror_out; /* bit k: mirror k copies the frames leaving here */
	__u32 capture;    /* VSW_CAPTURE_*: what `vswconfig capture` takes from this port; 0 while none runs */
};

/* ports[port].capture (src/datapath/capture-ring.ts CAPTURE_*) */
#define VSW_CAPTURE_IN 1
#define VSW_CAPTURE_OUT 2
#define VSW_CAPTURE_DROPS 4 /* frames the switch drops here: on arrival, or refused on their way out of this port */

/* vlans[port]: bit v (of word v / 64) set when the port carries VLAN v */
struct vsw_vlans {
	__u64 bits[64];
};

/* config[0]: aging_ns, refresh_ns, victim and bank; config[1 + b]: bank b's
 * port_hi, vlan_ports, acl_rules, mirrors and acl_gen (the other words of
 * each slot are copies the program does not read) */
struct vsw_config {
	__u64 aging_ns;   /* an FDB entry older than this is absent */
	__u64 refresh_ns; /* a hit rewrites an entry only when it is this old */
	__u32 port_hi;    /* ports at or above this slot are never attached */
	__u32 bank;       /* config[0]: the bank frames read (0 or 1) */
	__u64 victim;     /* while the table is full: the key a new station costs (the core's
			     fair eviction, chosen by vswitchd); 0 when none, or once taken */
	__u32 vlan_ports; /* ports with a VLAN mode: while 0 every frame leaves as it came */
	__u32 acl_rules;  /* rules in force: acl[0 .. acl_rules - 1], in match order */
	__u32 mirrors;    /* mirrors in force: mirrors[0 .. mirrors - 1] */
	__u32 acl_gen;    /* bumped with every new ACL: acl_cache entries of another generation are empty */
};

/* mirrors[k]: the k-th mirror (src/core/mirror.ts MirrorTable) */
#define VSW_MIRROR_MAX 32
struct vsw_mirror {
	__u32 out_port;  /* the output port's slot */
	__u32 pad;
	__u64 vlans[64]; /* bit v (of word v / 64): frames of VLAN v are copied */
};

/* acl[k]: the k-th rule in match order (src/core/acl.ts AclTable) */
#define VSW_ACL_MAX 256
#define VSW_ACL_ANY (-1)      /* port, type, vlan: any */
#define VSW_ACL_UNTAGGED (-2) /* vlan: the frame came with no tag */
#define VSW_ACL_DROP 1
struct vsw_acl_rule {
	__u64 src;      /* (source MAC & src_mask) == src */
	__u64 src_mask;
	__u64 dst;
	__u64 dst_mask;
	__s32 port;     /* ingress port slot */
	__s32 type;     /* the 16 bits after the MACs (after the outer tag the kernel took) */
	__s32 vlan;     /* the VLAN the frame was classified into, or VSW_ACL_UNTAGGED */
	__u32 action;
};

/* acl_cache[slot], per CPU, direct-mapped (src/core/acl-cache.ts): the rule (or -1)
 * these fields matched in generation gen */
#define VSW_ACL_CACHE 4096
struct vsw_acl_cache_entry {
	__u64 src;
	__u64 dst;
	__u32 port;
	__u32 tv;  /* type << 13 | VID << 1 | arrived untagged */
	__u32 gen;
	__s32 hit;
};

/* fdb: key = (VLAN, MAC) as a u64: the MAC in the low 48 bits (octet 0 the most
 * significant), the VID in bits 48-59 */
struct vsw_fdb_entry {
	__u32 port;
	__u32 bulk;    /* --redirect-peer auto: (now >> VSW_BULK_SHIFT) | 1 at the last GSO frame to this station, 0 none */
	__u64 seen_ns; /* bpf_ktime_get_ns(), CLOCK_MONOTONIC */
};

/* One record on the learn ring: what the kernel learned, moved or refreshed,
 * or could not learn because the table was full (vswitchd then makes room
 * by its own eviction rule and inserts it). */
struct vsw_learn_event {
	__u64 mac; /* the key: VID << 48 | MAC */
	__u32 port;
	__u32 kind; /* VSW_EV_* */
	__u64 seen_ns;
	__u64 evicted; /* the victim this learn deleted from the map, or 0 */
};
#define VSW_EV_LEARN 0   /* written into the map */
#define VSW_EV_FULL 1    /* not written: the map is full */
#define VSW_EV_LIMITED 2 /* not written: the port holds its limit */

/* One record on the capture ring: a frame entering or leaving a port, or
 * dropped, as it was on the wire once vswitchd puts back the outer tag the
 * kernel keeps in metadata (vlan_present, vlan_proto, vlan_tci). */
#define VSW_CAPTURE_BYTES 1600 /* the size of vsw_capture.data */
#define VSW_CAPTURE_KIND_IN 0
#define VSW_CAPTURE_KIND_OUT 1
#define VSW_CAPTURE_KIND_DROP 2
struct vsw_capture {
	__u64 time_ns;   /* bpf_ktime_get_ns(), CLOCK_MONOTONIC */
	__u32 port;
	__u32 len;       /* skb->len: the frame without the metadata tag */
	__u16 kind;      /* VSW_CAPTURE_KIND_* */
	__u16 reason;    /* a drop's reason (VSW_R_*) */
	__s32 rule;      /* an ACL drop: the rule's slot in match order; else -1 */
	__u16 vlan_proto; /* the metadata tag, network order, when vlan_present */
	__u16 vlan_tci;
	__u32 vlan_present;
	__u32 stored;    /* bytes of data[] written */
	__u32 pad;
	__u8 data[1600]; /* VSW_CAPTURE_BYTES (a number: test/unit/kernel-maps.test.ts reads it) */
};

/* per port, per CPU */
struct vsw_port_counters {
	__u64 rx_frames;
	__u64 rx_bytes;
	__u64 tx_frames;
	__u64 tx_bytes;
};

/* drops[reason], per CPU: the reasons of src/core/reasons.ts */
#define VSW_R_RUNT 0
#define VSW_R_LINK_LOCAL 1
#define VSW_R_INVALID_SOURCE 2
#define VSW_R_SAME_PORT 3
#define VSW_R_MTU_EXCEEDED 4
#define VSW_R_PORT_DOWN 7
#define VSW_R_TX_ERROR 8
#define VSW_R_VLAN_TAGGED 9
#define VSW_R_VLAN_NOT_ALLOWED 10
#define VSW_R_ACL_DROP 11
#define VSW_R_MIRROR_OUTPUT 12
/* Not frame drops: learn events for stations not learned (a port at its limit,
 * a full map) the program did not send, over the port's event budget */
#define VSW_R_SUPPRESSED_LIMITED 13
#define VSW_R_SUPPRESSED_FULL 14
#define VSW_R_EVENTS_LOST 15 /* not a frame drop: learn events the ring had no room for */
#define VSW_R_CAPTURE_LOST 16 /* not a frame drop: captured frames the capture ring had no room for */
#define VSW_DROP_SLOTS 17

/*
 * Every struct vswitchd writes or reads, by size and by each field's offset:
 * the numbers of LAYOUT in src/datapath/kernel/layout.ts, in its order. A
 * struct changed here and not there fails this build;
 * test/unit/kernel-maps.test.ts reads these lines and the structs above and
 * fails unless LAYOUT says the same. (vsw_acl_cache_entry is the program's
 * alone.)
 */
_Static_assert(sizeof(struct vsw_port) == 40, "vsw_port");
_Static_assert(offsetof(struct vsw_port, ifindex) == 0, "vsw_port.ifindex");
_Static_assert(offsetof(struct vsw_port, flags) == 4, "vsw_port.flags");
_Static_assert(offsetof(struct vsw_port, mtu) == 8, "vsw_port.mtu");
_Static_assert(offsetof(struct vsw_port, vlan_mode) == 12, "vsw_port.vlan_mode");
_Static_assert(offsetof(struct vsw_port, vlan_tag) == 14, "vsw_port.vlan_tag");
_Static_assert(offsetof(struct vsw_port, peer_mtu) == 16, "vsw_port.peer_mtu");
_Static_assert(offsetof(struct vsw_port, mirror_in) == 20, "vsw_port.mirror_in");
_Static_assert(offsetof(struct vsw_port, peer_mac) == 24, "vsw_port.peer_mac");
_Static_assert(offsetof(struct vsw_port, mirror_out) == 32, "vsw_port.mirror_out");
_Static_assert(offsetof(struct vsw_port, capture) == 36, "vsw_port.capture");
_Static_assert(sizeof(struct vsw_vlans) == 512, "vsw_vlans");
_Static_assert(offsetof(struct vsw_vlans, bits) == 0, "vsw_vlans.bits");
_Static_assert(sizeof(struct vsw_config) == 48, "vsw_config");
_Static_assert(offsetof(struct vsw_config, aging_ns) == 0, "vsw_config.aging_ns");
_Static_assert(offsetof(struct vsw_config, refresh_ns) == 8, "vsw_config.refresh_ns");
_Static_assert(offsetof(struct vsw_config, port_hi) == 16, "vsw_config.port_hi");
_Static_assert(offsetof(struct vsw_config, bank) == 20, "vsw_config.bank");
_Static_assert(offsetof(struct vsw_config, victim) == 24, "vsw_config.victim");
_Static_assert(offsetof(struct vsw_config, vlan_ports) == 32, "vsw_config.vlan_ports");
_Static_assert(offsetof(struct vsw_config, acl_rules) == 36, "vsw_config.acl_rules");
_Static_assert(offsetof(struct vsw_config, mirrors) == 40, "vsw_config.mirrors");
_Static_assert(offsetof(struct vsw_config, acl_gen) == 44, "vsw_config.acl_gen");
_Static_assert(sizeof(struct vsw_mirror) == 520, "vsw_mirror");
_Static_assert(offsetof(struct vsw_mirror, out_port) == 0, "vsw_mirror.out_port");
_Static_assert(offsetof(struct vsw_mirror, pad) == 4, "vsw_mirror.pad");
_Static_assert(offsetof(struct vsw_mirror, vlans) == 8, "vsw_mirror.vlans");
_Static_assert(sizeof(struct vsw_acl_rule) == 48, "vsw_acl_rule");
_Static_assert(offsetof(struct vsw_acl_rule, src) == 0, "vsw_acl_rule.src");
_Static_assert(offsetof(struct vsw_acl_rule, src_mask) == 8, "vsw_acl_rule.src_mask");
_Static_assert(offsetof(struct vsw_acl_rule, dst) == 16, "vsw_acl_rule.dst");
_Static_assert(offsetof(struct vsw_acl_rule, dst_mask) == 24, "vsw_acl_rule.dst_mask");
_Static_assert(offsetof(struct vsw_acl_rule, port) == 32, "vsw_acl_rule.port");
_Static_assert(offsetof(struct vsw_acl_rule, type) == 36, "vsw_acl_rule.type");
_Static_assert(offsetof(struct vsw_acl_rule, vlan) == 40, "vsw_acl_rule.vlan");
_Static_assert(offsetof(struct vsw_acl_rule, action) == 44, "vsw_acl_rule.action");
_Static_assert(sizeof(struct vsw_fdb_entry) == 16, "vsw_fdb_entry");
_Static_assert(offsetof(struct vsw_fdb_entry, port) == 0, "vsw_fdb_entry.port");
_Static_assert(offsetof(struct vsw_fdb_entry, bulk) == 4, "vsw_fdb_entry.bulk");
_Static_assert(offsetof(struct vsw_fdb_entry, seen_ns) == 8, "vsw_fdb_entry.seen_ns");
_Static_assert(sizeof(struct vsw_learn_event) == 32, "vsw_learn_event");
_Static_assert(offsetof(struct vsw_learn_event, mac) == 0, "vsw_learn_event.mac");
_Static_assert(offsetof(struct vsw_learn_event, port) == 8, "vsw_learn_event.port");
_Static_assert(offsetof(struct vsw_learn_event, kind) == 12, "vsw_learn_event.kind");
_Static_assert(offsetof(struct vsw_learn_event, seen_ns) == 16, "vsw_learn_event.seen_ns");
_Static_assert(offsetof(struct vsw_learn_event, evicted) == 24, "vsw_learn_event.evicted");
_Static_assert(sizeof(struct vsw_capture) == 1640, "vsw_capture");
_Static_assert(offsetof(struct vsw_capture, time_ns) == 0, "vsw_capture.time_ns");
_Static_assert(offsetof(struct vsw_capture, port) == 8, "vsw_capture.port");
_Static_assert(offsetof(struct vsw_capture, len) == 12, "vsw_capture.len");
_Static_assert(offsetof(struct vsw_capture, kind) == 16, "vsw_capture.kind");
_Static_assert(offsetof(struct vsw_capture, reason) == 18, "vsw_capture.reason");
_Static_assert(offsetof(struct vsw_capture, rule) == 20, "vsw_capture.rule");
_Static_assert(offsetof(struct vsw_capture, vlan_proto) == 24, "vsw_capture.vlan_proto");
_Static_assert(offsetof(struct vsw_capture, vlan_tci) == 26, "vsw_capture.vlan_tci");
_Static_assert(offsetof(struct vsw_capture, vlan_present) == 28, "vsw_capture.vlan_present");
_Static_assert(offsetof(struct vsw_capture, stored) == 32, "vsw_capture.stored");
_Static_assert(offsetof(struct vsw_capture, pad) == 36, "vsw_capture.pad");
_Static_assert(offsetof(struct vsw_capture, data) == 40, "vsw_capture.data");
_Static_assert(sizeof(struct vsw_port_counters) == 32, "vsw_port_counters");
_Static_assert(offsetof(struct vsw_port_counters, rx_frames) == 0, "vsw_port_counters.rx_frames");
_Static_assert(offsetof(struct vsw_port_counters, rx_bytes) == 8, "vsw_port_counters.rx_bytes");
_Static_assert(offsetof(struct vsw_port_counters, tx_frames) == 16, "vsw_port_counters.tx_frames");
_Static_assert(offsetof(struct vsw_port_counters, tx_bytes) == 24, "vsw_port_counters.tx_bytes");

#endif
