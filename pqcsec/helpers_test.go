package pqcsec

import (
	"encoding/binary"
	"io"
	mathrand "math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// t0 is the fixed "now" of the tests; every clock is injected.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var testTD = spiffeid.RequireTrustDomainFromString("mesh.x0tta6bl4.test")

// testRand is a deterministic random source for a seed.
func testRand(seed uint64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return mathrand.NewChaCha8(s)
}

func testKey(t testing.TB, seed uint64) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(testRand(seed))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testClaim() *Claim {
	return &Claim{
		BinarySHA256: [32]byte{1, 2, 3},
		ConfigHash:   [32]byte{4, 5, 6},
		GoVersion:    "go1.26.8",
		Platform:     "linux/amd64",
		BootTime:     t0.Add(-time.Hour),
		Issued:       t0.Add(-time.Minute),
	}
}

// testIdentity is an in-memory identity with a record issued at t0.
func testIdentity(t testing.TB, seed uint64) *Identity {
	t.Helper()
	return testIdentityIn(t, seed, testTD)
}

func testIdentityIn(t testing.TB, seed uint64, td spiffeid.TrustDomain) *Identity {
	t.Helper()
	return testIdentityWith(t, seed, RecordOptions{TrustDomain: td, Claim: testClaim()})
}

// testIdentityWith is an in-memory identity with a record issued at t0
// with opts.
func testIdentityWith(t testing.TB, seed uint64, opts RecordOptions) *Identity {
	t.Helper()
	id, err := NewIdentity(testKey(t, seed), testRand(seed+1000))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := id.IssueRecord(opts, t0); err != nil {
		t.Fatal(err)
	}
	return id
}
