package consensus

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/ipfs/go-datastore"
)

// Config configures a Log. Start from DefaultConfig or LocalConfig and fill
// in the identity, storage and policy fields.
type Config struct {
	// Genesis is the network's genesis. Required.
	Genesis *Genesis
	// Self is this node's identity; its records are signed with Self.Signer.
	// Required.
	Self Author
	// Store persists records and decisions under the /gov prefix. Every
	// acknowledged write is followed by Store.Sync, so a store that honours
	// Sync (go-ds-pebble does) loses nothing acknowledged to a crash.
	// Required; the caller owns it and closes it after the Log is dropped.
	Store datastore.Datastore
	// Verifier checks signatures and key bindings. Required.
	Verifier Verifier
	// Admitter is the policy engine. Required.
	Admitter Admitter
	// Binder confirms SPIFFE ID claims. Nil confirms none: records that
	// claim a SPIFFE ID are refused (ReasonUnbound), and only allocations
	// listed by peer ID, or granted by an admit decision, hold tokens.
	Binder Binder
	// Logger receives refusals (debug) and equivocation (warn). Nil discards.
	Logger *slog.Logger

	// MaxClockSkew is the assumed bound on the difference between any two
	// honest nodes' clocks. A record or head timestamped more than
	// MaxClockSkew after the receiver's clock is refused (ReasonFuture).
	MaxClockSkew time.Duration
	// SettleDelay is how long after a proposal's deadline a node decides it:
	// time for votes timestamped at the deadline by a clock up to
	// MaxClockSkew behind to be written and to propagate. At least
	// MaxClockSkew.
	SettleDelay time.Duration
	// SyncWait is how much longer a node postpones a decision while no
	// sync round that began after the settle delay has completed (see
	// SyncRoundDone) or it knows of records it has not fetched yet (see
	// Missing). After that it decides with what it holds.
	SyncWait time.Duration
	// AnnounceMaxAge is the oldest head an announcement may carry. Log
	// re-signs its head for an announcement once the head is half that old.
	AnnounceMaxAge time.Duration
}

// DefaultConfig returns the timing for nodes on the internet with
// NTP-disciplined clocks.
func DefaultConfig() Config {
	return Config{
		MaxClockSkew:   2 * time.Second,
		SettleDelay:    5 * time.Second,
		SyncWait:       30 * time.Second,
		AnnounceMaxAge: 10 * time.Minute,
	}
}

// LocalConfig returns the timing for nodes sharing one machine's clock
// (devnet, tests): DefaultConfig with shorter delays.
func LocalConfig() Config {
	c := DefaultConfig()
	c.MaxClockSkew = 250 * time.Millisecond
	c.SettleDelay = time.Second
	c.SyncWait = 10 * time.Second
	return c
}

func (c *Config) validate() error {
	switch {
	case c.Genesis == nil:
		return fmt.Errorf("%w: no genesis", ErrInvalidConfig)
	case c.Store == nil:
		return fmt.Errorf("%w: no store", ErrInvalidConfig)
	case c.Verifier == nil:
		return fmt.Errorf("%w: no verifier", ErrInvalidConfig)
	case c.Admitter == nil:
		return fmt.Errorf("%w: no admitter", ErrInvalidConfig)
	case c.Self.Signer == nil:
		return fmt.Errorf("%w: self has no signer", ErrInvalidConfig)
	case len(c.Self.Key) == 0 || len(c.Self.Key) > maxKeyLen:
		return fmt.Errorf("%w: self key of %d bytes", ErrInvalidConfig, len(c.Self.Key))
	case c.MaxClockSkew < 0:
		return fmt.Errorf("%w: negative clock skew", ErrInvalidConfig)
	case c.SettleDelay < c.MaxClockSkew:
		return fmt.Errorf("%w: settle delay %v below clock skew %v", ErrInvalidConfig, c.SettleDelay, c.MaxClockSkew)
	case c.SyncWait < 0:
		return fmt.Errorf("%w: negative sync wait", ErrInvalidConfig)
	case c.AnnounceMaxAge <= 0:
		return fmt.Errorf("%w: announce max age %v", ErrInvalidConfig, c.AnnounceMaxAge)
	}
	if err := c.Self.ID.validate(); err != nil {
		return fmt.Errorf("%w: self: %w", ErrInvalidConfig, err)
	}
	if err := c.Genesis.checkIdentity(c.Self.SPIFFEID); err != nil {
		return fmt.Errorf("%w: self: %w", ErrInvalidConfig, err)
	}
	return nil
}
