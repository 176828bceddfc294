package consensus

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// Big-endian, length-prefixed encoding helpers shared by every format in the
// package. Encoders append; the reader is sticky: after the first error every
// read returns zero values and the error is reported once by done.

func appendU8(b []byte, v uint8) []byte   { return append(b, v) }
func appendU16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }
func appendI64(b []byte, v int64) []byte  { return binary.BigEndian.AppendUint64(b, uint64(v)) }

// appendBytes8 appends a 1-byte length then p; callers check len(p) <= 255.
func appendBytes8(b, p []byte) []byte { return append(append(b, uint8(len(p))), p...) }

// appendBytes16 appends a 2-byte length then p; callers check len(p) <= 65535.
func appendBytes16(b, p []byte) []byte {
	return append(binary.BigEndian.AppendUint16(b, uint16(len(p))), p...)
}

type reader struct {
	b   []byte
	off int
	err error
	// what names the structure being decoded, for error messages.
	what string
}

func newReader(what string, b []byte) *reader { return &reader{b: b, what: what} }

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at byte %d: %s", ErrMalformed, r.what, r.off, fmt.Sprintf(format, args...))
	}
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
		r.fail("need %d bytes, have %d", n, len(r.b)-r.off)
		return nil
	}
	p := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return p
}

func (r *reader) u8() uint8 {
	p := r.take(1)
	if p == nil {
		return 0
	}
	return p[0]
}

func (r *reader) u16() uint16 {
	p := r.take(2)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint16(p)
}

func (r *reader) u32() uint32 {
	p := r.take(4)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint32(p)
}

func (r *reader) u64() uint64 {
	p := r.take(8)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

func (r *reader) i64() int64 { return int64(r.u64()) }

func (r *reader) hash() Hash {
	var h Hash
	copy(h[:], r.take(len(h)))
	return h
}

// bytes8 reads a 1-byte length and that many bytes, which must lie in
// [lo, hi]. The result aliases the input.
func (r *reader) bytes8(field string, lo, hi int) []byte {
	n := int(r.u8())
	return r.bounded(field, n, lo, hi)
}

// bytes16 reads a 2-byte length and that many bytes, which must lie in
// [lo, hi]. The result aliases the input.
func (r *reader) bytes16(field string, lo, hi int) []byte {
	n := int(r.u16())
	return r.bounded(field, n, lo, hi)
}

func (r *reader) bounded(field string, n, lo, hi int) []byte {
	if r.err != nil {
		return nil
	}
	if n < lo || n > hi {
		r.fail("%s length %d outside [%d, %d]", field, n, lo, hi)
		return nil
	}
	return r.take(n)
}

// text reads a length-prefixed UTF-8 string (2-byte length).
func (r *reader) text(field string, lo, hi int) string {
	p := r.bytes16(field, lo, hi)
	if r.err == nil && !utf8.Valid(p) {
		r.fail("%s is not UTF-8", field)
	}
	return string(p)
}

// text8 reads a length-prefixed UTF-8 string (1-byte length).
func (r *reader) text8(field string, lo, hi int) string {
	p := r.bytes8(field, lo, hi)
	if r.err == nil && !utf8.Valid(p) {
		r.fail("%s is not UTF-8", field)
	}
	return string(p)
}

// done reports the first error, or trailing bytes if the input was not
// consumed exactly.
func (r *reader) done() error {
	if r.err == nil && r.off != len(r.b) {
		r.fail("%d trailing bytes", len(r.b)-r.off)
	}
	return r.err
}
