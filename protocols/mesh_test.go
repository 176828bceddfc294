package protocols

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// runAddr returns the address whose bytes count up from first.
func runAddr(first byte) Addr {
	var a Addr
	for i := range a {
		a[i] = first + byte(i)
	}
	return a
}

var (
	addrA = runAddr(0xa0)
	addrB = runAddr(0xb0)
	addrC = runAddr(0xc0)
)

// testClaim and testHash have recognisable bytes: this package checks
// layouts; signatures and chains are the engine's (package overlay).
var (
	testClaim = Claim{
		MaxHops: 32,
		Top:     ChainHash(runAddr(0xe0)),
		Key:     PublicKey(bytes.Repeat([]byte{0x11}, KeySize)),
		Sig:     Signature(bytes.Repeat([]byte{0x22}, SignatureSize)),
	}
	testHash = ChainHash(runAddr(0xd0))
)

// authHex is testHash and testClaim as they appear on the wire.
var authHex = "d0d1d2d3d4d5d6d7d8d9dadbdcdddedf 20 e0e1e2e3e4e5e6e7e8e9eaebecedeeef " +
	strings.Repeat("11", KeySize) + " " + strings.Repeat("22", SignatureSize)

// unhex decodes hexadecimal test data, ignoring white space.
func unhex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		if t == nil {
			panic("bad hex in test: " + err.Error())
		}
		t.Helper()
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

func TestAddrFromPeerID(t *testing.T) {
	tests := []struct {
		id   string
		want string
	}{
		// SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 ...
		{"abc", "ba7816bf8f01cfea414140de5dae2223"},
		// SHA-256("") = e3b0c442 98fc1c14 9afbf4c8 996fb924 27ae41e4 ...
		{"", "e3b0c44298fc1c149afbf4c8996fb924"},
	}
	for _, tt := range tests {
		got := AddrFromPeerID([]byte(tt.id))
		if got.String() != tt.want {
			t.Errorf("AddrFromPeerID(%q) = %s, want %s", tt.id, got, tt.want)
		}
		back, err := ParseAddr(tt.want)
		if err != nil || back != got {
			t.Errorf("ParseAddr(%s) = %v, %v; want %v", tt.want, back, err, got)
		}
	}
}

func TestAddrText(t *testing.T) {
	b, err := json.Marshal(map[string]Addr{"a": addrA})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"}`; string(b) != want {
		t.Fatalf("json = %s, want %s", b, want)
	}
	var m map[string]Addr
	if err := json.Unmarshal(b, &m); err != nil || m["a"] != addrA {
		t.Fatalf("round trip = %v, %v", m, err)
	}
	if addrA.Short() != "a0a1a2a3" {
		t.Errorf("Short = %s", addrA.Short())
	}
	for _, bad := range []string{"", "a0", strings.Repeat("zz", 16), strings.Repeat("a", 33)} {
		if _, err := ParseAddr(bad); err == nil {
			t.Errorf("ParseAddr(%q) succeeded", bad)
		}
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		name string
		p    Packet
		want string
	}{
		{
			name: "data",
			p:    &Data{TTL: 64, Hops: 2, Src: addrA, Dst: addrB, Payload: []byte("hi")},
			want: `02 01 40 02
				a0a1a2a3a4a5a6a7a8a9aaabacadaeaf
				b0b1b2b3b4b5b6b7b8b9babbbcbdbebf
				6869`,
		},
		{
			name: "data empty payload",
			p:    &Data{TTL: 1, Src: addrA, Dst: addrB},
			want: `02 01 01 00
				a0a1a2a3a4a5a6a7a8a9aaabacadaeaf
				b0b1b2b3b4b5b6b7b8b9babbbcbdbebf`,
		},
		{
			name: "rreq",
			p: &RREQ{DestOnly: true, TTL: 7, Hops: 3, ID: 0x01020304, Cost: 0x0a0b0c0d,
				Dst: addrB, DstSeq: 9, Orig: addrA, OrigSeq: 0xfffffffe, Hash: testHash, Claim: testClaim},
			want: `02 02 01 07 03 01020304 0a0b0c0d
				b0b1b2b3b4b5b6b7b8b9babbbcbdbebf 00000009
				a0a1a2a3a4a5a6a7a8a9aaabacadaeaf fffffffe
				` + authHex + ` 00`,
		},
		{
			name: "rreq unknown seq",
			p:    &RREQ{UnknownSeq: true, TTL: 1, ID: 1, Dst: addrB, Orig: addrA, OrigSeq: 1, Hash: testHash, Claim: testClaim},
			want: `02 02 02 01 00 00000001 00000000
				b0b1b2b3b4b5b6b7b8b9babbbcbdbebf 00000000
				a0a1a2a3a4a5a6a7a8a9aaabacadaeaf 00000001
				` + authHex + ` 00`,
		},
		{
			name: "rreq avoid",
			p: &RREQ{DestOnly: true, TTL: 32, ID: 2, Dst: addrB, DstSeq: 3, Orig: addrA, OrigSeq: 4,
				Hash: testHash, Claim: testClaim, Avoid: []Addr{addrC}},
			want: `02 02 01 20 00 00000002 00000000
				b0b1b2b3b4b5b6b7b8b9babbbcbdbebf 00000003
				a0a1a2a3a4a5a6a7a8a9aaabacadaeaf 00000004
				` + authHex + `
				01 c0c1c2c3c4c5c6c7c8c9cacbcccdcecf`,
		},
		{
			name: "rrep",
			p: &RREP{Hops: 4, Cost: 1000, Dst: addrB, DstSeq: 17, Orig: addrA,
				Lifetime: 6 * time.Second, Hash: testHash, Claim: testClaim},
			want: `02 03 04 000003e8
				b0b1b2b3b4b5b6b7b8b9babbbcbdbebf 00000011
				a0a1a2a3a4a5a6a7a8a9aaabacadaeaf 00001770
				` + authHex,
		},
		{
			name: "rerr",
			p:    &RERR{Unreachable: []Unreachable{{addrB, 5}, {addrC, 0x80000000}}},
			want: `02 04 02
				b0b1b2b3b4b5b6b7b8b9babbbcbdbebf 00000005
				c0c1c2c3c4c5c6c7c8c9cacbcccdcecf 80000000`,
		},
		{
			name: "hello",
			p: &Hello{Interval: 250 * time.Millisecond, Instance: 0xdeadbeef, Seq: 42,
				NodeSeq: 7, EchoSeq: 41, EchoHold: 1500 * time.Microsecond, Window: 32, Heard: 30},
			want: `02 05 00fa deadbeef 0000002a 00000007 00000029 000005dc 20 1e`,
		},
		{
			name: "hello first",
			p:    &Hello{Interval: time.Second, Seq: 1, NodeSeq: 1},
			want: `02 05 03e8 00000000 00000001 00000001 00000000 00000000 00 00`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.want)
			got, err := tt.p.AppendBinary([]byte("prefix"))
			if err != nil {
				t.Fatalf("AppendBinary: %v", err)
			}
			if !bytes.Equal(got[:6], []byte("prefix")) || !bytes.Equal(got[6:], want) {
				t.Fatalf("AppendBinary = %x, want prefix + %x", got, want)
			}
			typ, err := PeekType(want)
			if err != nil || typ != tt.p.Type() {
				t.Fatalf("PeekType = %v, %v; want %v", typ, err, tt.p.Type())
			}
			back, err := Decode(want)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			again, err := back.AppendBinary(nil)
			if err != nil || !bytes.Equal(again, want) {
				t.Fatalf("re-encode = %x, %v; want %x", again, err, want)
			}
		})
	}
}

func TestSizes(t *testing.T) {
	tests := []struct {
		p    Packet
		size int
	}{
		{&RREQ{UnknownSeq: true, TTL: 1, Dst: addrB, Orig: addrA, OrigSeq: 1, Claim: testClaim}, RREQMinSize},
		{&RREQ{DestOnly: true, UnknownSeq: true, TTL: 1, Dst: addrB, Orig: addrA, OrigSeq: 1, Claim: testClaim, Avoid: make([]Addr, MaxRREQAvoid)}, 0}, // zero addresses: invalid
		{&RREP{Dst: addrB, DstSeq: 1, Orig: addrA, Lifetime: time.Millisecond, Claim: testClaim}, RREPSize},
		{&RREQ{TTL: 1, Dst: addrB, Orig: addrA}, 0},                                                 // no claim: max hops 0
		{&RREP{Hops: 33, Dst: addrB, Orig: addrA, Lifetime: time.Millisecond, Claim: testClaim}, 0}, // beyond the chain
		{&Hello{Interval: time.Millisecond, Seq: 1, NodeSeq: 1}, HelloSize},
		{&RERR{Unreachable: make([]Unreachable, MaxRERREntries)}, 0}, // zero dst: invalid
		{&Data{TTL: 1, Src: addrA, Dst: addrB, Payload: make([]byte, MaxPayloadSize)}, MaxFrameSize},
	}
	for _, tt := range tests {
		b, err := tt.p.AppendBinary(nil)
		if tt.size == 0 {
			if err == nil {
				t.Errorf("%v: encoded an invalid packet", tt.p.Type())
			}
			continue
		}
		if err != nil || len(b) != tt.size {
			t.Errorf("%v: len = %d, %v; want %d", tt.p.Type(), len(b), err, tt.size)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	valid := map[Type]string{
		TypeData:  "02 01 40 02 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf b0b1b2b3b4b5b6b7b8b9babbbcbdbebf 6869",
		TypeRREQ:  "02 02 01 07 03 01020304 0a0b0c0d b0b1b2b3b4b5b6b7b8b9babbbcbdbebf 00000009 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf fffffffe " + authHex + " 01 c0c1c2c3c4c5c6c7c8c9cacbcccdcecf",
		TypeRREP:  "02 03 04 000003e8 b0b1b2b3b4b5b6b7b8b9babbbcbdbebf 00000011 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf 00001770 " + authHex,
		TypeRERR:  "02 04 01 b0b1b2b3b4b5b6b7b8b9babbbcbdbebf 00000005",
		TypeHello: "02 05 00fa deadbeef 0000002a 00000007 00000029 000005dc 20 1e",
	}
	// mutate returns the valid frame of type t with byte i set to v.
	mutate := func(t Type, i int, v byte) string {
		b := unhex(nil, valid[t])
		b[i] = v
		return hex.EncodeToString(b)
	}
	cut := func(t Type, n int) string {
		return hex.EncodeToString(unhex(nil, valid[t])[:n])
	}
	zeroAt := func(t Type, off, n int) string {
		b := unhex(nil, valid[t])
		clear(b[off : off+n])
		return hex.EncodeToString(b)
	}
	tests := []struct {
		name  string
		frame string
		want  error
		field string
	}{
		{"empty", "", ErrTruncated, ""},
		{"one byte", "01", ErrTruncated, ""},
		{"version 0", "0001", ErrVersion, "version"},
		{"version 1", mutate(TypeHello, 0, 1), ErrVersion, "version"},
		{"version 1 rreq", mutate(TypeRREQ, 0, 1), ErrVersion, "version"},
		{"version 3", mutate(TypeData, 0, 3), ErrVersion, "version"},
		{"type 0", "0200", ErrUnknownType, "type"},
		{"type 6", "0206", ErrUnknownType, "type"},
		{"type ff", "02ff", ErrUnknownType, "type"},
		{"data short header", cut(TypeData, 35), ErrTruncated, ""},
		{"data ttl 0", mutate(TypeData, 2, 0), ErrField, "ttl"},
		{"data zero src", zeroAt(TypeData, 4, 16), ErrField, "src"},
		{"data zero dst", zeroAt(TypeData, 20, 16), ErrField, "dst"},
		{"data src is dst", "02 01 01 00" + strings.Repeat("a0", 32), ErrField, "dst"},
		{"rreq short", cut(TypeRREQ, RREQMinSize-1), ErrTruncated, ""},
		{"rreq long", valid[TypeRREQ] + "00", ErrLength, "avoid"},
		{"rreq avoid truncated", cut(TypeRREQ, RREQMinSize+7), ErrTruncated, "avoid"},
		{"rreq avoid 9", mutate(TypeRREQ, RREQMinSize-1, 9), ErrTooLarge, "avoid"},
		{"rreq avoid zero", zeroAt(TypeRREQ, RREQMinSize, 16), ErrField, "avoid"},
		{"rreq avoid is orig", "02 02 01 07 03 01020304 0a0b0c0d b0b1b2b3b4b5b6b7b8b9babbbcbdbebf 00000009 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf fffffffe " + authHex + " 01 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf", ErrField, "avoid"},
		{"rreq max hops 0", mutate(TypeRREQ, 53+ChainHashSize, 0), ErrField, "max hops"},
		{"rreq hops beyond the chain", mutate(TypeRREQ, 4, 33), ErrField, "hops"},
		{"rreq too long for any k", valid[TypeRREQ] + strings.Repeat("00", 16*8), ErrLength, ""},
		{"rreq reserved flag", mutate(TypeRREQ, 2, 0x05), ErrReserved, "flags"},
		{"rreq ttl 0", mutate(TypeRREQ, 3, 0), ErrField, "ttl"},
		{"rreq zero dst", zeroAt(TypeRREQ, 13, 16), ErrField, "dst"},
		{"rreq zero orig", zeroAt(TypeRREQ, 33, 16), ErrField, "orig"},
		{"rreq U with seq", mutate(TypeRREQ, 2, 0x02), ErrField, "dst seq"},
		// Decided by docs/protocol.md 6.2, 6.3, 6.4, 6.5 (issue 19): each
		// of these decoded before.
		{"rreq avoid without D", mutate(TypeRREQ, 2, 0), ErrField, "flags"},
		{"rreq U clear with dst seq 0", zeroAt(TypeRREQ, 29, 4), ErrField, "dst seq"},
		{"rreq orig seq 0", zeroAt(TypeRREQ, 49, 4), ErrField, "orig seq"},
		{"rreq avoid duplicate", rreqAvoiding("c0", "c0"), ErrField, "avoid"},
		{"rreq avoid unsorted", rreqAvoiding("d0", "c0"), ErrField, "avoid"},
		{"rrep dst seq 0", zeroAt(TypeRREP, 23, 4), ErrField, "dst seq"},
		{"rerr duplicate dst", valid[TypeRERR][:6] + "02" + valid[TypeRERR][8:] + valid[TypeRERR][8:], ErrField, "dst"},
		{"hello node seq 0", zeroAt(TypeHello, 12, 4), ErrField, "node seq"},
		{"rrep long", valid[TypeRREP] + "00", ErrLength, ""},
		{"rrep short", cut(TypeRREP, RREPSize-1), ErrTruncated, ""},
		{"rrep zero lifetime", zeroAt(TypeRREP, 43, 4), ErrField, "lifetime"},
		{"rrep orig is dst", "02 03 00 00000000" + strings.Repeat("b0", 16) + "00000001" + strings.Repeat("b0", 16) + "00000001 " + authHex, ErrField, "orig"},
		{"rrep max hops 0", mutate(TypeRREP, 47+ChainHashSize, 0), ErrField, "max hops"},
		{"rrep hops beyond the chain", mutate(TypeRREP, 2, 33), ErrField, "hops"},
		{"rerr no entries", "02 04 00", ErrField, "count"},
		{"rerr count 65", "02 04 41" + strings.Repeat("00", 20*65), ErrLength, ""},
		{"rerr count says 2", mutate(TypeRERR, 2, 2), ErrTruncated, "entries"},
		{"rerr trailing", valid[TypeRERR] + "00", ErrLength, "entries"},
		{"rerr zero dst", zeroAt(TypeRERR, 3, 16), ErrField, "dst"},
		{"hello short", cut(TypeHello, 25), ErrTruncated, ""},
		{"hello interval 0", zeroAt(TypeHello, 2, 2), ErrField, "interval"},
		{"hello seq 0", zeroAt(TypeHello, 8, 4), ErrField, "seq"},
		{"hello hold without echo", zeroAt(TypeHello, 16, 4), ErrField, "echo hold"},
		{"hello window 33", mutate(TypeHello, 24, 33), ErrField, "window"},
		{"hello heard > window", mutate(TypeHello, 25, 33), ErrField, "heard"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(unhex(t, tt.frame))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %v, want %v", err, tt.want)
			}
			var fe *FrameError
			if !errors.As(err, &fe) || fe.Op != "decode" || fe.Field != tt.field {
				t.Fatalf("Decode error = %#v, want a decode FrameError on field %q", err, tt.field)
			}
		})
	}
}

// rreqAvoiding is a valid RREQ (flag D set) whose avoid list holds
// addresses of 16 bytes each of the given hex byte values.
func rreqAvoiding(fill ...string) string {
	f := fmt.Sprintf("02 02 01 07 03 01020304 0a0b0c0d b0b1b2b3b4b5b6b7b8b9babbbcbdbebf 00000009 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf fffffffe %s %02x", authHex, len(fill))
	for _, b := range fill {
		f += " " + strings.Repeat(b, AddrSize)
	}
	return f
}

// TestDecodeAccepts: what docs/protocol.md decides a receiver accepts,
// although an honest sender never makes it. TTL and hops are bounded
// each on its own (an RREQ's last hop to its destination keeps TTL 1
// while hops grows, so their sum is no invariant); the receive rules
// stop a packet at hops 255 or TTL 1.
func TestDecodeAccepts(t *testing.T) {
	for _, frame := range []string{
		"02 01 ff ff a0a1a2a3a4a5a6a7a8a9aaabacadaeaf b0b1b2b3b4b5b6b7b8b9babbbcbdbebf",                                                           // DATA TTL + hops = 510
		"02 02 01 ff 20 01020304 0a0b0c0d b0b1b2b3b4b5b6b7b8b9babbbcbdbebf 00000009 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf fffffffe " + authHex + " 00", // RREQ TTL 255, hops 32
		rreqAvoiding("c0", "d0"), // ascending avoid list
	} {
		if _, err := Decode(unhex(t, frame)); err != nil {
			t.Errorf("Decode(%s) = %v, want it accepted", frame, err)
		}
	}
}

func TestDecodeTooLarge(t *testing.T) {
	p := &Data{TTL: 1, Src: addrA, Dst: addrB, Payload: make([]byte, MaxPayloadSize+1)}
	if _, err := p.AppendBinary(nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("encode oversize payload: %v, want ErrTooLarge", err)
	}
	p.Payload = p.Payload[:MaxPayloadSize]
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(append(b, 0)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("decode oversize frame: %v, want ErrTooLarge", err)
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		p    Packet
		want error
	}{
		{"data ttl 0", &Data{Src: addrA, Dst: addrB}, ErrField},
		{"rreq orig is dst", &RREQ{TTL: 1, Dst: addrA, Orig: addrA, Claim: testClaim}, ErrField},
		{"rreq without a claim", &RREQ{TTL: 1, Dst: addrB, Orig: addrA}, ErrField},
		{"rrep hops beyond the chain", &RREP{Hops: 33, Dst: addrB, Orig: addrA, Lifetime: time.Second, Claim: testClaim}, ErrField},
		{"rreq avoid too long", &RREQ{DestOnly: true, UnknownSeq: true, TTL: 1, Dst: addrB, Orig: addrA, OrigSeq: 1, Avoid: make([]Addr, MaxRREQAvoid+1)}, ErrTooLarge},
		{"rreq avoid dst", &RREQ{DestOnly: true, UnknownSeq: true, TTL: 1, Dst: addrB, Orig: addrA, OrigSeq: 1, Claim: testClaim, Avoid: []Addr{addrB}}, ErrField},
		{"rrep sub-millisecond lifetime", &RREP{Dst: addrB, DstSeq: 1, Orig: addrA, Lifetime: time.Microsecond}, ErrField},
		{"rrep lifetime overflow", &RREP{Dst: addrB, DstSeq: 1, Orig: addrA, Lifetime: 1 << 62}, ErrField},
		{"rerr too many", &RERR{Unreachable: make([]Unreachable, MaxRERREntries+1)}, ErrTooLarge},
		{"rerr empty", &RERR{}, ErrField},
		{"hello interval too long", &Hello{Interval: 66 * time.Second, Seq: 1}, ErrField},
		{"hello negative hold", &Hello{Interval: time.Second, Seq: 1, EchoSeq: 1, EchoHold: -1}, ErrField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.p.AppendBinary([]byte{9})
			if !errors.Is(err, tt.want) {
				t.Fatalf("AppendBinary = %v, want %v", err, tt.want)
			}
			if !bytes.Equal(b, []byte{9}) {
				t.Fatalf("AppendBinary changed b on error: %x", b)
			}
			var fe *FrameError
			if !errors.As(err, &fe) || fe.Op != "encode" {
				t.Fatalf("error %v is not an encode FrameError", err)
			}
		})
	}
}

func TestFrameErrorText(t *testing.T) {
	_, err := Decode(unhex(t, "02 04 00"))
	if got, want := err.Error(), "protocols: decode RERR count: invalid field"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if got := Type(9).String(); got != "type(9)" {
		t.Fatalf("Type(9) = %q", got)
	}
}

func TestRERRDecodeReusesCapacity(t *testing.T) {
	frame, err := (&RERR{Unreachable: []Unreachable{{addrB, 1}, {addrC, 2}}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	p := RERR{Unreachable: make([]Unreachable, 0, 8)}
	allocs := testing.AllocsPerRun(100, func() {
		if err := p.Decode(frame); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 || len(p.Unreachable) != 2 || p.Unreachable[1] != (Unreachable{addrC, 2}) {
		t.Fatalf("allocs = %v, entries = %v", allocs, p.Unreachable)
	}
}

// TestPeek: the field accessors drivers use instead of offsets read the
// same values the decoders do, and refuse what is not their packet.
func TestPeek(t *testing.T) {
	data, err := (&Data{TTL: 3, Hops: 1, Src: addrA, Dst: addrB, Payload: []byte("x")}).AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	rrep, err := (&RREP{Dst: addrB, DstSeq: 1, Orig: addrA, Lifetime: time.Second, Claim: testClaim}).AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	if dst, err := PeekDst(data); err != nil || dst != addrB {
		t.Errorf("PeekDst(DATA) = %v, %v; want %v", dst, err, addrB)
	}
	if dst, err := PeekDst(data[:DataHeaderSize]); err != nil || dst != addrB {
		t.Errorf("PeekDst(empty DATA) = %v, %v; want %v", dst, err, addrB)
	}
	if src, err := PeekSrc(data); err != nil || src != addrA {
		t.Errorf("PeekSrc(DATA) = %v, %v; want %v", src, err, addrA)
	}
	for _, tt := range []struct {
		name  string
		frame []byte
		want  error
	}{
		{"RREP", rrep, ErrUnknownType},
		{"truncated", data[:DataHeaderSize-1], ErrTruncated},
		{"version", append([]byte{1}, data[1:]...), ErrVersion},
		{"empty", nil, ErrTruncated},
	} {
		if _, err := PeekDst(tt.frame); !errors.Is(err, tt.want) {
			t.Errorf("PeekDst(%s) = %v, want %v", tt.name, err, tt.want)
		}
		if _, err := PeekSrc(tt.frame); !errors.Is(err, tt.want) {
			t.Errorf("PeekSrc(%s) = %v, want %v", tt.name, err, tt.want)
		}
	}
	for b := range 256 {
		if typ, err := PeekType([]byte{MeshVersion, byte(b)}); err == nil && int(typ) >= TypeCount {
			t.Errorf("PeekType accepts type %d, beyond TypeCount %d", typ, TypeCount)
		}
	}
}

// TestRelayData: a relay's in-place rewrite lowers the TTL and raises
// the hop count and touches no other byte; a frame that must not be
// passed on, or is not DATA, is refused and left as it was.
func TestRelayData(t *testing.T) {
	frame := func(ttl, hops uint8) []byte {
		b, err := (&Data{TTL: ttl, Hops: hops, Src: addrA, Dst: addrB, Payload: []byte("xy")}).AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rrep, err := (&RREP{Dst: addrB, DstSeq: 1, Orig: addrA, Lifetime: time.Second, Claim: testClaim}).AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		frame []byte
		want  string // hex of the frame afterwards
		err   error
	}{
		{"forward", frame(64, 2), "02" + "01" + "3f" + "03" + hex.EncodeToString(addrA[:]) + hex.EncodeToString(addrB[:]) + "7879", nil},
		{"last link", frame(2, 0), "02" + "01" + "01" + "01" + hex.EncodeToString(addrA[:]) + hex.EncodeToString(addrB[:]) + "7879", nil},
		{"ttl 1", frame(1, 5), hex.EncodeToString(frame(1, 5)), ErrField},
		{"hops 255", frame(9, 255), hex.EncodeToString(frame(9, 255)), ErrField},
		{"truncated", frame(9, 1)[:DataHeaderSize-1], hex.EncodeToString(frame(9, 1)[:DataHeaderSize-1]), ErrTruncated},
		{"RREP", rrep, hex.EncodeToString(rrep), ErrUnknownType},
		{"empty", nil, "", ErrTruncated},
	} {
		err := RelayData(tt.frame)
		if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("%s: RelayData = %v, want %v", tt.name, err, tt.err)
		}
		if got := hex.EncodeToString(tt.frame); got != tt.want {
			t.Errorf("%s: frame afterwards\n got %s\nwant %s", tt.name, got, tt.want)
		}
		var fe *FrameError
		if err != nil && !errors.As(err, &fe) {
			t.Errorf("%s: %T is not a *FrameError", tt.name, err)
		}
	}
}
