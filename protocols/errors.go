package protocols

import (
	"errors"
	"strings"
)

// Sentinel errors wrapped by *FrameError. Callers branch on them with
// errors.Is; every decoder in this package reports failures this way.
var (
	// ErrTruncated: the frame ends before a field does.
	ErrTruncated = errors.New("protocols: frame truncated")
	// ErrLength: the frame is longer than its type allows or its length
	// does not match what its fields announce.
	ErrLength = errors.New("protocols: bad frame length")
	// ErrTooLarge: the frame or one of its lists exceeds a documented bound.
	ErrTooLarge = errors.New("protocols: frame too large")
	// ErrVersion: the version byte is not one this package speaks.
	ErrVersion = errors.New("protocols: unsupported version")
	// ErrUnknownType: the type byte names no packet of this version.
	ErrUnknownType = errors.New("protocols: unknown packet type")
	// ErrReserved: a reserved bit is set.
	ErrReserved = errors.New("protocols: reserved bits set")
	// ErrField: a field holds a value the specification forbids.
	ErrField = errors.New("protocols: invalid field")
)

// FrameError describes a frame that could not be decoded or encoded. Err is
// one of the sentinel errors above.
type FrameError struct {
	Op    string // "decode" or "encode"
	Type  Type   // the packet type, 0 if it could not be read
	Field string // the offending field, "" for the frame as a whole
	Err   error
}

func (e *FrameError) Error() string {
	var b strings.Builder
	b.WriteString("protocols: ")
	b.WriteString(e.Op)
	if e.Type != 0 {
		b.WriteByte(' ')
		b.WriteString(e.Type.String())
	}
	if e.Field != "" {
		b.WriteByte(' ')
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(strings.TrimPrefix(e.Err.Error(), "protocols: "))
	return b.String()
}

func (e *FrameError) Unwrap() error { return e.Err }

func decodeErr(t Type, field string, err error) error {
	return &FrameError{Op: "decode", Type: t, Field: field, Err: err}
}

func encodeErr(t Type, field string, err error) error {
	return &FrameError{Op: "encode", Type: t, Field: field, Err: err}
}
