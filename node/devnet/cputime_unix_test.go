//go:build unix

package devnet

import (
	"syscall"
	"testing"
	"time"
)

// cpuSeconds is the user plus system CPU time of this process.
func cpuSeconds(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
