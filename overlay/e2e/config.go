package e2e

import (
	"errors"
	"fmt"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// ErrInvalidConfig is wrapped by the error NewEngine returns for a Config
// that fails validation; the message names the field.
var ErrInvalidConfig = errors.New("e2e: invalid config")

// Config configures an Engine. A zero duration or limit takes its value
// from DefaultConfig; NewEngine fills those in and validates the rest.
type Config struct {
	// Handshake is the local identity (which must have issued a
	// record), the random source for handshake IDs and ephemeral keys,
	// the Authorize check applied to every peer (the policy engine's
	// ActionRoute authorizer) and the session tuning. Identity and Rand
	// are required.
	Handshake pqcsec.HandshakeConfig
	// HandshakeTimeout is the wait for a reply before the first
	// message is sent again; each retry waits twice as long as the last
	// (default 500 ms).
	HandshakeTimeout time.Duration
	// HandshakeRetries is how many times the first message is sent
	// again before the handshake fails and its queued plaintexts are
	// dropped, 0 to 16 (default 4). A handshake gives up after
	// (2^(retries+1) − 1) × HandshakeTimeout: 31 × 500 ms = 15.5 s by
	// default, longer than a failing route discovery.
	HandshakeRetries int
	// RekeyInterval is the age at which the initiator of a session
	// replaces it with a fresh handshake (the responder does so after
	// twice the interval). Within a session pqcsec already ratchets its
	// keys; a new handshake also re-checks the peer's record and the
	// policy (default 10 min).
	RekeyInterval time.Duration
	// SessionGrace is how long a replaced session still opens frames,
	// and how long a finished responder answers repeated messages
	// (default 30 s).
	SessionGrace time.Duration
	// IdleTimeout is how long a peer's state (sessions included) is
	// kept without traffic (default 30 min).
	IdleTimeout time.Duration
	// MaxQueued bounds the plaintexts queued for one destination while
	// its handshake runs, in plaintexts (default 256).
	MaxQueued int
	// MaxQueuedBytes bounds the plaintext bytes queued for all
	// destinations (default 4 MiB).
	MaxQueuedBytes int
	// MaxPending bounds the responder handshakes held at once, finished
	// ones kept for SessionGrace included (default 64). From half of it
	// on, an init that does not echo a valid cookie is answered with a
	// cookie only (a stateless round trip that proves the source can
	// hear its answers), and an init that does, finding every slot
	// taken, takes the slot of the oldest unfinished responder (one made
	// without a cookie first, from the link with the most).
	MaxPending int
	// MaxPeers bounds the peers with channel state (default 4096).
	MaxPeers int
	// InitRate bounds the fresh handshake inits answered per second,
	// from all peers together, in bursts of up to twice as many
	// (default 32). Each costs the responder about 0.4 ms of CPU (an
	// encapsulation and a hybrid signature) and is answered with about
	// 9 times its size; a repeated init gets its earlier answer and is
	// not counted. The inits that echo no cookie and came over one
	// neighbour link get half of it (bursts of InitRate).
	InitRate int
	// PeerInitRate bounds them per source address, per second, in
	// bursts of up to 4 (default 1). Source addresses are not proven
	// until the handshake finishes, which is why InitRate bounds the
	// total too.
	PeerInitRate int
	// NoticeRate bounds the cookies and unknown-session notices sent
	// per second, to all sources together, in bursts of twice as many
	// (default 32); those answering packets that came over one
	// neighbour link get half of it (bursts of NoticeRate). Both answer
	// packets whose source nothing proves, and the routing engine may
	// have to look for a route to it.
	NoticeRate int
}

// DefaultConfig returns the defaults of every duration and limit. The
// handshake is left empty: it names the node.
func DefaultConfig() Config {
	return Config{
		HandshakeTimeout: 500 * time.Millisecond,
		HandshakeRetries: 4,
		RekeyInterval:    10 * time.Minute,
		SessionGrace:     30 * time.Second,
		IdleTimeout:      30 * time.Minute,
		MaxQueued:        256,
		MaxQueuedBytes:   4 << 20,
		MaxPending:       64,
		MaxPeers:         4096,
		InitRate:         32,
		PeerInitRate:     1,
		NoticeRate:       32,
	}
}

// Fixed bounds of the state one peer can make a node hold.
const (
	peerInitBurst        = 4 // fresh inits from one peer at once (PeerInitRate)
	maxRespondersPerPeer = 4 // responder handshakes from one peer
	maxSessionsPerPeer   = 4 // sessions that open frames from one peer
	maxEarlyFrames       = 4 // data frames held for a responder waiting for its finish
	maxHandshakeRetries  = 16
)

// withDefaults returns c with its zero durations and limits taken from
// DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	def := func(v *time.Duration, dv time.Duration) {
		if *v == 0 {
			*v = dv
		}
	}
	defInt := func(v *int, dv int) {
		if *v == 0 {
			*v = dv
		}
	}
	def(&c.HandshakeTimeout, d.HandshakeTimeout)
	defInt(&c.HandshakeRetries, d.HandshakeRetries)
	def(&c.RekeyInterval, d.RekeyInterval)
	def(&c.SessionGrace, d.SessionGrace)
	def(&c.IdleTimeout, d.IdleTimeout)
	defInt(&c.MaxQueued, d.MaxQueued)
	defInt(&c.MaxQueuedBytes, d.MaxQueuedBytes)
	defInt(&c.MaxPending, d.MaxPending)
	defInt(&c.MaxPeers, d.MaxPeers)
	defInt(&c.InitRate, d.InitRate)
	defInt(&c.PeerInitRate, d.PeerInitRate)
	defInt(&c.NoticeRate, d.NoticeRate)
	return c
}

// validate checks a Config whose defaults are filled in.
func (c *Config) validate() error {
	bad := func(field string, v any, rule string) error {
		return fmt.Errorf("%w: %s = %v: %s", ErrInvalidConfig, field, v, rule)
	}
	switch {
	case c.Handshake.Identity == nil:
		return bad("Handshake.Identity", nil, "required")
	case c.Handshake.Rand == nil:
		return bad("Handshake.Rand", nil, "required")
	case c.HandshakeTimeout < 0:
		return bad("HandshakeTimeout", c.HandshakeTimeout, "must not be negative")
	case c.HandshakeRetries < 0 || c.HandshakeRetries > maxHandshakeRetries:
		return bad("HandshakeRetries", c.HandshakeRetries, "must be 0 to 16")
	case c.RekeyInterval < 0:
		return bad("RekeyInterval", c.RekeyInterval, "must not be negative")
	case c.SessionGrace < 0:
		return bad("SessionGrace", c.SessionGrace, "must not be negative")
	case c.IdleTimeout < 0:
		return bad("IdleTimeout", c.IdleTimeout, "must not be negative")
	case c.MaxQueued < 0:
		return bad("MaxQueued", c.MaxQueued, "must not be negative")
	case c.MaxQueuedBytes < 0:
		return bad("MaxQueuedBytes", c.MaxQueuedBytes, "must not be negative")
	case c.MaxPending < 0:
		return bad("MaxPending", c.MaxPending, "must not be negative")
	case c.MaxPeers < 0:
		return bad("MaxPeers", c.MaxPeers, "must not be negative")
	case c.InitRate < 0:
		return bad("InitRate", c.InitRate, "must not be negative")
	case c.PeerInitRate < 0:
		return bad("PeerInitRate", c.PeerInitRate, "must not be negative")
	case c.NoticeRate < 0:
		return bad("NoticeRate", c.NoticeRate, "must not be negative")
	}
	return nil
}

// patience is how long an initiator keeps trying: the timeout and all
// its doublings.
func (c *Config) patience() time.Duration {
	return c.HandshakeTimeout * time.Duration(1<<(c.HandshakeRetries+1)-1)
}
