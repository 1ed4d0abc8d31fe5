// SPDX-License-Identifier: Apache-2.0
/*
 * The fleet guard: a tc classifier that enforces (or, in audit mode, only counts) the fleet's
 * cluster-level denies. From a packet's addresses it finds the source and destination
 * cluster (guard_cidrs), looks up (source, destination, protocol, destination port) in
 * guard_policy, where the longest prefix wins (one port, then a port block, then every port,
 * then every protocol), and falls back to the destination cluster's default (guard_defaults).
 *
 * A packet that passes returns TC_ACT_UNSPEC, not TC_ACT_OK: with tcx that is TCX_NEXT and
 * with legacy cls_bpf it continues to the next filter, so Cilium's own programs attached
 * after the guard still see every packet. Only enforce mode ever returns TC_ACT_SHOT.
 *
 * Parsing limits (each is sound: it can only make the guard pass more, never drop an
 * allowed flow, and a deny without ports still matches because it ignores the port):
 * - VLAN tags and anything other than IPv4/IPv6 pass.
 * - The destination port is unknown (looked up as port 0, which no port range contains) for
 *   non-first fragments, protocols without ports (ICMP), truncated L4 headers, and IPv6
 *   packets with more than GUARD_MAX_EXTHDRS extension headers before the L4 header.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "guard.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "seed files encode array indices and values little-endian"
#endif

#define GUARD_MAX_EXTHDRS 4
#define IP_OFFSET_MASK 0x1fff
#define IP6_OFFSET_MASK 0xfff8

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, GUARD_CIDR_ENTRIES);
	__type(key, struct guard_cidr_key);
	__type(value, struct guard_cidr_value);
} guard_cidrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, GUARD_POLICY_ENTRIES);
	__type(key, struct guard_policy_key);
	__type(value, struct guard_verdict);
} guard_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GUARD_MAX_CLUSTERS);
	__type(key, __u32);
	__type(value, struct guard_verdict);
} guard_defaults SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GUARD_MAX_RULES);
	__type(key, __u32);
	__type(value, struct guard_counter);
} guard_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct guard_config);
} guard_config SEC(".maps");

/* The fields of an IPv6 fragment header the guard reads. */
struct guard_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

/* dport of a TCP, UDP or SCTP header at l4 (all three start with source, destination port);
 * 0 when the header is truncated or the protocol has no ports. */
static __always_inline __be16 l4_dport(void *l4, void *end, __u8 proto)
{
	__be16 *ports = l4;

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_SCTP)
		return 0;
	if ((void *)(ports + 2) > end)
		return 0;
	return ports[1];
}

static __always_inline int parse_ipv4(void *l3, void *end, struct guard_cidr_key *src,
				      struct guard_cidr_key *dst, __u8 *proto, __be16 *dport)
{
	struct iphdr *iph = l3;

	if ((void *)(iph + 1) > end || iph->ihl < 5)
		return -1;
	src->prefixlen = dst->prefixlen = 32 + 32;
	src->family = dst->family = GUARD_FAMILY_V4;
	__builtin_memcpy(src->addr, &iph->saddr, 4);
	__builtin_memcpy(dst->addr, &iph->daddr, 4);
	*proto = iph->protocol;
	if (iph->frag_off & bpf_htons(IP_OFFSET_MASK))
		*dport = 0;
	else
		*dport = l4_dport(l3 + iph->ihl * 4, end, iph->protocol);
	return 0;
}

static __always_inline int parse_ipv6(void *l3, void *end, struct guard_cidr_key *src,
				      struct guard_cidr_key *dst, __u8 *proto, __be16 *dport)
{
	struct ipv6hdr *ip6h = l3;
	void *l4 = ip6h + 1;
	__u8 nexthdr;
	int later_fragment = 0;

	if (l4 > end)
		return -1;
	src->prefixlen = dst->prefixlen = 32 + 128;
	src->family = dst->family = GUARD_FAMILY_V6;
	__builtin_memcpy(src->addr, &ip6h->saddr, 16);
	__builtin_memcpy(dst->addr, &ip6h->daddr, 16);
	nexthdr = ip6h->nexthdr;

#pragma unroll
	for (int i = 0; i < GUARD_MAX_EXTHDRS; i++) {
		if (nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING ||
		    nexthdr == IPPROTO_DSTOPTS) {
			struct ipv6_opt_hdr *opt = l4;

			if ((void *)(opt + 1) > end)
				break;
			nexthdr = opt->nexthdr;
			l4 += (opt->hdrlen + 1) * 8;
		} else if (nexthdr == IPPROTO_FRAGMENT) {
			struct guard_frag_hdr *frag = l4;

			if ((void *)(frag + 1) > end)
				break;
			nexthdr = frag->nexthdr;
			if (frag->frag_off & bpf_htons(IP6_OFFSET_MASK))
				later_fragment = 1;
			l4 += sizeof(*frag);
		} else {
			break;
		}
	}
	*proto = nexthdr;
	*dport = later_fragment ? 0 : l4_dport(l4, end, nexthdr);
	return 0;
}

static __always_inline void count(__u32 rule_id, __u32 len)
{
	struct guard_counter *counter = bpf_map_lookup_elem(&guard_counters, &rule_id);

	if (counter) {
		counter->packets += 1;
		counter->bytes += len;
	}
}

SEC("tc")
int fleet_guard(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct guard_cidr_key src = {}, dst = {};
	struct guard_policy_key key = {};
	struct guard_cidr_value *src_cluster, *dst_cluster;
	struct guard_verdict *verdict;
	struct guard_config *config;
	__u32 index = 0;
	__u8 proto = 0;
	__be16 dport = 0;
	int err;

	if ((void *)(eth + 1) > end)
		return TC_ACT_UNSPEC;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		err = parse_ipv4(eth + 1, end, &src, &dst, &proto, &dport);
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		err = parse_ipv6(eth + 1, end, &src, &dst, &proto, &dport);
	else
		return TC_ACT_UNSPEC;
	if (err)
		return TC_ACT_UNSPEC;

	src_cluster = bpf_map_lookup_elem(&guard_cidrs, &src);
	if (!src_cluster || src_cluster->kind != GUARD_KIND_POD)
		return TC_ACT_UNSPEC;
	dst_cluster = bpf_map_lookup_elem(&guard_cidrs, &dst);
	if (!dst_cluster || dst_cluster->kind != GUARD_KIND_POD)
		return TC_ACT_UNSPEC;

	key.prefixlen = 64;
	key.src_cluster = src_cluster->cluster_id;
	key.dst_cluster = dst_cluster->cluster_id;
	key.proto = proto;
	key.dport = dport;
	verdict = bpf_map_lookup_elem(&guard_policy, &key);
	if (!verdict) {
		index = bpf_ntohs(dst_cluster->cluster_id);
		verdict = bpf_map_lookup_elem(&guard_defaults, &index);
		if (!verdict)
			return TC_ACT_UNSPEC;
	}
	count(verdict->rule_id, skb->len);
	if (verdict->action != GUARD_ACTION_DROP)
		return TC_ACT_UNSPEC;
	index = 0;
	config = bpf_map_lookup_elem(&guard_config, &index);
	if (config && config->mode == GUARD_MODE_ENFORCE)
		return TC_ACT_SHOT;
	return TC_ACT_UNSPEC;
}

/* Only GPL-agnostic helpers (map lookups) are used, so the project licence applies. */
char LICENSE[] SEC("license") = "Apache-2.0";
