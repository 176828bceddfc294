//go:build linux

package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// batchSize is how many entries one BPF_MAP_LOOKUP_BATCH call returns.
const batchSize = 256

// ebpfSource reads the maps that the telemetry programs fill.
type ebpfSource struct {
	progs *Programs

	// buffers reused between reads
	tcpKeys   []uint64
	tcpVals   []telemetryTcpStats
	flowKeys  []telemetryFlowKey
	flowVals  []telemetryFlowStats
	dropKeys  []telemetryDropKey
	dropVals  []uint64
	closed    []uint64
	noBatches bool
}

var _ source = (*ebpfSource)(nil)

func newEBPFSource(p *Programs) *ebpfSource {
	return &ebpfSource{
		progs:    p,
		tcpKeys:  make([]uint64, batchSize),
		tcpVals:  make([]telemetryTcpStats, batchSize),
		flowKeys: make([]telemetryFlowKey, batchSize),
		flowVals: make([]telemetryFlowStats, batchSize),
		dropKeys: make([]telemetryDropKey, batchSize),
		dropVals: make([]uint64, batchSize),
	}
}

func (s *ebpfSource) name() string { return SourceEBPF }

func (s *ebpfSource) unavailable() []string {
	var out []string
	r := s.progs.Report()
	if !r.Has(FeatureTCP) {
		out = append(out, "tcp")
	}
	if !r.Has(FeatureUDP) {
		out = append(out, "udp")
	}
	if !r.Has(FeatureDrops) {
		out = append(out, "drops")
	}
	return out
}

func (s *ebpfSource) close() error { return s.progs.Close() }

// observe reads the three maps in batches. Entries of closed sockets are
// deleted once read: their last counts are in obs.
func (s *ebpfSource) observe(obs *observation) error {
	// A failed walk leaves the event-driven snapshots, which are still
	// right up to their last event: say so once, and go on.
	if err := s.progs.refresh(); err != nil {
		if msg := err.Error(); msg != s.progs.refreshErr {
			s.progs.logger.Warn("tcp socket walk failed; figures of idle sockets may lag", "err", err)
			s.progs.refreshErr = msg
		}
	} else {
		s.progs.refreshErr = ""
	}
	s.closed = s.closed[:0]
	err := readMap(s, s.progs.tcpSocks, s.tcpKeys, s.tcpVals, func(k uint64, v *telemetryTcpStats) {
		t := tcpSample{
			cookie:        k,
			netns:         v.Netns,
			local:         addrPort(v.Family, v.Laddr, v.Lport),
			remote:        addrPort(v.Family, v.Raddr, v.Rport),
			closed:        v.Closed != 0,
			srttMicros:    v.SrttUs,
			rttvarMicros:  v.RttvarUs,
			totalRetrans:  uint64(v.TotalRetrans),
			lost:          uint64(v.Lost),
			segsIn:        uint64(v.SegsIn),
			segsOut:       uint64(v.SegsOut),
			bytesSent:     v.BytesSent,
			bytesRetrans:  v.BytesRetrans,
			bytesAcked:    v.BytesAcked,
			bytesReceived: v.BytesReceived,
		}
		if t.closed {
			s.closed = append(s.closed, k)
		}
		obs.tcp = append(obs.tcp, t)
	})
	if err != nil {
		return fmt.Errorf("read tcp_socks: %w", err)
	}
	for _, k := range s.closed {
		// Already gone (evicted) is fine.
		_ = s.progs.tcpSocks.Delete(k)
	}

	err = readMap(s, s.progs.udpFlows, s.flowKeys, s.flowVals, func(k telemetryFlowKey, v *telemetryFlowStats) {
		obs.udp = append(obs.udp, udpSample{
			netns:           k.Netns,
			local:           addrPort(k.Family, k.Laddr, k.Lport),
			remote:          addrPort(k.Family, k.Raddr, k.Rport),
			bytesSent:       v.BytesSent,
			bytesReceived:   v.BytesReceived,
			packetsSent:     v.PacketsSent,
			packetsReceived: v.PacketsReceived,
		})
	})
	if err != nil {
		return fmt.Errorf("read udp_flows: %w", err)
	}

	err = readMap(s, s.progs.drops, s.dropKeys, s.dropVals, func(k telemetryDropKey, v *uint64) {
		d := dropSample{
			netns:  k.Flow.Netns,
			proto:  k.Flow.Proto,
			reason: s.progs.reasonName(k.Reason),
			count:  *v,
			total:  true,
		}
		if k.Flow.Family != 0 {
			d.local = addrPort(k.Flow.Family, k.Flow.Laddr, k.Flow.Lport)
			d.remote = addrPort(k.Flow.Family, k.Flow.Raddr, k.Flow.Rport)
		}
		obs.drops = append(obs.drops, d)
	})
	if err != nil {
		return fmt.Errorf("read drops: %w", err)
	}
	return nil
}

// readMap calls fn for every entry of m, in batches where the kernel
// supports them (5.6+) and by iteration where it does not.
func readMap[K comparable, V any](s *ebpfSource, m *ebpf.Map, keys []K, vals []V, fn func(K, *V)) error {
	if m == nil {
		return nil
	}
	if !s.noBatches {
		var cursor ebpf.MapBatchCursor
		for {
			n, err := m.BatchLookup(&cursor, keys, vals, nil)
			for i := range n {
				fn(keys[i], &vals[i])
			}
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				return nil
			}
			if errors.Is(err, ebpf.ErrNotSupported) {
				s.noBatches = true
				break
			}
			if err != nil {
				return err
			}
		}
	}
	var k K
	var v V
	it := m.Iterate()
	for it.Next(&k, &v) {
		fn(k, &v)
	}
	return it.Err()
}
