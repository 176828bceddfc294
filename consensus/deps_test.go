package consensus

import (
	"strings"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/internal/deptest"
)

// TestDependencies keeps the governance engine free of the network stack:
// no libp2p, no other x0tta6bl4 package, and no direct use of package net
// (go-datastore pulls it in only through its UUID dependency).
func TestDependencies(t *testing.T) {
	for _, imp := range deptest.Imports(t) {
		if imp == "net" || strings.HasPrefix(imp, "net/http") {
			t.Errorf("consensus imports %s directly", imp)
		}
	}
	const self = "github.com/x0tta6bl4/x0tta6bl4/"
	for _, dep := range deptest.Deps(t) {
		switch {
		case strings.Contains(dep, "libp2p"):
			t.Errorf("consensus depends on %s", dep)
		case strings.HasPrefix(dep, self) && dep != self+"consensus":
			t.Errorf("consensus depends on %s", dep)
		}
	}
}
