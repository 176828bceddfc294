package twin

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// madvCollapse is MADV_COLLAPSE of madvise(2) (Linux 6.1), which
// package syscall does not name: turn what a range holds into huge
// pages now, whatever the system's transparent huge page setting.
const madvCollapse = 25

// hugePage is the size of an x86-64 (and arm64 4K-granule) transparent
// huge page.
const hugePage = 2 << 20

// adviseHugePages asks the kernel to turn the pages of the process's
// large anonymous writable mappings (the Go heap's arenas among them)
// into transparent huge pages (MADV_COLLAPSE). With 100,000 engines every
// input of the simulator touches memory far apart, and on 4 KiB pages
// (the Go heap gets no huge pages where transparent huge pages are
// "madvise", as here) nearly each touch missed the TLB as well as the
// cache. The advice changes no byte of memory, and the kernel refuses it
// where it lacks MADV_COLLAPSE and for mappings the runtime marked
// otherwise (its own metadata); pages the heap grows into later are
// collapsed by the next call, which costs little more than a read of
// /proc/self/maps when everything is collapsed already. It returns the
// bytes collapsed.
func adviseHugePages() int64 {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0
	}
	var total int64
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		// "start-end perms offset dev inode [path]": anonymous mappings
		// have no path.
		f := bytes.Fields(sc.Bytes())
		if len(f) != 5 || !bytes.HasPrefix(f[1], []byte("rw")) {
			continue
		}
		lo, hi, ok := bytes.Cut(f[0], []byte("-"))
		if !ok {
			continue
		}
		a, err1 := strconv.ParseUint(string(lo), 16, 64)
		b, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		a, b = (a+hugePage-1)&^(hugePage-1), b&^(hugePage-1)
		if b <= a || b-a < 2*hugePage {
			continue
		}
		total += collapse(a, b)
	}
	return total
}

// collapse collapses [a, b), 2 MiB aligned, and returns the bytes it
// collapsed. The kernel gives up on a whole range at the first huge page
// it refuses (EINVAL for a few pages of the Go heap, whatever their
// reason), so a refused range is retried page by page.
func collapse(a, b uint64) int64 {
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(a), uintptr(b-a), madvCollapse); errno == 0 {
		return int64(b - a)
	}
	var n int64
	for p := a; p < b; p += hugePage {
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(p), hugePage, madvCollapse); errno == 0 {
			n += hugePage
		}
	}
	return n
}
