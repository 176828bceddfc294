package consensus

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

// Datastore keys, all under /gov.
var (
	keyGovernance = datastore.NewKey("/gov")
	keyGenesis    = datastore.NewKey("/gov/genesis")
	keyOwnHead    = datastore.NewKey("/gov/self/head")
	prefixRecord  = datastore.NewKey("/gov/rec")
	prefixDecided = datastore.NewKey("/gov/decided")
)

func recordKey(id Hash) datastore.Key  { return prefixRecord.ChildString(id.String()) }
func decidedKey(id Hash) datastore.Key { return prefixDecided.ChildString(id.String()) }

// maxRefused bounds the memory of refused record IDs (kept so that Missing
// does not ask for them again). When full it is cleared, which costs at most
// one more fetch and refusal per ID.
const maxRefused = 1 << 14

// Log is one node's governance state: its own hash-chained log, every
// record it has accepted from other authors, and the decisions it has taken.
// It persists to the datastore before acknowledging anything, computes
// tallies with the pure rules of Count, and starts no goroutines. It is
// safe for concurrent use; time is always passed in.
type Log struct {
	cfg     Config
	logger  *slog.Logger
	network Hash

	mu      sync.Mutex
	ix      *index
	wanted  map[Hash]struct{}
	refused map[Hash]Reason
	heads   map[PeerID]*Head
	headEv  []*Evidence
	own     ownLog
	decided map[Hash]*Decision
	subs    map[uint64]func(Decision)
	nextSub uint64
}

// ownLog is the tip of this node's own log.
type ownLog struct {
	seq  uint64
	last Hash
	time int64
	head *Head // nil until signed
}

// Decision is a proposal decided by this node: the outcome, the tally it
// was computed from and, for a passed proposal, the action to carry out.
// A node decides each proposal once; the decision survives restarts.
type Decision struct {
	Proposal  Hash    `json:"proposal"`
	Title     string  `json:"title"`
	Outcome   Outcome `json:"outcome"`
	Tally     *Tally  `json:"tally"`
	Action    Action  `json:"action,omitempty"`
	DecidedAt int64   `json:"decided_at_ms"` // this node's clock
}

// State is where a proposal stands on one node.
type State uint8

// States.
const (
	StateOpen     State = 1 // before the deadline
	StateClosing  State = 2 // past the deadline, not decided yet
	StatePassed   State = 3
	StateRejected State = 4
)

func (s State) String() string {
	switch s {
	case StateOpen:
		return "open"
	case StateClosing:
		return "closing"
	case StatePassed:
		return "passed"
	case StateRejected:
		return "rejected"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// MarshalText implements encoding.TextMarshaler.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ProposalInfo describes a proposal for listing.
type ProposalInfo struct {
	ID          Hash   `json:"id"`
	Author      PeerID `json:"author"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Created     int64  `json:"created_ms"`
	Deadline    int64  `json:"deadline_ms"`
	Quorum      PPM    `json:"quorum"`
	Threshold   PPM    `json:"threshold"`
	Action      Action `json:"action,omitempty"`
	State       State  `json:"state"`
}

// Open loads the log from cfg.Store (records, own head, decisions) and
// returns it. A store written under another genesis is refused.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	l := &Log{
		cfg:     cfg,
		logger:  cfg.Logger,
		network: cfg.Genesis.ID(),
		ix:      newIndex(cfg.Genesis),
		wanted:  make(map[Hash]struct{}),
		refused: make(map[Hash]Reason),
		heads:   make(map[PeerID]*Head),
		decided: make(map[Hash]*Decision),
		subs:    make(map[uint64]func(Decision)),
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	if err := l.checkGenesis(ctx); err != nil {
		return nil, err
	}
	if err := l.load(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Log) checkGenesis(ctx context.Context) error {
	v, err := l.cfg.Store.Get(ctx, keyGenesis)
	switch {
	case errors.Is(err, datastore.ErrNotFound):
		if err := l.cfg.Store.Put(ctx, keyGenesis, l.network[:]); err != nil {
			return fmt.Errorf("store genesis ID: %w", err)
		}
		return l.sync(ctx)
	case err != nil:
		return fmt.Errorf("read genesis ID: %w", err)
	case !bytes.Equal(v, l.network[:]):
		return fmt.Errorf("%w: store belongs to genesis %x, not %v", ErrInvalidConfig, v, l.network)
	}
	return nil
}

// load rebuilds the in-memory state from the store. Stored records were
// verified when accepted, so they are decoded but not verified again.
func (l *Log) load(ctx context.Context) error {
	var recs []*Record
	for e, err := range datastore.QueryIter(ctx, l.cfg.Store, query.Query{Prefix: prefixRecord.String()}) {
		if err != nil {
			return fmt.Errorf("load records: %w", err)
		}
		r, err := DecodeRecord(bytes.Clone(e.Value))
		if err != nil {
			return fmt.Errorf("load record %s: %w", e.Key, err)
		}
		if e.Key != recordKey(r.ID()).String() {
			return fmt.Errorf("%w: load record %s: content hash %v", ErrMalformed, e.Key, r.ID())
		}
		recs = append(recs, r)
	}
	for _, r := range recs {
		l.ix.add(r)
	}
	for _, r := range recs {
		l.wantRefs(r)
	}
	if a := l.ix.authors[l.cfg.Self.ID]; a != nil {
		l.own.seq = a.maxSeq
		l.own.last = l.ix.slots[slotKey{l.cfg.Self.ID, a.maxSeq}][0]
		l.own.time = l.ix.records[l.own.last].Time
		for _, r := range l.ix.records {
			if r.Author == l.cfg.Self.ID {
				l.own.time = max(l.own.time, r.Time)
			}
		}
	}
	if b, err := l.cfg.Store.Get(ctx, keyOwnHead); err == nil {
		h, err := DecodeHead(b)
		if err == nil && h.Author == l.cfg.Self.ID && h.Seq == l.own.seq && h.Record == l.own.last {
			l.own.head = h
		}
	} else if !errors.Is(err, datastore.ErrNotFound) {
		return fmt.Errorf("load own head: %w", err)
	}

	for e, err := range datastore.QueryIter(ctx, l.cfg.Store, query.Query{Prefix: prefixDecided.String()}) {
		if err != nil {
			return fmt.Errorf("load decisions: %w", err)
		}
		d, err := l.decodeDecision(e.Value)
		if err != nil {
			return fmt.Errorf("load decision %s: %w", e.Key, err)
		}
		l.decided[d.Proposal] = d
	}
	return nil
}

// Decisions are stored as decided-at i64 followed by the tally's canonical
// encoding.
func encodeDecision(d *Decision) []byte {
	t, _ := d.Tally.MarshalBinary()
	return append(appendI64(nil, d.DecidedAt), t...)
}

func (l *Log) decodeDecision(b []byte) (*Decision, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("%w: decision of %d bytes", ErrMalformed, len(b))
	}
	t := &Tally{}
	if err := t.UnmarshalBinary(b[8:]); err != nil {
		return nil, err
	}
	p, ok := l.ix.records[t.Proposal]
	if !ok || p.Proposal == nil {
		return nil, fmt.Errorf("%w: decided proposal %v not in store", ErrUnknownProposal, t.Proposal)
	}
	return &Decision{
		Proposal:  t.Proposal,
		Title:     p.Proposal.Title,
		Outcome:   t.Outcome,
		Tally:     t,
		Action:    p.Proposal.Action,
		DecidedAt: newReader("decision", b[:8]).i64(),
	}, nil
}

func (l *Log) sync(ctx context.Context) error {
	if err := l.cfg.Store.Sync(ctx, keyGovernance); err != nil {
		return fmt.Errorf("sync store: %w", err)
	}
	return nil
}

// CreateProposal appends a proposal to this node's log and returns its
// record; the proposal's ID is the record's ID. The deadline is now +
// duration (whole milliseconds). It returns after the record is durably
// stored; the caller then publishes it (Announcement, Head).
func (l *Log) CreateProposal(ctx context.Context, now time.Time, title, description string, duration time.Duration, quorum, threshold PPM, action Action) (*Record, error) {
	if duration < time.Millisecond || duration > MaxProposalDuration {
		return nil, fmt.Errorf("%w: duration %v: want 1ms..%v", ErrInvalidProposal, duration, MaxProposalDuration)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.cfg.Admitter.Admit(l.cfg.Self.ID, l.cfg.Self.SPIFFEID, KindProposal, now); err != nil {
		return nil, rejectCause(ReasonNotAdmitted, Hash{}, err)
	}
	t := l.nextTime(now)
	p := &Proposal{
		Title:       title,
		Description: description,
		Deadline:    t + duration.Milliseconds(),
		Quorum:      quorum,
		Threshold:   threshold,
		Action:      action,
	}
	if err := p.validate(t); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidProposal, err)
	}
	return l.appendLocked(ctx, t, Draft{Proposal: p})
}

// CastVote appends a vote on proposal to this node's log and returns its
// record. The voter is this node. Voting again on the same proposal changes
// the vote (the latest in the log counts). It refuses, with a *RejectError,
// a vote after the proposal's deadline (ReasonAfterDeadline), above this
// node's allocation (ReasonOverAllocation) or by a non-admitted node
// (ReasonNotAdmitted). It returns after the record is durably stored.
func (l *Log) CastVote(ctx context.Context, now time.Time, proposal Hash, choice Choice, tokens uint64) (*Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	pr, ok := l.ix.records[proposal]
	if !ok {
		return nil, fmt.Errorf("%w: %v", ErrUnknownProposal, proposal)
	}
	if pr.Proposal == nil {
		return nil, fmt.Errorf("%w: %v is a %v", ErrNotProposal, proposal, pr.Kind())
	}
	t := l.nextTime(now)
	if t > pr.Proposal.Deadline {
		return nil, reject(ReasonAfterDeadline, Hash{}, "vote at %d, deadline %d", t, pr.Proposal.Deadline)
	}
	if alloc := l.cfg.Genesis.Allocation(l.cfg.Self.ID, l.cfg.Self.SPIFFEID); tokens > alloc {
		return nil, reject(ReasonOverAllocation, Hash{}, "%d tokens, allocation %d", tokens, alloc)
	}
	if err := l.cfg.Admitter.Admit(l.cfg.Self.ID, l.cfg.Self.SPIFFEID, KindVote, now); err != nil {
		return nil, rejectCause(ReasonNotAdmitted, Hash{}, err)
	}
	return l.appendLocked(ctx, t, Draft{Vote: &Vote{Proposal: proposal, Choice: choice, Tokens: tokens}})
}

// nextTime is now in Unix milliseconds, but never before the log's last
// record: a log's timestamps do not decrease even if the clock steps back.
func (l *Log) nextTime(now time.Time) int64 {
	return max(now.UnixMilli(), l.own.time)
}

func (l *Log) appendLocked(ctx context.Context, t int64, d Draft) (*Record, error) {
	d.Seq = l.own.seq + 1
	d.Prev = l.own.last
	d.Time = t
	d.Identity = l.cfg.Self.SPIFFEID
	r, err := d.Sign(l.network, l.cfg.Self)
	if err != nil {
		return nil, err
	}
	h, err := SignHead(l.network, l.cfg.Self, r.Seq, r.ID(), time.UnixMilli(t))
	if err != nil {
		return nil, err
	}
	if err := l.cfg.Store.Put(ctx, recordKey(r.ID()), r.Encode()); err != nil {
		return nil, fmt.Errorf("store record: %w", err)
	}
	if err := l.cfg.Store.Put(ctx, keyOwnHead, h.Encode()); err != nil {
		return nil, fmt.Errorf("store head: %w", err)
	}
	if err := l.sync(ctx); err != nil {
		return nil, err
	}
	l.insertLocked(r)
	l.own = ownLog{seq: r.Seq, last: r.ID(), time: t, head: h}
	return r, nil
}

// Ingest accepts a record from another node (or this node's own, fetched
// back after losing its store) and returns its ID. It refuses, with a
// *RejectError, records that do not decode (ReasonMalformed), claim a
// SPIFFE ID outside the trust domain (ReasonTrustDomain), are timestamped
// beyond now + MaxClockSkew (ReasonFuture, worth retrying later), spend more
// tokens than the voter's allocation (ReasonOverAllocation), do not verify
// (ReasonBadSignature) or whose author is not admitted (ReasonNotAdmitted).
// A record already held returns ErrDuplicate. Everything else is stored
// durably before Ingest returns, including votes after their deadline and
// records that prove equivocation: the tally voids those with a reason, and
// storing them keeps every node's record set, and so its tally, the same.
func (l *Log) Ingest(ctx context.Context, now time.Time, b []byte) (Hash, error) {
	id := Hash(sha256.Sum256(b))
	return id, l.IngestAll(ctx, now, [][]byte{b})[0]
}

// IngestAll is Ingest for many records, as a sync routine fetches them:
// the records are checked one by one but stored with a single Sync. The
// i-th error is the outcome of values[i] (nil if it was accepted).
func (l *Log) IngestAll(ctx context.Context, now time.Time, values [][]byte) []error {
	errs := make([]error, len(values))
	recs := make([]*Record, len(values))
	for i, b := range values {
		id := Hash(sha256.Sum256(b))
		if errs[i] = l.precheck(id); errs[i] != nil {
			continue
		}
		r, err := DecodeRecord(b)
		if err != nil {
			errs[i] = l.refuse(rejectWrap(ReasonMalformed, id, err))
			continue
		}
		recs[i] = r
	}
	l.ingestDecoded(ctx, now, recs, errs)
	return errs
}

// precheck returns ErrDuplicate for a held record and the earlier refusal
// for a refused one, without decoding or verifying.
func (l *Log) precheck(id Hash) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ix.has(id) {
		return ErrDuplicate
	}
	if reason, ok := l.refused[id]; ok {
		return reject(reason, id, "refused before")
	}
	return nil
}

// ingestDecoded checks the non-nil records of recs (without the lock),
// then stores the accepted ones with one Sync and indexes them. It sets
// errs[i] for every record it does not accept.
func (l *Log) ingestDecoded(ctx context.Context, now time.Time, recs []*Record, errs []error) {
	for i, r := range recs {
		if r == nil {
			continue
		}
		if err := l.checkRecord(now, r); err != nil {
			errs[i], recs[i] = l.refuse(err), nil
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	stored := make([]int, 0, len(recs))
	seen := make(map[Hash]bool, len(recs))
	for i, r := range recs {
		if r == nil {
			continue
		}
		if l.ix.has(r.ID()) || seen[r.ID()] {
			errs[i] = ErrDuplicate
			continue
		}
		if err := l.cfg.Store.Put(ctx, recordKey(r.ID()), r.Encode()); err != nil {
			errs[i] = fmt.Errorf("store record: %w", err)
			continue
		}
		seen[r.ID()] = true
		stored = append(stored, i)
	}
	if len(stored) == 0 {
		return
	}
	if err := l.sync(ctx); err != nil {
		for _, i := range stored {
			errs[i] = err
		}
		return
	}
	for _, i := range stored {
		l.insertLocked(recs[i])
	}
}

// checkRecord applies every refusal rule to a decoded record, cheapest
// first. It holds no lock: verification is the expensive part.
func (l *Log) checkRecord(now time.Time, r *Record) *RejectError {
	id := r.ID()
	if err := l.cfg.Genesis.checkIdentity(r.Identity); err != nil {
		return rejectWrap(ReasonTrustDomain, id, err)
	}
	if limit := now.Add(l.cfg.MaxClockSkew).UnixMilli(); r.Time > limit {
		return reject(ReasonFuture, id, "timestamp %d, receiver's limit %d", r.Time, limit)
	}
	if v := r.Vote; v != nil {
		if alloc := l.cfg.Genesis.Allocation(r.Author, r.Identity); v.Tokens > alloc {
			return reject(ReasonOverAllocation, id, "%d tokens, allocation %d", v.Tokens, alloc)
		}
	}
	if err := r.Verify(l.network, l.cfg.Verifier); err != nil {
		return rejectWrap(ReasonBadSignature, id, err)
	}
	if err := l.cfg.Admitter.Admit(r.Author, r.Identity, r.Kind(), now); err != nil {
		return rejectCause(ReasonNotAdmitted, id, err)
	}
	return nil
}

// refuse returns err after remembering the refusal, so that Missing stops
// asking for the record, if it can never change: a future timestamp passes
// later and the policy engine may admit an identity later, so those are
// checked again on every offer.
func (l *Log) refuse(err *RejectError) error {
	l.logger.Debug("governance record refused", "id", err.Hash, "reason", err.Reason, "err", err.Err)
	if err.Reason == ReasonFuture || err.Reason == ReasonNotAdmitted {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.refused) >= maxRefused {
		clear(l.refused)
	}
	l.refused[err.Hash] = err.Reason
	delete(l.wanted, err.Hash)
	return err
}

// insertLocked adds a stored record to the index and updates what is
// wanted.
func (l *Log) insertLocked(r *Record) {
	_, forked := l.ix.add(r)
	delete(l.wanted, r.ID())
	l.wantRefs(r)
	if r.Author == l.cfg.Self.ID {
		// One of this node's own records, fetched back after its store was
		// lost: continue the log after it.
		if r.Seq > l.own.seq {
			l.own.seq, l.own.last, l.own.head = r.Seq, r.ID(), nil
		}
		l.own.time = max(l.own.time, r.Time)
	}
	if forked {
		l.logger.Warn("governance equivocation", "author", r.Author, "seq", r.Seq, "void_from", l.ix.forkSeq(r.Author))
	}
}

// wantRefs marks the records r names (its prev, its proposal) as wanted if
// they are neither held nor refused.
func (l *Log) wantRefs(r *Record) {
	if r.Seq > 1 {
		l.want(r.Prev)
	}
	if r.Vote != nil {
		l.want(r.Vote.Proposal)
	}
}

func (l *Log) want(id Hash) {
	if l.ix.has(id) {
		return
	}
	if _, ok := l.refused[id]; ok {
		return
	}
	l.wanted[id] = struct{}{}
}

// IngestHead accepts another author's head, as fetched from the DHT under
// /x0log/<author>. It refuses heads that do not decode, are timestamped
// beyond now + MaxClockSkew or do not verify, and returns ErrDuplicate for
// the head already held. A head naming a record the log lacks makes that
// record wanted (see Missing); two heads with one seq and different records
// are recorded as evidence.
func (l *Log) IngestHead(ctx context.Context, now time.Time, b []byte) error {
	h, err := DecodeHead(b)
	if err != nil {
		return rejectWrap(ReasonMalformed, sha256.Sum256(b), err)
	}
	return l.ingestHead(now, h)
}

func (l *Log) ingestHead(now time.Time, h *Head) error {
	id := Hash(sha256.Sum256(h.raw))
	if limit := now.Add(l.cfg.MaxClockSkew).UnixMilli(); h.Time > limit {
		return reject(ReasonFuture, id, "head timestamp %d, receiver's limit %d", h.Time, limit)
	}
	if err := h.Verify(l.network, l.cfg.Verifier); err != nil {
		return rejectWrap(ReasonBadSignature, id, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.heads[h.Author]
	if cur != nil && bytes.Equal(cur.raw, h.raw) {
		return ErrDuplicate
	}
	if cur != nil && cur.Seq == h.Seq && cur.Record != h.Record {
		l.recordHeadFork(cur, h)
	}
	if cur == nil || betterHead(h, cur) {
		l.heads[h.Author] = h
	}
	l.want(h.Record)
	return nil
}

func (l *Log) recordHeadFork(a, b *Head) {
	if bytes.Compare(a.raw, b.raw) > 0 {
		a, b = b, a
	}
	for _, e := range l.headEv {
		if bytes.Equal(e.A, a.raw) && bytes.Equal(e.B, b.raw) {
			return
		}
	}
	l.headEv = append(l.headEv, &Evidence{Author: a.Author, Seq: a.Seq, Kind: EvidenceHeadFork, A: a.raw, B: b.raw})
	l.logger.Warn("governance head equivocation", "author", a.Author, "seq", a.Seq)
}

// IngestAnnouncement handles a message from Topic: it decodes it, checks
// that from (the pubsub message's signing peer) is its author and that its
// head is fresh, then ingests the head and the record it carries. It
// returns ErrDuplicate if nothing in it was new; a gossip validator maps
// that and ErrStale to "ignore", and other errors to "reject".
func (l *Log) IngestAnnouncement(ctx context.Context, now time.Time, from PeerID, b []byte) error {
	a, err := DecodeAnnouncement(b)
	if err != nil {
		return rejectWrap(ReasonMalformed, sha256.Sum256(b), err)
	}
	if err := a.Check(now, from, l.cfg.AnnounceMaxAge, l.cfg.MaxClockSkew); err != nil {
		return err
	}
	headErr := l.ingestHead(now, a.Head)
	if headErr != nil && !errors.Is(headErr, ErrDuplicate) {
		return headErr
	}
	if a.Record == nil {
		return headErr
	}
	if err := l.precheck(a.Record.ID()); err != nil {
		if errors.Is(err, ErrDuplicate) && headErr == nil {
			return nil
		}
		return err
	}
	errs := []error{nil}
	l.ingestDecoded(ctx, now, []*Record{a.Record}, errs)
	return errs[0]
}

// Missing returns, sorted, the IDs of records the log knows of but does not
// hold: predecessors of held records, proposals named by held votes, and
// records named by heads. A sync routine fetches each from the DHT
// (/x0rec/<id>), passes it to Ingest, and repeats until Missing is empty;
// that walks every author's log back to its first record.
func (l *Log) Missing() []Hash {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.SortedFunc(maps.Keys(l.wanted), compareHash)
}

// Unavailable tells the log that the sync routine could not fetch id. It
// stops counting as missing (and so stops postponing decisions) until a
// newly accepted record or head names it again.
func (l *Log) Unavailable(id Hash) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.wanted, id)
}

// Head returns this node's signed head, or nil before its first record.
// The driver stores it in the DHT under HeadKey(self). The head is re-signed
// at now when it is older than half of AnnounceMaxAge, or when the log's tip
// came from elsewhere (records fetched back after losing the store).
func (l *Log) Head(ctx context.Context, now time.Time) (*Head, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.freshHeadLocked(ctx, now)
}

func (l *Log) freshHeadLocked(ctx context.Context, now time.Time) (*Head, error) {
	if l.own.seq == 0 {
		return nil, nil
	}
	if l.own.head != nil && now.Sub(time.UnixMilli(l.own.head.Time)) < l.cfg.AnnounceMaxAge/2 {
		return l.own.head, nil
	}
	h, err := SignHead(l.network, l.cfg.Self, l.own.seq, l.own.last, now)
	if err != nil {
		return nil, err
	}
	if err := l.cfg.Store.Put(ctx, keyOwnHead, h.Encode()); err != nil {
		return nil, fmt.Errorf("store head: %w", err)
	}
	l.own.head = h
	return h, nil
}

// Announcement returns the message announcing this node's latest record on
// Topic (with a head as Head returns it), or nil before its first record.
func (l *Log) Announcement(ctx context.Context, now time.Time) (*Announcement, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, err := l.freshHeadLocked(ctx, now)
	if h == nil || err != nil {
		return nil, err
	}
	return NewAnnouncement(h, l.ix.records[l.own.last])
}

// Record returns the held record with ID id.
func (l *Log) Record(id Hash) (*Record, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.ix.records[id]
	return r, ok
}

// Records returns the held records of author in log order (by seq, then
// ID for a fork). The driver republishes its own with Records(self).
func (l *Log) Records(author PeerID) []*Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*Record
	for _, r := range l.ix.records {
		if r.Author == author {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *Record) int {
		return cmp.Or(cmp.Compare(a.Seq, b.Seq), compareHash(a.ID(), b.ID()))
	})
	return out
}

// All returns every held record, sorted by ID: the input of Count.
func (l *Log) All() []*Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.SortedFunc(maps.Values(l.ix.records), func(a, b *Record) int { return compareHash(a.ID(), b.ID()) })
}

// Evidence returns every proof of equivocation the log holds: forks and
// broken chains among its records, then forked heads.
func (l *Log) Evidence() []*Evidence {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append(l.ix.evidence(), l.headEv...)
}

// Tally counts proposal over the records held now (for an undecided
// proposal, the provisional count). It equals Count over All.
func (l *Log) Tally(proposal Hash) (*Tally, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ix.tally(proposal)
}

// Decision returns this node's decision on proposal, if taken.
func (l *Log) Decision(proposal Hash) (*Decision, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d, ok := l.decided[proposal]
	return d, ok
}

// Proposals lists the proposals held, by deadline then ID, with their state
// at now.
func (l *Log) Proposals(now time.Time) []ProposalInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]ProposalInfo, 0, len(l.ix.proposals))
	for id, r := range l.ix.proposals {
		p := r.Proposal
		info := ProposalInfo{
			ID: id, Author: r.Author, Title: p.Title, Description: p.Description,
			Created: r.Time, Deadline: p.Deadline, Quorum: p.Quorum, Threshold: p.Threshold,
			Action: p.Action, State: StateOpen,
		}
		if d, ok := l.decided[id]; ok {
			info.State = StateRejected
			if d.Outcome == Passed {
				info.State = StatePassed
			}
		} else if now.UnixMilli() > p.Deadline {
			info.State = StateClosing
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b ProposalInfo) int {
		return cmp.Or(cmp.Compare(a.Deadline, b.Deadline), compareHash(a.ID, b.ID))
	})
	return out
}

// CheckProposals decides every proposal whose deadline + SettleDelay has
// passed at now and returns the new decisions, by deadline then ID; each
// proposal is returned once, ever. While records are missing (see Missing)
// it waits up to SyncWait longer. Decisions are stored durably before they
// are returned; then the subscribers receive the passed ones that carry an
// action, on the caller's goroutine.
//
// A node that has just started, or rejoined after a partition, should
// complete a sync round (fetch heads, walk logs) before calling it.
func (l *Log) CheckProposals(ctx context.Context, now time.Time) ([]Decision, error) {
	l.mu.Lock()
	nowMs := now.UnixMilli()
	settle, wait := l.cfg.SettleDelay.Milliseconds(), l.cfg.SyncWait.Milliseconds()
	var due []*Record
	for id, r := range l.ix.proposals {
		if _, ok := l.decided[id]; ok {
			continue
		}
		closeAt := r.Proposal.Deadline + settle
		if nowMs < closeAt || (len(l.wanted) > 0 && nowMs < closeAt+wait) {
			continue
		}
		due = append(due, r)
	}
	slices.SortFunc(due, func(a, b *Record) int {
		return cmp.Or(cmp.Compare(a.Proposal.Deadline, b.Proposal.Deadline), compareHash(a.ID(), b.ID()))
	})
	decisions := make([]*Decision, 0, len(due))
	for _, r := range due {
		t, err := l.ix.tally(r.ID())
		if err != nil {
			l.mu.Unlock()
			return nil, err
		}
		d := &Decision{
			Proposal: r.ID(), Title: r.Proposal.Title, Outcome: t.Outcome,
			Tally: t, Action: r.Proposal.Action, DecidedAt: nowMs,
		}
		if err := l.cfg.Store.Put(ctx, decidedKey(d.Proposal), encodeDecision(d)); err != nil {
			l.mu.Unlock()
			return nil, fmt.Errorf("store decision: %w", err)
		}
		decisions = append(decisions, d)
	}
	if len(decisions) > 0 {
		if err := l.sync(ctx); err != nil {
			l.mu.Unlock()
			return nil, err
		}
	}
	out := make([]Decision, len(decisions))
	for i, d := range decisions {
		l.decided[d.Proposal] = d
		out[i] = *d
		if len(l.wanted) > 0 {
			l.logger.Warn("governance decision taken with records missing", "proposal", d.Proposal, "missing", len(l.wanted))
		}
	}
	subs := slices.Collect(maps.Values(l.subs))
	l.mu.Unlock()

	for _, d := range out {
		if d.Outcome != Passed || d.Action == nil {
			continue
		}
		for _, fn := range subs {
			fn(d)
		}
	}
	return out, nil
}

// Decisions returns every decision taken, by deadline then proposal ID.
func (l *Log) Decisions() []Decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Decision, 0, len(l.decided))
	for _, d := range l.decided {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b Decision) int {
		return cmp.Or(cmp.Compare(a.Tally.Deadline, b.Tally.Deadline), compareHash(a.Proposal, b.Proposal))
	})
	return out
}

// Subscribe registers fn to receive every passed decision that carries an
// action (a *Quarantine for the policy engine, say), as CheckProposals
// takes it. fn runs on the goroutine calling CheckProposals, without the
// log's lock held, so it may call the Log; it must not block. Decisions
// taken before Subscribe are not replayed (see Decisions). The returned
// function unsubscribes; calling it twice is harmless.
func (l *Log) Subscribe(fn func(Decision)) (cancel func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	id := l.nextSub
	l.nextSub++
	l.subs[id] = fn
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.subs, id)
	}
}
