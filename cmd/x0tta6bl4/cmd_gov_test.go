package main

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/node"
)

// govNode starts a node in the process on a fresh repo, with its API
// address in the repo as a daemon leaves it, and returns the repo path.
func govNode(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "repo")
	cfg := node.DefaultLocalConfig()
	cfg.Datastore = "memory"
	cfg.Governance.CheckInterval = 50 * time.Millisecond
	repo, err := node.InitRepo(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	key, err := repo.Key()
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// The network's genesis lists the node with 100 tokens, as
	// `x0tta6bl4 genesis` writes it.
	cfg.Governance.Genesis = filepath.Join(path, "genesis.toml")
	if _, _, err := run(t, "genesis", "--trust-domain", cfg.TrustDomain, "--out", cfg.Governance.Genesis, id.String()+"=100"); err != nil {
		t.Fatal(err)
	}
	token, err := repo.APIToken()
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(cfg, node.Options{Key: key, APIToken: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := repo.WriteAPIAddr(n.APIAddr()); err != nil {
		t.Fatal(err)
	}
	// A node on a new store writes after its first governance sync.
	for deadline := time.Now().Add(15 * time.Second); !n.Governance().Stats().Synced; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("governance never synced")
		}
	}
	return path
}

// TestGovCommands runs the gov group against a running node: propose,
// vote, list, show and status, in text and JSON, and the usage errors.
func TestGovCommands(t *testing.T) {
	repo := govNode(t)
	out, stderr, err := run(t, "gov", "propose", "--repo", repo, "--title", "quarantine a flooder",
		"--duration", "1500ms", "--quorum", "0.5", "--threshold", "0.5",
		"--action", "quarantine:12D3KooWGRUVh2UH2CeC6UNdgBYZ5JsZ9JbNGoVM1vbPjyJb9Qvx", "--json")
	if err != nil {
		t.Fatalf("propose: %v\n%s", err, stderr)
	}
	var p node.GovProposal
	if err := json.Unmarshal([]byte(out), &p); err != nil || len(p.ID) != 64 || p.State != "open" {
		t.Fatalf("propose --json: %v %q", err, out)
	}

	// Flags after the positional arguments, as the issue writes them.
	out, _, err = run(t, "gov", "vote", p.ID[:12], "yes", "--tokens", "100", "--repo", repo)
	if err != nil || !strings.Contains(out, "voted yes with 100 tokens (10 votes)") {
		t.Fatalf("vote: %v %q", err, out)
	}
	out, _, err = run(t, "gov", "list", "--repo", repo)
	if err != nil || !strings.Contains(out, p.ID[:16]) || !strings.Contains(out, "quarantine a flooder") {
		t.Fatalf("list: %v %q", err, out)
	}
	out, _, err = run(t, "gov", "show", p.ID, "--repo", repo)
	if err != nil || !strings.Contains(out, "100 tokens = 10 votes") || !strings.Contains(out, "as it stands") {
		t.Fatalf("show: %v %q", err, out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, _, err = run(t, "gov", "show", p.ID, "--repo", repo, "--json")
		if err != nil {
			t.Fatal(err)
		}
		var shown node.GovProposal
		if err := json.Unmarshal([]byte(out), &shown); err != nil {
			t.Fatal(err)
		}
		if shown.State == "passed" && shown.Tally != nil && shown.Tally.Final && len(shown.Tally.Ballots) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never decided: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, _, err = run(t, "gov", "status", "--repo", repo)
	if err != nil || !strings.Contains(out, "allocation  100 tokens") || !strings.Contains(out, "2 records by 1 authors") {
		t.Fatalf("status: %v %q", err, out)
	}

	// The node refuses what the command line cannot know is wrong.
	_, _, err = run(t, "gov", "vote", p.ID, "no", "--tokens", "1", "--repo", repo)
	var ae *node.APIError
	if !errors.As(err, &ae) || ae.Status != 409 {
		t.Errorf("vote after the deadline: %v", err)
	}

	usage := []struct {
		args []string
		want string
	}{
		{[]string{"gov", "propose", "--repo", repo}, "--title is required"},
		{[]string{"gov", "propose", "--repo", repo, "--title", "x", "--action", "ban:x"}, "unknown kind"},
		{[]string{"gov", "vote", p.ID, "--tokens", "1", "--repo", repo}, "usage: x0tta6bl4 gov vote"},
		{[]string{"gov", "vote", p.ID, "maybe", "--tokens", "1", "--repo", repo}, "want yes, no or abstain"},
		{[]string{"gov", "vote", p.ID, "yes", "--repo", repo}, "--tokens is required"},
		{[]string{"gov", "show", "--repo", repo}, "usage: x0tta6bl4 gov show"},
		{[]string{"gov", "list", "extra", "--repo", repo}, "unexpected argument"},
		{[]string{"gov"}, "unknown command"},
	}
	for _, tt := range usage {
		_, _, err := run(t, tt.args...)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v; want a usage error saying %q", tt.args, err, tt.want)
		}
	}
}
