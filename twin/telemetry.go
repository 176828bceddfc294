package twin

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// TelemetryConfig makes a run emit what live nodes see (Scenario.Telemetry):
// every node publishes the telemetry message a live node would, once per
// Interval at its own phase, built the way a live node builds it (its
// routing engine's neighbors and counters merged by overlay.LinkFigures,
// its driver's relay counters, and a simulated host: CPU, memory, load,
// kernel byte, packet and retransmit counters); the messages cross
// protocols' encoder and decoder and the telemetry topic's rule
// (overlay.CheckTelemetry) into one overlay.View, as gossip brings them
// to every node; and once per Interval the view's graph becomes an
// anomaly.Sample (anomaly.Features, the function a live node calls),
// labelled with the gray faults in force, for Observe.
//
// One view stands for every node's: gossip reaches all nodes within a
// few milliseconds, so their views differ by little more than the
// messages in flight.
type TelemetryConfig struct {
	// Interval is each node's telemetry interval and the spacing of the
	// samples. Default 1 s, the node's default.
	Interval time.Duration
	// Start is when the first sample is taken. Default FlowStart plus
	// three intervals, so that every node has sent two messages (rates
	// need two) while traffic flows.
	Start time.Duration
	// NoCollector makes every node run without a collector, as the nodes
	// that share one host do (a devnet's): its messages say source none
	// and carry no host figures, and its links no kernel figures.
	NoCollector bool
	// Observe, if set, is called on the simulator's goroutine with every
	// sample, in order. It must not call back into the simulation; the
	// Observation is its to keep.
	Observe func(Observation)
}

// Observation is one sample of a run's view.
type Observation struct {
	// At is the virtual time of the sample.
	At time.Duration
	// Graph is the view's graph then.
	Graph overlay.Graph
	// Sample is Graph's features (anomaly.Features with the graph one
	// interval earlier), each node labelled with the gray fault in force
	// on it (Healthy, or the fault's class and its place among the
	// scenario's faults in time order, from 1), and Ignore while it is
	// down or for five intervals after it restarted.
	Sample *anomaly.Sample
}

// Class returns the anomaly class a gray fault kind labels its nodes
// with; anomaly.Healthy for the other kinds.
func (k FaultKind) Class() anomaly.Class {
	switch k {
	case Blackhole:
		return anomaly.Blackhole
	case Slow:
		return anomaly.Slow
	case Overload:
		return anomaly.Overload
	case Lossy:
		return anomaly.Lossy
	case Flap:
		return anomaly.Flap
	}
	return anomaly.Healthy
}

// Host model figures.
const (
	hostMemory = 8 << 30 // bytes
	hostCores  = 4
	// maxSkew is the telemetry topic's allowed clock skew, the node's
	// default; the twin's clocks agree, so only the gossip delay counts.
	maxSkew = 30 * time.Second
	// gossipMiss is the chance a message never reaches the view.
	gossipMiss = 0.002
)

// telemetry emits and samples the run's telemetry.
type telemetry struct {
	s        *sim
	cfg      TelemetryConfig
	interval int64
	rng      *rand.Rand // its own stream, drawn from the seed
	view     *overlay.View
	hosts    []host
	dirs     []dirCount // by link direction, as sim.dirs
	byAddr   map[protocols.Addr]int32
	prev     *overlay.Graph
}

// host is the simulated host of one node.
type host struct {
	// late is true while a stall holds back one of its messages.
	late    bool
	addr    protocols.Addr
	phase   int64 // its messages go out at phase + k·interval
	seq     uint32
	figures *overlay.LinkFigures
	cpu     float64 // base CPU busy, percent
	mem     float64 // memory used, fraction
	load    float64 // 1-minute load average
	load5   float64
	load15  float64
	// burst is how many more intervals a CPU burst of burstCPU points
	// lasts: healthy hosts are busy now and then.
	burst    int
	burstCPU float64
	// drops counts frames its links' queues refused (the kernel's
	// drops); retrans and segs are the totals at its last message, for
	// the figures over an interval, and busy the node's processing time
	// then (grayNode.busy).
	drops         uint64
	retrans, segs uint64
	busy          int64
	// upAt is when the node last restarted, -1 if it never did.
	upAt int64
	// cpuNow is the CPU it last reported, percent.
	cpuNow float64
}

// rejoin is how many intervals after a restart a node's samples are
// labelled Ignore: it rejoins the view, its rates and links start anew.
const rejoin = 5

// dirCount is what the kernel counts of one link direction: at the
// sender, the frames and bytes written and the frames lost (TCP would
// retransmit them); at the receiver, the frames and bytes read.
type dirCount struct {
	frames, bytes, lost, rxFrames, rxBytes uint64
}

func newTelemetry(s *sim, cfg TelemetryConfig) *telemetry {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Start <= 0 {
		cfg.Start = s.sc.FlowStart + 3*cfg.Interval
	}
	view, _ := overlay.NewView(overlay.DefaultViewConfig()) // valid by construction
	t := &telemetry{
		s: s, cfg: cfg, interval: int64(cfg.Interval),
		rng:    rand.New(rand.NewPCG(s.sc.Seed, 0x74656c65)), // "tele"
		view:   view,
		hosts:  make([]host, len(s.nodes)),
		dirs:   make([]dirCount, len(s.dirs)),
		byAddr: make(map[protocols.Addr]int32, len(s.nodes)),
	}
	for i := range t.hosts {
		h := &t.hosts[i]
		h.addr = s.fac.addr(int32(i))
		t.byAddr[h.addr] = int32(i)
		h.phase = t.rng.Int64N(t.interval)
		h.upAt = -1
		h.figures = overlay.NewLinkFigures()
		h.cpu = logUniform(t.rng, 2, 35)
		h.mem = 0.2 + 0.5*t.rng.Float64()
		h.load = h.cpu / 100 * hostCores
		h.load5, h.load15 = h.load, h.load
		s.gray.nodes[i].host = int64(logUniform(t.rng, 20, 300) * float64(time.Microsecond))
	}
	return t
}

// logUniform draws from [lo, hi] uniformly on a log scale.
func logUniform(rng *rand.Rand, lo, hi float64) float64 {
	return math.Exp(math.Log(lo) + rng.Float64()*(math.Log(hi)-math.Log(lo)))
}

// start schedules every node's first message and the first sample.
func (t *telemetry) start() {
	for i := range t.hosts {
		t.s.q.push(event{at: t.hosts[i].phase, kind: evTelemetry, node: int32(i), peer: -1})
	}
	t.s.q.push(event{at: int64(t.cfg.Start), kind: evObserve, node: -1, peer: -1})
}

// The kernel's counters, kept by the simulator as frames move.

func (t *telemetry) sent(di int32, n int) {
	d := &t.dirs[di]
	d.frames++
	d.bytes += uint64(n)
}

func (t *telemetry) lost(di int32) { t.dirs[di].lost++ }

func (t *telemetry) received(di int32, n int) {
	d := &t.dirs[di]
	d.rxFrames++
	d.rxBytes += uint64(n)
}

func (t *telemetry) queueDrop(i int32) { t.hosts[i].drops++ }

// restarted starts node i's telemetry afresh: a new process numbers its
// messages from 1 and merges its links anew.
func (t *telemetry) restarted(i int32) {
	h := &t.hosts[i]
	h.seq = 0
	h.figures = overlay.NewLinkFigures()
	h.upAt = t.s.now
}

// publish makes node i's message, if it is alive, and sends it on its
// way to the view: at its interval's tick (late 0), or, late 1, when a
// stall that held back ticks ends (once, however many it missed, as a
// ticker that was not read).
func (t *telemetry) publish(i, late int32) {
	s := t.s
	if late == 0 {
		if next := s.now + t.interval; next <= s.end {
			s.q.push(event{at: next, kind: evTelemetry, node: i, peer: -1})
		}
	}
	h := &t.hosts[i]
	if until := s.stalledUntil(i); until > s.now {
		if late == 1 || !h.late {
			h.late = true
			s.q.push(event{at: until, kind: evTelemetry, node: i, peer: -1, aux: 1})
		}
		return
	}
	if late == 1 {
		h.late = false
	}
	n := &s.nodes[i]
	if !n.alive {
		return
	}
	g := &s.gray.nodes[i]
	h.seq++
	nbrs := n.r.neighbors()
	st := n.r.stats()
	msg := protocols.Telemetry{
		Node: h.addr, Source: protocols.TelemetrySourceEBPF, Time: s.clock(), Seq: h.seq,
		Interval: t.cfg.Interval, MemoryTotal: hostMemory, DataPlane: true,
		Data: protocols.TelemetryData{Forwarded: st.Forwarded, Written: g.written, Delay: time.Duration(g.delay)},
	}
	for _, c := range st.Dropped {
		msg.Data.Dropped += c
	}

	// The kernel's view of the node's links: one TCP connection per
	// neighbor link that is up.
	samples := make([]overlay.LinkSample, 0, len(n.nbrs))
	for _, nb := range n.nbrs {
		out, in := &t.dirs[nb.dir], &t.dirs[nb.dir^1]
		msg.Retransmits += out.lost
		msg.PacketsSent += out.frames
		msg.BytesSent += out.bytes
		msg.PacketsReceived += in.rxFrames
		msg.BytesReceived += in.rxBytes
		if s.links[nb.link].up {
			samples = append(samples, overlay.LinkSample{Peer: t.hosts[nb.node].addr, Kernel: true, TCP: true,
				Retransmits: out.lost, SegmentsSent: out.frames, BytesSent: out.bytes, BytesReceived: in.rxBytes})
		}
	}
	msg.Drops = h.drops
	if d := msg.PacketsSent - h.segs; d > 0 && msg.Retransmits >= h.retrans {
		msg.LossPercent = min(100, 100*float64(msg.Retransmits-h.retrans)/float64(d))
	}
	var rtt time.Duration
	alive := 0
	for _, nb := range nbrs {
		if nb.Alive && nb.RTT > 0 {
			rtt += nb.RTT
			alive++
		}
	}
	if alive > 0 {
		msg.Latency = rtt / time.Duration(alive)
	}

	// The host: a base load, the work of the frames it handled (the
	// processing time the node model charged them, on one of its
	// cores), noise, now and then a burst, and an overload's extra.
	work := 100 * float64(g.busy-h.busy) / float64(t.interval) / hostCores
	h.retrans, h.segs, h.busy = msg.Retransmits, msg.PacketsSent, g.busy
	if h.burst > 0 {
		h.burst--
	} else if t.rng.Float64() < 0.001 {
		h.burst, h.burstCPU = 1+t.rng.IntN(3), 15+20*t.rng.Float64()
	}
	cpu := h.cpu + work + 2*t.rng.NormFloat64() + g.cpu
	if h.burst > 0 {
		cpu += h.burstCPU
	}
	cpu = max(0, min(100, cpu))
	msg.CPUPercent = cpu
	h.cpuNow = cpu
	h.load += (cpu/100*hostCores - h.load) * (1 - math.Exp(-t.cfg.Interval.Seconds()/60))
	h.load5 += (h.load - h.load5) * (1 - math.Exp(-t.cfg.Interval.Seconds()/300))
	h.load15 += (h.load - h.load15) * (1 - math.Exp(-t.cfg.Interval.Seconds()/900))
	msg.Load1, msg.Load5, msg.Load15 = h.load, h.load5, h.load15
	msg.MemoryUsed = uint64(max(0, min(1, h.mem+0.005*t.rng.NormFloat64())) * hostMemory)

	if t.cfg.NoCollector {
		// The figures above stay drawn, so that a run's other draws are
		// those of the same run with a collector.
		msg.Source, samples = protocols.TelemetrySourceNone, nil
		msg.CPUPercent, msg.Load1, msg.Load5, msg.Load15, msg.MemoryUsed, msg.MemoryTotal = 0, 0, 0, 0, 0, 0
		msg.Latency, msg.LossPercent, msg.Retransmits, msg.Drops = 0, 0, 0, 0
		msg.PacketsSent, msg.PacketsReceived, msg.BytesSent, msg.BytesReceived = 0, 0, 0, 0
	}
	msg.Links = h.figures.Merge(h.addr, samples, nbrs)
	msg.Round()
	b, err := msg.MarshalBinary()
	if err != nil {
		s.sc.Logger.Error("telemetry", "node", s.top.Nodes[i].Name, "err", err)
		return
	}
	if t.rng.Float64() < gossipMiss {
		return
	}
	// Gossip takes a few milliseconds, and leaves an overloaded node as
	// late as its other frames.
	delay := int64(2*time.Millisecond) + t.rng.Int64N(int64(3*time.Millisecond)) + g.proc
	s.q.push(event{at: s.now + delay, kind: evGossip, node: i, peer: -1, frame: b})
}

// receive takes a message into the view under the telemetry topic's
// rule.
func (t *telemetry) receive(ev *event) {
	s := t.s
	now := s.clock()
	newer := func(node protocols.Addr, made time.Time) bool { return t.view.Newer(now, node, made) }
	verdict, m := overlay.CheckTelemetry(now, t.hosts[ev.node].addr, ev.frame, maxSkew, newer)
	if verdict != overlay.TelemetryAccepted {
		s.sc.Logger.Debug("telemetry refused", "node", s.top.Nodes[ev.node].Name, "verdict", verdict)
		return
	}
	if err := t.view.Update(now, m, s.top.Nodes[ev.node].Name); err != nil {
		s.sc.Logger.Debug("telemetry not taken", "node", s.top.Nodes[ev.node].Name, "err", err)
	}
}

// observe reads the view into a labelled sample and hands it to Observe.
func (t *telemetry) observe() {
	s := t.s
	if next := s.now + t.interval; next <= s.end {
		s.q.push(event{at: next, kind: evObserve, node: -1, peer: -1})
	}
	now := s.clock()
	t.view.Expire(now)
	g := t.view.Graph(now)
	sample := anomaly.Features(g, t.prev, t.cfg.Interval)
	sample.Labels = make([]anomaly.Label, len(sample.Nodes))
	for k, a := range sample.Nodes {
		i := t.byAddr[a]
		if h := &t.hosts[i]; !s.nodes[i].alive || (h.upAt >= 0 && s.now-h.upAt <= rejoin*t.interval) {
			sample.Labels[k].Ignore = true
		}
		if fi := s.grayLabel(i); fi >= 0 {
			sample.Labels[k].Class, sample.Labels[k].Fault = s.faults[fi].Kind.Class(), uint32(fi+1)
		}
	}
	t.prev = &g
	if s.heal != nil {
		s.heal.sample(g, sample)
	}
	if t.cfg.Observe != nil {
		t.cfg.Observe(Observation{At: time.Duration(s.now), Graph: g, Sample: sample})
	}
}
