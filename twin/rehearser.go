package twin

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// ErrRehearsal wraps the reasons a rehearsal cannot run: the node or
// the plan's subject missing from the view, a diagnosis with nothing to
// rehearse.
var ErrRehearsal = errors.New("twin: cannot rehearse")

// RehearserConfig tunes a Rehearser. The zero value of every field means
// its default.
type RehearserConfig struct {
	// Routing is the routing engine configuration the mesh runs.
	// Default overlay.DefaultLANConfig() (zero HelloInterval means it).
	Routing overlay.Config
	// Link gives every link what the view does not measure (jitter,
	// bandwidth, queue) and what it misses (see FromView). Default
	// DefaultLinkProfile().
	Link LinkProfile
	// Warmup is how long the rehearsed flows run before the fault and
	// the plan, so that their routes exist. Default 3 s.
	Warmup time.Duration
	// Window is how long the rehearsal runs after them: delivery is
	// measured over it. Default 5 s.
	Window time.Duration
	// Flows is how many flows are rehearsed; FlowRate their packets per
	// second. Defaults 8 and 10.
	Flows    int
	FlowRate float64
	// Seed drives the flows' choice and the simulation. Default 1.
	Seed uint64
}

func (c RehearserConfig) withDefaults() RehearserConfig {
	if c.Routing.HelloInterval == 0 {
		c.Routing = overlay.DefaultLANConfig()
	}
	if c.Link == (LinkProfile{}) {
		c.Link = DefaultLinkProfile()
	}
	if c.Warmup == 0 {
		c.Warmup = 3 * time.Second
	}
	if c.Window == 0 {
		c.Window = 5 * time.Second
	}
	if c.Flows == 0 {
		c.Flows = 8
	}
	if c.FlowRate == 0 {
		c.FlowRate = 10
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	return c
}

func (c *RehearserConfig) validate() error {
	switch {
	case c.Warmup < 0 || c.Window < 0:
		return fmt.Errorf("%w: rehearsal warm-up %v and window %v", ErrScenario, c.Warmup, c.Window)
	case c.Flows < 0:
		return fmt.Errorf("%w: %d rehearsal flows", ErrScenario, c.Flows)
	case !(c.FlowRate > 0) || math.IsInf(c.FlowRate, 0):
		return fmt.Errorf("%w: rehearsal flow rate %v", ErrScenario, c.FlowRate)
	}
	return c.Link.Validate()
}

// Rehearser is the twin's healing.Rehearser: the what-if one node runs
// before it carries out a plan. Rehearse builds a twin of the node's view
// (FromView, every node at the address the view gives it), injects the
// suspected fault, and runs the mesh twice from the same seed: once with
// the fault alone and once with the plan's action carried out by this
// node at the fault's instant, Warmup into the run:
//
//   - a suspect node (cause node) is rehearsed as a blackhole: it answers
//     HELLOs and drops every DATA frame it should relay, the gray fault
//     that routing never repairs by itself;
//   - a bad own link (cause link) as a lossy link that loses what its
//     delivery evidence says was lost (at least 5%), or, for a slow
//     link, as a link with the latency its RTT evidence shows;
//   - this node (cause self) as an overload: 20 ms per frame, plus the
//     CPU its evidence shows.
//
// The rehearsed flows are this node's: to nodes that a fewest-hop path
// reaches through the subject (or over the bad link, to the nodes beyond
// the subject), those every such path crosses first, and that are still
// reachable without it; from
// this node's neighbours through it for cause self; to random nodes when
// none crosses. The plan's action is carried out as the node would (see
// Scenario.Heal's actions): avoid puts the subject on the routing
// engine's avoid list, reconnect relinks, shed refuses relayed DATA, and
// quarantine takes effect at once, as the vote's outcome would.
//
// The answer: Connectivity, the share of ordered pairs of nodes that can
// still reach each other at the end of the run with the plan, where this
// node's routes may not pass its avoided nodes; DeliveryBefore and
// DeliveryAfter, the delivery of the flows' packets sent from the fault
// on, without and with the plan; HealedIn, how long after the plan every
// flow delivered again: the arrival of its first packet sent after its
// last lost one (after the plan), or of its first packet sent after the
// plan if it lost none, the latest over the flows; 0 if some flow never
// delivered again. A Rehearser keeps no state between rehearsals; it is
// not safe for concurrent use.
type Rehearser struct {
	self protocols.Addr
	cfg  RehearserConfig
}

var _ healing.Rehearser = (*Rehearser)(nil)

// NewRehearser returns the rehearser of the node whose mesh address is
// self.
func NewRehearser(self protocols.Addr, cfg RehearserConfig) (*Rehearser, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if self.IsZero() {
		return nil, fmt.Errorf("%w: zero address", ErrRehearsal)
	}
	return &Rehearser{self: self, cfg: cfg}, nil
}

// Rehearse runs the what-if of plan p on the view g.
func (r *Rehearser) Rehearse(g overlay.Graph, p healing.Plan) (healing.Rehearsal, error) {
	top, addrs, err := fromView(g, r.cfg.Link)
	if err != nil {
		return healing.Rehearsal{}, fmt.Errorf("rehearse: %w", err)
	}
	index := func(a protocols.Addr) int { return slices.Index(addrs, a) }
	self := index(r.self)
	if self < 0 {
		return healing.Rehearsal{}, fmt.Errorf("%w: %s is not in the view", ErrRehearsal, r.self.Short())
	}
	subject := index(p.Diagnosis.Subject)
	if subject < 0 {
		return healing.Rehearsal{}, fmt.Errorf("%w: subject %s is not in the view", ErrRehearsal, p.Diagnosis.Subject.Short())
	}
	tf := r.cfg.Warmup
	fault, err := r.fault(top, self, subject, p.Diagnosis, tf)
	if err != nil {
		return healing.Rehearsal{}, err
	}
	rng := rand.New(rand.NewPCG(r.cfg.Seed, p.ID))
	sc := Scenario{
		Duration: tf + r.cfg.Window, Drain: time.Second, Seed: r.cfg.Seed, FlowRate: r.cfg.FlowRate,
		Pairs: r.flows(top, self, subject, p.Diagnosis.Cause, rng),
	}
	if fault != nil {
		sc.Faults = []Fault{*fault}
	}
	before, err := r.run(top, addrs, sc, nil)
	if err != nil {
		return healing.Rehearsal{}, err
	}
	after, err := r.run(top, addrs, sc, &plannedAction{at: int64(tf), node: int32(self), action: p.Action})
	if err != nil {
		return healing.Rehearsal{}, err
	}
	return healing.Rehearsal{
		Connectivity:   after.connectivityAvoiding(int32(self), p.Action),
		DeliveryBefore: before.deliveryFrom(int64(tf)),
		DeliveryAfter:  after.deliveryFrom(int64(tf)),
		HealedIn:       time.Duration(after.healedFrom(int64(tf))),
	}, nil
}

// fault returns the fault the diagnosis d suspects, injected at at, or
// nil when it is a state of the topology from the start (a slow link,
// whose latency it raises in top).
func (r *Rehearser) fault(top *Topology, self, subject int, d healing.Diagnosis, at time.Duration) (*Fault, error) {
	switch d.Cause {
	case healing.CauseNode:
		if subject == self {
			return nil, fmt.Errorf("%w: a node diagnosis about this node", ErrRehearsal)
		}
		return &Fault{At: at, Kind: Blackhole, Node: top.Nodes[subject].Name}, nil
	case healing.CauseLink:
		k := slices.IndexFunc(top.Links, func(l TwinLink) bool { return edgeKey(l.A, l.B) == edgeKey(self, subject) })
		if k < 0 {
			return nil, fmt.Errorf("%w: no link to %s in the view", ErrRehearsal, top.Nodes[subject].Name)
		}
		loss, rtt := 0.0, time.Duration(0)
		for _, ev := range d.Evidence {
			switch ev.What {
			case "delivery-out", "delivery-in":
				loss = max(loss, 1-ev.Value)
			case "rtt":
				rtt = max(rtt, time.Duration(ev.Value*float64(time.Millisecond)))
			}
		}
		if rtt > 0 && loss == 0 {
			top.Links[k].Profile.Latency = max(top.Links[k].Profile.Latency, rtt/2)
			return nil, nil
		}
		return &Fault{At: at, Kind: Lossy, Link: [2]string{top.Nodes[self].Name, top.Nodes[subject].Name},
			Loss: min(max(loss, 0.05), 0.95)}, nil
	case healing.CauseSelf:
		cpu := 0.0
		for _, ev := range d.Evidence {
			if ev.What == "cpu" {
				cpu = ev.Value
			}
		}
		return &Fault{At: at, Kind: Overload, Node: top.Nodes[self].Name, Delay: 20 * time.Millisecond, CPU: min(max(cpu, 0), 100)}, nil
	}
	return nil, fmt.Errorf("%w: cause %s", ErrRehearsal, d.Cause)
}

// flows picks the rehearsed flows (see Rehearser).
func (r *Rehearser) flows(top *Topology, self, subject int, cause healing.Cause, rng *rand.Rand) [][2]string {
	adj := top.Adjacency()
	type cand struct {
		src, dst int
		every    bool // every fewest-hop path crosses the subject
	}
	var cands []cand
	crossing := func(src int) {
		with := hopCounts(adj, src, -1, -1)
		switch cause {
		case healing.CauseLink:
			// Over the link self–subject to the nodes beyond it. The
			// subject itself is left out: an avoid list routes around a
			// node, never to it, so its traffic keeps the bad link under
			// any avoid and would judge the plan on what it cannot move.
			from := hopCounts(adj, subject, -1, -1)
			without := hopCounts(adj, src, subject, src)
			for v := range adj {
				if v != src && v != subject && from[v] >= 0 && from[v]+1 == with[v] {
					cands = append(cands, cand{src, v, without[v] < 0 || without[v] > with[v]})
				}
			}
		default:
			x := subject
			from := hopCounts(adj, x, -1, -1)
			without := hopCounts(adj, src, x, -1)
			for v := range adj {
				if v == src || v == x || with[x] < 0 || without[v] < 0 || from[v] < 0 || with[x]+from[v] != with[v] {
					continue
				}
				cands = append(cands, cand{src, v, without[v] > with[v]})
			}
		}
	}
	if cause == healing.CauseSelf {
		for _, nb := range adj[self] {
			crossing(nb)
		}
	} else {
		crossing(self)
	}
	rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	slices.SortStableFunc(cands, func(a, b cand) int {
		if a.every != b.every {
			if a.every {
				return -1
			}
			return 1
		}
		return 0
	})
	var out [][2]string
	seen := map[[2]int]bool{}
	for _, c := range cands {
		if len(out) == r.cfg.Flows {
			break
		}
		if !seen[[2]int{c.src, c.dst}] {
			seen[[2]int{c.src, c.dst}] = true
			out = append(out, [2]string{top.Nodes[c.src].Name, top.Nodes[c.dst].Name})
		}
	}
	if len(out) > 0 || len(top.Nodes) < 2 {
		return out
	}
	// Nothing crosses the subject: this node's traffic to random nodes,
	// which the plan must not harm.
	others := make([]int, 0, len(top.Nodes)-1)
	for v := range top.Nodes {
		if v != self && v != subject {
			others = append(others, v)
		}
	}
	rng.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	for _, v := range others[:min(len(others), r.cfg.Flows)] {
		out = append(out, [2]string{top.Nodes[self].Name, top.Nodes[v].Name})
	}
	return out
}

// hopCounts returns the hop distance from src to every node, -1 where
// unreachable, not passing through node skip nor, when from is not -1,
// over the link from–skip (then skip itself may be passed).
func hopCounts(adj [][]int, src, skip, from int) []int {
	dist := make([]int, len(adj))
	for i := range dist {
		dist[i] = -1
	}
	dist[src] = 0
	queue := []int{src}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, v := range adj[u] {
			if dist[v] >= 0 {
				continue
			}
			if from >= 0 {
				if u == from && v == skip || u == skip && v == from {
					continue
				}
			} else if v == skip {
				continue
			}
			dist[v] = dist[u] + 1
			queue = append(queue, v)
		}
	}
	return dist
}

// run simulates sc on top, whose node i has the mesh address addrs[i],
// carrying out act if set, and returns the finished run.
func (r *Rehearser) run(top *Topology, addrs []protocols.Addr, sc Scenario, act *plannedAction) (*sim, error) {
	fac, err := newOverlayFactoryAt(top, r.cfg.Routing, addrs)
	if err != nil {
		return nil, fmt.Errorf("rehearse: %w", err)
	}
	s, err := newSim(top, sc, fac)
	if err != nil {
		return nil, fmt.Errorf("rehearse: %w", err)
	}
	if act != nil {
		s.acts = []plannedAction{*act}
	}
	if err := s.run(context.Background()); err != nil {
		return nil, fmt.Errorf("rehearse: %w", err)
	}
	return s, nil
}

// deliveryFrom is the delivery ratio of the servable packets sent at or
// after from; 1 when there were none.
func (s *sim) deliveryFrom(from int64) float64 {
	var sent, got int
	for fi := range s.flows {
		for _, p := range s.flows[fi].packets {
			if p.servable && p.sent >= from {
				sent++
				if p.arrived >= 0 {
					got++
				}
			}
		}
	}
	if sent == 0 {
		return 1
	}
	return float64(got) / float64(sent)
}

// healedFrom is how long after from every flow delivered again: for each
// flow, the arrival of the first packet sent at or after from and after
// its last lost packet (its first packet's, if it lost none), less from;
// the largest over the flows. It is 0 when some flow's last packet was
// lost (it never recovered) or no packet was sent.
func (s *sim) healedFrom(from int64) int64 {
	var worst int64
	for fi := range s.flows {
		pk := s.flows[fi].packets
		first := slices.IndexFunc(pk, func(p packet) bool { return p.servable && p.sent >= from })
		if first < 0 {
			continue
		}
		last := -1
		for k := first; k < len(pk); k++ {
			if pk[k].servable && pk[k].arrived < 0 {
				last = k
			}
		}
		back := int64(-1)
		for _, p := range pk[max(first, last+1):] {
			if p.servable && p.arrived >= 0 {
				back = p.arrived
				break
			}
		}
		if back < 0 {
			return 0
		}
		worst = max(worst, back-from)
	}
	return worst
}

// connectivityAvoiding is the share of ordered pairs of live nodes that
// can reach each other over the links up now, where node self's paths
// may not pass through the target of its avoid action a (it may still
// reach it).
func (s *sim) connectivityAvoiding(self int32, a healing.Action) float64 {
	alive := 0
	size := map[int32]int{}
	for i := range s.nodes {
		if s.comp[i] >= 0 {
			alive++
			size[s.comp[i]]++
		}
	}
	if alive < 2 {
		return 1
	}
	pairs := 0
	for _, k := range size {
		pairs += k * (k - 1)
	}
	avoid := int32(-1)
	if a.Kind == healing.StrategyAvoid {
		avoid = s.addrIndex(a.Target)
	}
	if avoid >= 0 && s.comp[self] >= 0 {
		seen := make([]bool, len(s.nodes))
		seen[self] = true
		queue := []int32{self}
		reached := 0
		for len(queue) > 0 {
			u := queue[0]
			queue = queue[1:]
			if u == avoid {
				continue // reached, not passed
			}
			for _, nb := range s.nodes[u].nbrs {
				if v := nb.node; !seen[v] && s.links[nb.link].up {
					seen[v] = true
					reached++
					queue = append(queue, v)
				}
			}
		}
		pairs -= size[s.comp[self]] - 1 - reached
	}
	return float64(pairs) / float64(alive*(alive-1))
}
