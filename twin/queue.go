package twin

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
	at    int64 // virtual nanoseconds since the start
	seq   uint64
	frame []byte
	node  int32
	peer  int32
	aux   int32
	epoch uint32 // link epoch at send time, for evFrame
	kind  eventKind
}

func (a *event) before(b *event) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

// arity is the number of children of a node of the event heap: four
// halve the depth of a binary heap, and with it the cache misses of a pop.
const arity = 4

// eventQueue is a 4-ary min-heap of events held by value, so that a
// million pending events cost no allocations beyond the backing array.
type eventQueue struct {
	h   []event
	seq uint64
}

func (q *eventQueue) len() int { return len(q.h) }

// push schedules e, stamping it with the next sequence number.
func (q *eventQueue) push(e event) {
	q.seq++
	e.seq = q.seq
	q.h = append(q.h, e)
	i := len(q.h) - 1
	for i > 0 {
		p := (i - 1) / arity
		if !q.h[i].before(&q.h[p]) {
			break
		}
		q.h[i], q.h[p] = q.h[p], q.h[i]
		i = p
	}
}

// peek returns the earliest event without removing it.
func (q *eventQueue) peek() *event { return &q.h[0] }

// pop removes and returns the earliest event.
func (q *eventQueue) pop() event {
	top := q.h[0]
	last := len(q.h) - 1
	q.h[0] = q.h[last]
	q.h[last] = event{}
	q.h = q.h[:last]
	i, n := 0, last
	for {
		c := arity*i + 1
		if c >= n {
			break
		}
		m := c
		for k := c + 1; k < min(c+arity, n); k++ {
			if q.h[k].before(&q.h[m]) {
				m = k
			}
		}
		if !q.h[m].before(&q.h[i]) {
			break
		}
		q.h[i], q.h[m] = q.h[m], q.h[i]
		i = m
	}
	return top
}
