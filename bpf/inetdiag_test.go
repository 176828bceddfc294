package bpf

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"
)

// appendDiagMsg encodes s as the kernel would answer a dump, with the
// attributes s says it has.
func appendDiagMsg(b []byte, s *diagSocket) []byte {
	ne := binary.NativeEndian
	msg := make([]byte, inetDiagMsgLen)
	msg[0], msg[1] = s.family, s.state
	binary.BigEndian.PutUint16(msg[4:], s.local.Port())
	binary.BigEndian.PutUint16(msg[6:], s.remote.Port())
	putAddr := func(dst []byte, ap netip.AddrPort) {
		if !ap.IsValid() {
			return
		}
		if s.family == afInet {
			a := ap.Addr().As4()
			copy(dst, a[:])
		} else {
			a := ap.Addr().As16()
			copy(dst, a[:])
		}
	}
	putAddr(msg[8:24], s.local)
	putAddr(msg[24:40], s.remote)
	ne.PutUint32(msg[44:], uint32(s.cookie))
	ne.PutUint32(msg[48:], uint32(s.cookie>>32))
	ne.PutUint32(msg[68:], s.inode)
	attr := func(typ uint16, val []byte) {
		a := make([]byte, align4(4+len(val)))
		ne.PutUint16(a[0:], uint16(4+len(val)))
		ne.PutUint16(a[2:], typ)
		copy(a[4:], val)
		msg = append(msg, a...)
	}
	if s.hasTCP {
		v := make([]byte, tcpiLen)
		ne.PutUint32(v[tcpiRtt:], s.tcp.rtt)
		ne.PutUint32(v[tcpiRttvar:], s.tcp.rttvar)
		ne.PutUint32(v[tcpiTotalRetrans:], s.tcp.totalRetrans)
		ne.PutUint64(v[tcpiBytesAcked:], s.tcp.bytesAcked)
		ne.PutUint64(v[tcpiBytesReceived:], s.tcp.bytesReceived)
		ne.PutUint32(v[tcpiSegsOut:], s.tcp.segsOut)
		ne.PutUint32(v[tcpiSegsIn:], s.tcp.segsIn)
		ne.PutUint64(v[tcpiBytesSent:], s.tcp.bytesSent)
		ne.PutUint64(v[tcpiBytesRetrans:], s.tcp.bytesRetrans)
		attr(inetDiagInfo, v)
	}
	if s.hasMem {
		v := make([]byte, 4*9)
		ne.PutUint32(v[skMeminfoDrops*4:], s.drops)
		attr(inetDiagSkMeminfo, v)
	}
	hdr := make([]byte, nlmsgHdrLen)
	ne.PutUint32(hdr[0:], uint32(nlmsgHdrLen+len(msg)))
	ne.PutUint16(hdr[4:], sockDiagByFamily)
	return append(append(b, hdr...), msg...)
}

func appendDone(b []byte) []byte {
	hdr := make([]byte, nlmsgHdrLen+4)
	binary.NativeEndian.PutUint32(hdr[0:], uint32(len(hdr)))
	binary.NativeEndian.PutUint16(hdr[4:], nlmsgDone)
	return append(b, hdr...)
}

func sampleSockets() []diagSocket {
	return []diagSocket{
		{family: afInet, state: 1, local: netip.MustParseAddrPort("127.0.0.1:40000"),
			remote: netip.MustParseAddrPort("127.0.0.1:4001"), cookie: 0x1122334455667788, inode: 99,
			hasTCP: true, tcp: tcpInfo{rtt: 50000, rttvar: 1200, totalRetrans: 3, bytesAcked: 1001,
				bytesReceived: 77, segsOut: 12, segsIn: 9, bytesSent: 1300, bytesRetrans: 300},
			hasMem: true, drops: 2},
		{family: afInet6, state: 7, local: netip.MustParseAddrPort("[2001:db8::1]:443"), cookie: 5},
	}
}

func TestParseDiagRoundTrip(t *testing.T) {
	want := sampleSockets()
	var b []byte
	for i := range want {
		b = appendDiagMsg(b, &want[i])
	}
	b = appendDone(b)
	var got []diagSocket
	done, err := parseDiag(b, func(s *diagSocket) { got = append(got, *s) })
	if err != nil || !done {
		t.Fatalf("parseDiag = %v, %v; want done", done, err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d sockets, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("socket %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestDiagRequestLayout(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the hex below is little-endian")
	}
	got := hex.EncodeToString(diagRequest(afInet, protoTCP, diagExtTCP, tcpDiagStates, 7))
	want := "48000000" + "1400" + "0103" + "07000000" + "00000000" + // nlmsghdr
		"02" + "06" + "42" + "00" + "bfebffff" + // family, protocol, ext, pad, states
		strings.Repeat("00", 48) // sockid: any socket
	if got != want {
		t.Errorf("request\n got %s\nwant %s", got, want)
	}
}

func TestParseDiagErrors(t *testing.T) {
	valid := appendDiagMsg(nil, &sampleSockets()[0])
	errMsg := func(code int32) []byte {
		b := make([]byte, nlmsgHdrLen+4)
		binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
		binary.NativeEndian.PutUint16(b[4:], nlmsgError)
		binary.NativeEndian.PutUint32(b[16:], uint32(code))
		return b
	}
	badAttr := append([]byte(nil), valid...)
	binary.NativeEndian.PutUint16(badAttr[nlmsgHdrLen+inetDiagMsgLen:], 0xffff)
	for _, tc := range []struct {
		name      string
		in        []byte
		malformed bool
		errno     syscall.Errno
		done      bool
	}{
		{"empty", nil, false, 0, false},
		{"short header", valid[:10], true, 0, false},
		{"length past end", valid[:len(valid)-1], true, 0, false},
		{"short inet_diag_msg", func() []byte {
			b := append([]byte(nil), valid[:nlmsgHdrLen+8]...)
			binary.NativeEndian.PutUint32(b, uint32(len(b)))
			return b
		}(), true, 0, false},
		{"attribute past end", badAttr, true, 0, false},
		{"kernel error", errMsg(-int32(syscall.EPERM)), false, syscall.EPERM, false},
		{"ack", appendDone(errMsg(0)), false, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done, err := parseDiag(tc.in, func(*diagSocket) {})
			if got := errors.Is(err, ErrMalformed); got != tc.malformed {
				t.Errorf("malformed = %v (%v), want %v", got, err, tc.malformed)
			}
			var de *DiagError
			if tc.errno != 0 && (!errors.As(err, &de) || de.Errno != tc.errno) {
				t.Errorf("err = %v, want errno %v", err, tc.errno)
			}
			if done != tc.done {
				t.Errorf("done = %v, want %v", done, tc.done)
			}
		})
	}
}

// FuzzParseDiag feeds arbitrary netlink answers to the decoder: it must
// never panic, must fail only with its typed errors, and what it decodes
// must encode back to the same socket.
func FuzzParseDiag(f *testing.F) {
	var all []byte
	for _, s := range sampleSockets() {
		one := appendDiagMsg(nil, &s)
		f.Add(one)
		all = append(all, one...)
	}
	f.Add(appendDone(all))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxDiagMessage {
			return
		}
		_, err := parseDiag(b, func(s *diagSocket) {
			again := appendDiagMsg(nil, s)
			var back diagSocket
			if _, err := parseDiag(again, func(r *diagSocket) { back = *r }); err != nil {
				t.Fatalf("re-encoded socket does not decode: %v", err)
			}
			if back != *s {
				t.Fatalf("round trip:\n got %+v\nwant %+v", back, *s)
			}
		})
		var de *DiagError
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.As(err, &de) {
			t.Fatalf("untyped error %v", err)
		}
	})
}
