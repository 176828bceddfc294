package main

import (
	"encoding/json"
	"flag"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/node"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args []string
		pos  []string
		json bool
	}{
		{[]string{"p", "--json"}, []string{"p"}, true},
		{[]string{"--json", "p", "hello", "world"}, []string{"p", "hello", "world"}, true},
		{[]string{"p", "--", "--json"}, []string{"p", "--json"}, false},
		{nil, nil, false},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		asJSON := fs.Bool("json", false, "")
		pos, err := parseArgs(fs, tt.args)
		if err != nil || !slices.Equal(pos, tt.pos) || *asJSON != tt.json {
			t.Errorf("parseArgs(%q) = %q, json %v, %v; want %q, json %v", tt.args, pos, *asJSON, err, tt.pos, tt.json)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := parseArgs(fs, []string{"p", "--nope"}); err == nil {
		t.Error("an unknown flag after an argument was accepted")
	}
}

func TestMeshUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"mesh"},
		{"mesh", "fly"},
		{"mesh", "ping"},
		{"mesh", "ping", "not-a-peer"},
		{"mesh", "send", "12D3KooWGzBn5Kk8N1pbiVLqkD5LytpqWQn7XkXr33z3qTAqK2aw"},
		{"mesh", "ping", "12D3KooWGzBn5Kk8N1pbiVLqkD5LytpqWQn7XkXr33z3qTAqK2aw", "--count", "0"},
	} {
		_, _, err := run(t, args...)
		if _, ok := err.(usageError); !ok {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	if out, _, err := run(t, "mesh", "help"); err != nil || !strings.Contains(out, "mesh routes") {
		t.Errorf("mesh help: %q, %v", out, err)
	}
}

// TestMeshCommands runs two daemons and the mesh commands against one.
func TestMeshCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs two daemon processes")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	repoA, repoB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, r := range []string{repoA, repoB} {
		if out, err := exec.Command(bin, "init", "--repo", r, "--profile", "local").CombinedOutput(); err != nil {
			t.Fatalf("init: %v\n%s", err, out)
		}
	}
	startDaemon(t, bin, repoA)
	var idA, idB node.IDBody
	cli(t, bin, &idA, "id", "--repo", repoA, "--json")
	startDaemon(t, bin, repoB, "--bootstrap", idA.Addrs[0])
	cli(t, bin, &idB, "id", "--repo", repoB, "--json")

	// The mesh link needs the DHT records; retry the ping until it has one.
	var rep MeshPingReport
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := exec.Command(bin, "mesh", "ping", idB.ID, "--repo", repoA, "--json", "--count", "1", "--timeout", "2s").Output()
		rep = MeshPingReport{}
		if err := json.Unmarshal(out, &rep); err == nil && rep.Received == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ping reply: %s", out)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if r := rep.Replies[0]; r.Hops != 1 || r.HopsBack != 1 || r.NextHop.String() != idB.ID {
		t.Errorf("ping reply %+v, want one hop each way", r)
	}
	var routes node.MeshRoutesBody
	cli(t, bin, &routes, "mesh", "routes", "--repo", repoA, "--json")
	found := false
	for _, r := range routes.Routes {
		found = found || (r.DstPeer.String() == idB.ID && r.Valid && r.Hops == 1)
	}
	if !found || len(routes.Neighbors) != 1 {
		t.Errorf("routes of a: %+v", routes)
	}
	out, err := exec.Command(bin, "mesh", "send", idB.ID, "hello", "b", "--repo", repoA).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "sent 7 bytes") {
		t.Errorf("mesh send: %q, %v", out, err)
	}
	out, err = exec.Command(bin, "mesh", "routes", "--repo", repoA).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1 neighbors") {
		t.Errorf("mesh routes: %q, %v", out, err)
	}
}
