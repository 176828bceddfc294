package node

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
)

func TestBackoff(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := backoff{min: time.Second, max: 8 * time.Second}
	rng := rand.New(rand.NewPCG(1, 2))
	if !b.due(t0) {
		t.Fatal("a fresh backoff must be due")
	}
	want := []time.Duration{1, 2, 4, 8, 8, 8}
	for i, w := range want {
		b.failed(t0, rng)
		got := b.next.Sub(t0)
		lo, hi := time.Duration(float64(w*time.Second)*0.8), time.Duration(float64(w*time.Second)*1.2)
		if got < lo || got > hi {
			t.Errorf("after %d failures wait %v, want %v±20%%", i+1, got, w*time.Second)
		}
		if b.due(t0.Add(lo - time.Millisecond)) {
			t.Errorf("after %d failures due too early", i+1)
		}
		if !b.due(t0.Add(hi)) {
			t.Errorf("after %d failures not due at %v", i+1, hi)
		}
	}
	b.succeeded()
	if !b.due(t0) || b.failures != 0 {
		t.Error("success must reset the backoff")
	}
}

type rejectAll struct{}

func (rejectAll) Validate(string, []byte) error        { return errors.New("no") }
func (rejectAll) Select(string, [][]byte) (int, error) { return 0, nil }

func TestNamespaces(t *testing.T) {
	ns := newNamespaces()
	if err := ns.register("x0test", testValidator{}); err != nil {
		t.Fatal(err)
	}
	regErrs := []struct {
		ns   string
		v    Validator
		want error
	}{
		{"x0test", rejectAll{}, ErrNamespaceTaken},
		{"pk", rejectAll{}, ErrNamespaceTaken},
		{"", rejectAll{}, nil},
		{"a/b", rejectAll{}, nil},
		{"x0nil", nil, nil},
	}
	for _, tt := range regErrs {
		err := ns.register(tt.ns, tt.v)
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("register(%q) = %v, want error %v", tt.ns, err, tt.want)
		}
	}
	tests := []struct {
		key     string
		value   string
		wantErr error // nil: valid
		reject  bool
	}{
		{"/x0test/a", "ok:1", nil, false},
		{"/x0test/a", "bad", nil, true},
		{"/x0other/a", "ok:1", ErrUnknownNamespace, true},
		{"x0test/a", "ok:1", ErrUnknownNamespace, true},
		{"/x0test", "ok:1", ErrUnknownNamespace, true},
		{"", "", ErrUnknownNamespace, true},
	}
	for _, tt := range tests {
		err := ns.Validate(tt.key, []byte(tt.value))
		if (err != nil) != tt.reject {
			t.Errorf("Validate(%q, %q) = %v, reject want %v", tt.key, tt.value, err, tt.reject)
		}
		if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
			t.Errorf("Validate(%q) = %v, want %v", tt.key, err, tt.wantErr)
		}
	}
	i, err := ns.Select("/x0test/a", [][]byte{[]byte("ok:1"), []byte("ok:123"), []byte("ok:12")})
	if err != nil || i != 1 {
		t.Errorf("Select = %d, %v; want 1", i, err)
	}
	if _, err := ns.Select("/x0none/a", [][]byte{nil}); !errors.Is(err, ErrUnknownNamespace) {
		t.Errorf("Select unknown = %v", err)
	}
}

func TestRepo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	if _, err := OpenRepo(dir); !errors.Is(err, ErrNoRepo) {
		t.Fatalf("open before init: %v, want ErrNoRepo", err)
	}
	r, err := InitRepo(dir, DefaultLocalConfig())
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", st.Mode().Perm())
	}
	key1, err := r.Key()
	if err != nil {
		t.Fatal(err)
	}
	if key1.Type() != crypto.Ed25519 {
		t.Errorf("key type %v, want Ed25519", key1.Type())
	}
	if _, err := InitRepo(dir, DefaultLocalConfig()); !errors.Is(err, ErrRepoExists) {
		t.Errorf("second init: %v, want ErrRepoExists", err)
	}
	r2, err := OpenRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	key2, err := r2.Key()
	if err != nil {
		t.Fatal(err)
	}
	if !key1.Equals(key2) {
		t.Error("reopened repo has a different key")
	}
	cfg, err := r2.Config()
	if err != nil || cfg.Profile != ProfileLocal {
		t.Errorf("config: %+v, %v", cfg.Profile, err)
	}
	if _, err := r2.APIAddr(); !errors.Is(err, ErrNotRunning) {
		t.Errorf("api addr before daemon: %v, want ErrNotRunning", err)
	}
	if err := r2.WriteAPIAddr("127.0.0.1:1234"); err != nil {
		t.Fatal(err)
	}
	if a, err := r2.APIAddr(); err != nil || a != "127.0.0.1:1234" {
		t.Errorf("api addr = %q, %v", a, err)
	}
	if err := r2.RemoveAPIAddr(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, KeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Key(); err == nil {
		t.Error("a world-readable key was accepted")
	}
	// The pebble datastore persists across reopen.
	d, err := r2.OpenDatastore(DefaultLANConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, DatastoreDir)); err != nil {
		t.Errorf("no datastore dir: %v", err)
	}
}

func TestDefaultRepoPath(t *testing.T) {
	t.Setenv(RepoEnv, "/somewhere/else")
	if p, err := DefaultRepoPath(); err != nil || p != "/somewhere/else" {
		t.Errorf("with %s set: %q, %v", RepoEnv, p, err)
	}
	t.Setenv(RepoEnv, "")
	t.Setenv("HOME", "/home/op")
	if p, err := DefaultRepoPath(); err != nil || p != "/home/op/.x0tta6bl4" {
		t.Errorf("default: %q, %v", p, err)
	}
}

func TestResourceLimits(t *testing.T) {
	for _, cfg := range []Config{DefaultLANConfig(), DefaultWANConfig(), DefaultLocalConfig()} {
		l := resourceLimits(cfg).ToPartialLimitConfig()
		sys, peer := l.System, l.PeerDefault
		checks := []struct {
			name      string
			got, want int64
		}{
			{"system conns", int64(sys.Conns), int64(cfg.MaxConns)},
			{"system streams", int64(sys.Streams), int64(cfg.MaxStreams)},
			{"system fds", int64(sys.FD), int64(cfg.MaxFDs)},
			{"system memory", int64(sys.Memory), int64(cfg.MaxMemoryMiB) << 20},
			{"peer conns", int64(peer.Conns), int64(cfg.MaxConnsPerPeer)},
			{"peer streams", int64(peer.Streams), int64(cfg.MaxStreamsPerPeer)},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s: %s = %d, want %d", cfg.Profile, c.name, c.got, c.want)
			}
		}
	}
}
