package anomaly_test

import (
	"strings"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/internal/deptest"
)

// TestPurity reads the source of the detectors and of the synthetic
// generator and fails if any of it could touch the world or depend on
// when or where it runs: imports of the network, the OS, synchronisation,
// logging, libp2p or the packages that will drive it; wall-clock calls;
// the global random source; goroutines. So the same data and seed give
// the same model, and a live node and the twin get the same scores. The
// model generator (internal/genmodel) is a command and exempt.
func TestPurity(t *testing.T) {
	forbiddenImports := []string{
		"net", "os", "syscall", "sync", "log", "crypto/rand", "unsafe", "math/rand", "github.com/libp2p",
		"github.com/x0tta6bl4/x0tta6bl4/node", "github.com/x0tta6bl4/x0tta6bl4/twin",
		"github.com/x0tta6bl4/x0tta6bl4/cmd",
	}
	forbiddenCalls := map[string][]string{
		"time": {"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "Tick", "NewTimer", "NewTicker"},
		"rand": {"Int", "IntN", "Int32", "Int32N", "Int64", "Int64N", "Uint32", "Uint32N", "Uint64",
			"Uint64N", "UintN", "N", "Float32", "Float64", "Perm", "Shuffle", "ExpFloat64", "NormFloat64"},
	}
	files := deptest.Parse(t, []string{"*.go", "anomalytest/*.go"}, nil)
	if len(files) < 10 {
		t.Fatalf("found only %d source files: wrong directory?", len(files))
	}
	// math/rand/v2 is allowed (with an injected source); math/rand is not.
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
		if strings.HasPrefix(dep, "github.com/libp2p/") || strings.HasPrefix(dep, "github.com/x0tta6bl4/x0tta6bl4/node") {
			t.Errorf("the detector depends on %s", dep)
		}
	}
}
