// SPDX-License-Identifier: MIT
// vswitch's eBPF programs, attached at tc ingress (tcx) of every switch port.
//
// vsw_claim: the userspace datapath's ingress hook. The switch reads a port's
// frames from an AF_PACKET ring; the kernel hands those sockets their copy
// (packet taps run before tc ingress), and would then give the frame to the
// host's own stack as if the port were an ordinary interface. Dropping it here
// makes a port's frames belong to the switch alone, as a Linux bridge port's
// rx_handler does. The link is owned by vswitchd's file descriptor, so the
// kernel detaches it when vswitchd exits, however it exits.

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int vsw_claim(struct __sk_buff *skb)
{
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
