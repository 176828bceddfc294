//go:build !linux

package twin

// adviseHugePages does nothing outside Linux (see hugepages_linux.go).
func adviseHugePages() int64 { return 0 }
