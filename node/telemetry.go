package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/x0tta6bl4/x0tta6bl4/bpf"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// TelemetryConfig is the [telemetry] section of config.toml: how the node
// measures itself and gossips its figures on protocols.TelemetryTopic,
// and how long it keeps what others gossip.
type TelemetryConfig struct {
	// Interval is the time between two telemetry messages of the node,
	// and so between two readings of its collector: whole milliseconds,
	// at least 50 ms. Other nodes hold the node in their views for
	// HoldIntervals of these.
	Interval time.Duration `toml:"interval"`

	// Source is what measures the node's own figures: "auto" (eBPF
	// where the kernel allows it, else sock_diag netlink and /proc),
	// "procfs" (sock_diag and /proc only) or "none" (no collector; the
	// node gossips only link figures from the routing layer and libp2p).
	// All nodes of one process share one collector per source.
	Source string `toml:"source"`

	// MaxSkew bounds how far a message's time may lie from the
	// receiver's clock, either way; a message beyond it is rejected as
	// stale (or from the future) and counts against the peer that relayed
	// it. It must exceed the clock skew between hosts plus the gossip
	// delay.
	MaxSkew time.Duration `toml:"max_skew"`

	// HoldIntervals is how many of a node's intervals its latest message
	// stays in this node's view (at least 3 s and at most 5 minutes), so
	// that a node that misses HoldIntervals messages in a row drops out.
	// At least 2.
	HoldIntervals int `toml:"hold_intervals"`
}

// DefaultTelemetryConfig is every profile's telemetry: a message a
// second, eBPF where possible, 30 s of clock skew, held 5 intervals.
func DefaultTelemetryConfig() TelemetryConfig {
	return TelemetryConfig{
		Interval:      time.Second,
		Source:        TelemetryAuto,
		MaxSkew:       30 * time.Second,
		HoldIntervals: 5,
	}
}

// minTelemetryInterval is the shortest telemetry interval a config may set.
const minTelemetryInterval = 50 * time.Millisecond

func (c *TelemetryConfig) validate() error {
	switch {
	case c.Interval < minTelemetryInterval || c.Interval%time.Millisecond != 0 ||
		c.Interval > time.Duration(1<<32-1)*time.Millisecond:
		return fieldErr("telemetry.interval", "must be whole milliseconds, at least %v, got %v", minTelemetryInterval, c.Interval)
	case c.Source != TelemetryAuto && c.Source != TelemetryProcfs && c.Source != TelemetryNone:
		return fieldErr("telemetry.source", "unknown source %q (want auto, procfs or none)", c.Source)
	case c.MaxSkew <= 0:
		return fieldErr("telemetry.max_skew", "must be a positive duration, got %v", c.MaxSkew)
	case c.HoldIntervals < 2:
		return fieldErr("telemetry.hold_intervals", "must be at least 2, got %d", c.HoldIntervals)
	}
	return nil
}

// LinkMeter is what the telemetry service needs of the routing layer: the
// neighbor links it measures with HELLOs (round-trip time and delivery in
// each direction). The node's mesh service provides it; LinkStats is
// called once per telemetry interval from the telemetry goroutine and
// must not block.
type LinkMeter interface {
	LinkStats() []overlay.NeighborInfo
}

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

// Telemetry is the node's telemetry service. Every interval it reads the
// host's figures (through a collector shared by the process's nodes),
// joins them with the node's connections and the routing layer's link
// measurements, and publishes one protocols.Telemetry message on
// protocols.TelemetryTopic. It validates every message on the topic
// (size, decoding, sender = signer, freshness) and keeps the valid ones,
// its own included, in an overlay.View: the node's view of the mesh. Its
// methods are safe for concurrent use.
type Telemetry struct {
	n    *Node
	cfg  TelemetryConfig
	log  *slog.Logger
	self protocols.Addr
	pool *collectorPool
	now  func() time.Time

	topic  *pubsub.Topic
	sub    *pubsub.Subscription
	cancel context.CancelFunc
	wg     sync.WaitGroup
	met    *telemetryMetrics

	mu        sync.Mutex
	view      *overlay.View
	meter     LinkMeter
	latest    *protocols.Telemetry // the node's last published message
	drops     map[string]uint64    // drops by reason of the last reading
	source    string               // the collector's source; "" before the first reading
	observers map[int]func(TelemetryDelivery)
	nextObs   int
	started   bool
	closed    bool

	// Owned by the publishing goroutine.
	coll      *sharedCollector
	seq       uint32
	prevLinks map[protocols.Addr]tcpCounters
}

var _ Service = (*Telemetry)(nil)

// tcpCounters are a link's TCP counters at the previous message, for
// its loss over the interval.
type tcpCounters struct {
	retransmits, segmentsSent uint64
}

// setupTelemetry gives the node its telemetry service: metrics, the
// /v1/mesh/view route and a service that starts with the node.
func (n *Node) setupTelemetry() error {
	t, err := newTelemetry(n, n.cfg.Telemetry, hostCollectors)
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

func newTelemetry(n *Node, cfg TelemetryConfig, pool *collectorPool) (*Telemetry, error) {
	vc := overlay.DefaultViewConfig()
	vc.HoldIntervals = cfg.HoldIntervals
	view, err := overlay.NewView(vc)
	if err != nil {
		return nil, fmt.Errorf("telemetry view: %w", err)
	}
	t := &Telemetry{
		n:         n,
		cfg:       cfg,
		log:       n.log.With("service", "telemetry"),
		self:      protocols.AddrFromPeerID([]byte(n.host.ID())),
		pool:      pool,
		now:       time.Now,
		view:      view,
		observers: map[int]func(TelemetryDelivery){},
		prevLinks: map[protocols.Addr]tcpCounters{},
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
	ps := t.n.pubsub
	if err := ps.RegisterTopicValidator(protocols.TelemetryTopic, t.validate, pubsub.WithValidatorInline(true)); err != nil {
		return fmt.Errorf("telemetry validator: %w", err)
	}
	topic, err := ps.Join(protocols.TelemetryTopic)
	if err != nil {
		return errors.Join(fmt.Errorf("join telemetry topic: %w", err), ps.UnregisterTopicValidator(protocols.TelemetryTopic))
	}
	if err := topic.SetScoreParams(telemetryScoreParams); err != nil {
		return errors.Join(fmt.Errorf("telemetry topic score: %w", err), topic.Close(), ps.UnregisterTopicValidator(protocols.TelemetryTopic))
	}
	sub, err := topic.Subscribe(pubsub.WithBufferSize(telemetryBuffer))
	if err != nil {
		return errors.Join(fmt.Errorf("subscribe to telemetry: %w", err), topic.Close(), ps.UnregisterTopicValidator(protocols.TelemetryTopic))
	}
	t.mu.Lock()
	t.topic, t.sub, t.started = topic, sub, true
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
	t.sub.Cancel()
	err := errors.Join(t.topic.Close(), t.n.pubsub.UnregisterTopicValidator(protocols.TelemetryTopic))
	if t.n.ctx.Err() != nil {
		// GossipSub stops with the node: leaving the topic is moot.
		err = nil
	}
	return err
}

// SetLinkMeter gives the service the routing layer's link measurements;
// from the next message on, its links carry HELLO round-trip times and
// loss. nil removes it.
func (t *Telemetry) SetLinkMeter(m LinkMeter) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.meter = m
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

// Validation outcomes, the reason label of
// x0tta6bl4_telemetry_messages_total.
const (
	telemetryAccepted = "accepted"
	telemetrySize     = "size"   // longer than protocols.MaxTelemetrySize
	telemetryDecode   = "decode" // not a valid message
	telemetrySender   = "sender" // names a node other than its signer
	telemetryStale    = "stale"  // older than MaxSkew
	telemetryFuture   = "future" // newer than MaxSkew
	telemetryOld      = "old"    // not newer than what the view holds
)

// check decides on a message signed by from with payload data, received
// at now: the outcome for GossipSub, the reason and, when accepted, the
// decoded message.
func (t *Telemetry) check(now time.Time, from peer.ID, data []byte) (pubsub.ValidationResult, string, *protocols.Telemetry) {
	if len(data) > protocols.MaxTelemetrySize {
		return pubsub.ValidationReject, telemetrySize, nil
	}
	m := new(protocols.Telemetry)
	if err := m.Decode(data); err != nil {
		return pubsub.ValidationReject, telemetryDecode, nil
	}
	if m.Node != protocols.AddrFromPeerID([]byte(from)) {
		return pubsub.ValidationReject, telemetrySender, nil
	}
	switch skew := now.Sub(m.Time); {
	case skew > t.cfg.MaxSkew:
		return pubsub.ValidationReject, telemetryStale, nil
	case skew < -t.cfg.MaxSkew:
		return pubsub.ValidationReject, telemetryFuture, nil
	}
	t.mu.Lock()
	newer := t.view.Newer(now, m.Node, m.Time)
	t.mu.Unlock()
	if !newer {
		// A replay, or reordering: not worth relaying, no fault of the
		// peer that did.
		return pubsub.ValidationIgnore, telemetryOld, nil
	}
	return pubsub.ValidationAccept, telemetryAccepted, m
}

// validate is the topic validator. GossipSub has checked the signature
// against From's key (StrictSign) before calling it.
func (t *Telemetry) validate(_ context.Context, _ peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	res, reason, m := t.check(t.now(), msg.GetFrom(), msg.Data)
	t.met.outcome(res, reason)
	if m != nil {
		msg.ValidatorData = m
	}
	return res
}

func (t *Telemetry) receive(ctx context.Context) {
	for {
		msg, err := t.sub.Next(ctx)
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
				if err := coll.release(); err != nil {
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
		if err := t.publish(ctx); err != nil && ctx.Err() == nil {
			t.log.Debug("publish telemetry", "err", err)
		}
	}
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
	t.mu.Lock()
	meter := t.meter
	t.mu.Unlock()
	t.seq++
	msg := t.build(r, meter)
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

// build makes the node's message from a reading (nil without one) and the
// routing layer's links (nil without it).
func (t *Telemetry) build(r *hostReading, meter LinkMeter) *protocols.Telemetry {
	msg := &protocols.Telemetry{Node: t.self, Seq: t.seq, Interval: t.cfg.Interval}
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
	msg.Links = t.links(r, meter)
	return msg
}

// links returns the node's link figures: one per connected peer and per
// neighbor of the routing layer, at most protocols.MaxTelemetryLinks.
// RTT comes from HELLOs where the routing layer measures the link, else
// from the kernel's smoothed RTT of its TCP sockets, else from libp2p's
// moving average; loss from HELLOs, else from TCP retransmissions over
// the interval; counters from the link's TCP sockets and UDP flows.
func (t *Telemetry) links(r *hostReading, meter LinkMeter) []protocols.TelemetryLink {
	nw := t.n.host.Network()
	ps := t.n.host.Peerstore()
	var out []protocols.TelemetryLink
	index := map[protocols.Addr]int{}
	for _, p := range nw.Peers() {
		l := protocols.TelemetryLink{Peer: protocols.AddrFromPeerID([]byte(p))}
		if r != nil {
			t.joinConns(&l, nw.ConnsToPeer(p), r)
		}
		if l.RTTBy == protocols.MeasureNone {
			if d := ps.LatencyEWMA(p); d > 0 {
				l.RTT, l.RTTBy = d, protocols.MeasureLibp2p
			}
		}
		index[l.Peer] = len(out)
		out = append(out, l)
	}
	for a := range t.prevLinks {
		if _, ok := index[a]; !ok {
			delete(t.prevLinks, a) // the peer is gone
		}
	}
	var nbrs []overlay.NeighborInfo
	if meter != nil {
		nbrs = meter.LinkStats()
	}
	for _, nb := range nbrs {
		if nb.Addr == t.self || nb.Addr.IsZero() {
			continue
		}
		i, ok := index[nb.Addr]
		if !ok {
			i = len(out)
			index[nb.Addr] = i
			out = append(out, protocols.TelemetryLink{Peer: nb.Addr})
		}
		l := &out[i]
		if nb.RTT > 0 {
			l.RTT, l.RTTBy = nb.RTT, protocols.MeasureHello
		}
		if nb.Alive {
			l.LossPercent = 100 * (1 - (nb.DeliveryOut+nb.DeliveryIn)/2)
			l.LossBy = protocols.MeasureHello
		}
	}
	slices.SortFunc(out, func(a, b protocols.TelemetryLink) int { return bytes.Compare(a.Peer[:], b.Peer[:]) })
	if len(out) > protocols.MaxTelemetryLinks {
		out = out[:protocols.MaxTelemetryLinks]
	}
	return out
}

// joinConns adds to l the figures of the sockets of conns found in the
// reading: a TCP connection joins the TCP endpoint of its remote address,
// a QUIC connection the UDP flows between its two addresses. On a host
// that runs one node this is exact; where several nodes of one host
// connect to the same remote address (a devnet), the TCP endpoint sums
// their sockets.
func (t *Telemetry) joinConns(l *protocols.TelemetryLink, conns []network.Conn, r *hostReading) {
	var segs uint64
	seenTCP := map[*bpf.TCPEndpoint]bool{}
	seenUDP := map[*bpf.UDPFlow]bool{}
	for _, c := range conns {
		local, lok := addrPort(c.LocalMultiaddr())
		remote, rok := addrPort(c.RemoteMultiaddr())
		if !lok || !rok {
			continue
		}
		if isTCP(c.RemoteMultiaddr()) {
			e := r.tcp[remote]
			if e == nil || seenTCP[e] {
				continue
			}
			seenTCP[e] = true
			l.TCP = true
			if e.SRTTMicros > 0 && l.RTTBy == protocols.MeasureNone {
				l.RTT, l.RTTBy = time.Duration(e.SRTTMicros)*time.Microsecond, protocols.MeasureTCP
			}
			l.Retransmits += e.Retransmits
			l.BytesSent += e.BytesSent
			l.BytesReceived += e.BytesReceived
			segs += e.SegmentsSent
			continue
		}
		for _, f := range r.udp[remote] {
			if seenUDP[f] || f.Local.Port() != local.Port() ||
				(!local.Addr().IsUnspecified() && f.Local.Addr() != local.Addr()) {
				continue
			}
			seenUDP[f] = true
			l.UDP = true
			l.BytesSent += f.BytesSent
			l.BytesReceived += f.BytesReceived
		}
	}
	if !l.TCP {
		delete(t.prevLinks, l.Peer)
		return
	}
	prev, ok := t.prevLinks[l.Peer]
	t.prevLinks[l.Peer] = tcpCounters{retransmits: l.Retransmits, segmentsSent: segs}
	if !ok || l.Retransmits < prev.retransmits || segs < prev.segmentsSent {
		return // no earlier reading, or the counters restarted
	}
	l.LossBy = protocols.MeasureTCP
	if d := segs - prev.segmentsSent; d > 0 {
		l.LossPercent = min(100, 100*float64(l.Retransmits-prev.retransmits)/float64(d))
	}
}

// addrPort returns the IP address and TCP or UDP port of m.
func addrPort(m ma.Multiaddr) (netip.AddrPort, bool) {
	var ip netip.Addr
	var port uint16
	var havePort bool
	for _, c := range m {
		switch c.Code() {
		case ma.P_IP4, ma.P_IP6:
			a, ok := netip.AddrFromSlice(c.RawValue())
			if !ok {
				return netip.AddrPort{}, false
			}
			ip = a.Unmap()
		case ma.P_TCP, ma.P_UDP:
			p, err := strconv.ParseUint(c.Value(), 10, 16)
			if err != nil {
				return netip.AddrPort{}, false
			}
			port, havePort = uint16(p), true
		}
	}
	if !ip.IsValid() || !havePort {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip, port), true
}

// isTCP reports whether m is a TCP address.
func isTCP(m ma.Multiaddr) bool {
	_, err := m.ValueForProtocol(ma.P_TCP)
	return err == nil
}
