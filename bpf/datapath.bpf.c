// SPDX-License-Identifier: MIT
// The kernel datapath: vsw_forward runs at tc ingress (a tcx link) of every
// port and does to each frame what the TypeScript forwarding core
// (src/core/forwarder.ts, the specification) does, inside the kernel. Its
// stages, in the order a frame meets them:
//
//   ingress    the port from port_of[ifindex]; rx counted; a mirror's output
//              port (VSW_PORT_MIRROR_OUT) only sends copies: what arrives on
//              it is dropped (MIRROR_OUTPUT)
//   validate   runt (RUNT), destination 01:80:C2:00:00:00-0F (LINK_LOCAL),
//              multicast/broadcast/zero source (INVALID_SOURCE)
//   vlan       on a port with a VLAN mode (`ports`, `vlans`), the frame's VLAN
//              by that mode (br_allowed_ingress): a tagged frame on an access
//              port (VLAN_TAGGED), a VLAN the port does not carry or an 802.1ad
//              outer tag on a trunk (VLAN_NOT_ALLOWED); on a port with no
//              mode, its 802.1Q VID, or 0
//   acl        when config.acl_rules is not 0: the first matching rule of
//              `acl` (in match order), found through the per-CPU acl_cache
//              (an answer of another config.acl_gen is a miss) or one bpf_loop
//              over the rules; it counts a hit in acl_hits, and a drop rule
//              drops (ACL_DROP) before learning
//   learn      (VLAN, source) -> ingress port in `fdb`; a hit is rewritten only
//              when it is refresh_ns old, a move or a new MAC always; a new
//              station on a full table takes the victim config names, one
//              from a port at its limit is left to vswitchd; each write goes on
//              the `events` ring for vswitchd, which keeps the authoritative
//              table (size limit, fair eviction, aging timer); a station not
//              learned is reported within its port's budget (ev_budget), the
//              rest counted (SUPPRESSED_LIMITED, SUPPRESSED_FULL)
//   classify   group destination or unknown/aged (VLAN, destination) -> flood;
//              known -> its port (SAME_PORT if it is the ingress port)
//   deliver    only to a port carrying the frame's VLAN (VLAN_NOT_ALLOWED for
//              unicast; a flood skips it), then through one predicate,
//              should_deliver(): the port is attached and up (PORT_DOWN for
//              unicast; a flood skips it) and the frame fits its MTU
//              (MTU_EXCEEDED). Each leaves with its port's tagging. Unicast
//              leaves with bpf_redirect, or bpf_redirect_peer straight into
//              the ingress of a veth's peer in another netns (to_peer()); a
//              flood (bpf_loop over the ports below config.port_hi, mirror
//              outputs left out) with one bpf_clone_redirect per port and the
//              frame itself to the last
//   mirror     when config.mirrors is not 0: a copy to the output of each
//              mirror that selected one of the frame's ports and its VLAN,
//              after the deliveries and before the last redirect
//
// Every path ends in TC_ACT_SHOT or a redirect: a port's frames never reach
// the host's stack. vswitchd writes `ports`, `vlans`, `port_of`, `config`,
// `acl` and `mirrors`, zeroes the counters of a slot it reuses, and writes and
// deletes `fdb` entries beside the program's learning; a change applies to the very
// next frame, because nothing here caches a decision across a change: each
// frame reads the maps afresh, and acl_cache answers only for the ACL
// generation they were found in. The configuration (ports, vlans, acl,
// mirrors, config[1 + bank]) is double-buffered: a frame picks the bank in
// config[0] once and reads only its tables, and vswitchd publishes a change
// written into the other bank with one write of that word (datapath.h).
//
// 802.1Q/802.1ad: the kernel has taken the outer tag into skb metadata
// (vlan_present, vlan_proto, vlan_tci) before tc ingress, and an inner tag is
// part of the payload. VLANs (port modes, src/core/vlan.ts): learning and
// lookup key on (VLAN, MAC); bpf_skb_vlan_pop/push rewrite the metadata tag
// before each redirect or clone; a flood of a nonzero VLAN visits the ports
// that take it untagged first, then pushes the 802.1Q tag (priority and DEI
// kept) for the rest. A frame of VLAN 0 leaves as it came. GSO and
// checksum-offloaded frames are redirected as they are; their MTU check is
// per segment (bpf_check_mtu).
//
// Mirrors (src/core/mirror.ts): a forwarded frame gathers the mirrors of its
// ingress port (mirror_in) and of each egress port that passed should_deliver
// (mirror_out); a unicast frame not delivered is still copied for its ingress
// port's mirrors. One bpf_loop over `mirrors` clones it to the output of each
// of them that selects its VLAN. The tag of each copy and each egress goes
// through one state machine (tag_to), so the copies never disturb the tag the
// frame itself leaves with.

#include <linux/bpf.h>
#include <linux/if_packet.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "datapath.h"

#define ETH_HLEN 14
#define VLAN_HLEN 4
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
/* Stacked tags looked for in a frame over the MTU (the core looks at all of them). */
#define VSW_MAX_TAGS 16

/* ports[bank * VSW_MAX_PORTS + port] */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VSW_BANKS * VSW_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct vsw_port);
} ports SEC(".maps");

/* vlans[bank * VSW_MAX_PORTS + port] */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VSW_BANKS * VSW_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct vsw_vlans);
} vlans SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VSW_MAX_PORTS);
	__type(key, __u32); /* ifindex */
	__type(value, __u32); /* port */
} port_of SEC(".maps");

/* config[0]: the words of every frame and `bank`; config[1 + bank]: that bank's words */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 + VSW_BANKS);
	__type(key, __u32);
	__type(value, struct vsw_config);
} config SEC(".maps");

/*
 * vswitchd's wait for the frames that read the old bank: an update of a
 * map-in-map slot returns once every running program has finished (the
 * syscall's synchronize_rcu). The program never reads it.
 */
struct vsw_barrier_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} barrier_inner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct vsw_barrier_inner);
} barrier SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* vswitchd sets --fdb-size before loading */
	__type(key, __u64);
	__type(value, struct vsw_fdb_entry);
} fdb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

/*
 * ev_budget[port]: the port's budget of events for stations it cannot learn
 * (VSW_EV_LIMITED, VSW_EV_FULL), a GCRA: the time its budget is next whole.
 * A storm of new sources on one port then costs vswitchd at most
 * VSW_EV_BURST events at once and one per VSW_EV_GAP_NS after, not one per
 * frame. The program's alone (vswitchd never reads it); updated without
 * atomics: CPUs racing on one port may let a few more through.
 */
#define VSW_EV_BURST 64
#define VSW_EV_GAP_NS 1000000ULL
struct vsw_ev_budget {
	__u64 tat_ns; /* theoretical arrival time of the next event */
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VSW_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct vsw_ev_budget);
} ev_budget SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VSW_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct vsw_port_counters);
} port_counters SEC(".maps");

/* acl[bank * VSW_ACL_MAX + k] */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VSW_BANKS * VSW_ACL_MAX);
	__type(key, __u32);
	__type(value, struct vsw_acl_rule);
} acl SEC(".maps");

/* acl_cache: which rule a (port, MACs, type, VLAN) matched, so a flow scans the rules once per ACL */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VSW_ACL_CACHE);
	__type(key, __u32);
	__type(value, struct vsw_acl_cache_entry);
} acl_cache SEC(".maps");

/* acl_hits[bank * VSW_ACL_MAX + k]: frames that rule matched (vswitchd carries them over when the table changes) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VSW_BANKS * VSW_ACL_MAX);
	__type(key, __u32);
	__type(value, __u64);
} acl_hits SEC(".maps");

/* mirrors[bank * VSW_MIRROR_MAX + k] */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VSW_BANKS * VSW_MIRROR_MAX);
	__type(key, __u32);
	__type(value, struct vsw_mirror);
} mirrors SEC(".maps");

/* mirror_copies[bank * VSW_MIRROR_MAX + k]: frames that mirror copied (vswitchd carries them over when the set changes) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VSW_BANKS * VSW_MIRROR_MAX);
	__type(key, __u32);
	__type(value, __u64);
} mirror_copies SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VSW_DROP_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline int drop(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &reason);
	if (n)
		*n += 1;
	return TC_ACT_SHOT;
}

/*
 * `vswconfig capture`: frames of the ports whose entry's `capture` asks for
 * them, each a fixed-size record (header and the first VSW_CAPTURE_BYTES),
 * read by vswitchd a bounded share per turn. While no capture runs no port
 * has a flag, and nothing here is reached: the flag is in the port entry
 * every frame reads anyway.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} captured SEC(".maps");

static __noinline void capture(struct __sk_buff *skb, __u32 port, __u32 kind, __u32 reason, __s32 rule)
{
	struct vsw_capture *c = bpf_ringbuf_reserve(&captured, sizeof(*c), 0);
	if (!c) {
		drop(VSW_R_CAPTURE_LOST);
		return;
	}
	__u32 len = skb->len;
	c->time_ns = bpf_ktime_get_ns();
	c->port = port;
	c->len = len;
	c->kind = kind;
	c->reason = reason;
	c->rule = rule;
	c->vlan_proto = skb->vlan_proto;
	c->vlan_tci = skb->vlan_tci;
	c->vlan_present = skb->vlan_present;
	c->pad = 0;
	if (len > VSW_CAPTURE_BYTES)
		len = VSW_CAPTURE_BYTES;
	if (len == 0 || bpf_skb_load_bytes(skb, 0, c->data, len) != 0)
		len = 0;
	c->stored = len;
	bpf_ringbuf_submit(c, 0);
}

/*
 * A frame dropped at `port` (on arrival there, or on its way out of it after
 * the forwarding decision; `cap` is that port's capture flags): counted, and
 * captured if the flag asks.
 */
static __always_inline int drop_frame(struct __sk_buff *skb, __u32 cap, __u32 port, __u32 reason, __s32 rule)
{
	if (cap & VSW_CAPTURE_DROPS)
		capture(skb, port, VSW_CAPTURE_KIND_DROP, reason, rule);
	return drop(reason);
}

static __always_inline __u64 mac_at(const __u8 *p)
{
	return ((__u64)p[0] << 40) | ((__u64)p[1] << 32) | ((__u64)p[2] << 24) |
	       ((__u64)p[3] << 16) | ((__u64)p[4] << 8) | (__u64)p[5];
}

/* Does the port carry VLAN vid (in the bank whose slots start at `base`)? */
static __always_inline int carries(__u32 base, __u32 port, __u32 vid)
{
	__u32 key = base + port;
	struct vsw_vlans *m = bpf_map_lookup_elem(&vlans, &key);
	return m && ((m->bits[(vid >> 6) & 63] >> (vid & 63)) & 1);
}

/* Does VLAN vid leave the port untagged (its access or native-untagged VLAN)? */
static __always_inline int leaves_untagged(const struct vsw_port *out, __u32 vid)
{
	return (out->vlan_mode == VSW_VLAN_ACCESS || out->vlan_mode == VSW_VLAN_NATIVE_UNTAGGED) && out->vlan_tag == vid;
}

/*
 * Give the frame the outer tag it leaves `out` with (br_handle_vlan): none, or
 * 802.1Q with TCI `tci`. VLAN 0 leaves as it came. Nonzero when the skb could
 * not be changed.
 */
static __always_inline int set_egress_tag(struct __sk_buff *skb, const struct vsw_port *out, __u32 vid, __u16 tci)
{
	if (vid == 0)
		return 0;
	if (leaves_untagged(out, vid))
		return skb->vlan_present ? bpf_skb_vlan_pop(skb) : 0;
	if (skb->vlan_present) {
		if (skb->vlan_proto == bpf_htons(ETH_P_8021Q) && skb->vlan_tci == tci)
			return 0;
		if (bpf_skb_vlan_pop(skb) != 0)
			return -1;
	}
	/* A tag still present here is one from the payload the pop moved up: the push puts it back. */
	return bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), tci);
}

/*
 * Where a frame of a nonzero VLAN stands with its outer tag: as it came, with
 * the switch's 802.1Q tag taken off (a tag from the payload may have moved up
 * into the metadata: it is part of the frame), or with the egress tag `tci`.
 */
#define TAG_AS_CAME 0
#define TAG_NONE 1
#define TAG_SET 2

/* Bring the frame to state `want` (TAG_NONE or TAG_SET). Nonzero when the skb could not be changed. */
static __always_inline int tag_to(struct __sk_buff *skb, __u32 want, __u16 tci, __u32 *st)
{
	if (*st == want)
		return 0;
	int r;
	if (*st == TAG_AS_CAME) {
		struct vsw_port none = { .vlan_mode = want == TAG_NONE ? VSW_VLAN_ACCESS : VSW_VLAN_TRUNK, .vlan_tag = tci & 0xfff };
		r = set_egress_tag(skb, &none, tci & 0xfff, tci);
	} else if (want == TAG_NONE) {
		r = bpf_skb_vlan_pop(skb);
	} else {
		r = bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), tci);
	}
	*st = want;
	return r;
}

/* Give the frame the tag it leaves `out` with, from any state; VLAN 0 leaves as it came. */
static __always_inline int tag_for(struct __sk_buff *skb, const struct vsw_port *out, __u32 vid, __u16 tci, __u32 *st)
{
	if (vid == 0)
		return 0;
	return tag_to(skb, leaves_untagged(out, vid) ? TAG_NONE : TAG_SET, tci, st);
}

/* Wire bytes without FCS: the frame, plus a tag the kernel took into metadata. */
static __always_inline __u64 wire_len(const struct __sk_buff *skb)
{
	return skb->len + (skb->vlan_present ? 4 : 0);
}

/* The frame leaves `port` (whose entry's capture flags are `cap`) as the skb now is: counted, and captured if asked. */
static __always_inline void sent(struct __sk_buff *skb, __u32 port, __u32 cap)
{
	struct vsw_port_counters *c = bpf_map_lookup_elem(&port_counters, &port);
	if (c) {
		c->tx_frames += 1;
		c->tx_bytes += wire_len(skb);
	}
	if (cap & VSW_CAPTURE_OUT)
		capture(skb, port, VSW_CAPTURE_KIND_OUT, 0, -1);
}

/*
 * Bytes of the 802.1Q/802.1ad tags still in the frame after its MAC addresses
 * (the kernel took only the outermost into metadata), as the core's
 * tagBytesInFrame(); at most VSW_MAX_TAGS of them. Read as the frame came,
 * before any tag is changed: once the switch's tag is popped, the kernel moves
 * the next tag of the payload into the metadata (skb_vlan_pop), and a scan
 * then would miss it.
 */
static __always_inline __u32 tag_bytes_in_frame(struct __sk_buff *skb)
{
	__u32 n = 0;
	for (int k = 0; k < VSW_MAX_TAGS; k++) {
		__u16 type;
		if (ETH_HLEN + n + VLAN_HLEN > skb->len)
			break;
		if (bpf_skb_load_bytes(skb, 12 + n, &type, sizeof(type)) != 0)
			break;
		if (type != bpf_htons(ETH_P_8021Q) && type != bpf_htons(ETH_P_8021AD))
			break;
		n += VLAN_HLEN;
	}
	return n;
}

/*
 * A frame's size against the MTUs: l3 bytes past the Ethernet header, and as
 * many without its tags (as the core's should_deliver, tags do not count
 * against an MTU). Both are taken as the frame came, before any tag changes;
 * the payload is scanned only when its type is a tag (rare).
 */
struct vsw_size {
	__u32 l3;
	__u32 l3_untagged;
};

/* Does the frame fit the egress port's MTU? A GSO frame is checked per segment. */
static __always_inline int fits(struct __sk_buff *skb, const struct vsw_size *z, const struct vsw_port *out)
{
	if (skb->gso_segs > 1) {
		__u32 mtu = 0;
		return bpf_check_mtu(skb, out->ifindex, &mtu, 0, BPF_MTU_CHK_SEGS) == BPF_MTU_CHK_RET_SUCCESS;
	}
	return z->l3_untagged <= out->mtu;
}

/*
 * THE egress predicate (Linux should_deliver) for port `p` (entry `out`).
 * Counts why not, except a flood skipping a down port, and captures the
 * frame as a drop of `p` if its flag asks.
 */
static __always_inline int should_deliver(struct __sk_buff *skb, const struct vsw_size *z, const struct vsw_port *out, __u32 p, int flood)
{
	if ((out->flags & (VSW_PORT_ATTACHED | VSW_PORT_UP)) != (VSW_PORT_ATTACHED | VSW_PORT_UP)) {
		if (!flood)
			drop_frame(skb, out->capture, p, VSW_R_PORT_DOWN, -1);
		return 0;
	}
	if (!fits(skb, z, out)) {
		drop_frame(skb, out->capture, p, VSW_R_MTU_EXCEEDED, -1);
		return 0;
	}
	return 1;
}

/*
 * May known unicast skip the egress veth's TX (veth_xmit, then the backlog
 * queue) and enter its peer's ingress at once (bpf_redirect_peer)? Only when
 * the peer then gets what veth_xmit would have given it: the peer is in
 * another netns (vswitchd's VSW_PORT_PEER; the kernel drops a peer redirect
 * within one), the frame is for the peer's own MAC (veth_xmit's eth_type_trans
 * makes any other PACKET_OTHERHOST, which a peer redirect does not: the frame
 * then takes the veth's TX), and it fits the peer's MTU as veth_xmit checks
 * it (is_skb_forwardable: MTU + Ethernet header + one tag, GSO exempt).
 * vswitchd --redirect-peer says for which frames: all (VSW_PORT_PEER_GSO set
 * too), small (not GSO frames, VSW_PORT_PEER alone), auto (VSW_PORT_PEER_AUTO:
 * not GSO frames, nor any frame for a station that took one in the last ~1 s)
 * or none (no flag). auto exists because a bulk TCP flow through the peer
 * redirect retransmits 2-8x what it does behind a bridge (reordered segments,
 * issue 18), while 64 B and latency gain from it: a station receiving GSO
 * frames gets all its frames through the veth's TX, so one flow's segments
 * never take two paths; the mark is a word of its FDB entry `e`, stored at
 * most once every two units (the `| 1`: ~2 ms), so no per-frame map write.
 */
static __always_inline int to_peer(const struct __sk_buff *skb, const struct vsw_port *out, __u64 dst,
				   struct vsw_fdb_entry *e, __u64 now)
{
	if (!(out->flags & VSW_PORT_PEER) || dst != out->peer_mac)
		return 0;
	if (out->flags & VSW_PORT_PEER_AUTO) {
		__u32 t = (__u32)(now >> VSW_BULK_SHIFT) | 1;
		if (skb->gso_size != 0) {
			if (e->bulk != t)
				e->bulk = t;
			return 0;
		}
		if (e->bulk != 0 && t - e->bulk < VSW_BULK_UNITS)
			return 0;
	} else if (skb->gso_size != 0) {
		return (out->flags & VSW_PORT_PEER_GSO) != 0;
	}
	return skb->len <= out->peer_mtu + ETH_HLEN + VLAN_HLEN;
}

/* Is there budget on `port` for one more event of a station not learned? Takes it if so. */
static __always_inline int event_budget(__u32 port, __u64 now)
{
	struct vsw_ev_budget *b = bpf_map_lookup_elem(&ev_budget, &port);
	if (!b)
		return 1;
	__u64 tat = b->tat_ns > now ? b->tat_ns : now;
	if (tat - now >= VSW_EV_BURST * VSW_EV_GAP_NS)
		return 0;
	b->tat_ns = tat + VSW_EV_GAP_NS;
	return 1;
}

/*
 * Learn src on the ingress port, as Fdb.learnHL. A new station on a full table
 * costs the victim vswitchd has named (the core's fair eviction), deleted here
 * in the same frame so that this frame's own lookup already misses it; a
 * second new station before vswitchd names the next victim is evicted for by
 * vswitchd afterwards (the map has room beyond --fdb-size for that).
 */
static __always_inline void learn(__u64 src, __u32 ingress, __u32 in_flags, __u64 now, struct vsw_config *cfg)
{
	struct vsw_fdb_entry *e = bpf_map_lookup_elem(&fdb, &src);
	struct vsw_learn_event ev = { .mac = src, .port = ingress, .kind = VSW_EV_LEARN, .seen_ns = now };

	if (e && now - e->seen_ns < cfg->aging_ns) {
		if (e->port == ingress && now - e->seen_ns < cfg->refresh_ns)
			return; /* the common case: read only */
		e->port = ingress;
		e->seen_ns = now;
	} else if (e) {
		/* An aged entry still held: rebinding it takes no room. */
		e->port = ingress;
		e->seen_ns = now;
	} else if (in_flags & VSW_PORT_LIMITED) {
		ev.kind = VSW_EV_LIMITED;
	} else {
		__u64 victim = cfg->victim;
		if (victim) {
			cfg->victim = 0;
			if (bpf_map_delete_elem(&fdb, &victim) == 0)
				ev.evicted = victim;
		}
		struct vsw_fdb_entry fresh = { .port = ingress, .seen_ns = now };
		if (bpf_map_update_elem(&fdb, &src, &fresh, BPF_ANY) != 0)
			ev.kind = VSW_EV_FULL;
	}
	/* A station not learned (and no victim taken, which vswitchd must hear of): within the port's budget only. */
	if (ev.kind != VSW_EV_LEARN && ev.evicted == 0 && !event_budget(ingress, now)) {
		drop(ev.kind == VSW_EV_LIMITED ? VSW_R_SUPPRESSED_LIMITED : VSW_R_SUPPRESSED_FULL);
		return;
	}
	if (bpf_ringbuf_output(&events, &ev, sizeof(ev), 0) != 0)
		drop(VSW_R_EVENTS_LOST);
}

/* One rule of the ACL pass (the body of a bpf_loop, verified once whatever the rule count). */
struct acl_ctx {
	__u64 src;
	__u64 dst;
	__u32 count;
	__s32 port;
	__s32 type;
	__s32 vid;
	__u32 untagged;
	__s32 hit; /* the first rule that matched, or -1 */
	__u32 base; /* the bank's first slot in acl */
};

static long acl_one(__u32 k, void *data)
{
	struct acl_ctx *a = data;
	if (k >= a->count)
		return 1;
	__u32 key = a->base + k;
	struct vsw_acl_rule *r = bpf_map_lookup_elem(&acl, &key);
	if (!r)
		return 1;
	if (r->port != VSW_ACL_ANY && r->port != a->port)
		return 0;
	if ((a->src & r->src_mask) != r->src || (a->dst & r->dst_mask) != r->dst)
		return 0;
	if (r->type != VSW_ACL_ANY && r->type != a->type)
		return 0;
	if (r->vlan != VSW_ACL_ANY && (r->vlan == VSW_ACL_UNTAGGED ? !a->untagged : r->vlan != a->vid))
		return 0;
	a->hit = k;
	return 1;
}

/* A flood's pass: every port (VLAN 0), or the ports a VLAN leaves untagged, or the others. */
#define FLOOD_ALL 0
#define FLOOD_UNTAGGED 1
#define FLOOD_TAGGED 2

/* One port of a flood (the body of a bpf_loop, verified once whatever the port count). */
struct flood_ctx {
	struct __sk_buff *skb;
	struct vsw_size z;
	__u32 ingress;
	__u32 hi;
	__u32 last;        /* the last eligible port so far, VSW_MAX_PORTS if none */
	__u32 last_ifindex;
	__u32 last_cap;    /* the last port's capture flags */
	__u32 vid;
	__u32 pass;        /* FLOOD_* */
	__u32 moded;       /* some port has a VLAN mode: else every port carries every VLAN */
	__u32 sel;         /* mirrors selecting a port the flood reached (mirror_out) */
	__u32 base;        /* the bank's first slot in ports and vlans */
};

static long flood_one(__u32 p, void *data)
{
	struct flood_ctx *f = data;
	if (p >= f->hi)
		return 1; /* no attached port above: stop */
	if (p == f->ingress)
		return 0;
	__u32 key = f->base + p;
	struct vsw_port *out = bpf_map_lookup_elem(&ports, &key);
	if (!out || (out->flags & (VSW_PORT_ATTACHED | VSW_PORT_MIRROR_OUT)) != VSW_PORT_ATTACHED)
		return 0;
	/* The pass first: it reads the port already looked up, the VLAN bitmap is another lookup. */
	if (f->pass != FLOOD_ALL && leaves_untagged(out, f->vid) != (f->pass == FLOOD_UNTAGGED))
		return 0;
	if (f->moded && !carries(f->base, p, f->vid))
		return 0;
	if (!should_deliver(f->skb, &f->z, out, p, 1))
		return 0;
	f->sel |= out->mirror_out;
	if (f->last < VSW_MAX_PORTS) {
		if (bpf_clone_redirect(f->skb, f->last_ifindex, 0) == 0)
			sent(f->skb, f->last, f->last_cap);
		else
			drop_frame(f->skb, f->last_cap, f->last, VSW_R_TX_ERROR, -1);
	}
	f->last = p;
	f->last_ifindex = out->ifindex;
	f->last_cap = out->capture;
	return 0;
}

/* One mirror of a frame's copies (the body of a bpf_loop, verified once whatever the mirror count). */
struct mirror_ctx {
	struct __sk_buff *skb;
	struct vsw_size z;
	__u32 sel;   /* the mirrors that selected the frame's ports */
	__u32 count;
	__u32 vid;
	__u32 st;    /* TAG_* */
	__u32 bank;
	__u16 tci;
};

static long mirror_one(__u32 k, void *data)
{
	struct mirror_ctx *m = data;
	if (k >= m->count || k >= VSW_MIRROR_MAX)
		return 1;
	if (!((m->sel >> k) & 1))
		return 0;
	__u32 mk = m->bank * VSW_MIRROR_MAX + k;
	struct vsw_mirror *mr = bpf_map_lookup_elem(&mirrors, &mk);
	if (!mr || !((mr->vlans[(m->vid >> 6) & 63] >> (m->vid & 63)) & 1))
		return 0;
	__u32 o = mr->out_port;
	__u32 ok = m->bank * VSW_MAX_PORTS + o;
	struct vsw_port *out = bpf_map_lookup_elem(&ports, &ok);
	if (!out)
		return 0;
	/* The output's tag before should_deliver, as the core: a copy it refuses is captured with it, not the last copy's. */
	if (tag_for(m->skb, out, m->vid, m->tci, &m->st) != 0) {
		drop_frame(m->skb, out->capture, o, VSW_R_TX_ERROR, -1);
		return 0;
	}
	if (!should_deliver(m->skb, &m->z, out, o, 1))
		return 0;
	if (bpf_clone_redirect(m->skb, out->ifindex, 0) != 0) {
		drop_frame(m->skb, out->capture, o, VSW_R_TX_ERROR, -1);
		return 0;
	}
	sent(m->skb, o, out->capture);
	__u64 *n = bpf_map_lookup_elem(&mirror_copies, &mk);
	if (n)
		*n += 1;
	return 0;
}

/* Copy the frame to the mirrors in `sel` that select its VLAN (bank `bank`, configured by bc); *st follows the tag. */
static __always_inline void mirror_frame(struct __sk_buff *skb, const struct vsw_size *z, __u32 sel, const struct vsw_config *bc,
					 __u32 bank, __u32 vid, __u16 tci, __u32 *st)
{
	if (!sel)
		return;
	struct mirror_ctx m = { .skb = skb, .z = *z, .sel = sel, .count = bc->mirrors, .vid = vid, .st = *st, .bank = bank, .tci = tci };
	bpf_loop(VSW_MIRROR_MAX, mirror_one, &m, 0);
	*st = m.st;
}

SEC("tc")
int vsw_forward(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ingress_ifindex;
	__u32 *in = bpf_map_lookup_elem(&port_of, &ifindex);
	__u32 zero = 0;
	struct vsw_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!in || !cfg)
		return TC_ACT_SHOT; /* being detached: the frame is still the switch's */
	/*
	 * The configuration is read from one bank, chosen once here: vswitchd
	 * writes a change into the other and publishes it with one write of
	 * `bank`, so a frame sees the old configuration or the new, never a mix.
	 */
	__u32 bank = cfg->bank & 1;
	__u32 bkey = 1 + bank;
	struct vsw_config *bc = bpf_map_lookup_elem(&config, &bkey);
	if (!bc)
		return TC_ACT_SHOT;
	__u32 base = bank * VSW_MAX_PORTS;
	__u32 ingress = *in;

	struct vsw_port_counters *rx = bpf_map_lookup_elem(&port_counters, &ingress);
	if (rx) {
		rx->rx_frames += 1;
		rx->rx_bytes += wire_len(skb);
	}
	__u32 in_key = base + ingress;
	struct vsw_port *in_port = bpf_map_lookup_elem(&ports, &in_key);
	__u32 cap = in_port ? in_port->capture : 0;
	if (cap & VSW_CAPTURE_IN)
		capture(skb, ingress, VSW_CAPTURE_KIND_IN, 0, -1);
	if (in_port && (in_port->flags & VSW_PORT_MIRROR_OUT))
		return drop_frame(skb, cap, ingress, VSW_R_MIRROR_OUTPUT, -1); /* a mirror's output only sends copies */

	if (skb->len < ETH_HLEN)
		return drop_frame(skb, cap, ingress, VSW_R_RUNT, -1);
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	if (data + ETH_HLEN > end) {
		if (bpf_skb_pull_data(skb, ETH_HLEN) != 0)
			return drop_frame(skb, cap, ingress, VSW_R_RUNT, -1);
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
		if (data + ETH_HLEN > end)
			return drop_frame(skb, cap, ingress, VSW_R_RUNT, -1);
	}
	const __u8 *eth = data;
	__u64 dst = mac_at(eth);
	__u64 src = mac_at(eth + 6);

	if ((dst & ~0xfULL) == 0x0180c2000000ULL)
		return drop_frame(skb, cap, ingress, VSW_R_LINK_LOCAL, -1);
	if ((src & (1ULL << 40)) || src == 0)
		return drop_frame(skb, cap, ingress, VSW_R_INVALID_SOURCE, -1);

	/* br_allowed_ingress: the VLAN by the port's mode; only an 802.1Q outer tag is a VLAN. */
	int q = skb->vlan_present && skb->vlan_proto == bpf_htons(ETH_P_8021Q);
	__u32 vid = q ? (skb->vlan_tci & 0xfff) : 0;
	if (in_port && in_port->vlan_mode != VSW_VLAN_DEFAULT) {
		__u32 mode = in_port->vlan_mode;
		if (skb->vlan_present && !q)
			return drop_frame(skb, cap, ingress, mode == VSW_VLAN_ACCESS ? VSW_R_VLAN_TAGGED : VSW_R_VLAN_NOT_ALLOWED, -1);
		if (mode == VSW_VLAN_ACCESS) {
			if (vid != 0)
				return drop_frame(skb, cap, ingress, VSW_R_VLAN_TAGGED, -1);
			vid = in_port->vlan_tag;
		} else if (vid == 0 && mode != VSW_VLAN_TRUNK) {
			vid = in_port->vlan_tag;
		}
		if (!carries(base, ingress, vid))
			return drop_frame(skb, cap, ingress, VSW_R_VLAN_NOT_ALLOWED, -1);
	}
	vid &= 0xfff;
	/* The tag a tagged egress gives it: 802.1Q, the priority and DEI bits it came with. */
	__u16 tci = vid | (q ? (skb->vlan_tci & 0xf000) : 0);

	/* The 16 bits after the MACs (after the outer tag the kernel took). */
	__u32 type = (eth[12] << 8) | eth[13];

	/* The ACL, after the VLAN and before learning: a dropped frame is not learned. */
	if (bc->acl_rules) {
		__u32 gen = bc->acl_gen; /* the bank's table: an answer cached under another generation is a miss */
		__u32 tv = (type << 13) | (vid << 1) | !skb->vlan_present;
		__u32 slot = (__u32)(((src * 0x9E3779B97F4A7C15ULL) ^ (dst * 0xC2B2AE3D27D4EB4FULL) ^
				      ((((__u64)ingress << 32) | tv) * 0x165667B19E3779F9ULL)) >> 40) & (VSW_ACL_CACHE - 1);
		struct vsw_acl_cache_entry *c = bpf_map_lookup_elem(&acl_cache, &slot);
		__s32 hit;
		if (c && c->gen == gen && c->src == src && c->dst == dst && c->port == ingress && c->tv == tv) {
			hit = c->hit;
		} else {
			struct acl_ctx a = {
				.src = src, .dst = dst, .count = bc->acl_rules, .port = ingress,
				.type = type, .vid = vid, .untagged = !skb->vlan_present, .hit = -1, .base = bank * VSW_ACL_MAX,
			};
			bpf_loop(VSW_ACL_MAX, acl_one, &a, 0);
			hit = a.hit;
			if (c) {
				c->src = src;
				c->dst = dst;
				c->port = ingress;
				c->tv = tv;
				c->gen = gen;
				c->hit = hit;
			}
		}
		if (hit >= 0) {
			__u32 k = bank * VSW_ACL_MAX + (hit & (VSW_ACL_MAX - 1));
			__u64 *hits = bpf_map_lookup_elem(&acl_hits, &k);
			if (hits)
				*hits += 1;
			struct vsw_acl_rule *r = bpf_map_lookup_elem(&acl, &k);
			if (r && r->action == VSW_ACL_DROP)
				return drop_frame(skb, cap, ingress, VSW_R_ACL_DROP, hit & (VSW_ACL_MAX - 1));
		}
	}

	__u64 now = bpf_ktime_get_ns();
	learn(src | ((__u64)vid << 48), ingress, in_port ? in_port->flags : 0, now, cfg);
	struct vsw_size z = { .l3 = skb->len - ETH_HLEN };
	z.l3_untagged = z.l3 - (type == ETH_P_8021Q || type == ETH_P_8021AD ? tag_bytes_in_frame(skb) : 0);
	/* Mirrors selecting the frame: its ingress port's, then each egress port's. */
	__u32 sel = bc->mirrors && in_port ? in_port->mirror_in : 0;
	__u32 st = TAG_AS_CAME;

	if (!(dst & (1ULL << 40))) {
		__u64 key = dst | ((__u64)vid << 48);
		struct vsw_fdb_entry *e = bpf_map_lookup_elem(&fdb, &key);
		if (e && now - e->seen_ns < cfg->aging_ns) {
			__u32 p = e->port;
			if (p == ingress)
				return drop_frame(skb, cap, ingress, VSW_R_SAME_PORT, -1);
			__u32 out_key = base + p;
			struct vsw_port *out = bpf_map_lookup_elem(&ports, &out_key);
			int ok = 0;
			if (!out)
				drop(VSW_R_PORT_DOWN);
			else if (bc->vlan_ports && !carries(base, p, vid))
				drop_frame(skb, out->capture, p, VSW_R_VLAN_NOT_ALLOWED, -1);
			else
				ok = should_deliver(skb, &z, out, p, 0);
			if (!ok || !out) {
				/* Not delivered: the ingress port's mirrors still copy it. */
				mirror_frame(skb, &z, sel, bc, bank, vid, tci, &st);
				return TC_ACT_SHOT;
			}
			if (bc->mirrors)
				mirror_frame(skb, &z, sel | out->mirror_out, bc, bank, vid, tci, &st);
			if (tag_for(skb, out, vid, tci, &st) != 0)
				return drop_frame(skb, out->capture, p, VSW_R_TX_ERROR, -1);
			sent(skb, p, out->capture);
			if (to_peer(skb, out, dst, e, now)) {
				/* For the peer's own MAC, as eth_type_trans on the peer would say (the frame is OTHERHOST here). */
				bpf_skb_change_type(skb, PACKET_HOST);
				return bpf_redirect_peer(out->ifindex, 0);
			}
			return bpf_redirect(out->ifindex, 0);
		}
	}

	/*
	 * Flood: a copy to every other port that is attached, up and big enough.
	 * The last of them gets the frame itself (a redirect, as the bridge
	 * hands the original to its last port), the others a clone.
	 */
	struct flood_ctx f = {
		.skb = skb, .z = z, .ingress = ingress, .hi = bc->port_hi, .last = VSW_MAX_PORTS,
		.vid = vid, .pass = vid == 0 || bc->vlan_ports == 0 ? FLOOD_ALL : FLOOD_UNTAGGED,
		.moded = bc->vlan_ports != 0, .base = base,
	};
	/* With no port in a VLAN mode every port takes the frame as it came: one pass, no change. */
	if (f.pass != FLOOD_ALL && tag_to(skb, TAG_NONE, tci, &st) != 0)
		return drop_frame(skb, cap, ingress, VSW_R_TX_ERROR, -1); /* before any port: the ingress port's */
	bpf_loop(VSW_MAX_PORTS, flood_one, &f, 0);
	if (f.pass != FLOOD_ALL) {
		/* Then the ports that take it tagged: the last untagged one gets its clone now. */
		if (f.last < VSW_MAX_PORTS) {
			if (bpf_clone_redirect(skb, f.last_ifindex, 0) == 0)
				sent(skb, f.last, f.last_cap);
			else
				drop_frame(skb, f.last_cap, f.last, VSW_R_TX_ERROR, -1);
			f.last = VSW_MAX_PORTS;
		}
		if (tag_to(skb, TAG_SET, tci, &st) != 0)
			return drop_frame(skb, cap, ingress, VSW_R_TX_ERROR, -1);
		f.pass = FLOOD_TAGGED;
		bpf_loop(VSW_MAX_PORTS, flood_one, &f, 0);
	}
	if (bc->mirrors) {
		__u32 last_st = st;
		mirror_frame(skb, &z, sel | f.sel, bc, bank, vid, tci, &st);
		/* The last port takes the frame as its pass left it. */
		if (vid != 0 && last_st != TAG_AS_CAME && tag_to(skb, last_st, tci, &st) != 0) {
			if (f.last < VSW_MAX_PORTS)
				return drop_frame(skb, f.last_cap, f.last, VSW_R_TX_ERROR, -1);
			return drop_frame(skb, cap, ingress, VSW_R_TX_ERROR, -1);
		}
	}
	if (f.last >= VSW_MAX_PORTS)
		return TC_ACT_SHOT; /* nowhere to go: not a drop, as in the core */
	sent(skb, f.last, f.last_cap);
	return bpf_redirect(f.last_ifindex, 0);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
