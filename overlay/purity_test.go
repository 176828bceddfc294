package overlay_test

import (
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/internal/deptest"
)

// TestEnginePurity reads the source of the routing engine, its test
// harness and the packet formats, and fails if any of it could touch the
// world: imports of the network, the OS, synchronisation, logging,
// libp2p or the packages that drive the engine; wall-clock calls; the
// global random source; goroutines. The drivers live in other packages.
func TestEnginePurity(t *testing.T) {
	forbiddenImports := []string{ // and everything under them
		"net", "os", "syscall", "sync", "log", "crypto/rand", "unsafe", "github.com/libp2p",
		"github.com/x0tta6bl4/x0tta6bl4/node", "github.com/x0tta6bl4/x0tta6bl4/twin",
		"github.com/x0tta6bl4/x0tta6bl4/cmd",
	}
	forbiddenCalls := map[string][]string{
		"time": {"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "Tick", "NewTimer", "NewTicker"},
		// Package-level functions of math/rand/v2 use the global source.
		"rand": {"Int", "IntN", "Int32", "Int32N", "Int64", "Int64N", "Uint32", "Uint32N", "Uint64",
			"Uint64N", "UintN", "N", "Float32", "Float64", "Perm", "Shuffle", "ExpFloat64", "NormFloat64"},
	}
	files := deptest.Parse(t, []string{"*.go", "overlaytest/*.go", "../protocols/*.go"}, nil)
	if len(files) < 10 {
		t.Fatalf("found only %d source files: wrong directory?", len(files))
	}
	for _, f := range files {
		for _, path := range f.Imports() {
			if path == "math/rand" {
				t.Errorf("%s imports math/rand: use math/rand/v2 with an injected source", f.Name)
			}
		}
	}
	deptest.CheckPure(t, files, forbiddenImports, forbiddenCalls)
}
