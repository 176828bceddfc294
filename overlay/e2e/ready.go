package e2e

import (
	"strconv"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Ready is what the engine asks of its driver. It is plain data. The
// slices are reused after Advance; the byte slices they point to belong
// to the driver.
type Ready struct {
	// Packets are DATA payloads to send through the routing engine:
	// overlay.Engine.Send(now, To, Payload).
	Packets []Packet
	// Deliveries are opened plaintexts for the application.
	Deliveries []Delivery
	// Events report handshakes, sessions and refused messages.
	Events []Event
}

// Packet is a channel message for one destination.
type Packet struct {
	To      protocols.Addr
	Payload []byte
}

// Delivery is a plaintext that arrived over an authenticated session.
type Delivery struct {
	From protocols.Addr
	// Peer is the sender's verified identity record.
	Peer    *pqcsec.Record
	Payload []byte
	Hops    int
}

// EventKind says what an Event reports.
type EventKind uint8

// The kinds of Event.
const (
	// EventHandshake: a handshake with Peer started (Rekey if it is to
	// replace a session).
	EventHandshake EventKind = iota + 1
	// EventEstablished: a session with Peer is up; Record is its
	// verified identity, Initiator says which side this node was.
	EventEstablished
	// EventFailed: the handshake with Peer failed (Err); Dropped
	// queued plaintexts were dropped.
	EventFailed
	// EventRejected: a message from Peer was refused (Err): malformed,
	// forged, replayed, stale or denied by policy.
	EventRejected
	// EventReset: Peer holds no session this node used (it restarted);
	// the session is dropped and the next plaintext starts a handshake.
	EventReset
)

var eventKindNames = [...]string{
	EventHandshake: "handshake", EventEstablished: "established", EventFailed: "failed",
	EventRejected: "rejected", EventReset: "reset",
}

func (k EventKind) String() string {
	if int(k) < len(eventKindNames) && eventKindNames[k] != "" {
		return eventKindNames[k]
	}
	return "event(" + strconv.Itoa(int(k)) + ")"
}

// Event is one thing that happened in the engine. Fields not named by its
// Kind are zero.
type Event struct {
	Kind      EventKind
	Peer      protocols.Addr
	Record    *pqcsec.Record // EventEstablished
	Initiator bool           // EventEstablished
	Rekey     bool           // EventHandshake, EventEstablished
	Dropped   int            // EventFailed
	Err       error          // EventFailed, EventRejected
}

// String renders the event for logs, naming the peer by its short
// address: "established 1a2b3c4d rekey".
func (ev Event) String() string {
	s := ev.Kind.String() + " " + ev.Peer.Short()
	if ev.Rekey {
		s += " rekey"
	}
	if ev.Dropped > 0 {
		s += " dropped=" + strconv.Itoa(ev.Dropped)
	}
	if ev.Err != nil {
		s += ": " + ev.Err.Error()
	}
	return s
}

// Stats counts what the engine did.
type Stats struct {
	Sealed, Opened uint64 // data messages
	// Handshakes started, Established sessions (either side), Failed
	// handshakes of this node's.
	Handshakes, Established, Failed uint64
	Rejected                        uint64 // messages refused
	// RateLimited counts fresh inits over InitRate or PeerInitRate and
	// cookies and notices over NoticeRate, not answered.
	RateLimited uint64
	// Cookies counts cookies sent (inits answered with a cookie round),
	// Evicted the unfinished responders that gave way to an init that
	// echoed a cookie.
	Cookies, Evicted uint64
	// Notices counts unknown-session notices sent; ForgedNotices those
	// received and not believed (see ErrForgedNotice).
	Notices, ForgedNotices uint64
	// Collisions counts handshakes both ends started at once (one of
	// the two is given up).
	Collisions uint64
	Dropped    uint64 // queued plaintexts dropped by failed handshakes
	Queued     int    // plaintexts queued now (a gauge)
	Sessions   int    // sessions held now (a gauge)
	Peers      int    // peers with state now (a gauge)
}

// SessionInfo describes one session.
type SessionInfo struct {
	Addr        protocols.Addr
	Record      *pqcsec.Record
	ID          SessionID
	Initiator   bool
	Sending     bool // plaintexts to the peer are sealed with it
	Established time.Time
	Stats       pqcsec.SessionStats
}
