package replication

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
)

// Sync limits.
const (
	// initialAttempts bounds the full rounds run at start while some head
	// could not be fetched.
	initialAttempts = 5
	// maxMisses is how many times a record may be reported not found
	// before the Log is told it is unavailable.
	maxMisses = 3
	// seenHeads bounds the set of head encodings already ingested.
	seenHeads = 4096
)

// roundKind says which authors a sync round fetches the heads of. Every
// round fetches the known authors: the authors of the records the node
// holds, those whose heads it has seen, and those advertised in the DHT
// (minus those whose head seen is recent enough for the round). The round
// fetches each known author's head as soon as it learns of the author (an
// advertisement the lookup just found, a record just fetched), walks its
// log as soon as the head arrives, and ends when every known author's head
// has been answered for and the advertisement lookup has ended. A failed
// fetch of a known author's head (not found included) makes the initial
// round incomplete, so it is retried.
//
// Other peers, listed in the genesis or in the routing table, are
// candidates: nothing says they have a log, and asking the DHT for a head
// nobody stored takes a whole lookup (every close peer asked, seconds on a
// large mesh). So each is probed once, in the background: a head found
// joins the heads seen, a failure blocks nothing. Candidates are a few
// never-probed peers per periodic round, and the node itself in the
// initial round (its head is fetched in case its store was lost). Only
// when the DHT could not say who advertised a log (the lookup failed, or
// found nobody twice) does the initial round wait for candidates: then
// every peer is one, as they are the only way to find the authors.
type roundKind uint8

const (
	roundInitial  roundKind = iota // before the first decision
	roundPeriodic                  // every SyncInterval
	roundDecision                  // before deciding a proposal
)

func (k roundKind) String() string {
	return [...]string{"initial", "periodic", "decision"}[k]
}

// syncer is the state of the sync goroutine; only it touches the fields.
type syncer struct {
	d         *Driver
	misses    map[consensus.Hash]int     // not-found answers per record
	presynced map[consensus.Hash]bool    // proposals whose pre-decision round ran
	closed    map[consensus.Hash]bool    // proposals whose closing head was announced
	seen      map[consensus.Hash]bool    // head encodings already ingested
	asked     map[consensus.PeerID]int64 // when each author's head was last got from the DHT (ms, own clock)
	learned   map[consensus.PeerID]bool  // authors of records walks ingested, for the running round
	gets      chan struct{}              // a slot per DHT get of the sync goroutine in flight: FetchConcurrency
	probing   chan struct{}              // holds a token while background probes run
	retry     *time.Timer
	retryOn   bool
}

func (d *Driver) runSync(ctx context.Context) {
	if !d.waitReady(ctx) {
		return
	}
	s := &syncer{
		d:         d,
		misses:    make(map[consensus.Hash]int),
		presynced: make(map[consensus.Hash]bool),
		closed:    make(map[consensus.Hash]bool),
		seen:      make(map[consensus.Hash]bool),
		asked:     make(map[consensus.PeerID]int64),
		learned:   make(map[consensus.PeerID]bool),
		gets:      make(chan struct{}, max(1, d.cfg.FetchConcurrency)),
		probing:   make(chan struct{}, 1),
		retry:     time.NewTimer(time.Hour),
	}
	s.retry.Stop()
	defer s.retry.Stop()

	// Hand on what was decided before a restart.
	for _, dec := range d.log.Decisions() {
		d.apply(dec)
	}
	began := d.cfg.Now()
	// Ready means a bootstrap peer is connected; the DHT takes a moment
	// more to list it. A node that finds no peer at all in FetchTimeout
	// has nobody to sync from.
	for wait := time.Duration(0); len(d.net.Peers()) == 0 && wait < d.cfg.FetchTimeout; wait += d.cfg.FetchTimeout / 50 {
		if !sleep(ctx, d.cfg.FetchTimeout/50) {
			return
		}
	}
	for attempt := 1; ; attempt++ {
		failed, _ := s.round(ctx, roundInitial, 0)
		if ctx.Err() != nil {
			return
		}
		if failed == 0 || attempt == initialAttempts {
			if failed > 0 {
				d.lg.Warn("governance sync incomplete; deciding with what is held", "authors_unreached", failed)
			}
			break
		}
		if !sleep(ctx, d.cfg.RetryInterval<<(attempt-1)) {
			return
		}
	}
	// The node's own head and records were fetched back too, if its store
	// lost them: it may write again without reusing a sequence number.
	d.log.SyncDone()
	now := d.cfg.Now()
	d.count(func(st *Stats) { st.Synced, st.SyncedAt = true, now })
	d.lg.Debug("governance synced", "took", now.Sub(began), "records", len(d.log.All()))

	check := time.NewTicker(d.cfg.CheckInterval)
	defer check.Stop()
	periodic := time.NewTicker(d.cfg.SyncInterval)
	defer periodic.Stop()
	s.check(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-d.heads:
			s.ingestHead(ctx, b)
		case <-d.kick:
			s.walk(ctx)
		case <-s.retry.C:
			s.retryOn = false
			s.walk(ctx)
		case <-periodic.C:
			// An author's periodic announcement re-signs its head every
			// AnnounceMaxAge/2: a head seen later than that (and a
			// round) ago leaves nothing to catch up on.
			stale := d.cfg.Now().Add(-d.cfg.AnnounceMaxAge/2 - d.cfg.SyncInterval)
			s.round(ctx, roundPeriodic, stale.UnixMilli())
		case <-check.C:
			s.check(ctx)
		}
	}
}

// headGot is the answer to one head get of a round.
type headGot struct {
	author consensus.PeerID
	known  bool // the author has a log: a failure counts
	value  []byte
	err    error
}

// advertisement is one author the advertisement lookup found, or (end)
// the end of the lookup, with whether its list can be trusted.
type advertisement struct {
	author consensus.PeerID
	end    bool
	ok     bool
}

// round fetches the heads of the authors of kind and walks their logs, as
// described at roundKind. If notBefore is not 0 it skips the authors whose
// state as of notBefore is known: their latest head seen was signed after
// notBefore, or the DHT was asked for it more than SettleDelay after
// notBefore (by when a head put at notBefore has landed). It returns how
// many known authors' heads it could not get (every known author has a
// log, so "not found" counts too), and how many of those were members.
//
// An initial or decision round that got the head of every known member
// tells the Log when it began (SyncRoundDone): the Log decides a proposal
// only after such a round that began after the proposal's deadline +
// SettleDelay. A periodic round does not: it skips authors whose head was
// seen lately, which says nothing of records written at a deadline since.
// Authors that are not members do not hold the report back: anyone can
// advertise a log and withhold its head, and their votes hold no power.
func (s *syncer) round(ctx context.Context, kind roundKind, notBefore int64) (failed, membersFailed int) {
	d := s.d
	self := d.cfg.Author.ID
	began, asked := time.Now(), 0
	logBegan := d.cfg.Now() // on the Log's clock
	defer func() {
		d.count(func(st *Stats) { st.SyncRounds++ })
		d.lg.Debug("governance sync round", "kind", kind, "heads_asked", asked, "failed", failed, "members_failed", membersFailed, "took", time.Since(began))
		if kind != roundPeriodic && membersFailed == 0 && ctx.Err() == nil {
			d.log.SyncRoundDone(logBegan)
		}
	}()
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()

	peers := d.net.Peers()
	got := make(chan headGot)
	done := map[consensus.PeerID]bool{} // heads asked for in this round
	pending := 0                        // gets the round waits for, running or queued
	running := 0                        // gets on a goroutine
	var queue []headGot                 // gets waiting for a goroutine
	conc := max(1, d.cfg.FetchConcurrency)
	guests := d.cfg.MaxAuthors // heads of non-members the round may still fetch
	d.refreshMembers()
	// wanted says whether a known author's head is due in this round (the
	// node itself is only ever a candidate).
	wanted := func(a consensus.PeerID) bool {
		if done[a] || a == self {
			return false
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		return notBefore == 0 || (d.headTime[a] <= notBefore && s.asked[a] <= notBefore+d.cfg.SettleDelay.Milliseconds())
	}
	// covered says whether a head of a signed after notBefore arrived
	// (by gossip, say) while the round asked the DHT for it: the Log
	// holds it and wants what it names, so a failed get leaves nothing
	// unknown as of notBefore.
	covered := func(a consensus.PeerID) bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return notBefore != 0 && d.headTime[a] > notBefore
	}
	launch := func(r headGot) {
		running++
		wg.Go(func() {
			r.err = ErrNotFound // nobody to ask: nothing to wait for
			if len(peers) > 0 {
				select {
				case s.gets <- struct{}{}:
					gctx, cancel := context.WithTimeout(rctx, d.cfg.FetchTimeout)
					r.value, r.err = d.net.Get(gctx, consensus.HeadKey(r.author))
					cancel()
					<-s.gets // before handing the head over: the walk it starts needs the slot
				case <-rctx.Done():
					r.err = rctx.Err()
				}
			}
			select {
			case got <- r:
			case <-rctx.Done():
			}
		})
	}
	// get asks for a's head: at once if fewer than FetchConcurrency gets
	// run, else once one ends, so that a round holds at most that many
	// goroutines however many authors it learns of. Non-members beyond
	// MaxAuthors a round are not asked for.
	get := func(a consensus.PeerID, known bool) {
		if done[a] {
			return
		}
		done[a] = true
		if a != self && !d.isMember(a) {
			if guests == 0 {
				d.count(func(st *Stats) { st.AuthorsSkipped++ })
				return
			}
			guests--
		}
		pending++
		asked++
		if r := (headGot{author: a, known: known}); running < conc {
			launch(r)
		} else {
			queue = append(queue, r)
		}
	}
	fetchKnown := func() {
		authors := slices.Sorted(maps.Keys(s.learned))
		// Members first: they are never skipped for the bound on others.
		slices.SortStableFunc(authors, func(a, b consensus.PeerID) int {
			return cmp.Compare(b2i(!d.isMember(a)), b2i(!d.isMember(b)))
		})
		for _, a := range authors {
			if wanted(a) {
				get(a, true)
			}
		}
		clear(s.learned)
	}

	// The authors the node knows of already: of the records it holds, and
	// of the heads it has seen.
	clear(s.learned)
	for _, r := range d.log.All() {
		s.learned[r.Author] = true
	}
	d.mu.Lock()
	for a := range d.headTime {
		s.learned[a] = true
	}
	d.mu.Unlock()
	fetchKnown()

	// The authors the DHT knows of, fetched as the lookup finds them.
	var adverts chan advertisement
	if len(peers) > 0 {
		adverts = make(chan advertisement)
		wg.Go(func() {
			ok := s.advertised(rctx, kind == roundInitial, func(a consensus.PeerID) {
				select {
				case adverts <- advertisement{author: a}:
				case <-rctx.Done():
				}
			})
			select {
			case adverts <- advertisement{end: true, ok: ok}:
			case <-rctx.Done():
			}
		})
	} else {
		s.candidates(ctx, kind, false, false, peers, done, get, nil)
	}
	selfAdvertised := false
	var others []consensus.PeerID // advertised non-members, probed in the background
	for (pending > 0 || adverts != nil) && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case ad := <-adverts:
			switch {
			case !ad.end:
				// An advertisement proves nothing: anyone can make one. A
				// member's has a log behind it; another author's head
				// that cannot be got does not hold the round up.
				switch {
				case ad.author == self:
					selfAdvertised = true
				case !wanted(ad.author):
				case d.isMember(ad.author):
					get(ad.author, true)
				case kind == roundDecision && guests > 0:
					// Awaited before deciding, within the round's bound on
					// non-members, so that every node counts (as void) the
					// same votes of theirs; a failure does not count.
					get(ad.author, false)
				case guests > 0:
					// Probed in the background, within the round's
					// bound on non-members.
					done[ad.author] = true
					guests--
					others = append(others, ad.author)
				default:
					d.count(func(st *Stats) { st.AuthorsSkipped++ })
				}
			default:
				adverts = nil
				s.candidates(ctx, kind, ad.ok, selfAdvertised, peers, done, get, others)
			}
		case r := <-got:
			pending--
			running--
			if len(queue) > 0 {
				launch(queue[0])
				queue = queue[1:]
			}
			d.markProbed(r.author)
			switch {
			case r.err == nil:
				d.count(func(st *Stats) { st.HeadsFetched++ })
				if len(s.asked) >= 4*max(d.cfg.MaxAuthors, 64) && !d.isMember(r.author) {
					clear(s.asked) // a bound; forgetting only makes a later round ask again
				}
				s.asked[r.author] = d.cfg.Now().UnixMilli()
				s.ingestHead(ctx, r.value) // walks the author's log
			case errors.Is(r.err, ErrNotFound):
				// A known author has a log: its head has not landed
				// yet (it advertises after its puts, but heads seen in
				// gossip may run ahead of them). Worth a retry.
				if r.known {
					failed++
					membersFailed += b2i(d.isMember(r.author) && !covered(r.author))
				}
			default:
				if r.known {
					failed++
					membersFailed += b2i(d.isMember(r.author) && !covered(r.author))
				}
				d.count(func(st *Stats) { st.FetchErrors++ })
				d.lg.Debug("governance head fetch failed", "author", r.author, "err", r.err)
			}
			fetchKnown() // authors of the records the walk fetched
		}
	}
	return failed, membersFailed
}

// candidates has the round fetch the heads of peers not known to have a
// log (see roundKind) once the advertisement lookup has ended, probing
// background (advertised non-members) with the rest: through
// get, which the round waits for, when they are the only way to find the
// authors (an initial round whose lookup failed: every genesis peer and
// every peer in the routing table, the node itself included), and
// otherwise in the background: a few never-probed peers in a periodic
// round, the node itself in the initial round. selfAdvertised says the
// node advertised a log in an earlier life: its head is then awaited.
// done lists the heads the round asked for already.
func (s *syncer) candidates(ctx context.Context, kind roundKind, advertisedOK, selfAdvertised bool, peers []consensus.PeerID, done map[consensus.PeerID]bool, get func(consensus.PeerID, bool), background []consensus.PeerID) {
	d := s.d
	self := d.cfg.Author.ID
	all := kind == roundInitial && !advertisedOK
	if kind == roundInitial {
		if all || selfAdvertised {
			get(self, false)
		} else {
			background = append(background, self)
		}
	}
	limit := 0 // how many never-probed peers to probe
	switch {
	case all:
		limit = -1
	case kind == roundPeriodic:
		limit = max(1, d.cfg.FetchConcurrency)
	}
	if limit != 0 {
		others := map[consensus.PeerID]bool{}
		for _, a := range d.cfg.Genesis.Allocations() {
			if a.Peer != "" {
				others[a.Peer] = true
			}
		}
		for _, p := range peers {
			others[p] = true
		}
		d.mu.Lock()
		for p := range others {
			if _, seen := d.headTime[p]; seen || done[p] || d.probed[p] || p == self {
				delete(others, p)
			}
		}
		d.mu.Unlock()
		more := slices.Sorted(maps.Keys(others))
		if limit > 0 && len(more) > limit {
			more = more[:limit]
		}
		for _, p := range more {
			if all {
				get(p, false)
			} else {
				background = append(background, p)
			}
		}
	}
	s.probe(ctx, background)
}

// probe fetches the heads of peers on a goroutine of its own, and offers
// each head found to the sync goroutine as a head seen. It does nothing
// while an earlier probe runs (a peer left out is probed in a later
// round, as it is still unprobed).
func (s *syncer) probe(ctx context.Context, peers []consensus.PeerID) {
	d := s.d
	if len(peers) == 0 || len(d.net.Peers()) == 0 {
		return
	}
	select {
	case s.probing <- struct{}{}:
	default:
		return
	}
	for _, p := range peers {
		d.markProbed(p)
	}
	d.wg.Go(func() {
		defer func() { <-s.probing }()
		for _, r := range fetch(ctx, d, make(chan struct{}, cap(s.gets)), peers, consensus.HeadKey) {
			if r.err != nil {
				continue
			}
			d.count(func(st *Stats) { st.HeadsFetched++ })
			select {
			case d.heads <- r.value:
			case <-ctx.Done():
				return
			}
		}
	})
}

// advertised asks the DHT which authors advertised a log, calling found
// with each as the lookup finds it. ok says whether the answer can be
// trusted as the full list: the lookup completed, or it was cut short but
// found some (every peer that stores the advertisements holds all of
// them, so one answer is as good as all). patient gives a lookup that
// found nothing in FetchTimeout a second try, twice as long, before the
// caller falls back to probing every peer.
func (s *syncer) advertised(ctx context.Context, patient bool, found func(consensus.PeerID)) (ok bool) {
	d := s.d
	n := 0
	for attempt, timeout := 0, d.cfg.FetchTimeout; ; attempt, timeout = attempt+1, 2*timeout {
		actx, cancel := context.WithTimeout(ctx, timeout)
		err := d.net.Authors(actx, func(a consensus.PeerID) {
			n++
			found(a)
		})
		if err == nil && actx.Err() != nil && n == 0 {
			err = actx.Err()
		}
		cancel()
		if err == nil || n > 0 {
			if err != nil {
				d.lg.Debug("governance authors lookup cut short", "err", err, "found", n)
			}
			return true
		}
		d.lg.Debug("governance authors lookup failed", "err", err)
		if !patient || attempt == 1 || ctx.Err() != nil {
			return false
		}
	}
}

// fetched is the outcome of one DHT get.
type fetched struct {
	value []byte
	err   error
}

// fetch gets the value under key(x) for every x, as many at a time as sem
// holds, each within FetchTimeout. Without any peer it fails every get at
// once rather than wait for a lookup that cannot succeed.
func fetch[T any](ctx context.Context, d *Driver, sem chan struct{}, xs []T, key func(T) string) []fetched {
	out := make([]fetched, len(xs))
	if len(d.net.Peers()) == 0 {
		for i := range out {
			out[i].err = ErrNotFound // nobody to ask: nothing to wait for
		}
		return out
	}
	var wg sync.WaitGroup
	for i, x := range xs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			out[i].err = ctx.Err()
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			gctx, cancel := context.WithTimeout(ctx, d.cfg.FetchTimeout)
			defer cancel()
			out[i].value, out[i].err = d.net.Get(gctx, key(x))
		})
	}
	wg.Wait()
	return out
}

// ingestHead passes a head to the Log once per distinct encoding and notes
// its author's signing time.
func (s *syncer) ingestHead(ctx context.Context, b []byte) {
	h := consensus.Hash(sha256.Sum256(b))
	if s.seen[h] {
		return
	}
	if len(s.seen) >= seenHeads {
		clear(s.seen)
	}
	s.seen[h] = true
	err := s.d.log.IngestHead(ctx, s.d.cfg.Now(), b)
	if err != nil && !errors.Is(err, consensus.ErrDuplicate) {
		s.d.lg.Debug("governance head refused", "err", err)
		var rej *consensus.RejectError
		if errors.As(err, &rej) && rej.Reason == consensus.ReasonFuture {
			delete(s.seen, h) // may pass later
		}
		return
	}
	if head, err := consensus.DecodeHead(b); err == nil {
		s.d.noteHead(head.Author, head.Time)
	}
	if len(s.d.log.Missing()) > 0 {
		s.walk(ctx)
	}
}

// walk fetches the records the Log is missing, by ID, and ingests them,
// until nothing is missing or a pass makes no progress. A record the DHT
// does not have (or could not deliver) is asked for again after
// RetryInterval, and reported unavailable after maxMisses failures.
func (s *syncer) walk(ctx context.Context) {
	d := s.d
	for ctx.Err() == nil {
		missing := d.log.Missing()
		if len(missing) == 0 {
			return
		}
		results := fetch(ctx, d, s.gets, missing, consensus.RecordKey)
		var values [][]byte
		progress, pending := false, false
		for i, r := range results {
			id := missing[i]
			switch {
			case r.err == nil:
				values = append(values, r.value)
				delete(s.misses, id)
			default:
				if !errors.Is(r.err, ErrNotFound) {
					d.count(func(st *Stats) { st.FetchErrors++ })
				}
				s.misses[id]++
				if s.misses[id] >= maxMisses {
					delete(s.misses, id)
					d.log.Unavailable(id)
					d.lg.Debug("governance record unavailable", "id", id, "err", r.err)
					progress = true
				} else {
					pending = true
				}
			}
		}
		if len(values) > 0 {
			d.count(func(st *Stats) { st.RecordsFetched += uint64(len(values)) })
			for i, err := range d.log.IngestAll(ctx, d.cfg.Now(), values) {
				if err == nil {
					progress = true
					if r, ok := d.log.Record(sha256.Sum256(values[i])); ok {
						s.learned[r.Author] = true
					}
				} else if !errors.Is(err, consensus.ErrDuplicate) {
					d.lg.Debug("governance record refused", "err", err)
				}
			}
		}
		if !progress {
			if pending && !s.retryOn {
				s.retry.Reset(d.cfg.RetryInterval)
				s.retryOn = true
			}
			return
		}
	}
}

// check announces a head signed after the deadline of every proposal
// that just closed, runs the pre-decision round for proposals that just
// became due, then decides.
//
// The closing head tells every node that the author's log as of the
// deadline is at most that head: every record timestamped at or before the
// deadline precedes it. So the pre-decision round needs to fetch only the
// heads of authors whose closing head has not arrived: signed after the
// latest deadline among the proposals it runs for. The round begins after
// their deadline + SettleDelay, and the Log decides them only once such a
// round has completed (or SyncWait later); one that could not get a known
// member's head runs again at the next check.
func (s *syncer) check(ctx context.Context) {
	d := s.d
	now := d.cfg.Now()
	var due int64
	var dueIDs []consensus.Hash
	closing := false
	for _, p := range d.log.Proposals(now) {
		if p.State != consensus.StateClosing {
			continue
		}
		if !s.closed[p.ID] {
			s.closed[p.ID] = true
			closing = true
		}
		if s.presynced[p.ID] || now.Before(time.UnixMilli(p.Deadline).Add(d.cfg.SettleDelay)) {
			continue
		}
		s.presynced[p.ID] = true
		dueIDs = append(dueIDs, p.ID)
		due = max(due, p.Deadline)
	}
	if closing {
		d.announceClosing(ctx, now)
	}
	if due != 0 {
		if _, membersFailed := s.round(ctx, roundDecision, due); membersFailed > 0 {
			for _, id := range dueIDs {
				delete(s.presynced, id)
			}
		}
	}
	decisions, err := d.log.CheckProposals(ctx, d.cfg.Now())
	if err != nil {
		d.lg.Warn("governance check failed", "err", err)
		return
	}
	for _, dec := range decisions {
		delete(s.presynced, dec.Proposal)
		delete(s.closed, dec.Proposal)
		d.count(func(st *Stats) { st.Decisions++ })
		d.lg.Info("governance decision", "proposal", dec.Proposal, "title", dec.Title,
			"outcome", dec.Outcome, "yes", dec.Tally.Yes, "no", dec.Tally.No,
			"abstain", dec.Tally.Abstain, "total", dec.Tally.Total, "digest", dec.Tally.Digest())
		d.apply(dec)
	}
}

// markProbed remembers that p's head was asked for, forgetting every
// probe once 4 × MaxAuthors are remembered (a bound: a forgotten peer is
// only probed again).
func (d *Driver) markProbed(p consensus.PeerID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.probed[p] && len(d.probed) >= 4*max(d.cfg.MaxAuthors, 64) {
		clear(d.probed)
	}
	d.probed[p] = true
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
