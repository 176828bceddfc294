package replication

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
)

// TestAdversarialAdvertisementFlood: anyone may advertise a governance
// log under the authors' rendezvous, and every advertised author was
// fetched in each sync round, on a goroutine of its own, and counted as
// known: its missing head (a whole DHT lookup to not find) made the
// initial round incomplete, so it ran five times. With 2,000 made-up
// authors advertised, a joining node ran thousands of goroutines and
// 10,000 lookups before it could decide. Now a round fetches members
// first and at most MaxAuthors others, on at most FetchConcurrency
// goroutines, and a non-member's missing head holds nothing up.
func TestAdversarialAdvertisementFlood(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		seeds := []uint64{1, 2, 3}
		f := newFakeNet(testGenesis(t, seeds...))
		f.tweak = func(c *Config) { c.SyncInterval = time.Hour }
		var nodes []*testNode
		for _, seed := range seeds[:2] {
			n := f.addNode(t, seed, nil)
			n.start(t)
			nodes = append(nodes, n)
		}
		p, err := nodes[0].d.Propose(ctx, "poll", "", 5*time.Second, 0, ppm(t, "0.5"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nodes[1].d.Vote(ctx, p.ID(), consensus.Yes, 100); err != nil {
			t.Fatal(err)
		}
		time.Sleep(8 * time.Second)

		const fakes = 2000
		f.mu.Lock()
		for i := range fakes {
			f.authors[consensus.PeerID(fmt.Sprintf("made-up author %d", i))] = true
		}
		f.found, f.notFound = 20*time.Millisecond, 500*time.Millisecond
		getsBefore := f.gets
		f.mu.Unlock()

		late := f.addNode(t, seeds[2], nil)
		peak := 0
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				peak = max(peak, runtime.NumGoroutine())
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
		began := time.Now()
		late.start(t)
		took := time.Since(began)
		close(stop)
		<-sampled
		gets := f.getCount() - getsBefore
		st := late.d.Stats()
		if got := len(late.log.All()); got != 2 {
			t.Errorf("the late node holds %d records, want 2", got)
		}
		limit := late.d.cfg.MaxAuthors + len(seeds) + 4*late.d.cfg.FetchConcurrency
		if gets > limit {
			t.Errorf("%d DHT gets to sync beside %d made-up authors, want at most %d", gets, fakes, limit)
		}
		if peak > 200 {
			t.Errorf("%d goroutines at the peak of the sync", peak)
		}
		if took > 30*time.Second {
			t.Errorf("synced after %v", took)
		}
		t.Logf("beside %d made-up authors: synced after %v, %d gets, %d goroutines at the peak, %d authors skipped", fakes, took, gets, peak, st.AuthorsSkipped)
	})
}
