package node

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
)

// The governance API, under /v1/gov. Bodies are JSON; powers are in
// micro-votes (10^6 = one vote, the square root of one token); times are
// RFC 3339. A proposal is named by its 64-digit hex ID or any unique
// prefix of at least 8 digits.

// GovAction is a proposal's action in the API: Kind "quarantine" (Peer,
// optional Reason), "set-parameter" (Name, Value) or "accept-model" (Name,
// Digest: the model's SHA-256 in hex).
type GovAction struct {
	Kind   string `json:"kind"`
	Peer   string `json:"peer,omitempty"`
	Reason string `json:"reason,omitempty"`
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
	// Allocation is the tokens this node may spend on one vote.
	Allocation uint64 `json:"allocation"`
	Records    int    `json:"records"`
	Authors    int    `json:"authors"`
	Proposals  int    `json:"proposals"`
	// Missing counts records the node knows of but does not hold yet.
	Missing  int           `json:"missing"`
	Evidence []GovEvidence `json:"evidence"`
	Synced   bool          `json:"synced"`
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

// ParseGovAction reads the CLI form of an action: "quarantine:<peer>" or
// "quarantine:<peer>:<reason>", "set:<name>=<value>", or
// "model:<name>@<sha256 hex>".
func ParseGovAction(s string) (*GovAction, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok || rest == "" {
		return nil, fmt.Errorf("action %q: want quarantine:<peer>[:<reason>], set:<name>=<value> or model:<name>@<sha256>", s)
	}
	switch kind {
	case "quarantine":
		p, reason, _ := strings.Cut(rest, ":")
		return &GovAction{Kind: consensus.ActionQuarantine.String(), Peer: p, Reason: reason}, nil
	case "set":
		name, value, ok := strings.Cut(rest, "=")
		if !ok {
			return nil, fmt.Errorf("action %q: want set:<name>=<value>", s)
		}
		return &GovAction{Kind: consensus.ActionSetParameter.String(), Name: name, Value: value}, nil
	case "model":
		name, digest, ok := strings.Cut(rest, "@")
		if !ok {
			return nil, fmt.Errorf("action %q: want model:<name>@<sha256 hex>", s)
		}
		return &GovAction{Kind: consensus.ActionAcceptModel.String(), Name: name, Digest: digest}, nil
	}
	return nil, fmt.Errorf("action %q: unknown kind %q (want quarantine, set or model)", s, kind)
}

// String is the CLI form ParseGovAction reads.
func (a *GovAction) String() string {
	switch a.Kind {
	case consensus.ActionQuarantine.String():
		if a.Reason != "" {
			return "quarantine:" + a.Peer + ":" + a.Reason
		}
		return "quarantine:" + a.Peer
	case consensus.ActionSetParameter.String():
		return "set:" + a.Name + "=" + a.Value
	case consensus.ActionAcceptModel.String():
		return "model:" + a.Name + "@" + a.Digest
	}
	return a.Kind
}

// action turns the API form into a consensus action, naming the field at
// fault.
func (a *GovAction) action() (consensus.Action, error) {
	switch a.Kind {
	case consensus.ActionQuarantine.String():
		p, err := consensus.ParsePeerID(a.Peer)
		if err != nil {
			return nil, fmt.Errorf("action.peer: %w", err)
		}
		return &consensus.Quarantine{Peer: p, Reason: a.Reason}, nil
	case consensus.ActionSetParameter.String():
		return &consensus.SetParameter{Name: a.Name, Value: a.Value}, nil
	case consensus.ActionAcceptModel.String():
		d, err := consensus.ParseHash(a.Digest)
		if err != nil {
			return nil, fmt.Errorf("action.digest: %w", err)
		}
		return &consensus.AcceptModel{Name: a.Name, Digest: d}, nil
	}
	return nil, fmt.Errorf("action.kind: unknown %q (want quarantine, set-parameter or accept-model)", a.Kind)
}

func govActionOf(a consensus.Action) *GovAction {
	switch a := a.(type) {
	case *consensus.Quarantine:
		return &GovAction{Kind: a.Kind().String(), Peer: a.Peer.String(), Reason: a.Reason}
	case *consensus.SetParameter:
		return &GovAction{Kind: a.Kind().String(), Name: a.Name, Value: a.Value}
	case *consensus.AcceptModel:
		return &GovAction{Kind: a.Kind().String(), Name: a.Name, Digest: a.Digest.String()}
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

// routes adds the governance routes to the API.
func (g *Governance) routes(a *api) error {
	for _, r := range []struct {
		pattern string
		h       http.HandlerFunc
	}{
		{"GET /v1/gov", g.getStatus},
		{"GET /v1/gov/proposals", g.getProposals},
		{"POST /v1/gov/proposals", g.postProposal},
		{"GET /v1/gov/proposals/{id}", g.getProposal},
		{"POST /v1/gov/proposals/{id}/votes", g.postVote},
	} {
		if err := a.handle(r.pattern, r.h); err != nil {
			return err
		}
	}
	return nil
}

func (g *Governance) getStatus(w http.ResponseWriter, r *http.Request) {
	st := g.driver.Stats()
	recs := g.log.All()
	authors := map[consensus.PeerID]bool{}
	for _, r := range recs {
		authors[r.Author] = true
	}
	body := GovStatus{
		GenesisID: g.genesis.ID().String(), TrustDomain: g.genesis.TrustDomain(),
		DefaultAllocation: g.genesis.DefaultAllocation(), ListedAllocations: len(g.genesis.Allocations()),
		Allocation: g.Allocation(), Records: len(recs), Authors: len(authors),
		Proposals: len(g.log.Proposals(time.Now())), Missing: len(g.log.Missing()),
		Evidence: []GovEvidence{}, Synced: st.Synced,
		SyncRounds: st.SyncRounds, HeadsFetched: st.HeadsFetched, RecordsFetched: st.RecordsFetched,
		Accepted: st.Accepted, Ignored: st.Ignored, Rejected: st.Rejected,
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

// govStatusOf is the HTTP status of an error of Propose or Vote.
func govStatusOf(err error) int {
	var rej *consensus.RejectError
	switch {
	case errors.As(err, &rej) && rej.Reason == consensus.ReasonNotAdmitted:
		return http.StatusForbidden
	case errors.As(err, &rej) && rej.Reason == consensus.ReasonAfterDeadline:
		return http.StatusConflict
	case errors.As(err, &rej), errors.Is(err, consensus.ErrInvalidProposal), errors.Is(err, consensus.ErrMalformed):
		return http.StatusBadRequest
	case errors.Is(err, consensus.ErrUnknownProposal):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}
