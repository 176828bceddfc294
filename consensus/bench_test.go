package consensus

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	pebbleds "github.com/ipfs/go-ds-pebble"

	"github.com/x0tta6bl4/x0tta6bl4/internal/cputime"
)

// benchPool is a set of distinct, validly signed vote records: voters
// authors with perVoter votes each on one proposal (the first record).
type benchPool struct {
	g    *Genesis
	recs []*Record
}

var poolOnce sync.Map // key string → *benchPool

// cpuClock reports CPU time per operation beside the wall-clock ns/op. The
// benchmarks run on machines shared with other work, where wall time
// includes waiting for a core; CPU time (user + system, garbage collection
// included) is the steadier figure there.
type cpuClock struct{ start time.Duration }

func startCPU() cpuClock { return cpuClock{cputime.Now()} }

func (c cpuClock) report(b *testing.B) { cputime.Report(b, c.start) }

func votePool(b *testing.B, hybrid bool, voters, perVoter int) *benchPool {
	key := fmt.Sprint(hybrid, voters, perVoter)
	if p, ok := poolOnce.Load(key); ok {
		return p.(*benchPool)
	}
	// The voters are listed in the genesis and claim no SPIFFE ID, as the
	// nodes of a network are.
	signers := make([]*testSigner, voters)
	allocs := make([]Allocation, voters)
	for v := range signers {
		signers[v] = newTestSigner(uint64(10_000+v), hybrid)
		allocs[v] = Allocation{Peer: signers[v].id, Tokens: uint64(perVoter)*10 + 10}
	}
	g := mustGenesis(b, 0, allocs...)
	proposer := newChain(g, newTestSigner(1, hybrid))
	proposer.a = newTestSigner(1, hybrid).bare()
	prop := proposer.propose(b, t0, time.Hour, 0, 0, nil)
	recs := []*Record{prop}
	for v := range voters {
		c := newChain(g, signers[v])
		c.a = signers[v].bare()
		for i := range perVoter {
			recs = append(recs, c.vote(b, at(time.Duration(i+1)*time.Millisecond), prop, Choice(1+(v+i)%3), uint64(1+i%10)))
		}
	}
	p := &benchPool{g: g, recs: recs}
	poolOnce.Store(key, p)
	return p
}

// BenchmarkVerify is the baseline of BenchmarkIngest: signature
// verification alone (the hybrid record verified through pqcsec).
func BenchmarkVerify(b *testing.B) {
	for _, hybrid := range []bool{true, false} {
		b.Run(sigName(hybrid), func(b *testing.B) {
			pool := votePool(b, hybrid, 64, 32)
			b.ReportAllocs()
			cpu := startCPU()
			b.ResetTimer()
			for i := range b.N {
				r := pool.recs[i%len(pool.recs)]
				if err := r.Verify(pool.g.ID(), testVerifier); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func sigName(hybrid bool) string {
	if hybrid {
		return "sig=hybrid"
	}
	return "sig=ed25519"
}

// BenchmarkIngest measures Log.Ingest of records from other nodes: decode,
// checks, verification, durable store (Put + Sync) and indexing. With the
// pebble store every record is fsynced, as a node acknowledges it.
func BenchmarkIngest(b *testing.B) {
	for _, hybrid := range []bool{true, false} {
		for _, store := range []string{"map", "pebble"} {
			b.Run(sigName(hybrid)+"/store="+store, func(b *testing.B) {
				pool := votePool(b, hybrid, 64, 32)
				ctx := context.Background()
				var closeStore func()
				open := func() *Log {
					var ds datastore.Datastore = memStore()
					closeStore = func() {}
					if store == "pebble" {
						p, err := pebbleds.NewDatastore(b.TempDir())
						if err != nil {
							b.Fatal(err)
						}
						ds, closeStore = p, func() { _ = p.Close() }
					}
					return openLog(b, pool.g, newTestSigner(2, false).author(), ds)
				}
				l := open()
				now := at(time.Hour)
				b.ReportAllocs()
				cpu := startCPU()
				b.ResetTimer()
				for i := range b.N {
					if i > 0 && i%len(pool.recs) == 0 {
						b.StopTimer()
						closeStore()
						l = open()
						b.StartTimer()
					}
					if _, err := l.Ingest(ctx, now, pool.recs[i%len(pool.recs)].Encode()); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				cpu.report(b)
				closeStore()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}

// BenchmarkIngestAll is BenchmarkIngest in batches of 64, as a sync
// routine ingests fetched records: one Sync per batch instead of per record.
func BenchmarkIngestAll(b *testing.B) {
	const batch = 64
	for _, store := range []string{"map", "pebble"} {
		b.Run("sig=hybrid/store="+store+"/batch=64", func(b *testing.B) {
			pool := votePool(b, true, 64, 32)
			values := make([][]byte, len(pool.recs))
			for i, r := range pool.recs {
				values[i] = r.Encode()
			}
			ctx := context.Background()
			var ds datastore.Datastore
			closeStore := func() {}
			open := func() *Log {
				closeStore()
				ds, closeStore = memStore(), func() {}
				if store == "pebble" {
					p, err := pebbleds.NewDatastore(b.TempDir())
					if err != nil {
						b.Fatal(err)
					}
					ds, closeStore = p, func() { _ = p.Close() }
				}
				return openLog(b, pool.g, newTestSigner(2, false).author(), ds)
			}
			l := open()
			now := at(time.Hour)
			b.ReportAllocs()
			cpu := startCPU()
			b.ResetTimer()
			next := 0
			for done := 0; done < b.N; done += batch {
				if next+batch > len(values) {
					b.StopTimer()
					l, next = open(), 0
					b.StartTimer()
				}
				for i, err := range l.IngestAll(ctx, now, values[next:next+batch]) {
					if err != nil {
						b.Fatalf("record %d: %v", next+i, err)
					}
				}
				next += batch
			}
			b.StopTimer()
			cpu.report(b)
			closeStore()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkCount measures the pure tally against the number of votes:
// Count builds the index from the record set and tallies; the Log's Tally
// (baseline) tallies an index it already holds.
func BenchmarkCount(b *testing.B) {
	for _, n := range []int{100, 1_000, 10_000} {
		// n/2 voters voting twice each: half the votes are superseded.
		pool := votePool(b, false, n/2, 2)
		p := pool.recs[0].ID()
		b.Run(fmt.Sprintf("votes=%d/count", n), func(b *testing.B) {
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if _, err := Count(pool.g, pool.recs, p); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/vote")
		})
		b.Run(fmt.Sprintf("votes=%d/indexed", n), func(b *testing.B) {
			ix := newIndex(pool.g)
			for _, r := range pool.recs {
				ix.add(r)
			}
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if _, err := ix.tally(p); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/vote")
		})
	}
}

// BenchmarkLateJoinerSync measures the CPU side of a late joiner's sync
// over an in-memory DHT: nodes authors (one proposal, every node voting
// twice), fetched by walking heads and Missing, each record verified and
// stored. The network's round trips are not included.
func BenchmarkLateJoinerSync(b *testing.B) {
	for _, nodes := range []int{7, 20} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			var signers []*testSigner
			var allocs []Allocation
			for i := range nodes {
				s := newTestSigner(uint64(300+i), true)
				signers = append(signers, s)
				allocs = append(allocs, Allocation{Peer: s.id, Tokens: 100})
			}
			g := mustGenesis(b, 0, allocs...)
			d := newDHT(b, g)
			var ids []PeerID
			var logs []*Log
			for _, s := range signers {
				ids = append(ids, s.id)
				logs = append(logs, openLog(b, g, s.bare(), memStore()))
			}
			ctx := context.Background()
			p, err := logs[0].CreateProposal(ctx, t0, "p", "", time.Minute, 0, 0, nil)
			if err != nil {
				b.Fatal(err)
			}
			publish(b, d, logs[0], p, t0)
			for i, l := range logs {
				if _, err := l.Ingest(ctx, t0, p.Encode()); err != nil && i != 0 {
					b.Fatal(err)
				}
				for k := range 2 {
					now := at(time.Duration(i*2+k+1) * time.Millisecond)
					v, err := l.CastVote(ctx, now, p.ID(), Yes, 100)
					if err != nil {
						b.Fatal(err)
					}
					publish(b, d, l, v, now)
				}
			}
			want := 1 + 2*nodes
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				late := openLog(b, g, newTestSigner(1, false).bare(), memStore())
				if got := syncFrom(b, d, late, ids, at(2*time.Minute)); got != want {
					b.Fatalf("fetched %d records, want %d", got, want)
				}
				if ds, err := late.CheckProposals(ctx, at(2*time.Minute)); err != nil || len(ds) != 1 {
					b.Fatalf("late joiner decided %v, %v", ds, err)
				}
			}
			cpu.report(b)
			b.ReportMetric(float64(want), "records/op")
		})
	}
}
