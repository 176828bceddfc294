package devnet

import (
	"bytes"
	"context"
	"flag"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/node"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/e2e"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/mesh"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

var mttrFull = flag.Bool("mttr.full", false, "run the ring-of-8 kill as the twin does (10 s before, 20 s after) and log the MTTR")

func TestTopology(t *testing.T) {
	tests := []struct {
		topo       Topology
		n          int
		neighbours [][]int
		bootstraps [][]int
		diameter   int
		minDegree  int
	}{
		{TopologyLine, 4, [][]int{{1}, {0, 2}, {1, 3}, {2}}, [][]int{nil, {0}, {1}, {2}}, 3, 1},
		{TopologyRing, 5, [][]int{{1, 4}, {0, 2}, {1, 3}, {2, 4}, {0, 3}}, [][]int{nil, {0}, {1}, {2}, {0, 3}}, 2, 2},
		// 3 columns: 0 1 2 / 3 4 5 / 6
		{TopologyGrid, 7, [][]int{{1, 3}, {0, 2, 4}, {1, 5}, {0, 4, 6}, {1, 3, 5}, {2, 4}, {3}}, [][]int{nil, {0}, {1}, {0}, {1, 3}, {2, 4}, {3}}, 4, 1},
		{TopologyFull, 3, [][]int{{1, 2}, {0, 2}, {0, 1}}, [][]int{nil, {0}, {0}}, 1, 2},
	}
	for _, tt := range tests {
		t.Run(string(tt.topo), func(t *testing.T) {
			for i := range tt.n {
				if got := tt.topo.Neighbours(i, tt.n); !slices.Equal(got, tt.neighbours[i]) {
					t.Errorf("neighbours of %d: %v, want %v", i, got, tt.neighbours[i])
				}
				if got := tt.topo.Bootstraps(i, tt.n); !slices.Equal(got, tt.bootstraps[i]) {
					t.Errorf("bootstraps of %d: %v, want %v", i, got, tt.bootstraps[i])
				}
			}
			if got := tt.topo.Diameter(tt.n); got != tt.diameter {
				t.Errorf("diameter %d, want %d", got, tt.diameter)
			}
			if got := tt.topo.MinDegree(tt.n); got != tt.minDegree {
				t.Errorf("min degree %d, want %d", got, tt.minDegree)
			}
		})
	}
	for _, s := range []string{"", "full", "line", "ring", "grid"} {
		if _, err := ParseTopology(s); err != nil {
			t.Errorf("ParseTopology(%q): %v", s, err)
		}
	}
	if _, err := ParseTopology("star"); err == nil {
		t.Error("ParseTopology accepted star")
	}
	// Which checks a topology waives.
	for _, tt := range []struct {
		topo   Topology
		n      int
		probe  string
		waived bool
	}{
		{TopologyFull, 5, "dht", false},
		{TopologyRing, 8, "dht", true},
		{TopologyRing, 8, "peers", false},
		{TopologyLine, 6, "peers", true},
		{TopologyLine, 6, "mesh", false},
		{TopologyGrid, 9, "gossip", false},
	} {
		if got := tt.topo.waiver(tt.probe, tt.n) != ""; got != tt.waived {
			t.Errorf("%s of %d waives %s: %v, want %v", tt.topo, tt.n, tt.probe, got, tt.waived)
		}
	}
}

// startTopology starts n nodes under topo, without probes, and waits
// until every node has a live mesh link to each of its topology
// neighbours.
func startTopology(t *testing.T, n int, topo Topology) *Net {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	net, err := Start(ctx, Options{Nodes: n, Topology: topo, InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { net.Close() })
	deadline := time.Now().Add(30 * time.Second)
	for i, nd := range net.Nodes {
		want := len(topo.Neighbours(i, n))
		for liveNeighbours(nd) != want {
			if time.Now().After(deadline) {
				t.Fatalf("node %d has %d live mesh neighbours, want %d", i, liveNeighbours(nd), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if peers := len(nd.Host().Network().Peers()); peers != want {
			t.Errorf("node %d is connected to %d peers; the %s topology allows %d", i, peers, topo, want)
		}
	}
	return net
}

func liveNeighbours(n *node.Node) int {
	c := 0
	for _, nb := range n.Mesh().LinkStats() {
		if nb.Alive {
			c++
		}
	}
	return c
}

// dataTap records the DATA frames a relay forwards.
type dataTap struct {
	mu     sync.Mutex
	frames [][]byte
}

func (d *dataTap) Trace(ev mesh.TraceEvent) {
	if ev.Kind == mesh.TraceFrameOut && protocols.Type(ev.Frame[1]) == protocols.TypeData {
		d.mu.Lock()
		d.frames = append(d.frames, bytes.Clone(ev.Frame))
		d.mu.Unlock()
	}
}

// TestMeshLine: six nodes in a line; DATA from the first reaches the last
// over 5 hops, and a relay in the middle sees only ciphertext.
func TestMeshLine(t *testing.T) {
	net := startTopology(t, 6, TopologyLine)
	first, last := net.Nodes[0], net.Nodes[5]
	tap := &dataTap{}
	net.Nodes[2].Mesh().SetTracer(tap)
	msgs, cancel := last.Mesh().Subscribe(8)
	defer cancel()
	ctx, cancelCtx := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelCtx()

	secret := []byte("x0tta6bl4 end-to-end secret: relays must not read this")
	if err := first.Mesh().Send(ctx, last.ID(), secret); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-msgs:
		if !bytes.Equal(m.Payload, secret) || m.From != first.ID() || m.Hops != 5 {
			t.Fatalf("got %q from %s over %d hops; want the secret from node 0 over 5", m.Payload, m.From, m.Hops)
		}
	case <-ctx.Done():
		t.Fatal("the message did not arrive")
	}
	pong, err := first.Mesh().Ping(ctx, last.ID())
	if err != nil || pong.Hops != 5 || pong.HopsBack != 5 || pong.NextHop != net.Nodes[1].ID() {
		t.Errorf("ping over the line: %+v, %v", pong, err)
	}
	net.Nodes[2].Mesh().SetTracer(nil)
	tap.mu.Lock()
	defer tap.mu.Unlock()
	var sawSecret bool
	for _, f := range tap.frames {
		var d protocols.Data
		if err := d.Decode(f); err != nil {
			t.Fatalf("relay forwarded a bad DATA frame: %v", err)
		}
		sawSecret = sawSecret || d.Dst == last.Mesh().Addr() && len(d.Payload) >= len(secret)+e2e.DataOverhead
		if bytes.Contains(f, secret[:16]) {
			t.Fatalf("the relay forwarded plaintext: %q", f)
		}
	}
	if !sawSecret {
		t.Fatalf("the relay forwarded no DATA frame that could carry the message (%d frames)", len(tap.frames))
	}
}

// TestMeshRingKill: eight nodes in a ring with a flow between every
// ordered pair of the survivors-to-be, 10 messages a second each; node 3
// fails and every flow must deliver again within 2 s. Two failures, as
// in the digital twin: "notified", its process exits and its
// connections close (the neighbours see their streams reset), and
// "silent", it hangs (its mesh stops reading and writing, connections
// stay up), so only HELLO timeouts notice. With -mttr.full each runs the
// twin's scenario: 10 s of traffic, the failure, 20 s more.
func TestMeshRingKill(t *testing.T) {
	for _, kind := range []string{"notified", "silent"} {
		t.Run(kind, func(t *testing.T) { ringFailure(t, kind) })
	}
}

func ringFailure(t *testing.T, kind string) {
	before, after := 3*time.Second, 3*time.Second
	if *mttrFull {
		before, after = 10*time.Second, 20*time.Second
	}
	net := startTopology(t, 8, TopologyRing)
	const victim = 3
	var pairs [][2]int
	for i := range 8 {
		for j := range 8 {
			if i != j && i != victim && j != victim {
				pairs = append(pairs, [2]int{i, j})
			}
		}
	}
	warmPairs(t, net, pairs)
	flows := &Flows{Pairs: pairs, Rate: 10}
	flows.Start(net.Nodes)
	defer flows.Stop(0)
	time.Sleep(before)
	failAt := time.Now()
	switch kind {
	case "notified":
		if err := net.Kill(victim); err != nil {
			t.Fatal(err)
		}
	case "silent":
		// A tracer that does not return holds the victim's owner
		// goroutine: its mesh neither reads nor writes, as a hung process.
		thaw := make(chan struct{})
		var once sync.Once
		defer once.Do(func() { close(thaw) })
		net.Nodes[victim].Mesh().SetTracer(mesh.TracerFunc(func(mesh.TraceEvent) { <-thaw }))
		defer func() {
			once.Do(func() { close(thaw) })
			net.Nodes[victim].Mesh().SetTracer(nil)
		}()
	}
	time.Sleep(after)
	flows.Stop(time.Second)
	r := flows.MTTR(failAt, map[int]bool{victim: true})
	t.Logf("ring of 8, node %d failed (%s): MTTR %.3f s, recovered %v, %d of %d flows affected, %d/%d delivered, max delay %.3f s",
		victim, kind, r.MTTRSeconds, r.Recovered, r.FlowsAffected, len(pairs), r.Delivered, r.Sent, r.MaxDelaySeconds)
	if !r.Recovered || r.MTTRSeconds > 2 {
		t.Errorf("delivery not restored within 2 s of the failure: %+v", r)
	}
	if r.Sent < len(pairs)*int(before.Seconds()+after.Seconds())*8 {
		t.Errorf("only %d messages sent", r.Sent)
	}
	if kind == "silent" && r.FlowsAffected == 0 {
		t.Errorf("a silent failure cost no flow a message: was the node frozen?")
	}
}

// warmPairs pings every pair once, so that sessions and routes exist
// before the measurement, as in the twin (whose flows need no
// handshake).
func warmPairs(t *testing.T, net *Net, pairs [][2]int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(pairs))
	for _, pr := range pairs {
		wg.Go(func() {
			deadline := time.Now().Add(20 * time.Second)
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				_, err := net.Nodes[pr[0]].Mesh().Ping(ctx, net.Nodes[pr[1]].ID())
				cancel()
				if err == nil {
					return
				}
				if time.Now().After(deadline) {
					errs <- err
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("warming up the flows: %v", err)
	}
}
