package replication

import (
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
// round fetches the known authors: this node, the authors of the records
// it holds, those whose heads it has seen, and those advertised in the DHT
// (minus those whose head seen is recent enough for the round). A failed
// fetch of a known author's head (other than "not found") makes the
// initial round incomplete, so it is retried. Other peers, listed in the
// genesis or in the routing table, are candidates: each is probed once, a
// few per periodic round, or all in the initial round when the DHT could
// not say who advertised a log; a failure there blocks nothing.
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
		retry:     time.NewTimer(time.Hour),
	}
	s.retry.Stop()
	defer s.retry.Stop()

	// Deliver what was decided before a restart.
	for _, dec := range d.log.Decisions() {
		if dec.Outcome == consensus.Passed && dec.Action != nil {
			d.dispatch(dec)
		}
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
		failed := s.round(ctx, roundInitial, 0)
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

// round fetches the heads of the authors of kind, walks their logs, and
// repeats for authors it learns of on the way. If notBefore is not 0 it
// skips the authors whose state as of notBefore is known: their latest
// head seen was signed after notBefore, or the DHT was asked for it more
// than SettleDelay after notBefore (by when a head put at notBefore has
// landed). It returns how many known authors' heads it could not get
// (every known author has a log, so "not found" counts too).
func (s *syncer) round(ctx context.Context, kind roundKind, notBefore int64) (failed int) {
	d := s.d
	began, fetched := time.Now(), 0
	defer func() {
		d.count(func(st *Stats) { st.SyncRounds++ })
		d.lg.Debug("governance sync round", "kind", kind, "heads_asked", fetched, "failed", failed, "took", time.Since(began))
	}()
	done := make(map[consensus.PeerID]bool)
	for pass := 0; ctx.Err() == nil; pass++ {
		known, candidates := s.authors(ctx, kind, pass == 0)
		var todo []consensus.PeerID
		isKnown := make(map[consensus.PeerID]bool, len(known))
		d.mu.Lock()
		for _, list := range [][]consensus.PeerID{known, candidates} {
			for _, a := range list {
				if done[a] || (notBefore > 0 && (d.headTime[a] > notBefore || s.asked[a] > notBefore+d.cfg.SettleDelay.Milliseconds())) {
					continue
				}
				done[a] = true
				todo = append(todo, a)
			}
		}
		d.mu.Unlock()
		for _, a := range known {
			isKnown[a] = true
		}
		if len(todo) == 0 {
			break
		}
		asked := d.cfg.Now().UnixMilli()
		results := fetch(ctx, d, todo, consensus.HeadKey)
		fetched += len(todo)
		for i, r := range results {
			d.mu.Lock()
			d.probed[todo[i]] = true
			d.mu.Unlock()
			switch {
			case r.err == nil:
				d.count(func(st *Stats) { st.HeadsFetched++ })
				s.asked[todo[i]] = asked
				s.ingestHead(ctx, r.value)
			case errors.Is(r.err, ErrNotFound):
				// A known author has a log: its head has not landed
				// yet (it advertises after its puts, but heads seen in
				// gossip may run ahead of them). Worth a retry.
				if isKnown[todo[i]] {
					failed++
				}
			default:
				if isKnown[todo[i]] {
					failed++
				}
				d.count(func(st *Stats) { st.FetchErrors++ })
				d.lg.Debug("governance head fetch failed", "author", todo[i], "err", r.err)
			}
		}
		s.walk(ctx)
	}
	return failed
}

// authors lists, sorted, the known authors and the candidates of a round
// of kind. network says whether to ask the Network (the DHT's
// advertisements, the peers); a round asks once, and its later passes only
// add the authors of records just fetched. The node itself is a candidate
// of the initial round only (its head is fetched in case its store was
// lost), never a known author.
func (s *syncer) authors(ctx context.Context, kind roundKind, network bool) (known, candidates []consensus.PeerID) {
	d := s.d
	self := d.cfg.Author.ID
	set := map[consensus.PeerID]bool{}
	for _, r := range d.log.All() {
		set[r.Author] = true
	}
	d.mu.Lock()
	for a := range d.headTime {
		set[a] = true
	}
	d.mu.Unlock()
	defer func() {
		delete(set, self)
		known = slices.Sorted(maps.Keys(set))
	}()
	if !network {
		return nil, nil
	}
	peers := d.net.Peers()
	advertisedOK := false
	if len(peers) > 0 {
		var advertised []consensus.PeerID
		advertisedOK, advertised = s.advertised(ctx, kind == roundInitial)
		for _, a := range advertised {
			set[a] = true
		}
	}
	limit := 0 // how many never-probed peers to add
	switch {
	case kind == roundInitial && !advertisedOK:
		limit = -1 // all of them
	case kind == roundPeriodic:
		limit = max(1, d.cfg.FetchConcurrency)
	}
	if kind == roundInitial {
		candidates = append(candidates, self)
	}
	if limit == 0 {
		return nil, candidates
	}
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
		if set[p] || d.probed[p] || p == self {
			delete(others, p)
		}
	}
	d.mu.Unlock()
	more := slices.Sorted(maps.Keys(others))
	if limit > 0 && len(more) > limit {
		more = more[:limit]
	}
	return nil, append(candidates, more...)
}

// advertised asks the DHT which authors advertised a log. ok says whether
// the answer can be trusted as the full list: the lookup completed, or it
// was cut short but found some (every peer that stores the advertisements
// holds all of them, so one answer is as good as all). patient gives a
// lookup that found nothing in FetchTimeout a second try, twice as long,
// before the caller falls back to probing every peer.
func (s *syncer) advertised(ctx context.Context, patient bool) (ok bool, authors []consensus.PeerID) {
	d := s.d
	for attempt, timeout := 0, d.cfg.FetchTimeout; ; attempt, timeout = attempt+1, 2*timeout {
		actx, cancel := context.WithTimeout(ctx, timeout)
		found, err := d.net.Authors(actx)
		if err == nil && actx.Err() != nil && len(found) == 0 {
			err = actx.Err()
		}
		cancel()
		if err == nil {
			return true, found
		}
		d.lg.Debug("governance authors lookup failed", "err", err, "found", len(found))
		if !patient || attempt == 1 || ctx.Err() != nil {
			return false, found
		}
	}
}

// fetched is the outcome of one DHT get.
type fetched struct {
	value []byte
	err   error
}

// fetch gets the value under key(x) for every x, FetchConcurrency at a
// time, each within FetchTimeout. Without any peer it fails every get at
// once rather than wait for a lookup that cannot succeed.
func fetch[T any](ctx context.Context, d *Driver, xs []T, key func(T) string) []fetched {
	out := make([]fetched, len(xs))
	if len(d.net.Peers()) == 0 {
		for i := range out {
			out[i].err = ErrNotFound // nobody to ask: nothing to wait for
		}
		return out
	}
	sem := make(chan struct{}, max(1, d.cfg.FetchConcurrency))
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

func (s *syncer) fetch(ctx context.Context, authors []consensus.PeerID, key func(consensus.PeerID) string) []fetched {
	return fetch(ctx, s.d, authors, key)
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
		results := fetch(ctx, d, missing, consensus.RecordKey)
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
			for _, err := range d.log.IngestAll(ctx, d.cfg.Now(), values) {
				if err == nil {
					progress = true
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
// heads of authors whose closing head has not arrived.
func (s *syncer) check(ctx context.Context) {
	d := s.d
	now := d.cfg.Now()
	var due int64
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
		if due == 0 || p.Deadline < due {
			due = p.Deadline
		}
	}
	if closing {
		d.announceClosing(ctx, now)
	}
	if due != 0 {
		s.round(ctx, roundDecision, due)
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
	}
}
