package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// connectedComponents counts the components of the graph whose vertices
// are nodes and whose edges are their live connections.
func connectedComponents(nodes []*Node) int {
	index := map[peer.ID]int{}
	for i, n := range nodes {
		index[n.ID()] = i
	}
	seen := make([]bool, len(nodes))
	components := 0
	for start := range nodes {
		if seen[start] {
			continue
		}
		components++
		stack := []int{start}
		seen[start] = true
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, p := range nodes[i].Host().Network().Peers() {
				if j, ok := index[p]; ok && !seen[j] {
					seen[j] = true
					stack = append(stack, j)
				}
			}
		}
	}
	return components
}

// testValidator accepts records under /x0test/<anything> whose value
// starts with "ok:" and prefers the longest.
type testValidator struct{}

func (testValidator) Validate(key string, value []byte) error {
	if !bytes.HasPrefix(value, []byte("ok:")) {
		return errors.New("x0test: value must start with ok:")
	}
	return nil
}

func (testValidator) Select(key string, values [][]byte) (int, error) {
	best := 0
	for i, v := range values {
		if len(v) > len(values[best]) {
			best = i
		}
	}
	return best, nil
}

func TestMesh(t *testing.T) {
	const size = 10
	boot := startNode(t, localConfig())
	nodes := []*Node{boot}
	for range size - 1 {
		nodes = append(nodes, startNode(t, localConfig(boot)))
	}
	for _, n := range nodes {
		if err := n.RegisterNamespace("x0test", testValidator{}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("one overlay from one bootstrap", func(t *testing.T) {
		waitFor(t, 30*time.Second, "every node to reach 2 peers and one component", func() bool {
			for _, n := range nodes {
				if len(n.Host().Network().Peers()) < 2 {
					return false
				}
			}
			return connectedComponents(nodes) == 1
		})
		// Discovery, not just the bootstrap node, must have linked them.
		beyond := 0
		for _, n := range nodes[1:] {
			for _, p := range n.Host().Network().Peers() {
				if p != boot.ID() {
					beyond++
					break
				}
			}
		}
		if beyond != size-1 {
			t.Errorf("%d of %d nodes have a peer besides the bootstrap node", beyond, size-1)
		}
	})

	t.Run("namespace record put on one is read on all", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		key, value := "/x0test/greeting", []byte("ok:hello mesh")
		var err error
		for {
			if err = nodes[3].DHT().PutValue(ctx, key, value); err == nil || ctx.Err() != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("put: %v", err)
		}
		for i, n := range nodes {
			// A lookup can race the routing tables on a loaded machine;
			// retry until the deadline.
			var got []byte
			var err error
			for {
				if got, err = n.DHT().GetValue(ctx, key); err == nil || ctx.Err() != nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("node %d get: %v", i, err)
			}
			if !bytes.Equal(got, value) {
				t.Fatalf("node %d got %q, want %q", i, got, value)
			}
		}
		// A value its namespace rejects, and a namespace nobody
		// registered, are refused before they leave the node.
		if err := nodes[3].DHT().PutValue(ctx, "/x0test/bad", []byte("nope")); err == nil {
			t.Error("put of an invalid value succeeded")
		}
		if err := nodes[3].DHT().PutValue(ctx, "/x0nobody/k", []byte("ok:")); !errors.Is(err, ErrUnknownNamespace) {
			t.Errorf("put under an unknown namespace: err = %v, want ErrUnknownNamespace", err)
		}
	})

	t.Run("every node's hybrid identity record is found by all", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		target := nodes[size-1]
		want := target.Identity().PublicKeys().Fingerprint()
		for i, n := range nodes {
			var err error
			for {
				var rec *pqcsec.Record
				if rec, err = n.LookupIdentity(ctx, target.ID()); err == nil {
					if got := rec.Keys().Fingerprint(); got != want {
						t.Fatalf("node %d: record keys %x, want %x", i, got, want)
					}
					if rec.SPIFFEID().TrustDomain() != n.TrustDomain() {
						t.Fatalf("node %d: record trust domain %s", i, rec.SPIFFEID().TrustDomain())
					}
					break
				}
				if ctx.Err() != nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("node %d: look up identity: %v", i, err)
			}
		}
	})

	t.Run("a message on a topic reaches all", func(t *testing.T) {
		const topic = "x0tta6bl4/test/1"
		subs := make([]<-chan []byte, len(nodes))
		var pub *pubsub.Topic
		for i, n := range nodes {
			tp, err := n.PubSub().Join(topic)
			if err != nil {
				t.Fatal(err)
			}
			if i == 7 {
				pub = tp
			}
			sub, err := tp.Subscribe()
			if err != nil {
				t.Fatal(err)
			}
			ch := make(chan []byte, 16)
			subs[i] = ch
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(func() { cancel(); sub.Cancel() })
			go func() {
				defer close(ch)
				for {
					m, err := sub.Next(ctx)
					if err != nil {
						return
					}
					if m.ReceivedFrom != n.ID() {
						ch <- m.Data
					}
				}
			}()
		}
		waitFor(t, 20*time.Second, "every subscriber to be known to a peer", func() bool {
			for _, n := range nodes {
				if len(n.PubSub().ListPeers(topic)) == 0 {
					return false
				}
			}
			return true
		})
		msg := []byte("hello from node 7")
		if err := pub.Publish(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
		for i, ch := range subs {
			if i == 7 {
				continue
			}
			select {
			case got := <-ch:
				if !bytes.Equal(got, msg) {
					t.Errorf("node %d got %q", i, got)
				}
			case <-time.After(15 * time.Second):
				t.Fatalf("node %d never got the message", i)
			}
		}
	})

	t.Run("killing the bootstrap node leaves the rest connected", func(t *testing.T) {
		if err := boot.Close(); err != nil {
			t.Fatalf("close bootstrap: %v", err)
		}
		rest := nodes[1:]
		waitFor(t, 10*time.Second, "the others to drop the bootstrap node", func() bool {
			for _, n := range rest {
				if n.connected(boot.ID()) {
					return false
				}
			}
			return true
		})
		if c := connectedComponents(rest); c != 1 {
			var sb strings.Builder
			for i, n := range rest {
				fmt.Fprintf(&sb, "node %d: %d peers\n", i+1, len(n.Host().Network().Peers()))
			}
			t.Fatalf("%d components after the bootstrap node left:\n%s", c, sb.String())
		}
		for i, n := range rest {
			if len(n.Host().Network().Peers()) == 0 {
				t.Errorf("node %d is isolated", i+1)
			}
		}
	})
}
