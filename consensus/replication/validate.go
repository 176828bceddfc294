package replication

import (
	"context"
	"errors"
	"fmt"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
)

// Verdict is what the gossip topic should do with a message.
type Verdict uint8

// Verdicts, in the sense of GossipSub's validation results.
const (
	// Accept delivers and forwards the message.
	Accept Verdict = iota
	// Ignore drops it without blaming the sender.
	Ignore
	// Reject drops it and counts it against the peer that sent it.
	Reject
)

func (v Verdict) String() string {
	switch v {
	case Accept:
		return "accept"
	case Ignore:
		return "ignore"
	case Reject:
		return "reject"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// Validate judges a message of the gossip topic: data as received, from the
// peer that signed the message (its author, under GossipSub's StrictSign).
// It ingests the announcement into the Log and returns the verdict with the
// reason (nil for Accept). It is safe to call from many goroutines and does
// not block on the driver's goroutines.
func (d *Driver) Validate(ctx context.Context, from consensus.PeerID, data []byte) (Verdict, error) {
	v, err := d.validate(ctx, from, data)
	d.count(func(s *Stats) {
		switch v {
		case Accept:
			s.Accepted++
		case Ignore:
			s.Ignored++
		default:
			s.Rejected++
		}
	})
	return v, err
}

func (d *Driver) validate(ctx context.Context, from consensus.PeerID, data []byte) (Verdict, error) {
	if len(data) > consensus.MaxAnnouncementSize {
		return Reject, fmt.Errorf("%w: announcement of %d bytes, limit %d", consensus.ErrTooLarge, len(data), consensus.MaxAnnouncementSize)
	}
	if from == d.cfg.Author.ID {
		// Our own publication, on its way out: the Log wrote it.
		if _, err := consensus.DecodeAnnouncement(data); err != nil {
			return Reject, err
		}
		return Accept, nil
	}
	err := d.log.IngestAnnouncement(ctx, d.cfg.Now(), from, data)
	if err == nil || errors.Is(err, consensus.ErrDuplicate) {
		// The head passed every check (or is one held already): it tells
		// how recent the author's known state is.
		if a, derr := consensus.DecodeAnnouncement(data); derr == nil {
			d.noteHead(a.Head.Author, a.Head.Time)
		}
	}
	v := verdictOf(err)
	if v != Accept {
		return v, err
	}
	if len(d.log.Missing()) > 0 {
		wake(d.kick)
	}
	return Accept, nil
}

// verdictOf maps the outcome of Log.IngestAnnouncement to a verdict (see
// consensus/doc.go, driver duty 3).
func verdictOf(err error) Verdict {
	if err == nil {
		return Accept
	}
	var rej *consensus.RejectError
	if errors.As(err, &rej) {
		if rej.Reason == consensus.ReasonFuture {
			return Ignore // the sender's clock is ahead of ours; it may pass later
		}
		return Reject
	}
	for _, ignore := range []error{consensus.ErrDuplicate, consensus.ErrStale, consensus.ErrFuture} {
		if errors.Is(err, ignore) {
			return Ignore
		}
	}
	for _, reject := range []error{
		consensus.ErrSenderMismatch, consensus.ErrMalformed, consensus.ErrTooLarge,
		consensus.ErrBadSignature, consensus.ErrTrustDomain, consensus.ErrNotAdmitted,
		consensus.ErrUnbound, consensus.ErrOverAllocation,
	} {
		if errors.Is(err, reject) {
			return Reject
		}
	}
	// Anything else is this node's own trouble (the datastore, a
	// cancelled context), not the sender's fault.
	return Ignore
}

// SeeHead offers a head the DHT validated (a value under /x0log/ that
// another node put or returned) to the Log, so that two heads of one author
// with the same sequence number are recorded as equivocation. It never
// blocks: when the queue is full the head is dropped.
func (d *Driver) SeeHead(value []byte) {
	select {
	case d.heads <- value:
	default:
	}
}
