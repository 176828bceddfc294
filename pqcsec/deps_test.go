package pqcsec

import (
	"strings"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/internal/deptest"
)

// The package imports the standard library, circl's ML-DSA, SPIFFE IDs and
// libp2p's key types, nothing else: no I/O stack, no libp2p host, no other
// package of this module.
func TestImports(t *testing.T) {
	allowed := map[string]bool{
		"github.com/cloudflare/circl/sign/mldsa/mldsa65":   true,
		"github.com/spiffe/go-spiffe/v2/spiffeid":          true,
		"github.com/spiffe/go-spiffe/v2/svid/x509svid":     true,
		"github.com/spiffe/go-spiffe/v2/bundle/x509bundle": true,
		"github.com/libp2p/go-libp2p/core/crypto":          true,
		"github.com/libp2p/go-libp2p/core/peer":            true,
		"golang.org/x/sys/cpu":                             true,
	}
	forbiddenStd := map[string]bool{"net": true, "net/http": true, "log": true, "math/rand": true, "math/rand/v2": true}
	checked := 0
	for _, f := range deptest.Parse(t, []string{"*.go"}, nil) {
		for _, p := range f.Imports() {
			std := !strings.Contains(strings.SplitN(p, "/", 2)[0], ".")
			if std && forbiddenStd[p] || !std && !allowed[p] {
				t.Errorf("%s imports %s", f.Name, p)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no imports found; wrong directory?")
	}
}
