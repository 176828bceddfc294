package light

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	dssync "github.com/ipfs/go-datastore/sync"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	p2pconnmgr "github.com/libp2p/go-libp2p/p2p/net/connmgr"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/observe"
	"github.com/x0tta6bl4/x0tta6bl4/observe/stream"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// DHTPrefix is the nodes' private DHT protocol prefix (node.DHTPrefix).
const DHTPrefix = "/x0tta6bl4"

// UserAgent is what the observer announces through identify.
const UserAgent = "x0tta6bl4-observer/0.1"

// ErrNoBootstrap: a light peer needs at least one bootstrap peer.
var ErrNoBootstrap = errors.New("light: no bootstrap peer")

// Config is a light peer's configuration. Start from DefaultConfig.
type Config struct {
	// Bootstrap are multiaddrs ending in /p2p/<peer ID> of running nodes.
	Bootstrap []string
	// Key is the peer's identity; nil makes an ephemeral Ed25519 key. In
	// closed admission the nodes must list its peer ID in [policy] allow.
	Key crypto.PrivKey
	// ListenAddrs are the addresses to listen on; none by default: a
	// light peer only dials.
	ListenAddrs []string
	// Rendezvous is the nodes' DHT rendezvous namespace, and TargetPeers
	// how many nodes to connect to through it (besides the bootstrap
	// peers), so that one node leaving does not blind the observer.
	Rendezvous  string
	TargetPeers int
	// DialTimeout bounds one dial; RetryInterval is the time between two
	// rounds of dials to the bootstrap peers while none is connected.
	DialTimeout, RetryInterval time.Duration
	// ScoreInterval is how often GossipSub's scores of the peers are read.
	ScoreInterval time.Duration
	Logger        *slog.Logger
}

// DefaultConfig returns the configuration of a light peer of a mesh of
// the default profiles.
func DefaultConfig() Config {
	return Config{
		Rendezvous: "x0tta6bl4/mesh/1", TargetPeers: 4,
		DialTimeout: 5 * time.Second, RetryInterval: 2 * time.Second,
		ScoreInterval: time.Second,
	}
}

// Peer is the observer: a libp2p host that joins a mesh through
// bootstrap peers, runs the private DHT in client mode (it answers no
// query and stores nothing), and subscribes to the telemetry, anomaly and
// governance topics, checking every message with the watch's rules
// (stream.Loop.Check) before GossipSub relays it. It never publishes, and
// it does not speak the mesh protocol, so no node takes it for a mesh
// neighbour or a relay. Close it once.
type Peer struct {
	cfg    Config
	log    *slog.Logger
	host   host.Host
	dht    *dht.IpfsDHT
	ps     *pubsub.PubSub
	loop   *stream.Loop
	boot   []peer.AddrInfo
	topics []*pubsub.Topic
	subs   []*pubsub.Subscription

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// New builds the light peer, feeding loop. It dials nobody until Run.
func New(cfg Config, loop *stream.Loop) (_ *Peer, err error) {
	p := &Peer{cfg: cfg, log: cfg.Logger, loop: loop}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	for i, s := range cfg.Bootstrap {
		ai, err := peer.AddrInfoFromString(s)
		if err != nil {
			return nil, fmt.Errorf("light: bootstrap %d: %w", i, err)
		}
		p.boot = append(p.boot, *ai)
	}
	if len(p.boot) == 0 {
		return nil, ErrNoBootstrap
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if p.host, err = newHost(cfg); err != nil {
		return nil, err
	}
	p.dht, err = dht.New(p.host,
		dht.ProtocolPrefix(DHTPrefix),
		dht.Mode(dht.ModeClient),
		dht.Datastore(dssync.MutexWrap(ds.NewMapDatastore())),
		dht.Validator(record.NamespacedValidator{"pk": record.PublicKeyValidator{}}),
		dht.BootstrapPeers(p.boot...),
	)
	if err != nil {
		return nil, fmt.Errorf("light: dht: %w", err)
	}
	trace := &GossipTrace{Duplicate: func(m *pubsub.Message) { loop.Duplicate(m.GetTopic()) }}
	th := scoreThresholds
	p.ps, err = pubsub.NewGossipSub(p.ctx, p.host,
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithGossipSubParams(GossipParams()),
		pubsub.WithPeerScore(scoreParams(), &th),
		pubsub.WithPeerScoreInspect(pubsub.ExtendedPeerScoreInspectFn(p.inspect), cfg.ScoreInterval),
		pubsub.WithRawTracer(trace),
		pubsub.WithPeerOutboundQueueSize(256),
		pubsub.WithValidateQueueSize(1024),
	)
	if err != nil {
		return nil, fmt.Errorf("light: gossipsub: %w", err)
	}
	for _, t := range observe.Topics {
		if err := p.join(t); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// GossipParams are the observer's GossipSub parameters: GossipSub's
// defaults with a small mesh and no gossip of its own. The observer only
// listens, so it needs few mesh peers per topic: two carry every message
// (each one copy; the defaults' six would send up to six copies, five of
// them duplicates it decodes and drops, and have it forward each message
// to five peers), and three at most before it prunes. It emits no IHAVE
// gossip (Dlazy and GossipFactor 0): the nodes gossip among themselves,
// and the observer's IHAVEs would only make its peers fetch what they
// have from it. It still answers IWANTs from its message cache.
func GossipParams() pubsub.GossipSubParams {
	gp := pubsub.DefaultGossipSubParams()
	gp.D, gp.Dlo, gp.Dhi, gp.Dscore, gp.Dout = 2, 1, 3, 1, 0
	gp.Dlazy, gp.GossipFactor = 0, 0
	return gp
}

// scoreThresholds are the nodes' (node/gossip.go).
var scoreThresholds = pubsub.PeerScoreThresholds{
	GossipThreshold:             -100,
	PublishThreshold:            -500,
	GraylistThreshold:           -1000,
	AcceptPXThreshold:           10,
	OpportunisticGraftThreshold: 5,
}

func scoreParams() *pubsub.PeerScoreParams {
	return &pubsub.PeerScoreParams{
		Topics:                    map[string]*pubsub.TopicScoreParams{},
		AppSpecificScore:          func(peer.ID) float64 { return 0 },
		AppSpecificWeight:         1,
		BehaviourPenaltyWeight:    -10,
		BehaviourPenaltyThreshold: 6,
		BehaviourPenaltyDecay:     pubsub.ScoreParameterDecay(10 * time.Minute),
		DecayInterval:             time.Second,
		DecayToZero:               0.01,
		RetainScore:               10 * time.Minute,
	}
}

// topicScore makes every rejected message count against the peer that
// delivered it, as on the nodes.
var topicScore = &pubsub.TopicScoreParams{
	SkipAtomicValidation:           true,
	TopicWeight:                    1,
	TimeInMeshQuantum:              time.Second,
	InvalidMessageDeliveriesWeight: -10,
	InvalidMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(time.Minute),
}

// newHost builds the host as a node's (TCP and QUIC, TLS 1.3 only, so
// post-quantum key exchange, yamux), listening nowhere unless told to,
// with a small connection manager.
func newHost(cfg Config) (host.Host, error) {
	cm, err := p2pconnmgr.NewConnManager(max(8, cfg.TargetPeers), max(16, 2*cfg.TargetPeers))
	if err != nil {
		return nil, fmt.Errorf("light: connection manager: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ConnectionManager(cm),
		libp2p.UserAgent(UserAgent),
		libp2p.DisableRelay(),
		libp2p.WithDialTimeout(cfg.DialTimeout),
	}
	if cfg.Key != nil {
		opts = append(opts, libp2p.Identity(cfg.Key))
	}
	if len(cfg.ListenAddrs) > 0 {
		opts = append(opts, libp2p.ListenAddrStrings(cfg.ListenAddrs...))
	} else {
		opts = append(opts, libp2p.NoListenAddrs)
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		cm.Close()
		return nil, fmt.Errorf("light: libp2p host: %w", err)
	}
	return h, nil
}

// join registers the watch's rule as the topic's validator, joins the
// topic and subscribes.
func (p *Peer) join(name string) error {
	inline := name == protocols.TelemetryTopic || name == protocols.AnomalyTopic
	var vopts []pubsub.ValidatorOpt
	if inline {
		vopts = append(vopts, pubsub.WithValidatorInline(true))
	}
	if err := p.ps.RegisterTopicValidator(name, p.validate, vopts...); err != nil {
		return fmt.Errorf("light: %s validator: %w", name, err)
	}
	t, err := p.ps.Join(name)
	if err != nil {
		return fmt.Errorf("light: join %s: %w", name, err)
	}
	if err := t.SetScoreParams(topicScore); err != nil {
		return fmt.Errorf("light: %s score: %w", name, err)
	}
	sub, err := t.Subscribe(pubsub.WithBufferSize(1024))
	if err != nil {
		return fmt.Errorf("light: subscribe to %s: %w", name, err)
	}
	p.topics, p.subs = append(p.topics, t), append(p.subs, sub)
	return nil
}

// validate is every topic's validator: the watch's rule for the topic.
// GossipSub has checked the signature (StrictSign).
func (p *Peer) validate(_ context.Context, _ peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	v, decoded := p.loop.Check(observe.Message{
		Topic: msg.GetTopic(), From: consensus.PeerID(msg.GetFrom()), Data: msg.Data, Received: time.Now(),
	})
	switch v.Action {
	case overlay.GossipAccept:
		msg.ValidatorData = decoded
		return pubsub.ValidationAccept
	case overlay.GossipIgnore:
		return pubsub.ValidationIgnore
	}
	return pubsub.ValidationReject
}

// inspect hands GossipSub's scores of the peers to the watch.
func (p *Peer) inspect(scores map[peer.ID]*pubsub.PeerScoreSnapshot) {
	now, m := time.Now(), Scores(scores)
	p.loop.Do(func(w *observe.Watch) []observe.Event { return w.Scores(now, m) })
}

// Scores turns GossipSub's score snapshots into the watch's, by peer ID.
func Scores(scores map[peer.ID]*pubsub.PeerScoreSnapshot) map[string]observe.PeerScore {
	m := make(map[string]observe.PeerScore, len(scores))
	for id, s := range scores {
		m[id.String()] = observe.PeerScore{Score: s.Score, Topics: TopicScores(s)}
	}
	return m
}

// TopicScores are the per-topic parts of a peer's score; nil if none.
func TopicScores(s *pubsub.PeerScoreSnapshot) map[string]observe.TopicScore {
	var out map[string]observe.TopicScore
	for t, ts := range s.Topics {
		if out == nil {
			out = make(map[string]observe.TopicScore, len(s.Topics))
		}
		out[t] = observe.TopicScore{
			TimeInMesh: ts.TimeInMesh, FirstMessageDeliveries: ts.FirstMessageDeliveries,
			MeshMessageDeliveries: ts.MeshMessageDeliveries, InvalidMessageDeliveries: ts.InvalidMessageDeliveries,
		}
	}
	return out
}

// ID is the observer's peer ID.
func (p *Peer) ID() peer.ID { return p.host.ID() }

// Host is the observer's libp2p host.
func (p *Peer) Host() host.Host { return p.host }

// Peers is the number of connected peers.
func (p *Peer) Peers() int { return len(p.host.Network().Peers()) }

// TopicPeers is the number of peers subscribed to each watched topic.
func (p *Peer) TopicPeers() map[string]int {
	out := map[string]int{}
	for _, t := range p.topics {
		out[t.String()] = len(t.ListPeers())
	}
	return out
}

// Start dials the bootstrap peers (retrying while none answers), reads
// the subscriptions into the loop and looks for more nodes under the
// rendezvous. It returns at once; Close stops it all.
func (p *Peer) Start() {
	for _, sub := range p.subs {
		p.wg.Go(func() { p.receive(sub) })
	}
	p.wg.Go(p.connect)
}

func (p *Peer) receive(sub *pubsub.Subscription) {
	for {
		msg, err := sub.Next(p.ctx)
		if err != nil {
			return
		}
		if msg.ValidatorData == nil {
			continue
		}
		p.loop.Message(observe.Message{
			Topic: msg.GetTopic(), From: consensus.PeerID(msg.GetFrom()), Data: msg.Data,
			Received: time.Now(), Decoded: msg.ValidatorData,
		})
	}
}

// connect keeps the observer connected: to every bootstrap peer (dialled
// again every RetryInterval while it is not connected) and, once one
// answers, to nodes found under the rendezvous up to TargetPeers more.
func (p *Peer) connect() {
	disc := drouting.NewRoutingDiscovery(p.dht)
	tick := time.NewTicker(p.cfg.RetryInterval)
	defer tick.Stop()
	lastFind := time.Time{}
	for {
		if p.Peers() < p.cfg.TargetPeers+len(p.boot) {
			p.dialBootstrap()
			if p.Peers() > 0 && time.Since(lastFind) >= 5*p.cfg.RetryInterval {
				lastFind = time.Now()
				p.find(disc)
			}
		}
		select {
		case <-p.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// dialBootstrap dials the bootstrap peers the observer is not connected
// to (a connection can drop, or a node restart), at once.
func (p *Peer) dialBootstrap() {
	var wg sync.WaitGroup
	for _, ai := range p.boot {
		if p.host.Network().Connectedness(ai.ID) == network.Connected {
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(p.ctx, p.cfg.DialTimeout)
			defer cancel()
			if err := p.host.Connect(ctx, ai); err != nil && p.ctx.Err() == nil {
				p.log.Info("bootstrap peer not reached", "peer", ai.ID, "err", err)
				return
			}
			p.log.Debug("connected to a bootstrap peer", "peer", ai.ID)
		})
	}
	wg.Wait()
}

// find connects to nodes advertised under the rendezvous.
func (p *Peer) find(disc *drouting.RoutingDiscovery) {
	ctx, cancel := context.WithTimeout(p.ctx, 10*p.cfg.DialTimeout)
	defer cancel()
	found, err := disc.FindPeers(ctx, p.cfg.Rendezvous)
	if err != nil {
		p.log.Debug("rendezvous lookup", "err", err)
		return
	}
	for ai := range found {
		if ai.ID == p.host.ID() || len(ai.Addrs) == 0 || p.host.Network().Connectedness(ai.ID) == network.Connected {
			continue
		}
		if p.Peers() >= p.cfg.TargetPeers+len(p.boot) {
			return
		}
		dctx, dcancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
		if err := p.host.Connect(dctx, ai); err == nil {
			p.log.Debug("connected to a node found under the rendezvous", "peer", ai.ID)
		}
		dcancel()
	}
}

// Close stops the observer and waits for its goroutines. It is safe to
// call more than once.
func (p *Peer) Close() error {
	var errs []error
	p.once.Do(func() {
		p.cancel()
		p.wg.Wait()
		for _, s := range p.subs {
			s.Cancel()
		}
		for _, t := range p.topics {
			_ = t.Close()
		}
		if p.dht != nil {
			errs = append(errs, p.dht.Close())
		}
		if p.host != nil {
			errs = append(errs, p.host.Close())
		}
	})
	return errors.Join(errs...)
}

// Bootstrap are the bootstrap peers' IDs.
func (p *Peer) Bootstrap() []peer.ID {
	out := make([]peer.ID, 0, len(p.boot))
	for _, ai := range p.boot {
		out = append(out, ai.ID)
	}
	return slices.Clip(out)
}
