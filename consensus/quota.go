package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
)

// ErrQuota is wrapped by the DHT validators' refusal of a value whose
// author the AuthorQuota does not take: a non-member in closed mode, an
// author over its quota of records, or a new non-member author when the
// quota keeps count of MaxGuests already.
var ErrQuota = errors.New("consensus: over the author quota")

// Members says who is a member of the network now. A node answers from
// the membership its governance left (Log.Membership), updated after
// every decision. Its method is called from the DHT's goroutines and must
// be safe for concurrent use and quick.
type Members interface {
	IsMember(p PeerID) bool
}

// MembersFunc adapts a function to Members.
type MembersFunc func(PeerID) bool

// IsMember calls f.
func (f MembersFunc) IsMember(p PeerID) bool { return f(p) }

var _ Members = MembersFunc(nil)

// QuotaConfig configures an AuthorQuota. Zero limits take their defaults.
type QuotaConfig struct {
	// Members, if set, tells members from other authors; nil treats
	// every author as a guest (a non-member).
	Members Members
	// Closed takes heads and records of members only.
	Closed bool
	// MemberRecords bounds the distinct records of one member the
	// validators take (default 65,536). A log has one record per seq,
	// so this bounds a member's log as this node stores it.
	MemberRecords int
	// GuestRecords bounds them for one non-member (default 256), in
	// open mode.
	GuestRecords int
	// MaxGuests bounds the non-member authors the quota keeps count of
	// (default 1,024); a new one beyond them is refused until the node
	// restarts. Members are always counted.
	MaxGuests int
}

// Default quota limits.
const (
	DefaultMemberRecords = 1 << 16
	DefaultGuestRecords  = 256
	DefaultMaxGuests     = 1024
)

// AuthorQuota is what the DHT namespaces /x0log/ and /x0rec/ take from
// each author. A DHT stores any value its validator accepts, and a
// record or a head costs its author only a signature, so without a
// quota one identity could fill every node's store with validly signed
// records. In closed mode only members' values are taken; in open mode
// every author's distinct records are counted (by a 64-bit fingerprint of
// the record ID, so that the periodic re-puts of the same records do not
// count again), up to MemberRecords for a member and GuestRecords for
// anyone else, and at most MaxGuests non-members are counted at all. It
// is safe for concurrent use; the memory it holds is bounded by
// (members × MemberRecords + MaxGuests × GuestRecords) × 8 bytes and
// the map overhead.
type AuthorQuota struct {
	cfg QuotaConfig

	mu      sync.Mutex
	authors map[PeerID]map[uint64]struct{}
	guests  int
}

// NewAuthorQuota returns a quota for cfg, defaults filled in.
func NewAuthorQuota(cfg QuotaConfig) *AuthorQuota {
	if cfg.MemberRecords <= 0 {
		cfg.MemberRecords = DefaultMemberRecords
	}
	if cfg.GuestRecords <= 0 {
		cfg.GuestRecords = DefaultGuestRecords
	}
	if cfg.MaxGuests <= 0 {
		cfg.MaxGuests = DefaultMaxGuests
	}
	return &AuthorQuota{cfg: cfg, authors: make(map[PeerID]map[uint64]struct{})}
}

func (q *AuthorQuota) member(p PeerID) bool {
	return q.cfg.Members != nil && q.cfg.Members.IsMember(p)
}

// admitHead returns nil if a head of author may be taken.
func (q *AuthorQuota) admitHead(author PeerID) error {
	if q == nil {
		return nil
	}
	if q.cfg.Closed && !q.member(author) {
		return fmt.Errorf("%w: head of %v, not a member (closed mode)", ErrQuota, author)
	}
	return nil
}

// checkAuthor refuses, before anything is verified, a record of a
// non-member in closed mode.
func (q *AuthorQuota) checkAuthor(author PeerID) error {
	if q != nil && q.cfg.Closed && !q.member(author) {
		return fmt.Errorf("%w: record of %v, not a member (closed mode)", ErrQuota, author)
	}
	return nil
}

// admitRecord returns nil if the verified record id of author may be
// taken, and counts it. Only verified records count: a forged one naming
// an honest author must not use up that author's quota.
func (q *AuthorQuota) admitRecord(author PeerID, id Hash) error {
	if q == nil {
		return nil
	}
	if err := q.checkAuthor(author); err != nil {
		return err
	}
	member := q.member(author)
	fp := binary.BigEndian.Uint64(id[:8])
	q.mu.Lock()
	defer q.mu.Unlock()
	ids, ok := q.authors[author]
	if !ok {
		if !member && q.guests >= q.cfg.MaxGuests {
			return fmt.Errorf("%w: record of %v, %d other non-member authors counted", ErrQuota, author, q.guests)
		}
		ids = make(map[uint64]struct{})
		q.authors[author] = ids
		if !member {
			q.guests++
		}
	}
	if _, held := ids[fp]; held {
		return nil
	}
	limit := q.cfg.GuestRecords
	if member {
		limit = q.cfg.MemberRecords
	}
	if len(ids) >= limit {
		return fmt.Errorf("%w: %v has %d records, limit %d", ErrQuota, author, len(ids), limit)
	}
	ids[fp] = struct{}{}
	return nil
}

// Count returns how many distinct records of author the quota has taken.
func (q *AuthorQuota) Count(author PeerID) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.authors[author])
}
