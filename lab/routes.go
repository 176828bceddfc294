package lab

import (
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/lab/scenario"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
	"github.com/x0tta6bl4/x0tta6bl4/twin"
)

// A fault meets the routes that were in use when it struck, and where a
// flow has two paths of equal length (the far side of a ring, most pairs
// of a grid) which one the daemons chose at setup is a coin the twin
// tosses again in every replay. It matters: in the ring-10 kill of node 3
// the flow 0→5 runs through node 3 or the other way round; when it ran
// through 3, node 0 rediscovers a route to 5 after the kill, and the
// flows 2→5 and 5→2, whose own repair cannot reach 5 (it is seven hops
// the other way, beyond the repair's TTL), find that fresh route at node
// 0 sixty milliseconds sooner than they find 5 itself. So the twin keeps
// the replays whose flows crossed the failing nodes before the fault as
// the lab's did (crossingSet), and the pairing compares like with like.

// routeWindow is how long before the first failing fault the lab reads
// the daemons' routing tables, and the span before it over which a
// twin replay's DATA through the failing nodes counts.
const routeWindow = 300 * time.Millisecond

// Crossing is one direction of a flow, from node From to node To,
// whose packets crossed a failing node before the fault.
type Crossing struct {
	From int `json:"from"`
	To   int `json:"to"`
}

// firstFailed is the nodes the first kill or stop of faults fails, and
// its time; ok is false when there is none.
func firstFailed(faults []scenario.Fault) (nodes []int, at time.Duration, ok bool) {
	for _, f := range faults {
		if f.Kind == scenario.Kill || f.Kind == scenario.Stop {
			return f.Nodes, f.At, true
		}
	}
	return nil, 0, false
}

// pathCrossings follows next (next[a][b] is a's next hop towards b, -1
// for none) from each flow's source to its destination and back, and
// lists the directions that pass through a node of failed (empty, not
// nil, when none does). A path that breaks off or loops before its end
// counts as far as it went.
func pathCrossings(next [][]int, flows []scenario.Flow, failed []int) []Crossing {
	out := []Crossing{} // none crossed: known, unlike nil
	add := func(from, to int) {
		c := Crossing{from, to}
		if slices.Contains(out, c) {
			return
		}
		at := from
		for steps := 0; steps < len(next) && at != to; steps++ {
			if at < 0 || at >= len(next) || to >= len(next[at]) {
				return
			}
			at = next[at][to]
			if at != to && slices.Contains(failed, at) {
				out = append(out, c)
				return
			}
		}
	}
	for _, f := range flows {
		add(f.Src, f.Dst)
		add(f.Dst, f.Src)
	}
	sortCrossings(out)
	return out
}

func sortCrossings(cs []Crossing) {
	slices.SortFunc(cs, func(a, b Crossing) int {
		if a.From != b.From {
			return a.From - b.From
		}
		return a.To - b.To
	})
}

// crossingTrace collects, from a twin replay's trace, the directions of
// flows whose DATA a failing node received in the routeWindow before
// the fault.
type crossingTrace struct {
	index    map[protocols.Addr]int
	failed   []int
	from, to time.Duration
	seen     []Crossing
}

func newCrossingTrace(top *twin.Topology, failed []int, fault time.Duration) *crossingTrace {
	ct := &crossingTrace{index: make(map[protocols.Addr]int, len(top.Nodes)), failed: failed,
		from: fault - routeWindow, to: fault}
	for i, n := range top.Nodes {
		ct.index[twin.NodeAddr(n.Name)] = i
	}
	return ct
}

// observe is a twin.Scenario.Trace.
func (ct *crossingTrace) observe(ev twin.TraceEvent) {
	if ev.Kind != "frame" || ev.At < ct.from || ev.At >= ct.to || !slices.Contains(ct.failed, ev.Node) {
		return
	}
	if t, err := protocols.PeekType(ev.Frame); err != nil || t != protocols.TypeData {
		return
	}
	src, err1 := protocols.PeekSrc(ev.Frame)
	dst, err2 := protocols.PeekDst(ev.Frame)
	if err1 != nil || err2 != nil {
		return
	}
	a, okA := ct.index[src]
	b, okB := ct.index[dst]
	if c := (Crossing{a, b}); okA && okB && !slices.Contains(ct.seen, c) {
		ct.seen = append(ct.seen, c)
	}
}

// result is the crossings seen, in order.
func (ct *crossingTrace) result() []Crossing {
	out := slices.Clone(ct.seen)
	sortCrossings(out)
	return out
}

// crossingDistance counts the directions in one of a and b (both
// sorted) but not the other.
func crossingDistance(a, b []Crossing) int {
	n := 0
	for _, c := range a {
		if !slices.Contains(b, c) {
			n++
		}
	}
	for _, c := range b {
		if !slices.Contains(a, c) {
			n++
		}
	}
	return n
}

// routeSteer makes a twin replay's engines hold, when the fault
// strikes, the routes the lab's daemons held just before it (next, from
// routesBefore): it is a twin.Scenario.Drop that, until the fault, drops
// the route requests and replies that would teach a node a route by
// another neighbour than its next hop in the lab's tables. A node learns
// its route to a request's originator from the first copy of the request
// it processes, and its route to a reply's destination from the reply;
// which copy or reply comes first the daemons decided by timing (HELLO
// phases, the links' small differences, a retransmitted TCP segment),
// which the twin cannot know, but the routes they ended with are known,
// and are the run's starting state, not its outcome. A node that only
// ever hears the other way (the lab's routes came from an order of
// discoveries the replay does not repeat) is let through after
// steerGrace, so that steering delays a discovery and never makes it
// fail. The engines are untouched: the twin's network drops the frames,
// as a lossy link would, and only before the fault.
type routeSteer struct {
	next  [][]int
	index map[protocols.Addr]int
	until time.Duration
	rreq  protocols.RREQ
	rrep  protocols.RREP
	// refusing holds, for a node and a route's destination, when the
	// node's first refused frame about it since the last one let
	// through came.
	refusing map[[2]int]time.Duration
	// dropped counts the frames dropped, conceded those let through
	// after steerGrace.
	dropped, conceded int
}

// steerGrace is how long a node's route to one destination is steered
// against the frames that reach it: two expanding-ring attempts of the
// local profile and more, well under a discovery's last retry.
const steerGrace = 200 * time.Millisecond

// newRouteSteer steers towards next (next[a][b], a's next hop towards
// b, -1 for none) until the twin's time until.
func newRouteSteer(top *twin.Topology, next [][]int, until time.Duration) *routeSteer {
	rs := &routeSteer{next: next, index: make(map[protocols.Addr]int, len(top.Nodes)), until: until,
		refusing: map[[2]int]time.Duration{}}
	for i, n := range top.Nodes {
		rs.index[twin.NodeAddr(n.Name)] = i
	}
	return rs
}

// drop is a twin.Scenario.Drop.
func (rs *routeSteer) drop(ev twin.TraceEvent) bool {
	if ev.At >= rs.until || ev.Node < 0 || ev.Node >= len(rs.next) {
		return false
	}
	var about protocols.Addr // the destination of the route the frame teaches
	switch t, err := protocols.PeekType(ev.Frame); {
	case err != nil:
		return false
	case t == protocols.TypeRREQ:
		if rs.rreq.Decode(ev.Frame) != nil {
			return false
		}
		about = rs.rreq.Orig
	case t == protocols.TypeRREP:
		if rs.rrep.Decode(ev.Frame) != nil {
			return false
		}
		about = rs.rrep.Dst
	default:
		return false
	}
	dst, ok := rs.index[about]
	if !ok || dst >= len(rs.next[ev.Node]) {
		return false
	}
	want := rs.next[ev.Node][dst]
	if want < 0 {
		return false
	}
	k := [2]int{ev.Node, dst}
	if want == ev.Peer {
		delete(rs.refusing, k)
		return false
	}
	since, ok := rs.refusing[k]
	if !ok {
		since = ev.At
		rs.refusing[k] = since
	}
	if ev.At-since >= steerGrace {
		rs.conceded++
		return false
	}
	rs.dropped++
	return true
}
