package replication

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
)

// Config configures a Driver. Log, Author, Genesis and Network are required;
// the timing fields default to DefaultConfig's when zero.
type Config struct {
	// Log is the node's governance log.
	Log *consensus.Log
	// Author is the node's identity, the author of Log's own records (the
	// Log's Config.Self): the driver signs closing heads with it.
	Author consensus.Author
	// Genesis is the genesis Log was opened with; its listed peers are
	// known authors.
	Genesis *consensus.Genesis
	// Network reaches the DHT, the gossip topic and the peers.
	Network Network
	// Logger receives sync failures (debug) and decisions (info); nil
	// discards them.
	Logger *slog.Logger
	// Ready, once closed, lets the driver start syncing and publishing
	// (a node closes it when it has reached a bootstrap peer); nil means
	// at once.
	Ready <-chan struct{}
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Apply receives the decisions, the driver's one output of them: at
	// Start every decision the Log took before (in deadline order, so that
	// state kept in memory, a policy engine's quarantine list, is rebuilt
	// after a restart), then each new one as the Log takes it. It runs on
	// the sync goroutine and must not block; it may call the Log. Nil
	// discards the decisions (they are still logged and in the Log).
	Apply func(consensus.Decision)

	// SettleDelay must be the Log's: a proposal is due for a decision at
	// its deadline + SettleDelay, when the driver runs the pre-decision
	// sync round.
	SettleDelay time.Duration
	// AnnounceMaxAge must be the Log's: the driver re-announces its head
	// every AnnounceMaxAge/2, when the Log re-signs it.
	AnnounceMaxAge time.Duration
	// CheckInterval is how often the driver calls CheckProposals.
	CheckInterval time.Duration
	// SyncInterval is how often the driver fetches the heads of the
	// authors it knows and walks their logs.
	SyncInterval time.Duration
	// RepublishInterval is how often the driver puts all its own records,
	// its head and its author advertisement in the DHT again. Keep it well
	// under the DHT's record lifetime (36 h in go-libp2p-kad-dht).
	RepublishInterval time.Duration
	// FetchTimeout bounds one DHT get or put.
	FetchTimeout time.Duration
	// FetchConcurrency is how many DHT gets a sync round runs at once.
	FetchConcurrency int
	// RetryInterval is the wait before fetching again a record the DHT did
	// not have or could not deliver, and the first wait before putting
	// again after a failed put (doubling up to RepublishInterval).
	RetryInterval time.Duration
	// MaxAuthors bounds the authors that are not members (of the
	// membership the Log's decisions left) whose heads one sync round
	// fetches, and those the driver keeps state for (heads seen, probes).
	// Members are always fetched and kept. Anyone may advertise a log or
	// write one in open mode, so without the bound a round would cost a
	// DHT lookup per made-up author.
	MaxAuthors int
}

// DefaultConfig returns the timing for nodes on a LAN or the Internet, with
// consensus.DefaultConfig's settle delay and announcement age.
func DefaultConfig() Config {
	c := consensus.DefaultConfig()
	return Config{
		SettleDelay:       c.SettleDelay,
		AnnounceMaxAge:    c.AnnounceMaxAge,
		CheckInterval:     time.Second,
		SyncInterval:      time.Minute,
		RepublishInterval: time.Hour,
		FetchTimeout:      10 * time.Second,
		FetchConcurrency:  8,
		RetryInterval:     time.Second,
		MaxAuthors:        256,
	}
}

func (c *Config) defaults() error {
	switch {
	case c.Log == nil:
		return fmt.Errorf("replication: config has no log")
	case c.Network == nil:
		return fmt.Errorf("replication: config has no network")
	case c.Genesis == nil:
		return fmt.Errorf("replication: config has no genesis")
	case c.Author.ID == "" || c.Author.Signer == nil:
		return fmt.Errorf("replication: config has no author with a signer")
	}
	d := DefaultConfig()
	setDuration := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setDuration(&c.SettleDelay, d.SettleDelay)
	setDuration(&c.AnnounceMaxAge, d.AnnounceMaxAge)
	setDuration(&c.CheckInterval, d.CheckInterval)
	setDuration(&c.SyncInterval, d.SyncInterval)
	setDuration(&c.RepublishInterval, d.RepublishInterval)
	setDuration(&c.FetchTimeout, d.FetchTimeout)
	setDuration(&c.RetryInterval, d.RetryInterval)
	if c.FetchConcurrency == 0 {
		c.FetchConcurrency = d.FetchConcurrency
	}
	if c.MaxAuthors == 0 {
		c.MaxAuthors = d.MaxAuthors
	}
	for name, v := range map[string]time.Duration{
		"settle delay": c.SettleDelay, "announce max age": c.AnnounceMaxAge,
		"check interval": c.CheckInterval, "sync interval": c.SyncInterval,
		"republish interval": c.RepublishInterval, "fetch timeout": c.FetchTimeout,
		"retry interval": c.RetryInterval,
	} {
		if v < 0 {
			return fmt.Errorf("replication: negative %s %v", name, v)
		}
	}
	if c.FetchConcurrency < 0 {
		return fmt.Errorf("replication: negative fetch concurrency %d", c.FetchConcurrency)
	}
	if c.MaxAuthors < 0 {
		return fmt.Errorf("replication: negative max authors %d", c.MaxAuthors)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Driver replicates one node's governance log and decides its proposals.
// Build it with New, Start it, Close it once done.
type Driver struct {
	cfg Config
	log *consensus.Log
	net Network
	lg  *slog.Logger

	kick  chan struct{} // records wanted: walk soon
	heads chan []byte   // heads seen in the DHT
	dirty chan struct{} // own log grew: put it

	// members is the membership the Log's decisions left, refreshed at
	// each sync round and decision: members are fetched and kept
	// without bound, other authors up to MaxAuthors.
	members atomic.Pointer[consensus.Membership]

	mu       sync.Mutex
	headTime map[consensus.PeerID]int64 // latest signing time of a head seen, per author (ms)
	guests   int                        // authors in headTime that were not members when added
	probed   map[consensus.PeerID]bool  // peers whose head was fetched at least once
	stats    Stats
	state    int // stateNew, stateStarted, stateClosed

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

const (
	stateNew = iota
	stateStarted
	stateClosed
)

// Stats are the driver's counters since New.
type Stats struct {
	// Synced is true once the first full sync round completed; SyncedAt is
	// when, on the driver's clock.
	Synced   bool      `json:"synced"`
	SyncedAt time.Time `json:"synced_at"`
	// SyncRounds counts completed sync rounds of every kind.
	SyncRounds uint64 `json:"sync_rounds"`
	// HeadsFetched and RecordsFetched count values got from the DHT;
	// FetchErrors counts gets that failed other than "not found".
	HeadsFetched   uint64 `json:"heads_fetched"`
	RecordsFetched uint64 `json:"records_fetched"`
	FetchErrors    uint64 `json:"fetch_errors"`
	// Puts counts values put in the DHT, PutErrors failed puts.
	Puts      uint64 `json:"puts"`
	PutErrors uint64 `json:"put_errors"`
	// Published counts own announcements published on the gossip topic.
	Published uint64 `json:"published"`
	// Accepted, Ignored and Rejected count gossip messages by Verdict.
	Accepted uint64 `json:"accepted"`
	Ignored  uint64 `json:"ignored"`
	Rejected uint64 `json:"rejected"`
	// Decisions counts decisions taken since Start.
	Decisions uint64 `json:"decisions"`
	// AuthorsSkipped counts the heads of non-members a sync round did
	// not fetch, being over MaxAuthors.
	AuthorsSkipped uint64 `json:"authors_skipped"`
}

// New checks cfg and returns a driver that has not started.
func New(cfg Config) (*Driver, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	d := &Driver{
		cfg:      cfg,
		log:      cfg.Log,
		net:      cfg.Network,
		lg:       cfg.Logger,
		kick:     make(chan struct{}, 1),
		heads:    make(chan []byte, headQueue),
		dirty:    make(chan struct{}, 1),
		headTime: make(map[consensus.PeerID]int64),
		probed:   make(map[consensus.PeerID]bool),
	}
	d.refreshMembers()
	return d, nil
}

// headQueue bounds the heads waiting to be ingested; more are dropped (a
// head seen again later is offered again).
const headQueue = 256

// Log is the governance log the driver serves.
func (d *Driver) Log() *consensus.Log { return d.log }

// Stats returns the driver's counters.
func (d *Driver) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// Start starts the sync and publisher goroutines. They wait for Ready,
// then hand the decisions already taken to Apply, sync, and run until ctx
// ends or Close.
func (d *Driver) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch d.state {
	case stateStarted:
		return fmt.Errorf("replication: already started")
	case stateClosed:
		return ErrClosed
	}
	d.state = stateStarted
	ctx, d.cancel = context.WithCancel(ctx)
	d.wg.Go(func() { d.runSync(ctx) })
	d.wg.Go(func() { d.runPublisher(ctx) })
	return nil
}

// Close stops the goroutines and waits for them. It is safe to call more
// than once.
func (d *Driver) Close() error {
	d.mu.Lock()
	if d.state == stateClosed {
		d.mu.Unlock()
		return nil
	}
	d.state = stateClosed
	cancel := d.cancel
	d.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	d.wg.Wait()
	return nil
}

// apply hands a decision to Apply.
func (d *Driver) apply(dec consensus.Decision) {
	if d.cfg.Apply != nil {
		d.cfg.Apply(dec)
	}
}

// Propose appends a proposal to the node's log (see
// consensus.Log.CreateProposal), announces it on the gossip topic and has
// the publisher put it in the DHT. The record is durable when Propose
// returns; a failed announcement is only logged (the periodic one and the
// DHT carry the record).
func (d *Driver) Propose(ctx context.Context, title, description string, duration time.Duration, quorum, threshold consensus.PPM, action consensus.Action) (*consensus.Record, error) {
	if d.closed() {
		return nil, ErrClosed
	}
	r, err := d.log.CreateProposal(ctx, d.cfg.Now(), title, description, duration, quorum, threshold, action)
	if err != nil {
		return nil, err
	}
	d.announce(ctx)
	wake(d.dirty)
	return r, nil
}

// Vote appends the node's vote on proposal (see consensus.Log.CastVote),
// announces it and has the publisher put it in the DHT, like Propose.
func (d *Driver) Vote(ctx context.Context, proposal consensus.Hash, choice consensus.Choice, tokens uint64) (*consensus.Record, error) {
	if d.closed() {
		return nil, ErrClosed
	}
	r, err := d.log.CastVote(ctx, d.cfg.Now(), proposal, choice, tokens)
	if err != nil {
		return nil, err
	}
	d.announce(ctx)
	wake(d.dirty)
	return r, nil
}

func (d *Driver) closed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state == stateClosed
}

// announce publishes the Log's announcement of its latest record.
func (d *Driver) announce(ctx context.Context) {
	a, err := d.log.Announcement(ctx, d.cfg.Now())
	if err != nil || a == nil {
		if err != nil {
			d.lg.Warn("governance announcement", "err", err)
		}
		return
	}
	if err := d.net.Publish(ctx, a.Encode()); err != nil {
		d.lg.Debug("governance announcement not published", "err", err)
		return
	}
	d.count(func(s *Stats) { s.Published++ })
}

// announceClosing publishes a head-only announcement of the node's log
// signed now, after a proposal's deadline (see syncer.check); nothing if
// the node has written no record.
func (d *Driver) announceClosing(ctx context.Context, now time.Time) {
	h, err := d.log.Head(ctx, now)
	if err != nil || h == nil {
		return
	}
	if h.Time < now.UnixMilli() {
		if h, err = consensus.SignHead(d.cfg.Genesis.ID(), d.cfg.Author, h.Seq, h.Record, now); err != nil {
			d.lg.Warn("governance closing head", "err", err)
			return
		}
	}
	a, err := consensus.NewAnnouncement(h, nil)
	if err != nil {
		d.lg.Warn("governance closing head", "err", err)
		return
	}
	if err := d.net.Publish(ctx, a.Encode()); err != nil {
		d.lg.Debug("governance closing head not published", "err", err)
		return
	}
	d.count(func(s *Stats) { s.Published++ })
}

// count updates the stats under the lock.
func (d *Driver) count(f func(*Stats)) {
	d.mu.Lock()
	f(&d.stats)
	d.mu.Unlock()
}

// noteHead remembers that a head of author signed at t (Unix ms) was seen:
// for a member always, for another author while fewer than MaxAuthors
// others are remembered.
func (d *Driver) noteHead(author consensus.PeerID, t int64) {
	member := d.isMember(author)
	d.mu.Lock()
	defer d.mu.Unlock()
	old, known := d.headTime[author]
	if !known && !member {
		if d.guests >= d.cfg.MaxAuthors {
			return
		}
		d.guests++
	}
	if !known || t > old {
		d.headTime[author] = t
	}
}

// refreshMembers takes the membership the Log's decisions left.
func (d *Driver) refreshMembers() { d.members.Store(d.log.Membership()) }

// isMember reports whether p is a member, as of the last refresh.
func (d *Driver) isMember(p consensus.PeerID) bool {
	m := d.members.Load()
	return m != nil && m.Member(p, "")
}

// wake signals ch without blocking.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// waitReady blocks until Ready is closed; false if ctx ended first.
func (d *Driver) waitReady(ctx context.Context) bool {
	if d.cfg.Ready == nil {
		return ctx.Err() == nil
	}
	select {
	case <-d.cfg.Ready:
		return true
	case <-ctx.Done():
		return false
	}
}

// sleep waits for dur unless ctx ends first.
func sleep(ctx context.Context, dur time.Duration) bool {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
