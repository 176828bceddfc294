package consensus

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the governance engine free of the network stack:
// no libp2p, no other x0tta6bl4 package, and no direct use of package net
// (go-datastore pulls it in only through its UUID dependency).
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
		if imp == "net" || strings.HasPrefix(imp, "net/http") {
			t.Errorf("consensus imports %s directly", imp)
		}
	}
	const self = "github.com/x0tta6bl4/x0tta6bl4/"
	for _, dep := range list("{{.ImportPath}}", true) {
		switch {
		case strings.Contains(dep, "libp2p"):
			t.Errorf("consensus depends on %s", dep)
		case strings.HasPrefix(dep, self) && dep != self+"consensus":
			t.Errorf("consensus depends on %s", dep)
		}
	}
}
