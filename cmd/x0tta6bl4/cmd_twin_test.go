package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/twin"
)

// twinRun runs "x0tta6bl4 twin args...".
func twinRun(args []string, stdout, stderr *bytes.Buffer) error {
	return Run(context.Background(), append([]string{"twin"}, args...), stdout, stderr)
}

func TestTwinUsageErrors(t *testing.T) {
	tests := map[string][]string{
		"no command":          nil,
		"unknown command":     {"frobnicate"},
		"unknown flag":        {"cascade", "--colour", "red"},
		"stray argument":      {"cascade", "extra"},
		"unknown topology":    {"cascade", "--topology", "torus"},
		"unknown node":        {"cascade", "--fail", "node-99"},
		"bad connectivity":    {"cascade", "--connectivity", "2"},
		"file without path":   {"cascade", "--topology", "file"},
		"bad link figure":     {"cascade", "--loss", "1"},
		"sim unknown node":    {"simulate", "--fail", "nobody"},
		"sim bad detection":   {"simulate", "--detection", "psychic"},
		"sim early recovery":  {"simulate", "--fail", "node-1", "--fail-at", "5s", "--recover-at", "2s"},
		"sim bad profile":     {"simulate", "--profile", "mars"},
		"sim bad fault":       {"simulate", "--fault", "meltdown:node-1"},
		"sim fault no node":   {"simulate", "--fault", "slow:node-99:10ms"},
		"sim fault no link":   {"simulate", "--fault", "lossy:node-1-node-9:0.1", "--topology", "ring"},
		"sim bad flow":        {"simulate", "--flow", "node-1"},
		"sim flow no node":    {"simulate", "--flow", "node-1,node-99"},
		"sim flows twice":     {"simulate", "--flow", "node-1,node-2", "--flows", "3"},
		"sim rekey alone":     {"simulate", "--rekey", "5s"},
		"sim heal mode alone": {"simulate", "--heal-mode", "observe"},
		"sim rehearse alone":  {"simulate", "--heal-rehearse"},
		"sim bad heal mode":   {"simulate", "--heal", "--heal-mode", "maybe"},
	}
	for name, args := range tests {
		var out, errOut bytes.Buffer
		err := twinRun(args, &out, &errOut)
		var u usageError
		if !errors.As(err, &u) || !strings.HasPrefix(err.Error(), "twin: usage: ") {
			t.Errorf("%s: error %v, want a twin usage error", name, err)
		}
		if out.Len() != 0 {
			t.Errorf("%s: wrote %q to stdout", name, out.String())
		}
	}
}

func TestTwinCascade(t *testing.T) {
	tests := []struct {
		name          string
		args          []string
		wantFailed    int
		wantConnected float64
	}{
		{"star hub", []string{"--topology", "star", "--nodes", "8", "--fail", "node-0"}, 1, 0},
		{"ring", []string{"--topology", "ring", "--nodes", "8", "--fail", "node-3"}, 1, 1},
		{"file", []string{"--file", "../../twin/testdata/house.json", "--fail", "gw", "--threshold", "1"}, 2, 1.0 / 3},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		args := append([]string{"cascade", "--json"}, tt.args...)
		if err := twinRun(args, &out, &errOut); err != nil {
			t.Fatalf("%s: %v (%s)", tt.name, err, errOut.String())
		}
		var res twin.CascadeResult
		dec := json.NewDecoder(&out)
		if err := dec.Decode(&res); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if dec.More() {
			t.Errorf("%s: more than one JSON object", tt.name)
		}
		if res.Failed != tt.wantFailed || res.ConnectedFraction != tt.wantConnected {
			t.Errorf("%s: failed %d connected %v, want %d and %v", tt.name, res.Failed, res.ConnectedFraction, tt.wantFailed, tt.wantConnected)
		}
	}
	var out bytes.Buffer
	if err := twinRun([]string{"cascade", "--topology", "star", "--nodes", "5", "--fail", "node-0"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "round 0: node-0") || !strings.Contains(out.String(), "connected fraction of survivors 0.0000") {
		t.Errorf("text output lacks the rounds or the fraction:\n%s", out.String())
	}
}

func TestRenderProgress(t *testing.T) {
	tests := []struct {
		done, total time.Duration
		want        string
	}{
		{0, 62 * time.Second, "[>                             ]   0%  0/62 s virtual  1.5 s wall"},
		{31 * time.Second, 62 * time.Second, "[===============>              ]  50%  31/62 s virtual  1.5 s wall"},
		{62 * time.Second, 62 * time.Second, "[==============================] 100%  62/62 s virtual  1.5 s wall"},
	}
	for _, tt := range tests {
		if got := renderProgress(tt.done, tt.total, 1500*time.Millisecond); got != tt.want {
			t.Errorf("renderProgress(%v, %v)\n got %q\nwant %q", tt.done, tt.total, got, tt.want)
		}
	}
	// Within the first second nothing is drawn.
	var buf bytes.Buffer
	bar := newProgressBar(&buf)
	bar.update(time.Second, 2*time.Second)
	bar.finish()
	if buf.Len() != 0 {
		t.Errorf("drew %q within the first second", buf.String())
	}
	var nilBar *progressBar
	nilBar.update(time.Second, 2*time.Second)
	nilBar.finish()
}

func TestTwinSimulate(t *testing.T) {
	plotPath := filepath.Join(t.TempDir(), "run.png")
	var out, errOut bytes.Buffer
	args := []string{"simulate", "--nodes", "10", "--connectivity", "0.3", "--seed", "6", "--fail", "node-3",
		"--fail-at", "5s", "--duration", "20s", "--json", "--plot", plotPath}
	if err := twinRun(args, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	dec := json.NewDecoder(&out)
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		t.Fatal(err)
	}
	if dec.More() {
		t.Error("more than one JSON object")
	}
	for _, k := range []string{"mttr_seconds", "connectivity_maintained", "delivery_ratio", "events", "wall_seconds", "trace_hash"} {
		if _, ok := obj[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if obj["fail_at_seconds"] != 5.0 || obj["nodes"] != 10.0 {
		t.Errorf("fail_at_seconds %v nodes %v, want 5 and 10", obj["fail_at_seconds"], obj["nodes"])
	}
	if fi, err := os.Stat(plotPath); err != nil || fi.Size() == 0 {
		t.Errorf("plot not written: %v", err)
	}

	out.Reset()
	args = []string{"simulate", "--topology", "ring", "--nodes", "8", "--fail", "node-3", "--fail-at", "4s", "--recover-at", "8s",
		"--detection", "notified", "--profile", "local", "--duration", "12s", "--progress=false"}
	if err := twinRun(args, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{"8 nodes, 8 links", "failure at 4.0 s", "connectivity maintained"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestTwinSimulateGray: --fault injects gray faults from --fail-at for
// --fault-for, and the text output counts what they lost.
func TestTwinSimulateGray(t *testing.T) {
	var out, errOut bytes.Buffer
	args := []string{"simulate", "--topology", "grid", "--nodes", "9", "--duration", "20s", "--progress=false",
		"--flow", "node-3,node-5", "--flow", "node-1,node-7", "--fault", "blackhole:node-4",
		"--fault", "lossy:node-0-node-1:0.2", "--fail-at", "5s", "--fault-for", "10s", "--json"}
	if err := twinRun(args, &out, &errOut); err != nil {
		t.Fatalf("%v (%s)", err, errOut.String())
	}
	var res twin.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Flows != 2 || res.FailAtSeconds != 5 || res.Drops.Gray == 0 || res.Drops.Loss == 0 || !res.Recovered {
		t.Errorf("result %+v", res)
	}
	out.Reset()
	if err := twinRun(args[:len(args)-1], &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "in blackholes") || !strings.HasPrefix(out.String(), "blackhole:node-4 lossy:node-0-node-1:0.2: 9 nodes") {
		t.Errorf("text output:\n%s", out.String())
	}
}

// TestTwinSimulateChannel: --channel runs the end-to-end channel over the
// --flow pairs and the text output gains its line.
func TestTwinSimulateChannel(t *testing.T) {
	var out, errOut bytes.Buffer
	err := twinRun([]string{"simulate", "--topology", "ring", "--nodes", "6", "--duration", "12s", "--profile", "local",
		"--progress=false", "--channel", "--rekey", "4s", "--flow", "node-0,node-3"}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v (%s)", err, errOut.String())
	}
	if !strings.Contains(out.String(), "channel: ") || !strings.Contains(out.String(), "rekeys") ||
		!strings.Contains(out.String(), "delivery ratio 1.0000") {
		t.Errorf("text output:\n%s", out.String())
	}
}

// TestTwinSimulateHeal: --heal runs the healing engine on every node;
// the blackhole's flows recover with it (and not without: see
// TestTwinSimulateGray's twin scripts), --json gains "heal", the text
// output its two lines, and --heal-mode observe executes nothing.
func TestTwinSimulateHeal(t *testing.T) {
	var out, errOut bytes.Buffer
	args := []string{"simulate", "--topology", "grid", "--nodes", "9", "--duration", "30s", "--progress=false",
		"--flow", "node-3,node-5", "--flow", "node-1,node-7", "--flow", "node-0,node-8", "--flow", "node-6,node-2",
		"--fault", "blackhole:node-4", "--heal", "--json"}
	if err := twinRun(args, &out, &errOut); err != nil {
		t.Fatalf("%v (%s)", err, errOut.String())
	}
	var res twin.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	h := res.Heal
	if h == nil || h.Mode != "enforce" || h.Strategy != "avoid" || h.RootCause != "node" || h.Actions["avoid"] == 0 || !res.Recovered {
		t.Fatalf("result: recovered %v, heal %+v", res.Recovered, h)
	}
	out.Reset()
	if err := twinRun(append(args[:len(args)-1], "--heal-mode", "observe"), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if !strings.Contains(text, "healing (observe): faulty node suspect after") || !strings.Contains(text, "actions []") ||
		!strings.Contains(text, "(not all flows recovered)") {
		t.Errorf("text output:\n%s", text)
	}
}
