package bpf

import "net/netip"

// Address families as the kernel numbers them.
const (
	afInet  = 2
	afInet6 = 10
)

// addrPort converts an address as the programs store it (IPv4 in the first
// four bytes) to a netip.AddrPort, IPv4-mapped IPv6 unmapped. The
// unspecified address with port 0 (no peer) becomes the invalid AddrPort.
func addrPort(family uint8, addr [16]byte, port uint16) netip.AddrPort {
	var a netip.Addr
	switch family {
	case afInet:
		a = netip.AddrFrom4([4]byte(addr[:4]))
	case afInet6:
		a = netip.AddrFrom16(addr).Unmap()
	default:
		return netip.AddrPort{}
	}
	if port == 0 && a.IsUnspecified() {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, port)
}
