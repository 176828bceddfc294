package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/node"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
)

// TestMeshView asks a running node (in this process, its API address
// written into its repo as the daemon does) for its view of the mesh.
func TestMeshView(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	cfg := node.DefaultLocalConfig()
	cfg.Telemetry.Interval = 100 * time.Millisecond
	repo, err := node.InitRepo(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	key, err := repo.Key()
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(cfg, node.Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := repo.WriteAPIAddr(n.APIAddr()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for n.Telemetry().ViewSize() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the node never took its own telemetry")
		}
		time.Sleep(20 * time.Millisecond)
	}

	stdout, _, err := run(t, "mesh", "view", "--repo", dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var g overlay.Graph
	if err := json.Unmarshal([]byte(stdout), &g); err != nil {
		t.Fatalf("%v in %s", err, stdout)
	}
	if len(g.Nodes) != 1 || g.Nodes[0].Peer != n.ID().String() || g.Nodes[0].MemoryTotal == 0 {
		t.Fatalf("view %+v", g)
	}

	stdout, _, err = run(t, "mesh", "view", "--repo", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1 nodes, 0 links", g.Nodes[0].Addr.Short(), "cpu%"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}

	if err := repo.RemoveAPIAddr(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, "mesh", "view", "--repo", dir); err == nil {
		t.Error("mesh view without a daemon succeeded")
	}
}

func TestPrintGraph(t *testing.T) {
	var a, b overlay.GraphNode
	a.Addr[0], b.Addr[0] = 0xaa, 0xbb
	a.Peer, a.MemoryTotal, a.MemoryUsed, a.SendRate = "12D3KooWAbCdEfGhIjKlMnOpQr", 4, 1, 2048
	g := overlay.Graph{
		Nodes: []overlay.GraphNode{a},
		Links: []overlay.GraphLink{{From: a.Addr, To: b.Addr, RTT: 1500 * time.Microsecond, RTTBy: 2, TCP: true, BytesSent: 3 << 20}},
	}
	var out bytes.Buffer
	printGraph(&env{stdout: &out}, g)
	for _, want := range []string{"aa000000", "…GhIjKlMnOpQr", "25.0", "2.0 KiB", "bb000000", "1.5 ms", "tcp", "3.0 MiB", "(not in view)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
