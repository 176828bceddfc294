//go:build unix

package e2e

import (
	"syscall"
	"time"
)

// cpuNow is the CPU time the process has used, user and system, every
// thread (the garbage collector's included): on a machine shared with
// other work CPU time per operation is steadier than wall time.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
