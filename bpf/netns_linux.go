//go:build linux

package bpf

import (
	"fmt"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// currentNetNS identifies the network namespace of the calling thread.
// The cookie is 0 on kernels before 5.14, which lack SO_NETNS_COOKIE.
func currentNetNS() (NetNS, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ns NetNS
	fi, err := os.Stat("/proc/thread-self/ns/net")
	if err != nil {
		return ns, fmt.Errorf("stat netns: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ns.Inode = st.Ino
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return ns, fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	if c, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE); err == nil {
		ns.Cookie = c
	}
	return ns, nil
}

// openNetNS opens the network namespace of the calling thread, so that a
// thread can be moved into it later, and identifies it.
func openNetNS() (*os.File, NetNS, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, NetNS{}, fmt.Errorf("open netns: %w", err)
	}
	ns, err := currentNetNS()
	if err != nil {
		f.Close()
		return nil, NetNS{}, err
	}
	return f, ns, nil
}

// threadNetNSInode returns the inode of the calling thread's network
// namespace; the caller locks the thread.
func threadNetNSInode() (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}
