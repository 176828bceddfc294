// Package deptest checks, from a package's own tests, the boundaries the
// design draws around it: what it may depend on (go list) and what its
// source may do (imports, goroutines, wall-clock and global-random calls),
// so that each package states its rules and the mechanics live here once.
//
// # Usage
//
//	for _, dep := range deptest.Deps(t) { ... t.Errorf on a forbidden dep }
//	files := deptest.Parse(t, []string{"*.go"}, nil)
//	deptest.CheckPure(t, files, []string{"net", "os"}, map[string][]string{"time": {"Now"}})
package deptest
