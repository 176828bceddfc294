package e2e

import (
	"bytes"
	"container/list"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Engine errors. Step wraps them (or a pqcsec error) when it refuses a
// message; Send returns them when it refuses a plaintext.
var (
	// ErrTooLarge: a plaintext over MaxPlaintext bytes.
	ErrTooLarge = errors.New("e2e: plaintext too large")
	// ErrSelf: a channel to the node itself (the driver delivers those
	// locally).
	ErrSelf = errors.New("e2e: no channel to self")
	// ErrQueueFull: no session yet and the handshake queue for the
	// destination (MaxQueued) or for all (MaxQueuedBytes) is full.
	ErrQueueFull = errors.New("e2e: channel queue full")
	// ErrTooManyPeers: MaxPeers peers have channel state and none is idle.
	ErrTooManyPeers = errors.New("e2e: too many channel peers")
	// ErrBusy: MaxPending responder handshakes (or four from one peer)
	// are in progress; the first message was ignored.
	ErrBusy = errors.New("e2e: too many handshakes in progress")
	// ErrRateLimited: a fresh handshake init came faster than InitRate
	// (all peers) or PeerInitRate (its source) allow; it is not answered.
	ErrRateLimited = errors.New("e2e: handshake inits over the rate limit")
	// ErrUnexpected: a handshake message that matches no handshake in
	// progress (late, repeated after expiry, or forged).
	ErrUnexpected = errors.New("e2e: unexpected handshake message")
	// ErrUnknownSession: a data message under a session this node does
	// not hold; the sender is told with an unknown-session notice.
	ErrUnknownSession = errors.New("e2e: unknown session")
	// ErrForgedNotice: an unknown-session notice for a live session whose
	// token is not the one the peer sealed for it, or, before the peer's
	// token arrived, one that came while the peer's frames still arrive;
	// the session is kept.
	ErrForgedNotice = errors.New("e2e: unknown-session notice not from the peer")
	// ErrHandshakeTimeout: no reply after HandshakeRetries retries.
	ErrHandshakeTimeout = errors.New("e2e: handshake timed out")
	// ErrAddrMismatch: the authenticated peer of a handshake does not
	// own the mesh address the messages came from, or the peer ID given
	// to Send does not own the destination address.
	ErrAddrMismatch = errors.New("e2e: peer does not own the address")
)

// Engine is the end-to-end layer of one node: for each destination it
// runs the pqcsec handshake inside DATA payloads, holds the plaintexts
// sent meanwhile, seals plaintexts with the session once it is up, opens
// what arrives, retransmits handshake messages, and replaces sessions as
// they age. Relays see only the channel messages, never a key.
//
// Like the routing engine it is a pure state machine: inputs are Send
// (from the application), Step (a payload the routing engine delivered)
// and Tick (time); outputs are in Ready. See the package documentation
// for the caller's duties. It is not safe for concurrent use.
type Engine struct {
	cfg     Config
	self    protocols.Addr
	peers   map[protocols.Addr]*peerState
	recent  list.List // every peer (*peerState), the most recently active first
	pending map[SessionID]*responder
	links   map[protocols.Addr]*linkState
	// lastLink is the link looked up last and its account (link).
	lastLink struct {
		addr  protocols.Addr
		state *linkState
	}
	// opening is the buffer the next data frame is opened into (open):
	// one a frame that failed to open leaves behind, so that forged
	// frames under a live session do not cost an allocation each.
	opening []byte
	queued  int       // plaintext bytes queued across peers
	inits   initLimit // fresh inits answered with a reply, from all sources
	answers initLimit // cookies and notices sent, to all sources
	cookies cookieSecrets
	reset   resetKey
	made    uint64 // responders made, for their order
	timers  deadlines
	ready   Ready
	stats   Stats
}

// peerState is what the engine holds for one remote node.
type peerState struct {
	addr protocols.Addr
	// id is the peer ID the caller named with Send, or the one a session
	// authenticated; "" until either happened.
	id         pqcsec.PeerID
	send       *session   // the session plaintexts are sealed with, nil if none
	sessions   []*session // sessions that open frames, newest first
	init       *initiation
	responders []*responder
	queue      [][]byte // plaintexts waiting for a session
	queueBytes int
	active     time.Time     // last Send to it or authenticated message from it
	noticeAt   time.Time     // last unknown-session notice sent to it
	inits      initLimit     // fresh inits from it
	timerAt    time.Time     // deadline queued in timers
	recent     *list.Element // the peer's place in Engine.recent
}

type session struct {
	id          SessionID
	s           *pqcsec.Session
	peer        *pqcsec.Record
	initiator   bool
	established time.Time
	rekeyAt     time.Time
	retireAt    time.Time         // zero while current
	ini         *pqcsec.Initiator // answers a repeated reply until iniUntil or confirmed
	iniUntil    time.Time
	// token is the reset token the peer sealed for the session (valid
	// if hasToken): an unknown-session notice for it must carry it.
	token    [TokenSize]byte
	hasToken bool
	heardAt  time.Time // last authenticated frame from the peer under it
}

type initiation struct {
	id       SessionID
	h        *pqcsec.Initiator
	msg      []byte // the wrapped first message, sent again on timeout (with the cookie, once one came)
	tries    int
	next     time.Time
	rekey    bool
	cookies  int       // cookies taken for it
	cookieAt time.Time // when a cookie last made it send the init
}

type responder struct {
	id      SessionID
	src     protocols.Addr
	h       *pqcsec.Responder
	reply   []byte // the wrapped reply, sent again for early data
	replyAt time.Time
	expires time.Time
	early   []earlyFrame
	// link is the neighbour the init came over, acct its account;
	// proven says the init echoed a valid cookie; made orders responders
	// by age.
	link   protocols.Addr
	acct   *linkState
	proven bool
	made   uint64
	// open says the responder is unfinished and counted in its link's
	// linkState.open.
	open bool
}

type earlyFrame struct {
	kind  Kind
	frame []byte
	hops  int
}

// NewEngine returns the engine of the node whose mesh address is self.
// Zero durations and limits of cfg take their defaults.
func NewEngine(cfg Config, self protocols.Addr) (*Engine, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if self.IsZero() {
		return nil, fmt.Errorf("%w: zero self address", ErrInvalidConfig)
	}
	return &Engine{
		cfg:     cfg,
		self:    self,
		peers:   make(map[protocols.Addr]*peerState),
		pending: make(map[SessionID]*responder),
		links:   make(map[protocols.Addr]*linkState),
	}, nil
}

// Addr returns the node's own mesh address.
func (e *Engine) Addr() protocols.Addr { return e.self }

// Config returns the engine's configuration, defaults filled in.
func (e *Engine) Config() Config { return e.cfg }

// Send seals plaintext for dst, or queues it and starts a handshake if
// there is no session yet. id is the peer ID that owns dst, which the
// handshake authenticates (ErrAddrMismatch if it does not own dst); it
// may be empty while a session is up or once the engine has learned it. Send copies plaintext. A nil error means
// the engine took it: a packet is in Ready, or it is queued until the
// session is up (an EventFailed reports it dropped if that never
// happens).
func (e *Engine) Send(now time.Time, dst protocols.Addr, id pqcsec.PeerID, plaintext []byte) error {
	return e.send(now, dst, id, plaintext, nil)
}

// Room SendBuffer wants around a plaintext to seal it in place.
const (
	// Headroom is the channel header and the session frame header.
	Headroom = HeaderSize + pqcsec.FrameHeaderSize
	// Tailroom is the session frame's tag.
	Tailroom = pqcsec.FrameTagSize
)

// SendBuffer is Send for a plaintext at buf[Headroom:], with at least
// Tailroom bytes of spare capacity after it. The engine takes buf over
// and, with a session up, seals the plaintext in place, sparing a copy.
func (e *Engine) SendBuffer(now time.Time, dst protocols.Addr, id pqcsec.PeerID, buf []byte) error {
	if len(buf) < Headroom || cap(buf)-len(buf) < Tailroom {
		return fmt.Errorf("e2e: send buffer without room to seal in place")
	}
	return e.send(now, dst, id, buf[Headroom:], buf)
}

// send is Send; with owned set, plaintext lies in it at Headroom and
// belongs to the engine.
func (e *Engine) send(now time.Time, dst protocols.Addr, id pqcsec.PeerID, plaintext, owned []byte) error {
	switch {
	case len(plaintext) > MaxPlaintext:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(plaintext), MaxPlaintext)
	case dst == e.self || dst.IsZero():
		return ErrSelf
	}
	p, err := e.peer(dst)
	if err != nil {
		return err
	}
	if id != "" && id != p.id {
		if a := protocols.AddrFromPeerID([]byte(id)); a != dst {
			return fmt.Errorf("%w: %s is %s, not %s", ErrAddrMismatch, id, a.Short(), dst.Short())
		}
		p.id = id
	}
	e.touch(p, now)
	defer e.schedule(now, p)
	if s := p.send; s != nil {
		var err error
		if owned != nil {
			err = e.sealInPlace(now, p, s, owned)
		} else {
			err = e.seal(now, p, s, plaintext)
		}
		if err == nil {
			e.rekeyIfDue(now, p)
			return nil
		}
		if !errors.Is(err, pqcsec.ErrExhausted) {
			return err
		}
		e.dropSession(p, s)
	}
	if len(p.queue) >= e.cfg.MaxQueued || e.queued+len(plaintext) > e.cfg.MaxQueuedBytes {
		return fmt.Errorf("%w: for %s", ErrQueueFull, dst.Short())
	}
	if p.init == nil && !responding(p) {
		// (While the peer's own handshake runs, its session will do.)
		if err := e.initiate(now, p, false); err != nil {
			return err
		}
	}
	if owned == nil {
		plaintext = bytes.Clone(plaintext)
	}
	p.queue = append(p.queue, plaintext)
	p.queueBytes += len(plaintext)
	e.queued += len(plaintext)
	return nil
}

// Step processes a DATA payload from src that the routing engine
// delivered, having crossed hops links, the last from the neighbour
// link (the zero address if the driver cannot tell). src is what the
// packet claims and nothing proves it before a handshake finishes; link
// is the driver's own knowledge and cannot be forged, so the engine
// shares out by link what it does for unproven sources (fresh
// handshakes, cookies, notices) and binds its cookies to it. Step
// returns the reason a message was refused (also reported as
// EventRejected); the state is then unchanged. Step neither keeps nor
// changes payload: a data message is opened into a buffer of its own
// (the Delivery's Payload), so the caller may reuse payload's buffer
// once Step returns.
func (e *Engine) Step(now time.Time, src, link protocols.Addr, payload []byte, hops int) error {
	var m Envelope
	err := parseEnvelope(payload, &m)
	if err == nil {
		switch m.Kind {
		case KindInit:
			err = e.onInit(now, src, link, &m)
		case KindReply:
			err = e.onReply(now, src, &m)
		case KindFinish:
			err = e.onFinish(now, src, link, &m)
		case KindData, KindToken:
			err = e.onData(now, src, link, &m, hops)
		case KindUnknown:
			err = e.onUnknown(now, src, &m)
		case KindCookie:
			err = e.onCookie(now, src, &m)
		}
	}
	if err != nil {
		e.stats.Rejected++
		e.event(Event{Kind: EventRejected, Peer: src, Err: err})
	}
	return err
}

// Tick fires the timers due at or before now: handshake retransmissions
// and timeouts, session retirement, rekeying, forgetting idle peers.
func (e *Engine) Tick(now time.Time) {
	for {
		d, ok := e.timers.peek()
		if !ok || d.at.After(now) {
			return
		}
		e.timers.pop()
		p := e.peers[d.addr]
		if p == nil || !p.timerAt.Equal(d.at) {
			continue // stale
		}
		p.timerAt = time.Time{}
		if e.tickPeer(now, p) {
			e.schedule(now, p)
		}
	}
}

// NextDeadline is the earliest time Tick has work, zero if none.
func (e *Engine) NextDeadline() time.Time {
	d, _ := e.timers.peek()
	return d.at
}

// HasReady reports whether Ready has anything.
func (e *Engine) HasReady() bool {
	return len(e.ready.Packets)+len(e.ready.Deliveries)+len(e.ready.Events) > 0
}

// Ready returns what the driver must do.
func (e *Engine) Ready() Ready { return e.ready }

// Advance tells the engine its last Ready was carried out.
func (e *Engine) Advance() {
	clear(e.ready.Packets)
	clear(e.ready.Deliveries)
	clear(e.ready.Events)
	e.ready.Packets = e.ready.Packets[:0]
	e.ready.Deliveries = e.ready.Deliveries[:0]
	e.ready.Events = e.ready.Events[:0]
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	st := e.stats
	st.Peers = len(e.peers)
	for _, p := range e.peers {
		st.Queued += len(p.queue)
		st.Sessions += len(p.sessions)
	}
	return st
}

// Sessions lists the sessions held, by peer address then newest first.
func (e *Engine) Sessions() []SessionInfo {
	var out []SessionInfo
	for _, p := range e.peers {
		for _, s := range p.sessions {
			out = append(out, SessionInfo{
				Addr: p.addr, Record: s.peer, ID: s.id, Initiator: s.initiator,
				Sending: s == p.send, Established: s.established, Stats: s.s.Stats(),
			})
		}
	}
	slices.SortStableFunc(out, func(a, b SessionInfo) int {
		if c := bytes.Compare(a.Addr[:], b.Addr[:]); c != 0 {
			return c
		}
		return b.Established.Compare(a.Established)
	})
	return out
}

// peer returns the state of addr, making it if needed.
func (e *Engine) peer(addr protocols.Addr) (*peerState, error) {
	if p := e.peers[addr]; p != nil {
		return p, nil
	}
	if len(e.peers) >= e.cfg.MaxPeers && !e.evictIdle() {
		return nil, ErrTooManyPeers
	}
	p := &peerState{addr: addr}
	e.peers[addr] = p
	p.recent = e.recent.PushFront(p)
	return p, nil
}

// touch records activity of p at now: an authenticated message from it
// or a plaintext for it.
func (e *Engine) touch(p *peerState, now time.Time) {
	p.active = now
	e.recent.MoveToFront(p.recent)
}

// forget removes p's state.
func (e *Engine) forget(p *peerState) {
	delete(e.peers, p.addr)
	e.recent.Remove(p.recent)
}

// evictIdle forgets the least recently active peer with no work in
// progress; false if there is none. It walks the peers from the least
// recently active, moving each busy one it passes to the other end, so
// that the next walk does not pass it again: a walk costs O(1) amortised
// however many peers there are.
func (e *Engine) evictIdle() bool {
	el := e.recent.Back()
	for range len(e.peers) {
		if el == nil {
			return false
		}
		prev, p := el.Prev(), el.Value.(*peerState)
		if p.init == nil && len(p.queue) == 0 && len(p.responders) == 0 {
			e.forget(p)
			return true
		}
		e.recent.MoveToFront(el)
		el = prev
	}
	return false
}

func (e *Engine) event(ev Event) { e.ready.Events = append(e.ready.Events, ev) }

func (e *Engine) out(to protocols.Addr, payload []byte) {
	e.ready.Packets = append(e.ready.Packets, Packet{To: to, Payload: payload})
}

// ErrForgotten is the error of the EventFailed that reports the
// plaintexts Forget dropped.
var ErrForgotten = errors.New("e2e: peer forgotten")

// Forget drops at once everything the engine holds for addr: its
// sessions (frames under them are refused from now on, and answered
// with an unknown-session notice), this node's handshake with it and the
// responders of its handshakes, and the plaintexts queued for it (an
// EventFailed reports them). A session outlives the policy check its
// handshake passed until it is rekeyed; the driver forgets a peer the
// policy no longer allows (quarantined by governance), so that its
// sessions end with the decision. A new handshake checks the policy
// again. It returns whether the engine held anything for addr.
func (e *Engine) Forget(now time.Time, addr protocols.Addr) bool {
	p := e.peers[addr]
	if p == nil {
		return false
	}
	if p.init != nil || len(p.queue) > 0 {
		e.fail(p, fmt.Errorf("%w: %s", ErrForgotten, addr.Short()))
	}
	for _, rs := range slices.Clone(p.responders) {
		e.removeResponder(rs)
	}
	e.forget(p)
	return true
}
