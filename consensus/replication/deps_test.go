package replication

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the driver off the network stack: it reaches the
// DHT and gossip only through Network, so it imports no libp2p, no package
// net and no x0tta6bl4 package but consensus.
func TestDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not on PATH: cannot list dependencies")
	}
	list := func(format string, deps bool) []string {
		args := []string{"list", "-f", format}
		if deps {
			args = append(args, "-deps")
		}
		out, err := exec.Command(goTool, append(args, ".")...).Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		return strings.Fields(string(out))
	}
	for _, imp := range list("{{join .Imports \" \"}}", false) {
		if imp == "net" || strings.HasPrefix(imp, "net/") {
			t.Errorf("replication imports %s", imp)
		}
	}
	const self = "github.com/x0tta6bl4/x0tta6bl4/"
	for _, dep := range list("{{.ImportPath}}", true) {
		switch {
		case strings.Contains(dep, "libp2p"):
			t.Errorf("replication depends on %s", dep)
		case strings.HasPrefix(dep, self) && dep != self+"consensus" && dep != self+"consensus/replication":
			t.Errorf("replication depends on %s", dep)
		}
	}
}
