package mesh

import (
	"strings"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/internal/deptest"
)

// TestPurity reads the package's pure files (all but *_libp2p.go and
// tests) and fails if they could touch the world: imports of the
// network, the OS, synchronisation, libp2p or the node; wall-clock calls;
// the global random source; goroutines. The stream framing and the trace
// types must stay testable without a network; the engines the driver
// runs (overlay, overlay/e2e) have purity tests of their own.
func TestPurity(t *testing.T) {
	forbiddenImports := []string{
		"net", "os", "syscall", "sync", "log", "crypto/rand", "math/rand", "unsafe", "github.com/libp2p",
		"github.com/x0tta6bl4/x0tta6bl4/node", "github.com/x0tta6bl4/x0tta6bl4/cmd",
	}
	forbiddenCalls := map[string][]string{
		"time": {"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "Tick", "NewTimer", "NewTicker"},
	}
	files := deptest.Parse(t, []string{"*.go"}, func(name string) bool { return strings.HasSuffix(name, "_libp2p.go") })
	if len(files) < 3 {
		t.Fatalf("checked only %d files: wrong directory?", len(files))
	}
	deptest.CheckPure(t, files, forbiddenImports, forbiddenCalls)
}
