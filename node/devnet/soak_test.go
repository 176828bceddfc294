package devnet

import (
	"context"
	"flag"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var soak = flag.Duration("devnet.soak", 0, "run 20 devnet nodes for this long with every default probe and check that goroutines and heap stay flat (the issue's figure: 10m)")

// TestSoak runs 20 devnet nodes in this process for -devnet.soak with
// every default probe (gossip every 5 s from every node, telemetry, DATA
// over the mesh every 2 s from every node, the DHT) and samples
// the process's goroutines and live heap (after a GC) every 5 s. After a
// warm-up of a fifth of the run (at least 1 minute) it fits a line to each
// and fails if the growth the slope predicts over the run is beyond the
// noise: more than 3 residual standard deviations and more than 2% of the
// mean. A leak of one goroutine or a few KiB per node per minute shows.
//
// The nodes stand on a grid (5 columns, 4 rows; each connects to the
// nodes left, right, above and below it), so mesh DATA crosses up to 7
// hops on a shortest path. With every node connected to every other, 20 nodes in one
// process on two shared cores left the DHT's puts timing out throughout:
// identity records never stored, no neighbour admitted (admission looks
// the record up), so the mesh probe never sent. Nor does the mesh probe
// ping every pair before it sends: on the grid that took 9 of the 10
// minutes (the first message of a pair sets it up instead).
//
//	go test ./node/devnet -run TestSoak -devnet.soak 10m -timeout 25m -v
func TestSoak(t *testing.T) {
	if *soak == 0 {
		t.Skip("a long run: -devnet.soak 10m")
	}
	const nodes, every = 20, 5 * time.Second
	type sample struct {
		at         time.Duration
		goroutines float64
		heap       float64
	}
	var (
		mu      sync.Mutex
		samples []sample
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	began := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			mu.Lock()
			samples = append(samples, sample{time.Since(began), float64(runtime.NumGoroutine()), float64(ms.HeapAlloc)})
			mu.Unlock()
		}
	})
	var status strings.Builder
	// The default probes at a pace two shared cores sustain for 20 nodes
	// in one process: gossip every 5 s and DATA every 2 s from every node.
	probes := []Probe{&PeersProbe{}, &DHTProbe{}, &GossipProbe{Interval: 5 * time.Second}, &TelemetryProbe{}, &MeshProbe{Interval: 2 * time.Second, NoWarmUp: true}}
	s, err := Run(ctx, Options{Nodes: nodes, Duration: *soak, Topology: TopologyGrid, InMemory: true, StatusInterval: time.Minute, Status: &status, Probes: probes})
	cancel()
	wg.Wait()
	t.Log(status.String())
	if err != nil {
		t.Fatal(err)
	}
	if !s.OK {
		// On a loaded machine 20 nodes in one process fall behind (HELLOs
		// late, lookups timing out); the soak's own figure is the trend of
		// goroutines and heap, so the probes' checks are only reported.
		t.Logf("the probes' checks that failed (load average shows): %v", s.Failures)
	}
	warm := max(time.Minute, *soak/5)
	var xs, gs, hs []float64
	for _, sm := range samples {
		if sm.at >= warm && sm.at <= *soak {
			xs = append(xs, sm.at.Minutes())
			gs = append(gs, sm.goroutines)
			hs = append(hs, sm.heap)
		}
	}
	if len(xs) < 10 {
		t.Fatalf("%d samples after the warm-up", len(xs))
	}
	span := xs[len(xs)-1] - xs[0]
	for _, m := range []struct {
		name string
		ys   []float64
		unit string
		div  float64
	}{{"goroutines", gs, "", 1}, {"heap", hs, " MiB", 1 << 20}} {
		slope, mean, noise := fitLine(xs, m.ys)
		growth := slope * span
		t.Logf("%s: mean %.1f%s, slope %+.3f%s/min (%+.2f%s over %.1f min), residual sd %.2f%s",
			m.name, mean/m.div, m.unit, slope/m.div, m.unit, growth/m.div, m.unit, span, noise/m.div, m.unit)
		if growth > 3*noise && growth > 0.02*mean {
			t.Errorf("%s grow by %.2f%s over %.1f min, beyond the noise (sd %.2f%s)", m.name, growth/m.div, m.unit, span, noise/m.div, m.unit)
		}
	}
	t.Logf("summary: %s", fmt.Sprint(s.Extra))
}

// fitLine is the least-squares line through (xs, ys): its slope, the mean
// of ys and the standard deviation of the residuals.
func fitLine(xs, ys []float64) (slope, mean, noise float64) {
	n := float64(len(xs))
	var sx, sy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
	}
	mx, my := sx/n, sy/n
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	slope = sxy / sxx
	var ss float64
	for i := range xs {
		r := ys[i] - (my + slope*(xs[i]-mx))
		ss += r * r
	}
	return slope, my, math.Sqrt(ss / n)
}
