package node

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	pebbleds "github.com/ipfs/go-ds-pebble"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// Files and directories of a repo dir.
const (
	KeyFile       = "identity.key" // libp2p private key, protobuf, mode 0600
	ConfigFile    = "config.toml"  // the node's Config
	DatastoreDir  = "datastore"    // pebble datastore
	APIFile       = "api"          // host:port of the running daemon's API
	APITokenFile  = "api.token"    // bearer token of the API's mutating requests, mode 0600
	RepoEnv       = "X0TTA6BL4_REPO"
	defaultRepoIn = ".x0tta6bl4"
)

// ErrRepoExists is returned by InitRepo when the directory already holds a
// key or a config.
var ErrRepoExists = errors.New("node: repo already initialized")

// ErrNoRepo is returned by OpenRepo when the directory holds no key.
var ErrNoRepo = errors.New("node: repo not initialized")

// ErrNoAPIToken is returned by Repo.APIToken when the repo holds no
// api.token.
var ErrNoAPIToken = errors.New("node: no api token")

// ErrNotRunning is returned by Repo.APIAddr when no daemon has written its
// API address.
var ErrNotRunning = errors.New("node: no daemon running")

// DefaultRepoPath is $X0TTA6BL4_REPO if set, else ~/.x0tta6bl4.
func DefaultRepoPath() (string, error) {
	if p := os.Getenv(RepoEnv); p != "" {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find home dir (set %s): %w", RepoEnv, err)
	}
	return filepath.Join(home, defaultRepoIn), nil
}

// Repo is a node's directory: identity key, config.toml, datastore and,
// while a daemon runs, its API address.
type Repo struct {
	Path string
}

// InitRepo creates a repo at path with a fresh Ed25519 identity and cfg as
// config.toml. It refuses to touch a directory that already holds either.
func InitRepo(path string, cfg Config) (*Repo, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Repo{Path: path}
	for _, f := range []string{KeyFile, pqcsec.KeyFileName, ConfigFile} {
		if _, err := os.Stat(r.file(f)); err == nil {
			return nil, fmt.Errorf("%s: %w", r.file(f), ErrRepoExists)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("init repo: %w", err)
		}
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("init repo: %w", err)
	}
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate identity: %w", err)
	}
	raw, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode identity: %w", err)
	}
	if err := writeNew(r.file(KeyFile), raw, 0o600); err != nil {
		return nil, err
	}
	if _, err := pqcsec.LoadOrCreateIdentity(path, key, rand.Reader); err != nil {
		return nil, fmt.Errorf("init hybrid identity: %w", err)
	}
	var sb strings.Builder
	if err := WriteConfig(&sb, cfg); err != nil {
		return nil, err
	}
	if err := writeNew(r.file(ConfigFile), []byte(sb.String()), 0o644); err != nil {
		return nil, err
	}
	if _, err := r.EnsureAPIToken(); err != nil {
		return nil, err
	}
	return r, nil
}

// writeNew creates a file that must not exist yet.
func writeNew(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", path, ErrRepoExists)
		}
		return fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes the entries of dir durable: a file created or renamed
// into it is in it after a crash only once the directory itself is
// synced (fsync of the file makes its contents durable, not its name).
// A variable so that tests can count the calls.
var syncDir = func(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// OpenRepo opens an initialized repo.
func OpenRepo(path string) (*Repo, error) {
	r := &Repo{Path: path}
	if _, err := os.Stat(r.file(KeyFile)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w (run x0tta6bl4 init)", path, ErrNoRepo)
		}
		return nil, fmt.Errorf("open repo: %w", err)
	}
	return r, nil
}

func (r *Repo) file(name string) string { return filepath.Join(r.Path, name) }

// Key reads the identity key. It refuses a key file readable by others.
func (r *Repo) Key() (crypto.PrivKey, error) {
	path := r.file(KeyFile)
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read identity: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("identity key %s has mode %v, want 0600", path, st.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read identity: %w", err)
	}
	key, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("decode identity %s: %w", path, err)
	}
	return key, nil
}

// Identity loads the node's hybrid identity for key (the ML-DSA-65 and
// KEM keys in pqcsec.KeyFileName, mode 0600), creating it on first use.
func (r *Repo) Identity(key crypto.PrivKey) (*pqcsec.Identity, error) {
	id, err := pqcsec.LoadOrCreateIdentity(r.Path, key, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("hybrid identity: %w", err)
	}
	return id, nil
}

// Config reads config.toml.
func (r *Repo) Config() (Config, error) {
	return LoadConfig(r.file(ConfigFile))
}

// OpenDatastore opens the datastore named by cfg.Datastore: pebble in the
// repo dir, or an in-memory map. The caller closes it after the node.
func (r *Repo) OpenDatastore(cfg Config) (ds.Batching, error) {
	if cfg.Datastore == "memory" {
		return MemoryDatastore(), nil
	}
	d, err := pebbleds.NewDatastore(r.file(DatastoreDir))
	if err != nil {
		return nil, fmt.Errorf("open datastore: %w", err)
	}
	return d, nil
}

// MemoryDatastore is a thread-safe in-memory datastore for tests and
// ephemeral nodes.
func MemoryDatastore() *dssync.MutexDatastore {
	return dssync.MutexWrap(ds.NewMapDatastore())
}

// APIToken reads the API's bearer token from api.token (ErrNoAPIToken if
// there is none). It refuses a file readable by others.
func (r *Repo) APIToken() (string, error) {
	path := r.file(APITokenFile)
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", path, ErrNoAPIToken)
	}
	if err != nil {
		return "", fmt.Errorf("read api token: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("api token %s has mode %v, want 0600", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read api token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("api token %s is empty", path)
	}
	return tok, nil
}

// EnsureAPIToken returns the API's bearer token, first writing a fresh
// one to api.token (mode 0600) if the repo has none: init writes it, and
// a daemon started on a repo made before there were tokens writes it then.
func (r *Repo) EnsureAPIToken() (string, error) {
	tok, err := r.APIToken()
	if !errors.Is(err, ErrNoAPIToken) {
		return tok, err
	}
	tok = NewAPIToken()
	if err := writeNew(r.file(APITokenFile), []byte(tok+"\n"), 0o600); err != nil {
		if errors.Is(err, ErrRepoExists) {
			return r.APIToken() // written by another process meanwhile
		}
		return "", err
	}
	return tok, nil
}

// WriteAPIAddr records the running daemon's API address.
func (r *Repo) WriteAPIAddr(addr string) error {
	tmp := r.file(APIFile + ".tmp")
	if err := os.WriteFile(tmp, []byte(addr+"\n"), 0o600); err != nil {
		return fmt.Errorf("write api file: %w", err)
	}
	if err := os.Rename(tmp, r.file(APIFile)); err != nil {
		return fmt.Errorf("write api file: %w", err)
	}
	return syncDir(r.Path)
}

// RemoveAPIAddr forgets the API address when the daemon stops.
func (r *Repo) RemoveAPIAddr() error {
	err := os.Remove(r.file(APIFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove api file: %w", err)
	}
	return nil
}

// APIAddr is the running daemon's API address, or ErrNotRunning.
func (r *Repo) APIAddr() (string, error) {
	b, err := os.ReadFile(r.file(APIFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", r.Path, ErrNotRunning)
	}
	if err != nil {
		return "", fmt.Errorf("read api file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
