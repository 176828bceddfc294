package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// anomalyView is what the anomaly service reads of the telemetry
// service: the node's view of the mesh (with its figures for scoring,
// who reports whom for judging), and every telemetry message the view
// takes (which message times each node signed).
type anomalyView interface {
	Graph() overlay.Graph
	Topology() overlay.Graph
	OnDelivery(f func(TelemetryDelivery)) (cancel func())
}

var _ anomalyView = (*Telemetry)(nil)

// memberCheck says whether a peer is a member of the network now. It is
// called from GossipSub's validation and from the scoring goroutine and
// must not block.
type memberCheck interface {
	isMember(p peer.ID) bool
}

// Anomaly is the node's anomaly service, the driver of the anomaly topic
// (protocols.AnomalyTopic) and of the detector (package
// healing/anomaly). Once an interval, as soon as the view holds a new
// telemetry message of every node whose figures the scores read, it
// turns the node's view of the mesh into features (anomaly.Features),
// scores its neighbours with the adopted model and gossips the scores
// when they say something (scoreCadence: every interval while a score
// nears or passes the threshold, else when they move, or on a
// heartbeat), unless the model flags the node itself: then it abstains
// for the interval, as a node whose host stalls sees its neighbours
// through its own trouble; it validates every score message (anomaly.Witnesses.Receive, members only) and keeps the latest
// of each scorer; and it judges which nodes are suspect under the quorum
// and persistence rules (anomaly.Witnesses.Judge). The adopted model is
// the embedded default until governance passes a model proposal
// (modelRollout). Its methods are safe for concurrent use.
type Anomaly struct {
	cfg      AnomalyConfig
	interval time.Duration
	log      *slog.Logger
	self     protocols.Addr
	gossip   gossip
	view     anomalyView
	members  memberCheck // nil: everyone counts
	models   *modelRollout
	gov      flGovernance
	now      func() time.Time

	topic    *joinedTopic
	flTopic  *joinedTopic
	cancel   context.CancelFunc
	stopView func()
	wg       sync.WaitGroup
	met      *anomalyMetrics

	mu        sync.Mutex
	witnesses *anomaly.Witnesses
	updates   *anomaly.Updates
	ownUpdate *protocols.FLUpdate      // the node's update announcement, nil before FLRound
	own       *protocols.AnomalyScores // the node's last published message
	suspects  []AnomalySuspicion
	history   []AnomalyEvent // newest last, at most maxAnomalyHistory
	observers map[int]func(AnomalyDelivery)
	nextObs   int
	started   bool
	closed    bool

	// The round of telemetry the scorer awaits: delivered counts the
	// telemetry messages the view took, heard holds that count at each
	// node's latest, awaiting the nodes whose figures the last scores
	// read (anomaly.Sources) and that have sent nothing newer since.
	// fresh is signalled when awaiting empties.
	delivered uint64
	heard     map[protocols.Addr]uint64
	awaiting  map[protocols.Addr]bool
	fresh     chan struct{}

	// Owned by the scoring goroutine.
	seq     uint32
	prev    *overlay.Graph
	cadence *scoreCadence
	peerIDs map[string]peer.ID // the view's peer labels, decoded, for judging
}

var _ Service = (*Anomaly)(nil)

// maxAnomalyHistory bounds the suspicion events kept.
const maxAnomalyHistory = 256

// AnomalySuspicion is a node this node holds suspect: anomaly.Suspicion
// with the peer IDs of the subject and of the reporters, as far as the
// view knows them.
type AnomalySuspicion struct {
	anomaly.Suspicion
	Peer          string   `json:"peer,omitempty"`
	ReporterPeers []string `json:"reporter_peers"`
}

// AnomalyEvent is a change of a node's suspicion: "suspect" when it
// became suspect (Reporters flag it), "cleared" when it stopped being.
type AnomalyEvent struct {
	Time      time.Time        `json:"time"`
	Kind      string           `json:"kind"`
	Subject   protocols.Addr   `json:"subject"`
	Peer      string           `json:"peer,omitempty"`
	Reporters []protocols.Addr `json:"reporters,omitempty"`
}

// anomalyParts are what the anomaly service uses of the node.
type anomalyParts struct {
	self     peer.ID
	interval time.Duration
	gossip   gossip
	view     anomalyView
	members  memberCheck
	models   *modelRollout
	gov      flGovernance
	log      *slog.Logger
}

func newAnomaly(cfg AnomalyConfig, p anomalyParts) (*Anomaly, error) {
	wc := anomaly.DefaultWitnessConfig(p.interval)
	wc.Quorum, wc.Persistence = cfg.Quorum, cfg.Persistence
	wc.SignedTimes = max(wc.SignedTimes, cfg.Persistence+2)
	w, err := anomaly.NewWitnesses(wc)
	if err != nil {
		return nil, fmt.Errorf("anomaly: %w", err)
	}
	u, err := anomaly.NewUpdates(anomaly.DefaultUpdatesConfig())
	if err != nil {
		return nil, fmt.Errorf("anomaly: %w", err)
	}
	a := &Anomaly{
		cfg:       cfg,
		interval:  p.interval,
		log:       p.log.With("service", "anomaly"),
		self:      protocols.AddrFromPeerID([]byte(p.self)),
		gossip:    p.gossip,
		view:      p.view,
		members:   p.members,
		models:    p.models,
		gov:       p.gov,
		now:       time.Now,
		witnesses: w,
		updates:   u,
		observers: map[int]func(AnomalyDelivery){},
		heard:     map[protocols.Addr]uint64{},
		awaiting:  map[protocols.Addr]bool{},
		fresh:     make(chan struct{}, 1),
		cadence:   newScoreCadence(cfg, protocols.AddrFromPeerID([]byte(p.self))),
	}
	a.met = newAnomalyMetrics(a)
	return a, nil
}

// anomalyScoreParams make every rejected score message count against the
// peer that delivered it, as on the telemetry topic.
var anomalyScoreParams = telemetryScoreParams

// anomalyBuffer is how many validated messages may wait for the
// subscription's reader.
const anomalyBuffer = 1024

// Start joins the anomaly topic with its validator and starts scoring.
func (a *Anomaly) Start(ctx context.Context) error {
	topic, err := a.gossip.join(protocols.AnomalyTopic, topicRules{
		validate:      a.validate,
		validatorOpts: []pubsub.ValidatorOpt{pubsub.WithValidatorInline(true)},
		score:         anomalyScoreParams,
		subOpts:       []pubsub.SubOpt{pubsub.WithBufferSize(anomalyBuffer)},
	})
	if err != nil {
		return fmt.Errorf("anomaly: %w", err)
	}
	flTopic, err := a.gossip.join(protocols.FLTopic, topicRules{
		validate:      a.validateUpdate,
		validatorOpts: []pubsub.ValidatorOpt{pubsub.WithValidatorInline(true)},
		score:         anomalyScoreParams,
	})
	if err != nil {
		return errors.Join(fmt.Errorf("anomaly: %w", err), topic.leave())
	}
	a.mu.Lock()
	a.topic, a.flTopic, a.started = topic, flTopic, true
	a.mu.Unlock()
	a.stopView = a.view.OnDelivery(a.signed)
	ctx, a.cancel = context.WithCancel(ctx)
	a.wg.Go(func() { a.receiveLoop(ctx) })
	a.wg.Go(func() { drain(ctx, a.flTopic) })
	a.wg.Go(func() { a.scoreLoop(ctx) })
	a.wg.Go(func() { a.announceLoop(ctx) })
	a.wg.Go(func() { a.models.run(ctx) })
	return nil
}

// Close stops scoring, leaves the topic and waits for the service's
// goroutines. It is safe to call more than once.
func (a *Anomaly) Close() error {
	a.mu.Lock()
	if a.closed || !a.started {
		a.closed = true
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.mu.Unlock()
	a.stopView()
	a.cancel()
	a.wg.Wait()
	return errors.Join(a.topic.leave(), a.flTopic.leave())
}

// signed records a telemetry message the view took: its node signed a
// message made at that time, so scores computed from it may count; and
// the scorer has heard from the node (the view calls it after taking the
// message, so a message counted here is in every graph taken later).
func (a *Anomaly) signed(d TelemetryDelivery) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.witnesses.Signed(d.Received, d.Message.Node, d.Message.Time)
	a.delivered++
	a.heard[d.Message.Node] = a.delivered
	if a.awaiting[d.Message.Node] {
		delete(a.awaiting, d.Message.Node)
		if len(a.awaiting) == 0 {
			a.signalFresh()
		}
	}
}

// signalFresh tells the scoring goroutine that the round it awaits is
// complete. It does not block.
func (a *Anomaly) signalFresh() {
	select {
	case a.fresh <- struct{}{}:
	default:
	}
}

// await makes the scorer wait for a message newer than the graph it
// scores of every node of sources; mark is the count of messages taken
// before that graph was. heard keeps only the nodes of g.
func (a *Anomaly) await(mark uint64, sources []protocols.Addr, g *overlay.Graph) {
	a.mu.Lock()
	defer a.mu.Unlock()
	inView := make(map[protocols.Addr]bool, len(g.Nodes))
	for _, n := range g.Nodes {
		inView[n.Addr] = true
	}
	for addr := range a.heard {
		if !inView[addr] {
			delete(a.heard, addr)
		}
	}
	clear(a.awaiting)
	for _, addr := range sources {
		if a.heard[addr] <= mark {
			a.awaiting[addr] = true
		}
	}
	if len(sources) > 0 && len(a.awaiting) == 0 {
		a.signalFresh() // all of them spoke again while it scored
	}
}

// validate is the topic validator: members only, then the topic's rule
// (anomaly.Witnesses.Receive), which also keeps an accepted message.
// GossipSub has checked the signature against From's key (StrictSign)
// before calling it. A scorer that is not a member is ignored, not
// rejected: membership is this node's knowledge, so the peer that relayed
// the message is not to blame.
func (a *Anomaly) validate(_ context.Context, _ peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	from := msg.GetFrom()
	if a.members != nil && !a.members.isMember(from) {
		a.met.messages.WithLabelValues("ignore", "not-member").Inc()
		return pubsub.ValidationIgnore
	}
	now := a.now()
	a.mu.Lock()
	v, m := a.witnesses.Receive(now, protocols.AddrFromPeerID([]byte(from)), msg.Data)
	a.mu.Unlock()
	a.met.messages.WithLabelValues(v.Action().String(), v.String()).Inc()
	if m != nil {
		msg.ValidatorData = m
		if m.Scorer != a.self {
			a.met.received.Add(float64(len(m.Scores)))
		}
	}
	return validationResult(v.Action())
}

// AnomalyDelivery is a score message the node accepted: its scorer's
// peer ID, the decoded message and when the node took it.
type AnomalyDelivery struct {
	From peer.ID
	// Message is the decoded message; read it, do not modify it.
	Message  *protocols.AnomalyScores
	Received time.Time
}

// OnScores calls f with every score message the node accepts, its own
// included, until cancel is called: for observers (a dashboard, a
// benchmark of the topic's latency). f runs on the topic's receive
// goroutine, one call at a time, and must not block.
func (a *Anomaly) OnScores(f func(AnomalyDelivery)) (cancel func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := a.nextObs
	a.nextObs++
	a.observers[id] = f
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		delete(a.observers, id)
	}
}

// receiveLoop reads the score topic's subscription until ctx ends: the
// validator has kept what counts; the loop hands each accepted message
// to the observers.
func (a *Anomaly) receiveLoop(ctx context.Context) {
	for {
		msg, err := a.topic.Next(ctx)
		if err != nil {
			return
		}
		m, ok := msg.ValidatorData.(*protocols.AnomalyScores)
		if !ok {
			continue
		}
		d := AnomalyDelivery{From: msg.GetFrom(), Message: m, Received: a.now()}
		a.mu.Lock()
		fs := make([]func(AnomalyDelivery), 0, len(a.observers))
		for _, f := range a.observers {
			fs = append(fs, f)
		}
		a.mu.Unlock()
		for _, f := range fs {
			f(d)
		}
	}
}

// drain reads a subscription until ctx ends: the validator has kept
// what counts, the subscription only keeps the node in the topic's mesh.
func drain(ctx context.Context, t *joinedTopic) {
	for {
		if _, err := t.Next(ctx); err != nil {
			return
		}
	}
}

// judgesPerInterval is how often the node judges the scores it holds in
// one interval: the scorers publish at their own phases, and a node that
// judged once an interval would see a run of flags up to an interval
// late. Judging is cheap beside scoring; persistence is counted over
// the scorers' messages, not over judgements, so it does not change.
const judgesPerInterval = 4

// A scorer scores once it holds a new message of every node whose
// figures its scores read (a complete round: anomaly.Sources), but not
// sooner than scoreMinGap intervals after its last scoring, and without
// one at most scoreMaxGap intervals after it (a source fell silent or
// lost a message). Scoring at a phase of its own instead left the
// figures of a fault up to an interval unread; scoring twice from one
// interval's figures (the late messages of a stall, then the next ones)
// would say the same thing twice, and the persistence rule counts
// messages.
const (
	scoreMinGap = 0.75
	scoreMaxGap = 1.25
)

func (a *Anomaly) scoreLoop(ctx context.Context) {
	minGap := time.Duration(scoreMinGap * float64(a.interval))
	maxGap := time.Duration(scoreMaxGap * float64(a.interval))
	timer := time.NewTimer(a.interval)
	defer timer.Stop()
	judge := time.NewTicker(a.interval / judgesPerInterval)
	defer judge.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-judge.C:
			a.judge()
			continue
		case <-a.fresh:
			if wait := minGap - time.Since(last); wait > 0 {
				timer.Reset(wait)
				continue
			}
		case <-timer.C:
		}
		last = time.Now()
		timer.Reset(maxGap)
		if err := a.score(ctx); err != nil && ctx.Err() == nil {
			a.log.Debug("anomaly scoring", "err", err)
		}
		a.judge()
	}
}

// score scores the node's neighbours in its view with the adopted model
// and publishes the scores if the cadence says so.
func (a *Anomaly) score(ctx context.Context) error {
	now := a.now()
	a.mu.Lock()
	mark := a.delivered
	a.mu.Unlock()
	g := a.view.Graph()
	s := anomaly.Features(g, a.prev, a.interval)
	a.prev = &g
	m := a.models.active()
	nodes := anomaly.Neighbourhood(g, s, a.self)
	a.await(mark, anomaly.Sources(s, nodes), &g)
	if len(nodes) == 0 {
		return nil
	}
	// The node scores itself too: a node its own model flags (its host
	// stalled, its links look dead, its relaying lags) sees its
	// neighbours through its own trouble, and abstains.
	targets := nodes
	self, ok := s.Index(a.self)
	if ok {
		targets = append(slices.Clone(nodes), self)
	}
	began := time.Now()
	preds, err := m.det.ScoreGraph(s, targets)
	if err != nil {
		return fmt.Errorf("score: %w", err)
	}
	a.met.scoring.Observe(time.Since(began).Seconds())
	a.seq++ // an interval the node abstains leaves a gap: no run of flags spans it
	a.logFlags(s, targets, preds, ok)
	if ok {
		own := preds[len(preds)-1]
		preds = preds[:len(nodes)]
		if own.IsAnomaly {
			a.met.published.WithLabelValues("abstained").Inc()
			return nil
		}
	}
	msg, err := anomaly.ScoreMessage(anomaly.Scoring{Scorer: a.self, Time: now, Seq: a.seq, Model: m.digest,
		Threshold: m.det.Threshold()}, g, s, nodes, preds)
	if err != nil {
		return err
	}
	why := a.cadence.decide(msg)
	if why == "" {
		a.met.published.WithLabelValues("quiet").Inc()
		return nil
	}
	data, err := msg.MarshalBinary()
	if err != nil {
		return fmt.Errorf("encode scores: %w", err)
	}
	if err := a.topic.Publish(ctx, data); err != nil {
		a.met.published.WithLabelValues("error").Inc()
		return err
	}
	a.cadence.published(msg)
	a.mu.Lock()
	a.own = msg
	a.mu.Unlock()
	a.met.cadence.WithLabelValues(why).Inc()
	a.met.published.WithLabelValues("ok").Inc()
	return nil
}

// inputNames names the dimensions of a flat input of CurrentSchema.
var inputNames = anomaly.CurrentSchema.InputNames()

// logFlags logs, at debug level, every node of targets the scoring
// flagged (the last is the node itself when withSelf) with the features
// that raised its score and its flat input's non-zero figures: what a
// healthy node flagged was flagged for; and, in one line, the scores of
// the nodes it did not flag: when a faulty node went unflagged.
func (a *Anomaly) logFlags(s *anomaly.Sample, targets []int, preds []anomaly.Prediction, withSelf bool) {
	if !a.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	var below []string
	for k, p := range preds {
		if !p.IsAnomaly {
			below = append(below, fmt.Sprintf("%s:%.2f", s.Nodes[targets[k]], p.Score))
			continue
		}
		contributing := make([]string, len(p.Contributing))
		for i, c := range p.Contributing {
			contributing[i] = fmt.Sprintf("%s:%.2f", c.Feature, c.Weight)
		}
		input := s.FlatInput(nil, targets[k])
		figures := make([]string, 0, len(input))
		for i, v := range input {
			if v != 0 {
				figures = append(figures, fmt.Sprintf("%s:%.3g", inputNames[i], v))
			}
		}
		a.log.Debug("anomaly flag", "subject", s.Nodes[targets[k]], "self", withSelf && k == len(preds)-1,
			"score", p.Score, "contributing", contributing, "input", figures)
	}
	if len(below) > 0 {
		a.log.Debug("anomaly scores", "below_threshold", below)
	}
}

// judge applies the quorum and persistence rules to the scores held and
// records the changes of suspicion. It leaves a judgement out while the
// witnesses are settled (anomaly.Witnesses.Settled: no message since
// the last judgement, no suspect, no score at or above the threshold
// held): it would find no suspect and count no score, so it skips the
// view's topology and the rules.
func (a *Anomaly) judge() {
	m := a.models.active()
	threshold := math.Round(m.det.Threshold()*1e4) / 1e4
	a.mu.Lock()
	settled := a.witnesses.Settled(m.digest, threshold)
	a.mu.Unlock()
	if settled {
		a.met.judges.WithLabelValues("settled").Inc()
		return
	}
	a.met.judges.WithLabelValues("judged").Inc()
	now := a.now()
	g := a.view.Topology()
	peers := make(map[protocols.Addr]string, len(g.Nodes))
	for _, n := range g.Nodes {
		peers[n.Addr] = n.Peer
	}
	if len(a.peerIDs) > 2*len(g.Nodes)+64 {
		clear(a.peerIDs) // nodes came and went: start afresh
	}
	member := func(addr protocols.Addr) bool {
		if a.members == nil || addr == a.self {
			return true
		}
		id, err := a.peerID(peers[addr])
		return err == nil && a.members.isMember(id)
	}
	a.mu.Lock()
	j := a.witnesses.Judge(now, anomaly.JudgeInput{Graph: g, Model: m.digest, Threshold: threshold, Member: member})
	before := make(map[protocols.Addr]bool, len(a.suspects))
	for _, s := range a.suspects {
		before[s.Subject] = true
	}
	a.suspects = a.suspects[:0]
	for _, s := range j.Suspects {
		sp := AnomalySuspicion{Suspicion: s, Peer: peers[s.Subject]}
		for _, r := range s.Reporters {
			sp.ReporterPeers = append(sp.ReporterPeers, peers[r])
		}
		a.suspects = append(a.suspects, sp)
		if !before[s.Subject] {
			a.record(AnomalyEvent{Time: now, Kind: "suspect", Subject: s.Subject, Peer: sp.Peer, Reporters: s.Reporters})
			a.log.Info("node suspect", "peer", sp.Peer, "reporters", len(s.Reporters))
		}
		delete(before, s.Subject)
	}
	for subject := range before {
		a.record(AnomalyEvent{Time: now, Kind: "cleared", Subject: subject, Peer: peers[subject]})
	}
	a.mu.Unlock()
	for reason, n := range j.Scores {
		a.met.judged.WithLabelValues(reason).Add(float64(n))
	}
}

// peerID decodes a peer label of the view, once per label: judging asks
// about every scorer several times an interval. Scoring goroutine only.
func (a *Anomaly) peerID(label string) (peer.ID, error) {
	if id, ok := a.peerIDs[label]; ok {
		return id, nil
	}
	id, err := peer.Decode(label)
	if err != nil {
		return "", err
	}
	if a.peerIDs == nil {
		a.peerIDs = map[string]peer.ID{}
	}
	a.peerIDs[label] = id
	return id, nil
}

// record appends an event to the history. Call with a.mu held.
func (a *Anomaly) record(ev AnomalyEvent) {
	if len(a.history) == maxAnomalyHistory {
		a.history = append(a.history[:0], a.history[1:]...)
	}
	a.history = append(a.history, ev)
}

// Suspicions returns the nodes this node holds suspect now, sorted by
// address: plain data, the node's to give away.
func (a *Anomaly) Suspicions() []AnomalySuspicion {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]AnomalySuspicion, len(a.suspects))
	for i, s := range a.suspects {
		s.Reporters, s.Scores = slices.Clone(s.Reporters), slices.Clone(s.Scores)
		s.ReporterPeers = slices.Clone(s.ReporterPeers)
		out[i] = s
	}
	return out
}

// History returns the latest changes of suspicion, oldest first.
func (a *Anomaly) History() []AnomalyEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := slices.Clone(a.history)
	for i := range out {
		out[i].Reporters = slices.Clone(out[i].Reporters)
	}
	return out
}

// Scores returns the node's last published score message and the latest
// message of every scorer it holds (its own among them), sorted by
// scorer: copies, the caller's to keep.
func (a *Anomaly) Scores() (own *protocols.AnomalyScores, received []protocols.AnomalyScores) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.own != nil {
		c := *a.own
		c.Scores = slices.Clone(c.Scores)
		own = &c
	}
	for _, m := range a.witnesses.Reports() {
		c := *m
		c.Scores = slices.Clone(c.Scores)
		received = append(received, c)
	}
	return own, received
}

// Model returns the model the node scores with and judges by.
func (a *Anomaly) Model() AnomalyModel { return a.models.active().info() }

// setupAnomaly gives the node its anomaly service, fed by the telemetry
// service's view, with its model rollout (the DHT namespace of model
// blobs, which governance's decisions reach), metrics and API routes.
func (n *Node) setupAnomaly() error {
	models, err := newModelRollout(n.ctx, n.ds, n.dht, n, n.log)
	if err != nil {
		return err
	}
	if err := n.RegisterNamespace(anomaly.ModelNamespace, anomaly.ModelValidator{}); err != nil {
		return err
	}
	a, err := newAnomaly(n.cfg.Anomaly, anomalyParts{
		self:     n.host.ID(),
		interval: n.cfg.Telemetry.Interval,
		gossip:   gossip{ps: n.pubsub, ctx: n.ctx},
		view:     n.telemetry,
		members:  anomalyMembers{n},
		models:   models,
		gov:      n,
		log:      n.log,
	})
	if err != nil {
		return err
	}
	if err := a.met.register(n.reg); err != nil {
		return err
	}
	if n.api != nil {
		if err := a.routes(n.api); err != nil {
			return err
		}
	}
	n.anomaly = a
	return n.AddService(a)
}

// Anomaly is the node's anomaly service: its scores, the scores it
// received, its suspects and the model it scores with.
func (n *Node) Anomaly() *Anomaly { return n.anomaly }

var _ memberCheck = (*Node)(nil)

// isMember is the network's membership as governance leaves it: listed
// by the genesis or admitted, and not evicted. Without governance (no
// genesis) there are no members to tell apart, and everyone counts. The
// node is a member of its own.
func (n *Node) isMember(p peer.ID) bool {
	if n.gov == nil || p == n.host.ID() {
		return true
	}
	return n.gov.log.Membership().Member(consensus.PeerID(p), "")
}

var _ modelProposals = (*Node)(nil)

// openModelProposals lists the model proposals governance holds that are
// not decided yet.
func (n *Node) openModelProposals(now time.Time) []consensus.AcceptModel {
	if n.gov == nil {
		return nil
	}
	var out []consensus.AcceptModel
	for _, p := range n.gov.log.Proposals(now) {
		if a, ok := p.Action.(*consensus.AcceptModel); ok && (p.State == consensus.StateOpen || p.State == consensus.StateClosing) {
			out = append(out, *a)
		}
	}
	return out
}
