package replication

import (
	"context"
	"crypto/sha256"
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

// flush puts every own record not put yet, then the head, then the author
// advertisement; false if any of them failed.
func (p *publisher) flush(ctx context.Context) bool {
	d := p.d
	recs := d.log.Records(d.cfg.Author.ID)
	if len(recs) == 0 {
		return true
	}
	ok := true
	for _, r := range recs {
		if p.put[r.ID()] {
			continue
		}
		if err := p.store(ctx, consensus.RecordKey(r.ID()), r.Encode()); err != nil {
			d.lg.Debug("governance record put failed", "id", r.ID(), "err", err)
			ok = false
			continue
		}
		p.put[r.ID()] = true
	}
	head, err := d.log.Head(ctx, d.cfg.Now())
	if err != nil || head == nil {
		return false
	}
	if h := consensus.Hash(sha256.Sum256(head.Encode())); h != p.headPut {
		if err := p.store(ctx, consensus.HeadKey(d.cfg.Author.ID), head.Encode()); err != nil {
			d.lg.Debug("governance head put failed", "seq", head.Seq, "err", err)
			return false
		}
		p.headPut = h
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
	return ok
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
