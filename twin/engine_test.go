package twin

import (
	"context"
	"hash/fnv"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/e2e"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSeedExample is the example. Seed 6 is chosen because its
// 10-node G(10, 0.3) topology is 2-connected (checked below), so losing
// node-3 cannot cut anyone off, and because node-3 relays some of the
// flows, so the failure is felt. The run gives MTTR 0.831 s with
// detection 0.675 s: the LAN profile's 3 × 250 ms HELLO loss, measured
// from the last HELLO heard, plus the route repair.
func TestSeedExample(t *testing.T) {
	tw := MeshDigitalTwin("pre-deploy-sim")
	tw.Seed = 6
	if err := tw.CreateTestTopology(10, 0.3); err != nil {
		t.Fatal(err)
	}
	if !tw.Topology.Biconnected() {
		t.Fatalf("seed 6 topology is not 2-connected; articulation points %v", tw.Topology.ArticulationPoints())
	}
	res, err := tw.SimulateNodeFailure("node-3", 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MTTR %.3f s, detection %.3f s, connectivity %.3f, delivery %.4f, overhead %.3f, %d flows affected",
		res.MTTRSeconds, res.DetectionSeconds, res.ConnectivityMaintained, res.DeliveryRatio, res.ControlOverhead, res.FlowsAffected)
	if res.MTTRSeconds >= 180 || !res.Recovered {
		t.Errorf("mttr_seconds = %v (recovered %v), want < 180", res.MTTRSeconds, res.Recovered)
	}
	if res.ConnectivityMaintained <= 0.95 {
		t.Errorf("connectivity_maintained = %v, want > 0.95", res.ConnectivityMaintained)
	}
	// Seconds, not minutes: detection plus repair.
	lan := overlay.DefaultLANConfig()
	detect := lan.DetectionTime()
	if res.FlowsAffected == 0 || res.MTTRSeconds <= 0 || res.MTTRSeconds > 5 {
		t.Errorf("MTTR %v s over %d affected flows, want a few seconds at most", res.MTTRSeconds, res.FlowsAffected)
	}
	if res.DetectionSeconds <= 0 || res.DetectionSeconds > detect.Seconds()+0.01 {
		t.Errorf("detection %v s, want within the engine's %v", res.DetectionSeconds, detect)
	}
	if res.MTTRSeconds < res.DetectionSeconds {
		t.Errorf("MTTR %v before detection %v", res.MTTRSeconds, res.DetectionSeconds)
	}
	if res.DeliveryRatio < 0.99 || res.DeliveryRatio >= 1 {
		t.Errorf("delivery ratio %v, want the few losses of one repair", res.DeliveryRatio)
	}
	if res.ControlOverhead <= 0 {
		t.Errorf("control overhead %v, want HELLOs and discoveries counted", res.ControlOverhead)
	}
	if len(res.Connectivity) < 2 || len(res.Delivery) < 50 {
		t.Errorf("series too short: %d connectivity, %d delivery points", len(res.Connectivity), len(res.Delivery))
	}

	cascade, err := tw.PredictCascadeFailure("node-3", 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if cascade.Rounds[0][0] != "node-3" || cascade.ConnectedFraction != 1 {
		t.Errorf("cascade on a 2-connected mesh: %+v", cascade)
	}
}

type traceLine struct {
	at         time.Duration
	kind       string
	node, peer int
	frame      uint64
}

func traceOf(t *testing.T, seed uint64) ([]traceLine, *Result) {
	t.Helper()
	top, err := Random(30, 0.15, true, TopologyRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	top.SetProfile(LinkProfile{Latency: time.Millisecond, Jitter: 500 * time.Microsecond, Loss: 0.01, Bandwidth: 10_000_000})
	tw := New("determinism")
	tw.Topology = top
	var lines []traceLine
	sc := Scenario{
		Duration: 8 * time.Second, Seed: seed, Flows: 20,
		Faults: []Fault{
			{At: 3 * time.Second, Kind: NodeDown, Node: "node-3"},
			{At: 5 * time.Second, Kind: NodeUp, Node: "node-3"},
			{At: 6 * time.Second, Kind: Partition, Groups: [][]string{{"node-0", "node-1", "node-2"}}},
			{At: 7 * time.Second, Kind: Heal},
		},
		Trace: func(ev TraceEvent) {
			h := fnv.New64a()
			h.Write(ev.Frame)
			lines = append(lines, traceLine{ev.At, ev.Kind, ev.Node, ev.Peer, h.Sum64()})
		},
	}
	res, err := tw.Simulate(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	return lines, res
}

func TestDeterminism(t *testing.T) {
	a, ra := traceOf(t, 1)
	b, rb := traceOf(t, 1)
	c, rc := traceOf(t, 2)
	if len(a) < 10_000 {
		t.Fatalf("trace has only %d events", len(a))
	}
	if !slices.Equal(a, b) {
		i := 0
		for i < min(len(a), len(b)) && a[i] == b[i] {
			i++
		}
		t.Fatalf("same seed, traces differ at event %d of %d/%d", i, len(a), len(b))
	}
	if ra.TraceHash != rb.TraceHash || ra.Events != rb.Events || ra.PacketsDelivered != rb.PacketsDelivered {
		t.Errorf("same seed, results differ: %s/%s", ra.TraceHash, rb.TraceHash)
	}
	if slices.Equal(a, c) || ra.TraceHash == rc.TraceHash {
		t.Error("seeds 1 and 2 gave the same trace")
	}
}

// TestDeterminismWithChannel: with the end-to-end channel on, the same
// seed still gives the same run (identities, handshake IDs and ephemeral
// keys come from the seed) in everything but the ciphertext, which the
// KEM's own randomness changes: the same events at the same times with
// frames of the same lengths and the same mesh and channel headers.
func TestDeterminismWithChannel(t *testing.T) {
	run := func(seed uint64) ([]traceLine, *Result) {
		ring, _ := Ring(6)
		tw := New("determinism-channel")
		tw.Topology = ring
		tw.Routing = overlay.DefaultLocalConfig()
		var lines []traceLine
		stable := protocols.DataHeaderSize + e2e.HeaderSize
		res, err := tw.Simulate(context.Background(), Scenario{
			Duration: 10 * time.Second, Seed: seed,
			Pairs:   [][2]string{{"node-0", "node-3"}, {"node-3", "node-0"}, {"node-1", "node-4"}},
			Channel: &e2e.Config{RekeyInterval: 2 * time.Second, SessionGrace: time.Second},
			Faults: []Fault{
				{At: 4 * time.Second, Kind: NodeDown, Node: "node-3"},
				{At: 5 * time.Second, Kind: NodeUp, Node: "node-3"},
			},
			Trace: func(ev TraceEvent) {
				f := ev.Frame
				if typ, err := protocols.PeekType(f); err == nil && typ == protocols.TypeData && len(f) > stable {
					f = f[:stable]
				}
				h := fnv.New64a()
				h.Write(f)
				lines = append(lines, traceLine{ev.At, ev.Kind, ev.Node, ev.Peer, h.Sum64() ^ uint64(len(ev.Frame))})
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		return lines, res
	}
	a, ra := run(1)
	b, rb := run(1)
	other, rc := run(2)
	if !slices.Equal(a, b) {
		i := 0
		for i < min(len(a), len(b)) && a[i] == b[i] {
			i++
		}
		t.Fatalf("same seed, traces differ at event %d of %d/%d", i, len(a), len(b))
	}
	if ra.TraceHash != rb.TraceHash || *ra.Channel != *rb.Channel || ra.PacketsDelivered != rb.PacketsDelivered {
		t.Errorf("same seed, results differ: %s %+v / %s %+v", ra.TraceHash, ra.Channel, rb.TraceHash, rb.Channel)
	}
	if slices.Equal(a, other) || ra.TraceHash == rc.TraceHash {
		t.Error("seeds 1 and 2 gave the same trace")
	}
	if c := ra.Channel; c.Handshakes == 0 || c.Rekeys == 0 || c.Resets == 0 || c.Established < 2*(c.Handshakes-c.Rekeys) {
		t.Errorf("channel %+v: want handshakes, rekeys and the restart's reset", c)
	}
	if ra.DeliveryRatio < 0.9 {
		t.Errorf("delivery %.3f over the channel", ra.DeliveryRatio)
	}
}

// TestRingOfEight is the twin's half of the twin-versus-devnet comparison:
// a ring of 8 where node-3 dies, every pair of the 7 others a flow.
func TestRingOfEight(t *testing.T) {
	ring, _ := Ring(8)
	tw := New("ring-8")
	tw.Topology = ring
	tw.Routing = overlay.DefaultLocalConfig() // what the devnet runs
	mttr := map[Detection]float64{}
	for _, d := range []Detection{Silent, Notified} {
		res, err := tw.Simulate(context.Background(), Scenario{
			Duration: 30 * time.Second, Detection: d, Flows: 42,
			Faults: []Fault{{At: 10 * time.Second, Kind: NodeDown, Node: "node-3"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("detection %d: MTTR %.3f s, detection %.3f s, max delay %.3f s, delivery %.4f, %d flows affected",
			d, res.MTTRSeconds, res.DetectionSeconds, res.MaxDelaySeconds, res.DeliveryRatio, res.FlowsAffected)
		if !res.Recovered || res.ConnectivityMaintained != 1 {
			t.Errorf("detection %d: recovered %v, connectivity %v", d, res.Recovered, res.ConnectivityMaintained)
		}
		mttr[d] = res.MTTRSeconds
	}
	if mttr[Silent] <= 0 || mttr[Silent] > 2 {
		t.Errorf("silent MTTR %v s, want HELLO-loss detection plus repair", mttr[Silent])
	}
	if mttr[Notified] > mttr[Silent] {
		t.Errorf("notified MTTR %v s exceeds silent %v s", mttr[Notified], mttr[Silent])
	}
}

func TestAddrBook(t *testing.T) {
	top, _ := Random(3000, 0.001, false, TopologyRNG(1))
	b, err := newAddrBook(top, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range top.Nodes {
		if got := b.lookup(NodeAddr(n.Name)); got != int32(i) {
			t.Fatalf("lookup(%s) = %d, want %d", n.Name, got, i)
		}
	}
	for _, stranger := range []string{"", "node-3000", "nobody"} {
		if got := b.lookup(NodeAddr(stranger)); got != -1 {
			t.Errorf("lookup(%q) = %d, want -1", stranger, got)
		}
	}
	if got := b.lookup(protocols.Addr{}); got != -1 {
		t.Errorf("lookup(zero) = %d, want -1", got)
	}
}
