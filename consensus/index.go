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
}

type slotKey struct {
	author PeerID
	seq    uint64
}

// authorIndex is what the index knows about one author.
type authorIndex struct {
	maxSeq  uint64
	minTime int64 // earliest record time
	// minListedClaim is the earliest time of a record whose SPIFFE ID claim
	// matches a listed genesis allocation, or 0 if none.
	minListedClaim int64
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
	a := ix.authors[r.Author]
	if a == nil {
		a = &authorIndex{minTime: r.Time}
		ix.authors[r.Author] = a
	}
	a.maxSeq = max(a.maxSeq, r.Seq)
	a.minTime = min(a.minTime, r.Time)
	if r.Identity != "" {
		if _, ok := ix.g.bySPIFFE[r.Identity]; ok && (a.minListedClaim == 0 || r.Time < a.minListedClaim) {
			a.minListedClaim = r.Time
		}
	}

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

// unlistedBefore counts the authors the genesis does not list (by peer ID,
// or by a SPIFFE ID claimed at or before deadline) that have a record at or
// before deadline. Each adds the default allocation to the total allocatable
// power of a proposal with that deadline.
func (ix *index) unlistedBefore(deadline int64) uint64 {
	var n uint64
	for id, a := range ix.authors {
		if a.minTime > deadline {
			continue
		}
		if _, ok := ix.g.byPeer[id]; ok {
			continue
		}
		if a.minListedClaim != 0 && a.minListedClaim <= deadline {
			continue
		}
		n++
	}
	return n
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
