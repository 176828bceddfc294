package node

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/x0tta6bl4/x0tta6bl4/bpf"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// LinkMeter is what the telemetry service needs of the routing layer: the
// neighbor links it measures with HELLOs (round-trip time and delivery in
// each direction) and counts DATA on, and its DATA-plane counters, read
// as of the call, or as of before it if they cannot be read before ctx
// ends. The node's mesh router provides it; it is called once per
// telemetry interval from the telemetry goroutine.
type LinkMeter interface {
	Counters(ctx context.Context) ([]overlay.NeighborInfo, protocols.TelemetryData)
}

// countersWait is how long, as a share of the telemetry interval, a
// message waits for the routing layer's counters of its time before it
// takes older ones: the view's rates divide a node's counters by the
// time between its messages, so counters older than their message by a
// lag that changes from one message to the next make rates that do not
// hold (and the two ends of a link disagree on its DATA delivery).
const countersWait = 0.1

// peerConns is what telemetry reads of the node's connections: the
// connected peers and the connections to each (the host's
// network.Network).
type peerConns interface {
	Peers() []peer.ID
	ConnsToPeer(p peer.ID) []network.Conn
}

var _ peerConns = network.Network(nil)

// rttEstimates is libp2p's moving average of each peer's round trips
// (the host's peerstore).
type rttEstimates interface {
	LatencyEWMA(p peer.ID) time.Duration
}

var _ rttEstimates = peerstore.Peerstore(nil)

// TelemetryDelivery is one telemetry message the node took into its view.
type TelemetryDelivery struct {
	// From is the peer that signed the gossip message (the node named in
	// it).
	From peer.ID
	// Message is the decoded message; read it, do not modify it.
	Message *protocols.Telemetry
	// Received is when the node took it, by its own clock.
	Received time.Time
}

// telemetryAdmission is what the telemetry topic's validator asks of the
// node's admission: whether a message's signer may publish telemetry
// (the policy engine's publish-telemetry rule, and membership in closed
// admission), and whether it is a member (others, in open admission,
// are guests: rate-limited, their share of the view bounded). Both are
// called from GossipSub's validation and must not block.
type telemetryAdmission interface {
	checkPeer(p peer.ID, a pqcsec.Action, now time.Time) error
	isMember(p peer.ID) bool
}

var _ telemetryAdmission = (*admission)(nil)

// maxTelemetryGuests bounds the guests (non-members) the view takes in
// open admission: a quarter of overlay's default view, so that guests
// can never crowd members out of it.
const maxTelemetryGuests = 1024

// Telemetry is the node's telemetry service, the driver of the telemetry
// topic's rules (overlay.CheckTelemetry, overlay.LinkFigures) and of the
// node's overlay.View. Every interval it reads the host's figures
// (through a collector shared by the process's nodes), joins them with
// the node's connections and the routing layer's link measurements, and
// publishes one protocols.Telemetry message on protocols.TelemetryTopic.
// It validates every message on the topic and keeps the valid ones, its
// own included, in the view: the node's view of the mesh. Its methods
// are safe for concurrent use.
type Telemetry struct {
	cfg    TelemetryConfig
	log    *slog.Logger
	self   protocols.Addr
	gossip gossip
	conns  peerConns
	rtts   rttEstimates
	meter  LinkMeter // nil without a routing layer
	pool   *collectorPool
	now    func() time.Time
	adm    telemetryAdmission // nil: everyone may publish

	topic  *joinedTopic
	cancel context.CancelFunc
	wg     sync.WaitGroup
	met    *telemetryMetrics

	mu        sync.Mutex
	guests    *guestLimiter // open admission's non-members
	view      *overlay.View
	latest    *protocols.Telemetry // the node's last published message
	drops     map[string]uint64    // drops by reason of the last reading
	source    string               // the collector's source; "" before the first reading
	observers map[int]func(TelemetryDelivery)
	nextObs   int
	started   bool
	closed    bool

	restart atomic.Bool // RestartCollector asked for a restart

	// Owned by the publishing goroutine.
	coll  *sharedCollector
	seq   uint32
	links *overlay.LinkFigures
}

var _ Service = (*Telemetry)(nil)

// telemetryParts are what the telemetry service uses of the node.
type telemetryParts struct {
	self   peer.ID
	gossip gossip
	conns  peerConns
	rtts   rttEstimates
	meter  LinkMeter // nil without a routing layer
	pool   *collectorPool
	adm    telemetryAdmission
	log    *slog.Logger
	// members says which nodes are members, for the view's eviction
	// policy; nil makes every node a non-member.
	members interface{ isMemberAddr(protocols.Addr) bool }
}

// setupTelemetry gives the node its telemetry service, fed by the mesh
// router's link measurements: metrics, the /v1/mesh/view route and a
// service that starts with the node.
func (n *Node) setupTelemetry(meter LinkMeter) error {
	t, err := newTelemetry(n.cfg.Telemetry, telemetryParts{
		self:   n.host.ID(),
		gossip: gossip{ps: n.pubsub, ctx: n.ctx},
		conns:  n.host.Network(),
		rtts:   n.host.Peerstore(),
		meter:  meter,
		pool:   hostCollectors,
		adm:    n.adm,
		log:    n.log,

		members: n.members,
	})
	if err != nil {
		return err
	}
	if err := t.met.register(n.reg); err != nil {
		return err
	}
	if n.api != nil {
		if err := n.api.handle("GET /v1/mesh/view", http.HandlerFunc(t.serveView)); err != nil {
			return err
		}
	}
	n.telemetry = t
	return n.AddService(t)
}

func newTelemetry(cfg TelemetryConfig, p telemetryParts) (*Telemetry, error) {
	vc := overlay.DefaultViewConfig()
	vc.HoldIntervals = cfg.HoldIntervals
	if p.members != nil {
		vc.Member = p.members.isMemberAddr
	}
	view, err := overlay.NewView(vc)
	if err != nil {
		return nil, fmt.Errorf("telemetry view: %w", err)
	}
	t := &Telemetry{
		cfg:       cfg,
		log:       p.log.With("service", "telemetry"),
		self:      protocols.AddrFromPeerID([]byte(p.self)),
		gossip:    p.gossip,
		conns:     p.conns,
		rtts:      p.rtts,
		meter:     p.meter,
		pool:      p.pool,
		now:       time.Now,
		adm:       p.adm,
		guests:    newGuestLimiter(cfg.Interval/2, time.Duration(cfg.HoldIntervals)*cfg.Interval, maxTelemetryGuests),
		view:      view,
		observers: map[int]func(TelemetryDelivery){},
		links:     overlay.NewLinkFigures(),
	}
	t.met = newTelemetryMetrics(t)
	return t, nil
}

// Telemetry is the node's telemetry service: its view of the mesh and
// its own latest figures.
func (n *Node) Telemetry() *Telemetry { return n.telemetry }

// telemetryScoreParams make every rejected telemetry message count
// against the peer that delivered it: GossipSub's invalid-message penalty
// is weight × count², so about ten rejects in a short time take a peer
// below the graylist threshold (-1000), after which its RPCs are ignored;
// the count decays to 1% in a minute.
var telemetryScoreParams = &pubsub.TopicScoreParams{
	SkipAtomicValidation: true,
	TopicWeight:          1,
	// Unused (weight 0), but GossipSub divides by it.
	TimeInMeshQuantum:              time.Second,
	InvalidMessageDeliveriesWeight: -10,
	InvalidMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(time.Minute),
}

// telemetryBuffer is how many validated messages may wait for the view.
const telemetryBuffer = 1024

// Start joins the telemetry topic with its validator and starts
// publishing and receiving.
func (t *Telemetry) Start(ctx context.Context) error {
	topic, err := t.gossip.join(protocols.TelemetryTopic, topicRules{
		validate:      t.validate,
		validatorOpts: []pubsub.ValidatorOpt{pubsub.WithValidatorInline(true)},
		score:         telemetryScoreParams,
		subOpts:       []pubsub.SubOpt{pubsub.WithBufferSize(telemetryBuffer)},
	})
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	t.mu.Lock()
	t.topic, t.started = topic, true
	t.mu.Unlock()
	ctx, t.cancel = context.WithCancel(ctx)
	t.wg.Go(func() { t.receive(ctx) })
	t.wg.Go(func() { t.publishLoop(ctx) })
	return nil
}

// Close stops publishing and receiving, leaves the topic and lets go of
// the collector. It is safe to call more than once.
func (t *Telemetry) Close() error {
	t.mu.Lock()
	if t.closed || !t.started {
		t.closed = true
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()
	t.cancel()
	t.wg.Wait()
	return t.topic.leave()
}

// OnDelivery calls f with every message the node takes into its view,
// its own included, until cancel is called. f runs on the telemetry
// receive goroutine, one call at a time, and must not block.
func (t *Telemetry) OnDelivery(f func(TelemetryDelivery)) (cancel func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	id := t.nextObs
	t.nextObs++
	t.observers[id] = f
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.observers, id)
	}
}

// Graph returns the node's view of the mesh now.
func (t *Telemetry) Graph() overlay.Graph {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.view.Graph(now)
}

// Topology returns who reports whom in the node's view now, without the
// figures (overlay.View.Topology).
func (t *Telemetry) Topology() overlay.Graph {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.view.Topology(now)
}

// Holds reports whether the node's view holds a current message of p.
func (t *Telemetry) Holds(p peer.ID) bool {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.view.Has(now, protocols.AddrFromPeerID([]byte(p)))
}

// ViewSize is the number of nodes in the node's view, itself included.
func (t *Telemetry) ViewSize() int {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.view.Len(now)
}

// Source is the collector's source, bpf.SourceEBPF or bpf.SourceProcfs,
// once it has read; TelemetryNone without a collector; "" before the
// first reading.
func (t *Telemetry) Source() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.source
}

// Latest returns a copy of the node's last published message.
func (t *Telemetry) Latest() (protocols.Telemetry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.latest == nil {
		return protocols.Telemetry{}, false
	}
	m := *t.latest
	m.Links = slices.Clone(m.Links)
	return m, true
}

func (t *Telemetry) serveView(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, t.Graph())
}

// MeshView is GET /v1/mesh/view: the node's view of the mesh.
func (c *Client) MeshView(ctx context.Context) (overlay.Graph, error) {
	return get[overlay.Graph](ctx, c, "/v1/mesh/view")
}

// validate is the topic validator: overlay.CheckTelemetry against the
// node's view, then admission of a valid message's signer. GossipSub has
// checked the signature against From's key (StrictSign) before calling
// it. A signer admission refuses is ignored, not rejected: the policy is
// this node's, so the peer that relayed the message is not to blame.
func (t *Telemetry) validate(_ context.Context, _ peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	now := t.now()
	newer := func(node protocols.Addr, made time.Time) bool {
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.view.Newer(now, node, made)
	}
	verdict, m := overlay.CheckTelemetry(now, protocols.AddrFromPeerID([]byte(msg.GetFrom())), msg.Data, t.cfg.MaxSkew, newer)
	if m != nil {
		if refused := t.admit(msg.GetFrom(), now); refused != "" {
			t.met.refused(refused)
			return pubsub.ValidationIgnore
		}
		msg.ValidatorData = m
	}
	t.met.outcome(verdict)
	return validationResult(verdict.Action())
}

// admit applies admission to the signer of a valid message: the policy,
// then, for a guest (a non-member in open admission), the guest limit. It
// returns why it refused ("policy", "guest-limit"), or "".
func (t *Telemetry) admit(from peer.ID, now time.Time) string {
	if t.adm == nil {
		return ""
	}
	if err := t.adm.checkPeer(from, pqcsec.ActionPublishTelemetry, now); err != nil {
		return "policy"
	}
	if t.adm.isMember(from) {
		return ""
	}
	t.mu.Lock()
	ok := t.guests.allow(from, now)
	t.mu.Unlock()
	if !ok {
		return "guest-limit"
	}
	return ""
}

func (t *Telemetry) receive(ctx context.Context) {
	for {
		msg, err := t.topic.Next(ctx)
		if err != nil {
			return
		}
		m, ok := msg.ValidatorData.(*protocols.Telemetry)
		if !ok {
			continue
		}
		now := t.now()
		t.mu.Lock()
		err = t.view.Update(now, m, msg.GetFrom().String())
		var obs []func(TelemetryDelivery)
		if err == nil {
			for _, f := range t.observers {
				obs = append(obs, f)
			}
		}
		t.mu.Unlock()
		if err != nil {
			// A newer one overtook it since validation, or the view is
			// full.
			t.log.Debug("telemetry not taken", "from", msg.GetFrom(), "err", err)
			continue
		}
		for _, f := range obs {
			f(TelemetryDelivery{From: msg.GetFrom(), Message: m, Received: now})
		}
	}
}

func (t *Telemetry) publishLoop(ctx context.Context) {
	if t.cfg.Source == TelemetryNone {
		t.setSource(TelemetryNone)
	} else {
		coll, err := t.pool.acquire(t.cfg.Source, t.log)
		if err != nil {
			t.log.Warn("telemetry without a collector: only link figures", "err", err)
			t.setSource(TelemetryNone)
		} else {
			t.coll = coll
			defer func() {
				if t.coll == nil {
					return
				}
				if err := t.coll.release(); err != nil {
					t.log.Warn("close telemetry collector", "err", err)
				}
			}()
		}
	}
	tick := time.NewTicker(t.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if t.restart.Swap(false) && t.coll != nil {
			t.restartCollector()
		}
		if err := t.publish(ctx); err != nil && ctx.Err() == nil {
			t.log.Debug("publish telemetry", "err", err)
		}
	}
}

// RestartCollector makes the service let go of its collector and take
// it afresh before its next reading (healing's restart-component): the
// collector is closed and opened again unless another node of the
// process holds it too. It does not wait.
func (t *Telemetry) RestartCollector() { t.restart.Store(true) }

// restartCollector releases the collector and acquires it again.
// Publishing goroutine only.
func (t *Telemetry) restartCollector() {
	if err := t.coll.release(); err != nil {
		t.log.Warn("close telemetry collector", "err", err)
	}
	t.coll = nil
	coll, err := t.pool.acquire(t.cfg.Source, t.log)
	if err != nil {
		t.log.Warn("telemetry collector restart failed: only link figures", "err", err)
		t.setSource(TelemetryNone)
		return
	}
	t.coll = coll
	t.log.Info("telemetry collector restarted")
}

func (t *Telemetry) setSource(s string) {
	t.mu.Lock()
	t.source = s
	t.mu.Unlock()
}

// publish reads the figures, builds the node's message and publishes it.
func (t *Telemetry) publish(ctx context.Context) error {
	now := t.now()
	var r *hostReading
	if t.coll != nil {
		var err error
		// Reuse a reading another node of the process made this interval.
		if r, err = t.coll.reading(now, t.cfg.Interval*9/10); err != nil {
			t.met.collectErrors.Inc()
			t.log.Debug("telemetry reading", "err", err)
		}
	}
	var (
		nbrs []overlay.NeighborInfo
		dp   *protocols.TelemetryData
	)
	if t.meter != nil {
		cctx, cancel := context.WithTimeout(ctx, time.Duration(countersWait*float64(t.cfg.Interval)))
		var d protocols.TelemetryData
		nbrs, d = t.meter.Counters(cctx)
		cancel()
		dp = &d
	}
	t.seq++
	msg := t.build(r, nbrs, dp)
	msg.Time = t.now()
	msg.Round()
	data, err := msg.MarshalBinary()
	if err != nil {
		return fmt.Errorf("encode telemetry: %w", err)
	}
	t.mu.Lock()
	t.latest = msg
	if r != nil {
		t.drops, t.source = r.m.Network.DropsByReason, r.m.Source
	}
	t.view.Expire(now)
	t.mu.Unlock()
	if err := t.topic.Publish(ctx, data); err != nil {
		t.met.published.WithLabelValues("error").Inc()
		return err
	}
	t.met.published.WithLabelValues("ok").Inc()
	return nil
}

// build makes the node's message from a reading (nil without one), the
// routing layer's neighbor links and its DATA-plane counters (nil without
// a routing layer: a version 1 message).
func (t *Telemetry) build(r *hostReading, nbrs []overlay.NeighborInfo, data *protocols.TelemetryData) *protocols.Telemetry {
	msg := &protocols.Telemetry{Node: t.self, Seq: t.seq, Interval: t.cfg.Interval}
	if data != nil {
		msg.DataPlane, msg.Data = true, *data
	}
	if r != nil {
		switch r.m.Source {
		case bpf.SourceEBPF:
			msg.Source = protocols.TelemetrySourceEBPF
		case bpf.SourceProcfs:
			msg.Source = protocols.TelemetrySourceProcfs
		}
		nw, perf := &r.m.Network, &r.m.Performance
		msg.CPUPercent = perf.CPUPercent
		msg.MemoryUsed, msg.MemoryTotal = perf.MemoryUsedBytes, perf.MemoryTotalBytes
		msg.Load1, msg.Load5, msg.Load15 = perf.Load1, perf.Load5, perf.Load15
		msg.Latency = time.Duration(nw.LatencyMillis * float64(time.Millisecond))
		msg.LossPercent = nw.PacketLossPercent
		msg.Retransmits, msg.BytesSent, msg.BytesReceived = nw.Retransmits, nw.BytesSent, nw.BytesReceived
		msg.PacketsSent, msg.PacketsReceived, msg.Drops = nw.PacketsSent, nw.PacketsReceived, nw.Drops
	}
	msg.Links = t.links.Merge(t.self, t.samples(r), nbrs)
	return msg
}

// samples are the node's connected peers, each with what the reading r
// (nil without one) and libp2p measured of its connections.
func (t *Telemetry) samples(r *hostReading) []overlay.LinkSample {
	peers := t.conns.Peers()
	out := make([]overlay.LinkSample, 0, len(peers))
	for _, p := range peers {
		s := overlay.LinkSample{Peer: protocols.AddrFromPeerID([]byte(p)), TransportRTT: t.rtts.LatencyEWMA(p)}
		if r != nil {
			r.join(&s, t.conns.ConnsToPeer(p))
		}
		out = append(out, s)
	}
	return out
}
