package healing_test

import (
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing"
)

// TestQuiet: an engine is quiet while a cycle could change nothing, and
// not once there is a symptom to diagnose or an action in force.
func TestQuiet(t *testing.T) {
	tests := []struct {
		name  string
		setup func(w *world)
		quiet bool
	}{
		{"healthy", func(*world) {}, true},
		{"flagging report", func(w *world) { w.suspect(5, 2) }, false},
		{"low scores", func(w *world) {
			w.reports = append(w.reports, healing.Report{Reporter: addr(2), Subject: addr(5), Score: 0.3})
		}, true},
		{"overloaded", func(w *world) { w.load.CPUPercent = 95 }, false},
		{"queue full", func(w *world) { w.load.QueueLen = 90 }, false},
		{"lossy own link", func(w *world) { w.links[0].DeliveryIn = 0.5 }, false},
		{"dead own link", func(w *world) { w.links[0].Alive, w.links[0].DeliveryIn = false, 0 }, true},
		{"slow own link", func(w *world) { w.links[0].RTT = 50 * time.Millisecond }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, healing.ModeEnforce, 9)
			w.runFor(3 * time.Second)
			tt.setup(w)
			w.feed()
			if got := w.e.Quiet(w.now); got != tt.quiet {
				t.Errorf("Quiet = %v, want %v", got, tt.quiet)
			}
		})
	}

	// An action in force keeps the engine busy after its symptom went,
	// until the action expires.
	w := newWorld(t, healing.ModeEnforce, 9)
	w.suspect(5, 2, 4, 6, 8)
	w.runFor(3 * time.Second)
	if len(w.e.Avoid()) == 0 {
		t.Fatal("no avoid in force")
	}
	w.clear()
	w.runFor(5 * time.Second)
	if w.e.Quiet(w.now) {
		t.Error("quiet with an avoid in force")
	}
	w.runFor(2 * time.Minute)
	if len(w.e.Avoid()) != 0 || !w.e.Quiet(w.now) {
		t.Errorf("after the avoid expired: avoid %v, quiet %v", w.e.Avoid(), w.e.Quiet(w.now))
	}
}
