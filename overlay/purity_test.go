package overlay_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEnginePurity reads the source of the routing engine, its test
// harness and the packet formats, and fails if any of it could touch the
// world: imports of the network, the OS, synchronisation, logging,
// libp2p or the packages that drive the engine; wall-clock calls; the
// global random source; goroutines. Files named *_libp2p.go hold the
// libp2p binding, a driver, and are exempt.
func TestEnginePurity(t *testing.T) {
	forbiddenImports := []string{ // and everything under them
		"net", "os", "syscall", "sync", "log", "crypto/rand", "unsafe", "github.com/libp2p",
		"github.com/x0tta6bl4/x0tta6bl4/node", "github.com/x0tta6bl4/x0tta6bl4/twin",
		"github.com/x0tta6bl4/x0tta6bl4/cmd",
	}
	forbiddenCalls := map[string][]string{
		"time": {"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "Tick", "NewTimer", "NewTicker"},
		// Package-level functions of math/rand/v2 use the global source.
		"rand": {"Int", "IntN", "Int32", "Int32N", "Int64", "Int64N", "Uint32", "Uint32N", "Uint64",
			"Uint64N", "UintN", "N", "Float32", "Float64", "Perm", "Shuffle", "ExpFloat64", "NormFloat64"},
	}
	var files []string
	for _, dir := range []string{".", "overlaytest", "../protocols"} {
		m, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			if !strings.HasSuffix(f, "_test.go") && !strings.HasSuffix(f, "_libp2p.go") {
				files = append(files, f)
			}
		}
	}
	if len(files) < 10 {
		t.Fatalf("found only %d source files: wrong directory?", len(files))
	}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == "math/rand" {
				t.Errorf("%s imports math/rand: use math/rand/v2 with an injected source", name)
			}
			for _, bad := range forbiddenImports {
				if path == bad || strings.HasPrefix(path, bad+"/") {
					t.Errorf("%s imports %s", name, path)
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				t.Errorf("%s: goroutine started at %v", name, fset.Position(n.Pos()))
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
}
