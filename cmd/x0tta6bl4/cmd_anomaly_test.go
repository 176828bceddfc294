package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
)

func anomalyRun(args []string, stdout, stderr *bytes.Buffer) error {
	return Run(context.Background(), append([]string{"anomaly"}, args...), stdout, stderr)
}

func TestAnomalyUsageErrors(t *testing.T) {
	for name, args := range map[string][]string{
		"no command":      nil,
		"unknown command": {"predict"},
		"train no out":    {"train"},
		"train bad kind":  {"train", "--out", "x", "--kind", "oracle"},
		"train no runs":   {"train", "--out", "x", "--runs", "0"},
		"eval stray":      {"eval", "extra"},
		"eval bad flag":   {"eval", "--colour", "red"},
	} {
		var out, errOut bytes.Buffer
		err := anomalyRun(args, &out, &errOut)
		var u usageError
		if !errors.As(err, &u) || !strings.HasPrefix(err.Error(), "anomaly: usage: ") {
			t.Errorf("%s: error %v, want an anomaly usage error", name, err)
		}
		if out.Len() != 0 {
			t.Errorf("%s: wrote %q to stdout", name, out.String())
		}
	}
}

// TestAnomalyEvalSmall is `anomaly eval --json` at a small scale: every
// detector's figures in one object with the keys the issue names, and
// the shipped one among them; then `anomaly train` writes a model that
// decodes, and eval judges it beside the others.
func TestAnomalyEvalSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("trains four detectors on twin runs")
	}
	small := []string{"--runs", "18", "--duration", "30s", "--progress=false"}
	model := filepath.Join(t.TempDir(), "model.bin")
	var out, errOut bytes.Buffer
	if err := anomalyRun(append([]string{"train", "--out", model, "--kind", "mad", "--json"}, small...), &out, &errOut); err != nil {
		t.Fatalf("train: %v (%s)", err, errOut.String())
	}
	var tr trainResult
	if err := json.Unmarshal(out.Bytes(), &tr); err != nil || tr.Kind != "mad" || tr.Episodes != 18 {
		t.Fatalf("train result %s: %v", out.Bytes(), err)
	}
	blob, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	if det, err := anomaly.DecodeModel(blob); err != nil || det.Name() != "mad-twin" || anomaly.DigestHex(blob) != tr.SHA256 {
		t.Fatalf("written model: %v", err)
	}

	out.Reset()
	args := append([]string{"eval", "--json", "--held-out-runs", "6", "--model", model}, small...)
	if err := anomalyRun(args, &out, &errOut); err != nil {
		t.Fatalf("eval: %v (%s)", err, errOut.String())
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(out.Bytes(), &top); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(top)); strings.Join(got, " ") != "detectors events node_hours shipped" {
		t.Errorf("keys %v", got)
	}
	var rep anomaly.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, d := range rep.Detectors {
		names = append(names, d.Name)
		if d.USPerNode <= 0 || d.PerClass == nil {
			t.Errorf("detector %+v", d)
		}
	}
	if strings.Join(names, " ") != "graphsage-twin mad-twin ewma-twin iforest-twin mad-twin" ||
		!slices.Contains(names[:4], rep.Shipped) || rep.Events == 0 || rep.NodeHours <= 0 {
		t.Errorf("report: detectors %v, shipped %q, %d events over %.2f node-hours", names, rep.Shipped, rep.Events, rep.NodeHours)
	}
}
