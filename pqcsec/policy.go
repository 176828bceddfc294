package pqcsec

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Action is something a peer asks to do.
type Action uint8

// Actions a PolicyEngine decides on.
const (
	ActionConnect          Action = iota + 1 // open a link / session
	ActionRoute                              // have its DATA routed end to end
	ActionRelay                              // act as a relay hop for others
	ActionPublishTelemetry                   // have its telemetry and anomaly gossip accepted
	ActionVote                               // cast governance votes
	ActionPropose                            // make governance proposals
)

var actionNames = [...]string{
	ActionConnect:          "connect",
	ActionRoute:            "route",
	ActionRelay:            "relay",
	ActionPublishTelemetry: "publish-telemetry",
	ActionVote:             "vote",
	ActionPropose:          "propose",
}

// Actions lists every action, in order.
func Actions() []Action {
	return []Action{ActionConnect, ActionRoute, ActionRelay, ActionPublishTelemetry, ActionVote, ActionPropose}
}

func (a Action) valid() bool { return a >= ActionConnect && a <= ActionPropose }

func (a Action) String() string {
	if a.valid() {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// ParseAction parses an action name as printed by String (for config files).
func ParseAction(s string) (Action, error) {
	for _, a := range Actions() {
		if actionNames[a] == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("pqcsec: unknown action %q", s)
}

// Reason says which rule decided.
type Reason uint8

// Reasons, in the order the rules are checked.
const (
	ReasonUnknownAction      Reason = iota + 1 // the action is not one of Actions()
	ReasonDenyListed                           // the peer is on the deny list
	ReasonQuarantined                          // governance quarantined the peer (all but connect)
	ReasonKeyNotPinned                         // the peer's keys are pinned and these differ
	ReasonNoSPIFFEID                           // the peer presented no SPIFFE ID
	ReasonNoSVID                               // an SVID is required and the peer has no verified one
	ReasonSPIFFEMismatch                       // the SPIFFE ID names another peer
	ReasonForeignTrustDomain                   // the SPIFFE ID is in a trust domain not allowed
	ReasonNotAllowListed                       // an allow list is set and the peer is not on it
	ReasonNoAttestation                        // the action needs an attestation the peer lacks
	ReasonStaleAttestation                     // the attestation is too old or from the future
	ReasonUnknownMeasurement                   // the attestation is not an allowed measurement
	ReasonAllowed                              // every rule passed
)

var reasonNames = [...]string{
	ReasonUnknownAction:      "unknown action",
	ReasonDenyListed:         "peer on deny list",
	ReasonQuarantined:        "peer quarantined",
	ReasonKeyNotPinned:       "keys differ from the pinned keys",
	ReasonNoSPIFFEID:         "no SPIFFE ID",
	ReasonNoSVID:             "no verified X.509-SVID",
	ReasonSPIFFEMismatch:     "SPIFFE ID names another peer",
	ReasonForeignTrustDomain: "foreign trust domain",
	ReasonNotAllowListed:     "peer not on allow list",
	ReasonNoAttestation:      "attestation required",
	ReasonStaleAttestation:   "attestation not fresh",
	ReasonUnknownMeasurement: "measurement not allowed",
	ReasonAllowed:            "allowed",
}

func (r Reason) String() string {
	if r >= ReasonUnknownAction && r <= ReasonAllowed {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Decision is the answer to "may this peer do this action", with the rule
// that decided it.
type Decision struct {
	Allow  bool
	Reason Reason
}

func (d Decision) String() string {
	if d.Allow {
		return "allow: " + d.Reason.String()
	}
	return "deny: " + d.Reason.String()
}

// Subject is what the policy knows about a peer. Build it from a verified
// record (PolicyEngine.SubjectOf, SubjectOf) or fill it from another
// verified source; the engine trusts the fields, it does not verify
// signatures.
type Subject struct {
	Peer peer.ID
	Keys *PublicKeys // the peer's verified keys, or nil if unknown
	// SPIFFEID is the SPIFFE ID the peer claims (its record's
	// ClaimedSPIFFEID), zero if none: a string any key holder can write.
	SPIFFEID spiffeid.ID
	// VerifiedSPIFFEID is the ID of an X.509-SVID that chains to a trust
	// bundle and is bound to Keys (Record.VerifySVID), zero if none. Only
	// this one says the trust domain vouches for the peer.
	VerifiedSPIFFEID spiffeid.ID
	Claim            *Claim // verified attestation claim, or nil
}

// SubjectOf is the subject described by a verified identity record,
// without a verified SPIFFE ID (it holds no trust bundle to check one
// against); PolicyEngine.SubjectOf adds it.
func SubjectOf(r *Record) Subject {
	return Subject{Peer: r.PeerID(), Keys: r.Keys(), SPIFFEID: r.ClaimedSPIFFEID(), Claim: r.Claim()}
}

// PolicyConfig is the static part of a policy. Allow, Deny and Measurements
// can be changed at run time with the engine's setters; the quarantine list
// lives only in the engine.
type PolicyConfig struct {
	// TrustDomains are the SPIFFE trust domains whose nodes are admitted;
	// any other domain is denied. At least one is required.
	TrustDomains []spiffeid.TrustDomain
	// Allow, if not empty, admits only these peers.
	Allow []peer.ID
	// Deny refuses these peers everything; it wins over every other rule.
	Deny []peer.ID
	// Pins maps peers to the fingerprint of their signature keys
	// (PublicKeys.Fingerprint); a pinned peer presenting other keys, or
	// none, is refused. Pinning is what resists an attacker who can forge
	// Ed25519 (docs/security.md, threat model).
	Pins map[peer.ID][32]byte
	// AttestFor lists the actions that need a fresh attestation claim
	// matching one of Measurements.
	AttestFor []Action
	// Measurements are the allowed attestation measurements.
	Measurements []Measurement
	// AttestationMaxAge is how old (from Claim.Issued) a claim may be;
	// zero means DefaultAttestationMaxAge.
	AttestationMaxAge time.Duration
	// Bundles are the SPIFFE trust bundles records' X.509-SVIDs are
	// verified against (SubjectOf, Authorizer); nil verifies none. The
	// Workload API's bundle set, or one loaded from a bundle file;
	// SetBundles replaces it.
	Bundles x509bundle.Source
	// RequireSVID makes the SPIFFE rules read the verified SPIFFE ID only:
	// a peer without one is denied (ReasonNoSVID), and the trust domain
	// rule judges the SVID's. Without it they read the claimed ID, which
	// proves nothing about the trust domain (docs/security.md §9).
	RequireSVID bool
}

// DefaultAttestationMaxAge is PolicyConfig.AttestationMaxAge when zero.
const DefaultAttestationMaxAge = 24 * time.Hour

// DefaultPolicyConfig admits nodes of one trust domain to every action and
// asks for no attestation.
func DefaultPolicyConfig(td spiffeid.TrustDomain) PolicyConfig {
	return PolicyConfig{TrustDomains: []spiffeid.TrustDomain{td}, AttestationMaxAge: DefaultAttestationMaxAge}
}

func (c *PolicyConfig) validate() error {
	if len(c.TrustDomains) == 0 {
		return fmt.Errorf("pqcsec: policy needs at least one trust domain")
	}
	for _, td := range c.TrustDomains {
		if td.IsZero() {
			return fmt.Errorf("pqcsec: policy has an empty trust domain")
		}
	}
	for _, a := range c.AttestFor {
		if !a.valid() {
			return fmt.Errorf("pqcsec: policy attests unknown %s", a)
		}
	}
	if c.RequireSVID && c.Bundles == nil {
		return fmt.Errorf("pqcsec: policy requires an SVID but has no trust bundle")
	}
	if len(c.AttestFor) > 0 && len(c.Measurements) == 0 {
		return fmt.Errorf("pqcsec: policy requires attestation for %v but allows no measurement", c.AttestFor)
	}
	if c.AttestationMaxAge < 0 {
		return fmt.Errorf("pqcsec: negative attestation max age")
	}
	return nil
}

// PolicyEngine answers whether a peer may do an action. Every method is safe
// for concurrent use; the setters take effect for decisions that start after
// they return.
type PolicyEngine struct {
	domains     map[spiffeid.TrustDomain]struct{}
	attestFor   [ActionPropose + 1]bool
	maxAge      time.Duration
	requireSVID bool

	mu           sync.RWMutex
	allow        map[peer.ID]struct{}
	deny         map[peer.ID]struct{}
	pins         map[peer.ID][32]byte
	quarantine   map[peer.ID]struct{}
	measurements []Measurement
	bundles      x509bundle.Source
}

// NewPolicyEngine checks cfg and returns an engine with an empty quarantine
// list.
func NewPolicyEngine(cfg PolicyConfig) (*PolicyEngine, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &PolicyEngine{
		domains:      make(map[spiffeid.TrustDomain]struct{}, len(cfg.TrustDomains)),
		maxAge:       cfg.AttestationMaxAge,
		allow:        peerSet(cfg.Allow),
		deny:         peerSet(cfg.Deny),
		pins:         maps.Clone(cfg.Pins),
		quarantine:   map[peer.ID]struct{}{},
		measurements: slices.Clone(cfg.Measurements),
		bundles:      cfg.Bundles,
		requireSVID:  cfg.RequireSVID,
	}
	if e.maxAge == 0 {
		e.maxAge = DefaultAttestationMaxAge
	}
	for _, td := range cfg.TrustDomains {
		e.domains[td] = struct{}{}
	}
	for _, a := range cfg.AttestFor {
		e.attestFor[a] = true
	}
	return e, nil
}

func peerSet(ps []peer.ID) map[peer.ID]struct{} {
	m := make(map[peer.ID]struct{}, len(ps))
	for _, p := range ps {
		m[p] = struct{}{}
	}
	return m
}

// Decide answers whether s may do a at now. Rules, first match wins:
// unknown action; deny list; quarantine (every action but connect); pinned
// keys that differ; missing or mismatched SPIFFE ID; trust domain not allowed; allow list; attestation
// (present, fresh, allowed measurement) for the actions in AttestFor; else
// allow.
func (e *PolicyEngine) Decide(s Subject, a Action, now time.Time) Decision {
	return e.decide(s, a, now, true)
}

// decide is Decide, with the quarantine rule applied only if quarantine.
func (e *PolicyEngine) decide(s Subject, a Action, now time.Time, quarantine bool) Decision {
	deny := func(r Reason) Decision { return Decision{Reason: r} }
	if !a.valid() {
		return deny(ReasonUnknownAction)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if _, ok := e.deny[s.Peer]; ok {
		return deny(ReasonDenyListed)
	}
	if _, ok := e.quarantine[s.Peer]; ok && quarantine && a != ActionConnect {
		return deny(ReasonQuarantined)
	}
	if pin, ok := e.pins[s.Peer]; ok && (s.Keys == nil || s.Keys.PeerID() != s.Peer || s.Keys.Fingerprint() != pin) {
		return deny(ReasonKeyNotPinned)
	}
	if s.SPIFFEID.IsZero() {
		return deny(ReasonNoSPIFFEID)
	}
	if p, err := PeerFromSPIFFE(s.SPIFFEID); err != nil || p != s.Peer {
		return deny(ReasonSPIFFEMismatch)
	}
	td := s.SPIFFEID.TrustDomain()
	if e.requireSVID {
		if s.VerifiedSPIFFEID.IsZero() {
			return deny(ReasonNoSVID)
		}
		td = s.VerifiedSPIFFEID.TrustDomain()
	}
	if _, ok := e.domains[td]; !ok {
		return deny(ReasonForeignTrustDomain)
	}
	if _, ok := e.allow[s.Peer]; len(e.allow) > 0 && !ok {
		return deny(ReasonNotAllowListed)
	}
	if e.attestFor[a] {
		if s.Claim == nil {
			return deny(ReasonNoAttestation)
		}
		if s.Claim.CheckFresh(now, e.maxAge) != nil {
			return deny(ReasonStaleAttestation)
		}
		if !e.measuredLocked(s.Claim) {
			return deny(ReasonUnknownMeasurement)
		}
	}
	return Decision{Allow: true, Reason: ReasonAllowed}
}

func (e *PolicyEngine) measuredLocked(c *Claim) bool {
	for _, m := range e.measurements {
		if m.Matches(c) {
			return true
		}
	}
	return false
}

// Check is Decide as an error: nil when allowed, else a *DeniedError
// (errors.Is(err, ErrDenied)).
func (e *PolicyEngine) Check(s Subject, a Action, now time.Time) error {
	if d := e.Decide(s, a, now); !d.Allow {
		return &DeniedError{Action: a, Decision: d}
	}
	return nil
}

// SubjectOf is the subject described by a verified identity record, with
// its verified SPIFFE ID when the record's X.509-SVID verifies at now
// against the engine's bundles (Record.VerifySVID); a record without one,
// or whose SVID fails, gets none.
func (e *PolicyEngine) SubjectOf(r *Record, now time.Time) Subject {
	s := SubjectOf(r)
	e.mu.RLock()
	bundles := e.bundles
	e.mu.RUnlock()
	if bundles != nil && r.HasSVID() {
		if id, err := r.VerifySVID(bundles, now); err == nil {
			s.VerifiedSPIFFEID = id
		}
	}
	return s
}

// CheckIgnoringQuarantine is Check with every rule but the quarantine
// list. Governance admits records with it: the quarantine list is
// governance's own output, which its tally applies at each proposal's
// place in deadline order; refusing a quarantined peer's records when they
// arrive would make nodes that decided at different moments hold different
// records, and so compute different tallies.
func (e *PolicyEngine) CheckIgnoringQuarantine(s Subject, a Action, now time.Time) error {
	if d := e.decide(s, a, now, false); !d.Allow {
		return &DeniedError{Action: a, Decision: d}
	}
	return nil
}

// Authorizer returns a HandshakeConfig.Authorize callback that admits the
// peer of a verified record (SVID included, SubjectOf) only if it may do a.
func (e *PolicyEngine) Authorizer(a Action) func(peer *Record, now time.Time) error {
	return func(r *Record, now time.Time) error { return e.Check(e.SubjectOf(r, now), a, now) }
}

// VerifyAttestation checks a signed attestation from the holder of pub: the
// signature, freshness against now and AttestationMaxAge, and that it is an
// allowed measurement (ErrMeasurement otherwise).
func (e *PolicyEngine) VerifyAttestation(pub *PublicKeys, att []byte, now time.Time) (Claim, error) {
	c, err := VerifyAttestation(pub, att, now, e.maxAge)
	if err != nil {
		return Claim{}, err
	}
	e.mu.RLock()
	ok := e.measuredLocked(&c)
	e.mu.RUnlock()
	if !ok {
		return Claim{}, fmt.Errorf("%w: binary %x on %s", ErrMeasurement, c.BinarySHA256[:8], c.Platform)
	}
	return c, nil
}

// SetQuarantine replaces the quarantine list (governance feeds the whole
// decided list).
func (e *PolicyEngine) SetQuarantine(ps []peer.ID) {
	m := peerSet(ps)
	e.mu.Lock()
	e.quarantine = m
	e.mu.Unlock()
}

// Quarantine adds p to the quarantine list.
func (e *PolicyEngine) Quarantine(p peer.ID) {
	e.mu.Lock()
	e.quarantine[p] = struct{}{}
	e.mu.Unlock()
}

// Release removes p from the quarantine list.
func (e *PolicyEngine) Release(p peer.ID) {
	e.mu.Lock()
	delete(e.quarantine, p)
	e.mu.Unlock()
}

// Quarantined reports whether p is on the quarantine list.
func (e *PolicyEngine) Quarantined(p peer.ID) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	_, ok := e.quarantine[p]
	return ok
}

// SetAllow replaces the allow list; an empty list admits every peer that
// passes the other rules.
func (e *PolicyEngine) SetAllow(ps []peer.ID) {
	m := peerSet(ps)
	e.mu.Lock()
	e.allow = m
	e.mu.Unlock()
}

// SetDeny replaces the deny list.
func (e *PolicyEngine) SetDeny(ps []peer.ID) {
	m := peerSet(ps)
	e.mu.Lock()
	e.deny = m
	e.mu.Unlock()
}

// SetPins replaces the key pins (peer → PublicKeys.Fingerprint).
func (e *PolicyEngine) SetPins(pins map[peer.ID][32]byte) {
	pins = maps.Clone(pins)
	e.mu.Lock()
	e.pins = pins
	e.mu.Unlock()
}

// SetBundles replaces the trust bundles SVIDs are verified against (the
// Workload API streams new ones as the trust domain rotates its keys).
func (e *PolicyEngine) SetBundles(b x509bundle.Source) {
	e.mu.Lock()
	e.bundles = b
	e.mu.Unlock()
}

// SetMeasurements replaces the allowed measurements.
func (e *PolicyEngine) SetMeasurements(ms []Measurement) {
	ms = slices.Clone(ms)
	e.mu.Lock()
	e.measurements = ms
	e.mu.Unlock()
}
