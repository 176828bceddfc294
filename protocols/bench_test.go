package protocols

import (
	"fmt"
	"testing"
	"time"
)

// benchPackets returns one packet of each kind, DATA and RERR over sizes.
func benchPackets() []struct {
	name string
	p    interface {
		Packet
		Decode([]byte) error
	}
} {
	type pd = interface {
		Packet
		Decode([]byte) error
	}
	var out []struct {
		name string
		p    pd
	}
	add := func(name string, p pd) {
		out = append(out, struct {
			name string
			p    pd
		}{name, p})
	}
	for _, n := range []int{64, 1024, MaxPayloadSize} {
		add(fmt.Sprintf("DATA/size=%d", n), &Data{TTL: 64, Src: addrA, Dst: addrB, Payload: make([]byte, n)})
	}
	add("RREQ/avoid=0", &RREQ{TTL: 5, ID: 1, Dst: addrB, DstSeq: 3, Orig: addrA, OrigSeq: 4, Claim: testClaim})
	add("RREQ/avoid=8", &RREQ{TTL: 5, ID: 1, Dst: addrB, DstSeq: 3, Orig: addrA, OrigSeq: 4, Claim: testClaim,
		Avoid: []Addr{runAddr(1), runAddr(2), runAddr(3), runAddr(4), runAddr(5), runAddr(6), runAddr(7), runAddr(8)}})
	add("RREP", &RREP{Hops: 3, Cost: 3000, Dst: addrB, DstSeq: 3, Orig: addrA, Lifetime: 6 * time.Second, Claim: testClaim})
	for _, n := range []int{1, MaxRERREntries} {
		r := &RERR{}
		for i := range n {
			r.Unreachable = append(r.Unreachable, Unreachable{runAddr(byte(i + 1)), uint32(i)})
		}
		add(fmt.Sprintf("RERR/entries=%d", n), r)
	}
	add("HELLO", &Hello{Interval: 250 * time.Millisecond, Seq: 9, NodeSeq: 2, EchoSeq: 8, EchoHold: time.Millisecond, Window: 32, Heard: 31})
	return out
}

func BenchmarkDecode(b *testing.B) {
	for _, c := range benchPackets() {
		frame, err := c.p.AppendBinary(nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.p.Decode(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, c := range benchPackets() {
		buf := make([]byte, 0, MaxFrameSize)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				out, err := c.p.AppendBinary(buf[:0])
				if err != nil {
					b.Fatal(err)
				}
				n = len(out)
			}
			b.SetBytes(int64(n))
		})
	}
}
