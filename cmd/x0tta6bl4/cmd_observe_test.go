package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/node"
	"github.com/x0tta6bl4/x0tta6bl4/observe"
)

// TestObserveThreeDaemons runs the README's steps with three daemon
// processes and `x0tta6bl4 observe --bootstrap <first node> --json`: the
// summary counts the three nodes and lists the three topics, every line
// is an event with its fields, and while the observer watches no daemon
// lists it as a mesh neighbour, a destination or a next hop.
func TestObserveThreeDaemons(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three daemon processes")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	var repos []string
	for _, name := range []string{"a", "b", "c"} {
		r := filepath.Join(dir, name)
		if out, err := exec.Command(bin, "init", "--repo", r, "--profile", "local").CombinedOutput(); err != nil {
			t.Fatalf("init: %v\n%s", err, out)
		}
		repos = append(repos, r)
	}
	startDaemon(t, bin, repos[0])
	var first node.IDBody
	cli(t, bin, &first, "id", "--repo", repos[0], "--json")
	for _, r := range repos[1:] {
		startDaemon(t, bin, r, "--bootstrap", first.Addrs[0])
	}

	recording := filepath.Join(dir, "observe.ndjson")
	obs := exec.Command(bin, "observe", "--bootstrap", first.Addrs[0], "--duration", "12s", "--json", "--record", recording)
	var stdout bytes.Buffer
	obs.Stdout = &stdout
	errPipe, err := obs.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := obs.Start(); err != nil {
		t.Fatal(err)
	}
	// The first stderr line names the observer; the rest is kept for
	// failures.
	ids, stderrDone := make(chan string, 1), make(chan string, 1)
	go func() {
		var all strings.Builder
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "observer "); ok {
				id, _, _ := strings.Cut(rest, " ")
				ids <- id
			}
			all.WriteString(sc.Text() + "\n")
		}
		stderrDone <- all.String()
	}()
	done := make(chan error, 1)
	go func() { done <- obs.Wait() }()
	observer := ""
	routesChecked := 0
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("observe: %v\n%s", err, <-stderrDone)
			}
			running = false
		case id := <-ids:
			observer = id
		case <-time.After(2 * time.Second):
			if observer == "" {
				continue
			}
			for i, r := range repos {
				var routes node.MeshRoutesBody
				cli(t, bin, &routes, "mesh", "routes", "--repo", r, "--json")
				for _, nb := range routes.Neighbors {
					if nb.Peer.String() == observer {
						t.Errorf("daemon %d lists the observer as a mesh neighbour", i)
					}
				}
				for _, rt := range routes.Routes {
					if rt.DstPeer.String() == observer || rt.NextHopPeer.String() == observer {
						t.Errorf("daemon %d routes to or through the observer: %+v", i, rt)
					}
				}
			}
			routesChecked++
		}
	}
	if stderr := <-stderrDone; observer == "" || routesChecked < 3 {
		t.Fatalf("observer %q, routes checked %d times; stderr:\n%s", observer, routesChecked, stderr)
	}

	var summary observe.Summary
	var telemetry int
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		line := sc.Bytes()
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(line, &head); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		if head.Type == "summary" {
			if err := json.Unmarshal(line, &summary); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var ev map[string]any
		_ = json.Unmarshal(line, &ev)
		if head.Type == string(observe.EventTelemetry) {
			telemetry++
			for _, k := range []string{"time", "type", "topic", "from", "seq", "latency_ms"} {
				if _, ok := ev[k]; !ok {
					t.Errorf("telemetry event without %q: %s", k, line)
				}
			}
		}
		if _, ok := ev["data"]; ok {
			t.Errorf("the NDJSON output carries payloads: %s", line)
		}
	}
	want := []string{"x0tta6bl4/anomaly/1", "x0tta6bl4/gov/1", "x0tta6bl4/telemetry/1"}
	if summary.Type != "summary" || summary.NodesSeen != 3 || !slices.Equal(summary.Topics, want) || telemetry < 15 ||
		summary.TelemetryP50MS <= 0 || summary.TelemetryP99MS < summary.TelemetryP50MS {
		t.Errorf("summary %+v after %d telemetry events, want nodes_seen 3 and topics %v", summary, telemetry, want)
	}

	// The recording plays back to the same summary (but the duplicates,
	// which are not recorded).
	out, err := exec.Command(bin, "observe", "--replay", recording, "--speed", "0", "--json").Output()
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	var again observe.Summary
	if err := json.Unmarshal(lines[len(lines)-1], &again); err != nil {
		t.Fatal(err)
	}
	if again.NodesSeen != 3 || again.Messages != summary.Messages || again.TelemetryP50MS != summary.TelemetryP50MS {
		t.Errorf("replayed summary %+v, live %+v", again, summary)
	}
}
