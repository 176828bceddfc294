package e2e

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// seedEnvelopes returns real channel messages of every kind.
func seedEnvelopes(t testing.TB) [][]byte {
	net := newChanNet(t, 2, nil)
	a, b := net.nodes[0], net.nodes[1]
	if err := a.ch.Send(net.now, b.addr, b.id.PeerID(), []byte("seed")); err != nil {
		t.Fatal(err)
	}
	net.settle()
	out := append([][]byte{}, net.wire...)
	for _, w := range net.wire {
		if env, err := ParseEnvelope(w); err == nil && env.Kind == KindInit {
			out = append(out, append(bytes.Clone(w), make([]byte, CookieSize)...)) // an init echoing a cookie
		}
	}
	return append(out, appendUnknown(nil, SessionID{9}, [TokenSize]byte{7}), appendCookie(nil, SessionID{8}, [CookieSize]byte{6}), nil, []byte{Version}, []byte{Version, 4, 0})
}

// FuzzParseEnvelope: no panic, errors wrap ErrMalformed, and what parses
// re-encodes to the same bytes.
func FuzzParseEnvelope(f *testing.F) {
	for _, s := range seedEnvelopes(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > protocols.MaxPayloadSize {
			t.Skip()
		}
		env, err := ParseEnvelope(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if out := appendEnvelope(env); !bytes.Equal(out, in) {
			t.Fatalf("round trip: %x -> %x", in, out)
		}
	})
}

// FuzzStep feeds arbitrary payloads to a channel that holds a
// session and a handshake in progress: it never panics, refuses with an
// error everything it does not deliver, and delivers nothing that was not
// sealed by its peer.
func FuzzStep(f *testing.F) {
	for _, s := range seedEnvelopes(f) {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, in []byte, fromC bool) {
		if len(in) > protocols.MaxPayloadSize {
			t.Skip()
		}
		net := newChanNet(t, 3, nil)
		a, b, c := net.nodes[0], net.nodes[1], net.nodes[2]
		_ = net.send(a, b, "established")
		_ = c.ch.Send(net.now, b.addr, b.id.PeerID(), []byte("pending")) // init only: C never hears back
		b.got = nil
		src := a.addr
		if fromC {
			src = c.addr
		}
		err := b.ch.Step(net.now.Add(time.Millisecond), src, src, bytes.Clone(in), 1)
		rd := b.ch.Ready()
		if len(rd.Deliveries) > 0 {
			t.Fatalf("fuzzed bytes were delivered as %q (err %v)", rd.Deliveries[0].Payload, err)
		}
		b.ch.Advance()
	})
}

// FuzzParsePlaintext: no panic, errors wrap ErrMalformed, round trip.
func FuzzParsePlaintext(f *testing.F) {
	for _, p := range []Plaintext{{Kind: AppMessage, Payload: []byte("x")}, {Kind: AppPing, ID: 3}, {Kind: AppPong, ID: 4, Hops: 2}} {
		b, _ := AppendPlaintext(nil, p)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ParsePlaintext(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		out, err := AppendPlaintext(nil, p)
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("round trip: %x -> %x, %v", in, out, err)
		}
	})
}
