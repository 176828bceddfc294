package node

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
)

// The governance API, under /v1/gov. Bodies are JSON; powers are in
// micro-votes (10^6 = one vote, the square root of one token); times are
// RFC 3339. A proposal is named by its 64-digit hex ID or any unique
// prefix of at least 8 digits.

// GovAction is a proposal's action in the API: Kind "quarantine" (Peer,
// optional Reason), "admit" (Peer, Tokens: what it may spend on a vote, 0
// for a member without votes), "evict" (Peer), "set-parameter" (Name,
// Value) or "accept-model" (Name, Digest: the model's SHA-256 in hex).
type GovAction struct {
	Kind   string `json:"kind"`
	Peer   string `json:"peer,omitempty"`
	Reason string `json:"reason,omitempty"`
	Tokens uint64 `json:"tokens,omitempty"`
	Name   string `json:"name,omitempty"`
	Value  string `json:"value,omitempty"`
	Digest string `json:"digest,omitempty"`
}

// GovProposeRequest is the body of POST /v1/gov/proposals. Duration is a
// Go duration ("5m"); Quorum and Threshold are fractions ("0.33", at most
// six decimals), as JSON strings or numbers.
type GovProposeRequest struct {
	Title       string      `json:"title"`
	Description string      `json:"description"`
	Duration    string      `json:"duration"`
	Quorum      GovFraction `json:"quorum"`
	Threshold   GovFraction `json:"threshold"`
	Action      *GovAction  `json:"action,omitempty"`
}

// GovVoteRequest is the body of POST /v1/gov/proposals/{id}/votes.
// Choice is "yes", "no" or "abstain"; Tokens is at most the node's
// allocation (GET /v1/gov).
type GovVoteRequest struct {
	Choice string `json:"choice"`
	Tokens uint64 `json:"tokens"`
}

// GovProposal is a proposal as the API shows it. State is "open",
// "closing" (past the deadline, not decided yet), "passed" or "rejected".
// Tally is present in GET /v1/gov/proposals/{id}: the decided tally, or
// the count as it stands.
type GovProposal struct {
	ID          string     `json:"id"`
	Author      string     `json:"author"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	Created     time.Time  `json:"created"`
	Deadline    time.Time  `json:"deadline"`
	Quorum      string     `json:"quorum"`
	Threshold   string     `json:"threshold"`
	Action      *GovAction `json:"action,omitempty"`
	State       string     `json:"state"`
	DecidedAt   *time.Time `json:"decided_at,omitempty"`
	Tally       *GovTally  `json:"tally,omitempty"`
}

// GovTally is a proposal's count. Final is true for the decision's tally;
// otherwise Outcome is what the count would decide now. Digest is the
// SHA-256 of the tally's canonical encoding, equal on every node that
// holds the same records.
type GovTally struct {
	Final         bool        `json:"final"`
	Outcome       string      `json:"outcome"`
	QuorumMet     bool        `json:"quorum_met"`
	Yes           uint64      `json:"yes"`
	No            uint64      `json:"no"`
	Abstain       uint64      `json:"abstain"`
	Participating uint64      `json:"participating"`
	Total         uint64      `json:"total"`
	Digest        string      `json:"digest"`
	Ballots       []GovBallot `json:"ballots"`
	Void          []GovVoid   `json:"void"`
}

// GovBallot is a counted vote.
type GovBallot struct {
	Voter  string `json:"voter"`
	Seq    uint64 `json:"seq"`
	Record string `json:"record"`
	Choice string `json:"choice"`
	Tokens uint64 `json:"tokens"`
	Power  uint64 `json:"power"`
}

// GovVoid is a vote that does not count, with the reason ("superseded",
// "after-deadline", "over-allocation", "equivocation").
type GovVoid struct {
	Voter  string `json:"voter"`
	Seq    uint64 `json:"seq"`
	Record string `json:"record"`
	Reason string `json:"reason"`
}

// GovProposalsBody is the answer to GET /v1/gov/proposals, by deadline.
type GovProposalsBody struct {
	Count     int           `json:"count"`
	Proposals []GovProposal `json:"proposals"`
}

// GovVote is the answer to POST /v1/gov/proposals/{id}/votes: the vote
// record the node appended to its log.
type GovVote struct {
	ID       string    `json:"id"`
	Proposal string    `json:"proposal"`
	Voter    string    `json:"voter"`
	Seq      uint64    `json:"seq"`
	Choice   string    `json:"choice"`
	Tokens   uint64    `json:"tokens"`
	Power    uint64    `json:"power"`
	Time     time.Time `json:"time"`
}

// GovStatus is the answer to GET /v1/gov.
type GovStatus struct {
	GenesisID         string `json:"genesis_id"`
	TrustDomain       string `json:"trust_domain"`
	DefaultAllocation uint64 `json:"default_allocation"`
	ListedAllocations int    `json:"listed_allocations"`
	// Allocation is the tokens this node may spend on one vote, as the
	// membership stands after the proposals it decided.
	Allocation uint64 `json:"allocation"`
	// Members counts the members known by peer ID (listed with tokens or
	// admitted, not evicted); Quarantined lists the peers governance
	// quarantined.
	Members     int      `json:"members"`
	Quarantined []string `json:"quarantined"`
	Records     int      `json:"records"`
	Authors     int      `json:"authors"`
	Proposals   int      `json:"proposals"`
	// Missing counts records the node knows of but does not hold yet.
	Missing int `json:"missing"`
	// DamagedRecords and DamagedDecisions count values found damaged in
	// the datastore at start and set aside (records are fetched again,
	// decisions taken again).
	DamagedRecords   int           `json:"damaged_records"`
	DamagedDecisions int           `json:"damaged_decisions"`
	Evidence         []GovEvidence `json:"evidence"`
	// Writable is false while the node refuses to propose or vote (503)
	// because it may lack some of its own records (a new or lost store,
	// before its first sync); NotSynced says why.
	Writable  bool   `json:"writable"`
	NotSynced string `json:"not_synced,omitempty"`
	Synced    bool   `json:"synced"`
	// Sync and gossip counters of the replication driver.
	SyncRounds     uint64 `json:"sync_rounds"`
	HeadsFetched   uint64 `json:"heads_fetched"`
	RecordsFetched uint64 `json:"records_fetched"`
	Accepted       uint64 `json:"accepted"`
	Ignored        uint64 `json:"ignored"`
	Rejected       uint64 `json:"rejected"`
}

// GovEvidence is a proof of equivocation: Kind "fork", "broken-chain" or
// "head-fork"; the author's votes from Seq on are void.
type GovEvidence struct {
	Author string `json:"author"`
	Seq    uint64 `json:"seq"`
	Kind   string `json:"kind"`
}

// GovFraction is a quorum or threshold in a request: a decimal between 0 and
// 1 with at most six places, as a JSON string ("0.33") or number (0.33),
// read exactly (never through a float).
type GovFraction string

// UnmarshalJSON implements json.Unmarshaler.
func (f *GovFraction) UnmarshalJSON(b []byte) error {
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	} else {
		var num json.Number
		if err := json.Unmarshal(b, &num); err != nil {
			return fmt.Errorf("want a fraction such as \"0.33\": %w", err)
		}
		s = num.String()
	}
	*f = GovFraction(s)
	return nil
}

// MarshalJSON implements json.Marshaler (a string).
func (f GovFraction) MarshalJSON() ([]byte, error) { return json.Marshal(string(f)) }

// PPM reads the fraction; empty reads as def.
func (f GovFraction) PPM(def consensus.PPM) (consensus.PPM, error) {
	if f == "" {
		return def, nil
	}
	return consensus.ParsePPM(string(f))
}

// ParseGovAction reads the CLI form of an action (see
// consensus.ParseAction): "quarantine:<peer>[:<reason>]",
// "admit:<peer>[:<tokens>]", "evict:<peer>", "set:<name>=<value>" or
// "model:<name>@<sha256 hex>".
func ParseGovAction(s string) (*GovAction, error) {
	a, err := consensus.ParseAction(s)
	if err != nil {
		return nil, err
	}
	return govActionOf(a), nil
}

// String is the CLI form ParseGovAction reads, or the kind if the action
// is not valid.
func (a *GovAction) String() string {
	ca, err := a.action()
	if err != nil {
		return a.Kind
	}
	return consensus.FormatAction(ca)
}

// action turns the API form into a consensus action, naming the field at
// fault.
func (a *GovAction) action() (consensus.Action, error) {
	var ca consensus.Action
	switch a.Kind {
	case consensus.ActionQuarantine.String(), consensus.ActionAdmit.String(), consensus.ActionEvict.String():
		p, err := consensus.ParsePeerID(a.Peer)
		if err != nil {
			return nil, fmt.Errorf("action.peer: %w", err)
		}
		switch a.Kind {
		case consensus.ActionQuarantine.String():
			ca = &consensus.Quarantine{Peer: p, Reason: a.Reason}
		case consensus.ActionAdmit.String():
			ca = &consensus.Admit{Peer: p, Tokens: a.Tokens}
		default:
			ca = &consensus.Evict{Peer: p}
		}
	case consensus.ActionSetParameter.String():
		ca = &consensus.SetParameter{Name: a.Name, Value: a.Value}
	case consensus.ActionAcceptModel.String():
		d, err := consensus.ParseHash(a.Digest)
		if err != nil {
			return nil, fmt.Errorf("action.digest: %w", err)
		}
		ca = &consensus.AcceptModel{Name: a.Name, Digest: d}
	default:
		return nil, fmt.Errorf("action.kind: unknown %q (want quarantine, admit, evict, set-parameter or accept-model)", a.Kind)
	}
	return ca, nil
}

func govActionOf(a consensus.Action) *GovAction {
	switch a := a.(type) {
	case *consensus.Quarantine:
		return &GovAction{Kind: a.Kind().String(), Peer: a.Peer.String(), Reason: a.Reason}
	case *consensus.SetParameter:
		return &GovAction{Kind: a.Kind().String(), Name: a.Name, Value: a.Value}
	case *consensus.AcceptModel:
		return &GovAction{Kind: a.Kind().String(), Name: a.Name, Digest: a.Digest.String()}
	case *consensus.Admit:
		return &GovAction{Kind: a.Kind().String(), Peer: a.Peer.String(), Tokens: a.Tokens}
	case *consensus.Evict:
		return &GovAction{Kind: a.Kind().String(), Peer: a.Peer.String()}
	}
	return nil
}

func govTallyOf(t *consensus.Tally, final bool) *GovTally {
	out := &GovTally{
		Final: final, Outcome: t.Outcome.String(), QuorumMet: t.QuorumMet,
		Yes: t.Yes, No: t.No, Abstain: t.Abstain, Participating: t.Participating, Total: t.Total,
		Digest:  t.Digest().String(),
		Ballots: make([]GovBallot, len(t.Ballots)),
		Void:    make([]GovVoid, len(t.Void)),
	}
	for i, b := range t.Ballots {
		out.Ballots[i] = GovBallot{Voter: b.Voter.String(), Seq: b.Seq, Record: b.Record.String(), Choice: b.Choice.String(), Tokens: b.Tokens, Power: b.Power}
	}
	for i, v := range t.Void {
		out.Void[i] = GovVoid{Voter: v.Voter.String(), Seq: v.Seq, Record: v.Record.String(), Reason: v.Reason.String()}
	}
	return out
}

func (g *Governance) proposalOf(p consensus.ProposalInfo, withTally bool) (GovProposal, error) {
	out := GovProposal{
		ID: p.ID.String(), Author: p.Author.String(), Title: p.Title, Description: p.Description,
		Created: time.UnixMilli(p.Created).UTC(), Deadline: time.UnixMilli(p.Deadline).UTC(),
		Quorum: p.Quorum.String(), Threshold: p.Threshold.String(),
		Action: govActionOf(p.Action), State: p.State.String(),
	}
	d, decided := g.log.Decision(p.ID)
	if decided {
		at := time.UnixMilli(d.DecidedAt).UTC()
		out.DecidedAt = &at
	}
	if !withTally {
		return out, nil
	}
	if decided {
		out.Tally = govTallyOf(d.Tally, true)
		return out, nil
	}
	t, err := g.log.Tally(p.ID)
	if err != nil {
		return out, err
	}
	out.Tally = govTallyOf(t, false)
	return out, nil
}

// govPatterns are the governance routes.
var govPatterns = [...]string{
	"GET /v1/gov",
	"GET /v1/gov/proposals",
	"POST /v1/gov/proposals",
	"GET /v1/gov/proposals/{id}",
	"POST /v1/gov/proposals/{id}/votes",
}

// routes adds the governance routes to the API.
func (g *Governance) routes(a *api) error {
	for i, h := range [len(govPatterns)]http.HandlerFunc{g.getStatus, g.getProposals, g.postProposal, g.getProposal, g.postVote} {
		if err := a.handle(govPatterns[i], h); err != nil {
			return err
		}
	}
	return nil
}

// govOffRoutes answers every governance route of a node without
// governance with 503 and ErrGovernanceOff.
func govOffRoutes(a *api) error {
	off := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		WriteError(w, http.StatusServiceUnavailable, ErrGovernanceOff)
	})
	for _, p := range govPatterns {
		if err := a.handle(p, off); err != nil {
			return err
		}
	}
	return nil
}

func (g *Governance) getStatus(w http.ResponseWriter, r *http.Request) {
	st := g.driver.Stats()
	ls := g.log.Status()
	m := g.log.Membership()
	body := GovStatus{
		GenesisID: g.genesis.ID().String(), TrustDomain: g.genesis.TrustDomain(),
		DefaultAllocation: g.genesis.DefaultAllocation(), ListedAllocations: len(g.genesis.Allocations()),
		Allocation: m.Allocation(g.self, g.selfSID), Members: len(m.Members()), Quarantined: []string{},
		Records: ls.Records, Authors: ls.Authors, Proposals: ls.Proposals, Missing: ls.Missing,
		DamagedRecords: ls.DamagedRecords, DamagedDecisions: ls.DamagedDecisions,
		Evidence: []GovEvidence{}, Writable: ls.Writable, NotSynced: ls.NotSynced, Synced: st.Synced,
		SyncRounds: st.SyncRounds, HeadsFetched: st.HeadsFetched, RecordsFetched: st.RecordsFetched,
		Accepted: st.Accepted, Ignored: st.Ignored, Rejected: st.Rejected,
	}
	for _, p := range m.Quarantine() {
		body.Quarantined = append(body.Quarantined, p.String())
	}
	for _, e := range g.log.Evidence() {
		body.Evidence = append(body.Evidence, GovEvidence{Author: e.Author.String(), Seq: e.Seq, Kind: e.Kind.String()})
	}
	WriteJSON(w, http.StatusOK, body)
}

func (g *Governance) getProposals(w http.ResponseWriter, r *http.Request) {
	infos := g.log.Proposals(time.Now())
	body := GovProposalsBody{Count: len(infos), Proposals: make([]GovProposal, 0, len(infos))}
	for _, p := range infos {
		gp, err := g.proposalOf(p, false)
		if err != nil {
			WriteError(w, http.StatusInternalServerError, err)
			return
		}
		body.Proposals = append(body.Proposals, gp)
	}
	WriteJSON(w, http.StatusOK, body)
}

func (g *Governance) getProposal(w http.ResponseWriter, r *http.Request) {
	p, status, err := g.findProposal(r.PathValue("id"))
	if err != nil {
		WriteError(w, status, err)
		return
	}
	gp, err := g.proposalOf(p, true)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, err)
		return
	}
	WriteJSON(w, http.StatusOK, gp)
}

// maxGovBody bounds a request body: a proposal's text fields are at most
// a few KiB.
const maxGovBody = 64 << 10

// decodeGovBody reads a JSON request body into v, refusing unknown fields.
func decodeGovBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxGovBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %w", err)
	}
	return nil
}

func (g *Governance) postProposal(w http.ResponseWriter, r *http.Request) {
	var req GovProposeRequest
	if err := decodeGovBody(r, &req); err != nil {
		WriteError(w, http.StatusBadRequest, err)
		return
	}
	title, desc, dur, quorum, threshold, action, err := req.parse()
	if err != nil {
		WriteError(w, http.StatusBadRequest, err)
		return
	}
	rec, err := g.Propose(r.Context(), title, desc, dur, quorum, threshold, action)
	if err != nil {
		WriteError(w, govStatusOf(err), err)
		return
	}
	for _, p := range g.log.Proposals(time.Now()) {
		if p.ID == rec.ID() {
			gp, err := g.proposalOf(p, true)
			if err != nil {
				WriteError(w, http.StatusInternalServerError, err)
				return
			}
			WriteJSON(w, http.StatusCreated, gp)
			return
		}
	}
	WriteError(w, http.StatusInternalServerError, fmt.Errorf("proposal %s not listed after creation", rec.ID()))
}

// parse checks a proposal request, naming the field at fault.
func (req *GovProposeRequest) parse() (title, desc string, dur time.Duration, quorum, threshold consensus.PPM, action consensus.Action, err error) {
	if strings.TrimSpace(req.Title) == "" {
		return "", "", 0, 0, 0, nil, errors.New("title: required")
	}
	if req.Duration == "" {
		return "", "", 0, 0, 0, nil, errors.New("duration: required (a Go duration such as \"5m\")")
	}
	if dur, err = time.ParseDuration(req.Duration); err != nil {
		return "", "", 0, 0, 0, nil, fmt.Errorf("duration: %w", err)
	}
	if dur < time.Millisecond || dur > consensus.MaxProposalDuration {
		return "", "", 0, 0, 0, nil, fmt.Errorf("duration: %v out of range 1ms..%v", dur, consensus.MaxProposalDuration)
	}
	if quorum, err = req.Quorum.PPM(0); err != nil {
		return "", "", 0, 0, 0, nil, fmt.Errorf("quorum: %w", err)
	}
	if threshold, err = req.Threshold.PPM(consensus.PPMOne / 2); err != nil {
		return "", "", 0, 0, 0, nil, fmt.Errorf("threshold: %w", err)
	}
	if threshold >= consensus.PPMOne {
		return "", "", 0, 0, 0, nil, fmt.Errorf("threshold: %v must be below 1 (YES/(YES+NO) must exceed it)", threshold)
	}
	if req.Action != nil {
		if action, err = req.Action.action(); err != nil {
			return "", "", 0, 0, 0, nil, err
		}
	}
	return req.Title, req.Description, dur, quorum, threshold, action, nil
}

func (g *Governance) postVote(w http.ResponseWriter, r *http.Request) {
	p, status, err := g.findProposal(r.PathValue("id"))
	if err != nil {
		WriteError(w, status, err)
		return
	}
	var req GovVoteRequest
	if err := decodeGovBody(r, &req); err != nil {
		WriteError(w, http.StatusBadRequest, err)
		return
	}
	choice, err := consensus.ParseChoice(req.Choice)
	if err != nil {
		WriteError(w, http.StatusBadRequest, fmt.Errorf("choice: %w", err))
		return
	}
	if req.Tokens == 0 {
		WriteError(w, http.StatusBadRequest, fmt.Errorf("tokens: required, 1..%d (this node's allocation)", g.Allocation()))
		return
	}
	rec, err := g.Vote(r.Context(), p.ID, choice, req.Tokens)
	if err != nil {
		WriteError(w, govStatusOf(err), err)
		return
	}
	WriteJSON(w, http.StatusCreated, GovVote{
		ID: rec.ID().String(), Proposal: p.ID.String(), Voter: rec.Author.String(), Seq: rec.Seq,
		Choice: rec.Vote.Choice.String(), Tokens: rec.Vote.Tokens, Power: consensus.Power(rec.Vote.Tokens),
		Time: time.UnixMilli(rec.Time).UTC(),
	})
}

// findProposal resolves a proposal ID or unique hex prefix (at least 8
// digits), with the status to answer when it cannot.
func (g *Governance) findProposal(id string) (consensus.ProposalInfo, int, error) {
	id = strings.ToLower(id)
	if _, err := hex.DecodeString(id + strings.Repeat("0", len(id)%2)); err != nil || len(id) < 8 || len(id) > 64 {
		return consensus.ProposalInfo{}, http.StatusBadRequest, fmt.Errorf("proposal ID %q: want 8 to 64 hex digits", id)
	}
	var found []consensus.ProposalInfo
	for _, p := range g.log.Proposals(time.Now()) {
		if strings.HasPrefix(p.ID.String(), id) {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		return consensus.ProposalInfo{}, http.StatusNotFound, fmt.Errorf("proposal %s: %w", id, consensus.ErrUnknownProposal)
	case 1:
		return found[0], 0, nil
	}
	return consensus.ProposalInfo{}, http.StatusBadRequest, fmt.Errorf("proposal ID prefix %s is ambiguous: %d proposals", id, len(found))
}

// govStatusOf is the HTTP status of an error of Propose or Vote: 503 while
// the node may not write yet (its own log not synced), 403 for a node the
// policy or the membership refuses.
func govStatusOf(err error) int {
	var rej *consensus.RejectError
	isReason := func(rs ...consensus.Reason) bool { return errors.As(err, &rej) && slices.Contains(rs, rej.Reason) }
	switch {
	case errors.Is(err, consensus.ErrNotSynced):
		return http.StatusServiceUnavailable
	case isReason(consensus.ReasonNotAdmitted, consensus.ReasonUnbound, consensus.ReasonNotMember, consensus.ReasonQuarantined):
		return http.StatusForbidden
	case isReason(consensus.ReasonAfterDeadline):
		return http.StatusConflict
	case errors.As(err, &rej), errors.Is(err, consensus.ErrInvalidProposal), errors.Is(err, consensus.ErrMalformed):
		return http.StatusBadRequest
	case errors.Is(err, consensus.ErrUnknownProposal):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}
