package twin

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
	"unsafe"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/e2e"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// router is what the simulator needs from one node's routing engine: the
// inputs and outputs the libp2p driver uses, with neighbors named by node
// index. The overlay adapter in engine.go is the real implementation.
type router interface {
	// linkUp, linkDown and step name the driver's state at this node's
	// end of the link too, where an engine may keep its handle on it.
	linkUp(now time.Time, nbr int32, end *linkEnd)
	linkDown(now time.Time, nbr int32, end *linkEnd)
	step(now time.Time, from int32, end *linkEnd, frame []byte) error
	tick(now time.Time)
	send(now time.Time, dst int32, payload []byte) error
	// deadline returns when the engine next needs a tick (the zero time
	// for not until its next input), or false if it cannot say; then
	// the simulator ticks it periodically.
	deadline() (time.Time, bool)
	// drain appends everything the engine has ready to out and
	// acknowledges it (Ready then Advance).
	drain(out *output)
	// release hands back a frame drain gave out once the simulator holds
	// no reference to it (it copied or dropped it), for the engine to
	// reuse; a router may ignore it.
	release(frame []byte)
	// warm prefetches the engine's state an input reads, and with end
	// the state of the link it arrives on (sim.warm); a router may
	// ignore it.
	warm(end *linkEnd)
	// neighbors and stats are the engine's, for the node's telemetry
	// (nil and zero for routers that have none).
	neighbors() []overlay.NeighborInfo
	stats() overlay.Stats
	// setAvoid replaces the engine's avoid list (the healing engine's
	// Ready.Avoid); routers without one ignore it.
	setAvoid(now time.Time, avoid []protocols.Addr)
}

// routerFactory builds the engines of one run.
type routerFactory interface {
	// newRouter returns the engine of node i on its restart-th start,
	// seeded from seed.
	newRouter(i int32, restart uint32, seed uint64) (router, error)
	// isData reports whether a frame carries application data, as
	// opposed to routing control.
	isData(frame []byte) bool
	// relayed reports whether a frame node i sends is DATA it relays
	// (its source is another node).
	relayed(i int32, frame []byte) bool
	// forwardsRREQ reports whether a frame node i sends is a route
	// request it forwards (another node originated it).
	forwardsRREQ(i int32, frame []byte) bool
	// addr is node i's mesh address.
	addr(i int32) protocols.Addr
	// tickInterval is the spacing of periodic ticks.
	tickInterval() time.Duration
	// describe renders an engine event for the timeline.
	describe(note) string
	// warm prefetches where node i's router is kept (sim.warm); a
	// factory may ignore it.
	warm(i int32)
}

// output is what an engine asked its driver to do.
type output struct {
	msgs       []outMsg
	deliveries []delivery
	notes      []note
	// channel holds the end-to-end channel's events, refused the
	// channel packets the routing engine refused (with the channel on).
	channel []channelNote
	refused uint64
}

func (o *output) reset() {
	clear(o.msgs)
	clear(o.deliveries)
	clear(o.channel)
	o.msgs, o.deliveries, o.notes, o.channel = o.msgs[:0], o.deliveries[:0], o.notes[:0], o.channel[:0]
	o.refused = 0
}

type outMsg struct {
	to    int32
	frame []byte
}

type delivery struct {
	from    int32
	payload []byte
	hops    int
}

// noteKind classifies the engine events the simulator measures.
type noteKind uint8

const (
	noteOther noteKind = iota
	// noteNeighborLost: the engine declared a neighbor gone.
	noteNeighborLost
)

type note struct {
	kind noteKind
	peer int32 // -1 when the event names no node
	ev   overlay.Event
}

// channelNote is an end-to-end channel event about node peer (-1 for a
// node outside the mesh).
type channelNote struct {
	peer int32
	ev   e2e.Event
}

type nbrRef struct {
	node int32
	link int32
	dir  int32 // index in sim.dirs of the direction towards node
}

type simNode struct {
	r       router
	nbrs    []nbrRef // sorted by node
	tickAt  int64    // the pending tick, -1 when none
	restart uint32
	alive   bool
	// isolated: a governance vote quarantined the node (Scenario.Heal),
	// and every link of it stays closed.
	isolated bool
}

type simLink struct {
	a, b   int32
	prof   LinkProfile
	epoch  uint32 // bumped whenever the link goes up or down
	failed bool   // cut by a LinkDown fault
	cut    bool   // cut by a Partition
	// flapDown: down in a Flap fault's cycle; lossy: the loss a Lossy
	// fault adds, each way.
	flapDown bool
	lossy    float64
	// closed: a healing engine's reconnect closed the link (Scenario.Heal)
	// until the reconnect is reverted.
	closed bool
	up     bool
	// open says whether the driver at each end (a, b) has called LinkUp
	// without a LinkDown since.
	open [2]bool
}

// linkDir is one direction of a link: everything a frame on it needs when
// it is sent and when it arrives, in 32 bytes, so that both directions
// of a link share one cache line. sim.dirs[2*li+d] carries the frames of
// link li from its end d (0 for a, 1 for b).
type linkDir struct {
	busy int64 // the direction is serialising until then
	last int64 // arrival time of the last frame sent
	// rx is the driver's state at the receiving end.
	rx    linkEnd
	epoch uint32 // the link's epoch
	prof  uint16 // index into sim.profiles
	up    bool   // the link's state
}

// linkEnd is the driver's state at one end of a link, as the libp2p
// driver keeps it with a neighbor's stream.
type linkEnd struct {
	// handle is the engine's handle on the link, for StepLink; nil for
	// routers that have none.
	handle *overlay.Link
}

// maxProfiles bounds the distinct link profiles of one run (linkDir.prof).
const maxProfiles = 1 << 16

type packet struct {
	sent     int64
	arrived  int64 // -1 until delivered
	servable bool
}

type flow struct {
	src, dst int32
	packets  []packet
}

// sim is one run. It is single-goroutine and owns everything it touches.
type sim struct {
	sc    Scenario
	top   *Topology
	fac   routerFactory
	base  time.Time
	now   int64
	end   int64
	every int64 // flow packet interval
	tick  int64 // periodic tick interval

	q        eventQueue
	rng      *rand.Rand
	nodes    []simNode
	links    []simLink
	dirs     []linkDir // two per link
	profiles []LinkProfile
	frames   framePool
	faults   []Fault
	flows    []flow
	out      output
	uf       *unionFind
	comp     []int32 // component label of each node, -1 when down
	// gray is the node model's state: the gray faults in force and each
	// node's relay counters; nil in runs with neither gray faults nor
	// telemetry, whose frames then go out at once.
	gray *grayState
	// tel emits and samples telemetry; nil without Scenario.Telemetry.
	tel *telemetry
	// heal runs a healing engine on every node; nil without
	// Scenario.Heal. acts are actions scheduled on nodes (a rehearsal's
	// plan), by index in evAction events.
	heal *healDriver
	acts []plannedAction
	// reconnects are the reconnects in force, byAddr the node of each
	// mesh address (made on first use).
	reconnects []reconnected
	byAddr     map[protocols.Addr]int32

	// warmUp: the run is large enough for sim.warm to pay.
	warmUp     bool
	hash       uint64
	hashPrefix int   // hash only this much of DATA frames, 0 for all
	firstAt    int64 // first fault, -1 when none
	detectAt   int64 // first neighbor-lost note after it, -1 when none
	connNow    float64
	conn       []point // connectivity, one point per change
	timeline   []TimelineEntry
	st         counters
}

type point struct {
	at int64
	v  float64
}

type counters struct {
	events       uint64
	controlTx    uint64
	dataTx       uint64
	bytesTx      uint64
	dropLoss     uint64
	dropQueue    uint64
	dropDown     uint64
	dropNoLink   uint64
	dropGray     uint64
	dropShed     uint64
	dropHook     uint64
	stepErrors   uint64
	sendErrors   uint64
	appSent      uint64
	misdelivered uint64
	hops         uint64
	delivered    uint64
	channel      ChannelResult
}

var simEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const maxTimeline = 1000

func newSim(top *Topology, sc Scenario, fac routerFactory) (*sim, error) {
	if err := top.Validate(); err != nil {
		return nil, err
	}
	named := make(map[int]bool)
	faults := slices.Clone(sc.Faults)
	for i, f := range faults {
		var err error
		switch f.Kind {
		case NodeDown, NodeUp:
			var k int
			k, err = top.Index(f.Node)
			named[k] = true
		case Blackhole, Slow, Overload:
			_, err = top.Index(f.Node)
		case Stall:
			if f.Node != "" {
				_, err = top.Index(f.Node)
			}
		case Lossy, Flap:
			var a, b int
			if a, err = top.Index(f.Link[0]); err == nil {
				if b, err = top.Index(f.Link[1]); err == nil && !top.HasLink(a, b) {
					err = fmt.Errorf("%w: no link %s–%s", ErrScenario, f.Link[0], f.Link[1])
				}
			}
		case LinkDown, LinkUp:
			for _, n := range f.Link {
				var k int
				if k, err = top.Index(n); err != nil {
					break
				}
				named[k] = true
			}
		case Partition:
		groups:
			for _, g := range f.Groups {
				for _, n := range g {
					if _, err = top.Index(n); err != nil {
						break groups
					}
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("fault %d: %w", i, err)
		}
	}
	pairs := make([][2]int32, len(sc.Pairs))
	for i, p := range sc.Pairs {
		for k, name := range p {
			j, err := top.Index(name)
			if err != nil {
				return nil, fmt.Errorf("flow %d: %w", i, err)
			}
			pairs[i][k] = int32(j)
		}
		if pairs[i][0] == pairs[i][1] {
			return nil, fmt.Errorf("%w: flow %d from %s to itself", ErrScenario, i, p[0])
		}
	}
	slices.SortStableFunc(faults, func(a, b Fault) int { return cmp.Compare(a.At, b.At) })
	sc = sc.withDefaults(len(top.Nodes) - len(named))
	if err := sc.validate(); err != nil {
		return nil, err
	}
	if sc.Heal != nil && sc.Telemetry == nil {
		sc.Telemetry = &TelemetryConfig{}
	}
	s := &sim{
		sc:       sc,
		top:      top,
		fac:      fac,
		base:     simEpoch,
		end:      int64(sc.Duration + sc.Drain),
		rng:      rand.New(rand.NewPCG(sc.Seed, 0x7477696e)), // "twin"
		nodes:    make([]simNode, len(top.Nodes)),
		links:    make([]simLink, len(top.Links)),
		faults:   faults,
		uf:       newUnionFind(len(top.Nodes)),
		comp:     make([]int32, len(top.Nodes)),
		hash:     0xcbf29ce484222325,
		firstAt:  -1,
		detectAt: -1,
	}
	s.every = int64(float64(time.Second) / sc.FlowRate)
	if sc.FlowRate == 0 || s.every <= 0 {
		s.every = 0
	}
	s.tick = int64(sc.TickInterval)
	if s.tick == 0 {
		s.tick = int64(fac.tickInterval())
	}
	if s.tick <= 0 {
		return nil, fmt.Errorf("%w: tick interval %v", ErrScenario, time.Duration(s.tick))
	}
	s.dirs = make([]linkDir, 2*len(top.Links))
	profile := make(map[LinkProfile]uint16)
	for i, l := range top.Links {
		s.links[i] = simLink{a: int32(l.A), b: int32(l.B), prof: l.Profile}
		k, ok := profile[l.Profile]
		if !ok {
			if len(s.profiles) == maxProfiles {
				return nil, fmt.Errorf("%w: more than %d distinct link profiles", ErrScenario, maxProfiles)
			}
			k = uint16(len(s.profiles))
			profile[l.Profile] = k
			s.profiles = append(s.profiles, l.Profile)
		}
		s.dirs[2*i].prof, s.dirs[2*i+1].prof = k, k
		s.nodes[l.A].nbrs = append(s.nodes[l.A].nbrs, nbrRef{node: int32(l.B), link: int32(i), dir: int32(2 * i)})
		s.nodes[l.B].nbrs = append(s.nodes[l.B].nbrs, nbrRef{node: int32(l.A), link: int32(i), dir: int32(2*i + 1)})
	}
	for i := range s.nodes {
		n := &s.nodes[i]
		slices.SortFunc(n.nbrs, func(a, b nbrRef) int { return int(a.node - b.node) })
		r, err := fac.newRouter(int32(i), 0, sc.Seed)
		if err != nil {
			return nil, fmt.Errorf("engine of %q: %w", top.Nodes[i].Name, err)
		}
		n.r, n.alive, n.tickAt = r, true, -1
	}
	switch {
	case len(pairs) == 0:
		s.pickFlows(named)
	case s.every > 0:
		for _, p := range pairs {
			s.flows = append(s.flows, flow{src: p[0], dst: p[1]})
		}
	}
	if sc.Telemetry != nil || slices.ContainsFunc(faults, func(f Fault) bool { return f.Kind.Gray() || f.Kind == Stall }) {
		s.gray = newGrayState(len(s.nodes))
	}
	if sc.Telemetry != nil {
		s.tel = newTelemetry(s, *sc.Telemetry)
	}
	if sc.Heal != nil {
		var err error
		if s.heal, err = newHealDriver(s, *sc.Heal); err != nil {
			return nil, err
		}
	}
	if sc.Channel != nil {
		// Only the headers of DATA frames are the same in every run with
		// one seed: the KEM encapsulation draws its own randomness, and so
		// do the keys of the sessions it makes.
		s.hashPrefix = protocols.DataHeaderSize + e2e.HeaderSize
	}
	return s, nil
}

// pickFlows draws the flows between distinct nodes that no fault names:
// first the crossing flows, each made to depend on a node that a NodeDown
// fault fails, then flows between random pairs.
func (s *sim) pickFlows(named map[int]bool) {
	var free []int32
	for i := range s.nodes {
		if !named[i] {
			free = append(free, int32(i))
		}
	}
	if len(free) < 2 || s.every == 0 {
		return
	}
	seen := make(map[[2]int32]bool, s.sc.Flows)
	// Targets are failing or gray nodes, and gray links as [a, b].
	var targets [][2]int32
	for _, f := range s.faults {
		var t [2]int32
		switch f.Kind {
		case NodeDown, Blackhole, Slow, Overload:
			i, _ := s.top.Index(f.Node)
			t = [2]int32{int32(i), -1}
		case Lossy, Flap:
			a, _ := s.top.Index(f.Link[0])
			b, _ := s.top.Index(f.Link[1])
			t = [2]int32{int32(a), int32(b)}
		default:
			continue
		}
		if !slices.Contains(targets, t) {
			targets = append(targets, t)
		}
	}
	if len(targets) > 0 && s.sc.CrossingFlows > 0 {
		bfs := newHopCounter(len(s.nodes))
		for k := 0; len(s.flows) < s.sc.CrossingFlows && k < 4*s.sc.CrossingFlows; k++ {
			t := targets[k%len(targets)]
			var src, dst int32
			var ok bool
			if t[1] < 0 {
				src, dst, ok = s.crossingPair(t[0], named, bfs)
			} else {
				src, dst, ok = s.crossingLinkPair(t[0], t[1], named, bfs)
			}
			if ok && !seen[[2]int32{src, dst}] {
				seen[[2]int32{src, dst}] = true
				s.flows = append(s.flows, flow{src: src, dst: dst})
			}
		}
	}
	for len(s.flows) < s.sc.Flows {
		src := free[s.rng.IntN(len(free))]
		dst := free[s.rng.IntN(len(free))]
		if src == dst {
			continue
		}
		// Past the number of distinct pairs, repeats are allowed.
		if seen[[2]int32{src, dst}] && len(seen) < len(free)*(len(free)-1) {
			continue
		}
		seen[[2]int32{src, dst}] = true
		s.flows = append(s.flows, flow{src: src, dst: dst})
	}
}

// crossingPair draws a flow that runs through node x and that x's loss
// leaves servable. The source is a random neighbor of x; the destination
// is a random node whose every fewest-hop path from the source crosses x
// (it is farther without x, yet reachable) or, when there is none, one
// with at least one such path crossing x. It fails when x has no
// neighbor with either.
func (s *sim) crossingPair(x int32, named map[int]bool, h *hopCounter) (src, dst int32, ok bool) {
	nbrs := s.nodes[x].nbrs
	fromX := slices.Clone(h.count(s, x, -1))
	start := s.rng.IntN(len(nbrs) + 1)
	for k := range nbrs {
		src = nbrs[(start+k)%len(nbrs)].node
		if named[int(src)] {
			continue
		}
		with := slices.Clone(h.count(s, src, -1))
		without := h.count(s, src, x)
		var every, some []int32
		for v := range s.nodes {
			if named[v] || int32(v) == src || without[v] == unreached {
				continue
			}
			switch {
			case without[v] > with[v]:
				every = append(every, int32(v))
			case fromX[v]+1 == with[v]:
				some = append(some, int32(v))
			}
		}
		if len(every) == 0 {
			every = some
		}
		if len(every) > 0 {
			return src, every[s.rng.IntN(len(every))], true
		}
	}
	return 0, 0, false
}

// crossingLinkPair draws a flow over the link a–b: from one end, picked
// at random, to a node some fewest-hop path from it reaches over the
// link (the other end, at least).
func (s *sim) crossingLinkPair(a, b int32, named map[int]bool, h *hopCounter) (src, dst int32, ok bool) {
	if s.rng.IntN(2) == 1 {
		a, b = b, a
	}
	if named[int(a)] {
		a, b = b, a
	}
	if named[int(a)] {
		return 0, 0, false
	}
	fromA := slices.Clone(h.count(s, a, -1))
	fromB := h.count(s, b, -1)
	var over []int32
	for v := range s.nodes {
		if !named[v] && int32(v) != a && fromB[v] != unreached && fromB[v]+1 == fromA[v] {
			over = append(over, int32(v))
		}
	}
	if len(over) == 0 {
		return 0, 0, false
	}
	return a, over[s.rng.IntN(len(over))], true
}

const unreached = int32(1<<31 - 1)

// hopCounter runs breadth-first searches over the topology.
type hopCounter struct {
	dist  []int32
	queue []int32
}

func newHopCounter(n int) *hopCounter {
	return &hopCounter{dist: make([]int32, n), queue: make([]int32, 0, n)}
}

// count returns the hop distance from src to every node avoiding skip
// (-1 for none), unreached where there is no path. The slice is reused by
// the next call.
func (h *hopCounter) count(s *sim, src, skip int32) []int32 {
	for i := range h.dist {
		h.dist[i] = unreached
	}
	h.dist[src] = 0
	h.queue = append(h.queue[:0], src)
	for len(h.queue) > 0 {
		u := h.queue[0]
		h.queue = h.queue[1:]
		for _, nb := range s.nodes[u].nbrs {
			if v := nb.node; v != skip && h.dist[v] == unreached {
				h.dist[v] = h.dist[u] + 1
				h.queue = append(h.queue, v)
			}
		}
	}
	return h.dist
}

// hugePageNodes is the size from which a run asks for huge pages
// (adviseHugePages): below it, the engines' state is small enough for
// the TLB's misses not to matter.
const hugePageNodes = 10_000

// warmNodes is the size from which a run prefetches (sim.warm): below
// it, the state of every engine stays in cache.
const warmNodes = 10_000

// run processes events until the end of the scenario or ctx is done.
func (s *sim) run(ctx context.Context) error {
	s.start()
	if len(s.nodes) >= hugePageNodes {
		adviseHugePages()
	}
	s.warmUp = s.warmUp || len(s.nodes) >= warmNodes
	for s.q.len() > 0 && s.q.nextAt() <= s.end {
		ev := s.q.pop()
		if s.warmUp {
			s.warm()
		}
		s.now = ev.at
		s.process(&ev)
		if ev.kind == evSample {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	s.now = s.end
	return nil
}

// warm asks the CPU for the memory the next two events will read while
// this one is processed, a step ahead of need for each level of it: for
// the event after next the node's and its link direction's slots and
// its engine's driver, which name where the rest is; for the next event
// that rest, the engine itself and the neighbor the frame comes from.
// At 100,000 nodes an input touches a dozen cache lines scattered over
// gigabytes, each a miss that stalls the processing when it is met;
// fetched ahead, they overlap the work of the event before. Prefetches
// are hints: they change no value, and a wrong guess (an event scheduled
// in between) costs only the fetch.
func (s *sim) warm() {
	next, after, n := s.q.upcoming()
	if n == 0 {
		return
	}
	if n == 2 {
		if node, dir := s.q.target(after); node >= 0 {
			prefetch(unsafe.Pointer(&s.nodes[node]))
			if dir >= 0 {
				prefetch(unsafe.Pointer(&s.dirs[dir]))
			}
			s.fac.warm(node)
		}
	}
	if node, dir := s.q.target(next); node >= 0 {
		var end *linkEnd
		if dir >= 0 {
			end = &s.dirs[dir].rx
		}
		if r := s.nodes[node].r; r != nil {
			r.warm(end)
		}
	}
}

// start schedules the opening of every link, the ticks, flows, faults and
// samples.
func (s *sim) start() {
	for li := range s.links {
		l := &s.links[li]
		l.up = true
		s.dirs[2*li].up, s.dirs[2*li+1].up = true, true
		s.q.push(event{kind: evNotifyUp, node: l.a, peer: l.b, aux: int32(li)})
		s.q.push(event{kind: evNotifyUp, node: l.b, peer: l.a, aux: int32(li)})
	}
	s.recount()
	for i := range s.nodes {
		if _, ok := s.nodes[i].r.deadline(); !ok {
			s.schedulePeriodicTick(int32(i), s.rng.Int64N(s.tick))
		}
	}
	for fi := range s.flows {
		var at int64
		if len(s.sc.PairStarts) > 0 {
			at = int64(s.sc.PairStarts[fi])
		} else {
			at = int64(s.sc.FlowStart) + s.rng.Int64N(s.every)
		}
		if at < int64(s.sc.Duration) {
			s.q.push(event{at: at, kind: evFlow, node: s.flows[fi].src, peer: -1, aux: int32(fi)})
		}
	}
	for fi, f := range s.faults {
		s.q.push(event{at: int64(f.At), kind: evFault, node: -1, peer: -1, aux: int32(fi)})
	}
	s.q.push(event{kind: evSample, node: -1, peer: -1})
	if s.tel != nil {
		s.tel.start()
	}
	for k, pa := range s.acts {
		s.q.push(event{at: pa.at, kind: evAction, node: pa.node, peer: -1, aux: int32(k)})
	}
}

func (s *sim) process(ev *event) {
	s.st.events++
	s.traceEvent(ev)
	switch ev.kind {
	case evFrame:
		s.arrive(ev)
	case evTick:
		// Only the node's pending tick fires. A tick left over from
		// before a restart fires only if the new engine asked for one at
		// the very same instant, which is then this one. A stalled
		// node's tick fires when the stall ends.
		if n := &s.nodes[ev.node]; n.alive && ev.at == n.tickAt {
			if until := s.stalledUntil(ev.node); until > s.now {
				n.tickAt = until
				s.q.pushTick(until, ev.node)
				break
			}
			s.fireTick(ev.node)
		}
	case evFlow:
		s.emit(ev)
	case evFault:
		s.apply(int(ev.aux))
	case evFaultEnd:
		s.endGray(int(ev.aux))
	case evFlap:
		s.flap(int(ev.aux))
	case evEgress:
		if n := &s.nodes[ev.node]; n.alive && n.restart == ev.epoch {
			s.gray.nodes[ev.node].held--
			s.transmit(ev.node, ev.peer, ev.frame)
		}
		s.frames.release(ev.buf)
	case evTelemetry:
		s.tel.publish(ev.node, ev.aux)
	case evGossip:
		s.tel.receive(ev)
	case evObserve:
		s.tel.observe()
	case evCycle:
		s.heal.cycle(ev.node)
	case evHeal:
		s.heal.timer(ev.node, ev.at)
	case evVote:
		s.heal.decide(int(ev.aux))
	case evAction:
		s.carryOutPlanned(int(ev.aux))
	case evEcho:
		s.echo(ev)
	case evNotifyDown:
		s.notifyDown(ev)
	case evNotifyUp:
		s.notifyUp(ev)
	case evSample:
		if len(s.nodes) >= hugePageNodes {
			adviseHugePages() // what the heap grew into since
		}
		if s.sc.Progress != nil {
			s.sc.Progress(time.Duration(s.now), time.Duration(s.end))
		}
		if next := s.now + int64(s.sc.SampleInterval); next <= s.end {
			s.q.push(event{at: next, kind: evSample, node: -1, peer: -1})
		}
	}
}

func (s *sim) clock() time.Time { return s.base.Add(time.Duration(s.now)) }

// virtual returns the virtual time of t, a deadline an engine computed
// from the times clock gave it: t.Sub(s.base) without the overflow check
// that makes Sub costly on times without monotonic readings, which the
// simulator's are, unless t is centuries away.
func (s *sim) virtual(t time.Time) int64 {
	if sec := t.Unix() - s.base.Unix(); -9e9 < sec && sec < 9e9 {
		return sec*int64(time.Second) + int64(t.Nanosecond()-s.base.Nanosecond())
	}
	return int64(t.Sub(s.base))
}

// traceEvent folds the event into the trace hash (FNV-1a over 64-bit
// words) and hands it to the Trace hook.
func (s *sim) traceEvent(ev *event) {
	s.mix(uint64(ev.at))
	s.mix(uint64(ev.kind)<<56 ^ uint64(uint32(ev.node))<<24 ^ uint64(uint32(ev.peer)))
	s.mix(uint64(len(ev.frame)))
	b := ev.frame
	if s.hashPrefix > 0 && len(b) > s.hashPrefix && s.fac.isData(b) {
		b = b[:s.hashPrefix]
	}
	for len(b) >= 8 {
		s.mix(binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	if len(b) > 0 {
		var tail [8]byte
		copy(tail[:], b)
		s.mix(binary.LittleEndian.Uint64(tail[:]))
	}
	if s.sc.Trace != nil {
		s.sc.Trace(TraceEvent{At: time.Duration(ev.at), Kind: ev.kind.String(), Node: int(ev.node), Peer: int(ev.peer), Frame: ev.frame})
	}
}

func (s *sim) mix(v uint64) {
	s.hash ^= v
	s.hash *= 0x100000001b3
}

func (s *sim) schedulePeriodicTick(i int32, after int64) {
	n := &s.nodes[i]
	n.tickAt = s.now + after
	s.q.pushTick(n.tickAt, i)
}

// scheduleDeadline asks node i's engine when it next needs a tick and
// schedules one if it is earlier than the pending one.
func (s *sim) scheduleDeadline(i int32) {
	n := &s.nodes[i]
	d, ok := n.r.deadline()
	if !ok || !n.alive || d.IsZero() {
		return
	}
	at := s.virtual(d)
	if g := int64(s.sc.TickGranularity); g > 1 {
		at = (at + g - 1) / g * g
	}
	if at < s.now {
		at = s.now
	}
	if n.tickAt >= 0 && n.tickAt <= at {
		return
	}
	n.tickAt = at
	s.q.pushTick(at, i)
}

// pump carries out everything node i's engine has ready.
func (s *sim) pump(i int32) {
	n := &s.nodes[i]
	s.out.reset()
	n.r.drain(&s.out)
	if s.warmUp && len(s.out.msgs) > 1 {
		// A HELLO round's frames go to every neighbor: fetch their
		// links' directions all at once rather than one miss after
		// another (see warm).
		for _, m := range s.out.msgs {
			if r := s.nbrRef(i, m.to); r != nil {
				prefetch(unsafe.Pointer(&s.dirs[r.dir]))
			}
		}
	}
	for _, m := range s.out.msgs {
		if s.gray != nil {
			s.egress(i, m.to, m.frame)
		} else {
			s.transmit(i, m.to, m.frame)
		}
		// transmit and egress copy a short frame into the pool or drop
		// it: the engine may have it back (its HELLOs, which it then
		// reuses instead of allocating a frame per neighbor and round).
		if len(m.frame) <= frameBuf {
			n.r.release(m.frame)
		}
	}
	for _, d := range s.out.deliveries {
		s.deliver(i, d)
	}
	for _, nt := range s.out.notes {
		s.noted(i, nt)
	}
	for _, cn := range s.out.channel {
		s.channelNoted(i, cn)
	}
	s.st.sendErrors += s.out.refused
	s.scheduleDeadline(i)
}

// linkTo returns the link from node i to neighbor j, or -1.
func (s *sim) linkTo(i, j int32) int32 {
	if r := s.nbrRef(i, j); r != nil {
		return r.link
	}
	return -1
}

// nbrRef returns node i's reference to neighbor j, or nil.
func (s *sim) nbrRef(i, j int32) *nbrRef {
	nb := s.nodes[i].nbrs
	k, ok := slices.BinarySearchFunc(nb, j, func(r nbrRef, j int32) int { return int(r.node - j) })
	if !ok {
		return nil
	}
	return &nb[k]
}

// transmit puts a frame from node i on its link to j: it waits for the
// link to be free, occupies it for its serialisation time, then travels
// for the latency plus jitter, never overtaking the frame before it.
func (s *sim) transmit(i, j int32, frame []byte) {
	if s.fac.isData(frame) {
		s.st.dataTx++
	} else {
		s.st.controlTx++
	}
	s.st.bytesTx += uint64(len(frame))
	r := s.nbrRef(i, j)
	if r == nil {
		s.st.dropNoLink++
		return
	}
	di := r.dir
	d := &s.dirs[di]
	if !d.up {
		s.st.dropDown++
		return
	}
	p := &s.profiles[d.prof]
	start := max(s.now, d.busy)
	if p.QueueLimit > 0 && start-s.now > int64(p.QueueLimit) {
		s.st.dropQueue++
		if s.tel != nil {
			s.tel.queueDrop(i)
		}
		return
	}
	if s.tel != nil {
		s.tel.sent(di, len(frame))
	}
	var tx int64
	if p.Bandwidth > 0 {
		tx = int64(len(frame)) * 8 * int64(time.Second) / p.Bandwidth
	}
	d.busy = start + tx
	at := d.busy + int64(p.Latency)
	if p.Jitter > 0 {
		at += s.rng.Int64N(int64(p.Jitter))
	}
	at = max(at, d.last)
	d.last = at
	if p.Loss > 0 && s.rng.Float64() < p.Loss {
		s.st.dropLoss++
		if s.tel != nil {
			s.tel.lost(di)
		}
		return
	}
	if s.gray != nil && s.gray.lossy && s.grayLoss(r.link) {
		s.st.dropLoss++
		if s.tel != nil {
			s.tel.lost(di)
		}
		return
	}
	frame, buf := s.frames.copy(frame)
	s.q.push(event{at: at, kind: evFrame, node: j, peer: i, aux: di, epoch: d.epoch, frame: frame, buf: buf})
}

// fireTick ticks node i's engine now, its pending tick being due.
func (s *sim) fireTick(i int32) {
	n := &s.nodes[i]
	n.tickAt = -1
	n.r.tick(s.clock())
	s.pump(i)
	if _, ok := n.r.deadline(); !ok {
		s.schedulePeriodicTick(i, s.tick)
	}
}

// catchUp fires node i's pending tick if it is due, before the driver
// hands the engine an input stamped now. Timers due at an instant thus
// always act before inputs at that instant, whatever order the events
// were scheduled in: the order of simultaneous events depends on how
// ticks happen to be queued, and results should not.
func (s *sim) catchUp(i int32) {
	if n := &s.nodes[i]; n.tickAt >= 0 && n.tickAt <= s.now {
		s.fireTick(i)
	}
}

func (s *sim) arrive(ev *event) {
	n := &s.nodes[ev.node]
	d := &s.dirs[ev.aux]
	if !n.alive || !d.up || d.epoch != ev.epoch {
		s.st.dropDown++
		s.frames.release(ev.buf)
		return
	}
	if s.sc.Drop != nil && s.sc.Drop(TraceEvent{At: time.Duration(ev.at), Kind: "frame", Node: int(ev.node), Peer: int(ev.peer), Frame: ev.frame}) {
		s.st.dropHook++
		s.frames.release(ev.buf)
		return
	}
	s.catchUp(ev.node)
	if s.tel != nil {
		s.tel.received(ev.aux, len(ev.frame))
	}
	if err := n.r.step(s.clock(), ev.peer, &d.rx, ev.frame); err != nil {
		s.st.stepErrors++
		s.sc.Logger.Debug("step", "node", s.top.Nodes[ev.node].Name, "from", s.top.Nodes[ev.peer].Name, "err", err)
	}
	// The engine keeps no frame, but a DATA frame it relays goes out as
	// it came (rewritten in place): the buffer is free once it has been
	// sent on (transmit and egress copy what they hold on to).
	s.pump(ev.node)
	s.frames.release(ev.buf)
}

// payloadHeader is the flow packet header: flow index u32, sequence u32,
// both big-endian, then padding to the payload size. An answer
// (Scenario.Echo) has echoBit set in its flow index.
const payloadHeader = 8

// echoBit marks an answer's flow index.
const echoBit = 1 << 31

func (s *sim) emit(ev *event) {
	f := &s.flows[ev.aux]
	if next := ev.at + s.every; next < int64(s.sc.Duration) {
		s.q.push(event{at: next, kind: evFlow, node: f.src, peer: -1, aux: ev.aux})
	}
	n := &s.nodes[f.src]
	if !n.alive {
		return
	}
	seq := len(f.packets)
	f.packets = append(f.packets, packet{sent: s.now, arrived: -1, servable: s.comp[f.dst] >= 0 && s.comp[f.src] == s.comp[f.dst]})
	payload := make([]byte, s.sc.PayloadSize)
	binary.BigEndian.PutUint32(payload, uint32(ev.aux))
	binary.BigEndian.PutUint32(payload[4:], uint32(seq))
	s.st.appSent++
	s.catchUp(f.src)
	if err := n.r.send(s.clock(), f.dst, payload); err != nil {
		s.st.sendErrors++
		s.sc.Logger.Debug("send", "node", s.top.Nodes[f.src].Name, "err", err)
	}
	s.pump(f.src)
}

func (s *sim) deliver(at int32, d delivery) {
	if len(d.payload) < payloadHeader {
		s.st.misdelivered++
		return
	}
	fi := binary.BigEndian.Uint32(d.payload)
	seq := binary.BigEndian.Uint32(d.payload[4:])
	answer := fi&echoBit != 0
	fi &^= echoBit
	if int(fi) >= len(s.flows) || int(seq) >= len(s.flows[fi].packets) {
		s.st.misdelivered++
		return
	}
	f := &s.flows[fi]
	switch {
	case answer && (!s.sc.Echo || f.src != at), !answer && f.dst != at:
		s.st.misdelivered++
		return
	case !answer && s.sc.Echo:
		// Answered on an event of its own: the engine's output is being
		// carried out, and pump must not run inside pump.
		reply := slices.Clone(d.payload)
		binary.BigEndian.PutUint32(reply, fi|echoBit)
		s.q.push(event{at: s.now, kind: evEcho, node: at, peer: f.src, frame: reply})
		s.st.delivered++
		s.st.hops += uint64(d.hops)
		return
	}
	p := &f.packets[seq]
	if p.arrived >= 0 {
		return // a duplicate
	}
	p.arrived = s.now
	if answer {
		p.arrived = p.sent + (s.now-p.sent)/2
	}
	s.st.delivered++
	s.st.hops += uint64(d.hops)
}

// echo sends the answer in ev.frame from node ev.node back to the flow's
// source ev.peer, if the node is still up.
func (s *sim) echo(ev *event) {
	n := &s.nodes[ev.node]
	if !n.alive {
		return
	}
	s.st.appSent++
	s.catchUp(ev.node)
	if err := n.r.send(s.clock(), ev.peer, ev.frame); err != nil {
		s.st.sendErrors++
		s.sc.Logger.Debug("echo", "node", s.top.Nodes[ev.node].Name, "err", err)
	}
	s.pump(ev.node)
}

func (s *sim) noted(at int32, nt note) {
	if nt.kind == noteNeighborLost && s.firstAt >= 0 && s.detectAt < 0 && nt.peer >= 0 {
		if li := s.linkTo(at, nt.peer); li >= 0 && !s.links[li].up {
			s.detectAt = s.now
			s.addTimeline(at, s.fac.describe(nt))
			return
		}
	}
	if nt.peer >= 0 && !s.nodes[nt.peer].alive && len(s.timeline) < maxTimeline {
		s.addTimeline(at, s.fac.describe(nt))
	}
}

// channelNoted counts an end-to-end channel event of node at and puts
// resets and failed handshakes on the timeline.
func (s *sim) channelNoted(at int32, cn channelNote) {
	c := &s.st.channel
	switch cn.ev.Kind {
	case e2e.EventHandshake:
		c.Handshakes++
		if cn.ev.Rekey {
			c.Rekeys++
		}
		return
	case e2e.EventEstablished:
		c.Established++
		return
	case e2e.EventRejected:
		c.Rejected++
		return
	case e2e.EventReset:
		c.Resets++
	case e2e.EventFailed:
		c.Failed++
	}
	text := "channel " + cn.ev.Kind.String()
	if cn.peer >= 0 {
		text += " " + s.top.Nodes[cn.peer].Name
	}
	s.addTimeline(at, text)
}

func (s *sim) addTimeline(at int32, text string) {
	if len(s.timeline) >= maxTimeline {
		return
	}
	node := ""
	if at >= 0 {
		node = s.top.Nodes[at].Name
	}
	s.timeline = append(s.timeline, TimelineEntry{At: time.Duration(s.now), Node: node, Event: text})
}

// apply carries out fault number fi.
func (s *sim) apply(fi int) {
	f := s.faults[fi]
	if s.firstAt < 0 && (f.Kind == NodeDown || f.Kind == LinkDown || f.Kind == Partition || f.Kind.Gray()) {
		s.firstAt = s.now
	}
	switch f.Kind {
	case Blackhole, Slow, Overload, Lossy, Flap:
		s.startGray(fi)
	case Stall:
		s.stall(f)
	case NodeDown, NodeUp:
		i, _ := s.top.Index(f.Node)
		n := &s.nodes[i]
		up := f.Kind == NodeUp
		if n.alive == up {
			return
		}
		if up {
			n.restart++
			r, err := s.fac.newRouter(int32(i), n.restart, s.sc.Seed)
			if err != nil {
				s.sc.Logger.Error("restart", "node", f.Node, "err", err)
				return
			}
			n.r = r
			if s.gray != nil {
				s.gray.restarted(int32(i))
			}
			if s.tel != nil {
				s.tel.restarted(int32(i))
			}
			if s.heal != nil {
				s.heal.restarted(int32(i))
			}
		}
		n.alive = up
		n.tickAt = -1
		if _, ok := n.r.deadline(); up && !ok {
			s.schedulePeriodicTick(int32(i), s.rng.Int64N(s.tick))
		}
		for _, nb := range n.nbrs {
			l := &s.links[nb.link]
			if up {
				// The restarted engine has no links open yet.
				end := s.endOf(l, int32(i))
				l.open[end] = false
				*s.rxEnd(nb.link, end) = linkEnd{}
			}
			s.refresh(nb.link)
		}
	case LinkDown, LinkUp:
		a, _ := s.top.Index(f.Link[0])
		b, _ := s.top.Index(f.Link[1])
		li := s.linkTo(int32(a), int32(b))
		if li < 0 {
			s.sc.Logger.Warn("no such link", "a", f.Link[0], "b", f.Link[1])
			return
		}
		s.links[li].failed = f.Kind == LinkDown
		s.refresh(li)
	case Partition:
		group := make([]int, len(s.nodes))
		for g, names := range f.Groups {
			for _, name := range names {
				k, _ := s.top.Index(name)
				group[k] = g + 1
			}
		}
		for li := range s.links {
			l := &s.links[li]
			if group[l.a] != group[l.b] {
				l.cut = true
				s.refresh(int32(li))
			}
		}
	case Heal:
		for li := range s.links {
			if s.links[li].cut {
				s.links[li].cut = false
				s.refresh(int32(li))
			}
		}
	}
	s.addTimeline(-1, f.describe())
	s.recount()
}

func (f Fault) describe() string {
	switch {
	case f.Kind == Partition || f.Kind == Heal:
		return f.Kind.String()
	case f.Kind.OnLink():
		return f.Kind.String() + " " + f.Link[0] + "–" + f.Link[1]
	case f.Kind == Stall && f.Node == "":
		return fmt.Sprintf("stall of every node for %v", f.For)
	case f.Kind == Stall:
		return fmt.Sprintf("stall %s for %v", f.Node, f.For)
	default:
		return f.Kind.String() + " " + f.Node
	}
}

// refresh recomputes whether link li is up and, when that changed, tells
// the drivers at its ends: always when it comes up (a new stream opens),
// and when it goes down only under Notified detection.
func (s *sim) refresh(li int32) { s.refreshLink(li, s.sc.Detection == Notified) }

// refreshLink is refresh, telling the drivers of a link that went down
// when notify is set.
func (s *sim) refreshLink(li int32, notify bool) {
	l := &s.links[li]
	na, nb := &s.nodes[l.a], &s.nodes[l.b]
	up := !l.failed && !l.cut && !l.flapDown && !l.closed && na.alive && nb.alive && !na.isolated && !nb.isolated
	if up == l.up {
		return
	}
	l.up = up
	l.epoch++
	for k := 2 * li; k < 2*li+2; k++ {
		d := &s.dirs[k]
		d.busy, d.last, d.epoch, d.up = 0, 0, l.epoch, up
	}
	lat := int64(l.prof.Latency)
	for end, pair := range [2][2]int32{{l.a, l.b}, {l.b, l.a}} {
		self, peer := pair[0], pair[1]
		if !s.nodes[self].alive {
			continue
		}
		switch {
		case up:
			s.q.push(event{at: s.now + lat, kind: evNotifyUp, node: self, peer: peer, aux: li, epoch: l.epoch})
		case notify && l.open[end]:
			s.q.push(event{at: s.now + lat + int64(l.prof.NotifyDelay), kind: evNotifyDown, node: self, peer: peer, aux: li, epoch: l.epoch})
		}
	}
}

func (s *sim) endOf(l *simLink, node int32) int {
	if node == l.a {
		return 0
	}
	return 1
}

// rxEnd returns the driver's state at end e of link li, which lives with
// the direction towards it.
func (s *sim) rxEnd(li int32, e int) *linkEnd { return &s.dirs[2*int(li)+1-e].rx }

func (s *sim) notifyDown(ev *event) {
	n := &s.nodes[ev.node]
	l := &s.links[ev.aux]
	e := s.endOf(l, ev.node)
	if !n.alive || l.epoch != ev.epoch || !l.open[e] {
		return
	}
	l.open[e] = false
	s.catchUp(ev.node)
	n.r.linkDown(s.clock(), ev.peer, s.rxEnd(ev.aux, e))
	s.pump(ev.node)
}

func (s *sim) notifyUp(ev *event) {
	n := &s.nodes[ev.node]
	l := &s.links[ev.aux]
	e := s.endOf(l, ev.node)
	if !n.alive || !l.up || l.epoch != ev.epoch {
		return
	}
	s.catchUp(ev.node)
	if l.open[e] {
		// The old stream died silently; the new one replaces it.
		n.r.linkDown(s.clock(), ev.peer, s.rxEnd(ev.aux, e))
	}
	l.open[e] = true
	n.r.linkUp(s.clock(), ev.peer, s.rxEnd(ev.aux, e))
	s.pump(ev.node)
}

// recount recomputes the components of the live mesh and the fraction of
// surviving pairs that can reach each other.
func (s *sim) recount() {
	s.uf.reset()
	for li := range s.links {
		if l := &s.links[li]; l.up {
			s.uf.union(l.a, l.b)
		}
	}
	var alive, pairs float64
	for i := range s.nodes {
		if !s.nodes[i].alive {
			s.comp[i] = -1
			continue
		}
		alive++
		r := s.uf.find(int32(i))
		s.comp[i] = r
		if r == int32(i) {
			k := float64(s.uf.size[r])
			pairs += k * (k - 1)
		}
	}
	s.connNow = 1
	if alive >= 2 {
		s.connNow = pairs / (alive * (alive - 1))
	}
	s.conn = append(s.conn, point{at: s.now, v: s.connNow})
}
