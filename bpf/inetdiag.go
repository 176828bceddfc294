package bpf

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"
)

// sock_diag (NETLINK_SOCK_DIAG) constants, from linux/netlink.h,
// linux/sock_diag.h and linux/inet_diag.h.
const (
	nlmsgHdrLen       = 16
	nlmsgError        = 2
	nlmsgDone         = 3
	nlmFRequest       = 0x1
	nlmFDump          = 0x300
	sockDiagByFamily  = 20
	inetDiagReqV2Len  = 56
	inetDiagMsgLen    = 72
	inetDiagInfo      = 2 // attribute: struct tcp_info
	inetDiagSkMeminfo = 7 // attribute: __u32[SK_MEMINFO_VARS]
	skMeminfoDrops    = 8 // index of the drop counter in SKMEMINFO
	maxDiagMessage    = 1 << 16
)

// TCP states as the kernel numbers them (include/net/tcp_states.h).
const (
	tcpStateTimeWait  = 6
	tcpStateListen    = 10
	tcpStateNewSynRcv = 12
)

// What the collector asks sock_diag for.
const (
	// all TCP states but LISTEN, TIME_WAIT and NEW_SYN_RECV, which have no
	// tcp_info
	tcpDiagStates = ^uint32(0) &^ (1<<tcpStateListen | 1<<tcpStateTimeWait | 1<<tcpStateNewSynRcv)
	diagExtTCP    = 1<<(inetDiagInfo-1) | 1<<(inetDiagSkMeminfo-1)
	diagExtUDP    = 1 << (inetDiagSkMeminfo - 1)
)

// diagRequest encodes an inet_diag_req_v2 dump request:
//
//	nlmsghdr   len u32 | type u16 = SOCK_DIAG_BY_FAMILY | flags u16 | seq u32 | pid u32
//	req        family u8 | protocol u8 | ext u8 | pad u8 | states u32
//	sockid     sport be16 | dport be16 | src [16]byte | dst [16]byte | if u32 | cookie [2]u32
//
// ext asks for attributes by bit (1 << (attribute-1)); states is a bit mask
// of TCP states (1 << state).
func diagRequest(family, protocol uint8, ext uint8, states uint32, seq uint32) []byte {
	b := make([]byte, nlmsgHdrLen+inetDiagReqV2Len)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], sockDiagByFamily)
	ne.PutUint16(b[6:], nlmFRequest|nlmFDump)
	ne.PutUint32(b[8:], seq)
	b[16] = family
	b[17] = protocol
	b[18] = ext
	ne.PutUint32(b[20:], states)
	// Zero sockid: every socket. The kernel ignores cookie [~0, ~0] as
	// "no cookie" only for single-socket queries.
	return b
}

// diagSocket is one socket of a sock_diag dump.
type diagSocket struct {
	family        uint8
	state         uint8
	local, remote netip.AddrPort
	cookie        uint64
	inode         uint32
	// tcp holds the tcp_info fields the collector uses; valid when hasTCP.
	tcp    tcpInfo
	hasTCP bool
	// drops is SK_MEMINFO_DROPS; valid when hasMem.
	drops  uint32
	hasMem bool
}

// tcpInfo holds the struct tcp_info fields the collector reads. Offsets are
// the kernel's (linux/tcp.h); a shorter struct from an older kernel leaves
// the later fields zero.
type tcpInfo struct {
	rtt, rttvar   uint32 // µs
	totalRetrans  uint32
	bytesAcked    uint64
	bytesReceived uint64
	segsOut       uint32
	segsIn        uint32
	bytesSent     uint64
	bytesRetrans  uint64
}

// Offsets in struct tcp_info.
const (
	tcpiRtt           = 68
	tcpiRttvar        = 72
	tcpiTotalRetrans  = 100
	tcpiBytesAcked    = 120
	tcpiBytesReceived = 128
	tcpiSegsOut       = 136
	tcpiSegsIn        = 140
	tcpiBytesSent     = 200
	tcpiBytesRetrans  = 208
	tcpiLen           = 216
)

func (t *tcpInfo) decode(b []byte) {
	ne := binary.NativeEndian
	u32 := func(off int) uint32 {
		if off+4 > len(b) {
			return 0
		}
		return ne.Uint32(b[off:])
	}
	u64 := func(off int) uint64 {
		if off+8 > len(b) {
			return 0
		}
		return ne.Uint64(b[off:])
	}
	t.rtt = u32(tcpiRtt)
	t.rttvar = u32(tcpiRttvar)
	t.totalRetrans = u32(tcpiTotalRetrans)
	t.bytesAcked = u64(tcpiBytesAcked)
	t.bytesReceived = u64(tcpiBytesReceived)
	t.segsOut = u32(tcpiSegsOut)
	t.segsIn = u32(tcpiSegsIn)
	t.bytesSent = u64(tcpiBytesSent)
	t.bytesRetrans = u64(tcpiBytesRetrans)
}

// DiagError is a netlink error answer (NLMSG_ERROR) to a sock_diag request.
type DiagError struct {
	Errno syscall.Errno
}

func (e *DiagError) Error() string { return fmt.Sprintf("bpf: sock_diag: %v", e.Errno) }

func (e *DiagError) Unwrap() error { return e.Errno }

// parseDiag decodes the netlink messages in b, one datagram of a dump
// answer, and calls fn for each socket. It reports done when the dump's
// NLMSG_DONE is in b. Each message is laid out as
//
//	nlmsghdr      len u32 | type u16 | flags u16 | seq u32 | pid u32
//	inet_diag_msg family u8 | state u8 | timer u8 | retrans u8 |
//	              sockid (48 bytes, as in diagRequest) |
//	              expires u32 | rqueue u32 | wqueue u32 | uid u32 | inode u32
//	attributes    { len u16 | type u16 | value, padded to 4 bytes }*
//
// Malformed input yields an error wrapping ErrMalformed, never a panic.
func parseDiag(b []byte, fn func(*diagSocket)) (done bool, err error) {
	ne := binary.NativeEndian
	var s diagSocket
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return false, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(b))
		}
		l := int(ne.Uint32(b[0:]))
		typ := ne.Uint16(b[4:])
		if l < nlmsgHdrLen || l > len(b) {
			return false, fmt.Errorf("%w: message length %d of %d", ErrMalformed, l, len(b))
		}
		msg := b[nlmsgHdrLen:l]
		next := align4(l)
		if next > len(b) {
			next = len(b)
		}
		b = b[next:]
		switch typ {
		case nlmsgDone:
			return true, nil
		case nlmsgError:
			if len(msg) < 4 {
				return false, fmt.Errorf("%w: short error message", ErrMalformed)
			}
			code := int32(ne.Uint32(msg))
			if code == 0 {
				continue // an acknowledgement
			}
			return false, &DiagError{Errno: syscall.Errno(-code)}
		case sockDiagByFamily:
			if err := decodeDiagMsg(msg, &s); err != nil {
				return false, err
			}
			fn(&s)
		default:
			// Other message types (NLMSG_NOOP) carry nothing for us.
		}
	}
	return false, nil
}

// decodeDiagMsg decodes one inet_diag_msg with its attributes into s.
func decodeDiagMsg(msg []byte, s *diagSocket) error {
	if len(msg) < inetDiagMsgLen {
		return fmt.Errorf("%w: inet_diag_msg of %d bytes", ErrMalformed, len(msg))
	}
	ne := binary.NativeEndian
	*s = diagSocket{family: msg[0], state: msg[1]}
	sport := binary.BigEndian.Uint16(msg[4:])
	dport := binary.BigEndian.Uint16(msg[6:])
	var src, dst [16]byte
	copy(src[:], msg[8:24])
	copy(dst[:], msg[24:40])
	s.local = addrPort(s.family, src, sport)
	s.remote = addrPort(s.family, dst, dport)
	s.cookie = uint64(ne.Uint32(msg[44:])) | uint64(ne.Uint32(msg[48:]))<<32
	s.inode = ne.Uint32(msg[68:])

	attrs := msg[inetDiagMsgLen:]
	for len(attrs) >= 4 {
		al := int(ne.Uint16(attrs[0:]))
		at := ne.Uint16(attrs[2:]) & 0x3fff // strip NLA_F_NESTED / NLA_F_NET_BYTEORDER
		if al < 4 || al > len(attrs) {
			return fmt.Errorf("%w: attribute length %d of %d", ErrMalformed, al, len(attrs))
		}
		val := attrs[4:al]
		switch at {
		case inetDiagInfo:
			s.tcp.decode(val)
			s.hasTCP = true
		case inetDiagSkMeminfo:
			if off := skMeminfoDrops * 4; off+4 <= len(val) {
				s.drops = ne.Uint32(val[off:])
				s.hasMem = true
			}
		}
		next := align4(al)
		if next > len(attrs) {
			next = len(attrs)
		}
		attrs = attrs[next:]
	}
	return nil
}

func align4(n int) int { return (n + 3) &^ 3 }
