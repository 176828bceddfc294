// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// Telemetry programs of the x0tta6bl4 node.
//
// They keep three maps that user space reads in batches:
//
//   tcp_socks  socket cookie -> struct tcp_stats, a snapshot of the kernel's
//              own per-socket TCP counters, refreshed on every received
//              segment (tcp_probe), retransmission, read by the application
//              (tcp_rcv_space_adjust), state change (inet_sock_set_state)
//              and at each collection for every socket (iter/tcp).
//              The last snapshot of a socket has closed = 1; user space folds
//              it into its totals and deletes the entry.
//   udp_flows  struct flow_key -> struct flow_stats, UDP payload bytes and
//              datagrams per (netns, local, remote), counted on the cgroup2
//              ingress and egress hooks.
//   drops      struct drop_key -> __u64, packets the kernel freed with a drop
//              reason (kfree_skb), attributed to the socket when the kernel
//              names one.
//
// Every record carries the network namespace cookie; when target_netns is
// set, records of other namespaces are not written at all.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "kernel.h"

char __license[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define PROTO_TCP 6
#define PROTO_UDP 17
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define TCP_LISTEN 10
#define TCP_CLOSE 7
#define TCP_TIME_WAIT 6
#define TCP_NEW_SYN_RECV 12

// Cookie of the network namespace to record; 0 records every namespace.
volatile const __u64 target_netns = 0;

struct tcp_stats {
	__u64 netns;
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 lport;
	__u16 rport;
	__u8 family;
	__u8 state;
	__u8 closed;
	__u8 _pad0;
	__u32 srtt_us;
	__u32 rttvar_us;
	__u32 total_retrans;
	__u32 segs_in;
	__u32 segs_out;
	__u32 lost;
	__u64 bytes_sent;
	__u64 bytes_retrans;
	__u64 bytes_acked;
	__u64 bytes_received;
};

struct flow_key {
	__u64 netns;
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 lport;
	__u16 rport;
	__u8 family;
	__u8 proto;
	__u8 _pad0[2];
};

struct flow_stats {
	__u64 bytes_sent;
	__u64 bytes_received;
	__u64 packets_sent;
	__u64 packets_received;
};

struct drop_key {
	struct flow_key flow;
	__u32 reason;
	__u32 _pad0;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct tcp_stats);
} tcp_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
} udp_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct drop_key);
	__type(value, __u64);
} drops SEC(".maps");

// Minimal wire headers; the system's would clash with kernel.h.
struct ip4_hdr {
	__u8 version_ihl;
	__u8 tos;
	__be16 total_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__be16 check;
	__be32 saddr;
	__be32 daddr;
};

struct ip6_hdr {
	__be32 flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct ports_hdr {
	__be16 source;
	__be16 dest;
};

static __always_inline __u64 sock_netns(const struct sock *sk)
{
	struct net *net = sk->__sk_common.skc_net.net;

	if (!net)
		return 0;
	return net->net_cookie;
}

// sock_addrs fills the local and remote address of sk into the given fields.
static __always_inline void sock_addrs(const struct sock *sk, __u8 *family, __u8 laddr[16],
				       __u8 raddr[16], __u16 *lport, __u16 *rport)
{
	const struct sock_common *skc = &sk->__sk_common;

	*family = skc->skc_family;
	*lport = skc->skc_num;
	*rport = bpf_ntohs(skc->skc_dport);
	if (*family == AF_INET6) {
		bpf_probe_read_kernel(laddr, 16, &skc->skc_v6_rcv_saddr);
		bpf_probe_read_kernel(raddr, 16, &skc->skc_v6_daddr);
	} else {
		__be32 l = skc->skc_rcv_saddr, r = skc->skc_daddr;

		__builtin_memcpy(laddr, &l, 4);
		__builtin_memcpy(raddr, &r, 4);
	}
}

static __always_inline void fill_counters(struct tcp_stats *s, struct tcp_sock *tp)
{
	s->srtt_us = tp->srtt_us >> 3;
	s->rttvar_us = tp->mdev_us >> 2;
	s->total_retrans = tp->total_retrans;
	s->segs_in = tp->segs_in;
	s->segs_out = tp->segs_out;
	s->lost = tp->lost;
	s->bytes_sent = tp->bytes_sent;
	s->bytes_retrans = tp->bytes_retrans;
	s->bytes_acked = tp->bytes_acked;
	s->bytes_received = tp->bytes_received;
}

// snapshot copies the counters of a TCP socket into tcp_socks.
static __always_inline void snapshot(struct sock *sk, int state, __u8 closed)
{
	struct tcp_sock *tp;
	struct tcp_stats *s;
	__u64 netns, cookie;

	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return;
	netns = sock_netns(sk);
	if (target_netns && netns != target_netns)
		return;
	cookie = bpf_get_socket_cookie(sk);
	s = bpf_map_lookup_elem(&tcp_socks, &cookie);
	if (s) {
		if (s->lport == 0 || s->rport == 0)
			sock_addrs(sk, &s->family, s->laddr, s->raddr, &s->lport, &s->rport);
		if (state >= 0)
			s->state = state;
		s->closed = closed;
		fill_counters(s, tp);
		return;
	}
	if (closed && state != TCP_CLOSE)
		return;

	struct tcp_stats fresh = {};

	fresh.netns = netns;
	fresh.state = state >= 0 ? state : sk->__sk_common.skc_state;
	fresh.closed = closed;
	sock_addrs(sk, &fresh.family, fresh.laddr, fresh.raddr, &fresh.lport, &fresh.rport);
	if (fresh.rport == 0)
		return; // listening or not yet connected: no remote endpoint
	fill_counters(&fresh, tp);
	bpf_map_update_elem(&tcp_socks, &cookie, &fresh, BPF_NOEXIST);
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(tcp_probe, struct sock *sk, const struct sk_buff *skb)
{
	snapshot(sk, -1, 0);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tcp_retransmit, struct sock *sk, const struct sk_buff *skb)
{
	snapshot(sk, -1, 0);
	return 0;
}

SEC("tp_btf/tcp_rcv_space_adjust")
int BPF_PROG(tcp_rcv_space_adjust, struct sock *sk)
{
	snapshot(sk, -1, 0);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state, struct sock *sk, int oldstate, int newstate)
{
	if (sk->sk_protocol != PROTO_TCP)
		return 0;
	if (newstate == TCP_LISTEN || oldstate == TCP_LISTEN)
		return 0;
	snapshot(sk, newstate, newstate == TCP_CLOSE);
	return 0;
}

// tcp_iter walks every TCP socket of the namespace of the task that reads
// the iterator and refreshes its snapshot. User space runs it at each
// collection, so sockets idle since the programs were loaded are seen and
// every counter is exact at that instant.
SEC("iter/tcp")
int tcp_iter(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	int state;

	if (!skc)
		return 0;
	state = skc->skc_state;
	if (state == TCP_LISTEN || state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV)
		return 0;
	snapshot((struct sock *)skc, state, 0);
	return 0;
}

// packet_flow reads the addresses and ports of the IP packet in skb into
// key, as the receiver sees them (local = destination). It returns the IP
// protocol, or 0 when the packet is not IPv4/IPv6 TCP or UDP.
static __always_inline int packet_flow(struct sk_buff *skb, struct flow_key *key)
{
	unsigned char *head = skb->head;
	__u16 nh = skb->network_header, th = skb->transport_header;
	__be16 proto = skb->protocol;
	struct ports_hdr ports;
	__u8 l4;

	if (!head || nh == (__u16)~0U)
		return 0;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct ip4_hdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh))
			return 0;
		l4 = ip.protocol;
		if (th == (__u16)~0U || th <= nh)
			th = nh + (ip.version_ihl & 0x0f) * 4;
		key->family = AF_INET;
		__builtin_memcpy(key->laddr, &ip.daddr, 4);
		__builtin_memcpy(key->raddr, &ip.saddr, 4);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ip6_hdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh))
			return 0;
		l4 = ip.nexthdr;
		if (th == (__u16)~0U || th <= nh)
			th = nh + sizeof(ip);
		key->family = AF_INET6;
		__builtin_memcpy(key->laddr, ip.daddr, 16);
		__builtin_memcpy(key->raddr, ip.saddr, 16);
	} else {
		return 0;
	}
	if (l4 != PROTO_TCP && l4 != PROTO_UDP)
		return 0;
	if (bpf_probe_read_kernel(&ports, sizeof(ports), head + th))
		return 0;
	key->lport = bpf_ntohs(ports.dest);
	key->rport = bpf_ntohs(ports.source);
	key->proto = l4;
	return l4;
}

static __always_inline void count_drop(struct sk_buff *skb, int reason, struct sock *sk)
{
	struct drop_key key = {};
	__u64 one = 1, *count;

	if (bpf_core_enum_value_exists(enum skb_drop_reason, SKB_CONSUMED) &&
	    reason == bpf_core_enum_value(enum skb_drop_reason, SKB_CONSUMED))
		return;
	if (reason == SKB_NOT_DROPPED_YET)
		return;
	key.reason = reason;

	if (!sk)
		sk = skb->sk;
	if (sk) {
		__u8 state = sk->__sk_common.skc_state;
		struct flow_key pkt = {};

		key.flow.netns = sock_netns(sk);
		if (state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV)
			key.flow.proto = PROTO_TCP; // a mini socket: no sk_protocol
		else
			key.flow.proto = sk->sk_protocol;
		sock_addrs(sk, &key.flow.family, key.flow.laddr, key.flow.raddr, &key.flow.lport,
			   &key.flow.rport);
		if (key.flow.rport == 0 && packet_flow(skb, &pkt)) {
			// An unconnected socket: both ends are in the packet, the
			// local one being the socket's port.
			key.flow.family = pkt.family;
			if (pkt.lport == key.flow.lport) {
				__builtin_memcpy(key.flow.laddr, pkt.laddr, 16);
				__builtin_memcpy(key.flow.raddr, pkt.raddr, 16);
				key.flow.rport = pkt.rport;
			} else {
				__builtin_memcpy(key.flow.laddr, pkt.raddr, 16);
				__builtin_memcpy(key.flow.raddr, pkt.laddr, 16);
				key.flow.rport = pkt.lport;
			}
		}
	} else {
		struct net_device *dev = skb->dev;

		if (dev && dev->nd_net.net)
			key.flow.netns = dev->nd_net.net->net_cookie;
	}
	if (target_netns && key.flow.netns != target_netns)
		return;

	count = bpf_map_lookup_elem(&drops, &key);
	if (count) {
		__sync_fetch_and_add(count, 1);
		return;
	}
	bpf_map_update_elem(&drops, &key, &one, BPF_NOEXIST);
}

// Since Linux 6.12 the tracepoint also names the receiving socket.
SEC("tp_btf/kfree_skb")
int BPF_PROG(kfree_skb, struct sk_buff *skb, void *location, int reason, struct sock *rx_sk)
{
	count_drop(skb, reason, rx_sk);
	return 0;
}

// Linux 5.17 to 6.11: no receiving socket; the skb's owner is used.
SEC("tp_btf/kfree_skb")
int BPF_PROG(kfree_skb_legacy, struct sk_buff *skb, void *location, int reason)
{
	count_drop(skb, reason, 0);
	return 0;
}

static __always_inline int count_udp(struct __sk_buff *skb, int egress)
{
	struct flow_key key = {};
	struct flow_stats *st;
	__u32 hdr, payload, segs;
	struct ports_hdr ports;

	__u8 l4;

	// Most packets are TCP: look at the protocol byte alone first.
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct ip4_hdr ip;

		if (bpf_skb_load_bytes(skb, offsetof(struct ip4_hdr, protocol), &l4, 1) || l4 != PROTO_UDP)
			return 1;
		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return 1;
		hdr = (ip.version_ihl & 0x0f) * 4;
		key.family = AF_INET;
		if (egress) {
			__builtin_memcpy(key.laddr, &ip.saddr, 4);
			__builtin_memcpy(key.raddr, &ip.daddr, 4);
		} else {
			__builtin_memcpy(key.laddr, &ip.daddr, 4);
			__builtin_memcpy(key.raddr, &ip.saddr, 4);
		}
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ip6_hdr ip;

		if (bpf_skb_load_bytes(skb, offsetof(struct ip6_hdr, nexthdr), &l4, 1) || l4 != PROTO_UDP)
			return 1;
		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return 1;
		hdr = sizeof(ip);
		key.family = AF_INET6;
		if (egress) {
			__builtin_memcpy(key.laddr, ip.saddr, 16);
			__builtin_memcpy(key.raddr, ip.daddr, 16);
		} else {
			__builtin_memcpy(key.laddr, ip.daddr, 16);
			__builtin_memcpy(key.raddr, ip.saddr, 16);
		}
	} else {
		return 1;
	}
	if (bpf_skb_load_bytes(skb, hdr, &ports, sizeof(ports)))
		return 1;
	if (egress) {
		key.lport = bpf_ntohs(ports.source);
		key.rport = bpf_ntohs(ports.dest);
	} else {
		key.lport = bpf_ntohs(ports.dest);
		key.rport = bpf_ntohs(ports.source);
	}
	key.proto = PROTO_UDP;
	key.netns = bpf_get_netns_cookie(skb);
	if (target_netns && key.netns != target_netns)
		return 1;

	payload = skb->len > hdr + 8 ? skb->len - hdr - 8 : 0;
	segs = skb->gso_segs > 1 ? skb->gso_segs : 1;

	st = bpf_map_lookup_elem(&udp_flows, &key);
	if (!st) {
		struct flow_stats zero = {};

		bpf_map_update_elem(&udp_flows, &key, &zero, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&udp_flows, &key);
		if (!st)
			return 1;
	}
	if (egress) {
		__sync_fetch_and_add(&st->bytes_sent, payload);
		__sync_fetch_and_add(&st->packets_sent, segs);
	} else {
		__sync_fetch_and_add(&st->bytes_received, payload);
		__sync_fetch_and_add(&st->packets_received, segs);
	}
	return 1;
}

SEC("cgroup_skb/egress")
int udp_egress(struct __sk_buff *skb)
{
	return count_udp(skb, 1);
}

SEC("cgroup_skb/ingress")
int udp_ingress(struct __sk_buff *skb)
{
	return count_udp(skb, 0);
}
