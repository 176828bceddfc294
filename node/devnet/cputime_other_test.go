//go:build !unix

package devnet

import "testing"

// cpuSeconds is unknown here; the per-delivery CPU figure reads 0.
func cpuSeconds(*testing.B) float64 { return 0 }
