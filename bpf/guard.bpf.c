// SPDX-License-Identifier: Apache-2.0
/*
 * The fleet guard: a tc classifier that enforces (or, in audit mode, only counts) the fleet's
 * cluster-level denies. From a packet's addresses it finds the source and destination
 * cluster (guard_cidrs), looks up (source, destination, protocol, destination port) in
 * guard_policy, where the longest prefix wins (one port, then a port block, then every
 * packet between the two clusters), and falls back to the destination cluster's default
 * (guard_defaults).
 *
 * A deny forbids opening a flow, as Cilium's stateful policies do; replies to flows opened
 * the other way, which Cilium allows through its connection tracking, must pass. So only
 * packets that may open a flow are judged (see parse_l4): a TCP SYN without ACK, an ICMP
 * echo request, and UDP, SCTP and other protocols, whose replies the guard recognises by
 * remembering, in guard_flows (LRU), the flows it let through on this node (those whose
 * way back a deny covers: guard_pairs).
 *
 * A packet that passes returns TC_ACT_UNSPEC, not TC_ACT_OK: with tcx that is TCX_NEXT and
 * with legacy cls_bpf it continues to the next filter, so Cilium's own programs attached
 * after the guard still see every packet. Only enforce mode ever returns TC_ACT_SHOT.
 *
 * Parsing limits, each sound (the guard can only pass more, never drop an allowed flow):
 * VLAN-tagged and non-IP frames pass; later fragments, truncated L4 headers and IPv6 packets
 * with more than GUARD_MAX_EXTHDRS extension headers are not judged.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "guard.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "seed files encode array indices and values little-endian"
#endif

#define GUARD_MAX_EXTHDRS 4
#define IP_OFFSET_MASK 0x1fff
#define IP6_OFFSET_MASK 0xfff8
#define ICMP_ECHO_REQUEST 8 /* linux/icmp.h pulls in libc headers */
#define ICMPV6_ECHO_REQUEST 128

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
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, GUARD_PAIR_ENTRIES);
	__type(key, struct guard_pair_key);
	__type(value, struct guard_pair_value);
} guard_pairs SEC(".maps");

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

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GUARD_FLOW_ENTRIES);
	__type(key, struct guard_flow_key);
	__type(value, struct guard_flow_value);
} guard_flows SEC(".maps");

/* The fields of an IPv6 fragment header the guard reads. */
struct guard_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

/* What parsing found. `judged`: the packet opens a flow (or may), so policy applies to it. */
struct guard_packet {
	struct guard_cidr_key src;
	struct guard_cidr_key dst;
	__u8 proto;
	__u8 judged;
	__be16 sport;
	__be16 dport;
};

/* Reads the L4 header at l4 and decides whether the packet is judged:
 * - TCP: only a SYN without ACK (a connection attempt); every other segment belongs to a
 *   connection that was allowed to open, or to one opened before the guard was loaded;
 * - UDP, SCTP: every packet, ports read (a reply is recognised through guard_flows);
 * - ICMP/ICMPv6: only echo requests (errors and replies relate to other traffic);
 * - any other protocol: every packet, without ports;
 * - a truncated TCP/UDP/SCTP header (or an ICMP one without its type): not judged. */
static __always_inline void parse_l4(struct guard_packet *pkt, void *l4, void *end)
{
	__u8 proto = pkt->proto;

	if (proto == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) > end)
			return;
		pkt->judged = tcp->syn && !tcp->ack;
	} else if (proto == IPPROTO_UDP || proto == IPPROTO_SCTP) {
		__be16 *ports = l4;

		if ((void *)(ports + 2) > end)
			return;
		pkt->judged = 1;
	} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		__u8 *type = l4;

		if ((void *)(type + 1) > end)
			return;
		pkt->judged = *type == (proto == IPPROTO_ICMP ? ICMP_ECHO_REQUEST : ICMPV6_ECHO_REQUEST);
		return;
	} else {
		pkt->judged = 1;
		return;
	}
	pkt->sport = ((__be16 *)l4)[0];
	pkt->dport = ((__be16 *)l4)[1];
}

static __always_inline int parse_ipv4(struct guard_packet *pkt, void *l3, void *end)
{
	struct iphdr *iph = l3;

	if ((void *)(iph + 1) > end || iph->ihl < 5)
		return -1;
	pkt->src.prefixlen = pkt->dst.prefixlen = 32 + 32;
	pkt->src.family = pkt->dst.family = GUARD_FAMILY_V4;
	__builtin_memcpy(pkt->src.addr, &iph->saddr, 4);
	__builtin_memcpy(pkt->dst.addr, &iph->daddr, 4);
	pkt->proto = iph->protocol;
	/* A later fragment is useless without the first, which is judged: let it pass. */
	if (!(iph->frag_off & bpf_htons(IP_OFFSET_MASK)))
		parse_l4(pkt, l3 + iph->ihl * 4, end);
	return 0;
}

static __always_inline int parse_ipv6(struct guard_packet *pkt, void *l3, void *end)
{
	struct ipv6hdr *ip6h = l3;
	void *l4 = ip6h + 1;
	__u8 nexthdr;

	if (l4 > end)
		return -1;
	pkt->src.prefixlen = pkt->dst.prefixlen = 32 + 128;
	pkt->src.family = pkt->dst.family = GUARD_FAMILY_V6;
	__builtin_memcpy(pkt->src.addr, &ip6h->saddr, 16);
	__builtin_memcpy(pkt->dst.addr, &ip6h->daddr, 16);
	nexthdr = ip6h->nexthdr;

#pragma unroll
	for (int i = 0; i < GUARD_MAX_EXTHDRS; i++) {
		if (nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING ||
		    nexthdr == IPPROTO_DSTOPTS) {
			struct ipv6_opt_hdr *opt = l4;

			if ((void *)(opt + 1) > end)
				return 0;
			nexthdr = opt->nexthdr;
			l4 += (opt->hdrlen + 1) * 8;
		} else if (nexthdr == IPPROTO_FRAGMENT) {
			struct guard_frag_hdr *frag = l4;

			if ((void *)(frag + 1) > end)
				return 0;
			if (frag->frag_off & bpf_htons(IP6_OFFSET_MASK))
				return 0; /* a later fragment: not judged, as for IPv4 */
			nexthdr = frag->nexthdr;
			l4 += sizeof(*frag);
		} else {
			break;
		}
	}
	pkt->proto = nexthdr;
	if (nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING ||
	    nexthdr == IPPROTO_DSTOPTS || nexthdr == IPPROTO_FRAGMENT)
		return 0; /* more extension headers than walked: not judged */
	parse_l4(pkt, l4, end);
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

static __always_inline void flow_key(struct guard_flow_key *key, struct guard_packet *pkt,
				     int reverse)
{
	key->family = pkt->src.family;
	key->proto = pkt->proto;
	key->sport = reverse ? pkt->dport : pkt->sport;
	key->dport = reverse ? pkt->sport : pkt->dport;
	__builtin_memcpy(key->saddr, reverse ? pkt->dst.addr : pkt->src.addr, 16);
	__builtin_memcpy(key->daddr, reverse ? pkt->src.addr : pkt->dst.addr, 16);
}

SEC("tc")
int fleet_guard(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct guard_packet pkt = {};
	struct guard_policy_key key = {};
	struct guard_flow_key flow = {};
	struct guard_flow_value seen = {};
	struct guard_pair_key pair = {};
	struct guard_cidr_value *src_cluster, *dst_cluster;
	struct guard_verdict *verdict;
	struct guard_config *config;
	__u32 index = 0;
	int err;

	if ((void *)(eth + 1) > end)
		return TC_ACT_UNSPEC;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		err = parse_ipv4(&pkt, eth + 1, end);
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		err = parse_ipv6(&pkt, eth + 1, end);
	else
		return TC_ACT_UNSPEC;
	if (err)
		return TC_ACT_UNSPEC;

	src_cluster = bpf_map_lookup_elem(&guard_cidrs, &pkt.src);
	if (!src_cluster || src_cluster->kind != GUARD_KIND_POD)
		return TC_ACT_UNSPEC;
	dst_cluster = bpf_map_lookup_elem(&guard_cidrs, &pkt.dst);
	if (!dst_cluster || dst_cluster->kind != GUARD_KIND_POD)
		return TC_ACT_UNSPEC;
	if (!pkt.judged) {
		count(GUARD_RULE_DEFAULT, skb->len);
		return TC_ACT_UNSPEC;
	}

	key.prefixlen = 64;
	key.src_cluster = src_cluster->cluster_id;
	key.dst_cluster = dst_cluster->cluster_id;
	key.proto = pkt.proto;
	key.dport = pkt.dport;
	verdict = bpf_map_lookup_elem(&guard_policy, &key);
	if (!verdict) {
		index = bpf_ntohs(dst_cluster->cluster_id);
		verdict = bpf_map_lookup_elem(&guard_defaults, &index);
		if (!verdict)
			return TC_ACT_UNSPEC;
	}
	if (verdict->action != GUARD_ACTION_DROP) {
		/* Remember flows the guard let through, so their replies are not judged as
		 * flows of their own: only where a deny covers the way back, and not for TCP,
		 * whose replies are never SYNs. */
		pair.src_cluster = dst_cluster->cluster_id;
		pair.dst_cluster = src_cluster->cluster_id;
		if (pkt.proto != IPPROTO_TCP && bpf_map_lookup_elem(&guard_pairs, &pair)) {
			flow_key(&flow, &pkt, 0);
			seen.last_seen_ns = bpf_ktime_get_ns();
			bpf_map_update_elem(&guard_flows, &flow, &seen, BPF_ANY);
		}
		count(verdict->rule_id, skb->len);
		return TC_ACT_UNSPEC;
	}
	if (pkt.proto != IPPROTO_TCP) {
		flow_key(&flow, &pkt, 1);
		if (bpf_map_lookup_elem(&guard_flows, &flow)) {
			count(GUARD_RULE_DEFAULT, skb->len); /* a reply to a flow let through */
			return TC_ACT_UNSPEC;
		}
	}
	count(verdict->rule_id, skb->len);
	index = 0;
	config = bpf_map_lookup_elem(&guard_config, &index);
	if (config && config->mode == GUARD_MODE_ENFORCE)
		return TC_ACT_SHOT;
	return TC_ACT_UNSPEC;
}

/* Only GPL-agnostic helpers (map lookups) are used, so the project licence applies. */
char LICENSE[] SEC("license") = "Apache-2.0";
