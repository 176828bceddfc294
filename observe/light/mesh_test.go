package light_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/x0tta6bl4/x0tta6bl4/observe"
	"github.com/x0tta6bl4/x0tta6bl4/observe/light"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// meshTrace is a relay's record of its telemetry mesh and of the IHAVE
// gossip it received, by peer.
type meshTrace struct {
	light.GossipTrace
	mu     sync.Mutex
	inMesh map[peer.ID]bool
	ihaves map[peer.ID]int
}

func (m *meshTrace) Graft(p peer.ID, topic string) {
	if topic == protocols.TelemetryTopic {
		m.mu.Lock()
		m.inMesh[p] = true
		m.mu.Unlock()
	}
}

func (m *meshTrace) Prune(p peer.ID, topic string) {
	if topic == protocols.TelemetryTopic {
		m.mu.Lock()
		m.inMesh[p] = false
		m.mu.Unlock()
	}
}

func (m *meshTrace) RecvRPC(rpc *pubsub.RPC) {
	if n := len(rpc.GetControl().GetIhave()); n > 0 {
		m.mu.Lock()
		m.ihaves[rpc.From()] += n
		m.mu.Unlock()
	}
}

func (m *meshTrace) has(p peer.ID) (inMesh bool, ihaves int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.inMesh[p], m.ihaves[p]
}

// relay is a bare GossipSub peer of the telemetry topic (GossipSub's
// defaults, as on the nodes) that traces its mesh.
type relay struct {
	h     host.Host
	topic *pubsub.Topic
	sub   *pubsub.Subscription
	trace *meshTrace
}

func startRelay(t testing.TB, ctx context.Context) *relay {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport), libp2p.Security(libp2ptls.ID, libp2ptls.New), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	r := &relay{h: h, trace: &meshTrace{inMesh: map[peer.ID]bool{}, ihaves: map[peer.ID]int{}}}
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithMessageSignaturePolicy(pubsub.StrictSign), pubsub.WithRawTracer(r.trace))
	if err != nil {
		t.Fatal(err)
	}
	if r.topic, err = ps.Join(protocols.TelemetryTopic); err != nil {
		t.Fatal(err)
	}
	if r.sub, err = r.topic.Subscribe(); err != nil {
		t.Fatal(err)
	}
	// Read what it receives, as a node does, until the test ends.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := r.sub.Next(ctx); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { r.sub.Cancel(); <-done })
	return r
}

// TestObserverMeshIsSmall: six relays, all connected to each other and
// to the observer, each wanting six mesh peers, so each grafts the
// observer. The observer keeps at most three of them in its telemetry
// mesh (GossipParams' Dhi; GossipSub's defaults would keep all six and
// take six copies of every message), so it drops fewer than Dhi
// duplicates per message once its mesh has settled, and it sends no
// IHAVE gossip.
func TestObserverMeshIsSmall(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 6
	var relays []*relay
	var boot []string
	for range n {
		r := startRelay(t, ctx)
		for _, o := range relays {
			if err := r.h.Connect(ctx, peer.AddrInfo{ID: o.h.ID(), Addrs: o.h.Addrs()}); err != nil {
				t.Fatal(err)
			}
		}
		relays = append(relays, r)
		boot = append(boot, fmt.Sprintf("%s/p2p/%s", r.h.Addrs()[0], r.h.ID()))
	}
	// The first relay publishes its telemetry ten times a second; every
	// relay forwards it to its mesh.
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for seq := uint32(1); ; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			_ = relays[0].topic.Publish(ctx, telemetry(relays[0].h.ID(), seq))
		}
	}()
	defer func() { cancel(); <-pubDone }()

	obs, loop := startObserverBoot(t, boot, nil, time.Second)
	meshed := func() (count, ihaves int) {
		for _, r := range relays {
			in, ih := r.trace.has(obs.ID())
			if in {
				count++
			}
			ihaves += ih
		}
		return count, ihaves
	}
	summary := func() observe.Summary {
		var s observe.Summary
		loop.View(func(w *observe.Watch) { now := time.Now(); s = w.Summary(now, now) })
		return s
	}
	// Every relay grafts the observer at its first heartbeat after they
	// connect (GossipSub heartbeats every second), and the observer,
	// having dialled them all, takes each graft; it prunes the excess at
	// its next heartbeat, and the pruned relays back off for a minute.
	deadline := time.Now().Add(20 * time.Second)
	for obs.Peers() < n {
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s the observer is connected to %d relays of %d", obs.Peers(), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)
	if count, _ := meshed(); count < 1 || count > light.GossipParams().Dhi {
		t.Fatalf("3 s after connecting, the observer is in the telemetry mesh of %d relays of %d; want 1 to %d",
			count, n, light.GossipParams().Dhi)
	}
	// Over three more heartbeats, it stays small, and the copies of a
	// message it receives are those of its few mesh peers.
	s0 := summary()
	for range 30 {
		if count, _ := meshed(); count > light.GossipParams().Dhi {
			t.Fatalf("the observer is in the telemetry mesh of %d relays, more than Dhi %d", count, light.GossipParams().Dhi)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s1 := summary()
	msgs, dups := s1.Messages-s0.Messages, s1.Duplicates-s0.Duplicates
	if msgs < 10 {
		t.Fatalf("the observer took %d messages in 3 s, want about 30", msgs)
	}
	if perMsg := float64(dups) / float64(msgs); perMsg >= float64(light.GossipParams().Dhi) {
		t.Errorf("%d duplicates for %d messages (%.1f each): more than its mesh peers send", dups, msgs, perMsg)
	}
	if _, ihaves := meshed(); ihaves != 0 {
		t.Errorf("the relays received %d IHAVE entries from the observer, want none", ihaves)
	}
	count, _ := meshed()
	t.Logf("in the mesh of %d relays of %d; %d messages, %d duplicates in 3 s", count, n, msgs, dups)
}
