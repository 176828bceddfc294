package deptest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Deps returns the import path of the package in the working directory
// and of every package it depends on (go list -deps). It skips the test
// where the go command is not on PATH.
func Deps(t testing.TB) []string {
	t.Helper()
	return goList(t, "-deps", "-f", "{{.ImportPath}}")
}

// Imports returns the packages the package in the working directory
// imports directly, test files aside (go list).
func Imports(t testing.TB) []string {
	t.Helper()
	return goList(t, "-f", `{{join .Imports " "}}`)
}

func goList(t testing.TB, args ...string) []string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not on PATH: cannot list dependencies")
	}
	out, err := exec.Command(goTool, append(append([]string{"list"}, args...), ".")...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	return strings.Fields(string(out))
}

// File is one parsed source file.
type File struct {
	Name string
	AST  *ast.File
	Fset *token.FileSet
}

// Imports returns the paths the file imports.
func (f File) Imports() []string {
	paths := make([]string, 0, len(f.AST.Imports))
	for _, imp := range f.AST.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		paths = append(paths, p)
	}
	return paths
}

// Parse parses the files matching patterns (relative to the working
// directory), test files and those skip names left out (skip may be nil).
func Parse(t testing.TB, patterns []string, skip func(name string) bool) []File {
	t.Helper()
	fset := token.NewFileSet()
	var files []File
	for _, pattern := range patterns {
		names, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if strings.HasSuffix(name, "_test.go") || skip != nil && skip(name) {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, File{Name: name, AST: f, Fset: fset})
		}
	}
	return files
}

// CheckPure fails the test for every import of a forbidden path or of a
// package under one, every go statement, and every call pkg.Fn where
// calls[pkg] lists Fn: what would let code touch the world that a pure
// engine must only be handed.
func CheckPure(t testing.TB, files []File, forbiddenImports []string, calls map[string][]string) {
	t.Helper()
	for _, f := range files {
		for _, path := range f.Imports() {
			for _, bad := range forbiddenImports {
				if path == bad || strings.HasPrefix(path, bad+"/") {
					t.Errorf("%s imports %s", f.Name, path)
				}
			}
		}
		ast.Inspect(f.AST, func(n ast.Node) bool {
			t.Helper()
			switch n := n.(type) {
			case *ast.GoStmt:
				t.Errorf("%s: goroutine started at %v", f.Name, f.Fset.Position(n.Pos()))
			case *ast.SelectorExpr:
				if id, ok := n.X.(*ast.Ident); ok {
					for _, fn := range calls[id.Name] {
						if n.Sel.Name == fn {
							t.Errorf("%s: %s.%s at %v", f.Name, id.Name, fn, f.Fset.Position(n.Pos()))
						}
					}
				}
			}
			return true
		})
	}
}
