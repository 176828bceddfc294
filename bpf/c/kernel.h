/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The few kernel types the telemetry programs read, declared by hand.
 *
 * Every record carries preserve_access_index, so clang emits CO-RE
 * relocations and the loader moves each field access to the offset the
 * running kernel's BTF gives. Only the names and kinds of the fields matter;
 * their order and the members left out do not. This keeps regeneration
 * independent of the kernel on the build machine.
 */
#ifndef X0_KERNEL_H
#define X0_KERNEL_H

#include <linux/types.h>

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct net {
	__u64 net_cookie;
};

typedef struct {
	struct net *net;
} possible_net_t;

struct in6_addr {
	union {
		__u8 u6_addr8[16];
	} in6_u;
};

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	volatile unsigned char skc_state;
	possible_net_t skc_net;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
};

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
};

struct tcp_sock {
	__u32 srtt_us;
	__u32 mdev_us;
	__u32 total_retrans;
	__u32 segs_in;
	__u32 segs_out;
	__u32 lost;
	__u64 bytes_sent;
	__u64 bytes_retrans;
	__u64 bytes_acked;
	__u64 bytes_received;
};

struct net_device {
	possible_net_t nd_net;
};

struct sk_buff {
	unsigned int len;
	__be16 protocol;
	__u16 transport_header;
	__u16 network_header;
	unsigned char *head;
	struct sock *sk;
	struct net_device *dev;
};

struct bpf_iter_meta {
	__u64 seq_num;
};

struct bpf_iter__tcp {
	struct bpf_iter_meta *meta;
	struct sock_common *sk_common;
};

enum skb_drop_reason {
	SKB_NOT_DROPPED_YET = 0,
	SKB_CONSUMED = 1,
};

#pragma clang attribute pop

#endif
