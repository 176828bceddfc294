package bpf

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
	"time"
)

// IP protocol numbers used in drop samples.
const (
	protoTCP = 6
	protoUDP = 17
)

// An observation is what a source read at one instant: the cumulative
// counters of every socket, flow and drop bucket it can see. Sources report
// raw kernel counters; the aggregator turns them into Metrics.
type observation struct {
	tcp   []tcpSample
	udp   []udpSample
	drops []dropSample
	// datagrams, when set, are the namespace's UDP datagram counters
	// (/proc/net/snmp), for sources without per-flow UDP packet counts.
	datagrams *datagramCounters
}

type datagramCounters struct {
	in, out uint64
}

// tcpSample is one TCP socket's counters, as struct tcp_info names them.
type tcpSample struct {
	cookie        uint64 // socket cookie, unique until reboot
	netns         uint64
	local, remote netip.AddrPort
	closed        bool // the socket reached TCP_CLOSE; this is its last sample
	srttMicros    uint32
	rttvarMicros  uint32
	totalRetrans  uint64
	lost          uint64
	segsIn        uint64
	segsOut       uint64
	bytesSent     uint64 // includes retransmitted bytes
	bytesRetrans  uint64
	bytesAcked    uint64
	bytesReceived uint64
}

// udpSample is one UDP flow's (eBPF) or socket's (sock_diag) counters.
type udpSample struct {
	cookie          uint64 // socket cookie, or 0 for a flow counted by packets
	netns           uint64
	local, remote   netip.AddrPort
	bytesSent       uint64
	bytesReceived   uint64
	packetsSent     uint64
	packetsReceived uint64
}

// dropSample is one cumulative drop counter.
type dropSample struct {
	netns         uint64
	proto         uint8 // protoTCP, protoUDP or 0 when not attributed
	local, remote netip.AddrPort
	reason        string
	count         uint64
	// total says the drops count in Network.Drops; attribution-only
	// counters (a socket's own drop count, already in a namespace counter)
	// leave it false.
	total bool
	// cookie tells apart per-socket counters that share addresses.
	cookie uint64
}

// hostSample is one reading of /proc/stat, /proc/meminfo and /proc/loadavg.
type hostSample struct {
	cpuBusy, cpuTotal      float64 // seconds, summed over CPUs
	memTotal, memAvailable uint64  // bytes
	load1, load5, load15   float64
}

type endpointKey struct {
	netns  uint64
	remote netip.AddrPort
}

type flowKey struct {
	netns         uint64
	local, remote netip.AddrPort
}

type udpSampleKey struct {
	cookie uint64
	flow   flowKey
}

type dropSampleKey struct {
	netns         uint64
	proto         uint8
	local, remote netip.AddrPort
	reason        string
	total         bool
	cookie        uint64
}

// aggregator folds successive observations into cumulative per-endpoint and
// per-namespace figures. It is a pure state machine: no I/O, no clock.
type aggregator struct {
	netns uint64        // record only this namespace; 0 records all
	ttl   time.Duration // forget endpoints idle and closed for this long

	tcpLast  map[uint64]tcpSample
	udpLast  map[udpSampleKey]udpSample
	dropLast map[dropSampleKey]uint64
	dgLast   *datagramCounters

	tcp map[endpointKey]*TCPEndpoint
	udp map[flowKey]*UDPFlow
	net Network

	// per-interval sums for the loss gauge
	intervalRetrans, intervalSegsOut uint64

	lastTime time.Time
	lastHost hostSample
	haveHost bool
}

func newAggregator(netns uint64, ttl time.Duration) *aggregator {
	return &aggregator{
		netns:    netns,
		ttl:      ttl,
		tcpLast:  make(map[uint64]tcpSample),
		udpLast:  make(map[udpSampleKey]udpSample),
		dropLast: make(map[dropSampleKey]uint64),
		tcp:      make(map[endpointKey]*TCPEndpoint),
		udp:      make(map[flowKey]*UDPFlow),
	}
}

// delta is the growth of a cumulative counter; a counter that went back
// (a reused map slot, a wrapped 32-bit value) counts from zero.
func delta(cur, prev uint64) uint64 {
	if cur >= prev {
		return cur - prev
	}
	return cur
}

func (a *aggregator) wants(netns uint64) bool {
	return a.netns == 0 || netns == a.netns
}

// start records the time and host figures the first interval starts from.
func (a *aggregator) start(now time.Time, h hostSample) {
	a.lastTime = now
	a.lastHost = h
	a.haveHost = true
}

// step folds obs, read at now, into the state.
func (a *aggregator) step(now time.Time, obs *observation) {
	a.intervalRetrans, a.intervalSegsOut = 0, 0
	a.stepTCP(now, obs.tcp)
	a.stepUDP(now, obs.udp)
	if obs.datagrams != nil {
		if a.dgLast != nil {
			a.net.PacketsReceived += delta(obs.datagrams.in, a.dgLast.in)
			a.net.PacketsSent += delta(obs.datagrams.out, a.dgLast.out)
		} else {
			a.net.PacketsReceived += obs.datagrams.in
			a.net.PacketsSent += obs.datagrams.out
		}
		d := *obs.datagrams
		a.dgLast = &d
	}
	a.stepDrops(now, obs.drops)
	a.expire(now)
}

func (a *aggregator) stepTCP(now time.Time, samples []tcpSample) {
	seen := make(map[uint64]struct{}, len(samples))
	for _, e := range a.tcp {
		e.Sockets = 0
	}
	for _, s := range samples {
		if !a.wants(s.netns) || !s.remote.IsValid() {
			continue
		}
		s.local, s.remote = unmap(s.local), unmap(s.remote)
		prev := a.tcpLast[s.cookie]
		k := endpointKey{netns: s.netns, remote: s.remote}
		e := a.tcp[k]
		if e == nil {
			e = &TCPEndpoint{Remote: s.remote, NetNS: s.netns}
			a.tcp[k] = e
		}
		d := tcpSample{
			totalRetrans:  delta(s.totalRetrans, prev.totalRetrans),
			lost:          delta(s.lost, prev.lost),
			segsIn:        delta(s.segsIn, prev.segsIn),
			segsOut:       delta(s.segsOut, prev.segsOut),
			bytesSent:     delta(s.bytesSent, prev.bytesSent),
			bytesRetrans:  delta(s.bytesRetrans, prev.bytesRetrans),
			bytesAcked:    delta(s.bytesAcked, prev.bytesAcked),
			bytesReceived: delta(s.bytesReceived, prev.bytesReceived),
		}
		unique := d.bytesSent - min(d.bytesSent, d.bytesRetrans)
		e.Local = s.local
		e.Retransmits += d.totalRetrans
		e.Lost += d.lost
		e.SegmentsReceived += d.segsIn
		e.SegmentsSent += d.segsOut
		e.BytesSent += unique
		e.BytesRetransmitted += d.bytesRetrans
		e.BytesAcked += d.bytesAcked
		e.BytesReceived += d.bytesReceived
		a.net.Retransmits += d.totalRetrans
		a.net.BytesSent += unique
		a.net.BytesReceived += d.bytesReceived
		a.net.PacketsSent += d.segsOut
		a.net.PacketsReceived += d.segsIn
		a.intervalRetrans += d.totalRetrans
		a.intervalSegsOut += d.segsOut
		moved := d != (tcpSample{})
		if s.closed {
			delete(a.tcpLast, s.cookie)
		} else {
			a.tcpLast[s.cookie] = s
			seen[s.cookie] = struct{}{}
			e.Sockets++
			e.SRTTMicros, e.RTTVarMicros = s.srttMicros, s.rttvarMicros
		}
		if moved || !s.closed {
			e.LastActive = now
		}
	}
	// Sockets the source no longer sees are gone; their counts stay.
	for c := range a.tcpLast {
		if _, ok := seen[c]; !ok {
			delete(a.tcpLast, c)
		}
	}
	for _, e := range a.tcp {
		if e.Sockets == 0 {
			e.SRTTMicros, e.RTTVarMicros = 0, 0
		}
	}
}

func (a *aggregator) stepUDP(now time.Time, samples []udpSample) {
	seen := make(map[udpSampleKey]struct{}, len(samples))
	for _, s := range samples {
		if !a.wants(s.netns) {
			continue
		}
		s.local, s.remote = unmap(s.local), unmap(s.remote)
		fk := flowKey{netns: s.netns, local: s.local, remote: s.remote}
		sk := udpSampleKey{cookie: s.cookie, flow: fk}
		prev := a.udpLast[sk]
		a.udpLast[sk] = s
		seen[sk] = struct{}{}
		f := a.flow(fk)
		bs, br := delta(s.bytesSent, prev.bytesSent), delta(s.bytesReceived, prev.bytesReceived)
		ps, pr := delta(s.packetsSent, prev.packetsSent), delta(s.packetsReceived, prev.packetsReceived)
		f.BytesSent += bs
		f.BytesReceived += br
		f.PacketsSent += ps
		f.PacketsReceived += pr
		a.net.BytesSent += bs
		a.net.BytesReceived += br
		a.net.PacketsSent += ps
		a.net.PacketsReceived += pr
		if s.cookie != 0 || bs|br|ps|pr != 0 {
			f.LastActive = now // an open socket, or traffic
		}
	}
	for k := range a.udpLast {
		if _, ok := seen[k]; !ok {
			delete(a.udpLast, k)
		}
	}
}

func (a *aggregator) flow(k flowKey) *UDPFlow {
	f := a.udp[k]
	if f == nil {
		f = &UDPFlow{Remote: k.remote, Local: k.local, NetNS: k.netns}
		a.udp[k] = f
	}
	return f
}

func (a *aggregator) stepDrops(now time.Time, samples []dropSample) {
	seen := make(map[dropSampleKey]struct{}, len(samples))
	for _, s := range samples {
		if !a.wants(s.netns) {
			continue
		}
		s.local, s.remote = unmap(s.local), unmap(s.remote)
		k := dropSampleKey{netns: s.netns, proto: s.proto, local: s.local, remote: s.remote,
			reason: s.reason, total: s.total, cookie: s.cookie}
		d := delta(s.count, a.dropLast[k])
		a.dropLast[k] = s.count
		seen[k] = struct{}{}
		if d == 0 {
			continue
		}
		if s.total {
			a.net.Drops += d
			a.net.DropsByReason = addReason(a.net.DropsByReason, s.reason, d)
		}
		switch {
		case s.proto == protoTCP && s.remote.IsValid():
			ek := endpointKey{netns: s.netns, remote: s.remote}
			e := a.tcp[ek]
			if e == nil {
				e = &TCPEndpoint{Remote: s.remote, Local: s.local, NetNS: s.netns}
				a.tcp[ek] = e
			}
			e.Drops += d
			e.DropsByReason = addReason(e.DropsByReason, s.reason, d)
			e.LastActive = now
		case s.proto == protoUDP && (s.remote.IsValid() || s.local.IsValid()):
			f := a.flow(flowKey{netns: s.netns, local: s.local, remote: s.remote})
			f.Drops += d
			f.DropsByReason = addReason(f.DropsByReason, s.reason, d)
			f.LastActive = now
		}
	}
	for k := range a.dropLast {
		if _, ok := seen[k]; !ok {
			delete(a.dropLast, k)
		}
	}
}

func addReason(m map[string]uint64, reason string, n uint64) map[string]uint64 {
	if m == nil {
		m = make(map[string]uint64)
	}
	m[reason] += n
	return m
}

// expire forgets endpoints and flows that have had no open socket and no
// traffic for ttl. Their counts stay in the namespace totals.
func (a *aggregator) expire(now time.Time) {
	if a.ttl <= 0 {
		return
	}
	for k, e := range a.tcp {
		if e.Sockets == 0 && now.Sub(e.LastActive) > a.ttl {
			delete(a.tcp, k)
		}
	}
	for k, f := range a.udp {
		if now.Sub(f.LastActive) > a.ttl {
			delete(a.udp, k)
		}
	}
}

// metrics returns the state as Metrics at now, with the host figures h,
// and starts the next interval.
func (a *aggregator) metrics(now time.Time, h hostSample) Metrics {
	m := Metrics{Time: now}
	if !a.lastTime.IsZero() {
		m.IntervalMillis = float64(now.Sub(a.lastTime)) / float64(time.Millisecond)
	}
	m.Network = a.net
	m.Network.DropsByReason = maps.Clone(a.net.DropsByReason)
	if a.intervalSegsOut > 0 {
		m.Network.PacketLossPercent = 100 * float64(a.intervalRetrans) / float64(a.intervalSegsOut)
	}

	m.TCP = make([]TCPEndpoint, 0, len(a.tcp))
	var rttSum float64
	var rttN int
	for _, e := range a.tcp {
		c := *e
		c.DropsByReason = maps.Clone(e.DropsByReason)
		m.TCP = append(m.TCP, c)
		if e.Sockets > 0 {
			rttSum += float64(e.SRTTMicros)
			rttN++
		}
	}
	if rttN > 0 {
		m.Network.LatencyMillis = rttSum / float64(rttN) / 1000
	}
	slices.SortFunc(m.TCP, func(x, y TCPEndpoint) int {
		return cmp.Or(x.Remote.Compare(y.Remote), cmp.Compare(x.NetNS, y.NetNS))
	})

	m.UDP = make([]UDPFlow, 0, len(a.udp))
	for _, f := range a.udp {
		c := *f
		c.DropsByReason = maps.Clone(f.DropsByReason)
		m.UDP = append(m.UDP, c)
	}
	slices.SortFunc(m.UDP, func(x, y UDPFlow) int {
		return cmp.Or(x.Remote.Compare(y.Remote), x.Local.Compare(y.Local), cmp.Compare(x.NetNS, y.NetNS))
	})
	m.Network.TCPEndpoints = len(m.TCP)
	m.Network.UDPFlows = len(m.UDP)

	m.Performance = performance(a.lastHost, h, a.haveHost)
	a.lastHost, a.haveHost = h, true
	a.lastTime = now
	return m
}

// performance derives the host figures from two successive samples.
func performance(prev, cur hostSample, havePrev bool) Performance {
	p := Performance{
		MemoryTotalBytes: cur.memTotal,
		Load1:            cur.load1,
		Load5:            cur.load5,
		Load15:           cur.load15,
	}
	if cur.memTotal > 0 {
		used := cur.memTotal - min(cur.memTotal, cur.memAvailable)
		p.MemoryUsedBytes = used
		p.MemoryPercent = 100 * float64(used) / float64(cur.memTotal)
	}
	busy, total := cur.cpuBusy, cur.cpuTotal
	if havePrev {
		busy, total = cur.cpuBusy-prev.cpuBusy, cur.cpuTotal-prev.cpuTotal
	}
	if total > 0 && busy >= 0 {
		p.CPUPercent = min(100, 100*busy/total)
	}
	return p
}
