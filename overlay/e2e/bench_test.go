package e2e

import (
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/internal/cputime"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// BenchmarkHandshake is one channel handshake between two engines, both
// sides, up to the first plaintext delivered (what a first Send costs),
// beside its baseline in the same run: the bare pqcsec handshake, the
// same three messages without the channel.
//
//	go test ./overlay/e2e -run '^$' -bench Handshake -count 6
func BenchmarkHandshake(b *testing.B) {
	idA, idB := testIdentity(b, 1), testIdentity(b, 2)
	addrA := protocols.AddrFromPeerID([]byte(idA.PeerID()))
	addrB := protocols.AddrFromPeerID([]byte(idB.PeerID()))
	b.Run("baseline=pqcsec", func(b *testing.B) {
		ca := pqcsec.HandshakeConfig{Identity: idA, Rand: testRand(3)}
		cb := pqcsec.HandshakeConfig{Identity: idB, Rand: testRand(4)}
		now := t0
		b.ReportAllocs()
		defer cputime.Report(b, cputime.Now())
		for b.Loop() {
			ini, init, err := pqcsec.NewInitiator(ca, idB.PeerID(), now)
			if err != nil {
				b.Fatal(err)
			}
			resp, err := pqcsec.NewResponder(cb)
			if err != nil {
				b.Fatal(err)
			}
			reply, err := resp.Step(init, now)
			if err != nil {
				b.Fatal(err)
			}
			finish, err := ini.Step(reply, now)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := resp.Step(finish, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("channel", func(b *testing.B) {
		newEngines := func() (*Engine, *Engine) {
			ea, err := NewEngine(Config{Handshake: pqcsec.HandshakeConfig{Identity: idA, Rand: testRand(5)}}, addrA)
			if err != nil {
				b.Fatal(err)
			}
			eb, err := NewEngine(Config{Handshake: pqcsec.HandshakeConfig{Identity: idB, Rand: testRand(6)}}, addrB)
			if err != nil {
				b.Fatal(err)
			}
			return ea, eb
		}
		ea, eb := newEngines()
		now := t0
		b.ReportAllocs()
		defer cputime.Report(b, cputime.Now())
		for b.Loop() {
			now = now.Add(time.Second) // past the init rate limits
			if err := ea.Send(now, addrB, idB.PeerID(), []byte("first")); err != nil {
				b.Fatal(err)
			}
			delivered := 0
			for ea.HasReady() || eb.HasReady() {
				for _, e := range []struct {
					from, to *Engine
					addr     protocols.Addr
				}{{ea, eb, addrA}, {eb, ea, addrB}} {
					pkts := append([]Packet(nil), e.from.Ready().Packets...)
					e.from.Advance()
					for _, p := range pkts {
						_ = benchStep(e.to, now, e.addr, p.Payload)
					}
					delivered += len(e.to.Ready().Deliveries)
				}
			}
			if delivered != 1 {
				b.Fatalf("%d deliveries", delivered)
			}
			ea, eb = benchForget(ea, eb, now, newEngines)
		}
	})
}

// benchStep steps a payload from src arriving over the link from src.
func benchStep(e *Engine, now time.Time, src protocols.Addr, payload []byte) error {
	return e.Step(now, src, src, payload, 3)
}

// benchForget makes both engines forget each other, so that the next
// Send handshakes again.
func benchForget(ea, eb *Engine, now time.Time, _ func() (*Engine, *Engine)) (*Engine, *Engine) {
	ea.Forget(now, eb.Addr())
	eb.Forget(now, ea.Addr())
	ea.Advance()
	eb.Advance()
	return ea, eb
}
