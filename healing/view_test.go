package healing_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
)

// TestViewChangeNoticed: the engine rebuilds its picture of the mesh
// when the view's links change, though it keeps it while only their
// figures do: a view whose links vanished is a partition, and the view
// back whole is not.
func TestViewChangeNoticed(t *testing.T) {
	w := newWorld(t, healing.ModeEnforce, 9)
	full := w.graph
	w.runFor(2 * time.Second)
	held := func() string { return w.e.Summary().LastCycle.Held }
	if h := held(); h != "" {
		t.Fatalf("held %q on the whole view", h)
	}
	w.graph = overlay.Graph{Nodes: full.Nodes, Links: []overlay.GraphLink{}}
	w.runFor(time.Second)
	if h := held(); !strings.Contains(h, "reachable") {
		t.Errorf("held %q on a view without links, want a partition by reach", h)
	}
	w.graph = overlay.Graph{Nodes: full.Nodes, Links: slices.Clone(full.Links)}
	for i := range w.graph.Links {
		w.graph.Links[i].RTT = 3 * time.Millisecond // new figures, same shape
	}
	w.runFor(time.Second)
	if h := held(); h != "" {
		t.Errorf("held %q on the whole view again", h)
	}
}
