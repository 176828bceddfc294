package node

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
)

// grafanaDashboard is the part of a Grafana dashboard the test reads.
type grafanaDashboard struct {
	Templating struct {
		List []struct {
			Name string `json:"name"`
		} `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaPanel struct {
	Type    string         `json:"type"`
	Title   string         `json:"title"`
	Panels  []grafanaPanel `json:"panels"` // a collapsed row's
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// promName matches a metric name in PromQL followed by its selector:
// every query of the dashboard selects $instance, so every metric it
// names has one.
var promName = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\{`)

// TestGrafanaDashboard reads docs/grafana/x0tta6bl4.json and fails for
// every metric a panel names that running nodes do not export (in
// /metrics, after they have met, routed, handshaken and voted), and for
// every query not templated on $instance.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("../docs/grafana/x0tta6bl4.json")
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(d.Templating.List, func(v struct {
		Name string `json:"name"`
	}) bool {
		return v.Name == "instance"
	}) {
		t.Error("the dashboard has no instance variable")
	}
	wanted := map[string][]string{} // metric → panels
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, tg := range p.Targets {
				if !strings.Contains(tg.Expr, `instance=~"$instance"`) {
					t.Errorf("panel %q: query not templated on $instance: %s", p.Title, tg.Expr)
				}
				for _, m := range promName.FindAllStringSubmatch(tg.Expr, -1) {
					wanted[m[1]] = append(wanted[m[1]], p.Title)
				}
			}
		}
	}
	walk(d.Panels)
	if len(wanted) < 30 {
		t.Fatalf("found only %d metrics in the dashboard: %v", len(wanted), wanted)
	}

	exported := runningMetrics(t)
	for m, panels := range wanted {
		name := m
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(m, suffix); ok && exported[base] {
				name = base
			}
		}
		if !exported[name] {
			t.Errorf("panels %q name %s, which the nodes do not export", panels, m)
		}
	}
}

// runningMetrics starts three nodes, has them find each other, route,
// ping end to end (a handshake), ping a peer that is nowhere (a DATA
// drop) and vote, and returns the metric families any of them exports.
func runningMetrics(t *testing.T) map[string]bool {
	t.Helper()
	cfg := localConfig()
	cfg.Telemetry.Interval = 200 * time.Millisecond
	var keys []crypto.PrivKey
	var ids []peer.ID
	for range 3 {
		k, id := newKey(t)
		keys, ids = append(keys, k), append(ids, id)
	}
	cfg.Governance.Genesis = writeGenesis(t, t.TempDir(), 100, ids...)
	a := startNodeWith(t, cfg, Options{Key: keys[0]})
	cfg.BootstrapPeers = []string{a.Addrs()[0].String()}
	b, c := startNodeWith(t, cfg, Options{Key: keys[1]}), startNodeWith(t, cfg, Options{Key: keys[2]})
	nodes := []*Node{a, b, c}
	waitFor(t, 30*time.Second, "mesh neighbours and full views", func() bool {
		for _, n := range nodes {
			if meshNeighbors(n) < 2 || n.Telemetry().ViewSize() < 3 {
				return false
			}
		}
		return true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := a.Mesh().Ping(ctx, c.ID()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	_, nowhere := newKey(t)
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	_, _ = a.Mesh().Ping(pctx, nowhere) // no route: the engine drops it
	pcancel()
	var rec *consensus.Record
	waitFor(t, 20*time.Second, "a to propose (after its first governance sync)", func() bool {
		var err error
		rec, err = a.Governance().Propose(ctx, "a poll", "", time.Minute, 0, 500_000, nil)
		return err == nil
	})
	waitFor(t, 20*time.Second, "b to vote", func() bool {
		_, err := b.Governance().Vote(ctx, rec.ID(), 1, 1)
		return err == nil
	})
	time.Sleep(time.Second) // the vote's announcement lands, telemetry flows
	out := map[string]bool{}
	for _, n := range nodes {
		for name := range gather(t, n) {
			out[name] = true
		}
	}
	return out
}
