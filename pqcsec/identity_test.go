package pqcsec

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestNewIdentity(t *testing.T) {
	key := testKey(t, 1)
	id, err := NewIdentity(key, testRand(2))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := peer.IDFromPrivateKey(key)
	if id.PeerID() != want {
		t.Errorf("peer ID %s, want the libp2p key's %s", id.PeerID(), want)
	}
	same, _ := NewIdentity(key, testRand(2))
	if !same.PublicKeys().Equal(id.PublicKeys()) {
		t.Error("same key and randomness gave different identities")
	}
	if id.Version() != 0 || id.Record() != nil {
		t.Error("a new identity has a record")
	}
	secp, _, err := crypto.GenerateSecp256k1Key(testRand(3))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewIdentity(secp, testRand(2)); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("secp256k1 key: %v, want ErrKeyMismatch", err)
	}
	if _, err := NewIdentity(key, testRand(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := NewIdentity(key, &shortReader{}); err == nil {
		t.Error("exhausted random source accepted")
	}
}

type shortReader struct{}

func (*shortReader) Read([]byte) (int, error) { return 0, errors.New("no randomness") }

func TestLoadOrCreateIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	key := testKey(t, 1)
	id, err := LoadOrCreateIdentity(dir, key, testRand(2))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KeyFileName)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	if _, err := id.IssueRecord(RecordOptions{TrustDomain: testTD}, t0); err != nil {
		t.Fatal(err)
	}

	again, err := LoadOrCreateIdentity(dir, key, testRand(99))
	if err != nil {
		t.Fatal(err)
	}
	if !again.PublicKeys().Equal(id.PublicKeys()) || again.Version() != 1 {
		t.Errorf("reloaded identity differs: version %d", again.Version())
	}
	rec, err := again.IssueRecord(RecordOptions{TrustDomain: testTD}, t0)
	if err != nil || rec.Version() != 2 {
		t.Fatalf("version after reload %d, %v; want 2", rec.Version(), err)
	}

	if _, err := LoadOrCreateIdentity(dir, testKey(t, 5), testRand(2)); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("other libp2p key: %v, want ErrKeyMismatch", err)
	}

	// Loose permissions are tightened.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateIdentity(dir, key, testRand(2)); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v after load, want 0600", st.Mode().Perm())
	}

	// A damaged file is an error and is left alone.
	b, _ := os.ReadFile(path)
	b[50] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateIdentity(dir, key, testRand(2)); !errors.Is(err, ErrMalformed) {
		t.Errorf("damaged key file: %v, want ErrMalformed", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(b) {
		t.Error("damaged key file was rewritten")
	}
}

// Rotation makes a fresh KEM key under the same signature keys with a higher
// version; both records verify until the old one expires; the DHT validator
// selects the new one; a dir-backed identity keeps the rotation.
func TestRotate(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t, 1)
	id, err := LoadOrCreateIdentity(dir, key, testRand(2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := id.Rotate(testRand(3), t0); !errors.Is(err, ErrNoRecord) {
		t.Fatalf("rotate before any record: %v, want ErrNoRecord", err)
	}
	before := id.PublicKeys()
	old, err := id.IssueRecord(RecordOptions{TrustDomain: testTD, TTL: time.Hour}, t0)
	if err != nil {
		t.Fatal(err)
	}
	later := t0.Add(10 * time.Minute)
	rotated, err := id.Rotate(testRand(3), later)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.Version() <= old.Version() {
		t.Errorf("rotated version %d not above %d", rotated.Version(), old.Version())
	}
	if rotated.Keys().Equal(old.Keys()) || !rotated.Keys().SameSigner(old.Keys()) {
		t.Error("rotation must change the KEM key and keep the signature keys")
	}
	if !id.PublicKeys().Equal(rotated.Keys()) || id.Record() != rotated || before.Equal(id.PublicKeys()) {
		t.Error("identity does not hold the rotated keys and record")
	}
	if !rotated.Expiry().Equal(later.Add(time.Hour)) {
		t.Errorf("rotated record expires %s, want the old options' TTL from %s", rotated.Expiry(), later)
	}

	key2 := RecordKey(id.PeerID())
	v := RecordValidator{Now: func() time.Time { return later }}
	for name, r := range map[string]*Record{"old": old, "rotated": rotated} {
		if err := v.Validate(key2, r.Bytes()); err != nil {
			t.Errorf("%s record before expiry: %v", name, err)
		}
	}
	if i, err := v.Select(key2, [][]byte{old.Bytes(), rotated.Bytes()}); err != nil || i != 1 {
		t.Errorf("select picked %d, %v; want the rotated record", i, err)
	}
	v.Now = func() time.Time { return old.Expiry() }
	if err := v.Validate(key2, old.Bytes()); !errors.Is(err, ErrExpired) {
		t.Errorf("old record at its expiry: %v, want ErrExpired", err)
	}
	if err := v.Validate(key2, rotated.Bytes()); err != nil {
		t.Errorf("rotated record at the old one's expiry: %v", err)
	}

	reloaded, err := LoadOrCreateIdentity(dir, key, testRand(9))
	if err != nil {
		t.Fatal(err)
	}
	if !reloaded.PublicKeys().Equal(rotated.Keys()) || reloaded.Version() != rotated.Version() {
		t.Error("rotation not persisted")
	}
}

func TestIssueRecordOptions(t *testing.T) {
	id, err := NewIdentity(testKey(t, 1), testRand(2))
	if err != nil {
		t.Fatal(err)
	}
	bad := *testClaim()
	bad.GoVersion = ""
	for _, o := range []RecordOptions{
		{},
		{TrustDomain: testTD, TTL: -time.Second},
		{TrustDomain: testTD, TTL: MaxRecordTTL + time.Second},
		{TrustDomain: testTD, Claim: &bad},
	} {
		if _, err := id.IssueRecord(o, t0); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	if id.Version() != 0 {
		t.Errorf("refused options consumed versions: %d", id.Version())
	}
	r, err := id.IssueRecord(RecordOptions{TrustDomain: testTD}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Expiry().Equal(t0.Add(DefaultRecordTTL)) || r.Version() != 1 || r.Claim() != nil {
		t.Errorf("record: expiry %s version %d claim %v", r.Expiry(), r.Version(), r.Claim())
	}
}
