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

// roundKind says which authors a sync round fetches the heads of.
type roundKind uint8

const (
	// roundFull: every author known from any source.
	roundFull roundKind = iota
	// roundPeriodic: authors with a log (advertised, seen or held) and
	// peers never probed.
	roundPeriodic
)

// syncer is the state of the sync goroutine; only it touches the fields.
type syncer struct {
	d         *Driver
	misses    map[consensus.Hash]int  // not-found answers per record
	presynced map[consensus.Hash]bool // proposals whose pre-decision round ran
	seen      map[consensus.Hash]bool // head encodings already ingested
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
		seen:      make(map[consensus.Hash]bool),
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
	for attempt := 1; ; attempt++ {
		failed := s.round(ctx, roundFull, 0)
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
			s.round(ctx, roundPeriodic, 0)
		case <-check.C:
			s.check(ctx)
		}
	}
}

// round fetches the heads of the authors of kind (skipping those whose
// latest head seen was signed after notBefore, if it is not 0), walks their
// logs, and repeats for authors it learns of on the way. It returns how
// many heads could not be fetched for a reason other than "not found".
func (s *syncer) round(ctx context.Context, kind roundKind, notBefore int64) (failed int) {
	d := s.d
	defer d.count(func(st *Stats) { st.SyncRounds++ })
	done := make(map[consensus.PeerID]bool)
	for pass := 0; ctx.Err() == nil; pass++ {
		authors := s.authors(ctx, kind, pass == 0)
		var todo []consensus.PeerID
		d.mu.Lock()
		for _, a := range authors {
			if done[a] || (notBefore > 0 && d.headTime[a] > notBefore) {
				continue
			}
			done[a] = true
			todo = append(todo, a)
		}
		d.mu.Unlock()
		if len(todo) == 0 {
			break
		}
		results := s.fetch(ctx, todo, consensus.HeadKey)
		for i, r := range results {
			d.mu.Lock()
			d.probed[todo[i]] = true
			d.mu.Unlock()
			switch {
			case r.err == nil:
				d.count(func(st *Stats) { st.HeadsFetched++ })
				s.ingestHead(ctx, r.value)
			case errors.Is(r.err, ErrNotFound):
			default:
				failed++
				d.lg.Debug("governance head fetch failed", "author", todo[i], "err", r.err)
			}
		}
		s.walk(ctx)
	}
	return failed
}

// authors lists the authors a round of kind fetches the heads of, sorted.
// network says whether to ask the DHT for advertised authors (once per
// round: later passes only add the authors of records just fetched).
func (s *syncer) authors(ctx context.Context, kind roundKind, network bool) []consensus.PeerID {
	d := s.d
	set := map[consensus.PeerID]bool{d.cfg.Self: true}
	for _, r := range d.log.All() {
		set[r.Author] = true
	}
	d.mu.Lock()
	for a := range d.headTime {
		set[a] = true
	}
	d.mu.Unlock()
	if !network {
		return slices.Sorted(maps.Keys(set))
	}
	if kind == roundFull {
		for _, a := range d.cfg.Genesis.Allocations() {
			if a.Peer != "" {
				set[a.Peer] = true
			}
		}
	}
	peers := d.net.Peers()
	d.mu.Lock()
	for _, p := range peers {
		if kind == roundFull || !d.probed[p] {
			set[p] = true
		}
	}
	d.mu.Unlock()
	if len(peers) > 0 {
		actx, cancel := context.WithTimeout(ctx, d.cfg.FetchTimeout)
		advertised, err := d.net.Authors(actx)
		cancel()
		if err != nil {
			d.lg.Debug("governance authors lookup failed", "err", err)
		}
		for _, a := range advertised {
			set[a] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
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

// check runs the pre-decision round for proposals that just became due,
// then decides.
func (s *syncer) check(ctx context.Context) {
	d := s.d
	now := d.cfg.Now()
	var due int64
	for _, p := range d.log.Proposals(now) {
		if p.State != consensus.StateClosing || s.presynced[p.ID] {
			continue
		}
		if now.Before(time.UnixMilli(p.Deadline).Add(d.cfg.SettleDelay)) {
			continue
		}
		s.presynced[p.ID] = true
		if due == 0 || p.Deadline < due {
			due = p.Deadline
		}
	}
	if due != 0 {
		s.round(ctx, roundFull, due)
	}
	decisions, err := d.log.CheckProposals(ctx, d.cfg.Now())
	if err != nil {
		d.lg.Warn("governance check failed", "err", err)
		return
	}
	for _, dec := range decisions {
		delete(s.presynced, dec.Proposal)
		d.count(func(st *Stats) { st.Decisions++ })
		d.lg.Info("governance decision", "proposal", dec.Proposal, "title", dec.Title,
			"outcome", dec.Outcome, "yes", dec.Tally.Yes, "no", dec.Tally.No,
			"abstain", dec.Tally.Abstain, "total", dec.Tally.Total, "digest", dec.Tally.Digest())
	}
}
