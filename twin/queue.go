package twin

import (
	"cmp"
	"math"
	"slices"
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
)

var eventNames = [...]string{
	evFrame:      "frame",
	evTick:       "tick",
	evFlow:       "flow",
	evFault:      "fault",
	evNotifyDown: "link-down",
	evNotifyUp:   "link-up",
	evSample:     "sample",
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

// heapBase is where the root sits in eventQueue.h: three unused entries
// before it put every group of four siblings at a multiple of 64 bytes
// from the start of the array.
const heapBase = arity - 1

// eventQueue is a 4-ary min-heap of event keys over a slab of events, so
// that a million pending events cost no allocations beyond the backing
// arrays and a pop moves 16-byte keys, not whole events.
type eventQueue struct {
	h    []eventKey // h[heapBase:] is the heap
	slab []event
	free []uint32
	seq  uint64 // last scheduling number handed out
}

func (q *eventQueue) len() int { return max(len(q.h)-heapBase, 0) }

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
	if q.h == nil {
		q.h = make([]eventKey, heapBase, 1024)
	}
	if q.seq == math.MaxUint32 {
		q.renumber()
	}
	q.seq++
	k := eventKey{at: at, ord: q.seq<<32 | uint64(low)}
	q.h = append(q.h, k)
	i := len(q.h) - 1 - heapBase
	for i > 0 {
		p := (i - 1) / arity
		pk := q.h[heapBase+p]
		if !k.before(pk) {
			break
		}
		q.h[heapBase+i] = pk
		i = p
	}
	q.h[heapBase+i] = k
}

// renumber gives the pending events scheduling numbers 1 to n in their
// order, before the numbers would overflow their 32 bits (after four
// billion events); a sorted array is a heap.
func (q *eventQueue) renumber() {
	heap := q.h[heapBase:]
	slices.SortFunc(heap, func(a, b eventKey) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.ord, b.ord)
	})
	for i := range heap {
		heap[i].ord = uint64(i+1)<<32 | heap[i].ord&math.MaxUint32
	}
	q.seq = uint64(len(heap))
}

// nextAt returns the time of the earliest event; the queue must not be
// empty.
func (q *eventQueue) nextAt() int64 { return q.h[heapBase].at }

// pop removes and returns the earliest event.
func (q *eventQueue) pop() event {
	top := q.h[heapBase]
	last := len(q.h) - 1
	k := q.h[last]
	q.h = q.h[:last]
	n := last - heapBase
	if n > 0 {
		i := 0
		for {
			c := arity*i + 1
			if c >= n {
				break
			}
			m := c
			mk := q.h[heapBase+c]
			for j := c + 1; j < min(c+arity, n); j++ {
				if jk := q.h[heapBase+j]; jk.before(mk) {
					m, mk = j, jk
				}
			}
			if !mk.before(k) {
				break
			}
			q.h[heapBase+i] = mk
			i = m
		}
		q.h[heapBase+i] = k
	}
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
