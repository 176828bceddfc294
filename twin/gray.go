package twin

import (
	"slices"
)

// grayState is the twin's model of what lies between an engine and its
// links: the gray faults in force, the host's processing time per frame
// (with Scenario.Telemetry), and what each node's driver counts of the
// DATA it relays. The engines never see any of it: a gray fault acts on
// the frames an engine hands its driver, as a broken or overloaded node
// would, not on the protocol.
type grayState struct {
	nodes []grayNode
	// active lists the gray faults in force, by number in sim.faults,
	// in the order they started.
	active []int
	// lossy is true while some link has a Lossy fault.
	lossy bool
}

// grayNode is the model of one node.
type grayNode struct {
	drop float64 // Blackhole: fraction of the DATA it relays dropped
	slow int64   // Slow: held back per relayed DATA frame, ns
	proc int64   // Overload: held back per frame, ns
	cpu  float64 // Overload: CPU percentage points added
	// host is the mean time the node takes to process a frame it sends,
	// ns (0 without a host model): each frame takes between half and
	// one and a half times it.
	host int64
	// busy sums the processing time its frames took, ns: the work its
	// host's CPU figure reports (telemetry). The host keeps it across a
	// restart of the node.
	busy int64
	// lane holds, for frames held back, when the last one of each lane
	// (0: everything but relayed DATA; 1: relayed DATA) goes out: frames
	// of one lane leave in order, as from one queue.
	lane [2]int64
	// written counts the relayed DATA frames its driver wrote, delay
	// their total time from read (the input that made the engine relay
	// them) to written, ns; both restart with the node.
	written uint64
	delay   int64
	// shed is the share of the route requests it should forward that
	// its driver refuses (a healing engine's shed: it keeps 1-shed of
	// its relay share), 0 normally: it joins fewer new routes, and the
	// DATA of the routes it is on still passes.
	shed float64
	// held counts the frames held back in its lanes now: its relay
	// queue, for the healing engine's load.
	held int
	// stalled is when the node's Stall ends (virtual ns; 0 or past:
	// not stalled).
	stalled int64
}

func newGrayState(n int) *grayState { return &grayState{nodes: make([]grayNode, n)} }

// restarted forgets what node i's driver counted: a new process.
func (g *grayState) restarted(i int32) {
	n := &g.nodes[i]
	n.lane, n.written, n.delay, n.shed, n.held = [2]int64{}, 0, 0, 0, 0
}

// egress hands a frame node i's engine sent to the node model on its way
// to neighbor to: the host's processing time and a gray fault's delay
// hold it back, a blackhole drops it, and the driver counts the relayed
// DATA it writes.
func (s *sim) egress(i, to int32, frame []byte) {
	n := &s.gray.nodes[i]
	relayed := s.fac.relayed(i, frame)
	delay := n.proc
	if n.host > 0 {
		work := n.host/2 + s.rng.Int64N(n.host)
		delay += work
		n.busy += work
	}
	lane := 0
	if relayed {
		lane = 1
		delay += n.slow
	}
	at := max(s.now+delay, n.lane[lane], n.stalled)
	n.lane[lane] = at
	if n.shed > 0 && s.fac.forwardsRREQ(i, frame) && s.rng.Float64() < n.shed {
		// Refused by a shedding driver.
		s.st.dropShed++
		return
	}
	if relayed {
		// Counted as written, then lost: below the driver, where its
		// own report cannot see it (or a node that lies about it).
		n.written++
		n.delay += at - s.now
		if n.drop > 0 && (n.drop >= 1 || s.rng.Float64() < n.drop) {
			s.st.dropGray++
			return
		}
	}
	if at == s.now {
		s.transmit(i, to, frame)
		return
	}
	n.held++
	frame, buf := s.frames.copy(frame) // a relayed frame may be in the buffer of the frame that brought it
	s.q.push(event{at: at, kind: evEgress, node: i, peer: to, epoch: s.nodes[i].restart, frame: frame, buf: buf})
}

// stall stalls the node f names, or every node, until f.For from now.
func (s *sim) stall(f Fault) {
	until := s.now + int64(f.For)
	for i := range s.gray.nodes {
		if f.Node == "" || s.top.Nodes[i].Name == f.Node {
			n := &s.gray.nodes[i]
			n.stalled = max(n.stalled, until)
		}
	}
}

// stalledUntil returns when node i's stall ends, 0 if it has none.
func (s *sim) stalledUntil(i int32) int64 {
	if s.gray == nil {
		return 0
	}
	return s.gray.nodes[i].stalled
}

// grayLoss reports whether a Lossy fault on link li loses the frame now
// being sent on it.
func (s *sim) grayLoss(li int32) bool {
	p := s.links[li].lossy
	return p > 0 && s.rng.Float64() < p
}

// startGray puts gray fault number fi in force.
func (s *sim) startGray(fi int) {
	f := &s.faults[fi]
	s.gray.active = append(s.gray.active, fi)
	s.recomputeGray()
	if f.Kind == Flap {
		li := s.faultLink(f)
		s.links[li].flapDown = true
		s.refresh(li)
		s.q.push(event{at: s.now + int64(f.Period), kind: evFlap, node: -1, peer: -1, aux: int32(fi)})
	}
	if f.For > 0 {
		s.q.push(event{at: s.now + int64(f.For), kind: evFaultEnd, node: -1, peer: -1, aux: int32(fi)})
	}
}

// endGray ends gray fault number fi.
func (s *sim) endGray(fi int) {
	k := slices.Index(s.gray.active, fi)
	if k < 0 {
		return
	}
	s.gray.active = slices.Delete(s.gray.active, k, k+1)
	s.recomputeGray()
	f := &s.faults[fi]
	if f.Kind == Flap {
		li := s.faultLink(f)
		s.links[li].flapDown = false
		s.refresh(li)
		s.recount()
	}
	s.addTimeline(-1, "end "+f.describe())
}

// flap turns the link of flap fault number fi over, if the fault is
// still in force, and schedules the next turn.
func (s *sim) flap(fi int) {
	if !slices.Contains(s.gray.active, fi) {
		return
	}
	f := &s.faults[fi]
	l := &s.links[s.faultLink(f)]
	l.flapDown = !l.flapDown
	s.refresh(s.faultLink(f))
	s.recount()
	s.q.push(event{at: s.now + int64(f.Period), kind: evFlap, node: -1, peer: -1, aux: int32(fi)})
}

// faultLink returns the link a link fault names; newSim checked it
// exists.
func (s *sim) faultLink(f *Fault) int32 {
	a, _ := s.top.Index(f.Link[0])
	b, _ := s.top.Index(f.Link[1])
	return s.linkTo(int32(a), int32(b))
}

// recomputeGray sets every node's and link's gray figures from the
// faults in force.
func (s *sim) recomputeGray() {
	g := s.gray
	for i := range g.nodes {
		n := &g.nodes[i]
		n.drop, n.slow, n.proc, n.cpu = 0, 0, 0, 0
	}
	g.lossy = false
	for li := range s.links {
		s.links[li].lossy = 0
	}
	for _, fi := range g.active {
		f := &s.faults[fi]
		switch f.Kind {
		case Blackhole, Slow, Overload:
			i, _ := s.top.Index(f.Node)
			n := &g.nodes[i]
			switch f.Kind {
			case Blackhole:
				n.drop = f.Loss
				if n.drop == 0 {
					n.drop = 1
				}
			case Slow:
				n.slow += int64(f.Delay)
			case Overload:
				n.proc += int64(f.Delay)
				n.cpu += f.CPU
			}
		case Lossy:
			l := &s.links[s.faultLink(f)]
			l.lossy = 1 - (1-l.lossy)*(1-f.Loss)
			g.lossy = true
		}
	}
}

// grayLabel returns the gray fault in force that labels node i (it names
// the node, or a link of it), by number in sim.faults, or -1.
func (s *sim) grayLabel(i int32) int {
	for _, fi := range s.gray.active {
		f := &s.faults[fi]
		if f.Kind.OnLink() {
			for _, name := range f.Link {
				if k, _ := s.top.Index(name); int32(k) == i {
					return fi
				}
			}
		} else if k, _ := s.top.Index(f.Node); int32(k) == i {
			return fi
		}
	}
	return -1
}
