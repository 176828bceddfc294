package twin

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the twin a simulation: it may drive the routing
// engine and read the packet formats, but never open a socket, reach
// libp2p or assemble a node.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
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
