package healing_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// world drives one engine (node 1 of a square grid) the way a node does:
// inputs every cycle, Tick at each deadline, Ready carried out, every
// rehearsal answered with a fixed answer.
type world struct {
	t         testing.TB
	e         *healing.Engine
	now       time.Time
	graph     overlay.Graph
	links     []overlay.NeighborInfo
	reports   []healing.Report
	load      healing.Load
	rehearsal healing.Rehearsal
	// onReady sees every Ready before the world carries it out.
	onReady func(healing.Ready)
	// executed collects the executed actions, plans the latest state of
	// every plan.
	executed []healing.Action
	plans    map[uint64]healing.Plan
}

// newWorld is node 1 of a side×side grid with n = side² nodes.
func newWorld(t testing.TB, mode healing.Mode, n int) *world {
	cfg := healing.DefaultConfig()
	cfg.Mode = mode
	return newWorldConfig(t, cfg, n)
}

func newWorldConfig(t testing.TB, cfg healing.Config, n int) *world {
	e, err := healing.NewEngine(cfg, addr(1), rand.New(rand.NewPCG(1, 0)))
	if err != nil {
		t.Fatal(err)
	}
	side := int(math.Sqrt(float64(n)))
	edges := gridEdges(side, side)
	w := &world{
		t: t, e: e, now: t0, graph: graphOf(t0, side*side, edges),
		rehearsal: healing.Rehearsal{Connectivity: 1, DeliveryBefore: 0.5, DeliveryAfter: 1, HealedIn: time.Second},
		plans:     map[uint64]healing.Plan{},
		load:      healing.Load{CPUPercent: 20, QueueCap: 100},
	}
	for _, ed := range edges {
		for k, v := range ed {
			if v == 1 {
				w.links = append(w.links, overlay.NeighborInfo{Addr: addr(ed[1-k]), Alive: true,
					RTT: time.Millisecond, DeliveryOut: 1, DeliveryIn: 1})
			}
		}
	}
	return w
}

// suspect makes reporters flag subject from now on (score 0.9).
func (w *world) suspect(subject int, reporters ...int) {
	for _, r := range reporters {
		w.reports = append(w.reports, healing.Report{Reporter: addr(r), Subject: addr(subject), Score: 0.9})
	}
}

// clear withdraws every standing report.
func (w *world) clear() { w.reports = nil }

// runFor runs the engine for d of virtual time.
func (w *world) runFor(d time.Duration) {
	end := w.now.Add(d)
	for {
		next := w.e.NextDeadline()
		if w.e.Summary().Cycles == 0 {
			next = w.now
		}
		if next.After(end) {
			w.now = end
			return
		}
		w.now = next
		w.feed()
		w.e.Tick(w.now)
		w.drain()
	}
}

func (w *world) feed() {
	g := w.graph
	g.Time = w.now
	w.e.SetView(w.now, g)
	w.e.SetLinks(w.now, w.links)
	if err := w.e.SetLoad(w.now, w.load); err != nil {
		w.t.Fatal(err)
	}
	for _, r := range w.reports {
		if err := w.e.Report(w.now, r); err != nil {
			w.t.Fatal(err)
		}
	}
}

func (w *world) drain() {
	for w.e.HasReady() {
		rd := w.e.Ready()
		w.e.Advance()
		if w.onReady != nil {
			w.onReady(rd)
		}
		for _, p := range rd.Plans {
			w.plans[p.ID] = p
		}
		for _, a := range rd.Actions {
			if a.Op == healing.OpExecute {
				w.executed = append(w.executed, a)
			}
		}
		for _, p := range rd.Rehearse {
			if err := w.e.Rehearsed(w.now, p.ID, w.rehearsal, nil); err != nil {
				w.t.Fatal(err)
			}
		}
	}
}

// targets returns the targets of the executed actions.
func (w *world) targets() map[protocols.Addr]int {
	m := map[protocols.Addr]int{}
	for _, a := range w.executed {
		m[a.Target]++
	}
	return m
}

type healingGraph = overlay.Graph

// rehearserFunc adapts a function to healing.Rehearser.
type rehearserFunc func(g overlay.Graph, p healing.Plan) (healing.Rehearsal, error)

func (f rehearserFunc) Rehearse(g overlay.Graph, p healing.Plan) (healing.Rehearsal, error) {
	return f(g, p)
}

var _ healing.Rehearser = rehearserFunc(nil)
