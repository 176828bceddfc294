package anomaly

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// UpdatesConfig bounds the update announcements a node keeps (Updates).
// Start from DefaultUpdatesConfig.
type UpdatesConfig struct {
	// MaxSkew bounds how far an announcement's time may lie from the
	// receiver's clock, either way.
	MaxSkew time.Duration
	// RateInterval and RateBurst bound each node's announcements: one
	// per RateInterval on average, RateBurst at once.
	RateInterval time.Duration
	RateBurst    int
	// MaxNodes bounds the nodes held, one announcement each (a fair
	// share: a node's latest announcement replaces its previous one). A
	// new node takes the place of the one heard from least recently if
	// that was longer ago than MaxAge; else it is refused.
	MaxNodes int
	MaxAge   time.Duration
}

// DefaultUpdatesConfig allows an announcement a second on average from
// each node (they repeat theirs every few seconds), 1,024 nodes.
func DefaultUpdatesConfig() UpdatesConfig {
	return UpdatesConfig{MaxSkew: 30 * time.Second, RateInterval: time.Second, RateBurst: 4, MaxNodes: 1024, MaxAge: 10 * time.Minute}
}

// Validate reports the first field out of bounds.
func (c UpdatesConfig) Validate() error {
	if c.MaxSkew <= 0 || c.RateInterval <= 0 || c.MaxAge <= 0 || c.RateBurst < 1 || c.MaxNodes < 1 {
		return fmt.Errorf("%w: updates config %+v", ErrInvalidConfig, c)
	}
	return nil
}

// Updates is what a node knows of a federated round: the latest update
// announcement (protocols.FLUpdate) of each node, from which a member
// proposes the average of the updates of one base (Of). A pure state
// machine, not safe for concurrent use.
type Updates struct {
	cfg   UpdatesConfig
	nodes map[protocols.Addr]*announcer
}

type announcer struct {
	u    *protocols.FLUpdate
	at   time.Time
	rate rateBucket
}

// NewUpdates returns an empty table.
func NewUpdates(cfg UpdatesConfig) (*Updates, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Updates{cfg: cfg, nodes: map[protocols.Addr]*announcer{}}, nil
}

// Receive is the rule of the update topic (protocols.FLTopic) for one
// announcement: data from the mesh address of the node whose signature
// the gossip layer checked, now the time of receipt. It rejects an
// announcement that is not protocols.FLUpdateSize bytes, does not decode,
// names another node than from, or was made more than MaxSkew before or
// after now; it ignores one not newer than the node's held, one beyond
// the node's rate, and a new node when the table is full. An accepted
// announcement replaces the node's previous one and comes back decoded.
// Membership is the caller's to check first.
func (t *Updates) Receive(now time.Time, from protocols.Addr, data []byte) (Verdict, *protocols.FLUpdate) {
	if len(data) > protocols.FLUpdateSize {
		return VerdictOversize, nil
	}
	u := new(protocols.FLUpdate)
	if err := u.Decode(data); err != nil {
		return VerdictUndecodable, nil
	}
	if u.Node != from {
		return VerdictForged, nil
	}
	switch skew := now.Sub(u.Time); {
	case skew > t.cfg.MaxSkew:
		return VerdictStale, nil
	case skew < -t.cfg.MaxSkew:
		return VerdictFuture, nil
	}
	a := t.nodes[from]
	if a != nil && !u.Time.After(a.u.Time) {
		return VerdictOld, nil
	}
	if a == nil {
		if len(t.nodes) >= t.cfg.MaxNodes && !t.evictStale(now) {
			return VerdictFull, nil
		}
		a = &announcer{u: u, at: now, rate: newRateBucket(now, t.cfg.RateBurst)}
		t.nodes[from] = a
	}
	if !a.rate.take(now, t.cfg.RateInterval, t.cfg.RateBurst) {
		return VerdictTooFast, nil
	}
	a.u, a.at = u, now
	return VerdictAccepted, u
}

// evictStale forgets the node heard from least recently if that was
// longer ago than MaxAge, and reports whether it did.
func (t *Updates) evictStale(now time.Time) bool {
	var oldest protocols.Addr
	var at time.Time
	found := false
	for addr, a := range t.nodes {
		if !found || a.at.Before(at) {
			oldest, at, found = addr, a.at, true
		}
	}
	if !found || now.Sub(at) <= t.cfg.MaxAge {
		return false
	}
	delete(t.nodes, oldest)
	return true
}

// Of returns the latest announcements of updates of base, one per node,
// sorted by node address: the order the federated average takes them
// in.
func (t *Updates) Of(base [32]byte) []protocols.FLUpdate {
	var out []protocols.FLUpdate
	for _, addr := range slices.SortedFunc(maps.Keys(t.nodes), cmpAddr) {
		if u := t.nodes[addr].u; u.Base == base {
			out = append(out, *u)
		}
	}
	return out
}
