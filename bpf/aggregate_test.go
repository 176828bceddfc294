package bpf

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	t0     = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	peerA  = netip.MustParseAddrPort("192.0.2.1:4001")
	peerB  = netip.MustParseAddrPort("[2001:db8::2]:4001")
	local1 = netip.MustParseAddrPort("192.0.2.100:50000")
)

func tcpS(cookie, netns uint64, remote netip.AddrPort, bytesSent, retrans, segsOut uint64) tcpSample {
	return tcpSample{cookie: cookie, netns: netns, local: local1, remote: remote,
		srttMicros: 1000 * uint32(cookie), bytesSent: bytesSent, totalRetrans: retrans, segsOut: segsOut}
}

// TestAggregatorSteps drives the aggregator through observations and checks
// the figures after each.
func TestAggregatorSteps(t *testing.T) {
	type check struct {
		remote      netip.AddrPort
		present     bool
		sockets     int
		bytesSent   uint64
		retransmits uint64
		srtt        uint32
	}
	type step struct {
		after time.Duration
		obs   observation
		want  []check
		// namespace figures
		netBytesSent uint64
		netRetrans   uint64
		lossPercent  float64
		latencyMs    float64
	}
	for _, tc := range []struct {
		name  string
		netns uint64
		steps []step
	}{
		{
			name:  "new socket counts its history, then deltas",
			netns: 7,
			steps: []step{
				{after: time.Second, obs: observation{tcp: []tcpSample{tcpS(1, 7, peerA, 1000, 1, 10)}},
					want:         []check{{remote: peerA, present: true, sockets: 1, bytesSent: 1000, retransmits: 1, srtt: 1000}},
					netBytesSent: 1000, netRetrans: 1, lossPercent: 10, latencyMs: 1},
				{after: time.Second, obs: observation{tcp: []tcpSample{tcpS(1, 7, peerA, 1500, 1, 20)}},
					want:         []check{{remote: peerA, present: true, sockets: 1, bytesSent: 1500, retransmits: 1, srtt: 1000}},
					netBytesSent: 1500, netRetrans: 1, lossPercent: 0, latencyMs: 1},
			},
		},
		{
			name:  "retransmitted bytes are not sent bytes",
			netns: 0,
			steps: []step{
				{after: time.Second, obs: observation{tcp: []tcpSample{{cookie: 1, remote: peerA, bytesSent: 1200, bytesRetrans: 200, totalRetrans: 2, segsOut: 8}}},
					want:         []check{{remote: peerA, present: true, sockets: 1, bytesSent: 1000, retransmits: 2}},
					netBytesSent: 1000, netRetrans: 2, lossPercent: 25},
			},
		},
		{
			name:  "closed and vanished sockets keep their counts",
			netns: 7,
			steps: []step{
				{after: time.Second, obs: observation{tcp: []tcpSample{tcpS(1, 7, peerA, 100, 0, 1), tcpS(2, 7, peerB, 200, 0, 1)}},
					want:         []check{{remote: peerA, present: true, sockets: 1, bytesSent: 100, srtt: 1000}, {remote: peerB, present: true, sockets: 1, bytesSent: 200, srtt: 2000}},
					netBytesSent: 300, latencyMs: 1.5},
				{after: time.Second, obs: observation{tcp: []tcpSample{func() tcpSample { s := tcpS(1, 7, peerA, 150, 0, 2); s.closed = true; return s }()}},
					want:         []check{{remote: peerA, present: true, sockets: 0, bytesSent: 150}, {remote: peerB, present: true, sockets: 0, bytesSent: 200}},
					netBytesSent: 350},
			},
		},
		{
			name:  "a counter that goes back counts from zero",
			netns: 7,
			steps: []step{
				{after: time.Second, obs: observation{tcp: []tcpSample{tcpS(1, 7, peerA, 500, 0, 1)}},
					want: []check{{remote: peerA, present: true, sockets: 1, bytesSent: 500, srtt: 1000}}, netBytesSent: 500, latencyMs: 1},
				{after: time.Second, obs: observation{tcp: []tcpSample{tcpS(1, 7, peerA, 20, 0, 2)}},
					want: []check{{remote: peerA, present: true, sockets: 1, bytesSent: 520, srtt: 1000}}, netBytesSent: 520, latencyMs: 1},
			},
		},
		{
			name:  "other namespaces are ignored",
			netns: 7,
			steps: []step{
				{after: time.Second, obs: observation{tcp: []tcpSample{tcpS(1, 8, peerA, 500, 3, 1)}},
					want: []check{{remote: peerA, present: false}}},
			},
		},
		{
			name:  "idle closed endpoints expire after the TTL",
			netns: 7,
			steps: []step{
				{after: time.Second, obs: observation{tcp: []tcpSample{func() tcpSample { s := tcpS(1, 7, peerA, 100, 0, 1); s.closed = true; return s }()}},
					want: []check{{remote: peerA, present: true, bytesSent: 100}}, netBytesSent: 100},
				{after: 30 * time.Second, obs: observation{},
					want: []check{{remote: peerA, present: true, bytesSent: 100}}, netBytesSent: 100},
				{after: 31 * time.Second, obs: observation{},
					want: []check{{remote: peerA, present: false}}, netBytesSent: 100},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAggregator(tc.netns, time.Minute)
			now := t0
			a.start(now, hostSample{})
			for i, st := range tc.steps {
				now = now.Add(st.after)
				a.step(now, &st.obs)
				m := a.metrics(now, hostSample{})
				for _, c := range st.want {
					e, ok := m.TCPEndpoint(c.remote)
					if ok != c.present {
						t.Fatalf("step %d: endpoint %v present %v, want %v", i, c.remote, ok, c.present)
					}
					if !ok {
						continue
					}
					got := check{remote: e.Remote, present: true, sockets: e.Sockets, bytesSent: e.BytesSent,
						retransmits: e.Retransmits, srtt: e.SRTTMicros}
					if got != c {
						t.Errorf("step %d: endpoint %+v, want %+v", i, got, c)
					}
				}
				n := m.Network
				if n.BytesSent != st.netBytesSent || n.Retransmits != st.netRetrans ||
					n.PacketLossPercent != st.lossPercent || n.LatencyMillis != st.latencyMs {
					t.Errorf("step %d: network bytes %d retrans %d loss %v latency %v; want %d %d %v %v", i,
						n.BytesSent, n.Retransmits, n.PacketLossPercent, n.LatencyMillis,
						st.netBytesSent, st.netRetrans, st.lossPercent, st.latencyMs)
				}
				if m.IntervalMillis != float64(st.after/time.Millisecond) {
					t.Errorf("step %d: interval %v ms, want %v", i, m.IntervalMillis, st.after.Milliseconds())
				}
			}
		})
	}
}

func TestAggregatorDrops(t *testing.T) {
	a := newAggregator(0, time.Minute)
	a.start(t0, hostSample{})
	obs := observation{drops: []dropSample{
		{proto: protoTCP, remote: peerA, reason: "NETFILTER_DROP", count: 3, total: true},
		{proto: protoUDP, local: local1, remote: peerB, reason: "SOCKET_RCVBUFF", count: 5, total: true},
		{reason: "NO_SOCKET", count: 2, total: true},
		// a socket's own counter, already in a namespace counter
		{proto: protoUDP, local: local1, reason: "SOCKET", count: 4, cookie: 9},
	}}
	a.step(t0.Add(time.Second), &obs)
	obs.drops[0].count = 4
	a.step(t0.Add(2*time.Second), &obs)
	m := a.metrics(t0.Add(2*time.Second), hostSample{})
	wantNet := map[string]uint64{"NETFILTER_DROP": 4, "SOCKET_RCVBUFF": 5, "NO_SOCKET": 2}
	if m.Network.Drops != 11 || !reflect.DeepEqual(m.Network.DropsByReason, wantNet) {
		t.Errorf("network drops %d %v, want 11 %v", m.Network.Drops, m.Network.DropsByReason, wantNet)
	}
	e, _ := m.TCPEndpoint(peerA)
	if e.Drops != 4 || e.DropsByReason["NETFILTER_DROP"] != 4 {
		t.Errorf("tcp endpoint drops %+v", e)
	}
	for _, f := range m.UDP {
		switch f.Remote {
		case peerB:
			if f.Drops != 5 {
				t.Errorf("udp flow %v drops %d, want 5", f.Remote, f.Drops)
			}
		case netip.AddrPort{}:
			if f.Drops != 4 || f.DropsByReason["SOCKET"] != 4 {
				t.Errorf("udp socket drops %+v, want 4 SOCKET", f)
			}
		default:
			t.Errorf("unexpected flow %+v", f)
		}
	}
}

func TestPerformance(t *testing.T) {
	for _, tc := range []struct {
		name      string
		prev, cur hostSample
		havePrev  bool
		want      Performance
	}{
		{"interval", hostSample{cpuBusy: 10, cpuTotal: 100}, hostSample{cpuBusy: 13, cpuTotal: 104, memTotal: 1000, memAvailable: 250, load1: 1.5},
			true, Performance{CPUPercent: 75, MemoryTotalBytes: 1000, MemoryUsedBytes: 750, MemoryPercent: 75, Load1: 1.5}},
		{"since boot", hostSample{}, hostSample{cpuBusy: 1, cpuTotal: 4}, false, Performance{CPUPercent: 25}},
		{"no time passed", hostSample{cpuBusy: 1, cpuTotal: 4}, hostSample{cpuBusy: 1, cpuTotal: 4}, true, Performance{}},
		{"available above total", hostSample{}, hostSample{memTotal: 10, memAvailable: 20}, false, Performance{MemoryTotalBytes: 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := performance(tc.prev, tc.cur, tc.havePrev); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestMetricsJSON pins the field names the CLI prints and the seed API
// shape (network.latency_ms, performance.cpu_percent, ...).
func TestMetricsJSON(t *testing.T) {
	m := Metrics{
		Source: SourceEBPF,
		Time:   t0,
		TCP:    []TCPEndpoint{{Remote: peerA, Local: local1, Sockets: 1, SRTTMicros: 1500}},
		UDP:    []UDPFlow{{Remote: peerB, Local: local1, PacketsSent: 2}},
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"source":"ebpf"`, `"network":{"latency_ms":0,"packet_loss_percent":0,"retransmits":0,"bytes_sent":0`,
		`"performance":{"cpu_percent":0,"memory_total_bytes":0`, `"remote":"192.0.2.1:4001"`,
		`"srtt_us":1500`, `"remote":"[2001:db8::2]:4001"`, `"netns":{"cookie":0,"inode":0}`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s:\n%s", want, b)
		}
	}
	var back Metrics
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, m)
	}
}

func TestAddrPort(t *testing.T) {
	mapped := [16]byte{10: 0xff, 11: 0xff, 12: 192, 13: 0, 14: 2, 15: 7}
	for _, tc := range []struct {
		name   string
		family uint8
		addr   [16]byte
		port   uint16
		want   string
	}{
		{"ipv4", afInet, [16]byte{192, 0, 2, 7}, 4001, "192.0.2.7:4001"},
		{"ipv4-mapped ipv6 is unmapped", afInet6, mapped, 80, "192.0.2.7:80"},
		{"ipv6", afInet6, [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}, 443, "[2001:db8::1]:443"},
		{"no peer", afInet, [16]byte{}, 0, "invalid AddrPort"},
		{"bound to any", afInet, [16]byte{}, 53, "0.0.0.0:53"},
		{"unknown family", 99, [16]byte{1}, 1, "invalid AddrPort"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := addrPort(tc.family, tc.addr, tc.port).String(); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"default", DefaultConfig(), false},
		{"zero means default", Config{}.withDefaults(), false},
		{"huge table", Config{MaxSockets: maxTableEntries + 1}.withDefaults(), true},
		{"negative ttl", Config{EndpointTTL: -time.Second}.withDefaults(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.validate(); (err != nil) != tc.wantErr {
				t.Errorf("validate = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}
