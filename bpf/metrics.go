package bpf

import (
	"net/netip"
	"time"
)

// Names of the sources a Collector reports in Metrics.Source.
const (
	// SourceEBPF means the figures come from the eBPF programs.
	SourceEBPF = "ebpf"
	// SourceProcfs means the figures come from sock_diag netlink and /proc.
	SourceProcfs = "procfs"
)

// Metrics is one reading of this host's network and performance figures,
// as Collector.Collect returns it. Counters (bytes, packets, retransmits,
// drops) are cumulative since the Collector was opened, including what
// sockets that were already open had counted before; gauges (latency, loss,
// CPU) describe the interval since the previous reading.
//
// The JSON encoding is the one `x0tta6bl4 telemetry --json` prints.
type Metrics struct {
	// Source is SourceEBPF or SourceProcfs.
	Source string `json:"source"`
	// Time is the reading's time, as passed to Collect.
	Time time.Time `json:"time"`
	// IntervalMillis is the time since the previous reading (or since Open)
	// in milliseconds; the rates and gauges cover this interval.
	IntervalMillis float64 `json:"interval_ms"`
	// NetNS names the network namespace the figures belong to.
	NetNS NetNS `json:"netns"`
	// Network sums the figures of every socket in the namespace.
	Network Network `json:"network"`
	// Performance holds host CPU, memory and load.
	Performance Performance `json:"performance"`
	// TCP lists the figures per remote TCP endpoint, sorted by remote address.
	TCP []TCPEndpoint `json:"tcp"`
	// UDP lists the figures per UDP flow, sorted by remote then local address.
	UDP []UDPFlow `json:"udp"`
	// Unavailable names the figures this source cannot measure on this host
	// (they read as zero), e.g. "udp.bytes" for the procfs source.
	Unavailable []string `json:"unavailable,omitempty"`
}

// NetNS identifies a network namespace.
type NetNS struct {
	// Cookie is the kernel's 64-bit namespace cookie (SO_NETNS_COOKIE),
	// unique until reboot; 0 if the kernel does not expose it.
	Cookie uint64 `json:"cookie"`
	// Inode is the inode number of /proc/self/ns/net, as `ip netns identify`
	// and `lsns` show it.
	Inode uint64 `json:"inode"`
}

// Network is the seed API's "network" object: the namespace's totals.
type Network struct {
	// LatencyMillis is the mean smoothed RTT of the TCP endpoints that have
	// an open socket, in milliseconds; 0 when there are none.
	LatencyMillis float64 `json:"latency_ms"`
	// PacketLossPercent is retransmitted / sent TCP segments over the
	// interval, times 100.
	PacketLossPercent float64 `json:"packet_loss_percent"`
	// Retransmits counts retransmitted TCP segments.
	Retransmits uint64 `json:"retransmits"`
	// BytesSent and BytesReceived count TCP and UDP payload bytes, each sent
	// byte once (retransmissions excluded).
	BytesSent     uint64 `json:"bytes_sent"`
	BytesReceived uint64 `json:"bytes_received"`
	// PacketsSent and PacketsReceived count TCP segments and UDP datagrams.
	PacketsSent     uint64 `json:"packets_sent"`
	PacketsReceived uint64 `json:"packets_received"`
	// Drops counts packets the kernel dropped; DropsByReason splits them.
	Drops         uint64            `json:"drops"`
	DropsByReason map[string]uint64 `json:"drops_by_reason,omitempty"`
	// TCPEndpoints and UDPFlows count the entries of Metrics.TCP and .UDP.
	TCPEndpoints int `json:"tcp_endpoints"`
	UDPFlows     int `json:"udp_flows"`
}

// Performance is the seed API's "performance" object: host figures.
type Performance struct {
	// CPUPercent is the share of all CPUs' time spent not idle over the
	// interval, 0 to 100.
	CPUPercent float64 `json:"cpu_percent"`
	// MemoryTotalBytes is physical memory; MemoryUsedBytes is the part not
	// available to new allocations (MemTotal - MemAvailable).
	MemoryTotalBytes uint64  `json:"memory_total_bytes"`
	MemoryUsedBytes  uint64  `json:"memory_used_bytes"`
	MemoryPercent    float64 `json:"memory_percent"`
	// Load1, Load5 and Load15 are the run-queue load averages.
	Load1  float64 `json:"load1"`
	Load5  float64 `json:"load5"`
	Load15 float64 `json:"load15"`
}

// TCPEndpoint holds the figures of the TCP sockets connected to one remote
// address in one namespace. Remote is what a libp2p connection's remote
// multiaddr names, so the two join on it.
type TCPEndpoint struct {
	// Remote is the peer's address; IPv4-mapped IPv6 addresses are unmapped.
	Remote netip.AddrPort `json:"remote"`
	// Local is the local address of the most recently seen socket.
	Local netip.AddrPort `json:"local"`
	// NetNS is the namespace cookie of the sockets.
	NetNS uint64 `json:"netns"`
	// Sockets is the number of sockets to Remote open at this reading.
	Sockets int `json:"sockets"`
	// SRTTMicros and RTTVarMicros are the kernel's smoothed round-trip time
	// and its mean deviation, in microseconds, of the most recently updated
	// open socket (0 once all are closed).
	SRTTMicros   uint32 `json:"srtt_us"`
	RTTVarMicros uint32 `json:"rttvar_us"`
	// Retransmits counts retransmitted segments.
	Retransmits uint64 `json:"retransmits"`
	// Lost counts segments the kernel considered lost.
	Lost uint64 `json:"lost"`
	// BytesSent counts payload bytes sent, each once; BytesRetransmitted the
	// payload bytes sent again.
	BytesSent          uint64 `json:"bytes_sent"`
	BytesRetransmitted uint64 `json:"bytes_retransmitted"`
	// BytesAcked counts bytes the peer acknowledged (the kernel counts the
	// SYN and FIN as one byte each).
	BytesAcked uint64 `json:"bytes_acked"`
	// BytesReceived counts payload bytes received in order (the kernel
	// counts a received FIN as one byte).
	BytesReceived uint64 `json:"bytes_received"`
	// SegmentsSent and SegmentsReceived count TCP segments.
	SegmentsSent     uint64 `json:"segments_sent"`
	SegmentsReceived uint64 `json:"segments_received"`
	// Drops counts packets of these sockets the kernel dropped.
	Drops         uint64            `json:"drops"`
	DropsByReason map[string]uint64 `json:"drops_by_reason,omitempty"`
	// LastActive is the last reading at which a counter moved or a socket
	// was open.
	LastActive time.Time `json:"last_active"`
}

// UDPFlow holds the figures of the UDP (e.g. QUIC) traffic between one
// local and one remote address in one namespace. The procfs source reports
// sockets: an unconnected socket has an invalid (empty) Remote.
type UDPFlow struct {
	Remote netip.AddrPort `json:"remote"`
	Local  netip.AddrPort `json:"local"`
	NetNS  uint64         `json:"netns"`
	// BytesSent and BytesReceived count UDP payload bytes.
	BytesSent     uint64 `json:"bytes_sent"`
	BytesReceived uint64 `json:"bytes_received"`
	// PacketsSent and PacketsReceived count datagrams (GSO trains count
	// each segment).
	PacketsSent     uint64            `json:"packets_sent"`
	PacketsReceived uint64            `json:"packets_received"`
	Drops           uint64            `json:"drops"`
	DropsByReason   map[string]uint64 `json:"drops_by_reason,omitempty"`
	LastActive      time.Time         `json:"last_active"`
}

// TCPEndpoint returns the figures for the TCP endpoint at remote (in any
// namespace Metrics covers) and whether there is one.
func (m *Metrics) TCPEndpoint(remote netip.AddrPort) (TCPEndpoint, bool) {
	remote = unmap(remote)
	for _, e := range m.TCP {
		if e.Remote == remote {
			return e, true
		}
	}
	return TCPEndpoint{}, false
}

// UDPFlows returns the UDP flows whose remote address is remote.
func (m *Metrics) UDPFlows(remote netip.AddrPort) []UDPFlow {
	remote = unmap(remote)
	var out []UDPFlow
	for _, f := range m.UDP {
		if f.Remote == remote {
			out = append(out, f)
		}
	}
	return out
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	if !ap.IsValid() {
		return ap
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
