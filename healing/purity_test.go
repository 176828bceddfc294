package healing_test

import (
	"strings"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/internal/deptest"
)

// TestPurity reads the engine's source and fails if any of it could touch
// the world or depend on when it runs: imports of the network, the OS,
// synchronisation, logging, libp2p, the twin (which imports healing to
// drive it, never the other way) or the packages that drive the engine;
// wall-clock calls; the global random source; goroutines. Store reaches
// storage only through the go-datastore interface it is given.
func TestPurity(t *testing.T) {
	forbiddenImports := []string{
		"net", "os", "syscall", "sync", "log", "crypto/rand", "unsafe", "math/rand", "github.com/libp2p",
		"github.com/x0tta6bl4/x0tta6bl4/node", "github.com/x0tta6bl4/x0tta6bl4/twin",
		"github.com/x0tta6bl4/x0tta6bl4/cmd", "github.com/x0tta6bl4/x0tta6bl4/consensus",
	}
	forbiddenCalls := map[string][]string{
		"time": {"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "Tick", "NewTimer", "NewTicker"},
		// Package-level functions of math/rand/v2 use the global source.
		"rand": {"Int", "IntN", "Int32", "Int32N", "Int64", "Int64N", "Uint32", "Uint32N", "Uint64",
			"Uint64N", "UintN", "N", "Float32", "Float64", "Perm", "Shuffle", "ExpFloat64", "NormFloat64"},
	}
	files := deptest.Parse(t, []string{"*.go"}, nil)
	if len(files) < 10 {
		t.Fatalf("found only %d source files: wrong directory?", len(files))
	}
	for _, f := range files {
		for _, p := range f.Imports() {
			if p == "math/rand/v2" {
				continue
			}
			for _, bad := range forbiddenImports {
				if p == bad || strings.HasPrefix(p, bad+"/") {
					t.Errorf("%s imports %s", f.Name, p)
				}
			}
		}
	}
	deptest.CheckPure(t, files, nil, forbiddenCalls)
	for _, dep := range deptest.Deps(t) {
		for _, bad := range []string{"github.com/libp2p/", "github.com/x0tta6bl4/x0tta6bl4/node", "github.com/x0tta6bl4/x0tta6bl4/twin"} {
			if strings.HasPrefix(dep, bad) {
				t.Errorf("healing depends on %s", dep)
			}
		}
	}
}
