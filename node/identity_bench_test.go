package node

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// BenchmarkFirstNeighbour measures how soon the nodes of a fresh
// 20-node network (a devnet's: closed admission under a genesis of all
// of them, TCP on loopback, every node bootstrapping from the first)
// have a mesh neighbour, counted from the moment the last node started,
// and the DHT identity lookups they made until then. records=peer is
// the node as built: a neighbour's record is asked of it
// (IdentityProtocol). The baseline records=dht serves no record, so
// every admission falls back to the DHT, as all did before the
// protocol (plus one refused protocol negotiation per admission).
// Metrics: first-s-p50 and first-s-max (seconds to a node's first
// neighbour, median and slowest node), dht-lookups, asks and
// asks-failed (unanswered, so looked up in the DHT), summed over the
// nodes, and alone (nodes without a neighbour after
// firstNeighbourLimit). Slow (a network per iteration): run it with
// -benchtime 1x.
func BenchmarkFirstNeighbour(b *testing.B) {
	const nodes = 20
	for _, served := range []bool{true, false} {
		name := "records=dht"
		if served {
			name = "records=peer"
		}
		b.Run(fmt.Sprintf("nodes=%d/%s", nodes, name), func(b *testing.B) {
			for b.Loop() {
				firstNeighbour(b, nodes, served)
			}
		})
	}
}

func firstNeighbour(b *testing.B, count int, served bool) {
	keys := make([]peer.ID, count)
	opts := make([]Options, count)
	for i := range count {
		k, id := newKey(b)
		keys[i], opts[i] = id, Options{Key: k}
	}
	genesis := writeGenesis(b, b.TempDir(), 100, keys...)
	var ns []*Node
	defer func() {
		for _, n := range slices.Backward(ns) {
			n.Close()
		}
	}()
	for i := range count {
		cfg := closedConfig(genesis)
		cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
		if i > 0 {
			cfg.BootstrapPeers = []string{ns[0].Addrs()[0].String()}
		}
		n, err := New(cfg, opts[i])
		if err != nil {
			b.Fatal(err)
		}
		ns = append(ns, n)
		if !served {
			n.host.RemoveStreamHandler(IdentityProtocol)
		}
		if err := n.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	t0 := time.Now()
	first := make([]time.Duration, count)
	left := count
	for left > 0 && time.Since(t0) < firstNeighbourLimit {
		time.Sleep(100 * time.Millisecond)
		for i, n := range ns {
			if first[i] != 0 {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			nbs, err := n.Mesh().Neighbors(ctx)
			cancel()
			if err == nil && len(nbs) > 0 {
				first[i] = time.Since(t0)
				left--
			}
		}
	}
	var lookups, asks, failed float64
	for _, n := range ns {
		lookups += identityLookups(n)
		asks += identityAsks(n, "found") + identityAsks(n, "invalid") + identityAsks(n, "error")
		failed += identityAsks(n, "error")
	}
	for i := range first {
		if first[i] == 0 {
			first[i] = firstNeighbourLimit
		}
	}
	slices.Sort(first)
	b.ReportMetric(first[count/2].Seconds(), "first-s-p50")
	b.ReportMetric(first[count-1].Seconds(), "first-s-max")
	b.ReportMetric(lookups, "dht-lookups")
	b.ReportMetric(asks, "asks")
	b.ReportMetric(failed, "asks-failed")
	b.ReportMetric(float64(left), "alone")
}

// firstNeighbourLimit is how long BenchmarkFirstNeighbour waits; a node
// still without a neighbour then counts as taking that long, and the
// alone metric counts such nodes.
const firstNeighbourLimit = 4 * time.Minute
