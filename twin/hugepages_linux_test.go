package twin

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// canCollapse reports whether the kernel collapses a mapping of the
// test's own into a huge page (MADV_COLLAPSE came with Linux 6.1).
func canCollapse(t *testing.T) bool {
	t.Helper()
	m, err := syscall.Mmap(-1, 0, 2*hugePage, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(m)
	a := (uintptr(unsafe.Pointer(&m[0])) + hugePage - 1) &^ (hugePage - 1)
	for i := range m {
		m[i] = 1
	}
	_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, a, hugePage, madvCollapse)
	return errno == 0
}

// hugeAround returns the AnonHugePages, in bytes, of the mapping that
// holds address p, from /proc/self/smaps.
func hugeAround(t *testing.T, p uintptr) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(f[0], "-"); ok && !strings.HasSuffix(f[0], ":") {
			a, err1 := strconv.ParseUint(lo, 16, 64)
			z, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && uint64(p) >= a && uint64(p) < z
			continue
		}
		if in && len(f) == 3 && f[0] == "AnonHugePages:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Skip("no mapping with AnonHugePages holds the block")
	return 0
}

// TestAdviseHugePages checks that the advice leaves huge pages in the
// heap mapping that holds a large block, and the block's bytes as they
// were.
func TestAdviseHugePages(t *testing.T) {
	if b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil || bytes.Contains(b, []byte("[never]")) {
		t.Skip("transparent huge pages are off or absent")
	}
	if !canCollapse(t) {
		t.Skip("the kernel refuses MADV_COLLAPSE (before Linux 6.1)")
	}
	block := make([]byte, 64<<20)
	for i := range block {
		block[i] = byte(i * 7)
	}
	if n := adviseHugePages(); n < 32<<20 {
		t.Errorf("adviseHugePages collapsed %d bytes, want at least the block's half", n)
	}
	if got := hugeAround(t, uintptr(unsafe.Pointer(&block[0]))); got < 32<<20 {
		t.Errorf("the heap mapping holding a 64 MiB block has %d bytes in huge pages, want at least half the block's", got)
	}
	for i := range block {
		if block[i] != byte(i*7) {
			t.Fatalf("byte %d changed to %d", i, block[i])
		}
	}
}
