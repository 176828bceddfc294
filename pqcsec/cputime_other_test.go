//go:build !unix

package pqcsec

import "time"

// processCPU is not measured on this platform; cpu-ns/op is then not reported.
func processCPU() time.Duration { return 0 }
