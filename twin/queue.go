package twin

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// eventKind says what an event does when its time comes.
type eventKind uint8

const (
	// evFrame: a frame from peer arrives at node over link aux.
	evFrame eventKind = iota + 1
	// evTick: the node's timer is due.
	evTick
	// evFlow: flow aux emits its next packet at node.
	evFlow
	// evFault: fault number aux of the scenario happens.
	evFault
	// evNotifyDown: the driver at node sees its link to peer close.
	evNotifyDown
	// evNotifyUp: the driver at node sees its link to peer open.
	evNotifyUp
	// evSample: report progress and check for cancellation.
	evSample
	// evEgress: a frame node held back (a gray fault's delay, or its
	// host's processing time) goes onto its link to peer; epoch is the
	// node's restart count when it was held.
	evEgress
	// evFaultEnd: gray fault number aux of the scenario ends.
	evFaultEnd
	// evFlap: the link of flap fault number aux changes state.
	evFlap
	// evTelemetry: node publishes its telemetry message.
	evTelemetry
	// evGossip: the telemetry message in frame, from node, reaches the
	// view.
	evGossip
	// evObserve: the view is read into a sample.
	evObserve
	// evCycle: the healing engine of node runs its cycle.
	evCycle
	// evHeal: the healing engine of node is due (a timer between two
	// cycles).
	evHeal
	// evVote: the quarantine proposal number aux is decided.
	evVote
	// evAction: planned action number aux is carried out (a
	// rehearsal's plan).
	evAction
	// evEcho: node answers the flow packet whose answer is frame, to
	// peer (Scenario.Echo).
	evEcho
)

var eventNames = [...]string{
	evFrame:      "frame",
	evTick:       "tick",
	evFlow:       "flow",
	evEcho:       "echo",
	evFault:      "fault",
	evNotifyDown: "link-down",
	evNotifyUp:   "link-up",
	evSample:     "sample",
	evEgress:     "egress",
	evFaultEnd:   "fault-end",
	evFlap:       "flap",
	evTelemetry:  "telemetry",
	evGossip:     "gossip",
	evObserve:    "observe",
	evCycle:      "cycle",
	evHeal:       "heal",
	evVote:       "vote",
	evAction:     "action",
}

func (k eventKind) String() string {
	if int(k) < len(eventNames) && eventNames[k] != "" {
		return eventNames[k]
	}
	return "unknown"
}

// event is one entry of the simulator's queue. Events are ordered by time,
// then by seq, the order in which they were scheduled, so that two events
// at the same instant always run in the same order.
type event struct {
	at    int64  // virtual nanoseconds since the start
	seq   uint64 // scheduling order, set by pop
	frame []byte
	node  int32
	peer  int32
	aux   int32
	epoch uint32 // link epoch at send time, for evFrame and the notifications
	buf   uint32 // the frame's buffer in sim.frames, 0 if none
	kind  eventKind
}

// arity is the number of children of a node of the event heap: four
// halve the depth of a binary heap, and with it the cache misses of a pop.
const arity = 4

// eventKey is an event's place in the heap: its time, then its
// scheduling number in the high half of ord, its slot in the low half.
// Sixteen bytes, so that the four children of a heap node share one
// cache line; the events themselves stay put in their slots. A tick, the
// commonest event after frames and the longest to wait, needs no slot:
// tickKey in the low half marks one, with its node in the bits below.
type eventKey struct {
	at  int64
	ord uint64
}

const tickKey = 1 << 31

func (a eventKey) before(b eventKey) bool {
	return a.at < b.at || (a.at == b.at && a.ord < b.ord)
}

// heapBase is where the root sits in a keyHeap: three unused entries
// before it put every group of four siblings at a multiple of 64 bytes
// from the start of the array.
const heapBase = arity - 1

// keyHeap is a 4-ary min-heap of event keys.
type keyHeap struct {
	h []eventKey // h[heapBase:] is the heap
}

func (kh *keyHeap) len() int { return max(len(kh.h)-heapBase, 0) }

// top returns the earliest key; the heap must not be empty.
func (kh *keyHeap) top() eventKey { return kh.h[heapBase] }

func (kh *keyHeap) push(k eventKey) {
	if kh.h == nil {
		kh.h = make([]eventKey, heapBase, 1024)
	}
	kh.h = append(kh.h, k)
	i := len(kh.h) - 1 - heapBase
	for i > 0 {
		p := (i - 1) / arity
		pk := kh.h[heapBase+p]
		if !k.before(pk) {
			break
		}
		kh.h[heapBase+i] = pk
		i = p
	}
	kh.h[heapBase+i] = k
}

// pop removes the earliest key.
func (kh *keyHeap) pop() {
	last := len(kh.h) - 1
	k := kh.h[last]
	kh.h = kh.h[:last]
	n := last - heapBase
	if n == 0 {
		return
	}
	i := 0
	for {
		c := arity*i + 1
		if c >= n {
			break
		}
		m := c
		mk := kh.h[heapBase+c]
		for j := c + 1; j < min(c+arity, n); j++ {
			if jk := kh.h[heapBase+j]; jk.before(mk) {
				m, mk = j, jk
			}
		}
		if !mk.before(k) {
			break
		}
		kh.h[heapBase+i] = mk
		i = m
	}
	kh.h[heapBase+i] = k
}

// nearWindow splits the queue: events due within it of the time last
// popped go to the near heap, the others to the far one. Frames, most of
// the events, arrive within a few milliseconds and so churn a small heap
// that stays in cache, while ticks, a HELLO interval ahead, wait in the
// far heap; which heap holds an event changes only the cost of a pop,
// never its result.
const nearWindow = int64(20 * time.Millisecond)

// eventQueue is a priority queue of events in two 4-ary heaps of keys
// over a slab of events, so that a million pending events cost no
// allocations beyond the backing arrays and a pop moves 16-byte keys,
// not whole events.
type eventQueue struct {
	near, far keyHeap
	slab      []event
	free      []uint32
	seq       uint64 // last scheduling number handed out
	now       int64  // time of the last event popped
}

func (q *eventQueue) len() int { return q.near.len() + q.far.len() }

// push schedules e, stamping it with the next scheduling number.
func (q *eventQueue) push(e event) {
	var slot uint32
	if n := len(q.free); n > 0 {
		slot = q.free[n-1]
		q.free = q.free[:n-1]
		q.slab[slot] = e
	} else {
		slot = uint32(len(q.slab))
		q.slab = append(q.slab, e)
	}
	q.pushKey(e.at, slot)
}

// pushTick schedules a tick of node at, as push(event{at: at, kind:
// evTick, node: node, peer: -1}) would.
func (q *eventQueue) pushTick(at int64, node int32) { q.pushKey(at, tickKey|uint32(node)) }

func (q *eventQueue) pushKey(at int64, low uint32) {
	if q.seq == math.MaxUint32 {
		q.renumber()
	}
	q.seq++
	k := eventKey{at: at, ord: q.seq<<32 | uint64(low)}
	if at-q.now < nearWindow {
		q.near.push(k)
	} else {
		q.far.push(k)
	}
}

// renumber gives the pending events scheduling numbers 1 to n in their
// order, before the numbers would overflow their 32 bits (after four
// billion events); a sorted array is a heap.
func (q *eventQueue) renumber() {
	byKey := func(a, b eventKey) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.ord, b.ord)
	}
	near, far := q.near.h[min(heapBase, len(q.near.h)):], q.far.h[min(heapBase, len(q.far.h)):]
	slices.SortFunc(near, byKey)
	slices.SortFunc(far, byKey)
	// Merge the two orders to number them as one.
	var seq uint64
	for i, j := 0, 0; i < len(near) || j < len(far); {
		seq++
		if j == len(far) || (i < len(near) && near[i].before(far[j])) {
			near[i].ord = seq<<32 | near[i].ord&math.MaxUint32
			i++
		} else {
			far[j].ord = seq<<32 | far[j].ord&math.MaxUint32
			j++
		}
	}
	q.seq = seq
}

// nextAt returns the time of the earliest event; the queue must not be
// empty.
func (q *eventQueue) nextAt() int64 {
	if q.far.len() == 0 || (q.near.len() > 0 && q.near.top().before(q.far.top())) {
		return q.near.top().at
	}
	return q.far.top().at
}

// pop removes and returns the earliest event.
func (q *eventQueue) pop() event {
	var top eventKey
	if q.far.len() == 0 || (q.near.len() > 0 && q.near.top().before(q.far.top())) {
		top = q.near.top()
		q.near.pop()
	} else {
		top = q.far.top()
		q.far.pop()
	}
	q.now = top.at
	low := uint32(top.ord)
	if low&tickKey != 0 {
		return event{at: top.at, seq: top.ord >> 32, kind: evTick, node: int32(low &^ tickKey), peer: -1}
	}
	e := q.slab[low]
	q.slab[low] = event{} // drop the frame for the collector
	q.free = append(q.free, low)
	e.seq = top.ord >> 32
	return e
}

// upcoming returns the keys of the next two events, in order, and how
// many of the two there are: the earlier of the heap tops, then the
// earliest of the other top and the winner's root's children.
func (q *eventQueue) upcoming() (first, second eventKey, n int) {
	a, b := &q.near, &q.far
	switch {
	case a.len() == 0 && b.len() == 0:
		return first, second, 0
	case a.len() == 0 || (b.len() > 0 && b.top().before(a.top())):
		a, b = b, a
	}
	first = a.top()
	if b.len() > 0 {
		second, n = b.top(), 2
	}
	for j := 1; j <= arity && j < a.len(); j++ {
		if k := a.h[heapBase+j]; n < 2 || k.before(second) {
			second, n = k, 2
		}
	}
	return first, second, max(n, 1)
}

// target returns the node an event will reach and the link direction
// its frame arrives on (-1 for an event other than a frame).
func (q *eventQueue) target(k eventKey) (node, dir int32) {
	low := uint32(k.ord)
	if low&tickKey != 0 {
		return int32(low &^ tickKey), -1
	}
	e := &q.slab[low]
	if e.kind != evFrame {
		return e.node, -1
	}
	return e.node, e.aux
}
