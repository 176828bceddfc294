package protocols

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

// seedFrames returns valid frames of every type plus a few near misses.
func seedFrames(t testing.TB) [][]byte {
	pkts := []Packet{
		&Data{TTL: 64, Hops: 2, Src: addrA, Dst: addrB, Payload: []byte("payload")},
		&Data{TTL: 1, Src: addrA, Dst: addrB},
		&RREQ{DestOnly: true, TTL: 7, Hops: 3, ID: 9, Cost: 1 << 31, Dst: addrB, DstSeq: 4, Orig: addrA, OrigSeq: 2, Hash: testHash, Claim: testClaim},
		&RREQ{UnknownSeq: true, TTL: 1, Dst: addrB, Orig: addrA, OrigSeq: 1, Claim: Claim{MaxHops: 1}},
		&RREQ{DestOnly: true, TTL: 9, Dst: addrB, DstSeq: 1, Orig: addrA, OrigSeq: 5, Claim: testClaim, Avoid: []Addr{addrC, runAddr(0xd0)}},
		&RREQ{UnknownSeq: true, TTL: 1, Hops: 255, Dst: addrB, Orig: addrA, OrigSeq: 0xffffffff, Claim: Claim{MaxHops: 255}},
		&RREP{Hops: 1, Cost: 7, Dst: addrB, DstSeq: 3, Orig: addrA, Lifetime: time.Second, Hash: testHash, Claim: testClaim},
		&RREP{Hops: 32, Dst: addrB, DstSeq: 1, Orig: addrA, Lifetime: time.Millisecond, Claim: testClaim},
		&RERR{Unreachable: []Unreachable{{addrB, 1}, {addrC, 1 << 31}}},
		&Hello{Interval: 250 * time.Millisecond, Instance: 5, Seq: 9, NodeSeq: 3, EchoSeq: 8, EchoHold: time.Millisecond, Window: 8, Heard: 7},
	}
	var out [][]byte
	for _, p := range pkts {
		b, err := p.AppendBinary(nil)
		if err != nil {
			t.Fatalf("seed %v: %v", p.Type(), err)
		}
		out = append(out, b, b[:len(b)-1], append(bytes.Clone(b), 0))
	}
	return append(out, nil, []byte{2}, []byte{2, 4, 0}, []byte{2, 4, 0xff}, []byte{1, 1}, []byte{3, 1})
}

// checkDecodeError fails unless err is a decode *FrameError wrapping one of
// the package's sentinels.
func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	var fe *FrameError
	if !errors.As(err, &fe) || fe.Op != "decode" {
		t.Fatalf("error %v (%T) is not a decode *FrameError", err, err)
	}
	for _, s := range []error{ErrTruncated, ErrLength, ErrTooLarge, ErrVersion, ErrUnknownType, ErrReserved, ErrField} {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error %v wraps no sentinel", err)
}

// decoder is what every per-type packet offers.
type decoder interface {
	Packet
	Decode([]byte) error
}

// fuzzRoundTrip decodes frame with p; a frame that decodes must encode back
// to the same bytes and decode again to the same packet.
func fuzzRoundTrip(t *testing.T, frame []byte, p, again decoder) {
	if len(frame) > MaxFrameSize+64 {
		t.Skip("input beyond any valid frame")
	}
	if err := p.Decode(frame); err != nil {
		checkDecodeError(t, err)
		return
	}
	enc, err := p.AppendBinary(nil)
	if err != nil {
		t.Fatalf("re-encode of a decoded %v: %v", p.Type(), err)
	}
	if !bytes.Equal(enc, frame) {
		t.Fatalf("re-encode = %x, want %x", enc, frame)
	}
	if err := again.Decode(enc); err != nil {
		t.Fatalf("decode of re-encoding: %v", err)
	}
	if !reflect.DeepEqual(p, again) {
		t.Fatalf("decode(encode(p)) = %+v, want %+v", again, p)
	}
}

func addSeeds(f *testing.F) {
	for _, b := range seedFrames(f) {
		f.Add(b)
	}
}

func FuzzData(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		fuzzRoundTrip(t, frame, new(Data), new(Data))
		// PeekDst and PeekSrc agree with Decode on every frame Decode takes.
		var p Data
		if p.Decode(frame) == nil {
			if dst, err := PeekDst(frame); err != nil || dst != p.Dst {
				t.Fatalf("PeekDst = %v, %v; Decode found %v", dst, err, p.Dst)
			}
			if src, err := PeekSrc(frame); err != nil || src != p.Src {
				t.Fatalf("PeekSrc = %v, %v; Decode found %v", src, err, p.Src)
			}
		}
		// RelayData rewrites exactly TTL and hops of what Decode takes,
		// refuses what a relay must drop, and leaves refused frames alone.
		relayed := bytes.Clone(frame)
		err := RelayData(relayed)
		switch {
		case p.Decode(frame) != nil:
			if err == nil && (len(frame) < DataHeaderSize || !bytes.Equal(relayed[4:], frame[4:])) {
				t.Fatalf("RelayData rewrote more than the header of an invalid frame")
			}
		case p.TTL <= 1 || p.Hops == 0xff:
			if err == nil || !bytes.Equal(relayed, frame) {
				t.Fatalf("RelayData(ttl %d, hops %d) = %v and changed the frame", p.TTL, p.Hops, err)
			}
		default:
			var q Data
			if err != nil || q.Decode(relayed) != nil || q.TTL != p.TTL-1 || q.Hops != p.Hops+1 ||
				q.Src != p.Src || q.Dst != p.Dst || !bytes.Equal(q.Payload, p.Payload) {
				t.Fatalf("RelayData = %v: %+v from %+v", err, q, p)
			}
		}
		if err != nil && !bytes.Equal(relayed, frame) {
			t.Fatalf("RelayData refused (%v) but changed the frame", err)
		}
	})
}

func FuzzRREQ(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, frame []byte) { fuzzRoundTrip(t, frame, new(RREQ), new(RREQ)) })
}

func FuzzRREP(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, frame []byte) { fuzzRoundTrip(t, frame, new(RREP), new(RREP)) })
}

func FuzzRERR(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, frame []byte) { fuzzRoundTrip(t, frame, new(RERR), new(RERR)) })
}

func FuzzHello(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, frame []byte) { fuzzRoundTrip(t, frame, new(Hello), new(Hello)) })
}

// FuzzDecode drives the type-dispatching decoder that engines and tools
// use on frames straight off a link.
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) > MaxFrameSize+64 {
			t.Skip("input beyond any valid frame")
		}
		p, err := Decode(frame)
		if err != nil {
			checkDecodeError(t, err)
			if _, perr := PeekType(frame); perr == nil && len(frame) >= 2 && Type(frame[1]) == 0 {
				t.Fatalf("PeekType accepted type 0")
			}
			return
		}
		if typ, err := PeekType(frame); err != nil || typ != p.Type() {
			t.Fatalf("PeekType = %v, %v; Decode gave %v", typ, err, p.Type())
		}
		enc, err := p.AppendBinary(nil)
		if err != nil || !bytes.Equal(enc, frame) {
			t.Fatalf("re-encode = %x, %v; want %x", enc, err, frame)
		}
	})
}
