package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// IdentityProtocol is the libp2p protocol on which a node serves its own
// identity record to a connected peer, so that neighbour admission need
// not wait for the record to reach the DHT. The asker opens a stream and
// closes its write side without writing; the server writes its current
// record (pqcsec's encoding, at most pqcsec.MaxRecordSize bytes) and
// closes the stream. Nothing else is on the stream: its end delimits the
// record.
const IdentityProtocol = protocol.ID("/x0tta6bl4/id/1.0.0")

// Bounds of the identity exchange.
const (
	// identityAskTimeout bounds one request: the stream's opening, the
	// record's reading. It leaves a neighbour admission (10 s) time for
	// a DHT lookup when the peer cannot answer.
	identityAskTimeout = 4 * time.Second
	// identityServeTimeout bounds the writing of one answer.
	identityServeTimeout = 4 * time.Second
)

// ErrPeerRecord refuses the identity record a peer served of itself: it
// does not pass what a record from the DHT must (signatures, the peer it
// names, expiry, lifetime), or it is over pqcsec.MaxRecordSize. The
// pqcsec error that refused it is wrapped as well.
var ErrPeerRecord = errors.New("node: peer's own identity record refused")

// ErrIdentityBusy refuses a request for a peer's identity record while
// another one to the same peer is in flight.
var ErrIdentityBusy = errors.New("node: an identity request to this peer is in flight")

// verifyRecord checks b as p's identity record exactly as the DHT's
// validator of the /x0id/ namespace does (pqcsec.RecordValidator: both
// signatures, the peer the record names, not expired at now, not valid
// longer than pqcsec.MaxRecordTTL ahead) and returns it. Records from the
// DHT and from the peer itself pass through it alike.
func verifyRecord(p peer.ID, b []byte, now time.Time) (*pqcsec.Record, error) {
	v := pqcsec.RecordValidator{Now: func() time.Time { return now }}
	if err := v.Validate(pqcsec.RecordKey(p), b); err != nil {
		return nil, err
	}
	return pqcsec.ParseRecord(b) // verified above; pqcsec remembers it
}

// readPeerRecord reads the record p serves from r (at most
// pqcsec.MaxRecordSize bytes, up to the stream's end) and verifies it
// with verifyRecord. A record that does not pass is ErrPeerRecord; a
// failure to read is the reader's error.
func readPeerRecord(r io.Reader, p peer.ID, now time.Time) (*pqcsec.Record, error) {
	b, err := io.ReadAll(io.LimitReader(r, pqcsec.MaxRecordSize+1))
	if err != nil {
		return nil, fmt.Errorf("read identity record of %s: %w", p, err)
	}
	if len(b) > pqcsec.MaxRecordSize {
		return nil, fmt.Errorf("%w: %s sent over %d bytes: %w", ErrPeerRecord, p, pqcsec.MaxRecordSize, pqcsec.ErrMalformed)
	}
	rec, err := verifyRecord(p, b, now)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrPeerRecord, p, err)
	}
	return rec, nil
}

// inflight holds the peers with a request in flight, one per peer. Its
// methods are safe for concurrent use; the set holds at most one entry
// per peer with a stream open, which the resource manager bounds.
type inflight struct {
	mu sync.Mutex
	m  map[peer.ID]struct{}
}

// start claims p's place, or reports that it is taken.
func (f *inflight) start(p peer.ID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.m[p]; ok {
		return false
	}
	if f.m == nil {
		f.m = map[peer.ID]struct{}{}
	}
	f.m[p] = struct{}{}
	return true
}

// done gives p's place back.
func (f *inflight) done(p peer.ID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, p)
}

// serveIdentity answers a request on IdentityProtocol with the node's
// current identity record, one request per peer at a time (a second one
// is reset).
func (n *Node) serveIdentity(s network.Stream) {
	p := s.Conn().RemotePeer()
	if !n.ids.serving.start(p) {
		_ = s.Reset()
		return
	}
	defer n.ids.serving.done(p)
	rec, err := n.IdentityRecord(time.Now())
	if err != nil {
		n.log.Debug("identity record not served", "peer", p, "err", err)
		_ = s.Reset()
		return
	}
	_ = s.SetWriteDeadline(time.Now().Add(identityServeTimeout))
	if _, err := s.Write(rec.Bytes()); err != nil {
		_ = s.Reset()
		return
	}
	_ = s.Close()
}

// askIdentity asks connected peer p for its own identity record, verifies
// it as a record from the DHT is verified (verifyRecord) and keeps it in
// the identity cache, which keeps the newer of it and the one it held
// (the version order of the DHT's validator). It returns the record the
// cache then holds: a peer serving an older record than the node knows
// gets the newer one judged. One request per peer is in flight at a time
// (ErrIdentityBusy); each is bounded by identityAskTimeout.
//
// The record is the peer's claim, and admits it no further than the
// DHT's copy would: the DHT holds what the peer signed and published,
// and anything a record carries that a peer could not sign anew (an
// X.509-SVID, an attestation claim) is judged by the policy engine at
// the time of the check. Membership, quarantine and the deny list go by
// the peer ID and apply whatever record the peer serves.
func (n *Node) askIdentity(ctx context.Context, p peer.ID) (rec *pqcsec.Record, err error) {
	if !n.ids.asking.start(p) {
		return nil, fmt.Errorf("%w: %s", ErrIdentityBusy, p)
	}
	defer n.ids.asking.done(p)
	defer func() {
		result := "found"
		switch {
		case errors.Is(err, ErrPeerRecord):
			result = "invalid"
		case err != nil:
			result = "error"
		}
		n.ids.asks.WithLabelValues(result).Inc()
	}()
	ctx, cancel := context.WithTimeout(ctx, identityAskTimeout)
	defer cancel()
	s, err := n.host.NewStream(network.WithNoDial(ctx, "identity of a connected peer"), p, IdentityProtocol)
	if err != nil {
		return nil, fmt.Errorf("ask %s for its identity record: %w", p, err)
	}
	defer s.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(d)
	}
	if err := s.CloseWrite(); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("ask %s for its identity record: %w", p, err)
	}
	got, err := readPeerRecord(s, p, time.Now())
	if err != nil {
		_ = s.Reset()
		return nil, err
	}
	return n.ids.put(got, time.Now()), nil
}
