package node

import (
	"context"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
)

// TestAdversarialQuarantineEndsSessions: governance quarantines a peer
// that holds an end-to-end session with the node. Before, the policy
// engine's quarantine list refused only its new handshakes and links: the
// live session carried on until it was rekeyed (10 minutes by default),
// and the quarantined peer's messages kept arriving. Now the decision ends
// its sessions and its neighbour link at once, and its messages stop.
func TestAdversarialQuarantineEndsSessions(t *testing.T) {
	ctx := context.Background()
	keyA, idA := newKey(t)
	keyB, idB := newKey(t)
	genesis := writeGenesis(t, t.TempDir(), 10_000, idA, idB)
	cfg := localConfig()
	cfg.Governance.Genesis = genesis
	a := startNodeWith(t, cfg, Options{Key: keyA})
	cfg = localConfig(a)
	cfg.Governance.Genesis = genesis
	b := startNodeWith(t, cfg, Options{Key: keyB})

	msgs, cancel := a.Mesh().Subscribe(64)
	defer cancel()
	received := func(want string, within time.Duration) bool {
		timeout := time.After(within)
		for {
			select {
			case m := <-msgs:
				if string(m.Payload) == want {
					return true
				}
			case <-timeout:
				return false
			}
		}
	}
	waitFor(t, 30*time.Second, "B's message to reach A over a session", func() bool {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return b.Mesh().Send(sctx, a.ID(), []byte("before")) == nil && received("before", 2*time.Second)
	})
	sessionsWithB := func() int {
		ss, err := a.Mesh().Sessions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, s := range ss {
			if s.Peer == idB {
				n++
			}
		}
		return n
	}
	if sessionsWithB() == 0 {
		t.Fatal("A holds no session with B")
	}

	waitFor(t, 30*time.Second, "A's governance to sync", func() bool { return a.Governance().Stats().Synced })
	p, err := a.Governance().Propose(ctx, "quarantine B", "test", 2*time.Second,
		mustPPM(t, "0.5"), mustPPM(t, "0.5"), &consensus.Quarantine{Peer: consensus.PeerID(idB)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Governance().Vote(ctx, p.ID(), consensus.Yes, 10_000); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "A to quarantine B", func() bool { return a.Policy().Quarantined(idB) })
	decided := time.Now()
	waitFor(t, 2*time.Second, "A to end its sessions with B", func() bool { return sessionsWithB() == 0 })
	t.Logf("A ended its session with B %v after the decision", time.Since(decided).Round(time.Millisecond))

	sctx, cancel2 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel2()
	_ = b.Mesh().Send(sctx, a.ID(), []byte("after"))
	if received("after", 3*time.Second) {
		t.Error("a message of the quarantined peer reached A")
	}
	if n := sessionsWithB(); n != 0 {
		t.Errorf("A holds %d sessions with B again", n)
	}
}
