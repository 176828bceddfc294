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
	"strings"
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
	prefixDamaged = datastore.NewKey("/gov/damaged")
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
// tallies with the pure rules of Count, and starts no goroutines. Its
// outputs are return values: CheckProposals returns the decisions it takes
// (once each), and whoever drives the Log hands them on. It is safe for
// concurrent use; time is always passed in.
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
	damaged damage
	// unsynced says why the log refuses to write (ErrNotSynced) until
	// SyncDone: its store was empty or damaged when it opened, so it may
	// lack some of this node's own records. "" once writes are safe.
	unsynced string
	// roundFrom is when (Unix ms, this node's clock) the latest sync round
	// reported by SyncRoundDone began: every head of a member and of a
	// known author signed before then has been fetched and walked.
	roundFrom int64
}

// damage counts what Open found damaged in the store and set aside.
type damage struct {
	records   int
	decisions int
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
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	fresh, err := l.checkGenesis(ctx)
	if err != nil {
		return nil, err
	}
	if fresh {
		l.unsynced = "the store was empty (a new node, or one that lost its store)"
	}
	if err := l.load(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// checkGenesis stores the genesis ID in an empty store (fresh) and refuses
// a store of another network.
func (l *Log) checkGenesis(ctx context.Context) (fresh bool, err error) {
	v, err := l.cfg.Store.Get(ctx, keyGenesis)
	switch {
	case errors.Is(err, datastore.ErrNotFound):
		if err := l.cfg.Store.Put(ctx, keyGenesis, l.network[:]); err != nil {
			return false, fmt.Errorf("store genesis ID: %w", err)
		}
		return true, l.sync(ctx)
	case err != nil:
		return false, fmt.Errorf("read genesis ID: %w", err)
	case !bytes.Equal(v, l.network[:]):
		return false, fmt.Errorf("%w: store belongs to genesis %x, not %v", ErrInvalidConfig, v, l.network)
	}
	return false, nil
}

// load rebuilds the in-memory state from the store. Stored records were
// verified when accepted, so they are decoded but not verified again; a
// record whose bytes no longer hash to its key, or do not decode, and a
// decision whose checksum fails, are damaged: each is moved under
// /gov/damaged, counted (Status), and logged, and the node starts without
// it. A damaged record is wanted again (Missing names it, so the sync
// refetches it); a damaged decision is taken again when CheckProposals
// next runs.
func (l *Log) load(ctx context.Context) error {
	var recs []*Record
	var bad []datastore.Key
	for e, err := range datastore.QueryIter(ctx, l.cfg.Store, query.Query{Prefix: prefixRecord.String()}) {
		if err != nil {
			return fmt.Errorf("load records: %w", err)
		}
		r, err := loadRecord(e.Key, e.Value)
		if err != nil {
			l.logger.Warn("governance record damaged in the store; set aside to refetch", "key", e.Key, "err", err)
			bad = append(bad, datastore.NewKey(e.Key))
			continue
		}
		recs = append(recs, r)
	}
	for _, r := range recs {
		l.ix.add(r)
	}
	for _, r := range recs {
		l.wantRefs(r)
	}
	if len(bad) > 0 {
		if err := l.setAside(ctx, bad); err != nil {
			return err
		}
		l.damaged.records = len(bad)
		// One of them may have been this node's own: its log may now look
		// shorter than it is.
		l.unsynced = fmt.Sprintf("%d damaged records were set aside", len(bad))
		for _, k := range bad {
			if id, err := ParseHash(k.BaseNamespace()); err == nil {
				l.want(id)
			}
		}
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
	if err := l.loadOwnHead(ctx); err != nil {
		return err
	}

	bad = bad[:0]
	for e, err := range datastore.QueryIter(ctx, l.cfg.Store, query.Query{Prefix: prefixDecided.String()}) {
		if err != nil {
			return fmt.Errorf("load decisions: %w", err)
		}
		d, err := l.decodeDecision(e.Key, e.Value)
		if err != nil {
			l.logger.Warn("governance decision damaged in the store; set aside to decide again", "key", e.Key, "err", err)
			bad = append(bad, datastore.NewKey(e.Key))
			continue
		}
		l.decided[d.Proposal] = d
	}
	if len(bad) > 0 {
		if err := l.setAside(ctx, bad); err != nil {
			return err
		}
		l.damaged.decisions = len(bad)
	}
	return nil
}

// loadRecord decodes a stored record and checks it against its key (the
// key names the SHA-256 of the value: the checksum).
func loadRecord(key string, value []byte) (*Record, error) {
	if want := datastore.NewKey(key).BaseNamespace(); want != Hash(sha256.Sum256(value)).String() {
		return nil, fmt.Errorf("%w: content does not hash to its key", ErrMalformed)
	}
	return DecodeRecord(bytes.Clone(value))
}

// loadOwnHead reads this node's own head. A head that names a later record
// than the log holds (the store lost some of the node's own records), or
// one that does not decode, makes the log unsynced, with the head's record
// wanted.
func (l *Log) loadOwnHead(ctx context.Context) error {
	b, err := l.cfg.Store.Get(ctx, keyOwnHead)
	switch {
	case errors.Is(err, datastore.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("load own head: %w", err)
	}
	h, err := DecodeHead(b)
	switch {
	case err != nil || h.Author != l.cfg.Self.ID:
		l.logger.Warn("own governance head damaged in the store; writing waits for a sync", "err", err)
		l.unsynced = "the node's own head was damaged"
	case h.Seq > l.own.seq || (h.Seq == l.own.seq && h.Record != l.own.last):
		l.unsynced = fmt.Sprintf("the node's own head names record %d, the store holds %d", h.Seq, l.own.seq)
		l.want(h.Record)
	case h.Seq == l.own.seq:
		l.own.head = h
	}
	return nil
}

// setAside moves damaged values under /gov/damaged (same path below /gov),
// where an operator can inspect them, and syncs.
func (l *Log) setAside(ctx context.Context, keys []datastore.Key) error {
	for _, k := range keys {
		v, err := l.cfg.Store.Get(ctx, k)
		if err != nil {
			return fmt.Errorf("set aside %s: %w", k, err)
		}
		rel := strings.TrimPrefix(k.String(), keyGovernance.String())
		if err := l.cfg.Store.Put(ctx, prefixDamaged.Child(datastore.NewKey(rel)), v); err != nil {
			return fmt.Errorf("set aside %s: %w", k, err)
		}
		if err := l.cfg.Store.Delete(ctx, k); err != nil {
			return fmt.Errorf("set aside %s: %w", k, err)
		}
	}
	return l.sync(ctx)
}

// decisionFormat is the first byte of a stored decision.
const decisionFormat = 1

// Decisions are stored as
//
//	format u8 (1) | decided-at i64 | the tally's canonical encoding | SHA-256 of the preceding bytes
//
// The checksum catches a damaged value that would still decode (a flipped
// bit in a threshold reads back as another threshold).
func encodeDecision(d *Decision) []byte {
	t, _ := d.Tally.MarshalBinary()
	b := appendI64(appendU8(make([]byte, 0, 1+8+len(t)+sha256.Size), decisionFormat), d.DecidedAt)
	b = append(b, t...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

func (l *Log) decodeDecision(key string, b []byte) (*Decision, error) {
	if len(b) < 1+8+sha256.Size || b[0] != decisionFormat {
		return nil, fmt.Errorf("%w: decision of %d bytes, not of format %d", ErrMalformed, len(b), decisionFormat)
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, fmt.Errorf("%w: decision checksum", ErrMalformed)
	}
	t := &Tally{}
	if err := t.UnmarshalBinary(body[9:]); err != nil {
		return nil, err
	}
	if want := datastore.NewKey(key).BaseNamespace(); t.Proposal.String() != want {
		return nil, fmt.Errorf("%w: decision of %v under %s", ErrMalformed, t.Proposal, key)
	}
	p, ok := l.ix.records[t.Proposal]
	if !ok || p.Proposal == nil {
		return nil, fmt.Errorf("%w: decided proposal %v not in store", ErrUnknownProposal, t.Proposal)
	}
	if t.Deadline != p.Proposal.Deadline || t.Quorum != p.Proposal.Quorum || t.Threshold != p.Proposal.Threshold {
		return nil, fmt.Errorf("%w: decision does not match proposal %v", ErrMalformed, t.Proposal)
	}
	return &Decision{
		Proposal:  t.Proposal,
		Title:     p.Proposal.Title,
		Outcome:   t.Outcome,
		Tally:     t,
		Action:    p.Proposal.Action,
		DecidedAt: newReader("decision", body[1:9]).i64(),
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
// stored; the caller then publishes it (Announcement, Head). It refuses
// with ErrNotSynced before SyncDone when the log may lack some of this
// node's own records, and with a *RejectError (ReasonNotAdmitted,
// ReasonUnbound, ReasonQuarantined) when the node may not propose.
func (l *Log) CreateProposal(ctx context.Context, now time.Time, title, description string, duration time.Duration, quorum, threshold PPM, action Action) (*Record, error) {
	if duration < time.Millisecond || duration > MaxProposalDuration {
		return nil, fmt.Errorf("%w: duration %v: want 1ms..%v", ErrInvalidProposal, duration, MaxProposalDuration)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(now, KindProposal); err != nil {
		return nil, err
	}
	if l.membershipLocked().Quarantined(l.cfg.Self.ID) {
		return nil, reject(ReasonQuarantined, Hash{}, "this node is quarantined")
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
// a vote after the proposal's deadline (ReasonAfterDeadline), by a node
// that holds no tokens at the proposal's place in deadline order
// (ReasonNotMember, ReasonQuarantined) or fewer than tokens
// (ReasonOverAllocation), or by a non-admitted node (ReasonNotAdmitted,
// ReasonUnbound); and with ErrNotSynced as CreateProposal does. It
// returns after the record is durably stored.
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
	if err := l.writableLocked(now, KindVote); err != nil {
		return nil, err
	}
	t := l.nextTime(now)
	if t > pr.Proposal.Deadline {
		return nil, reject(ReasonAfterDeadline, Hash{}, "vote at %d, deadline %d", t, pr.Proposal.Deadline)
	}
	m := l.ix.membershipAt(pr, false)
	switch alloc := m.Allocation(l.cfg.Self.ID, l.cfg.Self.SPIFFEID); {
	case m.Quarantined(l.cfg.Self.ID):
		return nil, reject(ReasonQuarantined, Hash{}, "this node is quarantined")
	case alloc == 0:
		return nil, reject(ReasonNotMember, Hash{}, "this node holds no tokens (allocation 0)")
	case tokens > alloc:
		return nil, reject(ReasonOverAllocation, Hash{}, "%d tokens, allocation %d", tokens, alloc)
	}
	return l.appendLocked(ctx, t, Draft{Vote: &Vote{Proposal: proposal, Choice: choice, Tokens: tokens}})
}

// writableLocked refuses a write while the log is unsynced or knows of a
// later record of its own than it holds, and when the node's own identity
// is not admitted or its SPIFFE ID claim not bound.
func (l *Log) writableLocked(now time.Time, kind Kind) error {
	if l.unsynced != "" {
		return fmt.Errorf("%w: %s; writing resumes after the first sync", ErrNotSynced, l.unsynced)
	}
	if h := l.heads[l.cfg.Self.ID]; h != nil && h.Seq > l.own.seq {
		return fmt.Errorf("%w: this node's head names record %d, the log holds %d (fetching it)", ErrNotSynced, h.Seq, l.own.seq)
	}
	self := l.cfg.Self
	if self.SPIFFEID != "" {
		if err := l.bind(self.ID, self.Key, self.SPIFFEID, now); err != nil {
			return rejectCause(ReasonUnbound, Hash{}, err)
		}
	}
	if err := l.cfg.Admitter.Admit(self.ID, self.Key, self.SPIFFEID, kind, now); err != nil {
		return rejectCause(ReasonNotAdmitted, Hash{}, err)
	}
	return nil
}

// bind asks the Binder about a SPIFFE ID claim; without one, no claim is
// bound.
func (l *Log) bind(author PeerID, key []byte, spiffeID string, at time.Time) error {
	if l.cfg.Binder == nil {
		return errors.New("no binder: SPIFFE ID claims are not accepted")
	}
	return l.cfg.Binder.Bind(author, key, spiffeID, at)
}

// SyncDone tells the log that a sync round has completed: it fetched the
// heads it could reach, this node's own included, and walked their logs.
// A log that opened on an empty or damaged store refuses writes
// (ErrNotSynced) until then, so that a node that lost its store never
// writes a second record with a sequence number it used before.
func (l *Log) SyncDone() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.unsynced != "" {
		l.logger.Debug("governance log synced; writing resumes", "was", l.unsynced, "own_seq", l.own.seq)
		l.unsynced = ""
	}
}

// SyncRoundDone tells the log that a sync round that began at began has
// completed: it fetched the head of every member in force and of every
// author it knew of, from the DHT, and walked their logs (the records it
// could not fetch yet are Missing). A proposal is decided only once such a
// round began at or after its deadline + SettleDelay and nothing is
// missing, or SyncWait after that (see CheckProposals), so that a vote a
// node never heard of in gossip is still counted: the round finds it in
// its author's head. Earlier rounds than one already reported change
// nothing.
func (l *Log) SyncRoundDone(began time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roundFrom = max(l.roundFrom, began.UnixMilli())
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
// first. It holds no lock: verification is the expensive part. It does not
// judge a vote's tokens: allocations change by governance, so the tally
// does, at the vote's proposal's place in deadline order.
func (l *Log) checkRecord(now time.Time, r *Record) *RejectError {
	id := r.ID()
	if err := l.cfg.Genesis.checkIdentity(r.Identity); err != nil {
		return rejectWrap(ReasonTrustDomain, id, err)
	}
	if limit := now.Add(l.cfg.MaxClockSkew).UnixMilli(); r.Time > limit {
		return reject(ReasonFuture, id, "timestamp %d, receiver's limit %d", r.Time, limit)
	}
	if err := r.Verify(l.network, l.cfg.Verifier); err != nil {
		return rejectWrap(ReasonBadSignature, id, err)
	}
	if r.Identity != "" {
		if err := l.bind(r.Author, r.Key, r.Identity, r.TimeOf()); err != nil {
			return rejectCause(ReasonUnbound, id, err)
		}
	}
	if err := l.cfg.Admitter.Admit(r.Author, r.Key, r.Identity, r.Kind(), now); err != nil {
		return rejectCause(ReasonNotAdmitted, id, err)
	}
	return nil
}

// refuse returns err after remembering the refusal, so that Missing stops
// asking for the record. A refusal that may change is not remembered (a
// future timestamp passes later; the policy engine may admit an identity,
// and the Binder learn a binding, later): the record is then only no longer
// wanted, so that decisions do not wait for it, until a head or record
// names it again.
func (l *Log) refuse(err *RejectError) error {
	l.logger.Debug("governance record refused", "id", err.Hash, "reason", err.Reason, "err", err.Err)
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.wanted, err.Hash)
	switch err.Reason {
	case ReasonFuture, ReasonNotAdmitted, ReasonUnbound:
		return err
	}
	if len(l.refused) >= maxRefused {
		clear(l.refused)
	}
	l.refused[err.Hash] = err.Reason
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
// the head already held and ErrStale for one that cannot tell anything new
// (a lower seq than the held head's, or the held head's seq and record
// signed no later), both before verifying anything: replays cost no
// signature check. A head naming a record the log lacks makes that record
// wanted (see Missing); two heads with one seq and different records are
// recorded as evidence.
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
	if err := l.headNews(h); err != nil {
		return err
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

// headNews returns ErrDuplicate or ErrStale for a head that cannot change
// anything the log holds, judged against the author's held head without
// verifying h: the held head itself; one with a lower seq (the held head
// leads to every earlier record); one with the same seq and record signed
// no later; and one whose disagreement with the held head is recorded
// evidence already. Anything else (a later head, or one that would be new
// evidence of equivocation) is worth a signature check.
func (l *Log) headNews(h *Head) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.heads[h.Author]
	switch {
	case cur == nil:
		return nil
	case bytes.Equal(cur.raw, h.raw):
		return ErrDuplicate
	case h.Seq < cur.Seq:
		return fmt.Errorf("%w: head seq %d of %v, %d held", ErrStale, h.Seq, h.Author, cur.Seq)
	case h.Seq == cur.Seq && h.Record == cur.Record && h.Time <= cur.Time:
		return fmt.Errorf("%w: head seq %d of %v signed at %d, %d held", ErrStale, h.Seq, h.Author, h.Time, cur.Time)
	case h.Seq == cur.Seq && h.Record != cur.Record && l.headForkKnown(cur, h):
		return ErrDuplicate
	}
	return nil
}

// headForkKnown reports whether heads a and b are recorded evidence.
func (l *Log) headForkKnown(a, b *Head) bool {
	if bytes.Compare(a.raw, b.raw) > 0 {
		a, b = b, a
	}
	for _, e := range l.headEv {
		if bytes.Equal(e.A, a.raw) && bytes.Equal(e.B, b.raw) {
			return true
		}
	}
	return false
}

func (l *Log) recordHeadFork(a, b *Head) {
	if l.headForkKnown(a, b) {
		return
	}
	if bytes.Compare(a.raw, b.raw) > 0 {
		a, b = b, a
	}
	l.headEv = append(l.headEv, &Evidence{Author: a.Author, Seq: a.Seq, Kind: EvidenceHeadFork, A: a.raw, B: b.raw})
	l.logger.Warn("governance head equivocation", "author", a.Author, "seq", a.Seq)
}

// IngestAnnouncement handles a message from Topic: it decodes it, checks
// that from (the pubsub message's signing peer) is its author and that its
// head is fresh, then ingests the head and the record it carries. It
// returns ErrDuplicate if nothing in it was new and ErrStale if its head
// is older than the one held, both found before any signature is
// verified, so that a replayed announcement costs no verification; a
// gossip validator maps both to "ignore", and other errors to "reject".
func (l *Log) IngestAnnouncement(ctx context.Context, now time.Time, from PeerID, b []byte) error {
	a, err := DecodeAnnouncement(b)
	if err != nil {
		return rejectWrap(ReasonMalformed, sha256.Sum256(b), err)
	}
	if err := a.Check(now, from, l.cfg.AnnounceMaxAge, l.cfg.MaxClockSkew); err != nil {
		return err
	}
	headErr := l.ingestHead(now, a.Head)
	if headErr != nil && !errors.Is(headErr, ErrDuplicate) && !errors.Is(headErr, ErrStale) {
		return headErr
	}
	if a.Record == nil {
		return headErr
	}
	if err := l.precheck(a.Record.ID()); err != nil {
		if errors.Is(err, ErrDuplicate) && headErr == nil {
			return nil
		}
		if errors.Is(err, ErrDuplicate) && errors.Is(headErr, ErrStale) {
			return headErr
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
// proposal is returned once, ever. It decides a proposal once a sync round
// that began at or after its deadline + SettleDelay has completed (see
// SyncRoundDone) and no record is missing (see Missing); failing that, it
// waits up to SyncWait longer and then decides with what it holds (a
// partitioned node still decides, and logs that it did). Decisions are stored durably before they
// are returned. The returned decisions are the Log's only output of them:
// the caller hands them to whatever acts on them (Decisions lists them all
// again, after a restart say). A passed Admit, Evict or Quarantine also
// changes the membership that later proposals are tallied under, on its own
// (see Membership): nothing needs feeding back.
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
		if nowMs < closeAt || (!l.settledLocked(closeAt) && nowMs < closeAt+wait) {
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
		if !l.settledLocked(d.Tally.Deadline + settle) {
			l.logger.Warn("governance decision taken without a complete sync round after the deadline (partitioned?)",
				"proposal", d.Proposal, "missing", len(l.wanted), "last_round_began_ms", l.roundFrom)
		}
	}
	l.mu.Unlock()
	return out, nil
}

// settledLocked says whether a proposal due at closeAt (deadline +
// SettleDelay) can be decided without waiting: a sync round that began at
// or after closeAt has completed and no record is missing.
func (l *Log) settledLocked(closeAt int64) bool {
	return l.roundFrom >= closeAt && len(l.wanted) == 0
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

// Membership returns the membership in force after every proposal this
// node has decided: the genesis, then each passed Admit, Evict and
// Quarantine in deadline order (outcomes as the records held now tally
// them). The node feeds its policy engine's quarantine list from it.
func (l *Log) Membership() *Membership {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.membershipLocked()
}

func (l *Log) membershipLocked() *Membership {
	var last *Record
	for id := range l.decided {
		r := l.ix.proposals[id]
		if r != nil && changesMembership(r.Proposal.Action) && (last == nil || compareFold(r, last) > 0) {
			last = r
		}
	}
	if last == nil {
		return newMembership(l.cfg.Genesis)
	}
	return l.ix.membershipAt(last, true)
}

// Status is a summary of the log for operators (gov status, /metrics).
type Status struct {
	Records   int `json:"records"`
	Authors   int `json:"authors"`
	Proposals int `json:"proposals"`
	Decided   int `json:"decided"`
	// Missing counts records the log knows of but does not hold.
	Missing  int `json:"missing"`
	Evidence int `json:"evidence"`
	// DamagedRecords and DamagedDecisions count the values Open found
	// damaged in the store and set aside under /gov/damaged (records are
	// refetched, decisions taken again).
	DamagedRecords   int `json:"damaged_records"`
	DamagedDecisions int `json:"damaged_decisions"`
	// Writable is false while the log refuses to write (ErrNotSynced);
	// NotSynced then says why.
	Writable  bool   `json:"writable"`
	NotSynced string `json:"not_synced,omitempty"`
}

// Status returns the log's summary.
func (l *Log) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := Status{
		Records: len(l.ix.records), Authors: len(l.ix.authors), Proposals: len(l.ix.proposals),
		Decided: len(l.decided), Missing: len(l.wanted),
		Evidence:       len(l.ix.evidence()) + len(l.headEv),
		DamagedRecords: l.damaged.records, DamagedDecisions: l.damaged.decisions,
		Writable: l.unsynced == "", NotSynced: l.unsynced,
	}
	if h := l.heads[l.cfg.Self.ID]; st.Writable && h != nil && h.Seq > l.own.seq {
		st.Writable = false
		st.NotSynced = fmt.Sprintf("this node's head names record %d, the log holds %d", h.Seq, l.own.seq)
	}
	return st
}
