package replication

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
)

// FuzzValidate feeds arbitrary gossip messages, from the author, from a
// stranger and from the node itself, to a driver's validator. It must
// never panic, must give a reason for every refusal, must accept only an
// announcement of its sender that decodes and encodes back to the same
// bytes, and must reject anything oversize.
func FuzzValidate(f *testing.F) {
	ctx := context.Background()
	net := newFakeNet(testGenesis(f, 1, 2))
	a, b := net.addNode(f, 1, nil), net.addNode(f, 2, nil)
	b.m.f = newFakeNet(net.genesis) // b's gossip does not reach a
	a.log.SyncDone()                // neither driver runs
	b.log.SyncDone()
	p, err := b.d.Propose(ctx, "poll", "fuzz seed", time.Minute, 0, ppm(f, "0.5"), &consensus.Quarantine{Peer: a.author.ID})
	if err != nil {
		f.Fatal(err)
	}
	ann, err := b.log.Announcement(ctx, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	if _, err := b.d.Vote(ctx, p.ID(), consensus.Yes, 100); err != nil {
		f.Fatal(err)
	}
	vote, err := b.log.Announcement(ctx, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	headOnly, err := consensus.NewAnnouncement(vote.Head, nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][]byte{ann.Encode(), vote.Encode(), headOnly.Encode(), {1, 0, 0, 0, 0}, nil} {
		f.Add(uint8(0), seed)
		f.Add(uint8(1), seed)
	}
	stranger := newIdentity(f, 3).author.ID
	f.Fuzz(func(t *testing.T, who uint8, data []byte) {
		if len(data) > 2*consensus.MaxAnnouncementSize {
			return
		}
		from := []consensus.PeerID{b.author.ID, stranger, a.author.ID}[int(who)%3]
		v, err := a.d.Validate(ctx, from, data)
		switch v {
		case Accept:
			if err != nil {
				t.Fatalf("accepted with error %v", err)
			}
			dec, derr := consensus.DecodeAnnouncement(data)
			if derr != nil {
				t.Fatalf("accepted an announcement that does not decode: %v", derr)
			}
			if from != a.author.ID && dec.Head.Author != from {
				t.Fatalf("accepted %v's announcement from %v", dec.Head.Author, from)
			}
			again, err := consensus.NewAnnouncement(dec.Head, dec.Record)
			if err != nil || !bytes.Equal(again.Encode(), data) {
				t.Fatalf("accepted announcement does not encode back: %v", err)
			}
		case Ignore, Reject:
			if err == nil {
				t.Fatalf("%v without a reason", v)
			}
		default:
			t.Fatalf("verdict %v", v)
		}
		if len(data) > consensus.MaxAnnouncementSize && (v != Reject || !errors.Is(err, consensus.ErrTooLarge)) {
			t.Fatalf("oversize message: %v, %v", v, err)
		}
	})
}
