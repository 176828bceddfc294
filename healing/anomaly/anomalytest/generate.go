package anomalytest

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Topology is a shape of mesh.
type Topology uint8

// The topologies.
const (
	// Ring: each node linked to the next, the last to the first.
	Ring Topology = iota
	// Grid: rows and columns, each node linked to its four neighbours.
	Grid
	// Random: a random spanning tree plus random links, mean degree
	// about 4.
	Random
	// SmallWorld: a ring lattice of degree 4 with a tenth of the links
	// rewired at random (Watts–Strogatz).
	SmallWorld
)

// String returns "ring", "grid", "random" or "small-world".
func (t Topology) String() string {
	switch t {
	case Ring:
		return "ring"
	case Grid:
		return "grid"
	case Random:
		return "random"
	case SmallWorld:
		return "small-world"
	}
	return fmt.Sprintf("topology(%d)", uint8(t))
}

// Config says what Generate makes. Ranges are inclusive [low, high] and
// sampled uniformly per episode.
type Config struct {
	// Seed seeds everything; episode e uses the stream (Seed, e).
	Seed uint64
	// Episodes to generate, each of Intervals samples Interval apart.
	Episodes  int
	Intervals int
	Interval  time.Duration
	// Nodes per episode (a grid rounds down to whole rows).
	Nodes [2]int
	// Topologies and Classes are taken in turn, episode by episode;
	// anomaly.Healthy makes a fault-free episode.
	Topologies []Topology
	Classes    []anomaly.Class
	// FaultStart is the first faulty interval; FaultLength how many
	// intervals the fault lasts.
	FaultStart, FaultLength [2]int
	// SlowDelay is what a slow relay adds to each frame.
	SlowDelay [2]time.Duration
	// LossRate is the fraction of DATA a lossy link loses.
	LossRate [2]float64
	// FlapPeriod is how many intervals a flapping link stays down, then
	// up.
	FlapPeriod [2]int
	// OverloadCPU is the CPU, in percentage points, an overload adds.
	OverloadCPU [2]float64
	// Noise scales the rate of healthy disturbances (CPU bursts, brief
	// HELLO loss, restarts); 1 is the default.
	Noise float64
}

// TrainingConfig is the data the default model is trained on: 64
// episodes of 60 one-second intervals on 12 to 40 nodes of every
// topology, about 100,000 node samples.
func TrainingConfig(seed uint64) Config {
	return Config{
		Seed: seed, Episodes: 64, Intervals: 60, Interval: time.Second,
		Nodes:       [2]int{12, 40},
		Topologies:  []Topology{Ring, Grid, Random, SmallWorld},
		Classes:     []anomaly.Class{anomaly.Healthy, anomaly.Blackhole, anomaly.Slow, anomaly.Overload, anomaly.Lossy, anomaly.Flap},
		FaultStart:  [2]int{10, 20},
		FaultLength: [2]int{15, 30},
		SlowDelay:   [2]time.Duration{30 * time.Millisecond, 300 * time.Millisecond},
		LossRate:    [2]float64{0.08, 0.35},
		FlapPeriod:  [2]int{2, 4},
		OverloadCPU: [2]float64{40, 70},
		Noise:       1,
	}
}

// HeldOutConfig is evaluation data unlike the training data: larger meshes
// (30 to 60 nodes), no rings, and fault magnitudes at and beyond the weak
// end of training's (slow 20 to 60 ms, loss 5 to 10%, flaps every 3 to 6
// intervals, overload 35 to 55 points).
func HeldOutConfig(seed uint64) Config {
	c := TrainingConfig(seed)
	c.Episodes = 72
	c.Nodes = [2]int{30, 60}
	c.Topologies = []Topology{SmallWorld, Grid, Random}
	c.SlowDelay = [2]time.Duration{20 * time.Millisecond, 60 * time.Millisecond}
	c.LossRate = [2]float64{0.05, 0.10}
	c.FlapPeriod = [2]int{3, 6}
	c.OverloadCPU = [2]float64{35, 55}
	return c
}

// Generate makes cfg.Episodes labelled episodes.
func Generate(cfg Config) []anomaly.Episode {
	eps := make([]anomaly.Episode, cfg.Episodes)
	for e := range eps {
		m := newMesh(&cfg, e)
		for t := range cfg.Intervals {
			eps[e].Samples = append(eps[e].Samples, m.step(t))
		}
	}
	return eps
}

// View returns one healthy sample of an n-node random mesh with traffic,
// for benchmarks.
func View(n int, seed uint64) *anomaly.Sample {
	cfg := TrainingConfig(seed)
	cfg.Episodes, cfg.Intervals = 1, 2
	cfg.Nodes = [2]int{n, n}
	cfg.Topologies = []Topology{Random}
	cfg.Classes = []anomaly.Class{anomaly.Healthy}
	eps := Generate(cfg)
	return eps[0].Samples[1]
}

type mesh struct {
	cfg     *Config
	episode int
	rng     *rand.Rand
	n       int
	addr    []protocols.Addr
	edges   [][2]int // a < b
	nodes   []meshNode
	links   []meshLink // by edge
	flows   []flow
	fault   fault
	// restart is a healthy node that is away for two intervals from
	// restartAt (-1: none).
	restart, restartAt int
	start              time.Time
	prev               *overlay.Graph
	wasUp              []bool // by edge, last interval
}

type meshNode struct {
	collector            bool
	cpu, mem, load, fwd  float64 // base CPU %, memory fraction, load, forward delay ms
	seq                  uint32
	messages, missed     uint64
	retrans, drops       uint64
	bytesSent, bytesRecv uint64
	pktSent, pktRecv     uint64
	burst                int     // intervals of CPU burst left
	burstCPU             float64 // its size
}

type meshLink struct {
	rtt     float64      // base, ms
	retrans [2]uint64    // as reported by the edge's a (0) and b (1)
	bytes   [2][2]uint64 // [reporter][sent, received]
	spike   int          // intervals of brief HELLO loss left
	spikeP  float64
}

type flow struct {
	src, dst int
	rate     float64 // frames/s
	on       bool
	surge    int
	surgeX   float64
	via      []int // a forced path (a flow crossing a relay or link), nil for shortest
	last     []int // the path of its latest frames
	from, to int   // a forced flow runs in intervals [from, to)
}

type fault struct {
	class      anomaly.Class
	node, edge int
	start, end int // faulty intervals [start, end)
	delay      float64
	loss       float64
	period     int
	cpu        float64
	engineDrop bool
	rttExtra   float64
	id         uint32
}

func (f *fault) active(t int) bool {
	return f.class != anomaly.Healthy && t >= f.start && t < f.end
}

func between(rng *rand.Rand, r [2]float64) float64 { return r[0] + rng.Float64()*(r[1]-r[0]) }

func betweenInt(rng *rand.Rand, r [2]int) int { return r[0] + rng.IntN(r[1]-r[0]+1) }

// logUniform draws from [lo, hi] uniformly on a log scale.
func logUniform(rng *rand.Rand, lo, hi float64) float64 {
	return math.Exp(math.Log(lo) + rng.Float64()*(math.Log(hi)-math.Log(lo)))
}

func newMesh(cfg *Config, e int) *mesh {
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(e)))
	m := &mesh{cfg: cfg, episode: e, rng: rng, restart: -1, restartAt: -1,
		start: time.Unix(1_700_000_000+int64(e)*100_000, 0).UTC()}
	n := betweenInt(rng, cfg.Nodes)
	topo := cfg.Topologies[e%len(cfg.Topologies)]
	m.n, m.edges = build(rng, topo, n)
	m.addr = make([]protocols.Addr, m.n)
	for i := range m.addr {
		for k := range m.addr[i] {
			m.addr[i][k] = byte(rng.Uint32())
		}
	}
	m.nodes = make([]meshNode, m.n)
	for i := range m.nodes {
		m.nodes[i] = meshNode{
			collector: rng.Float64() < 0.9,
			cpu:       logUniform(rng, 2, 40), mem: 0.2 + 0.6*rng.Float64(),
			fwd: logUniform(rng, 0.05, 0.8),
		}
		m.nodes[i].load = m.nodes[i].cpu / 25
	}
	m.links = make([]meshLink, len(m.edges))
	for k := range m.links {
		m.links[k].rtt = logUniform(rng, 0.3, 30)
	}
	m.wasUp = make([]bool, len(m.edges))
	for range m.n / 2 {
		src, dst := rng.IntN(m.n), rng.IntN(m.n)
		if src == dst {
			continue
		}
		m.flows = append(m.flows, flow{src: src, dst: dst, rate: logUniform(rng, 0.5, 20), on: rng.Float64() < 0.7})
	}
	m.pickFault(cfg.Classes[e%len(cfg.Classes)], uint32(e+1))
	if rng.Float64() < 0.15*cfg.Noise {
		for range 10 {
			r := rng.IntN(m.n)
			if !m.touchesFault(r) {
				m.restart, m.restartAt = r, 3+rng.IntN(max(1, cfg.Intervals-6))
				break
			}
		}
	}
	return m
}

// build returns the nodes and undirected edges of a topology of about n
// nodes.
func build(rng *rand.Rand, topo Topology, n int) (int, [][2]int) {
	set := map[[2]int]bool{}
	add := func(a, b int) {
		if a != b {
			set[[2]int{min(a, b), max(a, b)}] = true
		}
	}
	switch topo {
	case Ring:
		for i := range n {
			add(i, (i+1)%n)
		}
	case Grid:
		cols := int(math.Ceil(math.Sqrt(float64(n))))
		rows := max(2, n/cols)
		n = rows * cols
		for r := range rows {
			for c := range cols {
				i := r*cols + c
				if c+1 < cols {
					add(i, i+1)
				}
				if r+1 < rows {
					add(i, i+cols)
				}
			}
		}
	case Random:
		for i := 1; i < n; i++ {
			add(i, rng.IntN(i))
		}
		for len(set) < 2*n {
			add(rng.IntN(n), rng.IntN(n))
		}
	case SmallWorld:
		for i := range n {
			for k := 1; k <= 2; k++ {
				j := (i + k) % n
				if rng.Float64() < 0.1 {
					j = rng.IntN(n)
				}
				add(i, j)
			}
		}
		for i := range n { // keep the ring, so the mesh stays connected
			add(i, (i+1)%n)
		}
	}
	edges := make([][2]int, 0, len(set))
	for e := range set {
		edges = append(edges, e)
	}
	slices.SortFunc(edges, func(x, y [2]int) int {
		if x[0] != y[0] {
			return x[0] - y[0]
		}
		return x[1] - y[1]
	})
	return n, edges
}

func (m *mesh) neighbours(i int) []int {
	var out []int
	for _, e := range m.edges {
		switch i {
		case e[0]:
			out = append(out, e[1])
		case e[1]:
			out = append(out, e[0])
		}
	}
	return out
}

func (m *mesh) edgeIndex(a, b int) int {
	k, ok := slices.BinarySearchFunc(m.edges, [2]int{min(a, b), max(a, b)}, func(x, y [2]int) int {
		if x[0] != y[0] {
			return x[0] - y[0]
		}
		return x[1] - y[1]
	})
	if !ok {
		return -1
	}
	return k
}

func (m *mesh) touchesFault(i int) bool {
	f := &m.fault
	switch f.class {
	case anomaly.Blackhole, anomaly.Slow, anomaly.Overload:
		return i == f.node
	case anomaly.Lossy, anomaly.Flap:
		return i == m.edges[f.edge][0] || i == m.edges[f.edge][1]
	}
	return false
}

// pickFault places the episode's fault and the flows that cross it, and
// as many flows crossing a healthy relay and a healthy link, so that
// traffic through a node is no sign of a fault.
func (m *mesh) pickFault(class anomaly.Class, id uint32) {
	rng, cfg := m.rng, m.cfg
	f := fault{class: class, node: -1, edge: -1, id: id}
	f.start = betweenInt(rng, cfg.FaultStart)
	f.end = f.start + betweenInt(rng, cfg.FaultLength)
	f.delay = float64(cfg.SlowDelay[0]) + rng.Float64()*float64(cfg.SlowDelay[1]-cfg.SlowDelay[0])
	f.delay /= float64(time.Millisecond)
	f.cpu = between(rng, cfg.OverloadCPU)
	f.rttExtra = logUniform(rng, 5, 30)
	// Blackholes take turns: the engine drops (and counts) the frames,
	// or the driver drops them after the engine counted them forwarded.
	f.engineDrop = (m.episode/len(cfg.Classes))%2 == 0
	f.loss = between(rng, cfg.LossRate)
	f.period = betweenInt(rng, cfg.FlapPeriod)

	relay := -1
	for range 100 {
		relay = rng.IntN(m.n)
		if len(m.neighbours(relay)) >= 2 {
			break
		}
	}
	edge := rng.IntN(len(m.edges))
	decoyRelay, decoyEdge := relay, edge
	for range 100 {
		decoyRelay = rng.IntN(m.n)
		if decoyRelay != relay && len(m.neighbours(decoyRelay)) >= 2 {
			break
		}
	}
	for range 100 {
		decoyEdge = rng.IntN(len(m.edges))
		e, d := m.edges[decoyEdge], m.edges[edge]
		if e[0] != d[0] && e[0] != d[1] && e[1] != d[0] && e[1] != d[1] && e[0] != relay && e[1] != relay {
			break
		}
	}
	switch class {
	case anomaly.Blackhole, anomaly.Slow, anomaly.Overload:
		f.node = relay
		m.crossRelay(relay, f.start-3, f.end+3)
	case anomaly.Lossy, anomaly.Flap:
		f.edge = edge
		m.crossLink(edge, f.start-3, f.end+3)
	}
	m.fault = f
	// The decoys run in a window of their own.
	for _, decoy := range []func(from, to int){
		func(from, to int) { m.crossRelay(decoyRelay, from, to) },
		func(from, to int) { m.crossLink(decoyEdge, from, to) },
	} {
		from := betweenInt(rng, cfg.FaultStart) - 3
		decoy(from, from+betweenInt(rng, cfg.FaultLength)+6)
	}
}

// cross adds a flow along path, on in intervals [from, to).
func (m *mesh) cross(from, to int, path ...int) {
	m.flows = append(m.flows, flow{src: path[0], dst: path[len(path)-1], rate: logUniform(m.rng, 3, 30),
		via: path, from: from, to: to})
}

// crossRelay adds two flows through relay x.
func (m *mesh) crossRelay(x, from, to int) {
	nb := m.neighbours(x)
	m.rng.Shuffle(len(nb), func(i, j int) { nb[i], nb[j] = nb[j], nb[i] })
	m.cross(from, to, nb[0], x, nb[1])
	if len(nb) > 2 {
		m.cross(from, to, nb[1], x, nb[2])
	} else {
		m.cross(from, to, nb[1], x, nb[0])
	}
}

// crossLink adds flows over edge k both ways, and one relayed over it.
func (m *mesh) crossLink(k, from, to int) {
	a, b := m.edges[k][0], m.edges[k][1]
	m.cross(from, to, a, b)
	m.cross(from, to, b, a)
	for _, c := range m.neighbours(a) {
		if c != b {
			m.cross(from, to, c, a, b)
			break
		}
	}
}

// present reports whether node i is in the mesh at interval t.
func (m *mesh) present(i, t int) bool {
	return i != m.restart || t < m.restartAt || t >= m.restartAt+2
}

// up reports whether edge k carries traffic at interval t.
func (m *mesh) up(k, t int) bool {
	e := m.edges[k]
	if !m.present(e[0], t) || !m.present(e[1], t) {
		return false
	}
	f := &m.fault
	if f.class == anomaly.Flap && k == f.edge && f.active(t) {
		return ((t-f.start)/f.period)%2 == 1
	}
	return true
}

// shortest returns a fewest-hop path from src to dst over the edges up,
// nil if none.
func (m *mesh) shortest(adj [][]int, src, dst int) []int {
	prev := make([]int, m.n)
	for i := range prev {
		prev[i] = -1
	}
	prev[src] = src
	queue := []int{src}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		if u == dst {
			break
		}
		for _, v := range adj[u] {
			if prev[v] < 0 {
				prev[v] = u
				queue = append(queue, v)
			}
		}
	}
	if prev[dst] < 0 {
		return nil
	}
	var path []int
	for v := dst; v != src; v = prev[v] {
		path = append(path, v)
	}
	path = append(path, src)
	slices.Reverse(path)
	return path
}

// traffic is one interval's DATA counts: per directed pair (from, to)
// what from reports, and per node.
type traffic struct {
	sent, recv, tSent, tRecv, rSent, rRecv map[[2]int]float64
	fwd, drop                              []float64
}

func (m *mesh) route(t int, adj [][]int) traffic {
	rng, f := m.rng, &m.fault
	tr := traffic{sent: map[[2]int]float64{}, recv: map[[2]int]float64{}, tSent: map[[2]int]float64{},
		tRecv: map[[2]int]float64{}, rSent: map[[2]int]float64{}, rRecv: map[[2]int]float64{},
		fwd: make([]float64, m.n), drop: make([]float64, m.n)}
	dt := m.cfg.Interval.Seconds()
	for i := range m.flows {
		fl := &m.flows[i]
		if fl.via != nil {
			fl.on = t >= fl.from && t < fl.to
		} else if fl.on && rng.Float64() < 0.03 {
			fl.on = false
		} else if !fl.on && rng.Float64() < 0.08 {
			fl.on = true
		}
		if fl.surge > 0 {
			fl.surge--
		} else if rng.Float64() < 0.01*m.cfg.Noise {
			fl.surge, fl.surgeX = 1+rng.IntN(4), 3+5*rng.Float64()
		}
		if !fl.on || !m.present(fl.src, t) || !m.present(fl.dst, t) {
			continue
		}
		path := fl.via
		for h := 0; path != nil && h+1 < len(path); h++ {
			if k := m.edgeIndex(path[h], path[h+1]); k < 0 || !m.up(k, t) {
				path = nil
			}
		}
		if path == nil {
			path = m.shortest(adj, fl.src, fl.dst)
		}
		if path == nil {
			continue
		}
		rate := fl.rate
		if fl.surge > 0 {
			rate *= fl.surgeX
		}
		cnt := poisson(rng, rate*dt)
		// Where the route changed, the node before the change drops some
		// frames while it repairs the route (AODV's RERR and discovery).
		repairAt := -1
		if fl.last != nil && !slices.Equal(fl.last, path) {
			for h := 0; h < min(len(path), len(fl.last)); h++ {
				if path[h] != fl.last[h] {
					repairAt = h - 1
					break
				}
			}
		}
		fl.last = path
		for h := 0; h+1 < len(path) && cnt > 0; h++ {
			if h == repairAt {
				lost := math.Round(cnt * (0.2 + 0.6*rng.Float64()))
				tr.drop[path[h]] += lost
				cnt -= lost
			}
			u, v := path[h], path[h+1]
			if h > 0 {
				if f.class == anomaly.Blackhole && f.active(t) && u == f.node {
					if f.engineDrop {
						tr.drop[u] += cnt
					} else {
						// The engine forwarded; the driver dropped.
						tr.fwd[u] += cnt
						tr.sent[[2]int{u, v}] += cnt
						tr.rSent[[2]int{u, v}] += cnt
						if v != fl.dst {
							tr.tSent[[2]int{u, v}] += cnt
						}
					}
					break
				}
				tr.fwd[u] += cnt
				tr.rSent[[2]int{u, v}] += cnt
			}
			tr.sent[[2]int{u, v}] += cnt
			if v != fl.dst {
				tr.tSent[[2]int{u, v}] += cnt
			}
			loss := 0.0005
			if f.class == anomaly.Lossy && f.active(t) && m.edgeIndex(u, v) == f.edge {
				loss = f.loss
			}
			cnt = binomial(rng, cnt, 1-loss)
			tr.recv[[2]int{v, u}] += cnt
			if u != fl.src {
				tr.tRecv[[2]int{v, u}] += cnt
			}
			if v != fl.dst {
				tr.rRecv[[2]int{v, u}] += cnt
			}
		}
	}
	return tr
}

// step makes interval t's sample.
func (m *mesh) step(t int) *anomaly.Sample {
	rng, f, cfg := m.rng, &m.fault, m.cfg
	dt := cfg.Interval.Seconds()
	now := m.start.Add(time.Duration(t) * cfg.Interval)
	if m.restart >= 0 && t == m.restartAt+2 {
		r := &m.nodes[m.restart]
		r.seq, r.messages, r.missed = 0, 0, 0
		r.retrans, r.drops, r.bytesSent, r.bytesRecv, r.pktSent, r.pktRecv = 0, 0, 0, 0, 0, 0
		for k, e := range m.edges {
			if e[0] == m.restart || e[1] == m.restart {
				m.links[k].retrans, m.links[k].bytes = [2]uint64{}, [2][2]uint64{}
			}
		}
	}
	adj := make([][]int, m.n)
	up := make([]bool, len(m.edges))
	for k, e := range m.edges {
		if up[k] = m.up(k, t); up[k] {
			adj[e[0]] = append(adj[e[0]], e[1])
			adj[e[1]] = append(adj[e[1]], e[0])
		}
	}
	tr := m.route(t, adj)
	overloaded := func(i int) bool { return f.class == anomaly.Overload && f.active(t) && i == f.node }

	g := overlay.Graph{Time: now}
	nodeSend := make([]float64, m.n)
	nodeRecv := make([]float64, m.n)
	nodeRetrans := make([]uint64, m.n)
	nodeSegs := make([]float64, m.n)
	rttSum := make([]float64, m.n)
	degree := make([]int, m.n)

	// Links, as each end reports them.
	for k, e := range m.edges {
		l := &m.links[k]
		if l.spike > 0 {
			l.spike--
		} else if rng.Float64() < 0.002*cfg.Noise {
			l.spike, l.spikeP = 1+rng.IntN(2), 0.03+0.09*rng.Float64()
		}
		comingUp := up[k] && !m.wasUp[k] && t > 0
		// A flapping link that just went down may still be in one end's
		// report: its HELLO timeout has not fired yet.
		lingering := -1
		if !up[k] && m.wasUp[k] && f.class == anomaly.Flap && k == f.edge && rng.Float64() < 0.5 {
			lingering = rng.IntN(2)
		}
		m.wasUp[k] = up[k]
		for side := range 2 {
			from, to := e[side], e[1-side]
			if !up[k] && side != lingering {
				continue
			}
			degree[from]++
			key := [2]int{from, to}
			rtt := l.rtt * (1 + 0.05*rng.NormFloat64())
			if overloaded(from) || overloaded(to) {
				rtt += f.rttExtra * (1 + 0.2*rng.NormFloat64())
			}
			rtt = max(0.05, rtt)
			loss := math.Abs(0.002 * rng.NormFloat64())
			if l.spike > 0 {
				loss += l.spikeP
			}
			if f.class == anomaly.Lossy && f.active(t) && k == f.edge {
				loss += f.loss * (0.1 + 0.4*rng.Float64())
			}
			if comingUp {
				loss += 0.2 + 0.3*rng.Float64()
			}
			if !up[k] {
				loss = 0.5 + 0.5*rng.Float64()
			}
			loss = min(1, loss)
			sentB := tr.sent[key]*1100 + 700 + 50*rng.NormFloat64()
			recvB := tr.recv[key]*1100 + 700 + 50*rng.NormFloat64()
			if !up[k] {
				sentB, recvB = 0, 0
			}
			sentB, recvB = max(0, sentB*dt), max(0, recvB*dt)
			segs := tr.sent[key] + 2
			retransP := 0.0005 + loss*0.5
			if f.class == anomaly.Lossy && f.active(t) && k == f.edge {
				retransP += f.loss * 0.8
			}
			re := uint64(binomial(rng, math.Round(segs), min(1, retransP)))
			gl := overlay.GraphLink{From: m.addr[from], To: m.addr[to], Known: true, Mutual: up[k],
				RTT: roundMicro(rtt), RTTBy: protocols.MeasureHello,
				LossPercent: math.Round(loss*10000) / 100, LossBy: protocols.MeasureHello}
			if m.nodes[from].collector {
				l.retrans[side] += re
				l.bytes[side][0] += uint64(sentB)
				l.bytes[side][1] += uint64(recvB)
				gl.TCP = true
				gl.Retransmits = l.retrans[side]
				gl.BytesSent, gl.BytesReceived = l.bytes[side][0], l.bytes[side][1]
				gl.SendRate, gl.ReceiveRate = sentB/dt, recvB/dt
				nodeRetrans[from] += re
				nodeSegs[from] += segs
			}
			nodeSend[from] += sentB
			nodeRecv[from] += recvB
			rttSum[from] += rtt
			// Each end counts over its own interval: what one sent and
			// the other received in "the same" interval differ by the
			// frames in between.
			recv, tRecv, rRecv := tr.recv[key], tr.tRecv[key], tr.rRecv[key]
			if recv > 0 {
				noisy := max(0, recv+0.3*math.Sqrt(recv)*rng.NormFloat64())
				recv, tRecv, rRecv = noisy, tRecv*noisy/recv, rRecv*noisy/recv
			}
			gl.DataRates = true
			gl.DataSentRate, gl.DataReceivedRate = tr.sent[key]/dt, recv/dt
			gl.TransitSentRate, gl.TransitReceivedRate = tr.tSent[key]/dt, tRecv/dt
			gl.RelaySentRate, gl.RelayReceivedRate = tr.rSent[key]/dt, rRecv/dt
			g.Links = append(g.Links, gl)
		}
	}

	// Nodes.
	for i := range m.n {
		if !m.present(i, t) {
			continue
		}
		nd := &m.nodes[i]
		nd.seq++
		nd.messages++
		if rng.Float64() < 0.01 || (overloaded(i) && rng.Float64() < 0.25) {
			nd.missed++
		}
		if nd.burst > 0 {
			nd.burst--
		} else if rng.Float64() < 0.004*cfg.Noise {
			nd.burst, nd.burstCPU = 1+rng.IntN(3), 25+25*rng.Float64()
		}
		cpu := nd.cpu + 3*rng.NormFloat64() + 0.05*tr.fwd[i]/dt
		if nd.burst > 0 {
			cpu += nd.burstCPU
		}
		load := nd.load * (1 + 0.1*rng.NormFloat64())
		age := rng.Float64() * 0.9
		fwdDelay := 0.0
		if tr.fwd[i] > 0 {
			fwdDelay = nd.fwd * (1 + 0.2*rng.NormFloat64())
		}
		drops := uint64(poisson(rng, 0.02))
		if overloaded(i) {
			cpu += f.cpu
			load += 2 + 4*rng.Float64()
			age += 0.5 + 1.5*rng.Float64()
			drops += uint64(poisson(rng, 2))
			if tr.fwd[i] > 0 {
				fwdDelay += f.rttExtra * (1 + 0.2*rng.NormFloat64())
			}
		}
		if f.class == anomaly.Slow && f.active(t) && i == f.node && tr.fwd[i] > 0 {
			fwdDelay += f.delay * (1 + 0.05*rng.NormFloat64())
		}
		gn := overlay.GraphNode{
			Addr: m.addr[i], Peer: fmt.Sprintf("node-%d", i),
			Time: now.Add(-time.Duration(age * float64(cfg.Interval))), Age: time.Duration(age * float64(cfg.Interval)),
			Seq: nd.seq, Interval: cfg.Interval, Messages: nd.messages, Missed: nd.missed,
			Degree: degree[i],
		}
		if nd.collector {
			nd.retrans += nodeRetrans[i]
			nd.drops += drops
			nd.bytesSent += uint64(nodeSend[i] + 300*dt)
			nd.bytesRecv += uint64(nodeRecv[i] + 300*dt)
			nd.pktSent += uint64(nodeSend[i] / 1000)
			nd.pktRecv += uint64(nodeRecv[i] / 1000)
			gn.Source = protocols.TelemetrySourceEBPF
			gn.CPUPercent = math.Round(max(0, min(100, cpu))*100) / 100
			gn.MemoryTotal = 8 << 30
			gn.MemoryUsed = uint64(min(1, max(0, nd.mem+0.01*rng.NormFloat64())) * float64(gn.MemoryTotal))
			gn.Load1 = math.Round(max(0, load)*1000) / 1000
			gn.Load5, gn.Load15 = gn.Load1, gn.Load1
			if degree[i] > 0 {
				gn.Latency = roundMicro(rttSum[i] / float64(degree[i]) * (1 + 0.05*rng.NormFloat64()))
			}
			if nodeSegs[i] > 0 {
				gn.LossPercent = math.Round(min(100, 100*float64(nodeRetrans[i])/nodeSegs[i])*100) / 100
			}
			gn.Retransmits, gn.Drops = nd.retrans, nd.drops
			gn.BytesSent, gn.BytesReceived = nd.bytesSent, nd.bytesRecv
			gn.PacketsSent, gn.PacketsReceived = nd.pktSent, nd.pktRecv
			gn.SendRate, gn.ReceiveRate = (nodeSend[i]+300*dt)/dt, (nodeRecv[i]+300*dt)/dt
		}
		gn.DataPlane, gn.DataRates = true, true
		gn.ForwardRate, gn.DropRate = tr.fwd[i]/dt, tr.drop[i]/dt
		gn.ForwardDelay = roundMicro(max(0, fwdDelay))
		g.Nodes = append(g.Nodes, gn)
	}
	slices.SortFunc(g.Nodes, func(a, b overlay.GraphNode) int { return bytes.Compare(a.Addr[:], b.Addr[:]) })
	slices.SortFunc(g.Links, func(a, b overlay.GraphLink) int {
		if c := bytes.Compare(a.From[:], b.From[:]); c != 0 {
			return c
		}
		return bytes.Compare(a.To[:], b.To[:])
	})
	s := anomaly.Features(g, m.prev, cfg.Interval)
	m.prev = &g
	s.Labels = make([]anomaly.Label, len(s.Nodes))
	if f.active(t) {
		for i := range m.n {
			if !m.touchesFault(i) {
				continue
			}
			if k, ok := s.Index(m.addr[i]); ok {
				s.Labels[k] = anomaly.Label{Class: f.class, Fault: f.id}
			}
		}
	}
	return s
}

func roundMicro(ms float64) time.Duration {
	return time.Duration(math.Round(ms*1000)) * time.Microsecond
}

// poisson draws a Poisson count of mean lambda (normal beyond 30).
func poisson(rng *rand.Rand, lambda float64) float64 {
	if lambda <= 0 {
		return 0
	}
	if lambda > 30 {
		return max(0, math.Round(lambda+math.Sqrt(lambda)*rng.NormFloat64()))
	}
	l, k, p := math.Exp(-lambda), 0.0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// binomial draws the successes of n trials of probability p (normal
// beyond 40 trials).
func binomial(rng *rand.Rand, n, p float64) float64 {
	if n <= 0 || p <= 0 {
		return 0
	}
	if p >= 1 {
		return n
	}
	if n > 40 {
		mean := n * p
		return max(0, min(n, math.Round(mean+math.Sqrt(mean*(1-p))*rng.NormFloat64())))
	}
	k := 0.0
	for range int(n) {
		if rng.Float64() < p {
			k++
		}
	}
	return k
}
