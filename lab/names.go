package lab

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// Everything the lab creates carries Prefix, so that a run can find and
// remove what an earlier run that died left behind, and never touches
// anything else: network namespaces are named Prefix<pid>n<node>, the
// run's directory Prefix<pid> under the temp dir, the interfaces inside
// a namespace Prefix-<peer node>, the iptables chains Prefix-l<link>,
// and the NFQUEUE queues are numbered from QueueBase. PrefixEnv, when
// set, replaces Prefix for the namespaces and the run's directory (the
// names that share the host), so that labs of several users of one host
// never clean up each other's runs.
const (
	Prefix    = "x0lb"
	PrefixEnv = "X0TTA6BL4_LAB_PREFIX"
	QueueBase = 7400
)

// hostPrefix is the prefix of the names the run shares with the host:
// PrefixEnv's value when it is a short name of lower-case letters and
// digits starting with a letter, else Prefix.
var hostPrefix = prefixFrom(os.Getenv(PrefixEnv))

// prefixFrom is v when it is a usable name prefix (1 to 8 lower-case
// letters and digits, a letter first), else Prefix.
func prefixFrom(v string) string {
	if len(v) == 0 || len(v) > 8 || v[0] < 'a' || v[0] > 'z' {
		return Prefix
	}
	for _, c := range v {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return Prefix
		}
	}
	return v
}

// nsName is the namespace of node i of the run of process pid.
func nsName(pid, i int) string { return fmt.Sprintf("%s%dn%d", hostPrefix, pid, i) }

// parseNSName returns the pid of the run a namespace name belongs to.
func parseNSName(name string) (pid int, ok bool) {
	rest, ok := strings.CutPrefix(name, hostPrefix)
	if !ok {
		return 0, false
	}
	p, _, ok := strings.Cut(rest, "n")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(p)
	return pid, err == nil && pid > 0
}

// runDirName is the name of the run's directory under the temp dir.
func runDirName(pid int) string { return hostPrefix + strconv.Itoa(pid) }

// ifName is node a's interface on its link to node b.
func ifName(b int) string { return fmt.Sprintf("%s-%d", Prefix, b) }

// chainName is the iptables chain of one end of link k.
func chainName(k int) string { return fmt.Sprintf("%s-l%d", Prefix, k) }

// linkBase is the first address of the lab's links: 198.18.0.0/15 is
// reserved for benchmarking (RFC 2544) and never routed; each link gets a
// /30 of it, and it never leaves the run's namespaces.
var linkBase = netip.MustParseAddr("198.18.0.0")

// maxLinks is how many /30s the range holds.
const maxLinks = 1 << 15

// linkAddrs returns the addresses of the A and B ends of link k.
func linkAddrs(k int) (a, b netip.Addr) {
	base := linkBase.As4()
	v := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	v += uint32(4 * k)
	ip := func(x uint32) netip.Addr {
		return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
	}
	return ip(v + 1), ip(v + 2)
}
