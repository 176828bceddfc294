package bpf

import (
	"fmt"
	"time"
)

// Config says how Open builds a Collector. Start from DefaultConfig; the
// zero value of a field other than the booleans means its default.
type Config struct {
	// DisableEBPF skips the eBPF programs and collects from sock_diag
	// netlink and /proc only (the CLI's --no-ebpf).
	DisableEBPF bool
	// AllNamespaces reports the sockets of every network namespace, each
	// keyed by its namespace cookie, instead of only the namespace Open ran
	// in. Only the eBPF source sees other namespaces; the procfs source
	// always reports its own.
	AllNamespaces bool
	// DisableSocketWalk replaces the walk of every TCP socket at each
	// Collect (iter/tcp) with programs on every TCP segment. The walk costs
	// a fixed ~2 ms of CPU per Collect on a host whose TCP hash has 262,144
	// buckets (it grows with net.ipv4.tcp_ehash_entries) and nothing on the
	// data path; the per-segment programs cost ~200 runs, ~35 µs of CPU, per
	// MiB of TCP traffic, and see an idle socket only once it has an event.
	DisableSocketWalk bool
	// CgroupPath is the cgroup v2 directory the UDP accounting programs
	// attach to; they see the sockets of every process below it. Empty
	// means the root of the cgroup2 mount found in /proc/self/mountinfo.
	CgroupPath string
	// ProcPath is where procfs is mounted. Default "/proc".
	ProcPath string
	// MaxSockets is the capacity of the eBPF TCP socket table, in sockets
	// (least recently updated evicted first). Default 16384.
	MaxSockets uint32
	// MaxFlows is the capacity of the eBPF UDP flow table, in flows.
	// Default 16384.
	MaxFlows uint32
	// MaxDropKeys is the capacity of the eBPF drop table, in distinct
	// (socket, reason) pairs. Default 4096.
	MaxDropKeys uint32
	// EndpointTTL is how long an endpoint or flow with no open socket and no
	// traffic stays in Metrics. Its counts stay in the namespace totals.
	// Default 5 minutes.
	EndpointTTL time.Duration
}

// DefaultConfig returns the configuration for a node: eBPF where the kernel
// allows it, this namespace only.
func DefaultConfig() Config {
	return Config{
		ProcPath:    "/proc",
		MaxSockets:  16384,
		MaxFlows:    16384,
		MaxDropKeys: 4096,
		EndpointTTL: 5 * time.Minute,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.ProcPath == "" {
		c.ProcPath = d.ProcPath
	}
	if c.MaxSockets == 0 {
		c.MaxSockets = d.MaxSockets
	}
	if c.MaxFlows == 0 {
		c.MaxFlows = d.MaxFlows
	}
	if c.MaxDropKeys == 0 {
		c.MaxDropKeys = d.MaxDropKeys
	}
	if c.EndpointTTL == 0 {
		c.EndpointTTL = d.EndpointTTL
	}
	return c
}

const maxTableEntries = 1 << 22

func (c Config) validate() error {
	for _, f := range []struct {
		name string
		v    uint32
	}{{"MaxSockets", c.MaxSockets}, {"MaxFlows", c.MaxFlows}, {"MaxDropKeys", c.MaxDropKeys}} {
		if f.v > maxTableEntries {
			return fmt.Errorf("%w: %s %d above %d", ErrConfig, f.name, f.v, maxTableEntries)
		}
	}
	if c.EndpointTTL < 0 {
		return fmt.Errorf("%w: negative EndpointTTL %v", ErrConfig, c.EndpointTTL)
	}
	return nil
}
