//go:build !unix

package e2e

import "time"

// cpuNow returns 0: CPU time is not measured on this platform.
func cpuNow() time.Duration { return 0 }
