package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/x0tta6bl4/x0tta6bl4/bpf"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
)

// hostCollectors is the process's pool of collectors. Every node of a
// process sees the same kernel and, on one host, the same network
// namespace, so the nodes share one bpf.Collector per source: the eBPF
// programs load once per process (about 60 ms, and one set of programs on
// the data path however many nodes run), and one Collect serves every
// node that asks within an interval. Each node then picks its own links
// out of the shared reading by the addresses of its connections.
var hostCollectors = newCollectorPool(bpf.Open)

// collectorPool opens a collector for the first node that asks for a
// source and closes it when the last one lets go.
type collectorPool struct {
	open func(bpf.Config, *slog.Logger) (*bpf.Collector, error)

	mu      sync.Mutex
	entries map[string]*sharedCollector
}

func newCollectorPool(open func(bpf.Config, *slog.Logger) (*bpf.Collector, error)) *collectorPool {
	return &collectorPool{open: open, entries: map[string]*sharedCollector{}}
}

// sharedCollector is one bpf.Collector and its latest reading, shared by
// the nodes that acquired it.
type sharedCollector struct {
	pool   *collectorPool
	source string
	refs   int // under pool.mu

	c *bpf.Collector

	mu   sync.Mutex // serialises readings
	last *hostReading
}

// hostReading is one Collect, indexed for the join with connections. It
// is shared by the nodes and read-only.
type hostReading struct {
	m   bpf.Metrics
	tcp map[netip.AddrPort]*bpf.TCPEndpoint
	udp map[netip.AddrPort][]*bpf.UDPFlow
}

// acquire returns the collector for source (TelemetryAuto or
// TelemetryProcfs), opening it if no node holds it. Release it once.
func (p *collectorPool) acquire(source string, logger *slog.Logger) (*sharedCollector, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.entries[source]; s != nil {
		s.refs++
		return s, nil
	}
	cfg := bpf.DefaultConfig()
	switch source {
	case TelemetryAuto:
	case TelemetryProcfs:
		cfg.DisableEBPF = true
	default:
		return nil, fmt.Errorf("telemetry source %q has no collector", source)
	}
	c, err := p.open(cfg, logger)
	if err != nil {
		return nil, fmt.Errorf("open telemetry collector: %w", err)
	}
	s := &sharedCollector{pool: p, source: source, refs: 1, c: c}
	p.entries[source] = s
	return s, nil
}

// release lets go of s; the last node to release it closes the collector.
func (s *sharedCollector) release() error {
	p := s.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	s.refs--
	if s.refs > 0 {
		return nil
	}
	delete(p.entries, s.source)
	return s.c.Close()
}

// reading returns a reading no older than maxAge at now, collecting a new
// one if the latest is older. The result is shared: do not modify it.
func (s *sharedCollector) reading(now time.Time, maxAge time.Duration) (*hostReading, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last != nil {
		if age := now.Sub(s.last.m.Time); age >= 0 && age < maxAge {
			return s.last, nil
		}
	}
	m, err := s.c.Collect(now)
	if err != nil {
		if errors.Is(err, bpf.ErrClosed) {
			return nil, err
		}
		return nil, fmt.Errorf("collect telemetry: %w", err)
	}
	r := &hostReading{
		m:   m,
		tcp: make(map[netip.AddrPort]*bpf.TCPEndpoint, len(m.TCP)),
		udp: make(map[netip.AddrPort][]*bpf.UDPFlow, len(m.UDP)),
	}
	for i := range m.TCP {
		r.tcp[m.TCP[i].Remote] = &m.TCP[i]
	}
	for i := range m.UDP {
		f := &m.UDP[i]
		if f.Remote.IsValid() {
			r.udp[f.Remote] = append(r.udp[f.Remote], f)
		}
	}
	s.last = r
	return r, nil
}

// join adds to s the figures of the sockets of conns found in the
// reading: a TCP connection joins the TCP endpoint of its remote address,
// a QUIC connection the UDP flows between its two addresses. On a host
// that runs one node this is exact; where several nodes of one host
// connect to the same remote address (a devnet), the TCP endpoint sums
// their sockets.
func (r *hostReading) join(s *overlay.LinkSample, conns []network.Conn) {
	s.Kernel = true
	seenTCP := map[*bpf.TCPEndpoint]bool{}
	seenUDP := map[*bpf.UDPFlow]bool{}
	for _, c := range conns {
		local, lok := addrPort(c.LocalMultiaddr())
		remote, rok := addrPort(c.RemoteMultiaddr())
		if !lok || !rok {
			continue
		}
		if isTCP(c.RemoteMultiaddr()) {
			e := r.tcp[remote]
			if e == nil || seenTCP[e] {
				continue
			}
			seenTCP[e] = true
			s.TCP = true
			if e.SRTTMicros > 0 && s.SRTT == 0 {
				s.SRTT = time.Duration(e.SRTTMicros) * time.Microsecond
			}
			s.Retransmits += e.Retransmits
			s.SegmentsSent += e.SegmentsSent
			s.BytesSent += e.BytesSent
			s.BytesReceived += e.BytesReceived
			continue
		}
		for _, f := range r.udp[remote] {
			if seenUDP[f] || f.Local.Port() != local.Port() ||
				(!local.Addr().IsUnspecified() && f.Local.Addr() != local.Addr()) {
				continue
			}
			seenUDP[f] = true
			s.UDP = true
			s.BytesSent += f.BytesSent
			s.BytesReceived += f.BytesReceived
		}
	}
}

// addrPort returns the IP address and TCP or UDP port of m.
func addrPort(m ma.Multiaddr) (netip.AddrPort, bool) {
	var ip netip.Addr
	var port uint16
	var havePort bool
	for _, c := range m {
		switch c.Code() {
		case ma.P_IP4, ma.P_IP6:
			a, ok := netip.AddrFromSlice(c.RawValue())
			if !ok {
				return netip.AddrPort{}, false
			}
			ip = a.Unmap()
		case ma.P_TCP, ma.P_UDP:
			p, err := strconv.ParseUint(c.Value(), 10, 16)
			if err != nil {
				return netip.AddrPort{}, false
			}
			port, havePort = uint16(p), true
		}
	}
	if !ip.IsValid() || !havePort {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip, port), true
}

// isTCP reports whether m is a TCP address.
func isTCP(m ma.Multiaddr) bool {
	_, err := m.ValueForProtocol(ma.P_TCP)
	return err == nil
}
