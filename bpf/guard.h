/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fleet guard's map ABI: every map's key and value layout, shared by guard.bpf.c and
 * (through compiler/guard/layout.py, checked against this object's BTF by
 * tests/test_guard_layout.py) by the seed files fleetc renders.
 *
 * Byte order: the LPM trie keys and the cluster ids inside them are big-endian (network
 * order), because longest-prefix match compares bytes most significant first and port ranges
 * become prefix blocks. Array indices and plain value fields are host order, which the
 * program pins to little-endian (x86_64, arm64) so seed files are portable between nodes.
 * Every struct spells out its padding; seeds write zeros there, and the program does too.
 */
#ifndef FLEET_GUARD_H
#define FLEET_GUARD_H

#include <linux/types.h>

/* Cluster ids are 1..511 (maxConnectedClusters 511); 0 means "not a fleet cluster". */
#define GUARD_MAX_CLUSTERS 512
#define GUARD_CIDR_ENTRIES 16384
#define GUARD_POLICY_ENTRIES 1048576
#define GUARD_PAIR_ENTRIES 262144
#define GUARD_MAX_RULES 4096
#define GUARD_FLOW_ENTRIES 65536

#define GUARD_FAMILY_V4 4
#define GUARD_FAMILY_V6 6

/* Only pod addresses are subject to fleet policies (they select pods, not hosts): node
 * addresses are known but always pass, which keeps the mesh itself (tunnels, WireGuard,
 * health checks, clustermesh-apiserver) out of reach of a workload rule. */
#define GUARD_KIND_NONE 0 /* claimed by two clusters: ambiguous, treated as not fleet */
#define GUARD_KIND_POD 1
#define GUARD_KIND_NODE 2

#define GUARD_ACTION_PASS 0
#define GUARD_ACTION_DROP 1

/* Zero (an unseeded config map) is audit: a guard without configuration never drops. */
#define GUARD_MODE_AUDIT 0
#define GUARD_MODE_ENFORCE 1

/* Rule id 0 counts fleet pod traffic that no cluster-level deny matched. */
#define GUARD_RULE_DEFAULT 0

/* guard_cidrs (LPM trie): address -> cluster. prefixlen counts the bits after it:
 * family (8) + pad (24) + the CIDR's own prefix length. */
struct guard_cidr_key {
	__u32 prefixlen;
	__u8 family;
	__u8 pad[3];
	__u8 addr[16];
};

struct guard_cidr_value {
	__be16 cluster_id;
	__u8 kind;
	__u8 pad;
};

/* guard_policy (LPM trie): (source cluster, destination cluster, protocol, port) -> verdict.
 * prefixlen 64 is one port, 64-k an aligned block of 2^k ports (a port range is a few such
 * blocks), 32 every packet between the two clusters (a deny without ports: every protocol,
 * ICMP included). Since every entry is a deny, the longest match only decides which rule
 * is counted. */
struct guard_policy_key {
	__u32 prefixlen;
	__be16 src_cluster;
	__be16 dst_cluster;
	__u8 proto;
	__u8 pad;
	__be16 dport;
};

/* guard_pairs (hash): the cluster pairs some deny covers. Only a flow whose reverse pair is
 * here can have replies the guard would judge, so only those are remembered in guard_flows. */
struct guard_pair_key {
	__be16 src_cluster;
	__be16 dst_cluster;
};

struct guard_pair_value {
	__u32 rules; /* how many denies cover the pair (for people reading the map) */
};

/* Value of guard_policy, and of guard_defaults (array indexed by destination cluster id). */
struct guard_verdict {
	__u32 rule_id;
	__u8 action;
	__u8 pad[3];
};

/* guard_counters (per-CPU array indexed by rule id). */
struct guard_counter {
	__u64 packets;
	__u64 bytes;
};

/* guard_flows (LRU hash, written by the program): non-TCP flows the guard let through, as
 * seen (source first). A judged packet whose reversed tuple is here is a reply: it passes.
 * Ports are zero for protocols without ports. */
struct guard_flow_key {
	__u8 family;
	__u8 proto;
	__be16 sport;
	__be16 dport;
	__u16 pad;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct guard_flow_value {
	__u64 last_seen_ns;
};

/* guard_config (array, one entry at index 0). */
struct guard_config {
	__u32 mode;
	__u32 pad;
};

#endif /* FLEET_GUARD_H */
