package replication

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
)

// publisher is the state of the publisher goroutine; only it touches it.
type publisher struct {
	d          *Driver
	put        map[consensus.Hash]bool // own records put since the last republish
	headPut    consensus.Hash          // encoding hash of the last head put
	advertised bool
}

// runPublisher puts the node's own records, head and author advertisement
// in the DHT when the log grows, retries failures with backoff, does it all
// again every RepublishInterval, and re-announces the head every
// AnnounceMaxAge/2.
func (d *Driver) runPublisher(ctx context.Context) {
	if !d.waitReady(ctx) {
		return
	}
	p := &publisher{d: d, put: make(map[consensus.Hash]bool)}
	republish := time.NewTicker(d.cfg.RepublishInterval)
	defer republish.Stop()
	// The Log re-signs its head once it is AnnounceMaxAge/2 old; announce
	// just after, so every periodic announcement carries a fresh head that
	// receivers accept and forward.
	announce := time.NewTicker(d.cfg.AnnounceMaxAge/2 + d.cfg.AnnounceMaxAge/100)
	defer announce.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	backoff := d.cfg.RetryInterval

	// After a restart the DHT may have dropped the records: put them all.
	wake(d.dirty)
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.dirty:
		case <-retry.C:
		case <-republish.C:
			clear(p.put)
			p.headPut, p.advertised = consensus.Hash{}, false
		case <-announce.C:
			d.announce(ctx)
			continue
		}
		if p.flush(ctx) {
			backoff = d.cfg.RetryInterval
			continue
		}
		if ctx.Err() != nil {
			return
		}
		retry.Reset(backoff)
		if len(d.net.Peers()) > 0 {
			backoff = min(2*backoff, d.cfg.RepublishInterval)
		} // else: alone, keep trying at RetryInterval until a peer comes
	}
}

// flush puts every own record not put yet and the head, all at once,
// then the author advertisement (so that whoever finds the node through it
// finds its head); false if any of them failed.
func (p *publisher) flush(ctx context.Context) bool {
	d := p.d
	recs := d.log.Records(d.cfg.Author.ID)
	if len(recs) == 0 {
		return true
	}
	head, err := d.log.Head(ctx, d.cfg.Now())
	if err != nil || head == nil {
		return false
	}
	type put struct {
		key   string
		value []byte
		done  func()
	}
	var puts []put
	for _, r := range recs {
		if !p.put[r.ID()] {
			id := r.ID()
			puts = append(puts, put{consensus.RecordKey(id), r.Encode(), func() { p.put[id] = true }})
		}
	}
	if h := consensus.Hash(sha256.Sum256(head.Encode())); h != p.headPut {
		puts = append(puts, put{consensus.HeadKey(d.cfg.Author.ID), head.Encode(), func() { p.headPut = h }})
	}
	errs := make([]error, len(puts))
	sem := make(chan struct{}, max(1, d.cfg.FetchConcurrency))
	var wg sync.WaitGroup
	for i, x := range puts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = p.store(ctx, x.key, x.value)
		})
	}
	wg.Wait()
	ok := true
	for i, x := range puts {
		if errs[i] != nil {
			d.lg.Debug("governance put failed", "key", x.key, "err", errs[i])
			ok = false
			continue
		}
		x.done()
	}
	if !ok {
		return false
	}
	if !p.advertised {
		actx, cancel := context.WithTimeout(ctx, d.cfg.FetchTimeout)
		err := d.net.Advertise(actx)
		cancel()
		if err != nil {
			d.lg.Debug("governance author advertisement failed", "err", err)
			return false
		}
		p.advertised = true
	}
	return true
}

func (p *publisher) store(ctx context.Context, key string, value []byte) error {
	pctx, cancel := context.WithTimeout(ctx, p.d.cfg.FetchTimeout)
	defer cancel()
	err := p.d.net.Put(pctx, key, value)
	p.d.count(func(st *Stats) {
		if err != nil {
			st.PutErrors++
		} else {
			st.Puts++
		}
	})
	return err
}
