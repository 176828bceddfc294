package node

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// ErrNotMember refuses a peer that is not a member of the network in
// closed admission (see NotMemberError).
var ErrNotMember = errors.New("node: not a member")

// NotMemberError is a refusal of closed admission: Peer is neither a
// member nor, for connect, on the allow list.
type NotMemberError struct {
	Peer   peer.ID
	Action pqcsec.Action
}

func (e *NotMemberError) Error() string {
	return fmt.Sprintf("node: %s refused to %s: not a member (closed admission)", e.Peer, e.Action)
}

// Unwrap returns ErrNotMember.
func (e *NotMemberError) Unwrap() error { return ErrNotMember }

// admission answers "may this peer do this" for every part of the node:
// the connection gater (connect), the mesh (route, relay), the gossip
// validators (publish-telemetry, governance announcements). Two rules
// apply, the first that refuses wins:
//
//  1. the policy engine's (deny list, quarantine, key pins, SPIFFE ID and
//     trust domain, attestation), over the peer's verified identity record
//     where one is needed and known;
//  2. the admission mode's: in closed admission only members may do
//     anything, and observers on the allow list may connect; in open
//     admission everyone may.
//
// The members are set by governance (setMembers): the genesis's, then
// every decided admission and eviction. Its methods are safe for
// concurrent use.
type admission struct {
	closed    bool
	self      peer.ID
	policy    *pqcsec.PolicyEngine
	td        spiffeid.TrustDomain
	observers map[peer.ID]struct{}
	records   recordCache // nil: no identity records known
	members   atomic.Pointer[map[peer.ID]struct{}]
	refusals  *prometheus.CounterVec
}

// recordCache is what admission needs of the node's identity records:
// the verified, unexpired record of a peer if the node holds one, and a
// way to ask for it (fetched in the background, so a later check can use
// it).
type recordCache interface {
	cached(p peer.ID, now time.Time) (*pqcsec.Record, bool)
	want(p peer.ID)
}

func newAdmission(cfg Config, self peer.ID, td spiffeid.TrustDomain, records recordCache, bundles x509bundle.Source) (*admission, error) {
	pc, err := cfg.Policy.engineConfig(td)
	if err != nil {
		return nil, err
	}
	pc.Bundles, pc.RequireSVID = bundles, cfg.SPIFFE.RequireSVID
	engine, err := pqcsec.NewPolicyEngine(pc)
	if err != nil {
		return nil, fmt.Errorf("policy engine: %w", err)
	}
	observers, err := parsePeers("policy.allow", cfg.Policy.Allow)
	if err != nil {
		return nil, err
	}
	a := &admission{
		closed:    cfg.Policy.Admission == AdmissionClosed,
		self:      self,
		policy:    engine,
		td:        td,
		observers: make(map[peer.ID]struct{}, len(observers)),
		records:   records,
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "x0tta6bl4_admission_refused_total",
			Help: "Peers admission refused, by action (connect, route, relay, publish-telemetry, vote) and reason (not a member, or the policy engine's).",
		}, []string{"action", "reason"}),
	}
	for _, p := range observers {
		a.observers[p] = struct{}{}
	}
	a.setMembers(nil)
	return a, nil
}

// setMembers replaces the member set.
func (a *admission) setMembers(ps []peer.ID) {
	m := make(map[peer.ID]struct{}, len(ps))
	for _, p := range ps {
		m[p] = struct{}{}
	}
	a.members.Store(&m)
}

// isMember reports whether p is a member now (the node counts as one of
// its own).
func (a *admission) isMember(p peer.ID) bool {
	_, ok := (*a.members.Load())[p]
	return ok || p == a.self
}

// modeRule is the admission mode's rule for p doing act.
func (a *admission) modeRule(p peer.ID, act pqcsec.Action) error {
	if !a.closed || a.isMember(p) {
		return nil
	}
	if _, ok := a.observers[p]; ok && act == pqcsec.ActionConnect {
		return nil
	}
	return &NotMemberError{Peer: p, Action: act}
}

// check answers for a subject known from its verified identity record.
func (a *admission) check(s pqcsec.Subject, act pqcsec.Action, now time.Time) error {
	err := a.policy.Check(s, act, now)
	if err == nil {
		err = a.modeRule(s.Peer, act)
	}
	return a.count(act, err)
}

// count counts a refusal by its action and reason, and returns it.
func (a *admission) count(act pqcsec.Action, err error) error {
	if err == nil {
		return nil
	}
	reason := "error"
	var de *pqcsec.DeniedError
	switch {
	case errors.Is(err, ErrNotMember):
		reason = "not a member"
	case errors.As(err, &de):
		reason = de.Decision.Reason.String()
	}
	a.refusals.WithLabelValues(act.String(), reason).Inc()
	return err
}

// checkRecord answers for the peer of a verified identity record, with
// its SPIFFE ID verified if its X.509-SVID chains to the node's trust
// bundles.
func (a *admission) checkRecord(r *pqcsec.Record, act pqcsec.Action, now time.Time) error {
	return a.check(a.policy.SubjectOf(r, now), act, now)
}

// authorizer is checkRecord as a pqcsec handshake callback.
func (a *admission) authorizer(act pqcsec.Action) func(*pqcsec.Record, time.Time) error {
	return func(r *pqcsec.Record, now time.Time) error { return a.checkRecord(r, act, now) }
}

// needsRecord are the policy engine's refusals of a subject known by its
// peer ID alone that its identity record (or a newer one) may lift.
func needsRecord(r pqcsec.Reason) bool {
	switch r {
	case pqcsec.ReasonKeyNotPinned, pqcsec.ReasonNoSVID, pqcsec.ReasonNoAttestation, pqcsec.ReasonStaleAttestation, pqcsec.ReasonUnknownMeasurement:
		return true
	}
	return false
}

// checkPeer answers for a peer known by its peer ID (a gossip message's
// signer): with its identity record if the node holds one, else on what
// the peer ID says (its node SPIFFE ID). When the answer is no only for
// want of the record (a key pin, required attestation), it asks for the
// record, so that a later message may pass.
func (a *admission) checkPeer(p peer.ID, act pqcsec.Action, now time.Time) error {
	if p == a.self {
		return nil
	}
	s, err := a.peerSubject(p)
	if err != nil {
		return a.count(act, err)
	}
	if a.records != nil {
		if rec, ok := a.records.cached(p, now); ok {
			s = a.policy.SubjectOf(rec, now)
		}
	}
	d := a.policy.Decide(s, act, now)
	if !d.Allow {
		// In closed admission only members' records are worth a lookup:
		// the others are refused whatever their records say.
		if needsRecord(d.Reason) && a.records != nil && a.modeRule(p, act) == nil {
			a.records.want(p)
		}
		return a.count(act, &pqcsec.DeniedError{Action: act, Decision: d})
	}
	return a.count(act, a.modeRule(p, act))
}

// peerSubject is what the peer ID alone says of p: its node SPIFFE ID in
// the node's trust domain, no keys, no claim.
func (a *admission) peerSubject(p peer.ID) (pqcsec.Subject, error) {
	sid, err := pqcsec.NodeID(a.td, p)
	if err != nil {
		return pqcsec.Subject{}, fmt.Errorf("node SPIFFE ID of %s: %w", p, err)
	}
	return pqcsec.Subject{Peer: p, SPIFFEID: sid}, nil
}

// mayConnect is the connection gater's question: may p connect at all?
// It refuses a deny-listed peer and, in closed admission, anyone neither
// a member nor an observer. Rules that need the peer's identity record
// (pins, attestation) are left to the actions that carry it.
func (a *admission) mayConnect(p peer.ID) bool {
	return p == a.self || a.peerIDRules(p, pqcsec.ActionConnect) == nil
}

// peerIDRules applies what the peer ID alone decides of p doing act: the
// policy engine's connect rule (the deny list), then the admission
// mode's rule for act; it counts a refusal.
func (a *admission) peerIDRules(p peer.ID, act pqcsec.Action) error {
	err := a.connectRule(p)
	if err == nil {
		err = a.modeRule(p, act)
	}
	return a.count(act, err)
}

// connectRule is the policy engine's connect rule on what the peer ID
// says (the deny list), leaving out what needs the identity record.
func (a *admission) connectRule(p peer.ID) error {
	s, err := a.peerSubject(p)
	if err != nil {
		return err
	}
	if d := a.policy.Decide(s, pqcsec.ActionConnect, time.Now()); !d.Allow && !needsRecord(d.Reason) {
		return &pqcsec.DeniedError{Action: pqcsec.ActionConnect, Decision: d}
	}
	return nil
}

// anomalyMembers is the anomaly service's membership check: the members
// governance leaves (Node.isMember) less the peers the deny list refuses,
// so that nothing a deny-listed member signs is taken, its anomaly scores
// included (its own node and the relays may still pass them on).
type anomalyMembers struct{ n *Node }

var _ memberCheck = anomalyMembers{}

func (m anomalyMembers) isMember(p peer.ID) bool {
	return m.n.isMember(p) && (p == m.n.host.ID() || m.n.adm.connectRule(p) == nil)
}

// mayAnnounce is the governance topic's question: may p's announcements
// be taken at all? Not from a deny-listed peer, nor in closed admission
// from a non-member. Whether each record counts is the governance log's
// business (the policy engine as its Admitter, the membership in force at
// each proposal's deadline), so that it is the same on every node.
func (a *admission) mayAnnounce(p peer.ID) error {
	if p == a.self {
		return nil
	}
	return a.peerIDRules(p, pqcsec.ActionVote)
}

// memberScore is the GossipSub application score of a member: just above
// a non-member's 0, so that when a topic mesh is oversubscribed members
// keep their places, and below every threshold, so that it changes
// nothing else.
const memberScore = 1

// gossipScore is the GossipSub application score of p.
func (a *admission) gossipScore(p peer.ID) float64 {
	if a.isMember(p) {
		return memberScore
	}
	return 0
}

// setupAdmission gives the node its policy engine and admission, before
// the host exists (its connection gater asks admission): the engine from
// [policy], the members from the genesis of [governance]. A closed node
// without a genesis file would admit nobody, so it is refused.
func (n *Node) setupAdmission(opts Options) error {
	self, err := peer.IDFromPrivateKey(n.key)
	if err != nil {
		return fmt.Errorf("peer ID: %w", err)
	}
	td, err := spiffeid.TrustDomainFromString(n.cfg.TrustDomain)
	if err != nil {
		return fieldErr("trust_domain", "invalid SPIFFE trust domain %q: %w", n.cfg.TrustDomain, err)
	}
	if n.cfg.Policy.Admission == AdmissionClosed && n.cfg.Governance.Genesis == "" {
		return fieldErr("policy.admission", "closed admission admits the members the genesis lists, and [governance] genesis names none "+
			"(x0tta6bl4 genesis writes one from the founders' peer IDs); set admission = %q to run without members", AdmissionOpen)
	}
	g, err := n.cfg.Governance.genesis(n.cfg.TrustDomain)
	if err != nil {
		return err
	}
	bundles, err := n.setupSPIFFE(td)
	if err != nil {
		return err
	}
	n.ids = newIdentityCache()
	if n.adm, err = newAdmission(n.cfg, self, td, n.ids, bundles); err != nil {
		return err
	}
	n.adm.setMembers(genesisMembers(g))
	n.genesis, n.trustDomain, n.policy = g, td, n.adm.policy
	return nil
}

// genesisMembers are the peers a genesis lists with tokens.
func genesisMembers(g *consensus.Genesis) []peer.ID {
	if g == nil {
		return nil
	}
	var out []peer.ID
	for _, a := range g.Allocations() {
		if a.Peer != "" && a.Tokens > 0 {
			out = append(out, peer.ID(a.Peer))
		}
	}
	return out
}
