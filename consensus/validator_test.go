package consensus

import (
	"errors"
	"testing"
	"time"
)

func TestHeadValidator(t *testing.T) {
	g := mustGenesis(t, 100)
	alice, bob := newTestSigner(1, true), newTestSigner(2, true)
	v := NewHeadValidator(g, testVerifier, nil)
	sign := func(s *testSigner, seq uint64, rec Hash, when time.Duration) []byte {
		h, err := SignHead(g.ID(), s.author(), seq, rec, at(when))
		if err != nil {
			t.Fatal(err)
		}
		return h.Encode()
	}
	good := sign(alice, 3, Hash{3}, 0)
	forged, err := SignHead(g.ID(), Author{ID: alice.id, Key: bob.key, Signer: bob.signer}, 3, Hash{3}, t0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		key     string
		value   []byte
		wantErr error
	}{
		{"valid", HeadKey(alice.id), good, nil},
		{"under another author", HeadKey(bob.id), good, ErrWrongKey},
		{"wrong namespace", "/x0rec/" + alice.id.String(), good, ErrWrongKey},
		{"bad peer ID in key", "/x0log/not-a-peer", good, ErrMalformed},
		{"forged", HeadKey(alice.id), forged.Encode(), ErrBadSignature},
		{"garbage", HeadKey(alice.id), []byte{1, 2, 3}, ErrMalformed},
		{"another network", HeadKey(alice.id), good, ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			val := v
			if tt.name == "another network" {
				val = NewHeadValidator(mustGenesis(t, 1), testVerifier, nil)
			}
			err := val.Validate(tt.key, tt.value)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Validate: %v, want %v", err, tt.wantErr)
			}
		})
	}

	older := sign(alice, 2, Hash{2}, time.Minute)
	sameSeqLater := sign(alice, 3, Hash{3}, time.Minute)
	forkA, forkB := sign(alice, 4, Hash{4}, 0), sign(alice, 4, Hash{5}, 0)
	for _, tt := range []struct {
		name   string
		values [][]byte
		want   int
	}{
		{"higher seq wins over later time", [][]byte{older, good}, 1},
		{"later time wins at equal seq", [][]byte{good, sameSeqLater}, 1},
		{"garbage is skipped", [][]byte{{9}, older}, 1},
	} {
		t.Run("select "+tt.name, func(t *testing.T) {
			got, err := v.Select(HeadKey(alice.id), tt.values)
			if err != nil || got != tt.want {
				t.Fatalf("Select = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
	// Equivocating heads: the choice is the same in either order.
	i, _ := v.Select(HeadKey(alice.id), [][]byte{forkA, forkB})
	j, _ := v.Select(HeadKey(alice.id), [][]byte{forkB, forkA})
	if i == j {
		t.Fatalf("select between forked heads depends on order: %d, %d", i, j)
	}
	if _, err := v.Select(HeadKey(alice.id), [][]byte{{1}}); err == nil {
		t.Fatalf("select among garbage succeeded")
	}
}

func TestRecordValidator(t *testing.T) {
	g := mustGenesis(t, 100)
	alice, bob := newTestSigner(1, true), newTestSigner(2, true)
	r := newChain(g, alice).propose(t, t0, time.Hour, 0, 0, nil)
	forged := (&chain{g: g, a: Author{ID: alice.id, Key: bob.key, Signer: bob.signer}}).propose(t, t0, time.Hour, 0, 0, nil)
	v := NewRecordValidator(g, testVerifier, nil)
	tests := []struct {
		name    string
		key     string
		value   []byte
		wantErr error
	}{
		{"valid", RecordKey(r.ID()), r.Encode(), nil},
		{"under another ID", RecordKey(Hash{1}), r.Encode(), ErrWrongKey},
		{"wrong namespace", "/x0log/" + r.ID().String(), r.Encode(), ErrWrongKey},
		{"bad ID in key", "/x0rec/zz", r.Encode(), ErrMalformed},
		{"forged", RecordKey(forged.ID()), forged.Encode(), ErrBadSignature},
		{"garbage", RecordKey(Hash(sha256Of([]byte{1}))), []byte{1}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.Validate(tt.key, tt.value)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Validate: %v, want %v", err, tt.wantErr)
			}
		})
	}
	if i, err := v.Select(RecordKey(r.ID()), [][]byte{r.Encode(), r.Encode()}); i != 0 || err != nil {
		t.Fatalf("Select = %d, %v", i, err)
	}
	if _, err := v.Select(RecordKey(r.ID()), nil); err == nil {
		t.Fatalf("Select of nothing succeeded")
	}
}
