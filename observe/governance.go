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
	// ProposalClosed: past its deadline and settle delay, with no genesis
	// to decide it by (the watch knows no allocations).
	ProposalClosed = "closed"
)

// Tally bases (ProposalTally.Basis).
const (
	// BasisGenesis: counted as nodes count, under the network's genesis
	// (consensus.Count).
	BasisGenesis = "genesis"
	// BasisAnnounced: every voter's latest announced vote at the power of
	// its tokens, with no allocation or membership to check them against:
	// what a watcher without the genesis can say.
	BasisAnnounced = "announced"
)

// governance holds the governance records the watch has seen announced,
// at most MaxRecords and MaxRecordsPerAuthor of each author, and tallies
// each proposal over them: with consensus.Count under the genesis when it
// has one, else as announced (BasisAnnounced). It sees only what is
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

func newGovernance(c Config) *governance {
	return &governance{
		genesis: c.Genesis, verifier: c.Verifier,
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
// until SettleDelay after it, then as its tally decides (closed without a
// genesis).
func (g *governance) state(now time.Time, deadline int64, t *consensus.Tally) string {
	switch ms := now.UnixMilli(); {
	case ms <= deadline:
		return ProposalOpen
	case ms <= deadline+g.settle.Milliseconds():
		return ProposalClosing
	case g.genesis == nil:
		return ProposalClosed
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
	if g.genesis == nil {
		out.State = g.state(now, p.Deadline, nil)
		out.Tally = announcedTally(recs[1:], p.Deadline)
		return out
	}
	t, err := consensus.Count(g.genesis, recs, id)
	if err != nil {
		g.invalid++
		t = nil
	}
	out.State = g.state(now, p.Deadline, t)
	if t != nil {
		out.Tally = &ProposalTally{
			Basis:   BasisGenesis,
			Final:   out.State == ProposalPassed || out.State == ProposalRejected,
			Outcome: t.Outcome.String(), QuorumMet: t.QuorumMet,
			Yes: t.Yes, No: t.No, Abstain: t.Abstain, Participating: t.Participating, Total: t.Total,
			Ballots: len(t.Ballots),
		}
	}
	return out
}

// announcedTally counts each voter's latest vote (highest seq) made by
// the deadline at the power of its tokens (consensus.Power), for a watch
// without the genesis: no allocation, membership or equivocation is
// checked, so it is what was announced, not a decision.
func announcedTally(votes []*consensus.Record, deadline int64) *ProposalTally {
	latest := map[consensus.PeerID]*consensus.Record{}
	for _, v := range votes {
		if v.Vote == nil || v.Time > deadline {
			continue
		}
		if l := latest[v.Author]; l == nil || v.Seq > l.Seq {
			latest[v.Author] = v
		}
	}
	t := &ProposalTally{Basis: BasisAnnounced, Ballots: len(latest)}
	for _, v := range latest {
		p := consensus.Power(v.Vote.Tokens)
		switch v.Vote.Choice {
		case consensus.Yes:
			t.Yes += p
		case consensus.No:
			t.No += p
		case consensus.Abstain:
			t.Abstain += p
		}
	}
	t.Participating = t.Yes + t.No + t.Abstain
	return t
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
	case *consensus.Admit:
		return &ProposalAction{Kind: a.Kind().String(), Peer: a.Peer.String(), Tokens: a.Tokens}
	case *consensus.Evict:
		return &ProposalAction{Kind: a.Kind().String(), Peer: a.Peer.String()}
	}
	return nil
}
