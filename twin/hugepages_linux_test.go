package twin

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
)

// anonHugePages reads the process's AnonHugePages from smaps_rollup, in
// bytes.
func anonHugePages(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		t.Skipf("no /proc/self/smaps_rollup: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "AnonHugePages:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Skip("smaps_rollup has no AnonHugePages")
	return 0
}

// TestAdviseHugePages checks that the advice turns a large block of the
// heap into huge pages and leaves its bytes as they were.
func TestAdviseHugePages(t *testing.T) {
	if b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil || bytes.Contains(b, []byte("[never]")) {
		t.Skip("transparent huge pages are off or absent")
	}
	block := make([]byte, 64<<20)
	for i := range block {
		block[i] = byte(i * 7)
	}
	before := anonHugePages(t)
	if n := adviseHugePages(); n < 32<<20 {
		t.Skipf("the kernel collapsed %d bytes: no MADV_COLLAPSE here (Linux 6.1)", n)
	}
	after := anonHugePages(t)
	if after-before < 32<<20 {
		t.Errorf("AnonHugePages %d -> %d bytes, want the 64 MiB block's at least half in huge pages", before, after)
	}
	for i := range block {
		if block[i] != byte(i*7) {
			t.Fatalf("byte %d changed to %d", i, block[i])
		}
	}
}
