package e2e

import (
	"strings"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/internal/deptest"
)

// TestPurity reads the engine's source and fails if it could touch the
// world: imports of the network, the OS, synchronisation, logging,
// libp2p or the packages that drive the engine; wall-clock calls; the
// global random source; goroutines. Its inputs and the time come from
// its caller, its randomness from Config.Handshake.Rand.
func TestPurity(t *testing.T) {
	forbiddenImports := []string{ // and everything under them
		"net", "os", "syscall", "sync", "log", "crypto/rand", "math/rand", "unsafe", "github.com/libp2p",
		"github.com/x0tta6bl4/x0tta6bl4/node", "github.com/x0tta6bl4/x0tta6bl4/overlay/mesh",
		"github.com/x0tta6bl4/x0tta6bl4/twin", "github.com/x0tta6bl4/x0tta6bl4/cmd",
	}
	forbiddenCalls := map[string][]string{
		"time": {"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "Tick", "NewTimer", "NewTicker"},
		"rand": {"Int", "IntN", "Uint32", "Uint64", "Read", "Float64", "Perm", "Shuffle", "N"},
	}
	files := deptest.Parse(t, []string{"*.go"}, nil)
	if len(files) < 8 {
		t.Fatalf("checked only %d files: wrong directory?", len(files))
	}
	deptest.CheckPure(t, files, forbiddenImports, forbiddenCalls)
}

// TestDependencies: the engine reaches libp2p only through pqcsec's key
// and peer ID types, never its hosts, streams or transports, and no
// package of this module but the packet formats and pqcsec.
func TestDependencies(t *testing.T) {
	for _, dep := range deptest.Deps(t) {
		switch {
		case strings.HasPrefix(dep, "github.com/libp2p/go-libp2p/p2p/"),
			strings.HasPrefix(dep, "github.com/libp2p/go-libp2p/core/host"),
			strings.HasPrefix(dep, "github.com/libp2p/go-libp2p/core/network"),
			strings.HasPrefix(dep, "github.com/libp2p/go-libp2p-"),
			dep == "net/http",
			strings.HasPrefix(dep, "github.com/x0tta6bl4/x0tta6bl4/") &&
				dep != "github.com/x0tta6bl4/x0tta6bl4/overlay/e2e" &&
				dep != "github.com/x0tta6bl4/x0tta6bl4/protocols" &&
				dep != "github.com/x0tta6bl4/x0tta6bl4/pqcsec":
			t.Errorf("e2e depends on %s", dep)
		}
	}
}
