package consensus

import (
	"bytes"
	"cmp"
	"slices"
)

// index is the in-memory view of a set of verified records: what the tally
// and equivocation detection need, maintained incrementally. Its state after
// adding a set of records does not depend on the order they were added in;
// that is what makes the tally identical on every node. It does no I/O and
// no verification.
type index struct {
	g         *Genesis
	records   map[Hash]*Record
	slots     map[slotKey][]Hash // (author, seq) → record IDs, sorted; more than one is a fork
	children  map[Hash][]Hash    // prev ID → IDs of records naming it as prev
	votesFor  map[Hash][]*Record // proposal ID → votes naming it (even before it arrives)
	proposals map[Hash]*Record   // proposal records
	authors   map[PeerID]*authorIndex
	breaks    map[Hash]Hash // record ID → its prev, for records that break their chain

	// members lists the proposals whose action changes the membership
	// (Admit, Evict, Quarantine), by deadline then ID: the order in which
	// their outcomes fold into the membership.
	members []*Record
	// gen counts additions; passed[i] is the outcome of members[i] as of
	// generation foldGen (valid when foldOK).
	gen     uint64
	foldGen uint64
	foldOK  bool
	passed  []bool
}

type slotKey struct {
	author PeerID
	seq    uint64
}

// authorIndex is what the index knows about one author.
type authorIndex struct {
	maxSeq uint64
	// forkSeq is the lowest seq from which the author's log is proven forked
	// or broken, or 0 if it is not.
	forkSeq uint64
}

func newIndex(g *Genesis) *index {
	return &index{
		g:         g,
		records:   make(map[Hash]*Record),
		slots:     make(map[slotKey][]Hash),
		children:  make(map[Hash][]Hash),
		votesFor:  make(map[Hash][]*Record),
		proposals: make(map[Hash]*Record),
		authors:   make(map[PeerID]*authorIndex),
		breaks:    make(map[Hash]Hash),
	}
}

func (ix *index) has(h Hash) bool {
	_, ok := ix.records[h]
	return ok
}

// add inserts r and reports whether it was new and whether it proved (new)
// equivocation by its author.
func (ix *index) add(r *Record) (added, forked bool) {
	id := r.ID()
	if ix.has(id) {
		return false, false
	}
	ix.records[id] = r
	ix.gen++
	a := ix.authors[r.Author]
	if a == nil {
		a = &authorIndex{}
		ix.authors[r.Author] = a
	}
	a.maxSeq = max(a.maxSeq, r.Seq)

	key := slotKey{r.Author, r.Seq}
	slot := ix.slots[key]
	i, _ := slices.BinarySearchFunc(slot, id, compareHash)
	ix.slots[key] = slices.Insert(slot, i, id)
	if len(slot) > 0 {
		forked = ix.markFork(a, r.Seq) || forked
	}

	if r.Seq > 1 {
		ix.children[r.Prev] = append(ix.children[r.Prev], id)
		if prev, ok := ix.records[r.Prev]; ok && breaksChain(prev, r) {
			ix.breaks[id] = r.Prev
			forked = ix.markFork(a, r.Seq) || forked
		}
	}
	for _, c := range ix.children[id] {
		child := ix.records[c]
		if breaksChain(r, child) {
			ix.breaks[c] = id
			forked = ix.markFork(ix.authors[child.Author], child.Seq) || forked
		}
	}

	switch r.Kind() {
	case KindProposal:
		ix.proposals[id] = r
		if changesMembership(r.Proposal.Action) {
			i, _ := slices.BinarySearchFunc(ix.members, r, compareFold)
			ix.members = slices.Insert(ix.members, i, r)
		}
	case KindVote:
		ix.votesFor[r.Vote.Proposal] = append(ix.votesFor[r.Vote.Proposal], r)
	}
	return true, forked
}

// markFork lowers the author's fork seq to seq and reports whether it changed.
func (ix *index) markFork(a *authorIndex, seq uint64) bool {
	if a.forkSeq == 0 || seq < a.forkSeq {
		a.forkSeq = seq
		return true
	}
	return false
}

// breaksChain reports whether child, which names prev as its predecessor,
// is inconsistent with it: another author, a seq gap, or time going back.
func breaksChain(prev, child *Record) bool {
	return prev.Author != child.Author || prev.Seq+1 != child.Seq || prev.Time > child.Time
}

func compareHash(a, b Hash) int { return bytes.Compare(a[:], b[:]) }

// forkSeq returns the seq from which author's records are void, or 0.
func (ix *index) forkSeq(author PeerID) uint64 {
	if a := ix.authors[author]; a != nil {
		return a.forkSeq
	}
	return 0
}

// compareFold orders proposals as the membership fold takes them: by
// deadline, then ID.
func compareFold(a, b *Record) int {
	return cmp.Or(cmp.Compare(a.Proposal.Deadline, b.Proposal.Deadline), compareHash(a.ID(), b.ID()))
}

// fold brings the outcomes of the membership proposals up to date: each is
// tallied under the membership its predecessors make, in fold order.
func (ix *index) fold() {
	if ix.foldOK && ix.foldGen == ix.gen {
		return
	}
	ix.passed = slices.Grow(ix.passed[:0], len(ix.members))[:len(ix.members)]
	m := newMembership(ix.g)
	for i, q := range ix.members {
		ix.passed[i] = ix.count(q, m).Outcome == Passed
		if ix.passed[i] {
			m.apply(q.Proposal.Action)
		}
	}
	ix.foldGen, ix.foldOK = ix.gen, true
}

// membershipAt returns the membership in force at proposal p's place in
// the fold: after every membership proposal ordered before p, and after p
// itself too if through is set.
func (ix *index) membershipAt(p *Record, through bool) *Membership {
	ix.fold()
	m := newMembership(ix.g)
	for i, q := range ix.members {
		if c := compareFold(q, p); c > 0 || (c == 0 && !through) {
			break
		}
		if ix.passed[i] {
			m.apply(q.Proposal.Action)
		}
	}
	return m
}

// membershipAfterAll returns the membership after every membership
// proposal the index holds.
func (ix *index) membershipAfterAll() *Membership {
	ix.fold()
	m := newMembership(ix.g)
	for i, q := range ix.members {
		if ix.passed[i] {
			m.apply(q.Proposal.Action)
		}
	}
	return m
}

// evidence lists every proof of equivocation in the set, in a deterministic
// order: per author and seq, the two smallest record IDs of a forked slot,
// and every chain break.
func (ix *index) evidence() []*Evidence {
	var out []*Evidence
	for key, slot := range ix.slots {
		if len(slot) > 1 {
			out = append(out, &Evidence{
				Author: key.author, Seq: key.seq, Kind: EvidenceFork,
				A: ix.records[slot[0]].Encode(), B: ix.records[slot[1]].Encode(),
			})
		}
	}
	for c, p := range ix.breaks {
		child := ix.records[c]
		out = append(out, &Evidence{
			Author: child.Author, Seq: child.Seq, Kind: EvidenceBrokenChain,
			A: ix.records[p].Encode(), B: child.Encode(),
		})
	}
	sortEvidence(out)
	return out
}

func sortEvidence(ev []*Evidence) {
	slices.SortFunc(ev, func(x, y *Evidence) int {
		return cmp.Or(
			cmp.Compare(x.Author, y.Author),
			cmp.Compare(x.Seq, y.Seq),
			cmp.Compare(x.Kind, y.Kind),
			bytes.Compare(x.A, y.A),
			bytes.Compare(x.B, y.B),
		)
	})
}
