package healing

import (
	"errors"
	"strings"
)

// Errors of the engine's inputs and configuration.
var (
	// ErrInvalidConfig: a Config field is out of bounds.
	ErrInvalidConfig = errors.New("healing: invalid config")
	// ErrInvalidInput: an input breaks its rules (a report with a NaN
	// score, a zero address, an unknown name).
	ErrInvalidInput = errors.New("healing: invalid input")
	// ErrUnknownPlan: Rehearsed or ActionFailed named a plan or action the
	// engine is not waiting on (finished, timed out or never made).
	ErrUnknownPlan = errors.New("healing: unknown plan or action")
)

// Sentinel errors wrapped by *DecodeError: why a knowledge entry was
// refused.
var (
	// ErrTooLarge: the input is longer than EntrySize.
	ErrTooLarge = errors.New("healing: entry too large")
	// ErrTruncated: the input ends before the entry does.
	ErrTruncated = errors.New("healing: entry truncated")
	// ErrMagic: the input does not start with the entry magic.
	ErrMagic = errors.New("healing: not a knowledge entry")
	// ErrVersion: the format version is not one this package reads.
	ErrVersion = errors.New("healing: unsupported entry version")
	// ErrField: a field holds a value the format forbids (an unknown
	// cause, a strategy that does not apply to it, a reserved byte set, a
	// count out of bounds).
	ErrField = errors.New("healing: invalid entry field")
	// ErrChecksum: the entry's CRC-32C does not match its bytes.
	ErrChecksum = errors.New("healing: entry checksum mismatch")
	// ErrKey: the datastore key an entry was stored under names another
	// cause and strategy than the entry.
	ErrKey = errors.New("healing: entry under the wrong key")
)

// DecodeError describes a knowledge entry that could not be decoded. Err
// is one of the sentinel errors above.
type DecodeError struct {
	Field string // the offending field, "" for the entry as a whole
	Err   error
}

func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString("healing: decode knowledge entry")
	if e.Field != "" {
		b.WriteByte(' ')
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(strings.TrimPrefix(e.Err.Error(), "healing: "))
	return b.String()
}

func (e *DecodeError) Unwrap() error { return e.Err }
