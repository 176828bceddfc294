package node

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// BenchmarkGovernance runs governance on real nodes in one process (local
// profile: a 2 s settle delay, checks every 250 ms): nodes−1 of them
// running, listed in the genesis, started afresh before the timed part of
// each run (run it with -benchtime 1x: every op adds to the logs).
//
// Each op: first the baseline, a fresh node that joins and gets one value
// (node 0's identity record) from the DHT the way the driver gets a head,
// best of five answers: baseline-get-ms, from its start. Then one proposal
// on node 0 with 3 s of voting and votes from five nodes;
// deadline-to-all-ms is the time from the deadline to the decision on
// every running node (the settle delay included). Just after the deadline
// a fresh node joins: late-sync-ms is its time from start to a completed
// sync of every log from the DHT (records: what it fetched),
// late-decide-ms to its decision (which waits for the settle delay too).
func BenchmarkGovernance(b *testing.B) {
	for _, size := range []int{7, 20} {
		b.Run(fmt.Sprintf("nodes=%d", size), func(b *testing.B) {
			nodes := startGovMesh(b, size-1)
			b.ReportAllocs()
			var base, all, sync, decide time.Duration
			records := 0
			for b.Loop() {
				base += baselineGet(b, nodes[0])
				a, s, d, r := governanceRound(b, nodes)
				all, sync, decide, records = all+a, sync+s, decide+d, records+r
			}
			n := float64(b.N)
			b.ReportMetric(float64(base.Microseconds())/1000/n, "baseline-get-ms")
			b.ReportMetric(float64(all.Microseconds())/1000/n, "deadline-to-all-ms")
			b.ReportMetric(float64(sync.Microseconds())/1000/n, "late-sync-ms")
			b.ReportMetric(float64(decide.Microseconds())/1000/n, "late-decide-ms")
			b.ReportMetric(float64(records)/n, "records")
		})
	}
}

// baselineGet starts a fresh node and returns the time from its start to
// its first successful DHT get of boot's identity record, asked as the
// driver asks for a head (once the routing table lists a peer, best of
// headQuorum+1 answers).
func baselineGet(b *testing.B, boot *Node) time.Duration {
	b.Helper()
	n, began := startLateNode(b, boot)
	defer n.Close()
	key := pqcsec.RecordKey(boot.ID())
	waitFor(b, 30*time.Second, "the identity record", func() bool {
		if n.DHT().RoutingTable().Size() == 0 {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := n.DHT().GetValue(ctx, key, dht.Quorum(headQuorum))
		return err == nil
	})
	return time.Since(began)
}

// startGovMesh starts n nodes sharing a genesis that lists them (10,000
// tokens each), the first the bootstrap peer of the others, and waits
// until every node has synced and has a peer on the governance topic.
func startGovMesh(b *testing.B, n int) []*Node {
	b.Helper()
	keys := make([]crypto.PrivKey, n)
	ids := make([]peer.ID, n)
	for i := range keys {
		var err error
		if keys[i], _, err = crypto.GenerateEd25519Key(rand.Reader); err != nil {
			b.Fatal(err)
		}
		ids[i], _ = peer.IDFromPrivateKey(keys[i])
	}
	genesis := writeGovGenesis(b, b.TempDir(), ids)
	nodes := make([]*Node, n)
	for i := range nodes {
		cfg := DefaultLocalConfig()
		cfg.APIAddr = ""
		cfg.Governance.Genesis = genesis
		if i > 0 {
			cfg.BootstrapPeers = []string{nodes[0].Addrs()[0].String()}
		}
		nd, err := New(cfg, Options{Key: keys[i], Logger: testLogger(b)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { nd.Close() })
		if err := nd.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		nodes[i] = nd
	}
	waitFor(b, 60*time.Second, "every node to sync and join the governance topic", func() bool {
		for _, nd := range nodes {
			if !nd.Governance().Stats().Synced || len(nd.PubSub().ListPeers(consensus.Topic)) == 0 {
				return false
			}
		}
		return true
	})
	return nodes
}

func writeGovGenesis(b *testing.B, dir string, ids []peer.ID) string {
	b.Helper()
	allocs := make([]consensus.Allocation, len(ids))
	for i, id := range ids {
		allocs[i] = consensus.Allocation{Peer: consensus.PeerID(id), Tokens: 10_000}
	}
	g, err := consensus.NewGenesis(DefaultLocalConfig().TrustDomain, 100, allocs)
	if err != nil {
		b.Fatal(err)
	}
	data, err := g.MarshalTOML()
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "genesis.toml")
	if err := writeNew(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// startLateNode starts a fresh node bootstrapping from boot, with boot's
// genesis, and returns it with its start time.
func startLateNode(b *testing.B, boot *Node) (*Node, time.Time) {
	b.Helper()
	cfg := DefaultLocalConfig()
	cfg.APIAddr = ""
	cfg.Governance.Genesis = boot.Config().Governance.Genesis
	cfg.BootstrapPeers = []string{boot.Addrs()[0].String()}
	began := time.Now()
	n, err := New(cfg, Options{Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		n.Close()
		b.Fatal(err)
	}
	return n, began
}

// governanceRound runs one proposal with five votes on nodes, starts a
// late node after the deadline, and returns the deadline-to-decision time
// of the running nodes, the late node's times to sync and to decide, and
// the records it holds.
func governanceRound(b *testing.B, nodes []*Node) (all, sync, decide time.Duration, records int) {
	b.Helper()
	ctx := context.Background()
	p, err := nodes[0].Governance().Propose(ctx, "bench", "", 3*time.Second, 100_000, 500_000, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := 1; i <= 5 && i < len(nodes); i++ {
		gov := nodes[i].Governance()
		waitFor(b, 3*time.Second, "the proposal to reach a voter", func() bool {
			_, ok := gov.Log().Record(p.ID())
			return ok
		})
		if _, err := gov.Vote(ctx, p.ID(), consensus.Yes, 10_000); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.UnixMilli(p.Proposal.Deadline)
	time.Sleep(time.Until(deadline) + 50*time.Millisecond)
	late, began := startLateNode(b, nodes[0])
	defer late.Close()
	waitFor(b, 60*time.Second, "every node to decide", func() bool {
		for _, n := range append(nodes, late) {
			if _, ok := n.Governance().Log().Decision(p.ID()); !ok {
				return false
			}
		}
		return true
	})
	want, _ := nodes[0].Governance().Log().Decision(p.ID())
	for _, n := range nodes {
		d, _ := n.Governance().Log().Decision(p.ID())
		if d.Tally.Digest() != want.Tally.Digest() {
			b.Fatalf("tallies differ")
		}
		all = max(all, time.UnixMilli(d.DecidedAt).Sub(deadline))
	}
	d, _ := late.Governance().Log().Decision(p.ID())
	if d.Tally.Digest() != want.Tally.Digest() {
		b.Fatalf("the late joiner's tally differs")
	}
	st := late.Governance().Stats()
	return all, st.SyncedAt.Sub(began), time.UnixMilli(d.DecidedAt).Sub(began), len(late.Governance().Log().All())
}
