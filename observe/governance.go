package observe

import (
	"cmp"
	"errors"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
)

// Proposal states.
const (
	ProposalOpen     = "open"
	ProposalClosing  = "closing"
	ProposalPassed   = "passed"
	ProposalRejected = "rejected"
)

// governance holds the governance records the watch has seen announced,
// at most MaxRecords and MaxRecordsPerAuthor of each author, and tallies
// each proposal over them with consensus.Count. It sees only what is
// announced while it watches (it is not a replica of the logs): a
// proposal made before it started stays unknown, and votes on it are
// kept for when it shows up.
type governance struct {
	genesis          *consensus.Genesis
	verifier         consensus.Verifier
	maxAge, skew     time.Duration
	settle           time.Duration
	maxRecords       int
	maxPerAuthor     int
	records          map[consensus.Hash]*consensus.Record
	perAuthor        map[consensus.PeerID]int
	proposals        map[consensus.Hash]*proposalEntry
	votes            map[consensus.Hash][]consensus.Hash // proposal → votes naming it (held or not yet)
	dropped, invalid uint64
}

type proposalEntry struct {
	rec   *consensus.Record
	out   Proposal
	dirty bool // a vote arrived since out was made
}

// defaultGenesis is what a node without a genesis file uses: its trust
// domain, 100 tokens for every identity.
func defaultGenesis() *consensus.Genesis {
	g, err := consensus.NewGenesis("x0tta6bl4.mesh", 100, nil)
	if err != nil {
		panic("observe: default genesis: " + err.Error()) // a constant input
	}
	return g
}

func newGovernance(c Config) *governance {
	g := c.Genesis
	if g == nil {
		g = defaultGenesis()
	}
	return &governance{
		genesis: g, verifier: c.Verifier,
		maxAge: c.AnnounceMaxAge, skew: c.ClockSkew, settle: c.SettleDelay,
		maxRecords: c.MaxRecords, maxPerAuthor: c.MaxRecordsPerAuthor,
		records:   map[consensus.Hash]*consensus.Record{},
		perAuthor: map[consensus.PeerID]int{},
		proposals: map[consensus.Hash]*proposalEntry{},
		votes:     map[consensus.Hash][]consensus.Hash{},
	}
}

// check is the governance topic's rule for one message signed by from:
// bounded, decodable, from its author, fresh, and with a verifier, signed
// under the genesis. A stale or future head is ignored (no fault of the
// relay); the rest is rejected.
func (g *governance) check(now time.Time, from consensus.PeerID, data []byte) (Verdict, *consensus.Announcement) {
	if len(data) > consensus.MaxAnnouncementSize {
		return reject("size"), nil
	}
	a, err := consensus.DecodeAnnouncement(data)
	if err != nil {
		return reject("decode"), nil
	}
	if err := a.Check(now, from, g.maxAge, g.skew); err != nil {
		switch {
		case errors.Is(err, consensus.ErrStale):
			return ignore("stale"), nil
		case errors.Is(err, consensus.ErrFuture):
			return ignore("future"), nil
		}
		return reject("sender"), nil
	}
	if g.verifier != nil {
		if err := a.Head.Verify(g.genesis.ID(), g.verifier); err != nil {
			return reject("signature"), nil
		}
		if a.Record != nil {
			if err := a.Record.Verify(g.genesis.ID(), g.verifier); err != nil {
				return reject("signature"), nil
			}
		}
	}
	return accept(), a
}

// take keeps the announced record, if new and within bounds, and returns
// the figures of its event.
func (g *governance) take(a *consensus.Announcement) *GovernanceFigures {
	f := &GovernanceFigures{Kind: "head", Verified: g.verifier != nil}
	r := a.Record
	if r == nil {
		return f
	}
	f.Record = r.ID().String()
	switch {
	case r.Proposal != nil:
		p := r.Proposal
		f.Kind, f.Proposal, f.Title = "proposal", r.ID().String(), p.Title
		f.Deadline = time.UnixMilli(p.Deadline).UTC().Format(time.RFC3339)
		if act := actionOf(p.Action); act != nil {
			f.Action = act.Kind
		}
	case r.Vote != nil:
		v := r.Vote
		f.Kind, f.Proposal, f.Choice, f.Tokens = "vote", v.Proposal.String(), v.Choice.String(), v.Tokens
	}
	g.keep(r)
	return f
}

// keep stores r unless it is held already or a bound is reached.
func (g *governance) keep(r *consensus.Record) {
	id := r.ID()
	if _, ok := g.records[id]; ok {
		return
	}
	if len(g.records) >= g.maxRecords || g.perAuthor[r.Author] >= g.maxPerAuthor {
		g.dropped++
		return
	}
	g.records[id] = r
	g.perAuthor[r.Author]++
	switch {
	case r.Proposal != nil:
		g.proposals[id] = &proposalEntry{rec: r, dirty: true}
	case r.Vote != nil:
		p := r.Vote.Proposal
		g.votes[p] = append(g.votes[p], id)
		if e := g.proposals[p]; e != nil {
			e.dirty = true
		}
	}
}

// state is a proposal's state at now: open until its deadline, closing
// until SettleDelay after it, then as its tally decides.
func (g *governance) state(now time.Time, deadline int64, t *consensus.Tally) string {
	switch ms := now.UnixMilli(); {
	case ms <= deadline:
		return ProposalOpen
	case ms <= deadline+g.settle.Milliseconds():
		return ProposalClosing
	case t != nil && t.Outcome == consensus.Passed:
		return ProposalPassed
	}
	return ProposalRejected
}

// list returns the proposals held with their tallies and states at now;
// changed reports whether any differs from the previous list.
func (g *governance) list(now time.Time) (out []Proposal, changed bool) {
	out = make([]Proposal, 0, len(g.proposals))
	for id, e := range g.proposals {
		if g.stale(now, e) {
			e.out = g.proposal(now, id, e.rec)
			e.dirty, changed = false, true
		}
		out = append(out, e.out)
	}
	slices.SortFunc(out, func(a, b Proposal) int {
		return cmp.Or(a.Deadline.Compare(b.Deadline), cmp.Compare(a.ID, b.ID))
	})
	return out, changed
}

// stale reports whether e's dashboard form must be made again at now: a
// vote arrived, or its state moved on (a final tally stays).
func (g *governance) stale(now time.Time, e *proposalEntry) bool {
	switch {
	case e.dirty || e.out.ID == "":
		return true
	case e.out.Tally != nil && e.out.Tally.Final:
		return false
	}
	// Without a tally state says open, closing, or (past the settle
	// delay) rejected: a change from what e shows either way.
	return g.state(now, e.rec.Proposal.Deadline, nil) != e.out.State
}

// proposal tallies the proposal record r over the votes held.
func (g *governance) proposal(now time.Time, id consensus.Hash, r *consensus.Record) Proposal {
	p := r.Proposal
	out := Proposal{
		ID: id.String(), Author: r.Author.String(), Title: p.Title,
		Created:   time.UnixMilli(r.Time).UTC(),
		Deadline:  time.UnixMilli(p.Deadline).UTC(),
		Quorum:    p.Quorum.String(),
		Threshold: p.Threshold.String(),
		Action:    actionOf(p.Action),
	}
	recs := []*consensus.Record{r}
	for _, v := range g.votes[id] {
		if vr, ok := g.records[v]; ok {
			recs = append(recs, vr)
		}
	}
	t, err := consensus.Count(g.genesis, recs, id)
	if err != nil {
		g.invalid++
		t = nil
	}
	out.State = g.state(now, p.Deadline, t)
	if t != nil {
		out.Tally = &ProposalTally{
			Final:   out.State == ProposalPassed || out.State == ProposalRejected,
			Outcome: t.Outcome.String(), QuorumMet: t.QuorumMet,
			Yes: t.Yes, No: t.No, Abstain: t.Abstain, Participating: t.Participating, Total: t.Total,
			Ballots: len(t.Ballots),
		}
	}
	return out
}

// actionOf is a's dashboard form; nil for none.
func actionOf(a consensus.Action) *ProposalAction {
	switch a := a.(type) {
	case *consensus.Quarantine:
		return &ProposalAction{Kind: a.Kind().String(), Peer: a.Peer.String(), Reason: a.Reason}
	case *consensus.SetParameter:
		return &ProposalAction{Kind: a.Kind().String(), Name: a.Name, Value: a.Value}
	case *consensus.AcceptModel:
		return &ProposalAction{Kind: a.Kind().String(), Name: a.Name, Digest: a.Digest.String()}
	}
	return nil
}
