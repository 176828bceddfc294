package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/healing"
	"github.com/x0tta6bl4/x0tta6bl4/node"
)

// TestHealCommands runs the heal group against a running node: status
// and history in text and JSON, mode, pause and resume, and the usage
// errors.
func TestHealCommands(t *testing.T) {
	repo := govNode(t)
	out, stderr, err := run(t, "heal", "status", "--repo", repo)
	if err != nil || !strings.Contains(out, "mode        observe (rehearsal ") {
		t.Fatalf("status: %v %q %s", err, out, stderr)
	}
	out, _, err = run(t, "heal", "mode", "enforce", "--repo", repo, "--json")
	var st node.HealStatus
	if err != nil || json.Unmarshal([]byte(out), &st) != nil || st.Mode != healing.ModeEnforce {
		t.Fatalf("mode enforce: %v %q", err, out)
	}
	out, _, err = run(t, "heal", "pause", "--reason", "maintenance window", "--repo", repo)
	if err != nil || !strings.Contains(out, "enforce, paused: maintenance window") {
		t.Fatalf("pause: %v %q", err, out)
	}
	out, _, err = run(t, "heal", "resume", "--repo", repo)
	if err != nil || strings.Contains(out, "paused") {
		t.Fatalf("resume: %v %q", err, out)
	}
	out, _, err = run(t, "heal", "history", "--repo", repo)
	if err != nil || !strings.Contains(out, "no plans") {
		t.Fatalf("history: %v %q", err, out)
	}
	out, _, err = run(t, "heal", "history", "--repo", repo, "--json")
	var hi node.HealHistory
	if err != nil || json.Unmarshal([]byte(out), &hi) != nil || len(hi.Plans) != 0 {
		t.Fatalf("history --json: %v %q", err, out)
	}
	for _, args := range [][]string{
		{"heal", "mode", "--repo", repo},
		{"heal", "mode", "sometimes", "--repo", repo},
		{"heal", "mode", "observe", "enforce", "--repo", repo},
	} {
		if _, _, err := run(t, args...); !isUsage(err) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}

func isUsage(err error) bool {
	_, ok := err.(usageError)
	return ok
}
