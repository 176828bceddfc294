package consensus

import (
	"crypto/sha256"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// The attacks on governance storage of the hardening issue, against a
// real Log and the real DHT validators with real hybrid signatures. Each
// failed on the code before; docs/reliability.md has the figures.

func hashOf(b []byte) Hash { return sha256.Sum256(b) }

// countingVerifier counts the signature checks it makes.
type countingVerifier struct{ n atomic.Int64 }

func (v *countingVerifier) Verify(author PeerID, key, msg, sig []byte) error {
	v.n.Add(1)
	return testVerifier.Verify(author, key, msg, sig)
}

// TestAdversarialReplayedAnnouncements: a peer replays one author's
// announcements on the gov topic, the latest and older ones, 1,000 times
// each. Before, every replay cost a hybrid signature check of its head
// (the duplicate check came after it): 3,000 checks. Now the log finds
// them duplicate or stale before verifying anything: none.
func TestAdversarialReplayedAnnouncements(t *testing.T) {
	ctx := t.Context()
	alice, bob := newTestSigner(1, true), newTestSigner(2, true)
	g := mustGenesis(t, 0, listed(100, alice, bob)...)
	la := openLog(t, g, alice.author(), memStore())
	v := &countingVerifier{}
	cfg := testConfig(g, bob.author(), memStore())
	cfg.Verifier = v
	lb, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	lb.SyncDone()
	var replays [][]byte
	for i := range 3 {
		now := at(time.Duration(i) * time.Minute)
		if _, err := la.CreateProposal(ctx, now, "p", "", time.Hour, 0, 0, nil); err != nil {
			t.Fatal(err)
		}
		a, err := la.Announcement(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := lb.IngestAnnouncement(ctx, now, alice.id, a.Encode()); err != nil {
			t.Fatalf("announcement %d: %v", i, err)
		}
		replays = append(replays, a.Encode())
	}
	before := v.n.Load()
	now := at(3 * time.Minute)
	start := time.Now()
	defer func() { t.Logf("3,000 replays took %v", time.Since(start)) }()
	for range 1000 {
		for _, b := range replays {
			err := lb.IngestAnnouncement(ctx, now, alice.id, b)
			if !errors.Is(err, ErrDuplicate) && !errors.Is(err, ErrStale) {
				t.Fatalf("replay: %v, want a duplicate or stale refusal", err)
			}
		}
	}
	if n := v.n.Load() - before; n != 0 {
		t.Errorf("3,000 replayed announcements cost %d signature checks, want 0", n)
	}
}

// TestAdversarialRecordFlood: one identity puts validly signed records
// into the governance DHT namespace /x0rec/, as many as it likes (a
// record costs it one signature). Before, the validator took all 2,000,
// and any number more. Now an open-mode guest gets GuestRecords (256),
// then ErrQuota; in closed mode a non-member gets none, before any
// signature is checked; members keep their own quota, which forged
// records naming them cannot use up; records put again do not count
// again.
func TestAdversarialRecordFlood(t *testing.T) {
	member, flooder := newTestSigner(1, false), newTestSigner(2, false)
	g := mustGenesis(t, 0, listed(100, member)...)
	members := MembersFunc(func(p PeerID) bool { return p == member.id })
	flood := func(s *testSigner, n int) [][]byte {
		c := newChain(g, s)
		out := make([][]byte, n)
		for i := range out {
			out[i] = c.propose(t, at(time.Duration(i)*time.Second), time.Hour, 0, 0, nil).Encode()
		}
		return out
	}
	flooded := flood(flooder, 2000)
	own := flood(member, 300)
	put := func(v *RecordValidator, recs [][]byte) (taken int, err error) {
		for _, b := range recs {
			if e := v.Validate(RecordKey(hashOf(b)), b); e == nil {
				taken++
			} else if err == nil {
				err = e
			}
		}
		return taken, err
	}

	t.Run("open", func(t *testing.T) {
		v := NewRecordValidator(g, testVerifier, NewAuthorQuota(QuotaConfig{Members: members}))
		taken, err := put(v, flooded)
		if taken != DefaultGuestRecords || !errors.Is(err, ErrQuota) {
			t.Errorf("a guest's flood: %d of %d taken (%v), want %d then ErrQuota", taken, len(flooded), err, DefaultGuestRecords)
		}
		if again, _ := put(v, flooded[:DefaultGuestRecords]); again != DefaultGuestRecords {
			t.Errorf("records put again: %d of %d taken", again, DefaultGuestRecords)
		}
		// Forged records naming the member (the flooder's signature):
		// refused by the signature check, they count for nobody.
		forged := make([][]byte, 0, 100)
		c := newChain(g, flooder)
		c.a.ID = member.id
		for i := range 100 {
			r, err := (Draft{Seq: uint64(i + 1), Time: at(time.Second).UnixMilli(), Prev: c.prev,
				Proposal: &Proposal{Title: "x", Deadline: at(time.Hour).UnixMilli()}}).Sign(g.ID(), Author{ID: member.id, Key: member.key, Signer: flooder.signer})
			if err != nil {
				t.Fatal(err)
			}
			c.prev = r.ID()
			forged = append(forged, r.Encode())
		}
		if n, _ := put(v, forged); n != 0 {
			t.Errorf("%d forged records naming the member taken", n)
		}
		if taken, err := put(v, own); taken != len(own) {
			t.Errorf("the member's own %d records: %d taken (%v)", len(own), taken, err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		cv := &countingVerifier{}
		v := NewRecordValidator(g, cv, NewAuthorQuota(QuotaConfig{Members: members, Closed: true}))
		taken, err := put(v, flooded)
		if taken != 0 || !errors.Is(err, ErrQuota) || cv.n.Load() != 0 {
			t.Errorf("a non-member's flood in closed mode: %d taken (%v), %d signatures checked", taken, err, cv.n.Load())
		}
		if taken, err := put(v, own); taken != len(own) {
			t.Errorf("the member's own %d records: %d taken (%v)", len(own), taken, err)
		}
		h := NewHeadValidator(g, cv, NewAuthorQuota(QuotaConfig{Members: members, Closed: true}))
		head, err := SignHead(g.ID(), flooder.bare(), 1, hashOf(flooded[0]), t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Validate(HeadKey(flooder.id), head.Encode()); !errors.Is(err, ErrQuota) {
			t.Errorf("a non-member's head in closed mode: %v", err)
		}
	})
	t.Run("guests", func(t *testing.T) {
		q := NewAuthorQuota(QuotaConfig{Members: members, MaxGuests: 3})
		v := NewRecordValidator(g, testVerifier, q)
		for i := range 5 {
			s := newTestSigner(uint64(100+i), false)
			_, err := put(v, flood(s, 1))
			if (i < 3) != (err == nil) {
				t.Errorf("guest %d: %v", i, err)
			}
		}
		if taken, _ := put(v, own); taken != len(own) {
			t.Errorf("a member with the guests counted: %d of %d taken", taken, len(own))
		}
	})
}
