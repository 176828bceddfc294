package scenario

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// PingFunc sends one probe of flow f and reports its one-way time, or
// false when it was lost. It is called from many goroutines at once.
type PingFunc func(ctx context.Context, f Flow) (oneWay time.Duration, ok bool)

// DefaultFlows is the number of flows of a case on nodes nodes: one per
// node, at least 30 where there are that many pairs (a notified failure
// costs a flow a packet only when one was in flight through the failed
// node, so it takes many flows for the worst of them to mean something).
func DefaultFlows(nodes int) int { return min(max(nodes, 30), nodes*(nodes-1)) }

// DefaultCrossing is how many of flows cross a failing node by default:
// a fifth, at least one per node that faults fail.
func DefaultCrossing(flows int, faults []Fault) int {
	return min(max(flows/5, len(Failed(faults))), flows)
}

// ErrNoAnswer is returned by Setup for a flow that never answered.
var ErrNoAnswer = errors.New("scenario: flow never answered")

// Setup probes every flow until it answers once (routes found, sessions
// set up), or ctx ends.
func Setup(ctx context.Context, flows []Flow, ping PingFunc) error {
	errs := make([]error, len(flows))
	var wg sync.WaitGroup
	for i, f := range flows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, ok := ping(ctx, f); ok {
					return
				}
				select {
				case <-ctx.Done():
					errs[i] = fmt.Errorf("%w: %d→%d", ErrNoAnswer, f.Src, f.Dst)
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// RunFlows sends rate probes a second on every flow, the flows' phases
// spread over one interval, until ctx ends; then it waits for the
// probes in flight (ping bounds them) and returns each flow's record,
// times from t0.
func RunFlows(ctx context.Context, flows []Flow, rate float64, t0 time.Time, ping PingFunc) []FlowRecord {
	recs := make([]FlowRecord, len(flows))
	var mu sync.Mutex
	var inflight, senders sync.WaitGroup
	// Probes in flight outlive ctx.
	probeCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	interval := time.Duration(float64(time.Second) / rate)
	for i, f := range flows {
		recs[i].Flow = f
		senders.Add(1)
		go func() {
			defer senders.Done()
			next := time.Now().Add(interval * time.Duration(i) / time.Duration(len(flows)))
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(next)):
				}
				next = next.Add(interval)
				sent := time.Since(t0)
				mu.Lock()
				k := len(recs[i].Probes)
				recs[i].Probes = append(recs[i].Probes, Probe{Sent: sent, Arrived: -1})
				mu.Unlock()
				inflight.Add(1)
				go func() {
					defer inflight.Done()
					if oneWay, ok := ping(probeCtx, f); ok {
						mu.Lock()
						recs[i].Probes[k].Arrived = sent + oneWay
						mu.Unlock()
					}
				}()
			}
		}()
	}
	senders.Wait()
	inflight.Wait()
	return recs
}
