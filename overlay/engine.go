package overlay

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Errors returned by the engine. Decode errors from Step are the
// *protocols.FrameError values of package protocols.
var (
	// ErrNotNeighbor: Step got a frame from a node that is not (or no
	// longer) a neighbor: LinkUp was never called for it, or LinkDown was.
	ErrNotNeighbor = errors.New("overlay: frame from a node that is not a neighbor")
	// ErrPayloadTooLarge: Send got more than protocols.MaxPayloadSize bytes.
	ErrPayloadTooLarge = errors.New("overlay: payload too large")
	// ErrQueueFull: Send found no route and the discovery buffer for the
	// destination (MaxQueuedPerDestination) or for all destinations
	// (MaxQueuedBytes) is full. The payload was not taken.
	ErrQueueFull = errors.New("overlay: discovery queue full")
	// ErrUnreachable: Send cannot reach the destination at all: it is the
	// zero address, or no neighbor link is alive.
	ErrUnreachable = errors.New("overlay: destination unreachable")
	// ErrNoHeadroom: SendFrame got a frame shorter than a DATA header.
	ErrNoHeadroom = errors.New("overlay: no room for the DATA header")
	// ErrNoRoute: Answer found neither a valid route to the destination
	// nor a discovery under way for it, and does not start one.
	ErrNoRoute = errors.New("overlay: no route")
)

// Engine is one node's routing engine: a deterministic state machine with
// no goroutines, clock or I/O of its own. See the package documentation
// for the caller's duties. An Engine is not safe for concurrent use.
type Engine struct {
	// What a HELLO, the most frequent input by far, reads of the engine
	// fits in its first two cache lines (TestLayout): with thousands of
	// engines in one process (the twin) each further line an input
	// touches is a miss. The first line:
	base   time.Time // the time.Time of instant 0 (see Engine.at)
	timers timerQueue
	// The second: deadlines, copies of the Config fields a HELLO needs,
	// HELLO counts (a HELLO is always HelloSize bytes), flags.
	helloAt                    instant // queued deadline of the next HELLO round
	liveAt                     instant // queued deadline of a liveness check between rounds
	helloInterval, hopCost     time.Duration
	helloLife                  time.Duration // min(ActiveRouteTimeout, MyRouteTimeout): what a HELLO gives its route
	hellosSent, hellosReceived uint64
	pending                    int32 // entries in ready, for HasReady
	hasBase                    bool
	wallBase                   bool // base has no monotonic reading
	avoiding                   bool // len(avoidList) > 0

	ready Ready
	nbrs  neighborTable
	// frames counts the frames of the other packet types, for Stats.
	frames [protocols.TypeCount]frameCount
	arena  arena
	// hellos are HELLO frames the caller released (Release), reused
	// before the arena is asked for more.
	hellos [][]byte
	seenQ  seenQueue
	// avoidList is the avoid list in address order, for RREQs.
	avoidList []protocols.Addr
	ndisc     int // len(disc)

	cfg      Config
	self     protocols.Addr
	keys     Keys
	ownc     *ownClaim // the claim to seq, made when first needed
	rng      *rand.Rand
	instance uint32 // random per engine, carried in HELLOs
	seq      uint32 // own destination sequence number
	rreqID   uint32

	routes map[protocols.Addr]*route
	seen   map[seenKey]seenRREQ
	claims claimCache
	disc   map[protocols.Addr]*discovery
	queued int // payload bytes buffered across discoveries
	avoid  map[protocols.Addr]struct{}

	// Fair sharing (share.go): what each neighbor holds, the node's own
	// class of discoveries, route entries charged to neighbors, the
	// classes with discoveries waiting for a slot (served round robin
	// from nextClass), discoveries under way, and those waiting for an
	// RREQ token in order.
	shares    map[protocols.Addr]*share
	local     share
	charged   int
	classes   []*share
	nextClass int
	active    int
	tokenQ    []*discovery
	tokenAt   instant // queued deadline of the next RREQ token, with tokenQ not empty

	rerrAt    instant // queued deadline of the next RERR token
	rerrCount int     // RERR entries waiting on neighbors
	rreqLimit limiter
	fwdSpare  limiter // the spare half of the forward budget
	rerrLimit limiter

	stats Stats // all but the frame counts

	// Decoders reused by Step, so that decoding does not allocate.
	data protocols.Data
	// dataFrame is the caller's DATA frame while Step processes it, nil
	// otherwise: a relay rewrites it in place and sends it on (forward).
	dataFrame []byte
	rreq      protocols.RREQ
	rrep      protocols.RREP
	rerr      protocols.RERR
	// scratch holds routes being visited in address order.
	scratch []*route
}

// frameCount counts the frames of one packet type.
type frameCount struct{ sent, received, sentBytes, receivedBytes uint64 }

// NewEngine returns the engine of the node that owns keys: its address
// is keys.Verifier.Owner of its signer's public key. rng supplies HELLO
// jitter, the HELLO instance, the first RREQ ID and the secret seeds of
// the hash chains of its route claims; in production it must be a
// cryptographically secure generator seeded from crypto/rand
// (rand.NewChaCha8), in tests a fixed seed will do. The engine owns rng
// from now on.
func NewEngine(cfg Config, keys Keys, rng *rand.Rand) (*Engine, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if keys.Signer == nil || keys.Verifier == nil {
		return nil, fmt.Errorf("%w: no signer or verifier", ErrInvalidConfig)
	}
	pub := keys.Signer.PublicKey()
	self := keys.Verifier.Owner(&pub)
	if self.IsZero() {
		return nil, fmt.Errorf("%w: the signer's key owns no address", ErrInvalidConfig)
	}
	if rng == nil {
		return nil, fmt.Errorf("%w: nil rng", ErrInvalidConfig)
	}
	return &Engine{
		helloInterval: cfg.HelloInterval,
		hopCost:       cfg.HopCost,
		helloLife:     min(cfg.ActiveRouteTimeout, cfg.MyRouteTimeout),
		timers:        timerQueue{top: never},
		cfg:           cfg,
		self:          self,
		keys:          keys,
		rng:           rng,
		instance:      rng.Uint32(),
		seq:           1,
		rreqID:        rng.Uint32(),
		routes:        make(map[protocols.Addr]*route),
		seen:          make(map[seenKey]seenRREQ),
		claims:        claimCache{max: cfg.ClaimCache},
		disc:          make(map[protocols.Addr]*discovery),
		avoid:         make(map[protocols.Addr]struct{}),
		shares:        make(map[protocols.Addr]*share),
		rreqLimit:     newLimiter(cfg.RREQRateLimit, cfg.RREQBurst),
		fwdSpare:      newSpareLimiter(cfg.ForwardRateLimit, cfg.ForwardBurst),
		rerrLimit:     newLimiter(cfg.RERRRateLimit, cfg.RERRBurst),
		arena:         newArena(cfg.FrameChunk),
	}, nil
}

// Addr returns the node's own address.
func (e *Engine) Addr() protocols.Addr { return e.self }

// Config returns the engine's configuration.
func (e *Engine) Config() Config { return e.cfg }

// Seq returns the node's own destination sequence number.
func (e *Engine) Seq() uint32 { return e.seq }

// Step processes a frame received from the neighbor from. It returns the
// decode error (a *protocols.FrameError) for a malformed frame and
// ErrNotNeighbor for a frame from a node that is not a neighbor; the frame
// is then ignored and the state unchanged. Step does not modify or retain
// frame.
func (e *Engine) Step(when time.Time, from protocols.Addr, frame []byte) error {
	n := e.nbrs.get(from)
	if n == nil {
		return fmt.Errorf("%w: %s", ErrNotNeighbor, from.Short())
	}
	return e.step(when, n, frame)
}

// StepLink is Step for the neighbor whose handle Link returned, without
// looking it up: a driver that keeps the handle with the link's stream
// saves a table lookup per frame. A handle from before the neighbor's
// LinkDown, or from another engine, gets ErrNotNeighbor.
func (e *Engine) StepLink(when time.Time, l *Link, frame []byte) error {
	n := (*neighbor)(l)
	if n == nil || n.owner != e {
		var addr protocols.Addr
		if n != nil {
			addr = n.addr
		}
		return fmt.Errorf("%w: %s", ErrNotNeighbor, addr.Short())
	}
	return e.step(when, n, frame)
}

func (e *Engine) step(when time.Time, n *neighbor, frame []byte) error {
	typ, err := protocols.PeekType(frame)
	if err != nil {
		e.stats.DecodeErrors++
		return err
	}
	now := e.at(when)
	var forged error // a frame that decodes but whose claim does not hold
	switch typ {
	case protocols.TypeData:
		if err = e.data.Decode(frame); err == nil {
			e.heard(now, n)
			e.dataFrame = frame
			e.stepData(now, n, &e.data)
			e.dataFrame = nil
		}
	case protocols.TypeRREQ:
		if err = e.rreq.Decode(frame); err == nil {
			e.heard(now, n)
			forged = e.stepRREQ(now, n, &e.rreq)
		}
	case protocols.TypeRREP:
		if err = e.rrep.Decode(frame); err == nil {
			e.heard(now, n)
			forged = e.stepRREP(now, n, &e.rrep)
		}
	case protocols.TypeRERR:
		if err = e.rerr.Decode(frame); err == nil {
			e.heard(now, n)
			e.stepRERR(now, n, &e.rerr)
		}
	case protocols.TypeHello:
		var h protocols.Hello
		if err = h.Decode(frame); err == nil {
			e.stepHello(now, n, &h)
		}
	}
	if err != nil {
		e.stats.DecodeErrors++
		return err
	}
	if typ == protocols.TypeHello {
		e.hellosReceived++
		return nil
	}
	c := &e.frames[typ]
	c.received++
	c.receivedBytes += uint64(len(frame))
	return forged
}

// Tick fires every timer due at or before now: HELLO rounds, neighbor
// liveness, route expiry and deletion, discovery timeouts and retries,
// rate-limit waits. Its cost is proportional to the number of timers due,
// not to the size of the tables.
func (e *Engine) Tick(when time.Time) {
	now := e.at(when)
	e.expireSeen(now)
	for e.timers.top <= now {
		t := e.timers.pop()
		switch t.kind {
		case timerHello:
			if t.at == e.helloAt {
				e.helloAt = 0
				e.helloRound(now)
			}
		case timerLiveness:
			if t.at == e.liveAt {
				e.liveAt = 0
				e.armLiveness(e.checkLiveness(now))
			}
		case timerRoute:
			if r := t.r; t.at == r.timerAt {
				r.timerAt = 0
				e.expireRoute(now, r)
			}
		case timerDiscovery:
			if d := t.d; t.at == d.timerAt {
				d.timerAt = 0
				e.discoveryTimeout(now, d)
			}
		case timerRERR:
			if t.at == e.rerrAt {
				e.rerrAt = 0
				e.flushRERR(now)
			}
		case timerToken:
			if t.at == e.tokenAt {
				e.tokenAt = 0
				e.serveTokens(now)
			}
		}
	}
}

// NextDeadline returns the earliest time at which Tick has work to do,
// and the zero time if there is none until the next input. Calling Tick
// earlier or more often is harmless; a driver may also tick periodically
// (every HelloInterval/4, say) instead. Expired duplicate-suppression
// entries need no deadline: they count as gone from their expiry on, and
// the next Tick frees them.
func (e *Engine) NextDeadline() time.Time {
	if e.timers.top == never {
		return time.Time{}
	}
	return e.time(e.timers.top)
}

// Send queues payload for dst. With a valid route the DATA packet is in
// Ready at once; otherwise the engine starts (or joins) a route discovery
// and buffers the payload, which leaves in a later Ready or is reported
// dropped by an EventDiscoveryFailed. Send copies payload. A payload to
// the node itself is delivered locally with Hops 0.
func (e *Engine) Send(when time.Time, dst protocols.Addr, payload []byte) error {
	return e.originate(when, dst, payload, nil, true)
}

// SendFrame is Send for a payload at frame[protocols.DataHeaderSize:],
// the bytes before it room for the DATA header. With a valid route the
// engine writes the header into that room and the Outbound in Ready
// holds frame itself: no copy of the payload (the caller's duties,
// item 4, say who owns frame then). Otherwise, and for a payload to the
// node itself, it is Send of the payload, which copies it, and frame is
// the caller's again when SendFrame returns.
func (e *Engine) SendFrame(when time.Time, dst protocols.Addr, frame []byte) error {
	if len(frame) < protocols.DataHeaderSize {
		return fmt.Errorf("send frame of %d bytes: %w", len(frame), ErrNoHeadroom)
	}
	return e.originate(when, dst, frame[protocols.DataHeaderSize:], frame, true)
}

// Answer is Send for a payload that answers a source this node has not
// authenticated, such as an end-to-end channel's reply to a first
// handshake message or its notice about a session it does not hold: the
// source address of DATA is not authenticated, so a node must not start
// route discoveries because such DATA arrived. Answer sends over a valid
// route, or buffers the payload in a discovery already under way for
// dst, and otherwise refuses it with ErrNoRoute.
func (e *Engine) Answer(when time.Time, dst protocols.Addr, payload []byte) error {
	return e.originate(when, dst, payload, nil, false)
}

// originate is Send, and with discover unset Answer; frame, when set, is
// SendFrame's, payload its tail.
func (e *Engine) originate(when time.Time, dst protocols.Addr, payload, frame []byte, discover bool) error {
	op := "send"
	if !discover {
		op = "answer"
	}
	switch {
	case len(payload) > protocols.MaxPayloadSize:
		return fmt.Errorf("%s %d bytes: %w", op, len(payload), ErrPayloadTooLarge)
	case dst.IsZero():
		return fmt.Errorf("%s to the zero address: %w", op, ErrUnreachable)
	case dst == e.self:
		// The payload is the caller's again when Send returns.
		e.deliver(e.self, protocols.Addr{}, append(e.arena.alloc(len(payload)), payload...), 0)
		return nil
	}
	now := e.at(when)
	if r := e.routes[dst]; r != nil && r.valid {
		e.stats.Originated++
		r.sentAt = now
		if frame != nil {
			p := protocols.Data{TTL: uint8(e.cfg.DataTTL), Src: e.self, Dst: dst}
			if _, err := p.AppendBinary(frame[:0]); err == nil { // the header only
				e.sentData(now, r, e.self, frame[:protocols.DataHeaderSize+len(payload)])
				return nil
			}
		}
		e.sendData(now, r, e.self, uint8(e.cfg.DataTTL), 0, payload)
		return nil
	}
	if discover && !e.anyAlive() {
		return fmt.Errorf("%s to %s: no neighbor: %w", op, dst.Short(), ErrUnreachable)
	}
	d := e.disc[dst]
	switch {
	case d == nil && !discover:
		e.stats.Unanswered++
		return fmt.Errorf("%s to %s: %w", op, dst.Short(), ErrNoRoute)
	case d == nil:
		// The byte bound holds for a first payload too: each new
		// destination must not buy its own.
		if e.queued+len(payload) > e.cfg.MaxQueuedBytes {
			return fmt.Errorf("%s to %s: %w", op, dst.Short(), ErrQueueFull)
		}
		if d = e.startDiscovery(now, dst, ReasonSend, &e.local); d == nil {
			return fmt.Errorf("%s to %s: too many discoveries: %w", op, dst.Short(), ErrQueueFull)
		}
	case !e.canQueue(d, len(payload)):
		return fmt.Errorf("%s to %s: %w", op, dst.Short(), ErrQueueFull)
	}
	e.stats.Originated++
	e.enqueue(d, e.self, uint8(e.cfg.DataTTL), 0, payload)
	return nil
}

// Rediscover starts a discovery for dst even while a route to it is
// valid (a refresh: only an answer newer than the route ends it, so the
// request reaches dst itself, which so learns a route back), unless one
// is under way. For a driver whose end-to-end peer does not answer: a
// node that learned its route to dst as a relay has never sent dst a
// request, and dst may have no way back to it.
func (e *Engine) Rediscover(when time.Time, dst protocols.Addr) {
	if dst.IsZero() || dst == e.self || e.disc[dst] != nil || !e.anyAlive() {
		return
	}
	e.startDiscovery(e.at(when), dst, ReasonRefresh, &e.local)
}

// SetAvoid replaces the avoid list: nodes (typically marked suspect by the
// healing loop) to route around when another route exists. This node's
// RREQs carry the list (up to protocols.MaxRREQAvoid nodes, in address
// order), so listed nodes neither forward nor answer them, except in the
// last retry of a discovery; and links to listed neighbors cost
// AvoidPenalty more. Only nodes new to the list set off rediscoveries:
// every valid route whose next hop is one of them, and every route that
// carried this node's own DATA in the last ActiveRouteTimeout and is
// long enough to cross one (three hops or more: a route of one or two
// hops crosses no node but its next hop); the old route stays in use
// until a better one arrives. A node leaving the list sets off nothing:
// the routes found around it still work (rediscovering them would lead
// the flows back through a node just avoided, and a list that changes
// on every node at once would flood the mesh with requests). Calling
// SetAvoid again with the same set does nothing.
func (e *Engine) SetAvoid(when time.Time, addrs []protocols.Addr) {
	now := e.at(when)
	set := make(map[protocols.Addr]struct{}, len(addrs))
	added := false
	for _, a := range addrs {
		if a != e.self && !a.IsZero() {
			set[a] = struct{}{}
			if _, ok := e.avoid[a]; !ok {
				added = true
			}
		}
	}
	if maps.Equal(set, e.avoid) {
		return
	}
	old := e.avoid
	e.avoid = set
	e.avoidList = slices.AppendSeq(e.avoidList[:0], maps.Keys(set))
	e.avoiding = len(e.avoidList) > 0
	slices.SortFunc(e.avoidList, func(a, b protocols.Addr) int { return bytes.Compare(a[:], b[:]) })
	if !added {
		return
	}
	for _, r := range e.sortedRoutes(func(r *route) bool {
		if !r.valid {
			return false
		}
		if _, ok := e.avoid[r.dst]; ok {
			return false
		}
		_, nextAvoided := e.avoid[r.next]
		_, nextWas := old[r.next]
		if nextAvoided && !nextWas {
			return true
		}
		return r.hops >= 3 && e.recentlySent(now, r)
	}) {
		if e.disc[r.dst] == nil {
			e.startDiscovery(now, r.dst, ReasonRefresh, &e.local)
		}
	}
}

// HasReady reports whether Ready has anything for the caller.
func (e *Engine) HasReady() bool {
	return e.pending > 0
}

// Ready returns what the caller must do; see the package documentation.
func (e *Engine) Ready() Ready { return e.ready }

// Advance tells the engine that the caller has carried out the last Ready.
func (e *Engine) Advance() {
	clear(e.ready.Messages)
	clear(e.ready.Deliveries)
	e.ready.Messages = e.ready.Messages[:0]
	e.ready.Deliveries = e.ready.Deliveries[:0]
	e.ready.Events = e.ready.Events[:0]
	e.pending = 0
}

// Routes returns the routing table, valid and invalid entries, ordered by
// destination.
func (e *Engine) Routes() []RouteInfo {
	rs := e.sortedRoutes(func(*route) bool { return true })
	out := make([]RouteInfo, len(rs))
	for i, r := range rs {
		out[i] = r.info(e)
	}
	return out
}

// Route returns the routing table entry for dst, if there is one.
func (e *Engine) Route(dst protocols.Addr) (RouteInfo, bool) {
	r := e.routes[dst]
	if r == nil {
		return RouteInfo{}, false
	}
	return r.info(e), true
}

// NextHop returns the neighbor DATA for dst goes to, if the route to dst
// is valid. It does not allocate.
func (e *Engine) NextHop(dst protocols.Addr) (protocols.Addr, bool) {
	if r := e.routes[dst]; r != nil && r.valid {
		return r.next, true
	}
	return protocols.Addr{}, false
}

// Neighbors returns the neighbor links in the order they came up.
func (e *Engine) Neighbors() []NeighborInfo {
	out := make([]NeighborInfo, len(e.nbrs.list))
	for i, n := range e.nbrs.list {
		out[i] = n.info(e)
	}
	return out
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	st := e.stats
	frames := e.frames
	frames[protocols.TypeHello] = frameCount{sent: e.hellosSent, received: e.hellosReceived,
		sentBytes: e.hellosSent * protocols.HelloSize, receivedBytes: e.hellosReceived * protocols.HelloSize}
	for t, c := range frames {
		st.Sent[t], st.Received[t], st.SentBytes[t], st.ReceivedBytes[t] = c.sent, c.received, c.sentBytes, c.receivedBytes
	}
	return st
}

// event appends an event to Ready.
func (e *Engine) event(ev Event) {
	e.ready.Events = append(e.ready.Events, ev)
	e.pending++
}

// out appends a frame for one neighbor to Ready.
func (e *Engine) out(to protocols.Addr, typ protocols.Type, frame []byte) {
	e.ready.Messages = append(e.ready.Messages, Outbound{To: to, Frame: frame})
	e.pending++
	if typ == protocols.TypeHello {
		e.hellosSent++
		return
	}
	c := &e.frames[typ]
	c.sent++
	c.sentBytes += uint64(len(frame))
}

// deliver hands a payload from src, received from the neighbour via, to
// the local application, without copying it: a DATA packet's payload is
// the stepped frame's own bytes (the caller's duties, item 2).
func (e *Engine) deliver(src, via protocols.Addr, payload []byte, hops int) {
	e.ready.Deliveries = append(e.ready.Deliveries, Delivery{From: src, Via: via, Payload: payload, Hops: hops})
	e.pending++
	e.stats.Delivered++
}

// drop records a dropped DATA packet for dst received from prev.
func (e *Engine) drop(reason Reason, dst, prev protocols.Addr, hops int) {
	e.stats.Dropped[reason]++
	e.event(Event{Kind: EventDrop, Reason: reason, Peer: dst, Via: prev, Hops: hops})
}

// sortedRoutes returns the routes for which keep is true, ordered by
// destination, in a slice reused by the next call.
func (e *Engine) sortedRoutes(keep func(*route) bool) []*route {
	rs := e.scratch[:0]
	for _, r := range e.routes {
		if keep(r) {
			rs = append(rs, r)
		}
	}
	slices.SortFunc(rs, func(a, b *route) int { return bytes.Compare(a.dst[:], b.dst[:]) })
	e.scratch = rs
	return rs
}

func (e *Engine) anyAlive() bool {
	for _, n := range e.nbrs.list {
		if n.alive {
			return true
		}
	}
	return false
}
