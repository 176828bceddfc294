package mesh

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPurity reads the package's pure files (all but *_libp2p.go and
// tests) and fails if they could touch the world: imports of the
// network, the OS, synchronisation, libp2p or the node; wall-clock calls;
// the global random source; goroutines. The channel and the formats must
// stay testable without a network, like the routing engine.
func TestPurity(t *testing.T) {
	forbiddenImports := []string{
		"net", "os", "syscall", "sync", "log", "crypto/rand", "math/rand", "unsafe", "github.com/libp2p",
		"github.com/x0tta6bl4/x0tta6bl4/node", "github.com/x0tta6bl4/x0tta6bl4/cmd",
	}
	forbiddenCalls := map[string][]string{
		"time": {"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "Tick", "NewTimer", "NewTicker"},
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || strings.HasSuffix(name, "_libp2p.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbiddenImports {
				if path == bad || strings.HasPrefix(path, bad+"/") {
					t.Errorf("%s imports %s", name, path)
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				t.Errorf("%s: goroutine at %v", name, fset.Position(n.Pos()))
			case *ast.SelectorExpr:
				if id, ok := n.X.(*ast.Ident); ok {
					for _, fn := range forbiddenCalls[id.Name] {
						if n.Sel.Name == fn {
							t.Errorf("%s: %s.%s at %v", name, id.Name, fn, fset.Position(n.Pos()))
						}
					}
				}
			}
			return true
		})
	}
	if checked < 4 {
		t.Fatalf("checked only %d files: wrong directory?", checked)
	}
}
