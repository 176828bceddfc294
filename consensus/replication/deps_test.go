package replication

import (
	"strings"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/internal/deptest"
)

// TestDependencies keeps the driver off the network stack: it reaches the
// DHT and gossip only through Network, so it imports no libp2p, no package
// net and no x0tta6bl4 package but consensus.
func TestDependencies(t *testing.T) {
	for _, imp := range deptest.Imports(t) {
		if imp == "net" || strings.HasPrefix(imp, "net/") {
			t.Errorf("replication imports %s", imp)
		}
	}
	const self = "github.com/x0tta6bl4/x0tta6bl4/"
	for _, dep := range deptest.Deps(t) {
		switch {
		case strings.Contains(dep, "libp2p"):
			t.Errorf("replication depends on %s", dep)
		case strings.HasPrefix(dep, self) && dep != self+"consensus" && dep != self+"consensus/replication":
			t.Errorf("replication depends on %s", dep)
		}
	}
}
