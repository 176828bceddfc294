package consensus

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"fmt"
	"math/bits"
	"slices"
)

// Outcome is the result of a tally.
type Outcome uint8

// Outcomes.
const (
	Passed   Outcome = 1
	Rejected Outcome = 2
)

func (o Outcome) String() string {
	switch o {
	case Passed:
		return "PASSED"
	case Rejected:
		return "REJECTED"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// MarshalText implements encoding.TextMarshaler.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// Tally is the count of one proposal: a pure function of the proposal, the
// votes naming it, the membership in force at its place in deadline order
// (the genesis and the membership proposals before it, see Membership) and
// the evidence in the record set. Powers
// are in micro-votes (see Power). Slices are sorted, so two tallies of the
// same record set are equal field by field and their MarshalBinary bytes are
// identical.
type Tally struct {
	Proposal  Hash  `json:"proposal"`
	Deadline  int64 `json:"deadline_ms"`
	Quorum    PPM   `json:"quorum"`
	Threshold PPM   `json:"threshold"`

	Yes           uint64 `json:"yes"`
	No            uint64 `json:"no"`
	Abstain       uint64 `json:"abstain"`
	Participating uint64 `json:"participating"` // Yes + No + Abstain
	// Total is the total allocatable power: the power of every allocation
	// in force (listed in the genesis or granted by Admit; none for an
	// evicted or quarantined peer), plus the default allocation's power
	// for each counted voter that holds it (an unlisted identity with a
	// bound SPIFFE ID). Authors that hold nothing add nothing, however
	// many records they write.
	Total uint64 `json:"total"`

	QuorumMet bool    `json:"quorum_met"`
	Outcome   Outcome `json:"outcome"`
	// Barred is ReasonQuarantined if the proposer was quarantined at the
	// proposal's place in deadline order: the proposal is then rejected
	// whatever the votes. ReasonNone otherwise.
	Barred Reason `json:"barred,omitempty"`

	Ballots []Ballot   `json:"ballots"` // counted votes, one per voter, by voter
	Void    []VoidVote `json:"void"`    // votes that do not count, by voter, seq, ID
}

// Ballot is a counted vote.
type Ballot struct {
	Voter  PeerID `json:"voter"`
	Seq    uint64 `json:"seq"`
	Record Hash   `json:"record"`
	Choice Choice `json:"choice"`
	Tokens uint64 `json:"tokens"`
	Power  uint64 `json:"power"`
}

// VoidVote is a vote that does not count, with the reason.
type VoidVote struct {
	Voter  PeerID `json:"voter"`
	Seq    uint64 `json:"seq"`
	Record Hash   `json:"record"`
	Reason Reason `json:"reason"`
}

// Count tallies proposal over records, a set of records that have passed
// Verify and whose SPIFFE ID claims the Binder confirmed (Count trusts its
// input, as the Log's records are; order and duplicates do not matter). It
// applies every rule of the tally, so records the Log would have refused
// (an over-allocated vote, say) are void here rather than counted. It
// returns ErrUnknownProposal if records hold no proposal with that ID.
func Count(g *Genesis, records []*Record, proposal Hash) (*Tally, error) {
	ix := newIndex(g)
	for _, r := range records {
		ix.add(r)
	}
	return ix.tally(proposal)
}

// tally counts proposal p over the index, under the membership in force
// at its place in the fold.
func (ix *index) tally(p Hash) (*Tally, error) {
	pr, ok := ix.records[p]
	if !ok {
		return nil, fmt.Errorf("%w: %v", ErrUnknownProposal, p)
	}
	if pr.Proposal == nil {
		return nil, fmt.Errorf("%w: %v is a %v", ErrNotProposal, p, pr.Kind())
	}
	return ix.count(pr, ix.membershipAt(pr, false)), nil
}

// count tallies the proposal record pr under membership m:
//
//  1. A vote is void if its author's log is forked or broken at or below
//     its seq (equivocation), if its author is quarantined, holds no
//     tokens (not a member) or fewer than it spends (over-allocation), or
//     if its time is after the deadline.
//  2. Of each voter's remaining votes, the one with the highest seq counts;
//     the others are superseded.
//  3. Power = isqrt(tokens × 10^12) micro-votes; YES, NO and ABSTAIN sum it.
//  4. Total = the membership's power + the default allocation's power for
//     each counted voter that holds the default allocation.
//  5. Quorum: participating × 10^6 ≥ quorum × total.
//     Passed: the proposer is not quarantined, quorum met and
//     YES × 10^6 > threshold × (YES + NO).
func (ix *index) count(pr *Record, m *Membership) *Tally {
	prop := pr.Proposal
	t := &Tally{
		Proposal:  pr.ID(),
		Deadline:  prop.Deadline,
		Quorum:    prop.Quorum,
		Threshold: prop.Threshold,
		Ballots:   []Ballot{},
		Void:      []VoidVote{},
	}

	best := make(map[PeerID]*Record)
	for _, v := range ix.votesFor[pr.ID()] {
		alloc, _ := m.allocation(v.Author, v.Identity)
		reason := ReasonNone
		switch fs := ix.forkSeq(v.Author); {
		case fs != 0 && v.Seq >= fs:
			reason = ReasonEquivocation
		case m.Quarantined(v.Author):
			reason = ReasonQuarantined
		case alloc == 0:
			reason = ReasonNotMember
		case v.Vote.Tokens > alloc:
			reason = ReasonOverAllocation
		case v.Time > prop.Deadline:
			reason = ReasonAfterDeadline
		}
		if reason != ReasonNone {
			t.Void = append(t.Void, VoidVote{Voter: v.Author, Seq: v.Seq, Record: v.ID(), Reason: reason})
			continue
		}
		cur := best[v.Author]
		switch {
		case cur == nil:
			best[v.Author] = v
		case v.Seq > cur.Seq:
			t.Void = append(t.Void, VoidVote{Voter: cur.Author, Seq: cur.Seq, Record: cur.ID(), Reason: ReasonSuperseded})
			best[v.Author] = v
		default:
			// Equal seqs would be a fork, voided above.
			t.Void = append(t.Void, VoidVote{Voter: v.Author, Seq: v.Seq, Record: v.ID(), Reason: ReasonSuperseded})
		}
	}

	defaults := uint64(0) // counted voters holding the default allocation
	for _, v := range best {
		if _, def := m.allocation(v.Author, v.Identity); def {
			defaults++
		}
		power := Power(v.Vote.Tokens)
		t.Ballots = append(t.Ballots, Ballot{
			Voter: v.Author, Seq: v.Seq, Record: v.ID(),
			Choice: v.Vote.Choice, Tokens: v.Vote.Tokens, Power: power,
		})
		switch v.Vote.Choice {
		case Yes:
			t.Yes = addSat(t.Yes, power)
		case No:
			t.No = addSat(t.No, power)
		case Abstain:
			t.Abstain = addSat(t.Abstain, power)
		}
	}
	slices.SortFunc(t.Ballots, func(a, b Ballot) int { return cmp.Compare(a.Voter, b.Voter) })
	slices.SortFunc(t.Void, func(a, b VoidVote) int {
		return cmp.Or(cmp.Compare(a.Voter, b.Voter), cmp.Compare(a.Seq, b.Seq), bytes.Compare(a.Record[:], b.Record[:]))
	})

	t.Participating = addSat(addSat(t.Yes, t.No), t.Abstain)
	hi, lo := bits.Mul64(Power(ix.g.defaultAllocation), defaults)
	if hi != 0 {
		lo = ^uint64(0)
	}
	t.Total = addSat(m.Power(), lo)
	t.QuorumMet = quorumMet(t.Participating, t.Total, t.Quorum)
	if m.Quarantined(pr.Author) {
		t.Barred = ReasonQuarantined
	}
	t.Outcome = Rejected
	if t.Barred == ReasonNone && t.QuorumMet && thresholdPassed(t.Yes, t.No, t.Threshold) {
		t.Outcome = Passed
	}
	return t
}

const tallyVersion = 2

// MarshalBinary returns the tally's canonical encoding, identical on every
// node that holds the same records:
//
//	version u8 (2) | proposal [32] | deadline i64 | quorum u32 | threshold u32
//	yes u64 | no u64 | abstain u64 | participating u64 | total u64
//	quorum met u8 | outcome u8 | barred u8 (a Reason)
//	ballots u32, each: len u8, voter, seq u64, record [32], choice u8, tokens u64, power u64
//	void u32, each: len u8, voter, seq u64, record [32], reason u8
func (t *Tally) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 128+len(t.Ballots)*96+len(t.Void)*80)
	b = appendU8(b, tallyVersion)
	b = append(b, t.Proposal[:]...)
	b = appendI64(b, t.Deadline)
	b = appendU32(b, uint32(t.Quorum))
	b = appendU32(b, uint32(t.Threshold))
	for _, v := range [...]uint64{t.Yes, t.No, t.Abstain, t.Participating, t.Total} {
		b = appendU64(b, v)
	}
	met := uint8(0)
	if t.QuorumMet {
		met = 1
	}
	b = appendU8(b, met)
	b = appendU8(b, uint8(t.Outcome))
	b = appendU8(b, uint8(t.Barred))
	b = appendU32(b, uint32(len(t.Ballots)))
	for _, x := range t.Ballots {
		b = appendBytes8(b, []byte(x.Voter))
		b = appendU64(b, x.Seq)
		b = append(b, x.Record[:]...)
		b = appendU8(b, uint8(x.Choice))
		b = appendU64(b, x.Tokens)
		b = appendU64(b, x.Power)
	}
	b = appendU32(b, uint32(len(t.Void)))
	for _, x := range t.Void {
		b = appendBytes8(b, []byte(x.Voter))
		b = appendU64(b, x.Seq)
		b = append(b, x.Record[:]...)
		b = appendU8(b, uint8(x.Reason))
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (t *Tally) UnmarshalBinary(b []byte) error {
	rd := newReader("tally", b)
	if v := rd.u8(); rd.err == nil && v != tallyVersion {
		rd.fail("version %d, want %d", v, tallyVersion)
	}
	var n Tally
	n.Proposal = rd.hash()
	n.Deadline = rd.i64()
	n.Quorum = PPM(rd.u32())
	n.Threshold = PPM(rd.u32())
	n.Yes, n.No, n.Abstain, n.Participating, n.Total = rd.u64(), rd.u64(), rd.u64(), rd.u64(), rd.u64()
	switch met := rd.u8(); met {
	case 0, 1:
		n.QuorumMet = met == 1
	default:
		rd.fail("quorum flag %d", met)
	}
	n.Outcome = Outcome(rd.u8())
	if rd.err == nil && n.Outcome != Passed && n.Outcome != Rejected {
		rd.fail("outcome %d", n.Outcome)
	}
	n.Barred = Reason(rd.u8())
	if rd.err == nil && n.Barred != ReasonNone && n.Barred != ReasonQuarantined {
		rd.fail("barred %d", n.Barred)
	}
	// Each ballot takes at least 58 bytes and each void vote 42, which
	// bounds the counts by the input size before anything is allocated.
	count := int(rd.u32())
	if rd.err == nil && count > (len(b)-rd.off)/58 {
		rd.fail("%d ballots in %d bytes", count, len(b)-rd.off)
	}
	if rd.err != nil {
		count = 0
	}
	n.Ballots = make([]Ballot, 0, count)
	for range count {
		var x Ballot
		x.Voter = PeerID(rd.bytes8("voter", 1, maxPeerIDLen))
		x.Seq = rd.u64()
		x.Record = rd.hash()
		x.Choice = Choice(rd.u8())
		x.Tokens = rd.u64()
		x.Power = rd.u64()
		n.Ballots = append(n.Ballots, x)
	}
	count = int(rd.u32())
	if rd.err == nil && count > (len(b)-rd.off)/42 {
		rd.fail("%d void votes in %d bytes", count, len(b)-rd.off)
	}
	if rd.err != nil {
		count = 0
	}
	n.Void = make([]VoidVote, 0, count)
	for range count {
		var x VoidVote
		x.Voter = PeerID(rd.bytes8("voter", 1, maxPeerIDLen))
		x.Seq = rd.u64()
		x.Record = rd.hash()
		x.Reason = Reason(rd.u8())
		n.Void = append(n.Void, x)
	}
	if err := rd.done(); err != nil {
		return err
	}
	*t = n
	return nil
}

// Digest returns SHA-256 of the canonical encoding: a short handle to
// compare tallies across nodes (devnet's gov_agree compares these).
func (t *Tally) Digest() Hash {
	b, _ := t.MarshalBinary()
	return sha256.Sum256(b)
}
