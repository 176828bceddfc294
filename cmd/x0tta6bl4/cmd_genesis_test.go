package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
)

// TestGenesisCommand writes a genesis from founders on the command line
// and in a file, and refuses what no genesis can hold.
func TestGenesisCommand(t *testing.T) {
	const a, b = "12D3KooWGRUVh2UH2CeC6UNdgBYZ5JsZ9JbNGoVM1vbPjyJb9Qvx", "12D3KooWAKYpWs4hdP8jRnNe9JLpJ7BbYQcaYzojEvQVAXsZ613w"
	dir := t.TempDir()
	peers := filepath.Join(dir, "founders.txt")
	if err := os.WriteFile(peers, []byte("# founders\n"+b+"=400   # the gateway\n\nspiffe://mesh.test/node/gw1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "genesis.toml")
	stdout, stderr, err := run(t, "genesis", "--trust-domain", "mesh.test", "--tokens", "100", "--peers", peers, "--out", out, a)
	if err != nil {
		t.Fatalf("genesis: %v\n%s", err, stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	g, err := consensus.ParseGenesis(data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, g.ID().String()) || !strings.Contains(stdout, "3 founders") {
		t.Errorf("output %q", stdout)
	}
	pa, _ := consensus.ParsePeerID(a)
	pb, _ := consensus.ParsePeerID(b)
	stranger, _ := consensus.ParsePeerID("12D3KooWCZgcL227Wfp3Bdzej7RPscivUEGdeZw8p9oZooNaCiHX")
	if g.TrustDomain() != "mesh.test" || g.DefaultAllocation() != 0 || g.Allocation(pa, "") != 100 || g.Allocation(pb, "") != 400 ||
		g.Allocation(stranger, "spiffe://mesh.test/node/gw1") != 100 || g.Allocation(stranger, "") != 0 {
		t.Errorf("genesis %s", data)
	}

	stdout, _, err = run(t, "genesis", "--trust-domain", "mesh.test", "--json", a)
	if err != nil || !strings.HasPrefix(stdout, "{") {
		t.Fatalf("genesis --json: %v %q", err, stdout)
	}
	if _, err := consensus.ParseGenesis([]byte(stdout)); err != nil {
		t.Fatalf("JSON genesis: %v", err)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"genesis"}, "at least one founder"},
		{[]string{"genesis", "nobody"}, "peer ID"},
		{[]string{"genesis", a, a}, "allocated twice"},
		{[]string{"genesis", a + "=x"}, "tokens"},
		{[]string{"genesis", "--trust-domain", "Not A Domain", a}, "trust domain"},
		{[]string{"genesis", "--trust-domain", "mesh.test", "spiffe://other.test/x"}, "outside trust domain"},
	} {
		_, _, err := run(t, tt.args...)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v; want a usage error saying %q", tt.args, err, tt.want)
		}
	}
}
