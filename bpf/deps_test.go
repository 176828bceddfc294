package bpf

import (
	"strings"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/internal/deptest"
)

// TestImports keeps the package a collector: it publishes nothing itself
// (no libp2p, no HTTP, no other package of the node), so the overlay can
// gossip what it returns and the twin can do without it.
func TestImports(t *testing.T) {
	forbidden := []string{
		"github.com/libp2p/",
		"github.com/x0tta6bl4/x0tta6bl4/",
		"net/http",
		"github.com/prometheus/client_golang",
	}
	files := deptest.Parse(t, []string{"*.go"}, nil)
	for _, f := range files {
		for _, path := range f.Imports() {
			for _, bad := range forbidden {
				if strings.HasPrefix(path, bad) {
					t.Errorf("%s imports %s", f.Name, path)
				}
			}
		}
	}
	if len(files) == 0 {
		t.Fatal("no source files checked")
	}
}
