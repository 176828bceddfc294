package devnet

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/node"
)

// DHTProbe checks the DHT end to end: one node puts a record signed with
// its libp2p key under /x0devnet/<its peer ID>, every node's namespace
// validator checks the signature, and every other node must read the same
// record back. It starts once the putting node has DHT peers, retries
// until the run ends, and reports dht_put_get_ok.
type DHTProbe struct {
	mu     sync.Mutex
	read   int // nodes that read the record back
	others int
	err    error
	ok     bool

	cancel context.CancelFunc
	done   chan struct{}
}

var _ Probe = (*DHTProbe)(nil)

// Name implements Probe.
func (p *DHTProbe) Name() string { return "dht" }

// Start implements Probe.
func (p *DHTProbe) Start(runCtx context.Context, net *Net) error {
	for i, n := range net.Nodes {
		if err := n.RegisterNamespace(Namespace, RecordValidator{}); err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
	}
	// The check outlives the run by up to the finish timeout, so that a
	// short run still gets its answer.
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done = make(chan struct{})
	p.others = len(net.Nodes) - 1
	go func() {
		defer close(p.done)
		err := p.check(ctx, runCtx, net.Nodes)
		p.mu.Lock()
		p.err, p.ok = err, err == nil
		p.mu.Unlock()
	}()
	return nil
}

const dhtRetry = 250 * time.Millisecond

func (p *DHTProbe) check(ctx, runCtx context.Context, nodes []*node.Node) error {
	writer := nodes[len(nodes)-1]
	key := RecordKey(writer.ID())
	value, err := SealRecord(Record{Seq: 1, Value: []byte("x0tta6bl4 devnet probe")}, writer.Key())
	if err != nil {
		return err
	}
	// Put until it succeeds or the run ends.
	for {
		if writer.DHT().RoutingTable().Size() > 0 {
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = writer.DHT().PutValue(pctx, key, value)
			cancel()
			if err == nil {
				break
			}
		}
		if runCtx.Err() != nil {
			if err == nil {
				err = fmt.Errorf("no DHT peers")
			}
			return fmt.Errorf("put: %w", err)
		}
		if !pause(ctx, dhtRetry) {
			return ctx.Err()
		}
	}
	// Every other node reads it back.
	var wg sync.WaitGroup
	errs := make([]error, len(nodes)-1)
	for i, n := range nodes[:len(nodes)-1] {
		wg.Go(func() {
			for {
				gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				got, err := n.DHT().GetValue(gctx, key)
				cancel()
				if err == nil && bytes.Equal(got, value) {
					p.mu.Lock()
					p.read++
					p.mu.Unlock()
					return
				}
				if err == nil {
					err = fmt.Errorf("read a different value")
				}
				if runCtx.Err() != nil || !pause(ctx, dhtRetry) {
					errs[i] = fmt.Errorf("node %d get: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// pause sleeps for d unless ctx ends first.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Status implements Probe.
func (p *DHTProbe) Status() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("dht_read=%d/%d", p.read, p.others)
}

// Finish implements Probe.
func (p *DHTProbe) Finish(ctx context.Context, s *Summary) error {
	select {
	case <-p.done:
	case <-ctx.Done():
	}
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	s.DHTPutGetOK = p.ok
	if !p.ok {
		s.Fail("dht: record read back on %d of %d nodes: %v", p.read, p.others, p.err)
	}
	return nil
}
