package mesh

import (
	"syscall"
	"time"
)

// cpuNow is the CPU time the process has used, user and system, every
// thread (the garbage collector's included). All hosts of a benchmark
// share the process, so CPU time per byte compares paths without the
// noise of a machine shared with other work.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
