package ui_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/node/devnet"
)

var screenshot = flag.String("ui.screenshot", "", "also save the browser test's screenshot to this PNG file (docs/dashboard.png)")

// chromium finds Debian's chromium (.ci/run installs it).
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH (.ci/run installs Debian's chromium)")
	return ""
}

// TestBrowser loads the dashboard of a five-node devnet in headless
// Chromium: it waits for the five nodes (elements with data-peer) and a
// proposal row, kills a node and waits until the page marks it down, and
// saves a screenshot.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("runs five nodes and a browser")
	}
	exe := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	net, err := devnet.Start(ctx, devnet.Options{Nodes: 5, InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	n0 := net.Nodes[0]

	// A proposal (once the node's first governance sync lets it write)
	// and three votes: 2 × √100 = 20 votes YES.
	var rec *consensus.Record
	for deadline := time.Now().Add(30 * time.Second); ; {
		rec, err = n0.Governance().Propose(ctx, "rotate the gateway", "a dashboard test", 10*time.Minute,
			consensus.PPMOne/10, consensus.PPMOne/2, nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i, choice := range []consensus.Choice{consensus.Yes, consensus.Yes, consensus.No} {
		gov := net.Nodes[i+1].Governance()
		deadline := time.Now().Add(20 * time.Second)
		for {
			if _, err = gov.Vote(ctx, rec.ID(), choice, 100); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond) // the proposal has not reached that node yet
		}
		if err != nil {
			t.Fatalf("node %d vote: %v", i+1, err)
		}
	}

	alloc, stop := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 1280),
	)
	defer stop()
	bctx, closeBrowser := chromedp.NewContext(alloc)
	defer closeBrowser()
	url := "http://" + n0.APIAddr() + "/ui/"
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	wait := func(what, expr string) {
		t.Helper()
		wctx, cancel := context.WithTimeout(bctx, 60*time.Second)
		defer cancel()
		if _, err := chromedp.Run(wctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
			state, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`JSON.stringify([...document.querySelectorAll("[data-peer]")].map(e => e.tagName + ":" + e.dataset.state))`))
			t.Fatalf("waiting for %s: %v (elements: %s)", what, err, state)
		}
	}
	wait("five nodes in the graph", `document.querySelectorAll("svg g.node[data-peer]").length === 5 && document.querySelectorAll("tr.node-row[data-peer]").length === 5`)
	wait("the proposal row with its tally", fmt.Sprintf(`(() => { const r = document.querySelector('tr.proposal[data-id="%s"]'); return r !== null && r.textContent.includes("20.00"); })()`, rec.ID()))

	killed := net.Nodes[4].ID().String()
	if err := net.Kill(4); err != nil {
		t.Fatal(err)
	}
	wait("the killed node marked down", fmt.Sprintf(`document.querySelector('svg g.node[data-peer="%s"]')?.dataset.state === "down" && document.querySelector('tr.node-row[data-peer="%s"] .flag.down') !== null`, killed, killed))
	// The serving node selected: its routes drawn, its panel shown.
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr.node-row[data-peer="%s"]`, n0.ID())))); err != nil {
		t.Fatal(err)
	}
	// As many routes as the node's table holds, up to three: a loaded
	// host can leave a node with routes to its two neighbours alone.
	routes, err := n0.Mesh().Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := min(3, max(1, len(routes)))
	wait("the serving node's routes", fmt.Sprintf(`document.querySelectorAll("#detail tr[data-route]").length >= %d && document.querySelectorAll("svg line.route").length >= %d`, want, want))
	time.Sleep(500 * time.Millisecond) // the layout settles

	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(shot)); err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	path := filepath.Join(t.TempDir(), "dashboard.png")
	if *screenshot != "" {
		path = *screenshot
	}
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot (%d bytes) in %s", len(shot), path)
}
