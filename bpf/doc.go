// Package bpf is the node's telemetry collector: eBPF programs that read the
// kernel's own per-socket TCP counters, UDP flow volumes and packet drops,
// with a sock_diag netlink and /proc fallback that produces the same
// Metrics where eBPF is not permitted. It publishes nothing itself; the
// overlay gossips what it returns.
//
// # Usage
//
//	c, err := bpf.Open(bpf.DefaultConfig(), logger) // eBPF, else procfs
//	if err != nil { ... }
//	defer c.Close()
//	t := time.NewTicker(time.Second)
//	for now := range t.C {
//		m, err := c.Collect(now) // m.Source is "ebpf" or "procfs"
//		...
//		e, ok := m.TCPEndpoint(remoteAddrPort) // join with a libp2p peer
//	}
//
// Set Config.DisableEBPF for the fallback alone (the CLI's --no-ebpf).
// Load attaches the programs without a Collector; its Report, also
// available as Collector.Report, says which programs the kernel accepted
// and why it refused the others.
//
// # Sources
//
// The eBPF source (Metrics.Source "ebpf") attaches, each probed on its own:
//
//	iter/tcp                                    snapshot every TCP socket's struct tcp_sock
//	                                            (srtt_us via bpf_skc_to_tcp_sock,
//	                                            total_retrans, bytes_*, segs_*), walked
//	                                            at each Collect
//	tp_btf/inet_sock_set_state                  the same at each state change, so
//	                                            sockets closed between readings count
//	tp_btf/tcp_probe, tcp_retransmit_skb,       the same on every segment: only where
//	tcp_rcv_space_adjust                        iter/tcp is refused, or for
//	                                            Config.AllNamespaces or
//	                                            Config.DisableSocketWalk
//	tp_btf/kfree_skb (with rx_sk, else without) count drops by skb_drop_reason
//	cgroup_skb/ingress, egress on cgroup2       count UDP payload bytes and datagrams
//
// The walk makes every open socket's counts exact at the reading, idle and
// pre-existing ones included, and keeps the TCP data path free of programs.
//
// The procfs source (Metrics.Source "procfs") dumps TCP and UDP sockets with
// NETLINK_SOCK_DIAG (tcp_info and SK_MEMINFO_DROPS per socket) and reads the
// namespace's counters from /proc/<pid>/net/{snmp,snmp6,netstat} and host
// figures from /proc/{stat,meminfo,loadavg} through prometheus/procfs. It
// cannot count UDP bytes per flow nor see sockets that lived between two
// readings; Metrics.Unavailable names what is missing.
//
// # Namespaces
//
// A Collector reports on the network namespace the thread calling Open was
// in (Metrics.NetNS: cookie and inode). The eBPF programs see every
// namespace; they record only the target namespace's cookie unless
// Config.AllNamespaces, in which case each endpoint carries its own cookie.
// (Kernels before 5.14 give no cookie: NetNS.Cookie is 0 and every
// namespace is recorded.)
// The procfs source always reports its own namespace: run the process in
// it (ip netns exec).
//
// The UDP programs attach to the root of the cgroup v2 hierarchy, found in
// /proc/self/mountinfo (not assumed to be /sys/fs/cgroup); where this mount
// namespace shows none, as under ip netns exec, Load mounts cgroup2 on a
// temporary directory just long enough to open it. Config.CgroupPath
// narrows the accounting to one cgroup.
//
// # Tests and benchmarks
//
// `go test ./bpf/...` as root runs both collectors inside network
// namespaces it creates and removes (needs iproute2, iptables and
// /dev/net/tun): exact bytes of a TCP transfer and a UDP exchange,
// retransmissions and NETFILTER_DROP drops induced by an iptables statistic
// rule, RTT over a path delayed 25 ms each way by a TUN relay (within 20%),
// and receive-buffer drops. Without root they skip, saying why.
// BenchmarkCollect (per source, 10 to 1,000 sockets) and
// BenchmarkLoopbackTCP (programs none / attached, with the kernel's own
// run-time accounting of the programs) give the cost figures;
// `-run TestCollectorCPUAt1Hz -bpf.soak=20s` measures CPU per second at a
// 1 Hz collection over 1,000 sockets.
//
// # Map layouts
//
// The programs and user space share these records (host byte order but
// where noted; addresses in network order, IPv4 in the first 4 bytes):
//
//	tcp_socks  key   cookie u64 (socket cookie)
//	           value netns u64 | laddr [16]u8 | raddr [16]u8 | lport u16 | rport u16 |
//	                 family u8 | state u8 | closed u8 | pad u8 |
//	                 srtt_us u32 | rttvar_us u32 | total_retrans u32 | segs_in u32 |
//	                 segs_out u32 | lost u32 | bytes_sent u64 | bytes_retrans u64 |
//	                 bytes_acked u64 | bytes_received u64                   (104 bytes)
//	udp_flows  key   netns u64 | laddr [16]u8 | raddr [16]u8 | lport u16 | rport u16 |
//	                 family u8 | proto u8 | pad [2]u8                        (48 bytes)
//	           value bytes_sent u64 | bytes_received u64 | packets_sent u64 |
//	                 packets_received u64                                    (32 bytes)
//	drops      key   flow_key (as udp_flows) | reason u32 | pad u32          (56 bytes)
//	           value count u64
//
// The sock_diag messages the fallback decodes are laid out in inetdiag.go.
//
// # Regenerating
//
// The compiled objects and their Go bindings (telemetry_bpfel.*,
// telemetry_bpfeb.*) are committed, so building needs no clang. After
// editing c/telemetry.c run `go generate ./bpf` (or bpf/generate.sh), which
// needs clang, llvm, libbpf-dev and linux-libc-dev. c/kernel.h declares the
// few kernel types read, with CO-RE relocations, so the output does not
// depend on the kernel of the build machine.
package bpf
