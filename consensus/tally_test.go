package consensus

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// signers returns n Ed25519-only signers starting at seed base (fast to
// create; Count does not verify).
func signers(n int, base uint64) []*testSigner { return signerRange(n, base, false) }

// TestSeedArithmetic is the example: 100 voters with 100 tokens
// each (10 votes each, 1,000 in all) beat one holder of 10,000 tokens (100
// votes), whichever side each takes.
func TestSeedArithmetic(t *testing.T) {
	g := mustGenesis(t, 10_000)
	many := signers(100, 1000)
	whale := newTestSigner(1, false)
	proposer := newChain(g, newTestSigner(2, false))
	p := proposer.propose(t, t0, time.Hour, 0, 500_000, nil)

	for _, tt := range []struct {
		manyChoice, whaleChoice Choice
		want                    Outcome
	}{
		{Yes, No, Passed},
		{No, Yes, Rejected},
	} {
		t.Run(fmt.Sprintf("many=%v whale=%v", tt.manyChoice, tt.whaleChoice), func(t *testing.T) {
			recs := []*Record{p}
			for _, s := range many {
				recs = append(recs, newChain(g, s).vote(t, at(time.Minute), p, tt.manyChoice, 100))
			}
			recs = append(recs, newChain(g, whale).vote(t, at(time.Minute), p, tt.whaleChoice, 10_000))
			tl := mustCount(t, g, recs, p.ID())

			manyPower, whalePower := tl.Yes, tl.No
			if tt.manyChoice == No {
				manyPower, whalePower = tl.No, tl.Yes
			}
			if manyPower != 1000*PowerScale {
				t.Errorf("100 × 100 tokens = %d micro-votes, want exactly 1,000 votes", manyPower)
			}
			if whalePower != 100*PowerScale {
				t.Errorf("10,000 tokens = %d micro-votes, want exactly 100 votes", whalePower)
			}
			if tl.Outcome != tt.want {
				t.Errorf("outcome %v, want %v", tl.Outcome, tt.want)
			}
			for _, b := range tl.Ballots {
				want := uint64(10 * PowerScale)
				if b.Tokens == 10_000 {
					want = 100 * PowerScale
				}
				if b.Power != want {
					t.Errorf("ballot of %d tokens has power %d, want %d", b.Tokens, b.Power, want)
				}
			}
			// 101 unlisted voters (100 + whale) holding the default
			// allocation of 10,000 tokens: 101 × 100 votes allocatable. The
			// proposer holds the default too but did not vote: an unlisted
			// identity's power counts only once it takes part.
			if tl.Total != 101*100*PowerScale {
				t.Errorf("total %d, want %d", tl.Total, 101*100*PowerScale)
			}
		})
	}
}

// TestQuorumThresholdEdges runs Count at the exact boundaries: a ratio equal
// to the threshold fails and one just above passes; a participation equal
// to the quorum is enough and one just below is not.
func TestQuorumThresholdEdges(t *testing.T) {
	// Ten listed voters with 100 tokens each: 100 votes allocatable; the
	// proposer is listed with 0 tokens so it adds nothing.
	voters := signers(10, 2000)
	proposerS := newTestSigner(3, false)
	allocs := []Allocation{{Peer: proposerS.id, Tokens: 0}}
	for _, s := range voters {
		allocs = append(allocs, Allocation{Peer: s.id, Tokens: 100})
	}
	g := mustGenesis(t, 0, allocs...)

	tests := []struct {
		name      string
		quorum    string
		threshold string
		yes, no   int // voters with 100 tokens
		abstain   int // voters with 100 tokens
		want      Outcome
		wantMet   bool
	}{
		{name: "yes equals no at threshold 0.5", quorum: "0", threshold: "0.5", yes: 1, no: 1, want: Rejected, wantMet: true},
		{name: "ratio 0.5 just above threshold 0.499999", quorum: "0", threshold: "0.499999", yes: 1, no: 1, want: Passed, wantMet: true},
		{name: "ratio 0.6 at threshold 0.6", quorum: "0", threshold: "0.6", yes: 3, no: 2, want: Rejected, wantMet: true},
		{name: "ratio 0.6 at threshold 0.599999", quorum: "0", threshold: "0.599999", yes: 3, no: 2, want: Passed, wantMet: true},
		{name: "participation equals quorum", quorum: "0.3", threshold: "0.5", yes: 3, want: Passed, wantMet: true},
		{name: "participation just below quorum", quorum: "0.300001", threshold: "0.5", yes: 3, want: Rejected},
		{name: "abstain counts for quorum only", quorum: "0.3", threshold: "0.5", yes: 1, abstain: 2, want: Passed, wantMet: true},
		{name: "abstain alone passes nothing", quorum: "0.3", threshold: "0", abstain: 3, want: Rejected, wantMet: true},
		{name: "nobody votes", quorum: "0", threshold: "0", want: Rejected, wantMet: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newChain(g, proposerS).propose(t, t0, time.Hour, ppm(t, tt.quorum), ppm(t, tt.threshold), nil)
			recs := []*Record{p}
			i := 0
			for _, c := range []struct {
				n      int
				choice Choice
			}{{tt.yes, Yes}, {tt.no, No}, {tt.abstain, Abstain}} {
				for range c.n {
					recs = append(recs, newChain(g, voters[i]).vote(t, at(time.Minute), p, c.choice, 100))
					i++
				}
			}
			tl := mustCount(t, g, recs, p.ID())
			if tl.Outcome != tt.want || tl.QuorumMet != tt.wantMet {
				t.Errorf("outcome %v quorum met %v; want %v, %v (yes %d no %d abstain %d total %d)",
					tl.Outcome, tl.QuorumMet, tt.want, tt.wantMet, tl.Yes, tl.No, tl.Abstain, tl.Total)
			}
			if tl.Total != 10*10*PowerScale {
				t.Errorf("total %d", tl.Total)
			}
		})
	}
}

func TestChangedVotes(t *testing.T) {
	g := mustGenesis(t, 100)
	p := newChain(g, newTestSigner(1, false)).propose(t, t0, time.Hour, 0, 500_000, nil)
	tests := []struct {
		name       string
		votes      []Choice        // in log order
		times      []time.Duration // offsets from t0
		want       Choice
		wantVoid   []Reason
		wantCounts bool
	}{
		{name: "yes then no", votes: []Choice{Yes, No}, times: []time.Duration{time.Minute, 2 * time.Minute},
			want: No, wantVoid: []Reason{ReasonSuperseded}},
		{name: "three changes", votes: []Choice{No, Abstain, Yes}, times: []time.Duration{1, 2, 3},
			want: Yes, wantVoid: []Reason{ReasonSuperseded, ReasonSuperseded}},
		{name: "change after the deadline keeps the earlier vote", votes: []Choice{Yes, No},
			times: []time.Duration{time.Minute, time.Hour + time.Millisecond},
			want:  Yes, wantVoid: []Reason{ReasonAfterDeadline}},
		{name: "change at the deadline counts", votes: []Choice{Yes, No}, times: []time.Duration{time.Minute, time.Hour},
			want: No, wantVoid: []Reason{ReasonSuperseded}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			voter := newChain(g, newTestSigner(7, false))
			recs := []*Record{p}
			for i, c := range tt.votes {
				recs = append(recs, voter.vote(t, at(tt.times[i]), p, c, 100))
			}
			tl := mustCount(t, g, recs, p.ID())
			if len(tl.Ballots) != 1 || tl.Ballots[0].Choice != tt.want {
				t.Fatalf("ballots %+v, want one %v", tl.Ballots, tt.want)
			}
			var reasons []Reason
			for _, v := range tl.Void {
				reasons = append(reasons, v.Reason)
			}
			if !reflect.DeepEqual(reasons, tt.wantVoid) {
				t.Errorf("void reasons %v, want %v", reasons, tt.wantVoid)
			}
		})
	}
}

func TestLateAndOverAllocatedVotesAreVoid(t *testing.T) {
	listed := newTestSigner(10, false)
	spiffe := newTestSigner(11, false)
	plain := newTestSigner(12, false)
	const spiffeID = "spiffe://" + testTrustDomain + "/node/b"
	g := mustGenesis(t, 50,
		Allocation{Peer: listed.id, Tokens: 400},
		Allocation{SPIFFEID: spiffeID, Tokens: 900},
	)
	p := newChain(g, newTestSigner(1, false)).propose(t, t0, time.Hour, 0, 0, nil)
	spiffeChain := newChain(g, spiffe)
	spiffeChain.a.SPIFFEID = spiffeID

	tests := []struct {
		name   string
		c      *chain
		when   time.Duration
		tokens uint64
		want   Reason // ReasonNone: counted
	}{
		{"listed peer within allocation", newChain(g, listed), time.Minute, 400, ReasonNone},
		{"listed peer above allocation", newChain(g, listed), time.Minute, 401, ReasonOverAllocation},
		{"SPIFFE ID within allocation", spiffeChain, time.Minute, 900, ReasonNone},
		{"SPIFFE ID above allocation", spiffeChain, time.Minute, 901, ReasonOverAllocation},
		{"default within allocation", newChain(g, plain), time.Minute, 50, ReasonNone},
		{"default above allocation", newChain(g, plain), time.Minute, 51, ReasonOverAllocation},
		{"at the deadline", newChain(g, plain), time.Hour, 50, ReasonNone},
		{"one millisecond late", newChain(g, plain), time.Hour + time.Millisecond, 50, ReasonAfterDeadline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *tt.c // fresh log for each case
			v := c.vote(t, at(tt.when), p, Yes, tt.tokens)
			tl := mustCount(t, g, []*Record{p, v}, p.ID())
			if tt.want == ReasonNone {
				if len(tl.Ballots) != 1 || tl.Yes != Power(tt.tokens) {
					t.Fatalf("vote not counted: %+v", tl)
				}
				return
			}
			if len(tl.Ballots) != 0 || len(tl.Void) != 1 || tl.Void[0].Reason != tt.want {
				t.Fatalf("ballots %+v void %+v; want void with %v", tl.Ballots, tl.Void, tt.want)
			}
		})
	}
}

// TestEquivocation: an author that signs two records with one seq, or a
// record that breaks its chain, loses its votes from that seq on; votes
// below it still count.
func TestEquivocation(t *testing.T) {
	g := mustGenesis(t, 100)
	p := newChain(g, newTestSigner(1, false)).propose(t, t0, time.Hour, 0, 0, nil)
	q := newChain(g, newTestSigner(2, false)).propose(t, t0, time.Hour, 0, 0, nil)
	s := newTestSigner(7, false)

	t.Run("fork", func(t *testing.T) {
		c := newChain(g, s)
		early := c.vote(t, at(time.Minute), q, Yes, 100) // seq 1, before the fork
		fork := *c
		a := c.vote(t, at(2*time.Minute), p, Yes, 100)    // seq 2
		b := fork.vote(t, at(2*time.Minute), p, No, 100)  // seq 2 again
		later := c.vote(t, at(3*time.Minute), q, No, 100) // seq 3, on the forked range
		recs := []*Record{p, q, early, a, b, later}

		tp := mustCount(t, g, recs, p.ID())
		if len(tp.Ballots) != 0 || len(tp.Void) != 2 {
			t.Fatalf("p: ballots %+v void %+v; want both forked votes void", tp.Ballots, tp.Void)
		}
		for _, v := range tp.Void {
			if v.Reason != ReasonEquivocation {
				t.Errorf("p: void reason %v, want equivocation", v.Reason)
			}
		}
		tq := mustCount(t, g, recs, q.ID())
		if len(tq.Ballots) != 1 || tq.Ballots[0].Record != early.ID() {
			t.Fatalf("q: ballots %+v; want the pre-fork vote", tq.Ballots)
		}
		if len(tq.Void) != 1 || tq.Void[0].Record != later.ID() || tq.Void[0].Reason != ReasonEquivocation {
			t.Fatalf("q: void %+v; want the post-fork vote void", tq.Void)
		}

		ix := newIndex(g)
		for _, r := range recs {
			ix.add(r)
		}
		ev := ix.evidence()
		if len(ev) != 1 || ev[0].Kind != EvidenceFork || ev[0].Seq != 2 || ev[0].Author != s.id {
			t.Fatalf("evidence %+v, want one fork at seq 2", ev)
		}
		ra, errA := DecodeRecord(ev[0].A)
		rb, errB := DecodeRecord(ev[0].B)
		if errA != nil || errB != nil || ra.Seq != rb.Seq || ra.ID() == rb.ID() ||
			ra.Verify(g.ID(), testVerifier) != nil || rb.Verify(g.ID(), testVerifier) != nil {
			t.Fatalf("evidence does not prove a fork: %v %v", errA, errB)
		}
	})

	t.Run("time goes back", func(t *testing.T) {
		c := newChain(g, s)
		first := c.vote(t, at(30*time.Minute), q, Yes, 100)
		back := c.vote(t, at(time.Minute), p, Yes, 100) // seq 2 timestamped before seq 1
		recs := []*Record{p, q, first, back}
		tp := mustCount(t, g, recs, p.ID())
		if len(tp.Ballots) != 0 || len(tp.Void) != 1 || tp.Void[0].Reason != ReasonEquivocation {
			t.Fatalf("backdated vote: ballots %+v void %+v", tp.Ballots, tp.Void)
		}
		if tq := mustCount(t, g, recs, q.ID()); len(tq.Ballots) != 1 {
			t.Fatalf("vote before the break: ballots %+v", tq.Ballots)
		}
	})

	t.Run("seq gap", func(t *testing.T) {
		c := newChain(g, s)
		first := c.vote(t, at(time.Minute), q, Yes, 100)
		c.seq++ // skip seq 2: the next record claims seq 3 after seq 1
		gap := c.vote(t, at(2*time.Minute), p, Yes, 100)
		tp := mustCount(t, g, []*Record{p, q, first, gap}, p.ID())
		if len(tp.Void) != 1 || tp.Void[0].Reason != ReasonEquivocation {
			t.Fatalf("vote after a seq gap: void %+v", tp.Void)
		}
	})
}

// mixedRecords is a record set exercising every rule: counted votes,
// changed votes, late and over-allocated votes, a fork, a vote on an absent
// proposal and a second proposal.
func mixedRecords(t testing.TB, g *Genesis) (p *Record, recs []*Record) {
	p = newChain(g, newTestSigner(1, true)).propose(t, t0, time.Hour, 200_000, 500_000, &Quarantine{Peer: newTestSigner(99, false).id, Reason: "test"})
	other := newChain(g, newTestSigner(2, true)).propose(t, at(time.Minute), 2*time.Hour, 0, 0, nil)
	recs = []*Record{p, other}
	for i := range 12 {
		c := newChain(g, newTestSigner(100+uint64(i), true))
		choice := []Choice{Yes, No, Abstain}[i%3]
		recs = append(recs, c.vote(t, at(time.Duration(i+1)*time.Minute), p, choice, uint64(10+i*7)))
		switch i % 4 {
		case 0: // changes its vote
			recs = append(recs, c.vote(t, at(50*time.Minute), p, Yes, 100))
		case 1: // late change: void
			recs = append(recs, c.vote(t, at(61*time.Minute), p, No, 100))
		case 2: // votes on the other proposal
			recs = append(recs, c.vote(t, at(20*time.Minute), other, Yes, 100))
		case 3: // forks
			f := *c
			recs = append(recs, c.vote(t, at(30*time.Minute), p, Yes, 100), f.vote(t, at(30*time.Minute), p, No, 90))
		}
	}
	over := newChain(g, newTestSigner(200, true))
	recs = append(recs, over.vote(t, at(time.Minute), p, Yes, 101))
	recs = append(recs, newChain(g, newTestSigner(201, true)).append(t, Draft{Time: at(time.Minute).UnixMilli(),
		Vote: &Vote{Proposal: Hash{1}, Choice: Yes, Tokens: 1}}))
	return p, recs
}

// TestTallyDeterminism: the same records in any order give identical tally
// bytes, through Count and through Logs that ingest them in that order.
func TestTallyDeterminism(t *testing.T) {
	g := mustGenesis(t, 100)
	p, recs := mixedRecords(t, g)
	want := tallyBytes(t, mustCount(t, g, recs, p.ID()))

	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 40 {
		shuffled := append([]*Record(nil), recs...)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		// Duplicates must not matter either.
		shuffled = append(shuffled, shuffled[:i%5]...)
		if got := tallyBytes(t, mustCount(t, g, shuffled, p.ID())); !bytes.Equal(got, want) {
			t.Fatalf("permutation %d: tally bytes differ\n got %x\nwant %x", i, got, want)
		}
	}

	for i := range 3 {
		shuffled := append([]*Record(nil), recs...)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		l := openLog(t, g, newTestSigner(500+uint64(i), false).author(), memStore())
		for _, r := range shuffled {
			if _, err := l.Ingest(t.Context(), at(3*time.Hour), r.Encode()); err != nil {
				t.Fatalf("ingest: %v", err)
			}
		}
		tl, err := l.Tally(p.ID())
		if err != nil {
			t.Fatal(err)
		}
		// The Log refuses nothing Count would count: it stores the
		// over-allocated vote too (allocations change by governance), and
		// the tally voids it, so both give the same bytes.
		if got := tallyBytes(t, tl); !bytes.Equal(got, want) || !bytes.Equal(got, tallyBytes(t, mustCount(t, g, l.All(), p.ID()))) {
			t.Fatalf("log %d: Tally differs from Count", i)
		}
	}
}

func countVoid(t *testing.T, g *Genesis, recs []*Record, p *Record) int {
	return len(mustCount(t, g, recs, p.ID()).Void)
}

func TestCountErrors(t *testing.T) {
	g := mustGenesis(t, 100)
	p := newChain(g, newTestSigner(1, false)).propose(t, t0, time.Hour, 0, 0, nil)
	v := newChain(g, newTestSigner(2, false)).vote(t, at(time.Minute), p, Yes, 1)
	if _, err := Count(g, []*Record{v}, p.ID()); !errors.Is(err, ErrUnknownProposal) {
		t.Errorf("absent proposal: %v, want ErrUnknownProposal", err)
	}
	if _, err := Count(g, []*Record{p, v}, v.ID()); !errors.Is(err, ErrNotProposal) {
		t.Errorf("tally of a vote: %v, want ErrNotProposal", err)
	}
}

// TestTallyEncoding pins the canonical encoding.
func TestTallyEncoding(t *testing.T) {
	tl := &Tally{
		Proposal: Hash{0xaa}, Deadline: 0x0102030405060708, Quorum: 330_000, Threshold: 500_000,
		Yes: 10 * PowerScale, No: 0, Abstain: 1, Participating: 10*PowerScale + 1, Total: 20 * PowerScale,
		QuorumMet: true, Outcome: Passed,
		Ballots: []Ballot{{Voter: PeerID([]byte{0x12, 0x01, 0x07}), Seq: 2, Record: Hash{0xbb}, Choice: Yes, Tokens: 100, Power: 10 * PowerScale}},
		Void:    []VoidVote{{Voter: PeerID([]byte{0x12, 0x01, 0x07}), Seq: 1, Record: Hash{0xcc}, Reason: ReasonSuperseded}},
	}
	want := "02" + "aa" + zeros(31) + "0102030405060708" + "00050910" + "0007a120" +
		"0000000000989680" + "0000000000000000" + "0000000000000001" + "0000000000989681" + "0000000001312d00" +
		"01" + "01" + "00" +
		"00000001" + "03120107" + "0000000000000002" + "bb" + zeros(31) + "01" + "0000000000000064" + "0000000000989680" +
		"00000001" + "03120107" + "0000000000000001" + "cc" + zeros(31) + "09"
	got := tallyBytes(t, tl)
	if hex.EncodeToString(got) != want {
		t.Fatalf("encoding\n got %x\nwant %s", got, want)
	}
	var back Tally
	if err := back.UnmarshalBinary(got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, tl) {
		t.Fatalf("round trip: %+v, want %+v", back, *tl)
	}
}

func zeros(n int) string { return hex.EncodeToString(make([]byte, n)) }
