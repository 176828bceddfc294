package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/node"
	"go.uber.org/goleak"
)

func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = Run(context.Background(), args, &o, &e)
	return o.String(), e.String(), err
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"config"}, "unknown command"},
		{[]string{"config", "burn"}, "unknown command"},
		{[]string{"id", "--nope"}, "flag provided but not defined"},
		{[]string{"id", "extra"}, "unexpected argument"},
		{[]string{"devnet", "--nodes", "1"}, "at least 2"},
		{[]string{"devnet", "--nodes", "many"}, "invalid value"},
		{[]string{"devnet", "--log-level", "loud"}, "log-level"},
		{[]string{"init", "--profile", "moon"}, "unknown profile"},
		{[]string{"config", "show", "--profile", "moon"}, "unknown profile"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Setenv(node.RepoEnv, t.TempDir())
			_, _, err := run(t, tt.args...)
			var u usageError
			if !errors.As(err, &u) {
				t.Fatalf("err = %v, want a usage error", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	out, _, err := run(t, "help")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range commands {
		if !strings.Contains(out, c.name) {
			t.Errorf("help lacks %q", c.name)
		}
	}
	if _, _, err := run(t, "id", "-h"); err != nil {
		t.Errorf("id -h: %v", err)
	}
}

func TestInitIDConfig(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "r")
	out, _, err := run(t, "init", "--repo", repo, "--profile", "local")
	if err != nil {
		t.Fatal(err)
	}
	// What a founder sends, and how to be listed or admitted.
	for _, want := range []string{"peer ID 12D3KooW", "fingerprint ", "x0tta6bl4 genesis --trust-domain", "--action admit:12D3KooW", filepath.Join(repo, node.APITokenFile)} {
		if !strings.Contains(out, want) {
			t.Errorf("init printed %q, lacking %q", out, want)
		}
	}
	if st, err := os.Stat(filepath.Join(repo, node.APITokenFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("init's api token: %v, %v; want mode 0600", st, err)
	}
	if _, _, err := run(t, "init", "--repo", repo); !errors.Is(err, node.ErrRepoExists) {
		t.Errorf("second init: %v, want ErrRepoExists", err)
	}
	// With no daemon, id reads the key from the repo.
	t.Setenv(node.RepoEnv, repo)
	out, _, err = run(t, "id", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var id node.IDBody
	if err := json.Unmarshal([]byte(out), &id); err != nil || !strings.HasPrefix(id.ID, "12D3KooW") {
		t.Errorf("id --json = %q, %v", out, err)
	}
	if _, _, err := run(t, "peers"); !errors.Is(err, node.ErrNotRunning) {
		t.Errorf("peers without a daemon: %v, want ErrNotRunning", err)
	}
	out, _, err = run(t, "config", "show")
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := node.ParseConfig([]byte(out)); err != nil || cfg.Profile != node.ProfileLocal {
		t.Errorf("config show printed an unparsable or wrong config: %v\n%s", err, out)
	}
	// An unknown key in config.toml stops the daemon, naming the key.
	f, _ := os.OpenFile(filepath.Join(repo, node.ConfigFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("colour = \"blue\"\n")
	f.Close()
	if _, _, err := run(t, "daemon"); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Errorf("daemon with an unknown key: %v", err)
	}
	if _, _, err := run(t, "config", "show", "--repo", filepath.Join(t.TempDir(), "none")); !errors.Is(err, node.ErrNoRepo) {
		t.Errorf("config show without repo: %v", err)
	}
	out, _, err = run(t, "config", "show", "--profile", "wan")
	if cfg, perr := node.ParseConfig([]byte(out)); err != nil || perr != nil || cfg.Profile != node.ProfileWAN {
		t.Errorf("config show --profile wan: %v %v", err, perr)
	}
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestDevnetJSON: with --json, stdout is one JSON object with the issue's
// fields and nothing else; the status lines go to stderr.
func TestDevnetJSON(t *testing.T) {
	stdout, stderr, err := run(t, "devnet", "--nodes", "3", "--duration", "5s", "--json", "--memory", "--status", "1s")
	if err != nil {
		t.Fatalf("devnet: %v\n%s", err, stderr)
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if dec.More() || strings.Count(stdout, "\n") != 1 {
		t.Errorf("stdout holds more than one JSON object: %q", stdout)
	}
	for _, k := range []string{"nodes", "min_peers", "max_peers", "dht_put_get_ok", "gossip_sent", "gossip_delivered", "gossip_p99_ms"} {
		if _, ok := m[k]; !ok {
			t.Errorf("summary lacks %s: %s", k, stdout)
		}
	}
	if m["nodes"] != 3.0 || m["dht_put_get_ok"] != true || m["gossip_delivered"] != m["gossip_sent"].(float64)*2 {
		t.Errorf("summary %s", stdout)
	}
	if !strings.Contains(stderr, "peers=[") {
		t.Errorf("no status line on stderr: %q", stderr)
	}
}

func TestStaleAPIFile(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "r")
	if _, _, err := run(t, "init", "--repo", repo); err != nil {
		t.Fatal(err)
	}
	// An address nothing listens on, as a daemon killed with -9 leaves.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r, _ := node.OpenRepo(repo)
	if err := r.WriteAPIAddr(addr); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, "id", "--repo", repo, "--json")
	if err != nil || !strings.Contains(out, "12D3KooW") {
		t.Errorf("id with a stale api file: %q, %v", out, err)
	}
	if _, _, err := run(t, "peers", "--repo", repo); err == nil || !strings.Contains(err.Error(), "still running") {
		t.Errorf("peers with a stale api file: %v", err)
	}
}
