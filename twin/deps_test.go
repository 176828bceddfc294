package twin

import (
	"strings"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/internal/deptest"
)

// TestDependencies keeps the twin a simulation: it may drive the routing
// engine and read the packet formats, but never open a socket, reach
// libp2p or assemble a node.
func TestDependencies(t *testing.T) {
	for _, dep := range deptest.Deps(t) {
		switch {
		case dep == "net" || strings.HasPrefix(dep, "net/"),
			strings.Contains(dep, "libp2p"),
			dep == "os/exec",
			strings.HasPrefix(dep, "github.com/x0tta6bl4/x0tta6bl4/") &&
				dep != "github.com/x0tta6bl4/x0tta6bl4/twin" &&
				dep != "github.com/x0tta6bl4/x0tta6bl4/overlay" &&
				dep != "github.com/x0tta6bl4/x0tta6bl4/protocols":
			t.Errorf("twin depends on %s", dep)
		}
	}
}
