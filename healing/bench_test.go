package healing_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// benchMesh is a side×side grid as a node's overlay.View holds it: one
// telemetry message per node, each link reported by both ends.
func benchMesh(b *testing.B, side int) (*overlay.View, [][2]int) {
	b.Helper()
	v, err := overlay.NewView(overlay.DefaultViewConfig())
	if err != nil {
		b.Fatal(err)
	}
	n := side * side
	edges := gridEdges(side, side)
	nbrs := make([][]int, n+1)
	for _, e := range edges {
		nbrs[e[0]] = append(nbrs[e[0]], e[1])
		nbrs[e[1]] = append(nbrs[e[1]], e[0])
	}
	for u := 1; u <= n; u++ {
		m := &protocols.Telemetry{Node: addr(u), Source: protocols.TelemetrySourceProcfs, Time: t0, Seq: 1,
			Interval: time.Second, CPUPercent: 20, MemoryUsed: 1, MemoryTotal: 2}
		for _, w := range nbrs[u] {
			m.Links = append(m.Links, protocols.TelemetryLink{Peer: addr(w), RTT: time.Millisecond, RTTBy: protocols.MeasureHello})
		}
		m.SortLinks()
		if err := v.Update(t0, m, fmt.Sprint("peer-", u)); err != nil {
			b.Fatal(err)
		}
	}
	return v, edges
}

// BenchmarkEngineCycle measures one MAPE-K cycle of node 1 on a 100-node
// view (a 10x10 grid): SetView, SetLinks, SetLoad, every neighbour's
// reports of its neighbours (360), Tick, and the Ready drained, one
// cycle per iteration on a clock one interval further each time. Healthy:
// every score low. Suspect: node 45 suspect by its four neighbours, avoid
// in force and re-confirmed each cycle. The baseline is what the node
// does anyway each interval: build the Graph from its overlay.View.
func BenchmarkEngineCycle(b *testing.B) {
	const side = 10
	v, edges := benchMesh(b, side)
	g := v.Graph(t0)
	b.Run("baseline=view-graph", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			g = v.Graph(t0)
		}
		b.ReportMetric(float64(len(g.Nodes)), "nodes")
	})
	var links []overlay.NeighborInfo
	var reports []healing.Report
	for _, e := range edges {
		for k := range 2 {
			reports = append(reports, healing.Report{Reporter: addr(e[k]), Subject: addr(e[1-k]), Score: 0.1,
				Contributing: []string{"cpu"}})
		}
		for k, u := range e {
			if u == 1 {
				links = append(links, overlay.NeighborInfo{Addr: addr(e[1-k]), Alive: true, RTT: time.Millisecond,
					DeliveryOut: 1, DeliveryIn: 1})
			}
		}
	}
	for _, tc := range []struct {
		name    string
		suspect int
	}{{"healthy", 0}, {"suspect", 45}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := healing.DefaultConfig()
			cfg.Mode = healing.ModeEnforce
			cfg.SkipRehearsal = true
			e, err := healing.NewEngine(cfg, addr(1), rand.New(rand.NewPCG(1, 0)))
			if err != nil {
				b.Fatal(err)
			}
			rs := append([]healing.Report(nil), reports...)
			for i := range rs {
				if rs[i].Subject == addr(tc.suspect) {
					rs[i].Score = 0.9
				}
			}
			now := t0
			load := healing.Load{CPUPercent: 30, QueueLen: 3, QueueCap: 100}
			cycle := func() {
				now = now.Add(time.Second)
				e.SetView(now, g)
				e.SetLinks(now, links)
				if err := e.SetLoad(now, load); err != nil {
					b.Fatal(err)
				}
				for _, r := range rs {
					if err := e.Report(now, r); err != nil {
						b.Fatal(err)
					}
				}
				e.Tick(now)
				for e.HasReady() {
					e.Ready()
					e.Advance()
				}
			}
			for range 5 { // past the first plan: steady state
				cycle()
			}
			if got := len(e.Avoid()); got != map[bool]int{true: 1, false: 0}[tc.suspect != 0] {
				b.Fatalf("avoid list of %d", got)
			}
			b.ReportAllocs()
			for b.Loop() {
				cycle()
			}
			b.ReportMetric(float64(len(rs)), "reports/op")
		})
	}
}
