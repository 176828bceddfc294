package twin

import (
	"slices"
	"strings"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/internal/deptest"
)

// TestDependencies keeps the twin a simulation: it drives the routing,
// channel and healing engines, reads the packet formats and feeds the
// anomaly detector's features (healing and healing/anomaly, pure
// themselves), but never opens a
// socket, reaches libp2p's networking or assembles a node. The channel's
// identities bring libp2p's key and peer ID types, and with the peer
// IDs' address types package net; those are allowed as dependencies, but
// the twin itself imports no network package, and HTTP, libp2p hosts,
// streams and transports stay out altogether.
func TestDependencies(t *testing.T) {
	const module = "github.com/x0tta6bl4/x0tta6bl4"
	own := []string{module + "/twin", module + "/overlay", module + "/overlay/e2e", module + "/protocols", module + "/pqcsec",
		module + "/healing", module + "/healing/anomaly"}
	keyTypes := []string{ // and everything under them
		"github.com/libp2p/go-libp2p/core/crypto", "github.com/libp2p/go-libp2p/core/peer",
		"github.com/libp2p/go-libp2p/core/record", "github.com/libp2p/go-libp2p/core/internal/catch",
		"github.com/libp2p/go-buffer-pool",
	}
	under := func(dep string, roots []string) bool {
		return slices.ContainsFunc(roots, func(r string) bool { return dep == r || strings.HasPrefix(dep, r+"/") })
	}
	for _, dep := range deptest.Deps(t) {
		switch {
		case dep == "net/http" || strings.HasPrefix(dep, "net/http/"),
			dep == "os/exec",
			strings.Contains(dep, "libp2p") && !under(dep, keyTypes),
			strings.HasPrefix(dep, module+"/") && !slices.Contains(own, dep):
			t.Errorf("twin depends on %s", dep)
		}
	}
	for _, imp := range deptest.Imports(t) {
		if imp == "net" || strings.HasPrefix(imp, "net/") {
			t.Errorf("twin imports %s", imp)
		}
	}
}
