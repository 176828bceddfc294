//go:build !unix

package cputime

import "time"

// Now returns 0: CPU time is not measured on this platform.
func Now() time.Duration { return 0 }
