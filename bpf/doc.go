// Package bpf holds the eBPF programs that measure the node's network and
// host, and the collectors that read them (with a /proc and sock_diag
// fallback where eBPF is not permitted). It publishes nothing itself.
//
// Nothing lives here yet; the programs and collectors will.
package bpf
