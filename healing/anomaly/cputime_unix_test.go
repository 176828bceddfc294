//go:build unix

package anomaly_test

import (
	"syscall"
	"time"
)

// cpuNow returns the CPU time this process has used, user and system, all
// threads (the garbage collector's included). On a machine shared with
// other work, CPU time per operation is steadier than wall time.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
