package consensus

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the package returns about a record wraps one
// of these, so callers can test with errors.Is; RejectError carries the
// matching Reason for callers that switch on it.
var (
	ErrMalformed       = errors.New("consensus: malformed")
	ErrTooLarge        = errors.New("consensus: too large")
	ErrBadSignature    = errors.New("consensus: bad signature")
	ErrTrustDomain     = errors.New("consensus: identity outside the trust domain")
	ErrNotAdmitted     = errors.New("consensus: not admitted")
	ErrFuture          = errors.New("consensus: timestamp in the future")
	ErrAfterDeadline   = errors.New("consensus: after the deadline")
	ErrOverAllocation  = errors.New("consensus: tokens exceed allocation")
	ErrUnknownProposal = errors.New("consensus: unknown proposal")
	ErrNotProposal     = errors.New("consensus: referenced record is not a proposal")
	ErrEquivocation    = errors.New("consensus: author equivocated")
	ErrSuperseded      = errors.New("consensus: superseded by a later vote")
	ErrDuplicate       = errors.New("consensus: duplicate record")
	ErrStale           = errors.New("consensus: stale")
	ErrWrongKey        = errors.New("consensus: value does not match its key")
	ErrInvalidGenesis  = errors.New("consensus: invalid genesis")
	ErrInvalidConfig   = errors.New("consensus: invalid config")
	ErrSenderMismatch  = errors.New("consensus: sender is not the author")
	ErrInvalidProposal = errors.New("consensus: invalid proposal")
	ErrUnbound         = errors.New("consensus: SPIFFE ID claim not bound to the author")
	ErrNotMember       = errors.New("consensus: not a member")
	ErrQuarantined     = errors.New("consensus: quarantined by governance")
	// ErrNotSynced refuses a write (proposal or vote) while the log may
	// lack some of this node's own earlier records: its store was empty or
	// damaged when it opened, and no sync has completed since. Writing then
	// could reuse a sequence number and equivocate against itself.
	ErrNotSynced = errors.New("consensus: own log not synced")
)

// Reason says why a record was refused or why a vote does not count. Its
// numeric value appears in the canonical tally encoding, so values never
// change meaning.
type Reason uint8

// Reasons. Those up to ReasonFuture, and ReasonUnbound, refuse a record at
// ingest; the others void a stored vote in the tally (ReasonQuarantined
// also bars a proposal). ReasonOverAllocation no longer refuses a record at
// ingest: allocations change by governance (admit, evict), so only the
// tally can judge a vote's tokens.
const (
	ReasonNone           Reason = 0
	ReasonMalformed      Reason = 1 // bytes do not decode, or break a limit
	ReasonBadSignature   Reason = 2 // forged, wrongly signed, or key not bound to the author
	ReasonTrustDomain    Reason = 3 // SPIFFE ID claim outside the genesis trust domain
	ReasonNotAdmitted    Reason = 4 // the policy engine refuses the identity
	ReasonFuture         Reason = 5 // timestamp beyond the receiver's clock plus the skew bound
	ReasonOverAllocation Reason = 6 // tokens above the voter's genesis allocation
	ReasonAfterDeadline  Reason = 7 // vote timestamped after the proposal's deadline
	ReasonEquivocation   Reason = 8 // vote on the author's forked range
	ReasonSuperseded     Reason = 9 // a later vote by the same voter counts instead

	ReasonUnbound Reason = 10 // refused: a SPIFFE ID claim the Binder does not confirm for the author

	ReasonNotMember   Reason = 11 // void: the voter holds no tokens when the proposal is decided
	ReasonQuarantined Reason = 12 // void: the voter (or proposer) was quarantined by an earlier decision
)

var reasonNames = [...]string{
	ReasonNone:           "none",
	ReasonMalformed:      "malformed",
	ReasonBadSignature:   "bad-signature",
	ReasonTrustDomain:    "trust-domain",
	ReasonNotAdmitted:    "not-admitted",
	ReasonFuture:         "future",
	ReasonOverAllocation: "over-allocation",
	ReasonAfterDeadline:  "after-deadline",
	ReasonEquivocation:   "equivocation",
	ReasonSuperseded:     "superseded",
	ReasonUnbound:        "unbound",
	ReasonNotMember:      "not-member",
	ReasonQuarantined:    "quarantined",
}

var reasonErrors = [...]error{
	ReasonMalformed:      ErrMalformed,
	ReasonBadSignature:   ErrBadSignature,
	ReasonTrustDomain:    ErrTrustDomain,
	ReasonNotAdmitted:    ErrNotAdmitted,
	ReasonFuture:         ErrFuture,
	ReasonOverAllocation: ErrOverAllocation,
	ReasonAfterDeadline:  ErrAfterDeadline,
	ReasonEquivocation:   ErrEquivocation,
	ReasonSuperseded:     ErrSuperseded,
	ReasonUnbound:        ErrUnbound,
	ReasonNotMember:      ErrNotMember,
	ReasonQuarantined:    ErrQuarantined,
}

// String returns the reason's stable kebab-case name.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// MarshalText implements encoding.TextMarshaler.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// Err returns the sentinel error of r, or nil for ReasonNone and unknown values.
func (r Reason) Err() error {
	if r != ReasonNone && int(r) < len(reasonErrors) {
		return reasonErrors[r]
	}
	return nil
}

// RejectError reports a record that was refused, with the reason a caller
// can branch on (a gossip validator maps ReasonFuture to "ignore" and the
// rest to "reject", for example). Err wraps the sentinel of Reason.
type RejectError struct {
	Reason Reason
	Hash   Hash // content hash of the refused bytes (zero if they did not decode)
	Err    error
}

func (e *RejectError) Error() string {
	if e.Hash.IsZero() {
		return fmt.Sprintf("record refused: %v", e.Err)
	}
	return fmt.Sprintf("record %s refused: %v", e.Hash.String()[:16], e.Err)
}

func (e *RejectError) Unwrap() error { return e.Err }

// reject builds a RejectError whose Err wraps the sentinel of reason.
func reject(reason Reason, h Hash, format string, args ...any) *RejectError {
	err := reason.Err()
	if format != "" {
		err = fmt.Errorf("%w: %s", err, fmt.Sprintf(format, args...))
	}
	return &RejectError{Reason: reason, Hash: h, Err: err}
}

// rejectCause builds a RejectError for reason whose Err wraps both the
// sentinel of reason and cause.
func rejectCause(reason Reason, h Hash, cause error) *RejectError {
	return &RejectError{Reason: reason, Hash: h, Err: fmt.Errorf("%w: %w", reason.Err(), cause)}
}

// rejectWrap builds a RejectError for reason around an error that already
// wraps the right sentinel.
func rejectWrap(reason Reason, h Hash, err error) *RejectError {
	return &RejectError{Reason: reason, Hash: h, Err: err}
}
