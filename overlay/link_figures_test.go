package overlay_test

import (
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// TestLinkFiguresSources checks which source each figure of a link comes
// from: HELLOs before the kernel before the transport, neighbors that
// are not connected peers included, self and the zero address left out.
func TestLinkFiguresSources(t *testing.T) {
	self, b, c, d := viewAddr(1), viewAddr(2), viewAddr(3), viewAddr(4)
	samples := []overlay.LinkSample{
		{Peer: d, TransportRTT: 9 * time.Millisecond},
		{Peer: b, Kernel: true, TCP: true, SRTT: 250 * time.Microsecond, Retransmits: 2, SegmentsSent: 100,
			BytesSent: 1000, BytesReceived: 2000, TransportRTT: 9 * time.Millisecond},
	}
	neighbors := []overlay.NeighborInfo{
		{Addr: b, Alive: true, RTT: 7 * time.Millisecond, DeliveryOut: 1, DeliveryIn: 0.5},
		{Addr: c, Alive: true, RTT: 3 * time.Millisecond, DeliveryOut: 1, DeliveryIn: 1,
			DataCounts: protocols.DataCounts{DataSent: 9, DataReceived: 8, TransitSent: 7, TransitReceived: 6, RelaySent: 5, RelayReceived: 4}},
		{Addr: self, Alive: true, RTT: time.Millisecond},
		{Alive: true, RTT: time.Millisecond},
	}
	tests := []struct {
		name      string
		neighbors []overlay.NeighborInfo
		want      map[protocols.Addr]protocols.TelemetryLink
	}{
		{"without the routing layer", nil, map[protocols.Addr]protocols.TelemetryLink{
			b: {Peer: b, RTT: 250 * time.Microsecond, RTTBy: protocols.MeasureTCP, TCP: true, Retransmits: 2, BytesSent: 1000, BytesReceived: 2000},
			d: {Peer: d, RTT: 9 * time.Millisecond, RTTBy: protocols.MeasureLibp2p},
		}},
		{"with HELLO figures", neighbors, map[protocols.Addr]protocols.TelemetryLink{
			b: {Peer: b, RTT: 7 * time.Millisecond, RTTBy: protocols.MeasureHello, LossPercent: 25, LossBy: protocols.MeasureHello,
				TCP: true, Retransmits: 2, BytesSent: 1000, BytesReceived: 2000},
			c: {Peer: c, RTT: 3 * time.Millisecond, RTTBy: protocols.MeasureHello, LossBy: protocols.MeasureHello,
				DataCounts: protocols.DataCounts{DataSent: 9, DataReceived: 8, TransitSent: 7, TransitReceived: 6, RelaySent: 5, RelayReceived: 4}},
			d: {Peer: d, RTT: 9 * time.Millisecond, RTTBy: protocols.MeasureLibp2p},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			links := overlay.NewLinkFigures().Merge(self, samples, tt.neighbors)
			if len(links) != len(tt.want) {
				t.Fatalf("links %+v, want %d", links, len(tt.want))
			}
			for i, l := range links {
				if i > 0 && string(links[i-1].Peer[:]) >= string(l.Peer[:]) {
					t.Errorf("links not sorted by address: %v before %v", links[i-1].Peer, l.Peer)
				}
				if want := tt.want[l.Peer]; l != want {
					t.Errorf("link %v = %+v, want %+v", l.Peer, l, want)
				}
			}
			m := protocols.Telemetry{Node: self, Time: viewT0, Seq: 1, Interval: time.Second, Links: links,
				DataPlane: tt.neighbors != nil}
			m.Round()
			if _, err := m.MarshalBinary(); err != nil {
				t.Errorf("merged links do not encode: %v", err)
			}
		})
	}
}

// TestLinkFiguresTCPLoss follows one TCP link over several readings: its
// loss is retransmitted over sent segments between two readings, and
// unknown after a first reading, a counter that went back, or a reading
// without TCP.
func TestLinkFiguresTCPLoss(t *testing.T) {
	self, b := viewAddr(1), viewAddr(2)
	tcp := func(retrans, segs uint64) overlay.LinkSample {
		return overlay.LinkSample{Peer: b, Kernel: true, TCP: true, Retransmits: retrans, SegmentsSent: segs}
	}
	steps := []struct {
		name   string
		sample *overlay.LinkSample // nil: the peer is not connected
		lossBy protocols.Measure
		loss   float64
	}{
		{"first reading", &overlay.LinkSample{Peer: b, Kernel: true, TCP: true, Retransmits: 2, SegmentsSent: 100}, protocols.MeasureNone, 0},
		{"5 of 100 retransmitted", ptr(tcp(7, 200)), protocols.MeasureTCP, 5},
		{"nothing sent", ptr(tcp(7, 200)), protocols.MeasureTCP, 0},
		{"no kernel reading keeps the counters", &overlay.LinkSample{Peer: b}, protocols.MeasureNone, 0},
		{"after it", ptr(tcp(9, 300)), protocols.MeasureTCP, 2},
		{"more retransmitted than sent is capped", ptr(tcp(400, 301)), protocols.MeasureTCP, 100},
		{"counters restarted", ptr(tcp(1, 10)), protocols.MeasureNone, 0},
		{"then counted from there", ptr(tcp(2, 20)), protocols.MeasureTCP, 10},
		{"a reading without TCP forgets them", &overlay.LinkSample{Peer: b, Kernel: true, UDP: true}, protocols.MeasureNone, 0},
		{"so TCP starts again", ptr(tcp(3, 30)), protocols.MeasureNone, 0},
		{"the peer leaves", nil, protocols.MeasureNone, 0},
		{"and comes back", ptr(tcp(4, 40)), protocols.MeasureNone, 0},
	}
	f := overlay.NewLinkFigures()
	for _, st := range steps {
		var samples []overlay.LinkSample
		if st.sample != nil {
			samples = append(samples, *st.sample)
		}
		links := f.Merge(self, samples, nil)
		if st.sample == nil {
			if len(links) != 0 {
				t.Fatalf("%s: links %+v", st.name, links)
			}
			continue
		}
		if len(links) != 1 {
			t.Fatalf("%s: links %+v", st.name, links)
		}
		if l := links[0]; l.LossBy != st.lossBy || l.LossPercent != st.loss {
			t.Errorf("%s: loss %v by %v, want %v by %v", st.name, l.LossPercent, l.LossBy, st.loss, st.lossBy)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestLinkFiguresCap: a message carries at most protocols.MaxTelemetryLinks
// links, the lowest addresses.
func TestLinkFiguresCap(t *testing.T) {
	var samples []overlay.LinkSample
	for i := range protocols.MaxTelemetryLinks + 5 {
		var a protocols.Addr
		a[0], a[1] = byte(i>>8)+1, byte(i)
		samples = append(samples, overlay.LinkSample{Peer: a})
	}
	links := overlay.NewLinkFigures().Merge(viewAddr(0xff), samples, nil)
	if len(links) != protocols.MaxTelemetryLinks {
		t.Fatalf("%d links, want %d", len(links), protocols.MaxTelemetryLinks)
	}
	if links[0].Peer != samples[0].Peer || links[len(links)-1].Peer != samples[protocols.MaxTelemetryLinks-1].Peer {
		t.Errorf("kept %v..%v", links[0].Peer, links[len(links)-1].Peer)
	}
}
