package twin

import (
	"context"
	"flag"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
)

var benchLarge = flag.Bool("twin.large", false, "include the 10 000-node benchmarks")

func benchSizes() []int {
	if *benchLarge {
		return []int{100, 1000, 10_000}
	}
	return []int{100, 1000}
}

// benchTopology is the CLI's large scenario scaled down: G(n, p) with an
// expected degree of 10.
func benchTopology(b *testing.B, n int) *Topology {
	b.Helper()
	p := 10 / float64(n-1)
	top, err := Random(n, min(p, 1), true, TopologyRNG(1))
	if err != nil {
		b.Fatal(err)
	}
	return top
}

// BenchmarkNetworkModel is the baseline: the same topologies, faults and
// flows with the direct stand-in engine, which routes nothing, so the
// figures are the simulator's own cost per event.
func BenchmarkNetworkModel(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			top := benchTopology(b, n)
			sc := Scenario{Duration: 20 * time.Second, Seed: 1, Flows: 50,
				Faults: []Fault{{At: 5 * time.Second, Kind: NodeDown, Node: "node-3"}}}
			benchRun(b, func() (*sim, error) { return newSim(top, sc, &directFactory{}) })
		})
	}
}

// cpuTime is the CPU time the process has used, user and system, all
// threads: on a shared machine it tracks the work done better than wall
// time does.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchRun(b *testing.B, mk func() (*sim, error)) {
	b.ReportAllocs()
	var events uint64
	var virtual time.Duration
	cpu0 := cpuTime()
	for b.Loop() {
		s, err := mk()
		if err != nil {
			b.Fatal(err)
		}
		if err := s.run(context.Background()); err != nil {
			b.Fatal(err)
		}
		events += s.st.events
		virtual += time.Duration(s.end)
	}
	wall := b.Elapsed().Seconds()
	cpu := (cpuTime() - cpu0).Seconds()
	b.ReportMetric(float64(events)/wall, "events/s")
	b.ReportMetric(virtual.Seconds()/wall, "virtual/wall")
	if cpu > 0 {
		b.ReportMetric(float64(events)/cpu, "events/cpu-s")
		b.ReportMetric(virtual.Seconds()/cpu, "virtual/cpu")
	}
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}

// BenchmarkSimulate runs the real overlay engine (LAN profile) on every
// node: 20 s of virtual time, 50 flows at 10 packets/s, node-3 failing at
// 5 s. Compare with BenchmarkNetworkModel for the engines' share.
func BenchmarkSimulate(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			top := benchTopology(b, n)
			sc := Scenario{Duration: 20 * time.Second, Seed: 1, Flows: 50,
				Faults: []Fault{{At: 5 * time.Second, Kind: NodeDown, Node: "node-3"}}}
			benchRun(b, func() (*sim, error) {
				fac, err := newOverlayFactory(top, overlay.DefaultLANConfig())
				if err != nil {
					return nil, err
				}
				return newSim(top, sc, fac)
			})
		})
	}
}
