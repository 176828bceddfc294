package consensus

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

// TestScenarios runs the tally scripts in testdata/scenarios. Commands:
//
//	genesis default=<tokens> [alloc=(<name>:<tokens>, …)]   (starts a new network)
//	propose <name> id=<label> dur=<duration> quorum=<fraction> threshold=<fraction> [at=<offset>]
//	        [quarantine=<name> | admit=<name>[:<tokens>] | evict=<name>]
//	vote <name> <label> yes|no|abstain tokens=<n> [at=<offset>]
//	votes prefix=<p> n=<count> <label> yes|no|abstain tokens=<n> [at=<offset>]
//	fork <name>      the name's next record reuses the seq of its last one
//	tally <label> [shuffles=<n>]
//	membership [shuffles=<n>]
//
// Names stand for peers (deterministic Ed25519 keys); offsets are from the
// scenario's epoch. tally prints the count of the records written so far
// and checks that shuffles random orders give the same bytes; membership
// prints the membership after every membership proposal written so far
// (quarantined names, then the peer allocations in force) and checks that
// random orders give the same. Rewrite the
// expected output with go test -run TestScenarios -rewrite.
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/scenarios", func(t *testing.T, path string) {
		s := &scenario{chains: map[string]*chain{}, labels: map[string]*Record{}, names: map[PeerID]string{}}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return s.run(t, d)
		})
	})
}

type scenario struct {
	g      *Genesis
	chains map[string]*chain
	labels map[string]*Record
	names  map[PeerID]string
	recs   []*Record
}

func scenarioSigner(name string) *testSigner {
	h := sha256.Sum256([]byte(name))
	return newTestSigner(uint64(h[0])<<56|uint64(h[1])<<48|uint64(h[2])<<40|uint64(h[3])<<32, false)
}

func (s *scenario) chainOf(name string) *chain {
	if c, ok := s.chains[name]; ok {
		return c
	}
	signer := scenarioSigner(name)
	c := newChain(s.g, signer)
	s.chains[name] = c
	s.names[signer.id] = name
	return c
}

func (s *scenario) run(t *testing.T, d *datadriven.TestData) string {
	offset := func() time.Time {
		var at string
		if d.MaybeScanArgs(t, "at", &at) {
			dur, err := time.ParseDuration(at)
			if err != nil {
				d.Fatalf(t, "at: %v", err)
			}
			return t0.Add(dur)
		}
		return t0
	}
	choice := func(i int) Choice {
		c, err := ParseChoice(d.CmdArgs[i].Key)
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		return c
	}
	switch d.Cmd {
	case "genesis":
		var def uint64
		d.ScanArgs(t, "default", &def)
		var allocs []Allocation
		if arg, ok := d.Arg("alloc"); ok {
			for _, v := range arg.Vals {
				name, tokens, _ := strings.Cut(v, ":")
				n, err := strconv.ParseUint(tokens, 10, 64)
				if err != nil {
					d.Fatalf(t, "alloc %q: %v", v, err)
				}
				allocs = append(allocs, Allocation{Peer: s.peerOf(name), Tokens: n})
			}
		}
		g, err := NewGenesis(testTrustDomain, def, allocs)
		if err != nil {
			return err.Error()
		}
		// A new network: the records written so far belong to the old one.
		s.g, s.recs = g, nil
		clear(s.chains)
		clear(s.labels)
		return ""

	case "propose":
		var label, dur, quorum, threshold string
		d.ScanArgs(t, "id", &label)
		d.ScanArgs(t, "dur", &dur)
		d.ScanArgs(t, "quorum", &quorum)
		d.ScanArgs(t, "threshold", &threshold)
		duration, err := time.ParseDuration(dur)
		if err != nil {
			d.Fatalf(t, "dur: %v", err)
		}
		var action Action
		var target string
		if d.MaybeScanArgs(t, "quarantine", &target) {
			action = &Quarantine{Peer: s.peerOf(target)}
		}
		if d.MaybeScanArgs(t, "admit", &target) {
			name, tokens, _ := strings.Cut(target, ":")
			a := &Admit{Peer: s.peerOf(name)}
			if tokens != "" {
				n, err := strconv.ParseUint(tokens, 10, 64)
				if err != nil {
					d.Fatalf(t, "admit %q: %v", target, err)
				}
				a.Tokens = n
			}
			action = a
		}
		if d.MaybeScanArgs(t, "evict", &target) {
			action = &Evict{Peer: s.peerOf(target)}
		}
		r := s.chainOf(d.CmdArgs[0].Key).propose(t, offset(), duration, ppm(t, quorum), ppm(t, threshold), action)
		s.labels[label] = r
		s.recs = append(s.recs, r)
		return fmt.Sprintf("%s seq=%d deadline=+%v", label, r.Seq, time.UnixMilli(r.Proposal.Deadline).Sub(t0))

	case "vote":
		p := s.labels[d.CmdArgs[1].Key]
		if p == nil {
			d.Fatalf(t, "unknown proposal %q", d.CmdArgs[1].Key)
		}
		var tokens uint64
		d.ScanArgs(t, "tokens", &tokens)
		r := s.chainOf(d.CmdArgs[0].Key).vote(t, offset(), p, choice(2), tokens)
		s.recs = append(s.recs, r)
		return fmt.Sprintf("%s seq=%d", d.CmdArgs[0].Key, r.Seq)

	case "votes":
		var prefix string
		var n int
		var tokens uint64
		d.ScanArgs(t, "prefix", &prefix)
		d.ScanArgs(t, "n", &n)
		d.ScanArgs(t, "tokens", &tokens)
		p := s.labels[d.CmdArgs[2].Key]
		if p == nil {
			d.Fatalf(t, "unknown proposal %q", d.CmdArgs[2].Key)
		}
		for i := range n {
			s.recs = append(s.recs, s.chainOf(fmt.Sprintf("%s%03d", prefix, i)).vote(t, offset(), p, choice(3), tokens))
		}
		return fmt.Sprintf("%d votes", n)

	case "fork":
		c := s.chainOf(d.CmdArgs[0].Key)
		if c.seq == 0 {
			d.Fatalf(t, "%s has no record to fork from", d.CmdArgs[0].Key)
		}
		// Rewind to the state before the last record.
		var last *Record
		for _, r := range s.recs {
			if r.Author == c.a.ID && r.Seq == c.seq {
				last = r
			}
		}
		c.seq, c.prev = last.Seq-1, last.Prev
		return ""

	case "tally":
		p := s.labels[d.CmdArgs[0].Key]
		if p == nil {
			d.Fatalf(t, "unknown proposal %q", d.CmdArgs[0].Key)
		}
		tl := mustCount(t, s.g, s.recs, p.ID())
		s.checkShuffles(t, d, 1, func(recs []*Record) string { return string(tallyBytes(t, mustCount(t, s.g, recs, p.ID()))) })
		return s.format(tl)

	case "membership":
		s.checkShuffles(t, d, 2, s.membership)
		return s.membership(s.recs)
	}
	d.Fatalf(t, "unknown command %q", d.Cmd)
	return ""
}

// checkShuffles checks that render gives the same for the records written
// so far in as many random orders as the command's shuffles argument asks.
func (s *scenario) checkShuffles(t *testing.T, d *datadriven.TestData, salt uint64, render func([]*Record) string) {
	var shuffles int
	d.MaybeScanArgs(t, "shuffles", &shuffles)
	want := render(s.recs)
	rng := rand.New(rand.NewPCG(uint64(len(s.recs)), salt))
	for range shuffles {
		recs := slices.Clone(s.recs)
		rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
		if render(recs) != want {
			d.Fatalf(t, "%s: a shuffled record set gives another result", d.Cmd)
		}
	}
}

// peerOf is the peer ID of a name, remembered for printing.
func (s *scenario) peerOf(name string) PeerID {
	id := scenarioSigner(name).id
	s.names[id] = name
	return id
}

// membership folds recs and prints the result.
func (s *scenario) membership(recs []*Record) string {
	ix := newIndex(s.g)
	for _, r := range recs {
		ix.add(r)
	}
	m := ix.membershipAfterAll()
	var b strings.Builder
	var q []string
	for _, p := range m.Quarantine() {
		q = append(q, s.names[p])
	}
	slices.Sort(q)
	fmt.Fprintf(&b, "quarantined: %s\n", strings.Join(q, " "))
	var peers []string
	for _, a := range m.Peers() {
		peers = append(peers, fmt.Sprintf("%s:%d", s.names[a.Peer], a.Tokens))
	}
	slices.Sort(peers)
	fmt.Fprintf(&b, "allocations: %s\n", strings.Join(peers, " "))
	var members []string
	for _, p := range m.Members() {
		members = append(members, s.names[p])
	}
	slices.Sort(members)
	fmt.Fprintf(&b, "members: %s\n", strings.Join(members, " "))
	fmt.Fprintf(&b, "power: %s\n", votes(m.Power()))
	return b.String()
}

func votes(micro uint64) string {
	return fmt.Sprintf("%d.%06d", micro/PowerScale, micro%PowerScale)
}

func (s *scenario) format(tl *Tally) string {
	var b strings.Builder
	met := "quorum met"
	if !tl.QuorumMet {
		met = "quorum not met"
	}
	fmt.Fprintf(&b, "%v, %s (quorum %v, threshold %v)\n", tl.Outcome, met, tl.Quorum, tl.Threshold)
	if tl.Barred != ReasonNone {
		fmt.Fprintf(&b, "barred: the proposer is %v\n", tl.Barred)
	}
	fmt.Fprintf(&b, "yes %s no %s abstain %s participating %s of %s\n",
		votes(tl.Yes), votes(tl.No), votes(tl.Abstain), votes(tl.Participating), votes(tl.Total))
	type line struct{ name, text string }
	var lines []line
	for _, x := range tl.Ballots {
		lines = append(lines, line{s.names[x.Voter], fmt.Sprintf("counted %s seq=%d %v tokens=%d power=%s", s.names[x.Voter], x.Seq, x.Choice, x.Tokens, votes(x.Power))})
	}
	for _, x := range tl.Void {
		lines = append(lines, line{s.names[x.Voter], fmt.Sprintf("void    %s seq=%d %v", s.names[x.Voter], x.Seq, x.Reason)})
	}
	if len(lines) > 12 {
		fmt.Fprintf(&b, "%d ballots, %d void\n", len(tl.Ballots), len(tl.Void))
		return b.String()
	}
	slices.SortStableFunc(lines, func(a, b line) int { return strings.Compare(a.name, b.name) })
	for _, l := range lines {
		b.WriteString(l.text + "\n")
	}
	return b.String()
}
