package mesh

import (
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/e2e"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// ProtocolID is the libp2p protocol of mesh links: one long-lived stream
// per neighbor pair carrying length-prefixed mesh packets.
const ProtocolID = protocol.ID("/x0tta6bl4/mesh/2.0.0")

// Router errors.
var (
	// ErrClosed: the router is closed or not started.
	ErrClosed = errors.New("mesh: router closed")
	// ErrNoNeighbor: Send or Ping found no neighbor link at all.
	ErrNoNeighbor = errors.New("mesh: no neighbor")
	// ErrPayloadTooLarge: more than MaxPayloadSize bytes.
	ErrPayloadTooLarge = errors.New("mesh: payload too large")
)

// MaxPayloadSize is the largest application payload Send takes: what an
// application message plaintext of package e2e holds.
const MaxPayloadSize = e2e.MaxPayloadSize

// Config configures a Router. Zero fields take the defaults named in
// their comments.
type Config struct {
	// Routing holds the routing engine's timers and limits
	// (overlay.DefaultLANConfig and friends). Required.
	Routing overlay.Config
	// Identity is the node's hybrid identity; it must have issued a
	// record before Start (node.IdentityRecord does). Required.
	Identity *pqcsec.Identity
	// Authorize checks the verified record of every end-to-end peer
	// (both sides of every handshake): the policy engine's
	// Authorizer(pqcsec.ActionRoute). nil admits every verified peer.
	Authorize func(peer *pqcsec.Record, now time.Time) error
	// Admit is the neighbor policy: it decides whether a connected peer
	// may become a neighbor, that is relay for this node (typically: its
	// identity record from the DHT passes the policy engine's
	// ActionRelay check). It runs on its own goroutine with a context
	// bounded by AdmitTimeout; an error keeps the peer out, and is
	// retried with backoff. nil admits every connected peer.
	Admit func(ctx context.Context, p peer.ID) error
	// AdmitTimeout bounds one Admit call (default 10 s).
	AdmitTimeout time.Duration
	// AdmitRecheck is how often Admit is asked again about each
	// neighbor; a neighbor it now refuses with pqcsec.ErrDenied loses
	// its link (default 1 min).
	AdmitRecheck time.Duration
	// MaxNeighbors caps the neighbor links. Connected peers beyond it
	// are not used; a link that closes frees a place (default 16).
	MaxNeighbors int
	// QueueFrames and QueueBytes bound each link's send queue. A DATA
	// frame is dropped (tail drop) when its queue holds QueueFrames
	// frames or would exceed QueueBytes; routing frames may use twice
	// the frames and a quarter more bytes, so HELLOs and route replies
	// still pass a queue full of DATA. Send waits (backpressure) while
	// the first hop's queue holds more than half of either not yet
	// written to the stream, and a relay stops reading the link DATA
	// comes from while the link it goes to is that full (defaults 1024
	// frames, 4 MiB).
	QueueFrames int
	QueueBytes  int
	// StaleLink is how long a neighbor the engine declared dead (HELLO
	// loss) keeps its stream in case it comes back; then the stream is
	// reset (default 10 s). It also bounds a link write: a neighbor that
	// takes no bytes for StaleLink (half of it at least) loses its link
	// as a stale one does, though its HELLOs may still arrive.
	StaleLink time.Duration
	// Channel tunes the end-to-end channel engine (timeouts, queues,
	// rekeying). The router fills in its Handshake from Identity,
	// Authorize and Rand; only Handshake.Session is taken from here.
	Channel e2e.Config
	// Logger receives the router's logs; nil discards them.
	Logger *slog.Logger
	// LateWarn is how late the owner's loop may run (a step, the lag of
	// the frames it steps or of the timers it runs) before the router
	// warns "mesh owner late" (default: one HELLO interval, when the
	// neighbors start to miss its HELLOs). The namespace lab sets it
	// lower, to replay shorter stalls in the twin.
	LateWarn time.Duration
	// Fault, for tests only, makes the router's link writers drop or
	// hold back frames as a gray failure would (see Fault); nil, as in
	// service, writes every frame as it comes.
	Fault Fault
	// Rand seeds the routing engine and supplies handshake randomness
	// (default crypto/rand.Reader).
	Rand io.Reader
}

func (c Config) withDefaults() (Config, error) {
	if c.Identity == nil {
		return c, errors.New("mesh: router needs an identity")
	}
	if c.AdmitTimeout == 0 {
		c.AdmitTimeout = 10 * time.Second
	}
	if c.AdmitRecheck == 0 {
		c.AdmitRecheck = time.Minute
	}
	if c.MaxNeighbors == 0 {
		c.MaxNeighbors = 16
	}
	if c.QueueFrames == 0 {
		c.QueueFrames = 1024
	}
	if c.QueueBytes == 0 {
		c.QueueBytes = 4 << 20
	}
	if c.StaleLink == 0 {
		c.StaleLink = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.LateWarn == 0 {
		c.LateWarn = c.Routing.HelloInterval
	}
	if c.Rand == nil {
		c.Rand = crand.Reader
	}
	switch {
	case c.MaxNeighbors < 1:
		return c, fmt.Errorf("mesh: max neighbors %d must be at least 1", c.MaxNeighbors)
	case c.QueueFrames < 1 || c.QueueBytes < protocols.MaxFrameSize:
		return c, fmt.Errorf("mesh: send queue of %d frames and %d bytes cannot hold one maximal frame", c.QueueFrames, c.QueueBytes)
	case c.AdmitTimeout < 0 || c.AdmitRecheck < 0 || c.StaleLink < 0:
		return c, errors.New("mesh: negative duration")
	}
	return c, nil
}

// Router is a node's mesh: the routing engine and the end-to-end channel
// driven over libp2p streams to neighbors. One owner goroutine runs both
// (see the package documentation); the methods below talk to it and are
// safe for concurrent use.
type Router struct {
	cfg     Config
	h       host.Host
	self    protocols.Addr
	log     *slog.Logger
	engine  *overlay.Engine
	channel *e2e.Engine

	// Owned by the owner goroutine.
	links map[protocols.Addr]*link
	cands map[peer.ID]*candidate
	peers *peerBook
	pings map[uint64]*pingWait
	st    counters
	ready e2e.Ready // the channel's last Ready, being carried out
	// sealing is the buffer of the payload last handed to the channel,
	// until the flush that carries out what the channel made of it: a
	// packet sealed in it has the DATA header's room in front (Send).
	// sealingBuf is the pooled buffer that holds it, until a send queue
	// takes it (write) with the frame sealed there.
	sealing    []byte
	sealingBuf *[]byte
	// stepping is the frame being stepped, for write to know it when the
	// engine relays it in place.
	stepping inFrame
	// steppingIn is the link the frame being stepped came from.
	steppingIn *link
	// toWake are the links the owner queued frames on since it last woke
	// their writers (wakeWriters).
	toWake []*link
	// owner keeps the OwnerStats; frameLag and tickLag are the largest
	// lags of the loop's current wake-up (run).
	owner             ownerRecorder
	frameLag, tickLag time.Duration

	frames   chan *readBatch
	events   chan any
	requests chan request
	// sends is Send's input queue, which the owner drains in batches;
	// slots holds one token per payload queued there or parked on a
	// congested link, so that a sender that outruns the owner waits
	// (backpressure) instead of growing either.
	sends chan *sendReq
	slots chan struct{}
	// lastDst is the destination of the latest Send and its mesh
	// address, which Send would otherwise hash again per payload.
	lastDst atomic.Pointer[dstAddr]
	// flowing are the destinations with an established session, to
	// which Send queues without waiting for the owner's verdict; the
	// owner keeps the set (see Send).
	flowMu  sync.RWMutex
	flowing map[protocols.Addr]struct{}
	drained chan *link
	kick    chan struct{}

	tracer    atomic.Pointer[tracerBox]
	linkStats atomic.Pointer[[]overlay.NeighborInfo] // refreshed by maintain
	engStats  atomic.Pointer[overlay.Stats]          // likewise
	subMu     sync.RWMutex
	subs      map[*subscription]struct{}
	pingSeq   atomic.Uint64
	pingBase  uint64
	running   atomic.Bool // between Start and Close

	// relayed counts the relayed DATA frames the writers wrote, and
	// relayDelay their total time from read to written, in nanoseconds.
	relayed, relayDelay atomic.Int64
	// relayShare holds the float64 bits of the relay share (0: the
	// default, 1); shedCredit is the owner's credit under it
	// (steer_libp2p.go).
	relayShare atomic.Uint64
	shedCredit float64

	mu       sync.Mutex
	state    int // 0 new, 1 started, 2 closed
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{} // closed when the owner goroutine has ended
	wg       sync.WaitGroup
	notifiee *network.NotifyBundle
}

type tracerBox struct{ t Tracer }

// counters are the router's own statistics, kept by the owner.
type counters struct {
	framesIn, framesOut, queueDrops [protocols.TypeCount]uint64
	linkDrops                       [protocols.TypeCount]uint64
	noLink, badFrames, resets       uint64
	unpaused                        uint64
	delivered, badPlaintext         uint64
	sendErrors                      uint64
	helloLoss, routesLost, discFail uint64
	shed                            uint64
}

// inFrame is a frame read from a link, at ch.b[off:], holding a
// reference to its chunk.
type inFrame struct {
	l     *link
	frame []byte
	ch    *chunk
	off   int
	at    time.Time
}

// request runs fn on the owner goroutine.
type request struct{ fn func(now time.Time) }

// New returns a router for host h. It does nothing until Start.
func New(h host.Host, cfg Config) (*Router, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	keys, err := routeKeys(h)
	if err != nil {
		return nil, err
	}
	// The engine's generator makes the secret seeds of its hash chains:
	// a CSPRNG seeded from cfg.Rand.
	var seed [40]byte
	if _, err := io.ReadFull(cfg.Rand, seed[:]); err != nil {
		return nil, fmt.Errorf("mesh: seed: %w", err)
	}
	self := protocols.AddrFromPeerID([]byte(h.ID()))
	rng := rand.New(rand.NewChaCha8([32]byte(seed[8:])))
	engine, err := overlay.NewEngine(cfg.Routing, keys, rng)
	if err != nil {
		return nil, err
	}
	if engine.Addr() != self {
		return nil, errors.New("mesh: the host's key does not own its peer ID's address")
	}
	m := &Router{
		cfg:      cfg,
		h:        h,
		self:     self,
		log:      cfg.Logger,
		engine:   engine,
		links:    map[protocols.Addr]*link{},
		cands:    map[peer.ID]*candidate{},
		peers:    newPeerBook(maxKnownPeers),
		pings:    map[uint64]*pingWait{},
		frames:   make(chan *readBatch, 16),
		events:   make(chan any, 64),
		requests: make(chan request, 64),
		sends:    make(chan *sendReq, sendQueue),
		slots:    make(chan struct{}, sendQueue),
		flowing:  map[protocols.Addr]struct{}{},
		drained:  make(chan *link, 16),
		kick:     make(chan struct{}, 1),
		subs:     map[*subscription]struct{}{},
		pingBase: binary.LittleEndian.Uint64(seed[:8]),
		done:     make(chan struct{}),
	}
	ccfg := cfg.Channel
	ccfg.Handshake = pqcsec.HandshakeConfig{
		Identity:  cfg.Identity,
		Rand:      cfg.Rand,
		Authorize: cfg.Authorize,
		Session:   cfg.Channel.Handshake.Session,
	}
	if m.channel, err = e2e.NewEngine(ccfg, self); err != nil {
		return nil, err
	}
	m.peers.learn(self, h.ID(), true, nil)
	return m, nil
}

// routeKeys returns the keys that sign the node's route claims: the
// host's Ed25519 identity key, whose peer ID the mesh address derives
// from.
func routeKeys(h host.Host) (overlay.Keys, error) {
	priv := h.Peerstore().PrivKey(h.ID())
	if priv == nil {
		return overlay.Keys{}, errors.New("mesh: the host's private key is not in its peerstore")
	}
	if priv.Type() != crypto.Ed25519 {
		return overlay.Keys{}, fmt.Errorf("mesh: route claims need an Ed25519 host key, not %v", priv.Type())
	}
	raw, err := priv.Raw()
	if err != nil {
		return overlay.Keys{}, fmt.Errorf("mesh: host key: %w", err)
	}
	return overlay.Ed25519Keys(ed25519.PrivateKey(raw))
}

// Addr is the node's mesh address.
func (m *Router) Addr() protocols.Addr { return m.self }

// SetTracer installs t (nil removes it). Safe at any time.
func (m *Router) SetTracer(t Tracer) {
	if t == nil {
		m.tracer.Store(nil)
		return
	}
	m.tracer.Store(&tracerBox{t})
}

func (m *Router) trace(ev TraceEvent) {
	if b := m.tracer.Load(); b != nil {
		b.t.Trace(ev)
	}
}

// Start registers the mesh protocol and starts the owner goroutine. The
// router runs until ctx ends or Close.
func (m *Router) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != 0 {
		return fmt.Errorf("mesh: start: %w", ErrClosed)
	}
	m.state = 1
	m.ctx, m.cancel = context.WithCancel(ctx)
	m.h.SetStreamHandler(ProtocolID, m.handleStream)
	m.notifiee = &network.NotifyBundle{
		ConnectedF:    func(network.Network, network.Conn) { wakeup(m.kick) },
		DisconnectedF: func(network.Network, network.Conn) { wakeup(m.kick) },
	}
	m.h.Network().Notify(m.notifiee)
	m.running.Store(true)
	m.wg.Go(func() {
		defer close(m.done)
		m.run(m.ctx)
	})
	return nil
}

// Close stops the router: it resets every link, ends its goroutines and
// waits for them. It is safe to call more than once.
func (m *Router) Close() error {
	m.mu.Lock()
	state := m.state
	m.state = 2
	m.mu.Unlock()
	m.running.Store(false)
	switch state {
	case 0:
		close(m.done)
		return nil
	case 2:
		return nil
	}
	m.cancel()
	m.wg.Wait()
	return nil
}

func wakeup(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// post hands an event to the owner; false if the router is closing.
func (m *Router) post(ev any) bool {
	select {
	case m.events <- ev:
		return true
	case <-m.ctx.Done():
		return false
	}
}

// do runs fn on the owner goroutine and waits for it.
func (m *Router) do(ctx context.Context, fn func(now time.Time)) error {
	ran := make(chan struct{})
	if err := m.submit(ctx, func(now time.Time) { fn(now); close(ran) }); err != nil {
		return err
	}
	select {
	case <-ran:
		return nil
	case <-m.done:
		return ErrClosed
	}
}

// submit queues fn for the owner goroutine without waiting for it.
func (m *Router) submit(ctx context.Context, fn func(now time.Time)) error {
	if !m.running.Load() {
		return ErrClosed // not started yet, or closed
	}
	select {
	case <-m.done:
		return ErrClosed
	default:
	}
	select {
	case m.requests <- request{fn}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-m.done:
		return ErrClosed
	}
}

// Message is an application payload that reached this node over an
// end-to-end session.
type Message struct {
	// From is the sender, authenticated by the session's handshake.
	From peer.ID
	// Payload is shared by every subscriber: read it, do not modify it.
	Payload []byte
	// Hops is the number of links it crossed (0 from the node itself).
	Hops     int
	Received time.Time
}

type subscription struct {
	ch      chan Message
	dropped atomic.Uint64
}

// Subscribe returns a channel of the messages this node receives, with
// room for buffer of them; a message that finds it full is dropped for
// this subscriber. cancel ends the subscription and closes the channel.
func (m *Router) Subscribe(buffer int) (msgs <-chan Message, cancel func()) {
	s := &subscription{ch: make(chan Message, max(buffer, 1))}
	m.subMu.Lock()
	m.subs[s] = struct{}{}
	m.subMu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			m.subMu.Lock()
			delete(m.subs, s)
			close(s.ch)
			m.subMu.Unlock()
		})
	}
}

func (m *Router) publish(msg Message) {
	m.subMu.RLock()
	defer m.subMu.RUnlock()
	for s := range m.subs {
		select {
		case s.ch <- msg:
		default:
			s.dropped.Add(1)
		}
	}
	m.st.delivered++
}

// sendHeadroom is the room in front of a plaintext Send builds: the
// DATA header, then the channel's header.
const sendHeadroom = protocols.DataHeaderSize + e2e.Headroom

// sendQueue bounds the payloads Send has queued for the owner or the
// owner has parked on a congested first hop, router-wide.
const sendQueue = 64

// Send sends payload to dst over an end-to-end session, setting one up
// first if needed; delivery is not confirmed (see Ping). Send keeps no
// reference to payload once it returns: the plaintext is built in a
// buffer of its own (a pooled one, which the link writer returns to its
// pool once the sealed frame is written).
//
// What the caller learns, and when:
//   - at once, without sending: a payload over MaxPayloadSize, an invalid
//     dst, a router not running (ErrClosed), ctx ending while Send waits;
//   - to a destination without an established session (the first Send,
//     one while a handshake runs, one after a refusal): Send waits for
//     the owner and returns its verdict: nil once the payload is sealed
//     and queued on the first hop or queued while the session or the
//     route is being set up, or the refusal (ErrNoNeighbor, the
//     channel's e2e.ErrQueueFull, ...);
//   - to a destination with an established session: Send returns nil
//     once the payload is in the owner's input queue, without a round
//     trip to the owner per payload (the owner takes the queue in
//     batches). A refusal the owner meets then (the session or every
//     link went meanwhile) drops the payload, as a lost packet, counts
//     in Stats.SendErrors, and makes the next Send to dst wait for the
//     owner's verdict again.
//
// Send waits (backpressure) while sendQueue payloads are queued or
// parked, and the owner parks a payload whose first hop's send queue is
// congested (over half its bytes or frames) until it drains to a
// quarter. An error from ctx may come after the payload was taken. A
// payload queued without waiting is sent even if ctx ends later.
func (m *Router) Send(ctx context.Context, dst peer.ID, payload []byte) error {
	if len(payload) > MaxPayloadSize {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrPayloadTooLarge, len(payload), MaxPayloadSize)
	}
	if err := dst.Validate(); err != nil {
		return fmt.Errorf("mesh: send to %q: %w", dst, err)
	}
	if !m.running.Load() {
		return ErrClosed // not started yet, or closed
	}
	// The plaintext is built where the channel seals it in place, with
	// room in front for the DATA header the routing engine writes there
	// (sendPacket), in a pooled frame buffer, whose room for a length
	// prefix lets the writer send a large frame from it as it sends a
	// relayed one (writeInPlace): the payload is copied once, here.
	n := sendHeadroom + 1 + len(payload) + e2e.Tailroom
	buf := getFrame(n)
	pt := (*buf)[maxPrefixSize : maxPrefixSize+sendHeadroom : maxPrefixSize+n]
	pt, _ = e2e.AppendPlaintext(pt, e2e.Plaintext{Kind: e2e.AppMessage, Payload: payload})
	addr := m.addrOf(dst)
	var r *sendReq
	if m.isFlowing(addr) {
		r = sendReqPool.Get().(*sendReq) // the owner puts it back (sendDone)
		r.dst, r.addr, r.pt, r.buf = dst, addr, pt, buf
	} else {
		r = &sendReq{ctx: ctx, dst: dst, addr: addr, pt: pt, buf: buf, reply: make(chan error, 1)}
	}
	select {
	case m.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-m.done:
		return ErrClosed
	}
	select {
	case <-m.done: // closed while Send waited for a slot
		<-m.slots
		return ErrClosed
	default:
	}
	reply := r.reply // r may be back in its pool once sent
	m.sends <- r     // never blocks: a slot is held, and sends has one place per slot
	if reply == nil {
		return nil
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-m.done:
		return ErrClosed
	}
}

// isFlowing reports whether Send may queue for a without waiting.
func (m *Router) isFlowing(a protocols.Addr) bool {
	m.flowMu.RLock()
	_, ok := m.flowing[a]
	m.flowMu.RUnlock()
	return ok
}

// setFlowing marks a as a destination with an established session, or
// not (owner only).
func (m *Router) setFlowing(a protocols.Addr, on bool) {
	m.flowMu.Lock()
	defer m.flowMu.Unlock()
	if !on {
		delete(m.flowing, a)
	} else if len(m.flowing) < maxKnownPeers {
		m.flowing[a] = struct{}{}
	}
}

// sendReq is a payload of Send's for the owner. Those of Sends that do
// not wait come from sendReqPool, and sendDone puts them back.
type sendReq struct {
	ctx   context.Context // nil when Send did not wait
	dst   peer.ID
	addr  protocols.Addr
	pt    []byte     // the plaintext at pt[sendHeadroom:], room to seal in place
	buf   *[]byte    // the pooled buffer pt starts in, at maxPrefixSize
	reply chan error // nil when Send did not wait
}

var sendReqPool = sync.Pool{New: func() any { return new(sendReq) }}

// dstAddr is a destination's peer ID with its mesh address.
type dstAddr struct {
	id   peer.ID
	addr protocols.Addr
}

// addrOf returns dst's mesh address, from lastDst when dst is the
// destination of the latest Send.
func (m *Router) addrOf(dst peer.ID) protocols.Addr {
	if d := m.lastDst.Load(); d != nil && d.id == dst {
		return d.addr
	}
	d := &dstAddr{id: dst, addr: protocols.AddrFromPeerID([]byte(dst))}
	m.lastDst.Store(d)
	return d.addr
}

// sendDone answers r's Send, or for one that did not wait counts a
// refusal, makes the next Send to its destination wait, and puts r back
// in its pool; and frees r's slot. r is not used after it.
func (m *Router) sendDone(r *sendReq, err error) {
	<-m.slots
	if r.reply != nil {
		r.reply <- err
		return
	}
	if err != nil {
		m.st.sendErrors++
		m.setFlowing(r.addr, false)
		m.log.Debug("mesh payload refused", "to", r.dst, "err", err)
	}
	*r = sendReq{}
	sendReqPool.Put(r)
}

// onSends takes Send's input queue: the payload at hand and up to
// maxBatch-1 more already waiting, each carried out (flush) before the
// next so that the first hop's congestion is judged on what is queued.
func (m *Router) onSends(now time.Time, r *sendReq) {
	for n := 1; ; n++ {
		m.onSend(now, r)
		m.flush(now)
		if n == maxBatch {
			return
		}
		select {
		case r = <-m.sends:
		default:
			return
		}
	}
}

// onSend hands a send to the channel, or parks it on a congested first
// hop (or behind sends parked there, to keep their order) until that
// drains.
func (m *Router) onSend(now time.Time, r *sendReq) {
	if r.ctx != nil {
		if err := r.ctx.Err(); err != nil {
			m.sendDone(r, err)
			return
		}
	}
	if r.addr == m.self {
		if p, err := e2e.ParsePlaintext(r.pt[sendHeadroom:]); err == nil && p.Kind == e2e.AppMessage {
			m.publish(Message{From: r.dst, Payload: p.Payload, Received: now})
		}
		m.sendDone(r, nil)
		return
	}
	m.learn(r.addr, r.dst)
	if len(m.links) == 0 {
		m.sendDone(r, fmt.Errorf("send to %s: %w", r.dst, ErrNoNeighbor))
		return
	}
	if next, ok := m.engine.NextHop(r.addr); ok {
		if l := m.links[next]; l != nil && (l.awaitDrain() || len(l.parked) > 0) {
			l.parked = append(l.parked, r)
			return
		}
	}
	// The buffer goes to the pool again only from a send queue that took
	// the frame sealed in it (write); otherwise (the channel queued the
	// plaintext, the engine copied it, a queue was full) it is left to
	// the collector.
	m.sealing, m.sealingBuf = r.pt, r.buf
	m.sendDone(r, m.channel.SendBuffer(now, r.addr, r.dst, r.pt[protocols.DataHeaderSize:]))
}

// learn remembers the peer ID behind a mesh address the node deals with
// as an authenticated party (see peerBook); replace is set when a link
// or session proves the owner.
func (m *Router) learn(a protocols.Addr, p peer.ID) { m.learnPeer(a, p, false) }

func (m *Router) learnPeer(a protocols.Addr, p peer.ID, replace bool) {
	if m.peers.known(a) {
		m.peers.learn(a, p, replace, nil)
		return
	}
	var sessions map[protocols.Addr]bool
	m.peers.learn(a, p, replace, func(x protocols.Addr) bool {
		if x == m.self || m.links[x] != nil {
			return true
		}
		if _, ok := m.engine.Route(x); ok {
			return true
		}
		if sessions == nil {
			sessions = map[protocols.Addr]bool{}
			for _, s := range m.channel.Sessions() {
				sessions[s.Addr] = true
			}
		}
		return sessions[x]
	})
}

// PingResult is the answer to a Ping.
type PingResult struct {
	Peer peer.ID `json:"peer"`
	// RTT is from sending the ping to receiving its pong, session setup
	// and route discovery included for a first ping.
	RTT time.Duration `json:"rtt_ns"`
	// Hops is the links the ping crossed, HopsBack the links the pong
	// crossed.
	Hops     int `json:"hops"`
	HopsBack int `json:"hops_back"`
	// NextHop is the neighbor the route to Peer leads through, when the
	// route is still valid.
	NextHop peer.ID `json:"next_hop,omitempty"`
}

type pingWait struct {
	addr  protocols.Addr
	sent  time.Time
	reply chan pongAt
}

type pongAt struct {
	hops, back int
	at         time.Time
	next       peer.ID
}

// Ping sends an echo request to dst over an end-to-end session and waits
// for the reply until ctx ends.
func (m *Router) Ping(ctx context.Context, dst peer.ID) (PingResult, error) {
	if err := dst.Validate(); err != nil {
		return PingResult{}, fmt.Errorf("mesh: ping %q: %w", dst, err)
	}
	id := m.pingBase + m.pingSeq.Add(1)
	addr := protocols.AddrFromPeerID([]byte(dst))
	w := &pingWait{addr: addr, reply: make(chan pongAt, 1)}
	errc := make(chan error, 1)
	start := time.Now()
	err := m.submit(ctx, func(now time.Time) {
		if addr == m.self {
			w.reply <- pongAt{at: now}
			return
		}
		m.learn(addr, dst)
		if len(m.links) == 0 {
			errc <- fmt.Errorf("ping %s: %w", dst, ErrNoNeighbor)
			return
		}
		pt, _ := e2e.AppendPlaintext(nil, e2e.Plaintext{Kind: e2e.AppPing, ID: id})
		m.pings[id] = w
		if err := m.channel.Send(now, addr, dst, pt); err != nil {
			delete(m.pings, id)
			errc <- err
		}
	})
	if err != nil {
		return PingResult{}, err
	}
	select {
	case pong := <-w.reply:
		return PingResult{Peer: dst, RTT: pong.at.Sub(start), Hops: pong.hops, HopsBack: pong.back, NextHop: pong.next}, nil
	case err := <-errc:
		return PingResult{}, err
	case <-ctx.Done():
		_ = m.submit(context.Background(), func(time.Time) { delete(m.pings, id) })
		return PingResult{}, fmt.Errorf("ping %s: %w", dst, ctx.Err())
	case <-m.done:
		return PingResult{}, ErrClosed
	}
}

// Route is one routing table entry with the peer IDs known for its
// addresses ("" when unknown).
type Route struct {
	overlay.RouteInfo
	DstPeer     peer.ID `json:"dst_peer,omitempty"`
	NextHopPeer peer.ID `json:"next_hop_peer,omitempty"`
}

// Routes returns the routing table, ordered by destination address.
func (m *Router) Routes(ctx context.Context) ([]Route, error) {
	var out []Route
	err := m.do(ctx, func(time.Time) {
		for _, ri := range m.engine.Routes() {
			out = append(out, Route{RouteInfo: ri, DstPeer: m.peers.get(ri.Dst), NextHopPeer: m.peers.get(ri.NextHop)})
		}
	})
	return out, err
}

// Neighbor is one neighbor link.
type Neighbor struct {
	overlay.NeighborInfo
	Peer peer.ID `json:"peer"`
	// Outbound is true when this node opened the stream.
	Outbound bool      `json:"outbound"`
	Opened   time.Time `json:"opened"`
	// Queued is the bytes waiting in the link's send queue.
	Queued int `json:"queued_bytes"`
}

// Neighbors returns the neighbor links in the order they came up.
func (m *Router) Neighbors(ctx context.Context) ([]Neighbor, error) {
	var out []Neighbor
	err := m.do(ctx, func(time.Time) {
		for _, ni := range m.engine.Neighbors() {
			nb := Neighbor{NeighborInfo: ni, Peer: m.peers.get(ni.Addr)}
			if l := m.links[ni.Addr]; l != nil {
				nb.Outbound, nb.Opened, nb.Queued = l.outbound, l.opened, l.queued()
			}
			out = append(out, nb)
		}
	})
	return out, err
}

// LinkStats returns the neighbor links as the engine measures them with
// HELLOs (round-trip time, delivery each way), as of at most
// maintainInterval ago. It never blocks: telemetry calls it.
func (m *Router) LinkStats() []overlay.NeighborInfo {
	if p := m.linkStats.Load(); p != nil {
		return *p
	}
	return nil
}

// DataPlane returns the DATA-plane counters for the node's telemetry:
// the engine's relayed and dropped DATA frames, as of at most
// maintainInterval ago, and the relayed frames the link writers wrote
// with their total time from read to written (from the reader's
// timestamp of the frame the engine relayed, or from when the engine
// released it after a route discovery, to the end of the stream write
// that carried it). It never blocks: telemetry calls it.
func (m *Router) DataPlane() protocols.TelemetryData {
	var d protocols.TelemetryData
	if st := m.engStats.Load(); st != nil {
		d.Forwarded = st.Forwarded
		for _, c := range st.Dropped {
			d.Dropped += c
		}
	}
	d.Written = uint64(m.relayed.Load())
	d.Delay = time.Duration(m.relayDelay.Load()).Truncate(time.Microsecond)
	return d
}

// Counters returns LinkStats and DataPlane as the owner reads them now,
// so that a telemetry message's DATA counters are those of its time
// (the view's rates divide them by the time between two messages: a
// snapshot up to maintainInterval older than its message, at a lag that
// flips between two messages, read 0.75 s of frames in one interval and
// 1.25 s in the next, and the two ends of a link disagreed by that
// much). If the owner has not read them when ctx ends (a loop that
// fell behind), it returns the latest stored ones, as LinkStats and
// DataPlane do.
func (m *Router) Counters(ctx context.Context) ([]overlay.NeighborInfo, protocols.TelemetryData) {
	read := make(chan struct{})
	if m.submit(ctx, func(time.Time) { m.storeStats(); close(read) }) == nil {
		select {
		case <-read:
		case <-ctx.Done():
		case <-m.done:
		}
	}
	return m.LinkStats(), m.DataPlane()
}

// storeStats stores the engine's neighbor links and counters for
// LinkStats and DataPlane. The owner calls it.
func (m *Router) storeStats() {
	nbs := m.engine.Neighbors()
	m.linkStats.Store(&nbs)
	st := m.engine.Stats()
	m.engStats.Store(&st)
}

// relayWritten adds the relayed frames of a batch just written, at now,
// to the relay counters. Writers call it.
func (m *Router) relayWritten(batch []queued, now time.Time) {
	var n, total int64
	for _, q := range batch {
		if q.relayed != 0 {
			n++
			total += max(0, now.UnixNano()-q.relayed)
		}
	}
	if n > 0 {
		m.relayed.Add(n)
		m.relayDelay.Add(total)
	}
}

// Session describes one end-to-end session.
type Session struct {
	Peer        peer.ID             `json:"peer"`
	Initiator   bool                `json:"initiator"`
	Sending     bool                `json:"sending"`
	Established time.Time           `json:"established"`
	Stats       pqcsec.SessionStats `json:"stats"`
}

// Sessions lists the end-to-end sessions.
func (m *Router) Sessions(ctx context.Context) ([]Session, error) {
	var out []Session
	err := m.do(ctx, func(time.Time) {
		for _, s := range m.channel.Sessions() {
			out = append(out, Session{Peer: s.Record.PeerID(), Initiator: s.Initiator, Sending: s.Sending,
				Established: s.Established, Stats: s.Stats})
		}
	})
	return out, err
}

// Stats are the router's counters.
type Stats struct {
	Engine  overlay.Stats `json:"engine"`
	Channel e2e.Stats     `json:"channel"`
	// Neighbors is the number of neighbor links.
	Neighbors int `json:"neighbors"`
	// FramesIn and FramesOut count frames by packet type (index
	// protocols.Type) read from and queued on links; QueueDrops those
	// dropped because a send queue was full.
	FramesIn   [protocols.TypeCount]uint64 `json:"frames_in"`
	FramesOut  [protocols.TypeCount]uint64 `json:"frames_out"`
	QueueDrops [protocols.TypeCount]uint64 `json:"queue_drops"`
	// LinkDrops counts frames lost with their link, by packet type:
	// queued on it when it closed or a new stream from the neighbor
	// replaced it, or read from it and not stepped by then. (Frames a
	// writer had in hand when its stream failed are not counted: the
	// peer may have read them.)
	LinkDrops [protocols.TypeCount]uint64 `json:"link_drops"`
	// NoLink counts frames for a neighbor whose link had just gone;
	// BadFrames frames the engine refused; Resets links reset by this
	// node (refused, stale, stalled or replaced).
	NoLink    uint64 `json:"no_link"`
	BadFrames uint64 `json:"bad_frames"`
	Resets    uint64 `json:"resets"`
	// Unpaused counts DATA frames forwarded onto a congested link without
	// pausing the link they came from, because that link also carried
	// DATA that flowed (see the package documentation, Send queues).
	Unpaused uint64 `json:"unpaused"`
	// Delivered counts application messages handed to subscribers;
	// BadPlaintext opened plaintexts that did not parse; SendErrors
	// channel packets the engine refused and payloads refused after a
	// Send that did not wait for the verdict had returned (see Send).
	Delivered    uint64 `json:"delivered"`
	BadPlaintext uint64 `json:"bad_plaintext"`
	SendErrors   uint64 `json:"send_errors"`
	// HelloLoss counts neighbors the engine declared dead for HELLO
	// loss, RoutesLost valid routes that broke (link break or RERR),
	// DiscoveriesFailed route discoveries that gave up.
	HelloLoss         uint64 `json:"hello_loss"`
	RoutesLost        uint64 `json:"routes_lost"`
	DiscoveriesFailed uint64 `json:"discoveries_failed"`
	// Shed counts relayed DATA frames dropped under a relay share below
	// 1 (SetRelayShare).
	Shed uint64 `json:"shed"`
}

// Stats returns the router's counters.
func (m *Router) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	err := m.do(ctx, func(time.Time) {
		st = Stats{
			Engine: m.engine.Stats(), Channel: m.channel.Stats(), Neighbors: len(m.links),
			FramesIn: m.st.framesIn, FramesOut: m.st.framesOut, QueueDrops: m.st.queueDrops, LinkDrops: m.st.linkDrops,
			NoLink: m.st.noLink, BadFrames: m.st.badFrames, Resets: m.st.resets, Unpaused: m.st.unpaused,
			Delivered: m.st.delivered, BadPlaintext: m.st.badPlaintext, SendErrors: m.st.sendErrors,
			HelloLoss: m.st.helloLoss, RoutesLost: m.st.routesLost, DiscoveriesFailed: m.st.discFail,
			Shed: m.st.shed,
		}
	})
	return st, err
}

// maintainInterval is how often the owner looks over the connected peers
// (admissions, streams to open, stale links) without being woken.
const maintainInterval = 250 * time.Millisecond

// run is the owner goroutine: the only one that touches the engine, the
// channel and the link table.
func (m *Router) run(ctx context.Context) {
	defer m.shutdown()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var timerAt time.Time
	maintain := time.NewTicker(maintainInterval)
	defer maintain.Stop()
	m.maintain(time.Now())
	for {
		var input ownerInput
		var woke time.Time
		m.frameLag, m.tickLag = 0, 0
		select {
		case <-ctx.Done():
			return
		case rb := <-m.frames:
			input, woke = inputFrames, time.Now()
			m.onFrames(rb)
			m.drainFrames()
		case ev := <-m.events:
			input, woke = inputEvent, time.Now()
			m.onEvent(woke, ev)
		case r := <-m.requests:
			input, woke = inputRequest, time.Now()
			r.fn(woke)
		case r := <-m.sends:
			input, woke = inputSends, time.Now()
			m.onSends(woke, r)
		case l := <-m.drained:
			input, woke = inputDrained, time.Now()
			m.onDrained(woke, l)
		case <-timer.C:
			input, woke = inputTimer, time.Now()
			timerAt = time.Time{}
		case <-m.kick:
			input, woke = inputMaintain, time.Now()
			m.maintain(woke)
		case <-maintain.C:
			input, woke = inputMaintain, time.Now()
			m.maintain(woke)
		}
		// Frames already read go to the engine before its timers run: a
		// loop that fell behind (a loaded machine) must not declare a
		// neighbor dead whose HELLO is waiting in the queue.
		m.drainFrames()
		now := time.Now()
		m.tick(now)
		m.flush(now)
		m.wakeWriters()
		m.stepped(input, woke, time.Now(), m.frameLag, m.tickLag)
		next := m.engine.NextDeadline()
		if cd := m.channel.NextDeadline(); !cd.IsZero() && (next.IsZero() || cd.Before(next)) {
			next = cd
		}
		if !next.Equal(timerAt) {
			timerAt = next
			if next.IsZero() {
				timer.Stop()
			} else {
				timer.Reset(next.Sub(now))
			}
		}
	}
}

// maxBatch bounds the frames the owner takes in one go before it
// carries out Ready and looks at its other inputs.
const maxBatch = 64

// drainFrames steps the frames already waiting, so that their output goes
// to the links in one batch.
func (m *Router) drainFrames() {
	for n := 0; n < maxBatch; {
		select {
		case rb := <-m.frames:
			n += rb.n
			m.onFrames(rb)
		default:
			return
		}
	}
}

// onFrames steps the frames of a reader's batch in order.
func (m *Router) onFrames(rb *readBatch) {
	if rb.n > 0 {
		lag := time.Since(rb.frames[0].at)
		m.owner.frameLag.observe(lag)
		m.frameLag = max(m.frameLag, lag)
	}
	for i := range rb.n {
		m.onFrame(rb.frames[i]) // releases the frame's buffer or passes it on
	}
	if l := rb.frames[0].l; rb.n > 0 && l.probeWanted {
		// A paused link is read a batch at a time (backpressure):
		// the next one once this one is stepped, so that it brings
		// what came meanwhile, not a frame or two.
		l.probeWanted = false
		if l.pausedOn != nil {
			wakeup(l.probe)
		}
	}
	rb.recycle()
}

// tick runs the engine's and the channel's timers that are due.
func (m *Router) tick(now time.Time) {
	if d := m.engine.NextDeadline(); !d.IsZero() && !d.After(now) {
		lag := now.Sub(d)
		m.owner.tickLag.observe(lag)
		m.tickLag = max(m.tickLag, lag)
		// Served a HELLO interval late or more: the node did not run
		// (or its owner did not), and what the neighbors sent meanwhile
		// may not be read yet.
		m.engine.Absent(now, lag)
		m.engine.Tick(now)
	}
	if d := m.channel.NextDeadline(); !d.IsZero() && !d.After(now) {
		m.channel.Tick(now)
	}
}

// flush carries out what the channel and the engine ask, until neither
// asks anything: channel packets go to the engine, engine frames to the
// links, engine deliveries to the channel, channel deliveries to the
// application.
func (m *Router) flush(now time.Time) {
	defer func() { m.sealing, m.sealingBuf = nil, nil }()
	for m.channel.HasReady() || m.engine.HasReady() {
		if m.channel.HasReady() {
			// Handling a delivery may make the channel send (a pong), so
			// take its Ready out before going through it.
			rd := m.channel.Ready()
			m.ready.Packets = append(m.ready.Packets[:0], rd.Packets...)
			m.ready.Deliveries = append(m.ready.Deliveries[:0], rd.Deliveries...)
			m.ready.Events = append(m.ready.Events[:0], rd.Events...)
			m.channel.Advance()
			for _, p := range m.ready.Packets {
				if err := m.sendPacket(now, p); err != nil {
					m.st.sendErrors++
					m.log.Debug("mesh packet refused", "to", p.To.Short(), "err", err)
				}
			}
			for _, d := range m.ready.Deliveries {
				m.onDelivery(now, d)
			}
			for _, ev := range m.ready.Events {
				m.onChannelEvent(ev)
			}
			clear(m.ready.Packets)
			clear(m.ready.Deliveries)
			clear(m.ready.Events)
		}
		if m.engine.HasReady() {
			rd := m.engine.Ready()
			for _, o := range rd.Messages {
				m.write(o, now)
			}
			for _, d := range rd.Deliveries {
				_ = m.channel.Step(now, d.From, d.Via, d.Payload, d.Hops) // refusals are channel events
			}
			for _, ev := range rd.Events {
				m.onEngineEvent(now, ev)
			}
			m.engine.Advance()
		}
	}
}

// sendPacket hands a channel packet to the routing engine. An answer
// (a handshake reply, an unknown-session notice) to an address the node
// has not dealt with as an authenticated party (peerBook) goes only over
// a route that exists: the source of the DATA it answers may be forged,
// and a discovery per forged source is what a storm of them would buy.
// A handshake's first message over a route of several hops also asks for
// a route refresh, sent ahead of it, so that the destination learns a
// way back even if this node learned its route as a relay.
func (m *Router) sendPacket(now time.Time, p e2e.Packet) error {
	if env, err := e2e.ParseEnvelope(p.Payload); err == nil {
		switch env.Kind {
		case e2e.KindReply, e2e.KindUnknown:
			if !m.peers.known(p.To) {
				return m.engine.Answer(now, p.To, p.Payload)
			}
		case e2e.KindInit:
			if r, ok := m.engine.Route(p.To); ok && r.Valid && r.Hops > 1 {
				m.engine.Rediscover(now, p.To)
			}
		}
	}
	if f := m.sealing; len(p.Payload) > 0 && len(f) > protocols.DataHeaderSize &&
		&p.Payload[0] == &f[protocols.DataHeaderSize] {
		// Sealed in Send's buffer, the header's room in front: the
		// engine writes the header there instead of copying the packet.
		return m.engine.SendFrame(now, p.To, f[:protocols.DataHeaderSize+len(p.Payload)])
	}
	return m.engine.Send(now, p.To, p.Payload)
}

// queued notes n bytes just queued on l: the writer is woken once the
// owner is through the input at hand (wakeWriters), so that the frames
// it makes go out in one stream write, or at once when they fill one
// (writeBatch). The owner never waits for more input to fill a write.
func (m *Router) queued(l *link, n int) {
	l.unwoken += n
	switch {
	case l.unwoken >= writeBatch:
		l.unwoken = 0
		wakeup(l.wake)
	case !l.toWake:
		l.toWake = true
		m.toWake = append(m.toWake, l)
	}
}

// wakeWriters wakes the writers of the links frames were queued on since
// the last call. The owner calls it whenever it has carried out its
// input at hand, before it waits for more.
func (m *Router) wakeWriters() {
	for _, l := range m.toWake {
		l.toWake = false
		if l.unwoken > 0 {
			l.unwoken = 0
			wakeup(l.wake)
		}
	}
	clear(m.toWake)
	m.toWake = m.toWake[:0]
}

// write queues an engine frame on its neighbor's link. since is the
// time of the input that made the engine send it: for a DATA frame it
// relays, the frame's read time (see DataPlane).
func (m *Router) write(o overlay.Outbound, since time.Time) {
	typ, _ := protocols.PeekType(o.Frame) // the engine's frames are valid
	l := m.links[o.To]
	if l == nil {
		m.st.noLink++
		m.trace(TraceEvent{Kind: TraceFrameDropped, Peer: o.To, Frame: o.Frame})
		return
	}
	var relayed int64
	var buf *[]byte
	var ch *chunk
	var off int
	late, copied, stepped := false, false, false
	if typ == protocols.TypeData {
		if src, err := protocols.PeekSrc(o.Frame); err == nil && src != m.self {
			relayed = since.UnixNano()
			if m.shedRelay() {
				m.trace(TraceEvent{Kind: TraceFrameDropped, Peer: o.To, Frame: o.Frame})
				return
			}
			// Read from a link this node has paused (before the pause
			// took hold, or in a batch its reader read while paused):
			// the frames already in the reader's hands and the owner's
			// input may exceed the half queue left when the pause
			// began, so they may use the routing frames' room.
			late = m.steppingIn != nil && m.steppingIn.pausedOn != nil
			stepped = m.stepping.ch != nil && sameStart(o.Frame, m.stepping.frame)
		}
		switch {
		case m.stepping.ch != nil && sameStart(o.Frame, m.stepping.frame):
			// The frame read, relayed in place: the queue takes a
			// reference to its chunk, or, if the chunks of the link it
			// came from are pinned enough, a copy in a buffer of its own.
			if p := m.stepping.ch.pinned; p == nil || p.Load() < maxPinned {
				ch, off = m.stepping.ch, m.stepping.off
				break
			}
			buf = getFrame(len(o.Frame))
			o.Frame = (*buf)[maxPrefixSize : maxPrefixSize+copy((*buf)[maxPrefixSize:], o.Frame)]
			copied = true
		case holds(m.sealingBuf, o.Frame):
			buf = m.sealingBuf // sealed in Send's buffer
		}
	}
	// A tracer reads the frame after it is queued, when the writer may
	// already have written it and pooled its buffer for another frame:
	// while one is installed, a pooled buffer is left to the collector
	// instead (queued without it, and no longer released here). A chunk
	// stays held by the frame being stepped until its output is traced.
	queueBuf := buf
	if m.tracer.Load() != nil {
		queueBuf = nil
	}
	if ch != nil {
		ch.hold() // the queue's reference
	}
	q := queued{frame: o.Frame, relayed: relayed, buf: queueBuf, ch: ch, off: off}
	ok := l.enqueue(q, typ, late)
	if !ok && !late && stepped && m.pauses(m.steppingIn, l, since) {
		// The frame being stepped pauses its link once it is queued
		// (backpressure): it is the last one read before that pause,
		// and has the room of those. (Over the DATA bound, which
		// another link's frames read before its own pause filled, it
		// was dropped.)
		ok = l.enqueue(q, typ, true)
	}
	if !ok {
		ch.release()
		m.st.queueDrops[typ]++
		m.trace(TraceEvent{Kind: TraceFrameDropped, Peer: o.To, Frame: o.Frame})
		if copied {
			releaseFrame(buf) // after the tracer read it
		}
		return
	}
	if buf != nil && buf == m.sealingBuf {
		m.sealingBuf = nil
	}
	m.queued(l, len(o.Frame))
	m.st.framesOut[typ]++
	m.trace(TraceEvent{Kind: TraceFrameOut, Peer: o.To, Frame: o.Frame})
}

func (m *Router) onFrame(in inFrame) {
	if m.links[in.l.addr] != in.l {
		typ, _ := protocols.PeekType(in.frame)
		m.st.linkDrops[typ]++
		in.ch.release()
		return // from a link closed or replaced since
	}
	// The engine may send a DATA frame on as it was read: the send queue
	// takes a reference to its chunk (write), and the frame's own goes
	// once its output has been carried out.
	m.stepping, m.steppingIn = in, in.l
	defer func() {
		in.ch.release()
		m.stepping, m.steppingIn = inFrame{}, nil
	}()
	m.trace(TraceEvent{Kind: TraceFrameIn, Peer: in.l.addr, Frame: in.frame})
	if !in.l.heard {
		in.l.heard = true
		if c := m.cands[in.l.peer]; c != nil {
			c.openBackoff = 0 // the remote took the link: open again at once if it fails
		}
	}
	if err := m.engine.Step(in.at, in.l.addr, in.frame); err != nil {
		m.st.badFrames++
		m.log.Debug("mesh frame refused", "from", in.l.peer, "err", err)
		return
	}
	typ, _ := protocols.PeekType(in.frame) // Step took it: it is valid
	m.st.framesIn[typ]++
	if typ == protocols.TypeData {
		// The destination is read before the flush: a frame relayed in
		// place may be written, and its buffer reused, once it is queued.
		dst, err := protocols.PeekDst(in.frame)
		m.flush(in.at) // queue what the frame made before judging congestion
		if err == nil {
			m.backpressure(in.at, in.l, dst)
		}
	}
}

// backpressure pauses reading from in while the link that DATA from it
// to dst is forwarded on is congested, so that a relay slows its
// upstream down (through the stream's flow control) instead of dropping;
// but not while in also carries DATA that flows (delivered here, or
// forwarded on a link that is not congested): a paused stream stalls
// every destination behind it, and one slow next hop must not stall
// the others. Such a link is read on, and the congested link's queue
// drops what does not fit.
//
// DATA from a paused link (read before the pause took hold, or in a
// batch its reader read while paused) for the queue the link waits for
// keeps it paused while that queue is congested, and asks the reader for
// another batch while the queue is below its DATA bound: a paused link
// is read as far as that room goes, a batch at a time, so that DATA for
// other places behind the bulk in its stream comes through, and past it
// a batch each HELLO interval, into the reserve. DATA that went
// elsewhere, or to a queue no longer congested, ends the pause: the
// route moved, or the link carries other traffic.
func (m *Router) backpressure(now time.Time, in *link, dst protocols.Addr) {
	var out *link // nil: delivered to this node
	if dst != m.self {
		next, ok := m.engine.NextHop(dst)
		if !ok {
			return
		}
		if out = m.links[next]; out == nil || out == in {
			return
		}
	}
	if in.pausedOn != nil {
		if out == in.pausedOn && out.awaitDrain() {
			if out.belowBound() {
				in.probeWanted = true // once the batch is stepped (onFrames)
			}
			return
		}
		m.unpause(in)
	}
	switch {
	case out == nil:
		in.flowed(nil, now)
	case !out.awaitDrain():
		in.flowed(out, now)
	case in.flowsElsewhere(out, now.Add(-m.cfg.Routing.HelloInterval)):
		m.st.unpaused++
	default:
		in.pausedOn = out
		in.paused.Store(true)
		if !slices.Contains(out.pausedBy, in) {
			out.pausedBy = append(out.pausedBy, in)
		}
	}
}

// pauses reports whether backpressure will pause in, not paused, for
// DATA read at now that goes to out.
func (m *Router) pauses(in, out *link, now time.Time) bool {
	return out != in && out.congested() && !in.flowsElsewhere(out, now.Add(-m.cfg.Routing.HelloInterval))
}

// unpause lets in read again.
func (m *Router) unpause(in *link) {
	in.pausedOn = nil
	in.paused.Store(false)
	select {
	case <-in.probe: // not for the next pause
	default:
	}
	wakeup(in.resume)
}

// resumeReaders lets the links paused by l read again.
func (m *Router) resumeReaders(l *link) {
	for _, in := range l.pausedBy {
		if in.pausedOn == l {
			m.unpause(in)
		}
	}
	clear(l.pausedBy)
	l.pausedBy = l.pausedBy[:0]
}

func (m *Router) onDelivery(now time.Time, d e2e.Delivery) {
	pt, err := e2e.ParsePlaintext(d.Payload)
	if err != nil {
		m.st.badPlaintext++
		return
	}
	from := d.Peer.PeerID()
	m.learn(d.From, from)
	switch pt.Kind {
	case e2e.AppMessage:
		m.publish(Message{From: from, Payload: pt.Payload, Hops: d.Hops, Received: now})
	case e2e.AppPing:
		pong, _ := e2e.AppendPlaintext(nil, e2e.Plaintext{Kind: e2e.AppPong, ID: pt.ID, Hops: uint8(min(d.Hops, 255))})
		if err := m.channel.Send(now, d.From, from, pong); err != nil {
			m.log.Debug("pong not sent", "to", from, "err", err)
		}
	case e2e.AppPong:
		if w := m.pings[pt.ID]; w != nil && w.addr == d.From {
			delete(m.pings, pt.ID)
			next, _ := m.engine.NextHop(d.From)
			w.reply <- pongAt{hops: int(pt.Hops), back: d.Hops, at: now, next: m.peers.get(next)}
		}
	}
}

func (m *Router) onChannelEvent(ev e2e.Event) {
	m.trace(TraceEvent{Kind: TraceChannel, Channel: ev})
	switch ev.Kind {
	case e2e.EventEstablished:
		m.learn(ev.Peer, ev.Record.PeerID())
		m.setFlowing(ev.Peer, true)
		m.log.Debug("mesh session established", "peer", ev.Record.PeerID(), "initiator", ev.Initiator, "rekey", ev.Rekey)
	case e2e.EventFailed, e2e.EventReset:
		m.setFlowing(ev.Peer, false)
		m.log.Debug("mesh channel", "event", ev.String())
	case e2e.EventHandshake:
		if !ev.Rekey {
			m.setFlowing(ev.Peer, false) // no session to send on meanwhile
		}
	case e2e.EventRejected:
		m.log.Debug("mesh channel", "event", ev.String())
	}
}

func (m *Router) onEngineEvent(now time.Time, ev overlay.Event) {
	m.trace(TraceEvent{Kind: TraceEngine, Engine: ev})
	switch ev.Kind {
	case overlay.EventLinkDown:
		l := m.links[ev.Peer]
		if ev.Reason == overlay.ReasonHelloLoss {
			m.st.helloLoss++
			if l != nil {
				l.deadSince = now
			}
		}
		if l != nil {
			// Its queue may not drain for a long while, and the
			// engine routes around it: the links it paused read
			// on, their DATA going elsewhere.
			m.resumeReaders(l)
		}
		m.log.Debug("mesh neighbor lost", "peer", m.peers.get(ev.Peer), "reason", ev.Reason)
	case overlay.EventLinkUp:
		if l := m.links[ev.Peer]; l != nil {
			l.deadSince = time.Time{}
		}
	case overlay.EventRouteLost:
		m.st.routesLost++
		m.log.Debug("mesh route", "event", ev.String())
	case overlay.EventDiscoveryFailed:
		m.st.discFail++
		m.log.Debug("mesh route", "event", ev.String())
	case overlay.EventRouteFound:
		m.log.Debug("mesh route", "event", ev.String())
	}
}

// onDrained runs the sends parked on l and lets the links it paused
// read again, now that its queue has drained; unless it is congested
// again already (frames read before a pause took hold may have come
// since the writer told), when they wait for the next time.
func (m *Router) onDrained(now time.Time, l *link) {
	if m.links[l.addr] != l || l.awaitDrain() {
		return
	}
	m.resumeReaders(l)
	parked := l.parked
	l.parked = nil
	for _, r := range parked {
		m.onSend(now, r)
		m.flush(now)
	}
}

// shutdown runs when the owner goroutine ends: it stops taking streams
// and resets every link.
func (m *Router) shutdown() {
	m.h.RemoveStreamHandler(ProtocolID)
	m.h.Network().StopNotify(m.notifiee)
	now := time.Now()
	for _, l := range m.links {
		m.closeLink(now, l, false)
	}
	for _, c := range m.cands {
		if c.pending != nil {
			m.resetStream(c.pending)
		}
	}
}
