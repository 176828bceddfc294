package anomaly

import (
	"errors"
	"strings"
)

// Errors of samples and configuration.
var (
	// ErrInvalidSample: a sample breaks a rule of NewSample, or its
	// dimensions do not match the detector's.
	ErrInvalidSample = errors.New("anomaly: invalid sample")
	// ErrInvalidConfig: a TrainConfig or EvalConfig field is out of
	// bounds.
	ErrInvalidConfig = errors.New("anomaly: invalid config")
	// ErrNoData: training was given too few samples, or none of a class
	// it needs.
	ErrNoData = errors.New("anomaly: not enough training data")
)

// Sentinel errors wrapped by *ModelError: why a model blob was refused.
var (
	// ErrTooLarge: the blob, or a count it announces, exceeds its bound.
	ErrTooLarge = errors.New("anomaly: model too large")
	// ErrTruncated: the blob ends before a field does.
	ErrTruncated = errors.New("anomaly: model truncated")
	// ErrLength: bytes follow the blob's last field.
	ErrLength = errors.New("anomaly: bad model length")
	// ErrMagic: the blob does not start with the model magic.
	ErrMagic = errors.New("anomaly: not a model")
	// ErrVersion: the format version is not one this package reads.
	ErrVersion = errors.New("anomaly: unsupported model version")
	// ErrKind: the detector kind is unknown.
	ErrKind = errors.New("anomaly: unknown detector kind")
	// ErrSchema: the model was made for another feature schema.
	ErrSchema = errors.New("anomaly: model for another feature schema")
	// ErrChecksum: the blob's SHA-256 trailer does not match its bytes.
	ErrChecksum = errors.New("anomaly: model checksum mismatch")
	// ErrField: a field holds a value the format forbids (a NaN weight, a
	// reserved bit, a tree child out of order).
	ErrField = errors.New("anomaly: invalid model field")
)

// ModelError describes a model blob that could not be decoded or encoded.
// Err is one of the sentinel errors above.
type ModelError struct {
	Op    string // "decode" or "encode"
	Field string // the offending field, "" for the blob as a whole
	Err   error
}

func (e *ModelError) Error() string {
	var b strings.Builder
	b.WriteString("anomaly: ")
	b.WriteString(e.Op)
	b.WriteString(" model")
	if e.Field != "" {
		b.WriteByte(' ')
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(strings.TrimPrefix(e.Err.Error(), "anomaly: "))
	return b.String()
}

func (e *ModelError) Unwrap() error { return e.Err }
