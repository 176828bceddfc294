//go:build !unix

package anomaly_test

import "time"

// cpuNow returns 0: CPU time is not measured on this platform.
func cpuNow() time.Duration { return 0 }
