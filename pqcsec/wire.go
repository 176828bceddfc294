package pqcsec

import (
	"encoding/binary"
	"time"
)

// decoder reads the fixed-order, big-endian layouts of this package. The first
// failure sticks: later reads return zero values and err names the field that
// did not fit, so decoders check err once at the end.
type decoder struct {
	b    []byte
	off  int
	what string // object being decoded, for error text
	err  error
}

func (d *decoder) fail(field string) {
	if d.err == nil {
		d.err = malformed("%s: %s at offset %d", d.what, field, d.off)
	}
}

func (d *decoder) take(n int, field string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b)-d.off < n {
		d.fail(field + " truncated")
		return nil
	}
	s := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return s
}

func (d *decoder) u8(field string) byte {
	s := d.take(1, field)
	if s == nil {
		return 0
	}
	return s[0]
}

func (d *decoder) u16(field string) uint16 {
	s := d.take(2, field)
	if s == nil {
		return 0
	}
	return binary.BigEndian.Uint16(s)
}

func (d *decoder) u64(field string) uint64 {
	s := d.take(8, field)
	if s == nil {
		return 0
	}
	return binary.BigEndian.Uint64(s)
}

// time reads an int64 count of nanoseconds since the Unix epoch; zero is
// refused because every time in these layouts is required.
func (d *decoder) time(field string) time.Time {
	n := int64(d.u64(field))
	if d.err == nil && n <= 0 {
		d.fail(field + " not after 1970")
	}
	return time.Unix(0, n).UTC()
}

// str reads a one-byte length and that many bytes, requiring min ≤ length ≤ max.
func (d *decoder) str(field string, min, max int) string {
	n := int(d.u8(field + " length"))
	if d.err == nil && (n < min || n > max) {
		d.fail(field + " length out of range")
		return ""
	}
	return string(d.take(n, field))
}

// end fails unless every byte was consumed.
func (d *decoder) end() {
	if d.err == nil && d.off != len(d.b) {
		d.fail("trailing bytes")
	}
}

func appendTime(b []byte, t time.Time) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(t.UnixNano()))
}

func appendStr(b []byte, s string) []byte {
	return append(append(b, byte(len(s))), s...)
}
