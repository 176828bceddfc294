package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/discovery"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/consensus/replication"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// Governance is the node's governance service: its consensus.Log in the
// node's datastore, signed with the node's hybrid identity and admitted by
// its policy engine, replicated by a consensus/replication driver over the
// node's DHT (namespaces /x0log/ and /x0rec/, and an author advertisement)
// and the gossip topic consensus.Topic. Each decision sets the policy
// engine's quarantine list from the membership it leaves. Its methods are
// safe for concurrent use.
type Governance struct {
	genesis *consensus.Genesis
	log     *consensus.Log
	driver  *replication.Driver
	netw    *govNetwork
	gossip  gossip
	adm     govAdmission
	logger  *slog.Logger
	// self is the node's peer ID, and selfSID the SPIFFE ID its records
	// claim ("" for none), for its allocation.
	self    consensus.PeerID
	selfSID string
	// quarantine receives the quarantined peers after each decision.
	quarantine quarantineList
	// models receives every decision, for the anomaly models they adopt.
	models modelDecisions
	// members is the membership the DHT validators' quota asks.
	members *govMembers
	// revoke ends the mesh sessions and links of quarantined peers.
	revoke revoker
	// admitted receives the members in force after each decision.
	admitted memberList

	mu      sync.Mutex
	topic   *joinedTopic
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started bool
	closed  bool
}

var _ Service = (*Governance)(nil)

// setupGovernance gives the node its governance service: the Log, the DHT
// namespaces, the driver, the API routes and the metrics. It runs in New,
// after the identity, the policy engine and the connector exist. Without
// a genesis governance is off: the routes answer 503 with ErrGovernanceOff.
func (n *Node) setupGovernance() error {
	cfg := n.cfg.Governance
	g := n.genesis
	if g == nil {
		n.log.Info("governance off: no genesis file", "hint", "set [governance] genesis; x0tta6bl4 genesis writes one")
		if n.api != nil {
			return govOffRoutes(n.api)
		}
		return nil
	}
	key, err := n.identity.PublicKeys().MarshalBinary()
	if err != nil {
		return fmt.Errorf("governance: encode key bundle: %w", err)
	}
	self := consensus.PeerID(n.ID())
	lg := n.log.With("service", "governance")
	lc := cfg.consensusConfig()
	lc.Genesis = g
	lc.Store = n.ds
	// The node's records claim its SVID's SPIFFE ID when it has one;
	// other nodes take the claim only once their Binder ties it to the
	// node's keys (bindSPIFFE), so every node of a network whose nodes
	// have SVIDs needs the trust bundle. A node SPIFFE ID (/node/<peer>)
	// proves nothing a key does not, so it is never claimed.
	lc.Self = consensus.Author{ID: self, Key: key, Signer: govSigner{n.identity}}
	if svid := n.spiffe.current(); svid != nil {
		lc.Self.SPIFFEID = svid.ID.String()
	}
	lc.Binder = consensus.BinderFunc(n.bindSPIFFE)
	lc.Verifier = govVerifier
	lc.Admitter = govAdmitter(n.policy, n.trustDomain)
	lc.Logger = lg
	log, err := consensus.Open(n.ctx, lc)
	if err != nil {
		if errors.Is(err, consensus.ErrInvalidConfig) {
			return fieldErr("governance.genesis", "%w (a datastore keeps the genesis it was first used with)", err)
		}
		return fmt.Errorf("governance: %w", err)
	}
	gov := &Governance{
		genesis: g,
		log:     log,
		netw: &govNetwork{values: n.dht, table: n.dht.RoutingTable(), disc: drouting.NewRoutingDiscovery(n.dht),
			ns: authorsNamespace(g), ttl: 2 * cfg.RepublishInterval},
		gossip:     gossip{ps: n.pubsub, ctx: n.ctx},
		adm:        n.adm,
		logger:     lg,
		self:       self,
		selfSID:    lc.Self.SPIFFEID,
		quarantine: n.policy,
		models:     n.anomaly.models,
		members:    n.members,
		admitted:   n,
	}
	if n.mesh != nil {
		gov.revoke = n.mesh.r
	}
	gov.members.set(log.Membership())
	quota := govQuota(gov.members, n.cfg.Policy.Admission == AdmissionClosed)
	rc := replication.DefaultConfig()
	rc.Log, rc.Author, rc.Genesis, rc.Network = log, lc.Self, g, gov.netw
	rc.Logger, rc.Ready = lg, n.Ready()
	rc.SettleDelay, rc.AnnounceMaxAge = cfg.SettleDelay, cfg.AnnounceMaxAge
	rc.CheckInterval, rc.SyncInterval = cfg.CheckInterval, cfg.SyncInterval
	rc.RepublishInterval, rc.FetchTimeout = cfg.RepublishInterval, cfg.FetchTimeout
	rc.Apply = gov.apply
	if gov.driver, err = replication.New(rc); err != nil {
		return fmt.Errorf("governance: %w", err)
	}
	if err := n.RegisterNamespace(govLogNamespace, govHeadTap{consensus.NewHeadValidator(g, govVerifier, quota), gov.driver.SeeHead}); err != nil {
		return err
	}
	if err := n.RegisterNamespace(govRecordNamespace, consensus.NewRecordValidator(g, govVerifier, quota)); err != nil {
		return err
	}
	if err := n.reg.Register(govCollector{gov}); err != nil {
		return fmt.Errorf("governance metrics: %w", err)
	}
	if n.api != nil {
		if err := gov.routes(n.api); err != nil {
			return err
		}
	}
	n.gov = gov
	lg.Debug("governance log open", "genesis", cfg.genesisName(), "genesis_id", g.ID(), "records", len(log.All()))
	return n.AddService(gov)
}

// DHT namespaces of the governance log (consensus.HeadKey, RecordKey).
const (
	govLogNamespace    = "x0log"
	govRecordNamespace = "x0rec"
)

// authorsNamespace is the DHT rendezvous under which authors of one
// network's governance logs advertise themselves.
func authorsNamespace(g *consensus.Genesis) string {
	return "x0tta6bl4/gov/1/authors/" + g.ID().String()[:32]
}

// Governance is the node's governance service, nil when governance is off
// (no genesis).
func (n *Node) Governance() *Governance { return n.gov }

// quarantineList is where governance puts the peers it quarantined: the
// policy engine, which routing and relaying ask.
type quarantineList interface {
	SetQuarantine([]peer.ID)
}

var _ quarantineList = (*pqcsec.PolicyEngine)(nil)

// modelDecisions is where governance hands every decision for the anomaly
// models it adopts: the anomaly service's model rollout. decided must not
// block.
type modelDecisions interface {
	decided(consensus.Decision)
}

var _ modelDecisions = (*modelRollout)(nil)

// memberList is where governance puts the members in force (listed in the
// genesis or admitted, not evicted): the node's admission, which closed
// admission lets in and which cuts off the others.
type memberList interface {
	setMembers([]peer.ID)
}

var _ memberList = (*Node)(nil)

// apply is the one consumer of the driver's decisions: it sets the policy
// engine's quarantine list and admission's members from the membership the
// decisions leave (both live in memory, so the driver replays earlier
// decisions at start), hands the decision to the anomaly model rollout (a
// passed model proposal changes the model) and logs the membership changes
// that passed.
func (g *Governance) apply(d consensus.Decision) {
	m := g.log.Membership()
	g.members.set(m)
	q := m.Quarantine()
	ids := make([]peer.ID, len(q))
	for i, p := range q {
		ids[i] = peer.ID(p)
	}
	g.quarantine.SetQuarantine(ids)
	g.endSessions(ids)
	g.models.decided(d)
	g.admitted.setMembers(membersOf(m))
	if d.Outcome != consensus.Passed {
		return
	}
	lg := g.logger.With("proposal", d.Proposal)
	switch a := d.Action.(type) {
	case *consensus.Quarantine:
		lg.Warn("peer quarantined by governance", "peer", peer.ID(a.Peer), "reason", a.Reason)
	case *consensus.Admit:
		lg.Info("peer admitted by governance", "peer", peer.ID(a.Peer), "tokens", a.Tokens)
	case *consensus.Evict:
		lg.Warn("peer evicted by governance", "peer", peer.ID(a.Peer))
	}
}

// membersOf lists the peer-keyed members of m.
func membersOf(m *consensus.Membership) []peer.ID {
	var out []peer.ID
	for _, a := range m.Peers() {
		if m.Member(a.Peer, "") {
			out = append(out, peer.ID(a.Peer))
		}
	}
	return out
}

// govScoreParams make every rejected governance message count against the
// peer that delivered it (GossipSub's invalid-message penalty, weight ×
// count²): a few forged or malformed announcements take a peer below the
// graylist threshold. The count decays to 1% in ten minutes.
var govScoreParams = &pubsub.TopicScoreParams{
	SkipAtomicValidation:           true,
	TopicWeight:                    1,
	TimeInMeshQuantum:              time.Second, // unused (weight 0), but GossipSub divides by it
	InvalidMessageDeliveriesWeight: -100,
	InvalidMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(10 * time.Minute),
}

// Start joins the governance topic with its validator and starts the
// driver.
func (g *Governance) Start(ctx context.Context) error {
	topic, err := g.gossip.join(consensus.Topic, topicRules{validate: g.validate, score: govScoreParams})
	if err != nil {
		return fmt.Errorf("governance: %w", err)
	}
	g.mu.Lock()
	g.topic, g.started = topic, true
	g.mu.Unlock()
	g.netw.setTopic(topic.Topic)
	ctx, g.cancel = context.WithCancel(ctx)
	// The validator ingests every message; the subscription only keeps
	// the node in the topic's mesh.
	g.wg.Go(func() {
		for {
			if _, err := topic.Next(ctx); err != nil {
				return
			}
		}
	})
	return g.driver.Start(ctx)
}

// Close stops the driver and leaves the topic. It is safe to call more
// than once.
func (g *Governance) Close() error {
	g.mu.Lock()
	if g.closed || !g.started {
		g.closed = true
		g.mu.Unlock()
		return g.driver.Close()
	}
	g.closed = true
	g.mu.Unlock()
	err := g.driver.Close()
	g.cancel()
	g.wg.Wait()
	g.netw.setTopic(nil)
	return errors.Join(err, g.topic.leave())
}

// govAdmission is what the governance topic's validator asks of the
// node's admission: may this signer's announcements be taken at all.
type govAdmission interface {
	mayAnnounce(p peer.ID) error
}

var _ govAdmission = (*admission)(nil)

// validate is the governance topic's validator. GossipSub has checked the
// message's signature against From's key (StrictSign) before calling it.
// A signer admission refuses (deny-listed, or not a member in closed
// admission) is ignored, not rejected: the policy is this node's, so the
// peer that relayed the message is not to blame.
func (g *Governance) validate(ctx context.Context, _ peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if err := g.adm.mayAnnounce(msg.GetFrom()); err != nil {
		g.logger.Debug("governance message refused", "from", msg.GetFrom(), "err", err)
		return pubsub.ValidationIgnore
	}
	v, err := g.driver.Validate(ctx, consensus.PeerID(msg.GetFrom()), msg.Data)
	switch v {
	case replication.Accept:
		return pubsub.ValidationAccept
	case replication.Ignore:
		return pubsub.ValidationIgnore
	}
	g.logger.Debug("governance message rejected", "from", msg.GetFrom(), "err", err)
	return pubsub.ValidationReject
}

// Log is the node's governance log: proposals, votes, tallies, decisions.
func (g *Governance) Log() *consensus.Log { return g.log }

// Genesis is the network's genesis.
func (g *Governance) Genesis() *consensus.Genesis { return g.genesis }

// Stats are the replication driver's counters.
func (g *Governance) Stats() replication.Stats { return g.driver.Stats() }

// Propose creates a proposal on the node's log and publishes it (see
// replication.Driver.Propose).
func (g *Governance) Propose(ctx context.Context, title, description string, duration time.Duration, quorum, threshold consensus.PPM, action consensus.Action) (*consensus.Record, error) {
	return g.driver.Propose(ctx, title, description, duration, quorum, threshold, action)
}

// Vote casts the node's vote and publishes it (see
// replication.Driver.Vote).
func (g *Governance) Vote(ctx context.Context, proposal consensus.Hash, choice consensus.Choice, tokens uint64) (*consensus.Record, error) {
	return g.driver.Vote(ctx, proposal, choice, tokens)
}

// Allocation is the tokens the node may spend on one vote, as the
// membership stands after the proposals it has decided.
func (g *Governance) Allocation() uint64 {
	return g.log.Membership().Allocation(g.self, g.selfSID)
}

// govSigner signs governance records and heads with the node's hybrid
// identity.
type govSigner struct{ id *pqcsec.Identity }

func (s govSigner) Sign(msg []byte) ([]byte, error) {
	return s.id.Sign(consensus.SignatureDomain, msg)
}

var _ consensus.Signer = govSigner{}

// govVerifier checks a hybrid signature and that the key bundle is the
// author's (its Ed25519 half is the peer ID's key).
var govVerifier = consensus.VerifierFunc(func(author consensus.PeerID, key, msg, sig []byte) error {
	return pqcsec.VerifyPeer(peer.ID(author), key, consensus.SignatureDomain, msg, sig)
})

// govAdmitter admits a record's author if the policy engine lets it vote
// or propose: with the author's verified keys (so that key pins hold), its
// node SPIFFE ID, and as its verified SPIFFE ID the one the record claims
// (the Binder tied it to those keys, or the record was refused before). It
// leaves out the quarantine list: that is governance's own output, which
// the tally applies at each proposal's place in deadline order; refusing a
// quarantined peer's records on arrival made nodes that decided at
// different moments disagree.
func govAdmitter(e *pqcsec.PolicyEngine, td spiffeid.TrustDomain) consensus.Admitter {
	return consensus.AdmitterFunc(func(author consensus.PeerID, key []byte, claim string, kind consensus.Kind, now time.Time) error {
		p := peer.ID(author)
		sid, err := pqcsec.NodeID(td, p)
		if err != nil {
			return err
		}
		var verified spiffeid.ID
		if claim != "" {
			if verified, err = spiffeid.FromString(claim); err != nil {
				return err
			}
		}
		keys, err := pqcsec.ParsePublicKeys(key)
		if err != nil {
			return err
		}
		action := pqcsec.ActionVote
		if kind == consensus.KindProposal {
			action = pqcsec.ActionPropose
		}
		return e.CheckIgnoringQuarantine(pqcsec.Subject{Peer: p, Keys: keys, SPIFFEID: sid, VerifiedSPIFFEID: verified}, action, now)
	})
}

// govHeadTap is the /x0log/ validator: consensus's, and every head it finds
// valid is shown to the driver, so that heads seen anywhere in the DHT
// (this node's gets, other nodes' puts) reveal equivocation.
type govHeadTap struct {
	*consensus.HeadValidator
	seen func([]byte)
}

var _ Validator = govHeadTap{}

// Validate implements Validator.
func (t govHeadTap) Validate(key string, value []byte) error {
	if err := t.HeadValidator.Validate(key, value); err != nil {
		return err
	}
	t.seen(value)
	return nil
}

// govNetwork is the driver's Network over the node's DHT (its values,
// routing table and rendezvous) and the governance topic.
type govNetwork struct {
	values routing.ValueStore
	table  routingTable
	disc   discovery.Discovery
	ns     string
	ttl    time.Duration

	mu    sync.Mutex
	topic *pubsub.Topic
}

var _ replication.Network = (*govNetwork)(nil)

// routingTable lists the peers of the DHT's routing table (its
// *kbucket.RoutingTable).
type routingTable interface {
	ListPeers() []peer.ID
}

func (w *govNetwork) setTopic(t *pubsub.Topic) {
	w.mu.Lock()
	w.topic = t
	w.mu.Unlock()
}

// Put implements replication.Network.
func (w *govNetwork) Put(ctx context.Context, key string, value []byte) error {
	return w.values.PutValue(ctx, key, value)
}

// headQuorum is how many answers a head lookup waits for beyond the first:
// the best of five. A head is put at the twenty peers closest to its key,
// so five stale answers in a row would take five peers that all missed
// the author's latest put; waiting for every close peer instead costs
// seconds on a loaded mesh.
const headQuorum = 4

// Get implements replication.Network. A record is content-addressed, so
// the first valid copy will do: the lookup ends with it. (kad-dht's
// Quorum(n) waits for n+1 answers, so even Quorum(1) waits for a second
// holder, and when none answers runs the whole lookup: as long as for a
// value nobody stored, seconds on a large mesh.) A head is the best of
// headQuorum+1 answers, and when ctx ends first the best head received by
// then.
func (w *govNetwork) Get(ctx context.Context, key string) ([]byte, error) {
	if strings.HasPrefix(key, "/"+govRecordNamespace+"/") {
		return w.getFirst(ctx, key)
	}
	v, err := w.values.GetValue(ctx, key, dht.Quorum(headQuorum))
	switch {
	case errors.Is(err, routing.ErrNotFound):
		return nil, fmt.Errorf("%s: %w", key, replication.ErrNotFound)
	case err != nil && v != nil && ctx.Err() != nil:
		return v, nil
	}
	return v, err
}

// getFirst returns the first valid value the DHT holds under key and ends
// the lookup.
func (w *govNetwork) getFirst(ctx context.Context, key string) ([]byte, error) {
	v, err := firstValue(ctx, w.values, key)
	if errors.Is(err, routing.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", key, replication.ErrNotFound)
	}
	return v, err
}

// firstValue returns the first valid value values holds under key (a
// content-addressed one: any valid copy will do) and ends the lookup; an
// error wrapping routing.ErrNotFound if no peer has one.
func firstValue(ctx context.Context, values routing.ValueStore, key string) ([]byte, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := values.SearchValue(sctx, key, dht.Quorum(1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if v, ok := <-ch; ok {
		return v, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return nil, fmt.Errorf("%s: %w", key, routing.ErrNotFound)
}

// Publish implements replication.Network.
func (w *govNetwork) Publish(ctx context.Context, data []byte) error {
	w.mu.Lock()
	t := w.topic
	w.mu.Unlock()
	if t == nil {
		return fmt.Errorf("governance topic not joined")
	}
	return t.Publish(ctx, data)
}

// Advertise implements replication.Network.
func (w *govNetwork) Advertise(ctx context.Context) error {
	_, err := w.disc.Advertise(ctx, w.ns, discovery.TTL(w.ttl))
	return err
}

// authorsGrace is how long Authors keeps collecting after the first
// answer: every peer that stores the advertisements holds all of them, so
// the first few answers are the whole list, and the rest of the lookup
// only confirms that no closer peer knows more.
const authorsGrace = 250 * time.Millisecond

// Authors implements replication.Network. It returns when the lookup ends,
// or authorsGrace after the first author was found.
func (w *govNetwork) Authors(ctx context.Context, found func(consensus.PeerID)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := w.disc.FindPeers(ctx, w.ns)
	if err != nil {
		return err
	}
	var grace <-chan time.Time
	for {
		select {
		case ai, ok := <-ch:
			if !ok {
				return nil
			}
			found(consensus.PeerID(ai.ID))
			if grace == nil {
				t := time.NewTimer(authorsGrace)
				defer t.Stop()
				grace = t.C
			}
		case <-grace:
			return nil
		}
	}
}

// Peers implements replication.Network: the DHT's routing table, the
// connected peers a lookup can ask.
func (w *govNetwork) Peers() []consensus.PeerID {
	ids := w.table.ListPeers()
	out := make([]consensus.PeerID, len(ids))
	for i, id := range ids {
		out[i] = consensus.PeerID(id)
	}
	return out
}
