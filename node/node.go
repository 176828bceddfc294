package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/observe"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/mesh"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// DHTPrefix is the protocol prefix of the private Kademlia DHT: its
// protocol is /x0tta6bl4/kad/1.0.0, so it never joins the public IPFS DHT.
const DHTPrefix = "/x0tta6bl4"

// ErrStarted is returned by calls allowed only before Start.
var ErrStarted = errors.New("node: already started")

// ErrClosed is returned by calls on a closed node.
var ErrClosed = errors.New("node: closed")

// Options are what a node is given rather than configured with.
type Options struct {
	// Key is the libp2p identity; nil makes an ephemeral Ed25519 key.
	Key crypto.PrivKey
	// Datastore holds DHT records and app state; nil uses an in-memory
	// one. The node does not close it: its opener does, after Close.
	Datastore ds.Batching
	// Logger receives the node's logs; nil discards them.
	Logger *slog.Logger
	// Gater, if set, also decides which peers and addresses may connect
	// (devnet topologies use it), after the node's own admission.
	Gater connmgr.ConnectionGater
	// Registry collects the node's metrics, libp2p's included; nil makes
	// a fresh one. Give each node in a process its own.
	Registry *prometheus.Registry
	// Identity is the node's hybrid identity for Key (pqcsec); nil makes
	// an ephemeral one. A daemon loads it from its repo dir.
	Identity *pqcsec.Identity
	// MeshFault, for tests only (devnet's fault scenario), makes the
	// mesh's link writers misbehave as a gray failure would (see
	// mesh.Fault); nil in service.
	MeshFault mesh.Fault
	// APIToken is the bearer token the local API requires of every
	// request that changes something; "" draws a random one
	// (Node.APIToken). A daemon reads it from its repo's api.token.
	APIToken string
}

// Service is a component whose life the node manages: Start runs after
// the host, DHT and GossipSub are up, in the order the services were
// added; Close runs before they go down, in reverse order. ctx ends when
// the node closes. Start must not block; a service runs its goroutines
// until ctx ends or Close, and Close waits for them.
type Service interface {
	Start(ctx context.Context) error
	Close() error
}

// Node is one x0tta6bl4 peer: a libp2p host with a private DHT, GossipSub,
// a datastore and a local HTTP API. Build it with New, add services,
// routes and namespaces, then Start it; Close it once.
type Node struct {
	cfg    Config
	log    *slog.Logger
	key    crypto.PrivKey
	ds     ds.Batching
	reg    *prometheus.Registry
	ns     *namespaces
	tls    *tlsStates
	host   host.Host
	dht    *dht.IpfsDHT
	pubsub *pubsub.PubSub
	api    *api
	met    *metrics
	conn   *connector

	telemetry *Telemetry // gossips the node's figures, holds its view (telemetry.go)

	anomaly *Anomaly // scores the neighbours, judges suspects, rolls out models (anomaly*.go)

	gov *Governance // proposals, votes and their replication (governance.go)
	// members is the membership governance left, which the telemetry
	// view and the governance DHT quota ask (governance_quota.go).
	members *govMembers

	mesh *meshService // the mesh router: routing and end-to-end channels (mesh.go)

	trace *gossipTrace   // GossipSub's deliveries, duplicates and scores (gossip_trace.go)
	dash  *dashboard     // the web dashboard's watch and event stream (dashboard.go)
	heal  *Heal          // the self-healing loop (heal*.go)
	bans  *neighbourBans // neighbours the healing loop replaced, kept off the mesh

	identity    *pqcsec.Identity
	policy      *pqcsec.PolicyEngine
	adm         *admission     // who may do what: the policy and the admission mode (admission.go)
	ids         *identityCache // peers' verified identity records
	spiffe      spiffeState    // the node's X.509-SVID and trust bundles (spiffe.go)
	republish   chan struct{}  // wakes publishIdentity for a record issued anew
	genesis     *consensus.Genesis
	trustDomain spiffeid.TrustDomain
	recMu       sync.Mutex
	record      *pqcsec.Record // latest identity record issued

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	services []Service
	started  []Service // services whose Start succeeded
	state    int       // stateNew, stateStarted, stateClosed
	closeErr error
	born     time.Time
}

const (
	stateNew = iota
	stateStarted
	stateClosed
)

// New builds a node and brings up its host (listening), DHT and GossipSub.
// Peers are dialled and the API served only once Start is called.
func New(cfg Config, opts Options) (_ *Node, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:       cfg,
		log:       opts.Logger,
		key:       opts.Key,
		ds:        opts.Datastore,
		reg:       opts.Registry,
		ns:        newNamespaces(),
		tls:       &tlsStates{},
		born:      time.Now(),
		republish: make(chan struct{}, 1),

		members: &govMembers{},
	}
	if n.log == nil {
		n.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if n.key == nil {
		if n.key, _, err = crypto.GenerateEd25519Key(rand.Reader); err != nil {
			return nil, fmt.Errorf("generate identity: %w", err)
		}
	}
	if n.ds == nil {
		n.ds = MemoryDatastore()
	}
	if n.reg == nil {
		n.reg = prometheus.NewRegistry()
		// The scheduler's figures (go_sched_latencies_seconds: how long
		// goroutines wait to run; go_sched_pauses_*: the world stopped)
		// tell a node held up as a whole from one busy goroutine.
		n.reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsScheduler)),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			n.teardown()
		}
	}()

	if err := n.setupAdmission(opts); err != nil {
		return nil, err
	}
	if n.host, err = newHost(cfg, n.key, &admissionGater{adm: n.adm, inner: opts.Gater}, n.reg, n.tls); err != nil {
		return nil, err
	}
	n.dht, err = dht.New(n.host,
		dht.ProtocolPrefix(DHTPrefix),
		dht.Mode(dht.ModeServer),
		dht.Datastore(n.ds),
		dht.Validator(n.ns),
		// No public bootstrap peers: the node's connector dials the
		// configured ones.
		dht.BootstrapPeers(),
	)
	if err != nil {
		return nil, fmt.Errorf("dht: %w", err)
	}
	// The dashboard's watch and the gossip trace that feeds it exist
	// before GossipSub, which calls the trace.
	if n.dash, err = newDashboard(n); err != nil {
		return nil, err
	}
	n.trace = newGossipTrace(n.log)
	n.trace.watch = func(m observe.Message) {
		if n.dash.watching() {
			n.dash.loop.Message(m)
		}
	}
	if err := n.trace.register(n.reg); err != nil {
		return nil, fmt.Errorf("gossip metrics: %w", err)
	}
	if n.pubsub, err = newPubSub(n.ctx, n.host, cfg, n.adm.gossipScore, n.trace.options()...); err != nil {
		return nil, err
	}
	if err := n.setupIdentity(opts); err != nil {
		return nil, err
	}
	if n.met, err = newMetrics(n); err != nil {
		return nil, err
	}
	if cfg.APIAddr != "" {
		token := opts.APIToken
		if token == "" {
			token = NewAPIToken()
		}
		n.api = newAPI(n, token)
	}
	if n.conn, err = newConnector(n); err != nil {
		return nil, err
	}
	// Services in the order of the data: what one consumes is built (and
	// started) before it.
	if err := n.setupMesh(opts.MeshFault); err != nil {
		return nil, err
	}
	if err := n.setupTelemetry(n.mesh.r); err != nil {
		return nil, err
	}
	if err := n.setupAnomaly(); err != nil {
		return nil, err
	}
	if err := n.setupGovernance(); err != nil {
		return nil, err
	}
	if err := n.setupHeal(); err != nil {
		return nil, err
	}
	if err := n.setupDashboard(); err != nil {
		return nil, err
	}
	n.log.Info("node up", "id", n.host.ID(), "addrs", n.host.Addrs())
	return n, nil
}

// Start serves the API, starts the services and begins dialling
// bootstrap peers and discovering others. ctx bounds only the start
// itself; the node runs until Close.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch n.state {
	case stateStarted:
		return ErrStarted
	case stateClosed:
		return ErrClosed
	}
	n.state = stateStarted
	for _, s := range n.services {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("start: %w", err)
		}
		if err := s.Start(n.ctx); err != nil {
			return fmt.Errorf("start %T: %w", s, err)
		}
		n.started = append(n.started, s)
	}
	if n.api != nil {
		if err := n.api.listen(); err != nil {
			return err
		}
		n.goRun(n.api.serve)
		n.log.Info("api listening", "addr", n.api.addr())
	}
	n.conn.start()
	n.goRun(n.publishIdentity)
	n.goRun(func() { n.ids.run(n.ctx, n.LookupIdentity) })
	if n.cfg.SPIFFE.WorkloadAPI != "" {
		n.goRun(n.watchSVID)
	}
	return nil
}

// goRun runs f on a goroutine that Close waits for.
func (n *Node) goRun(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// Close stops everything the node started, in reverse order, and waits
// for its goroutines. It is safe to call more than once.
func (n *Node) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.state == stateClosed {
		return n.closeErr
	}
	n.state = stateClosed
	n.closeErr = n.teardown()
	return n.closeErr
}

// teardown releases whatever New and Start acquired.
func (n *Node) teardown() error {
	var errs []error
	n.cancel()
	if n.api != nil {
		errs = append(errs, n.api.close())
	}
	for _, s := range slices.Backward(n.started) {
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %T: %w", s, err))
		}
	}
	n.started = nil
	n.wg.Wait()
	if n.conn != nil {
		n.conn.close()
	}
	if n.dht != nil {
		if err := n.dht.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close dht: %w", err))
		}
	}
	if n.host != nil {
		if err := n.host.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close host: %w", err))
		}
	}
	return errors.Join(errs...)
}

// AddService adds a service to start with the node. Call it before Start.
func (n *Node) AddService(s Service) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.state != stateNew {
		return fmt.Errorf("add service %T: %w", s, ErrStarted)
	}
	n.services = append(n.services, s)
	return nil
}

// RegisterNamespace makes the DHT accept records under /ns/: v validates
// them and picks among versions. Records of unregistered namespaces are
// rejected. It may be called at any time; a namespace is registered once.
func (n *Node) RegisterNamespace(ns string, v Validator) error {
	return n.ns.register(ns, v)
}

// Handle adds an API route. pattern is an http.ServeMux pattern whose
// path starts with /v1/ (e.g. "GET /v1/mesh/routes"); handlers should
// answer with WriteJSON and WriteError. It may be called before or after
// Start.
func (n *Node) Handle(pattern string, h http.Handler) error {
	if n.api == nil {
		return fmt.Errorf("handle %q: api disabled (api_addr is empty)", pattern)
	}
	return n.api.handle(pattern, h)
}

// ID is the node's peer ID.
func (n *Node) ID() peer.ID { return n.host.ID() }

// Host is the libp2p host.
func (n *Node) Host() host.Host { return n.host }

// DHT is the private Kademlia DHT.
func (n *Node) DHT() *dht.IpfsDHT { return n.dht }

// PubSub is GossipSub.
func (n *Node) PubSub() *pubsub.PubSub { return n.pubsub }

// Datastore is where the node keeps DHT records and app state.
func (n *Node) Datastore() ds.Batching { return n.ds }

// Key is the node's libp2p identity key.
func (n *Node) Key() crypto.PrivKey { return n.key }

// Logger is the node's logger.
func (n *Node) Logger() *slog.Logger { return n.log }

// Registry is the node's Prometheus registry; services register their
// metrics here and /metrics serves them.
func (n *Node) Registry() *prometheus.Registry { return n.reg }

// Config is the configuration the node was built with.
func (n *Node) Config() Config { return n.cfg }

// Context ends when the node closes.
func (n *Node) Context() context.Context { return n.ctx }

// APIAddr is the API's host:port once started, "" if it has none.
func (n *Node) APIAddr() string {
	if n.api == nil {
		return ""
	}
	return n.api.addr()
}

// APIToken is the bearer token the API requires of requests that change
// something (Client.WithToken); "" if the node has no API.
func (n *Node) APIToken() string {
	if n.api == nil {
		return ""
	}
	return string(n.api.guard.token)
}

// Addrs are the node's listen addresses with its /p2p/ ID appended,
// ready to be given to another node as a bootstrap peer.
func (n *Node) Addrs() []ma.Multiaddr {
	addrs, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()})
	if err != nil {
		return nil
	}
	return addrs
}

// Ready is closed once the node is connected to a bootstrap peer, or at
// Start when it has none.
func (n *Node) Ready() <-chan struct{} { return n.conn.ready }

// Peer is one connected peer.
type Peer struct {
	ID    peer.ID  `json:"id"`
	Addrs []string `json:"addrs"`
	// Links are the open connections, each with how it is secured.
	Links []Link `json:"links"`
}

// Link is one connection to a peer.
type Link struct {
	Addr      string        `json:"addr"`
	Direction string        `json:"direction"` // "inbound" or "outbound"
	Opened    time.Time     `json:"opened"`
	Security  *LinkSecurity `json:"security,omitempty"`
}

// Peers lists the connected peers, sorted by ID.
func (n *Node) Peers() []Peer {
	ids := n.host.Network().Peers()
	slices.Sort(ids)
	out := make([]Peer, 0, len(ids))
	for _, id := range ids {
		p := Peer{ID: id, Addrs: []string{}, Links: []Link{}}
		for _, c := range n.host.Network().ConnsToPeer(id) {
			l := Link{
				Addr:      c.RemoteMultiaddr().String(),
				Direction: strings.ToLower(c.Stat().Direction.String()),
				Opened:    c.Stat().Opened,
			}
			if ls, ok := linkSecurity(n.tls, c); ok {
				l.Security = &ls
			}
			p.Addrs = append(p.Addrs, l.Addr)
			p.Links = append(p.Links, l)
		}
		out = append(out, p)
	}
	return out
}

// LinkSecurity reports how a live connection is secured, including the
// TLS key exchange it negotiated; false if that is unknown.
func (n *Node) LinkSecurity(c network.Conn) (LinkSecurity, bool) {
	return linkSecurity(n.tls, c)
}

// connected reports whether the node has a connection to p.
func (n *Node) connected(p peer.ID) bool {
	return n.host.Network().Connectedness(p) == network.Connected
}
