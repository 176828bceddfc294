//go:build !amd64 || purego

package twin

import "unsafe"

// prefetch does nothing here (see prefetch_amd64.go).
func prefetch(unsafe.Pointer) {}
