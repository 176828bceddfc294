package consensus

import (
	"fmt"
	"time"
)

// Topic is the GossipSub topic on which nodes announce new records.
const Topic = "x0tta6bl4/gov/1"

const announcementVersion = 1

// MaxAnnouncementSize bounds an encoded announcement.
const MaxAnnouncementSize = 1 + 2 + MaxHeadSize + 2 + MaxRecordSize

// Announcement is the message published on Topic: the author's fresh head
// and, normally, the record it names, so that receivers need no DHT lookup
// for the common case. A receiver that sees a head beyond what it holds
// walks the author's log (see Log.Missing).
type Announcement struct {
	Head   *Head
	Record *Record // nil if the announcement carries only the head

	raw []byte
}

// NewAnnouncement builds an announcement of head and record (record may be
// nil). A non-nil record must be the one head names.
func NewAnnouncement(head *Head, record *Record) (*Announcement, error) {
	a := &Announcement{Head: head, Record: record}
	if err := a.validate(); err != nil {
		return nil, err
	}
	var rec []byte
	if record != nil {
		rec = record.raw
	}
	b := appendU8(make([]byte, 0, 5+len(head.raw)+len(rec)), announcementVersion)
	b = appendBytes16(b, head.raw)
	a.raw = appendBytes16(b, rec)
	return a, nil
}

// Encode returns the announcement's encoding. The slice is shared; do not
// modify it.
func (a *Announcement) Encode() []byte { return a.raw }

// DecodeAnnouncement decodes an announcement and checks that its parts
// agree. It verifies no signature and no time (see Check and
// Log.IngestAnnouncement).
func DecodeAnnouncement(b []byte) (*Announcement, error) {
	if len(b) > MaxAnnouncementSize {
		return nil, fmt.Errorf("%w: announcement of %d bytes, limit %d", ErrTooLarge, len(b), MaxAnnouncementSize)
	}
	rd := newReader("announcement", b)
	if v := rd.u8(); rd.err == nil && v != announcementVersion {
		rd.fail("version %d, want %d", v, announcementVersion)
	}
	headBytes := rd.bytes16("head", 1, MaxHeadSize)
	recBytes := rd.bytes16("record", 0, MaxRecordSize)
	if err := rd.done(); err != nil {
		return nil, err
	}
	a := &Announcement{raw: b}
	var err error
	if a.Head, err = DecodeHead(headBytes); err != nil {
		return nil, fmt.Errorf("announcement: %w", err)
	}
	if len(recBytes) > 0 {
		if a.Record, err = DecodeRecord(recBytes); err != nil {
			return nil, fmt.Errorf("announcement: %w", err)
		}
	}
	if err := a.validate(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *Announcement) validate() error {
	if a.Head == nil {
		return fmt.Errorf("%w: announcement without a head", ErrMalformed)
	}
	r := a.Record
	if r == nil {
		return nil
	}
	if r.Author != a.Head.Author || r.Seq != a.Head.Seq || r.ID() != a.Head.Record {
		return fmt.Errorf("%w: announced record (seq %d) is not the one its head names (seq %d)", ErrMalformed, r.Seq, a.Head.Seq)
	}
	return nil
}

// Check applies the gossip rules that need no signature check: the
// announcement must come from its author (from is the pubsub message's
// signing peer), and its head must be fresh — signed no more than maxAge
// before now and no more than skew after it.
func (a *Announcement) Check(now time.Time, from PeerID, maxAge, skew time.Duration) error {
	if from != a.Head.Author {
		return fmt.Errorf("%w: announcement by %v from %v", ErrSenderMismatch, a.Head.Author, from)
	}
	t := time.UnixMilli(a.Head.Time)
	if t.After(now.Add(skew)) {
		return fmt.Errorf("%w: head signed at %v, now %v", ErrFuture, t.UTC(), now.UTC())
	}
	if t.Before(now.Add(-maxAge)) {
		return fmt.Errorf("%w: head signed at %v, now %v", ErrStale, t.UTC(), now.UTC())
	}
	return nil
}
