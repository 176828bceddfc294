//go:build amd64 && !purego

package twin

import "unsafe"

// prefetch asks the CPU to bring the cache line at p into its caches
// without waiting for it (PREFETCHT0); a bad address is ignored. See
// sim.warm for why the simulator asks.
//
//go:noescape
func prefetch(p unsafe.Pointer)
