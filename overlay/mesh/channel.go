package mesh

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Channel errors. Receive wraps them (or a pqcsec error) when it refuses
// a message; Send returns them when it refuses a plaintext.
var (
	// ErrTooLarge: a plaintext over MaxPlaintext bytes.
	ErrTooLarge = errors.New("mesh: plaintext too large")
	// ErrSelf: a channel to the node itself (the router delivers those
	// locally).
	ErrSelf = errors.New("mesh: no channel to self")
	// ErrQueueFull: no session yet and the handshake queue for the
	// destination (MaxQueued) or for all (MaxQueuedBytes) is full.
	ErrQueueFull = errors.New("mesh: channel queue full")
	// ErrTooManyPeers: MaxPeers peers have channel state and none is idle.
	ErrTooManyPeers = errors.New("mesh: too many channel peers")
	// ErrBusy: MaxPending responder handshakes (or four from one peer)
	// are in progress; the first message was ignored.
	ErrBusy = errors.New("mesh: too many handshakes in progress")
	// ErrRateLimited: a fresh handshake init came faster than InitRate
	// (all peers) or PeerInitRate (its source) allow; it is not answered.
	ErrRateLimited = errors.New("mesh: handshake inits over the rate limit")
	// ErrUnexpected: a handshake message that matches no handshake in
	// progress (late, repeated after expiry, or forged).
	ErrUnexpected = errors.New("mesh: unexpected handshake message")
	// ErrUnknownSession: a data message under a session this node does
	// not hold; the sender is told with an unknown-session notice.
	ErrUnknownSession = errors.New("mesh: unknown session")
	// ErrHandshakeTimeout: no reply after HandshakeRetries retries.
	ErrHandshakeTimeout = errors.New("mesh: handshake timed out")
	// ErrAddrMismatch: the authenticated peer of a handshake does not
	// own the mesh address the messages came from.
	ErrAddrMismatch = errors.New("mesh: peer does not own the source address")
)

// ChannelConfig configures a Channel. Zero durations and limits take the
// defaults named in their comments.
type ChannelConfig struct {
	// Handshake is the local identity (which must have issued a
	// record), the random source for handshake IDs and ephemeral keys,
	// the Authorize check applied to every peer (the policy engine's
	// ActionRoute authorizer) and the session tuning. Required.
	Handshake pqcsec.HandshakeConfig
	// Initiate starts a handshake with the node whose mesh address is
	// dst and returns the initiator and its first message; typically
	// pqcsec.NewInitiator(Handshake, the peer ID of dst, now). The
	// driver knows peer IDs, the channel only addresses. Required.
	Initiate func(dst protocols.Addr, now time.Time) (*pqcsec.Initiator, []byte, error)
	// HandshakeTimeout is the wait for a reply before the first
	// message is sent again; each retry waits twice as long as the last
	// (default 500 ms).
	HandshakeTimeout time.Duration
	// HandshakeRetries is how many times the first message is sent
	// again before the handshake fails and its queued plaintexts are
	// dropped (default 4: a handshake gives up after 15.5 × the
	// timeout, 7.75 s by default, longer than a failing route discovery).
	HandshakeRetries int
	// RekeyInterval is the age at which the initiator of a session
	// replaces it with a fresh handshake (the responder does so after
	// twice the interval). Within a session pqcsec already ratchets its
	// keys; a new handshake also re-checks the peer's record and the
	// policy (default 10 min).
	RekeyInterval time.Duration
	// SessionGrace is how long a replaced session still opens frames,
	// and how long a finished responder answers repeated messages
	// (default 30 s).
	SessionGrace time.Duration
	// IdleTimeout is how long a peer's state (sessions included) is
	// kept without traffic (default 30 min).
	IdleTimeout time.Duration
	// MaxQueued bounds the plaintexts queued for one destination while
	// its handshake runs, in plaintexts (default 256).
	MaxQueued int
	// MaxQueuedBytes bounds the bytes queued for all destinations
	// (default 4 MiB).
	MaxQueuedBytes int
	// MaxPending bounds the responder handshakes held at once, finished
	// ones kept for SessionGrace included (default 64).
	MaxPending int
	// MaxPeers bounds the peers with channel state (default 4096).
	MaxPeers int
	// InitRate bounds the fresh handshake inits answered per second,
	// from all peers together, in bursts of up to twice as many
	// (default 32). Each costs the responder about 0.4 ms of CPU (an
	// encapsulation and a hybrid signature) and is answered with about
	// 9 times its size; a repeated init gets its earlier answer and is
	// not counted.
	InitRate int
	// PeerInitRate bounds them per source address, in bursts of up to 4
	// (default 1 per second). Source addresses are not proven until the
	// handshake finishes, which is why InitRate bounds the total too.
	PeerInitRate int
}

const (
	peerInitBurst        = 4 // fresh inits from one peer at once (PeerInitRate)
	maxRespondersPerPeer = 4 // responder handshakes from one peer
	maxSessionsPerPeer   = 4 // sessions that open frames from one peer
	maxEarlyFrames       = 4 // data frames held for a responder waiting for its finish
)

func (c ChannelConfig) withDefaults() (ChannelConfig, error) {
	if c.Handshake.Identity == nil || c.Handshake.Rand == nil {
		return c, errors.New("mesh: channel needs a handshake identity and random source")
	}
	if c.Initiate == nil {
		return c, errors.New("mesh: channel needs an Initiate function")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.HandshakeTimeout, 500*time.Millisecond)
	defInt(&c.HandshakeRetries, 4)
	def(&c.RekeyInterval, 10*time.Minute)
	def(&c.SessionGrace, 30*time.Second)
	def(&c.IdleTimeout, 30*time.Minute)
	defInt(&c.MaxQueued, 256)
	defInt(&c.MaxQueuedBytes, 4<<20)
	defInt(&c.MaxPending, 64)
	defInt(&c.MaxPeers, 4096)
	defInt(&c.InitRate, 32)
	defInt(&c.PeerInitRate, 1)
	switch {
	case c.HandshakeTimeout < 0 || c.RekeyInterval < 0 || c.SessionGrace < 0 || c.IdleTimeout < 0:
		return c, errors.New("mesh: negative channel duration")
	case c.HandshakeRetries < 0 || c.HandshakeRetries > 16:
		return c, fmt.Errorf("mesh: handshake retries %d not in 0..16", c.HandshakeRetries)
	case c.MaxQueued < 0 || c.MaxQueuedBytes < 0 || c.MaxPending < 0 || c.MaxPeers < 0 || c.InitRate < 0 || c.PeerInitRate < 0:
		return c, errors.New("mesh: negative channel limit")
	}
	return c, nil
}

// patience is how long an initiator keeps trying: the timeout and all
// its doublings.
func (c *ChannelConfig) patience() time.Duration {
	return c.HandshakeTimeout * time.Duration(1<<(c.HandshakeRetries+1)-1)
}

// Channel is the end-to-end layer of one node: for each destination it
// runs the pqcsec handshake inside DATA payloads, holds the plaintexts
// sent meanwhile, seals plaintexts with the session once it is up, opens
// what arrives, retransmits handshake messages, and replaces sessions as
// they age. Relays see only the channel messages, never a key.
//
// Like the routing engine it is a pure state machine: inputs are Send
// (from the application), Receive (a payload the engine delivered) and
// Tick (time); outputs are in Ready: packets for Engine.Send, plaintexts
// for the application, events. It is not safe for concurrent use.
type Channel struct {
	cfg     ChannelConfig
	self    protocols.Addr
	peers   map[protocols.Addr]*peerState
	pending map[SessionID]*responder
	queued  int // plaintext bytes queued across peers
	inits   initLimit
	timers  deadlines
	ready   ChannelReady
	stats   ChannelStats
}

// peerState is what the channel holds for one remote node.
type peerState struct {
	addr       protocols.Addr
	send       *session   // the session plaintexts are sealed with, nil if none
	sessions   []*session // sessions that open frames, newest first
	init       *initiation
	responders []*responder
	queue      [][]byte // plaintexts waiting for a session
	queueBytes int
	active     time.Time // last Send to it or message from it
	noticeAt   time.Time // last unknown-session notice sent to it
	inits      initLimit // fresh inits from it
	timerAt    time.Time // deadline queued in timers
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
}

type initiation struct {
	id    SessionID
	h     *pqcsec.Initiator
	msg   []byte // the wrapped first message, sent again on timeout
	tries int
	next  time.Time
	rekey bool
}

type responder struct {
	id      SessionID
	src     protocols.Addr
	h       *pqcsec.Responder
	reply   []byte // the wrapped reply, sent again for early data
	replyAt time.Time
	expires time.Time
	early   []earlyFrame
}

type earlyFrame struct {
	frame []byte
	hops  int
}

// ChannelReady is what the channel asks of its driver. The slices are
// reused after Advance; the byte slices they point to belong to the
// driver.
type ChannelReady struct {
	// Packets are DATA payloads to send: Engine.Send(now, To, Payload).
	Packets []Packet
	// Deliveries are opened plaintexts for the application.
	Deliveries []Delivery
	// Events report handshakes, sessions and refused messages.
	Events []ChannelEvent
}

// Packet is a channel message for one destination.
type Packet struct {
	To      protocols.Addr
	Payload []byte
}

// Delivery is a plaintext that arrived over an authenticated session.
type Delivery struct {
	From protocols.Addr
	// Peer is the sender's verified identity record.
	Peer    *pqcsec.Record
	Payload []byte
	Hops    int
}

// ChannelEventKind says what a ChannelEvent reports.
type ChannelEventKind uint8

// The kinds of ChannelEvent.
const (
	// ChannelHandshake: a handshake with Peer started (Rekey if it is to
	// replace a session).
	ChannelHandshake ChannelEventKind = iota + 1
	// ChannelEstablished: a session with Peer is up; Record is its
	// verified identity, Initiator says which side this node was.
	ChannelEstablished
	// ChannelFailed: the handshake with Peer failed (Err); Dropped
	// queued plaintexts were dropped.
	ChannelFailed
	// ChannelRejected: a message from Peer was refused (Err): malformed,
	// forged, replayed, stale or denied by policy.
	ChannelRejected
	// ChannelReset: Peer holds no session this node used (it restarted);
	// the session is dropped and the next plaintext starts a handshake.
	ChannelReset
)

var channelEventNames = [...]string{
	ChannelHandshake: "handshake", ChannelEstablished: "established", ChannelFailed: "failed",
	ChannelRejected: "rejected", ChannelReset: "reset",
}

func (k ChannelEventKind) String() string {
	if int(k) < len(channelEventNames) && channelEventNames[k] != "" {
		return channelEventNames[k]
	}
	return "channel-event(" + strconv.Itoa(int(k)) + ")"
}

// ChannelEvent is one thing that happened in the channel.
type ChannelEvent struct {
	Kind      ChannelEventKind
	Peer      protocols.Addr
	Record    *pqcsec.Record // ChannelEstablished
	Initiator bool           // ChannelEstablished
	Rekey     bool           // ChannelHandshake, ChannelEstablished
	Dropped   int            // ChannelFailed
	Err       error          // ChannelFailed, ChannelRejected
}

func (ev ChannelEvent) String() string {
	s := ev.Kind.String() + " " + ev.Peer.Short()
	if ev.Rekey {
		s += " rekey"
	}
	if ev.Dropped > 0 {
		s += " dropped=" + strconv.Itoa(ev.Dropped)
	}
	if ev.Err != nil {
		s += ": " + ev.Err.Error()
	}
	return s
}

// ChannelStats counts what the channel did.
type ChannelStats struct {
	Sealed, Opened uint64 // data messages
	// Handshakes started, Established sessions (either side), Failed
	// handshakes of this node's.
	Handshakes, Established, Failed uint64
	Rejected                        uint64 // messages refused
	RateLimited                     uint64 // fresh inits over InitRate or PeerInitRate
	// Collisions counts handshakes both ends started at once (one of
	// the two is given up).
	Collisions uint64
	Dropped    uint64 // queued plaintexts dropped by failed handshakes
	Queued     int    // plaintexts queued now (a gauge)
	Sessions   int    // sessions held now (a gauge)
	Peers      int    // peers with state now (a gauge)
}

// SessionInfo describes one session.
type SessionInfo struct {
	Addr        protocols.Addr
	Record      *pqcsec.Record
	ID          SessionID
	Initiator   bool
	Sending     bool // plaintexts to the peer are sealed with it
	Established time.Time
	Stats       pqcsec.SessionStats
}

// NewChannel returns the channel of the node whose mesh address is self.
func NewChannel(cfg ChannelConfig, self protocols.Addr) (*Channel, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if self.IsZero() {
		return nil, errors.New("mesh: channel needs a non-zero address")
	}
	return &Channel{
		cfg:     cfg,
		self:    self,
		peers:   make(map[protocols.Addr]*peerState),
		pending: make(map[SessionID]*responder),
	}, nil
}

// Send seals plaintext for dst, or queues it and starts a handshake if
// there is no session yet. It copies plaintext. A nil error means the
// channel took it: a packet is in Ready, or it is queued until the
// session is up (an EventFailed reports it dropped if that never
// happens).
func (c *Channel) Send(now time.Time, dst protocols.Addr, plaintext []byte) error {
	return c.send(now, dst, plaintext, nil)
}

// Room SendBuffer wants around a plaintext to seal it in place.
const (
	// Headroom is the channel header and the session frame header.
	Headroom = HeaderSize + pqcsec.FrameHeaderSize
	// Tailroom is the session frame's tag.
	Tailroom = pqcsec.FrameTagSize
)

// SendBuffer is Send for a plaintext at buf[Headroom:], with at least
// Tailroom bytes of spare capacity after it. The channel takes buf over
// and, with a session up, seals the plaintext in place, sparing a copy.
func (c *Channel) SendBuffer(now time.Time, dst protocols.Addr, buf []byte) error {
	if len(buf) < Headroom || cap(buf)-len(buf) < Tailroom {
		return fmt.Errorf("mesh: send buffer without room to seal in place")
	}
	return c.send(now, dst, buf[Headroom:], buf)
}

// send is Send; with owned set, plaintext lies in it at Headroom and
// belongs to the channel.
func (c *Channel) send(now time.Time, dst protocols.Addr, plaintext, owned []byte) error {
	switch {
	case len(plaintext) > MaxPlaintext:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(plaintext), MaxPlaintext)
	case dst == c.self || dst.IsZero():
		return ErrSelf
	}
	p, err := c.peer(dst)
	if err != nil {
		return err
	}
	p.active = now
	defer c.schedule(now, p)
	if s := p.send; s != nil {
		var err error
		if owned != nil {
			err = c.sealInPlace(now, p, s, owned)
		} else {
			err = c.seal(now, p, s, plaintext)
		}
		if err == nil {
			c.rekeyIfDue(now, p)
			return nil
		}
		if !errors.Is(err, pqcsec.ErrExhausted) {
			return err
		}
		c.dropSession(p, s)
	}
	if len(p.queue) >= c.cfg.MaxQueued || c.queued+len(plaintext) > c.cfg.MaxQueuedBytes {
		return fmt.Errorf("%w: for %s", ErrQueueFull, dst.Short())
	}
	if p.init == nil && !responding(p) {
		// (While the peer's own handshake runs, its session will do.)
		if err := c.initiate(now, p, false); err != nil {
			return err
		}
	}
	if owned == nil {
		plaintext = bytes.Clone(plaintext)
	}
	p.queue = append(p.queue, plaintext)
	p.queueBytes += len(plaintext)
	c.queued += len(plaintext)
	return nil
}

// Receive processes a DATA payload from src that the engine delivered,
// having crossed hops links. It returns the reason a message was refused
// (also reported as ChannelRejected); the state is then unchanged. The
// channel may open the payload in place: the caller gives it up.
func (c *Channel) Receive(now time.Time, src protocols.Addr, payload []byte, hops int) error {
	m, err := ParseEnvelope(payload)
	if err == nil {
		switch m.Kind {
		case KindInit:
			err = c.onInit(now, src, m)
		case KindReply:
			err = c.onReply(now, src, m)
		case KindFinish:
			err = c.onFinish(now, src, m)
		case KindData:
			err = c.onData(now, src, m, hops)
		case KindUnknown:
			c.onUnknown(src, m)
		}
	}
	if err != nil {
		c.stats.Rejected++
		c.event(ChannelEvent{Kind: ChannelRejected, Peer: src, Err: err})
	}
	return err
}

// Tick fires the timers due at or before now: handshake retransmissions
// and timeouts, session retirement, rekeying, forgetting idle peers.
func (c *Channel) Tick(now time.Time) {
	for {
		d, ok := c.timers.peek()
		if !ok || d.at.After(now) {
			return
		}
		c.timers.pop()
		p := c.peers[d.addr]
		if p == nil || !p.timerAt.Equal(d.at) {
			continue // stale
		}
		p.timerAt = time.Time{}
		if c.tickPeer(now, p) {
			c.schedule(now, p)
		}
	}
}

// NextDeadline is the earliest time Tick has work, zero if none.
func (c *Channel) NextDeadline() time.Time {
	d, _ := c.timers.peek()
	return d.at
}

// HasReady reports whether Ready has anything.
func (c *Channel) HasReady() bool {
	return len(c.ready.Packets)+len(c.ready.Deliveries)+len(c.ready.Events) > 0
}

// Ready returns what the driver must do.
func (c *Channel) Ready() ChannelReady { return c.ready }

// Advance tells the channel its last Ready was carried out.
func (c *Channel) Advance() {
	clear(c.ready.Packets)
	clear(c.ready.Deliveries)
	clear(c.ready.Events)
	c.ready.Packets = c.ready.Packets[:0]
	c.ready.Deliveries = c.ready.Deliveries[:0]
	c.ready.Events = c.ready.Events[:0]
}

// Stats returns the channel's counters.
func (c *Channel) Stats() ChannelStats {
	st := c.stats
	st.Peers = len(c.peers)
	for _, p := range c.peers {
		st.Queued += len(p.queue)
		st.Sessions += len(p.sessions)
	}
	return st
}

// Sessions lists the sessions held, by peer address then newest first.
func (c *Channel) Sessions() []SessionInfo {
	var out []SessionInfo
	for _, p := range c.peers {
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
func (c *Channel) peer(addr protocols.Addr) (*peerState, error) {
	if p := c.peers[addr]; p != nil {
		return p, nil
	}
	if len(c.peers) >= c.cfg.MaxPeers && !c.evictIdle() {
		return nil, ErrTooManyPeers
	}
	p := &peerState{addr: addr}
	c.peers[addr] = p
	return p, nil
}

// evictIdle forgets the least recently active peer with no work in
// progress; false if there is none.
func (c *Channel) evictIdle() bool {
	var victim *peerState
	for _, p := range c.peers {
		if p.init == nil && len(p.queue) == 0 && len(p.responders) == 0 &&
			(victim == nil || p.active.Before(victim.active)) {
			victim = p
		}
	}
	if victim == nil {
		return false
	}
	delete(c.peers, victim.addr)
	return true
}

func (c *Channel) event(ev ChannelEvent) { c.ready.Events = append(c.ready.Events, ev) }

func (c *Channel) out(to protocols.Addr, payload []byte) {
	c.ready.Packets = append(c.ready.Packets, Packet{To: to, Payload: payload})
}

func (c *Channel) seal(now time.Time, p *peerState, s *session, plaintext []byte) error {
	msg, err := sealData(make([]byte, 0, DataOverhead+len(plaintext)), s.id, s.s, plaintext, now)
	if err != nil {
		return err
	}
	c.out(p.addr, msg)
	c.stats.Sealed++
	return nil
}

// sealInPlace seals the plaintext at buf[Headroom:] into buf.
func (c *Channel) sealInPlace(now time.Time, p *peerState, s *session, buf []byte) error {
	hdr := append(buf[:0], ChannelVersion, byte(KindData))
	hdr = append(hdr, s.id[:]...)
	frame, err := s.s.Seal(buf[HeaderSize:HeaderSize], buf[Headroom:], now)
	if err != nil {
		return err
	}
	c.out(p.addr, buf[:len(hdr)+len(frame)])
	c.stats.Sealed++
	return nil
}

// initiate starts a handshake with p.
func (c *Channel) initiate(now time.Time, p *peerState, rekey bool) error {
	h, msg, err := c.cfg.Initiate(p.addr, now)
	if err != nil {
		err = fmt.Errorf("start handshake with %s: %w", p.addr.Short(), err)
		c.stats.Failed++
		c.event(ChannelEvent{Kind: ChannelFailed, Peer: p.addr, Err: err})
		return err
	}
	p.init = &initiation{id: h.ID(), h: h, msg: appendHandshake(nil, msg), next: now.Add(c.cfg.HandshakeTimeout), rekey: rekey}
	c.out(p.addr, p.init.msg)
	c.stats.Handshakes++
	c.event(ChannelEvent{Kind: ChannelHandshake, Peer: p.addr, Rekey: rekey})
	return nil
}

// rekeyIfDue starts a replacement handshake for p's sending session if
// it is old enough: RekeyInterval for its initiator, twice that for the
// responder, so that both ends do not rekey at once.
func (c *Channel) rekeyIfDue(now time.Time, p *peerState) {
	if s := p.send; s != nil && p.init == nil && !responding(p) && !now.Before(c.rekeyAt(s)) {
		_ = c.initiate(now, p, true) // failure is an event; the old session goes on
	}
}

// responding reports whether a handshake the peer started is in
// progress.
func responding(p *peerState) bool {
	for _, rs := range p.responders {
		if rs.h.Session() == nil {
			return true
		}
	}
	return false
}

func (c *Channel) rekeyAt(s *session) time.Time {
	if s.initiator {
		return s.rekeyAt
	}
	return s.rekeyAt.Add(c.cfg.RekeyInterval)
}

// fail ends p's handshake and drops what waited for it.
func (c *Channel) fail(p *peerState, err error) {
	dropped := len(p.queue)
	c.queued -= p.queueBytes
	p.queue, p.queueBytes, p.init = nil, 0, nil
	c.stats.Failed++
	c.stats.Dropped += uint64(dropped)
	c.event(ChannelEvent{Kind: ChannelFailed, Peer: p.addr, Dropped: dropped, Err: err})
}

// install makes s p's newest session and sends what was queued.
func (c *Channel) install(now time.Time, p *peerState, s *session, rekey bool) {
	s.established = now
	s.rekeyAt = now.Add(c.cfg.RekeyInterval)
	for _, old := range p.sessions {
		if old.retireAt.IsZero() {
			old.retireAt = now.Add(c.cfg.SessionGrace)
		}
	}
	p.sessions = slices.Insert(p.sessions, 0, s)
	if len(p.sessions) > maxSessionsPerPeer {
		p.sessions = p.sessions[:maxSessionsPerPeer]
	}
	p.send = s
	p.active = now
	c.stats.Established++
	c.event(ChannelEvent{Kind: ChannelEstablished, Peer: p.addr, Record: s.peer, Initiator: s.initiator, Rekey: rekey})
	queue := p.queue
	c.queued -= p.queueBytes
	p.queue, p.queueBytes = nil, 0
	for _, pt := range queue {
		if err := c.seal(now, p, s, pt); err != nil {
			c.stats.Dropped++
		}
	}
}

// dropSession forgets s.
func (c *Channel) dropSession(p *peerState, s *session) {
	if i := slices.Index(p.sessions, s); i >= 0 {
		p.sessions = slices.Delete(p.sessions, i, i+1)
	}
	if p.send == s {
		p.send = nil
	}
}

// bound checks that the authenticated peer owns the address src.
func bound(rec *pqcsec.Record, src protocols.Addr) error {
	if a := protocols.AddrFromPeerID([]byte(rec.PeerID())); a != src {
		return fmt.Errorf("%w: %s is %s, messages come from %s", ErrAddrMismatch, rec.PeerID(), a.Short(), src.Short())
	}
	return nil
}

func (c *Channel) onInit(now time.Time, src protocols.Addr, m Envelope) error {
	if rs := c.pending[m.Session]; rs != nil {
		if rs.src != src {
			return fmt.Errorf("%w: handshake %x is in use by another node", ErrUnexpected, m.Session)
		}
		if _, err := rs.h.Step(m.Body, now); err != nil {
			return fmt.Errorf("init from %s: %w", src.Short(), err)
		}
		c.out(src, rs.reply) // a repeated init: the same reply
		return nil
	}
	p, err := c.peer(src)
	if err != nil {
		return err
	}
	if !p.inits.allow(now, c.cfg.PeerInitRate, peerInitBurst) || !c.inits.allow(now, c.cfg.InitRate, 2*c.cfg.InitRate) {
		c.stats.RateLimited++
		return fmt.Errorf("%w: init from %s ignored", ErrRateLimited, src.Short())
	}
	if p.init != nil {
		// Both ends started a handshake at once. The end with the lower
		// address keeps its own and ignores the other's; the other gives
		// its own up and answers, so that both agree on one session.
		if bytes.Compare(c.self[:], src[:]) < 0 {
			c.stats.Collisions++
			return nil
		}
		p.init = nil
		c.stats.Collisions++
	}
	if len(c.pending) >= c.cfg.MaxPending || len(p.responders) >= maxRespondersPerPeer {
		return fmt.Errorf("%w: init from %s ignored", ErrBusy, src.Short())
	}
	h, err := pqcsec.NewResponder(c.cfg.Handshake)
	if err != nil {
		return err
	}
	reply, err := h.Step(m.Body, now)
	if err != nil {
		return fmt.Errorf("init from %s: %w", src.Short(), err)
	}
	rs := &responder{id: m.Session, src: src, h: h, reply: appendHandshake(nil, reply), replyAt: now,
		expires: now.Add(c.cfg.patience() + c.cfg.HandshakeTimeout)}
	c.pending[rs.id] = rs
	p.responders = append(p.responders, rs)
	p.active = now
	c.out(src, rs.reply)
	c.schedule(now, p)
	return nil
}

func (c *Channel) onReply(now time.Time, src protocols.Addr, m Envelope) error {
	p := c.peers[src]
	if p == nil {
		return fmt.Errorf("%w: reply from %s", ErrUnexpected, src.Short())
	}
	if in := p.init; in != nil && in.id == m.Session {
		finish, err := in.h.Step(m.Body, now)
		if err != nil {
			err = fmt.Errorf("reply from %s: %w", src.Short(), err)
			if errors.Is(err, pqcsec.ErrDenied) {
				c.fail(p, err) // the policy refuses the real peer: retrying will not help
			}
			return err
		}
		ps := in.h.Session()
		if err := bound(ps.Peer(), src); err != nil {
			c.fail(p, err)
			return err
		}
		c.out(src, appendHandshake(nil, finish))
		p.init = nil
		s := &session{id: in.id, s: ps, peer: ps.Peer(), initiator: true, ini: in.h, iniUntil: now.Add(c.cfg.patience())}
		c.install(now, p, s, in.rekey)
		c.schedule(now, p)
		return nil
	}
	for _, s := range p.sessions {
		if s.id == m.Session && s.ini != nil {
			// A repeated reply: our finish was lost; send it again.
			finish, err := s.ini.Step(m.Body, now)
			if err != nil {
				return fmt.Errorf("reply from %s: %w", src.Short(), err)
			}
			c.out(src, appendHandshake(nil, finish))
			return nil
		}
	}
	return fmt.Errorf("%w: reply from %s for handshake %x", ErrUnexpected, src.Short(), m.Session)
}

func (c *Channel) onFinish(now time.Time, src protocols.Addr, m Envelope) error {
	rs := c.pending[m.Session]
	if rs == nil || rs.src != src {
		// The initiator believes in a session this node does not hold.
		c.notice(now, src, m.Session)
		return fmt.Errorf("%w: finish from %s for handshake %x", ErrUnexpected, src.Short(), m.Session)
	}
	done := rs.h.Session() != nil
	if _, err := rs.h.Step(m.Body, now); err != nil {
		return fmt.Errorf("finish from %s: %w", src.Short(), err)
	}
	if done {
		return nil // a repeated finish
	}
	ps := rs.h.Session()
	if err := bound(ps.Peer(), src); err != nil {
		c.removeResponder(rs)
		return err
	}
	p, err := c.peer(src)
	if err != nil {
		return err
	}
	if !slices.Contains(p.responders, rs) {
		p.responders = append(p.responders, rs)
	}
	s := &session{id: rs.id, s: ps, peer: ps.Peer()}
	c.install(now, p, s, len(p.sessions) > 0)
	rs.expires = now.Add(c.cfg.SessionGrace)
	for _, f := range rs.early {
		if err := c.open(now, p, s, f.frame, f.hops); err != nil {
			c.stats.Rejected++
		}
	}
	rs.early = nil
	c.schedule(now, p)
	return nil
}

func (c *Channel) onData(now time.Time, src protocols.Addr, m Envelope, hops int) error {
	p := c.peers[src]
	if p != nil {
		for _, s := range p.sessions {
			if s.id == m.Session {
				return c.open(now, p, s, m.Body, hops)
			}
		}
	}
	if rs := c.pending[m.Session]; rs != nil && rs.src == src && rs.h.Session() == nil {
		// Data overtook (or lost) the finish: hold a few frames and send
		// the reply again, which makes the initiator repeat its finish.
		if len(rs.early) < maxEarlyFrames {
			rs.early = append(rs.early, earlyFrame{frame: bytes.Clone(m.Body), hops: hops})
		}
		if len(rs.early) == 1 || !now.Before(rs.replyAt.Add(c.cfg.HandshakeTimeout/2)) {
			rs.replyAt = now
			c.out(src, rs.reply)
		}
		if p != nil {
			c.schedule(now, p)
		}
		return nil
	}
	c.notice(now, src, m.Session)
	return fmt.Errorf("%w: %x from %s", ErrUnknownSession, m.Session, src.Short())
}

// open opens a data frame under s and delivers its plaintext.
func (c *Channel) open(now time.Time, p *peerState, s *session, frame []byte, hops int) error {
	pt, err := s.s.Open(frame[pqcsec.FrameHeaderSize:pqcsec.FrameHeaderSize], frame)
	if err != nil {
		return fmt.Errorf("data from %s: %w", p.addr.Short(), err)
	}
	if s.ini != nil {
		s.ini = nil // the responder finished: no repeated reply will come
	}
	p.active = now
	c.stats.Opened++
	c.ready.Deliveries = append(c.ready.Deliveries, Delivery{From: p.addr, Peer: s.peer, Payload: pt, Hops: hops})
	return nil
}

// notice tells src that this node holds no session id, at most once per
// HandshakeTimeout per peer.
func (c *Channel) notice(now time.Time, src protocols.Addr, id SessionID) {
	p, err := c.peer(src)
	if err != nil || (!p.noticeAt.IsZero() && now.Sub(p.noticeAt) < c.cfg.HandshakeTimeout) {
		return
	}
	p.noticeAt = now
	p.active = now
	c.out(src, appendUnknown(make([]byte, 0, HeaderSize), id))
	c.schedule(now, p)
}

func (c *Channel) onUnknown(src protocols.Addr, m Envelope) {
	p := c.peers[src]
	if p == nil {
		return
	}
	for _, s := range p.sessions {
		if s.id != m.Session {
			continue
		}
		c.dropSession(p, s)
		c.event(ChannelEvent{Kind: ChannelReset, Peer: src})
		return
	}
}

func (c *Channel) removeResponder(rs *responder) {
	delete(c.pending, rs.id)
	if p := c.peers[rs.src]; p != nil {
		if i := slices.Index(p.responders, rs); i >= 0 {
			p.responders = slices.Delete(p.responders, i, i+1)
		}
	}
}

// tickPeer does what is due for p; false if p was forgotten.
func (c *Channel) tickPeer(now time.Time, p *peerState) bool {
	if in := p.init; in != nil && !now.Before(in.next) {
		if in.tries >= c.cfg.HandshakeRetries {
			c.fail(p, fmt.Errorf("%w: %s after %d tries", ErrHandshakeTimeout, p.addr.Short(), in.tries+1))
		} else {
			in.tries++
			in.next = now.Add(c.cfg.HandshakeTimeout << in.tries)
			c.out(p.addr, in.msg)
		}
	}
	p.sessions = slices.DeleteFunc(p.sessions, func(s *session) bool {
		if !s.retireAt.IsZero() && !now.Before(s.retireAt) {
			if p.send == s {
				p.send = nil
			}
			return true
		}
		if s.ini != nil && !now.Before(s.iniUntil) {
			s.ini = nil
		}
		return false
	})
	busy := false // a responder handshake in progress
	for _, rs := range slices.Clone(p.responders) {
		switch {
		case !now.Before(rs.expires):
			c.removeResponder(rs)
		case rs.h.Session() == nil:
			busy = true
			if len(rs.early) > 0 && !now.Before(rs.replyAt.Add(c.cfg.HandshakeTimeout/2)) {
				// Data is waiting for a finish: ask for it again.
				rs.replyAt = now
				c.out(p.addr, rs.reply)
			}
		}
	}
	if p.send != nil && now.Sub(p.active) < c.cfg.RekeyInterval {
		c.rekeyIfDue(now, p)
	}
	if p.init == nil && p.send == nil && len(p.queue) > 0 && !busy {
		// The peer's handshake, which these waited for, came to nothing.
		_ = c.initiate(now, p, false)
	}
	if p.init == nil && len(p.queue) == 0 && !busy && now.Sub(p.active) >= c.cfg.IdleTimeout {
		for _, rs := range slices.Clone(p.responders) {
			c.removeResponder(rs)
		}
		delete(c.peers, p.addr)
		return false
	}
	return true
}

// schedule queues p's next deadline if it is earlier than the queued one.
func (c *Channel) schedule(now time.Time, p *peerState) {
	if c.peers[p.addr] != p {
		return
	}
	var next time.Time
	consider := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if p.init != nil {
		consider(p.init.next)
	}
	for _, s := range p.sessions {
		if !s.retireAt.IsZero() {
			consider(s.retireAt)
		}
		if s.ini != nil {
			consider(s.iniUntil)
		}
	}
	for _, rs := range p.responders {
		consider(rs.expires)
		if rs.h.Session() == nil && len(rs.early) > 0 {
			consider(rs.replyAt.Add(c.cfg.HandshakeTimeout / 2))
		}
	}
	if p.send != nil && p.init == nil {
		consider(c.rekeyAt(p.send))
	}
	consider(p.active.Add(c.cfg.IdleTimeout))
	if next.IsZero() || (!p.timerAt.IsZero() && !next.Before(p.timerAt)) {
		return
	}
	p.timerAt = next
	c.timers.push(deadline{at: next, addr: p.addr})
}

// deadline is one entry of the channel's timer queue: a peer to look at.
type deadline struct {
	at   time.Time
	addr protocols.Addr
}

// deadlines is a binary min-heap of deadlines. An entry whose peer has
// since queued another deadline is stale and skipped when it fires.
type deadlines []deadline

func (h deadlines) peek() (deadline, bool) {
	if len(h) == 0 {
		return deadline{}, false
	}
	return h[0], true
}

func (h *deadlines) push(d deadline) {
	*h = append(*h, d)
	q := *h
	for i := len(q) - 1; i > 0; {
		up := (i - 1) / 2
		if !q[i].at.Before(q[up].at) {
			break
		}
		q[i], q[up] = q[up], q[i]
		i = up
	}
}

func (h *deadlines) pop() deadline {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(q) && q[l].at.Before(q[m].at) {
			m = l
		}
		if r < len(q) && q[r].at.Before(q[m].at) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}

// initLimit is a token bucket in its GCRA form: tat is the theoretical
// arrival time of the next init, so it needs no timer to refill.
type initLimit struct{ tat time.Time }

// allow takes a token at now from a bucket refilled perSecond, holding
// burst.
func (l *initLimit) allow(now time.Time, perSecond, burst int) bool {
	if perSecond <= 0 {
		return true
	}
	iv := time.Second / time.Duration(perSecond)
	t := l.tat
	if t.Before(now) {
		t = now
	}
	if t.Sub(now) > time.Duration(burst-1)*iv {
		return false
	}
	l.tat = t.Add(iv)
	return true
}
