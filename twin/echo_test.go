package twin

import (
	"context"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
)

// With Echo a flow is a ping: a packet arrives at half its round trip,
// and a relay lost after a request went through it but before the answer
// came back costs the packet, which a one-way flow would have delivered.
// PairStarts puts each flow's first packet where it says.
func TestEcho(t *testing.T) {
	const (
		start = time.Second
		every = 100 * time.Millisecond
		fail  = 5*time.Second + 12*time.Millisecond // between the request at the relay (+5 ms) and the answer (+15 ms)
	)
	run := func(echo bool) *Result {
		t.Helper()
		line, _ := Ring(3)
		line.Links = line.Links[:2] // node-0 — node-1 — node-2
		line.SetProfile(LinkProfile{Latency: 5 * time.Millisecond})
		tw := New("line-3")
		tw.Topology = line
		tw.Routing = overlay.DefaultLocalConfig()
		res, err := tw.Simulate(context.Background(), Scenario{
			Duration: 6 * time.Second, Detection: Notified, FlowRate: 10,
			Pairs: [][2]string{{"node-0", "node-2"}}, PairStarts: []time.Duration{start},
			Echo: echo, KeepPackets: true,
			Faults: []Fault{{At: fail, Kind: NodeDown, Node: "node-1"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Packets) != 1 {
			t.Fatalf("echo %v: packets of %d flows, want 1", echo, len(res.Packets))
		}
		for k, p := range res.Packets[0] {
			if want := start + time.Duration(k)*every; p.Sent != want {
				t.Fatalf("echo %v: packet %d sent at %v, want %v", echo, k, p.Sent, want)
			}
		}
		return res
	}
	const k = 40 // sent at 5 s, 12 ms before the relay fails
	oneWay, ping := run(false), run(true)
	if p := oneWay.Packets[0][k-1]; p.Arrived-p.Sent != 10*time.Millisecond {
		t.Errorf("one-way: packet %d took %v, want 10ms", k-1, p.Arrived-p.Sent)
	}
	if p := ping.Packets[0][k-1]; p.Arrived-p.Sent != 10*time.Millisecond {
		t.Errorf("ping: packet %d arrived %v after it was sent, want half the 20 ms round trip", k-1, p.Arrived-p.Sent)
	}
	if p := oneWay.Packets[0][k]; p.Arrived < 0 {
		t.Errorf("one-way: packet %d, through the relay before it failed, was lost", k)
	}
	if p := ping.Packets[0][k]; p.Arrived >= 0 {
		t.Errorf("ping: packet %d arrived at %v though its answer met a failed relay", k, p.Arrived)
	}
	// Packets 0 to k reached node-2, which answered each.
	if ping.PacketsSent != oneWay.PacketsSent+k+1 {
		t.Errorf("ping: %d packets sent (answers included), one-way %d, want %d answers", ping.PacketsSent, oneWay.PacketsSent, k+1)
	}

	bad := Scenario{Duration: time.Second, Pairs: [][2]string{{"node-0", "node-2"}}, PairStarts: []time.Duration{0, 0}}
	line, _ := Ring(3)
	tw := New("line-3")
	tw.Topology = line
	if _, err := tw.Simulate(context.Background(), bad); err == nil {
		t.Error("two start times for one pair passed")
	}
}
