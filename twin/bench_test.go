package twin

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing"
	"github.com/x0tta6bl4/x0tta6bl4/internal/cputime"
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

func benchRun(b *testing.B, mk func() (*sim, error)) {
	b.ReportAllocs()
	var events uint64
	var virtual time.Duration
	cpu0 := cputime.Now()
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
	cpu := (cputime.Now() - cpu0).Seconds()
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

// BenchmarkHeal measures what the healing engines add to a run: a random
// mesh of mean degree 5, 20 s of virtual time, 50 flows, with no fault or
// with node-3 a blackhole from 5 s (detected, and avoided by every node,
// about 2 s later). The baseline runs the same scenario with telemetry
// on, the view and samples the engines read; heal adds the detector's
// scores, the reports and every node's engine, skipping quiet engines
// (the default); every-cycle ticks every engine every interval. cpu-s/op
// is the process's CPU time per run, events/op the simulator's events
// (the frames the engines' actions set off among them).
func BenchmarkHeal(b *testing.B) {
	for _, n := range []int{100, 1000} {
		top, err := Random(n, min(5/float64(n-1), 1), true, TopologyRNG(1))
		if err != nil {
			b.Fatal(err)
		}
		for _, fault := range []string{"none", "blackhole"} {
			sc := Scenario{Duration: 20 * time.Second, Seed: 1, Flows: 50}
			if fault == "blackhole" {
				sc.Faults = []Fault{{At: 5 * time.Second, Kind: Blackhole, Node: "node-3"}}
			}
			for _, v := range []struct {
				name string
				heal *HealConfig
				tel  *TelemetryConfig
			}{
				{"baseline=telemetry", nil, &TelemetryConfig{}},
				{"heal", &HealConfig{}, nil},
				{"heal-every-cycle", &HealConfig{EveryCycle: true}, nil},
			} {
				b.Run(fmt.Sprintf("nodes=%d/fault=%s/%s", n, fault, v.name), func(b *testing.B) {
					sc := sc
					sc.Heal, sc.Telemetry = v.heal, v.tel
					b.ReportAllocs()
					cpu0 := cputime.Now()
					var cycles, skipped, events uint64
					for b.Loop() {
						fac, err := newOverlayFactory(top, overlay.DefaultLANConfig())
						if err != nil {
							b.Fatal(err)
						}
						s, err := newSim(top, sc, fac)
						if err != nil {
							b.Fatal(err)
						}
						if err := s.run(context.Background()); err != nil {
							b.Fatal(err)
						}
						events += s.st.events
						if s.heal != nil {
							cycles += s.heal.res.Cycles
							skipped += s.heal.res.CyclesSkipped
						}
					}
					b.ReportMetric((cputime.Now()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
					b.ReportMetric(float64(events)/float64(b.N), "events/op")
					b.ReportMetric(float64(cycles)/float64(b.N), "cycles/op")
					b.ReportMetric(float64(skipped)/float64(b.N), "skipped/op")
				})
			}
		}
	}
}

// BenchmarkRehearse times the twin Rehearser on the view of a 100-node
// random mesh of mean degree 5 (built by a telemetry run): node-0's plan
// to avoid a suspect relay among its neighbours. The baseline is one of
// the rehearsal's two simulations alone (the same view, flows and fault,
// without the plan). cpu-ms/op is the process's CPU time per rehearsal
// or run, which a loaded machine disturbs less than the wall time.
func BenchmarkRehearse(b *testing.B) {
	top, err := Random(100, 5.0/99, true, TopologyRNG(1))
	if err != nil {
		b.Fatal(err)
	}
	g := viewOf(b, top)
	self := NodeAddr("node-0")
	var subject string
	for _, l := range top.Links {
		if l.A == 0 && len(top.Adjacency()[l.B]) > 1 {
			subject = top.Nodes[l.B].Name
			break
		}
		if l.B == 0 && len(top.Adjacency()[l.A]) > 1 {
			subject = top.Nodes[l.A].Name
			break
		}
	}
	p := plan(healing.CauseNode, subject, healing.StrategyAvoid)
	r, err := NewRehearser(self, RehearserConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("baseline=one-run", func(b *testing.B) {
		b.ReportAllocs()
		vt, addrs, err := fromView(g, r.cfg.Link)
		if err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(r.cfg.Seed, p.ID))
		self, subj := slices.Index(addrs, self), slices.Index(addrs, NodeAddr(subject))
		f, err := r.fault(vt, self, subj, p.Diagnosis, r.cfg.Warmup)
		if err != nil {
			b.Fatal(err)
		}
		sc := Scenario{Duration: r.cfg.Warmup + r.cfg.Window, Drain: time.Second, Seed: r.cfg.Seed, FlowRate: r.cfg.FlowRate,
			Pairs: r.flows(vt, self, subj, p.Diagnosis.Cause, rng), Faults: []Fault{*f}}
		cpu0 := cputime.Now()
		for b.Loop() {
			if _, err := r.run(vt, addrs, sc, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64((cputime.Now()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
	})
	b.Run("rehearse", func(b *testing.B) {
		b.ReportAllocs()
		var x healing.Rehearsal
		cpu0 := cputime.Now()
		for b.Loop() {
			if x, err = r.Rehearse(g, p); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64((cputime.Now()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
		b.ReportMetric(x.DeliveryBefore, "delivery-before")
		b.ReportMetric(x.DeliveryAfter, "delivery-after")
		b.ReportMetric(x.HealedIn.Seconds(), "healed-s")
	})
}
