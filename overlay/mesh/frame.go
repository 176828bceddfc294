package mesh

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Stream framing errors. ReadFrame wraps one of them (or returns io.EOF
// for a stream that ended cleanly between frames); a link that sees one
// is reset.
var (
	// ErrFrameTooLarge: a length prefix above protocols.MaxFrameSize. The
	// frame is not read.
	ErrFrameTooLarge = errors.New("mesh: frame length over the maximum")
	// ErrEmptyFrame: a length prefix of zero; no mesh packet is empty.
	ErrEmptyFrame = errors.New("mesh: empty frame")
	// ErrBadLength: a length prefix that is not a minimal unsigned varint
	// of at most 3 bytes (a zero byte after the first, or a continuation
	// bit in the third). The bytes after the prefix are not read.
	ErrBadLength = errors.New("mesh: malformed length prefix")
)

// maxPrefixSize is the longest length prefix: MaxFrameSize (65572) needs
// three varint bytes.
const maxPrefixSize = 3

// AppendFrame appends frame to dst with its length prefix, an unsigned
// varint. It refuses frames that ReadFrame would refuse.
func AppendFrame(dst, frame []byte) ([]byte, error) {
	switch {
	case len(frame) == 0:
		return dst, ErrEmptyFrame
	case len(frame) > protocols.MaxFrameSize:
		return dst, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(frame))
	}
	dst = binary.AppendUvarint(dst, uint64(len(frame)))
	return append(dst, frame...), nil
}

// ReadFrame reads one length-prefixed frame from r into buf (grown if it
// is too small) and returns it. It checks the prefix before reading the
// frame, so a peer cannot make it allocate more than MaxFrameSize bytes.
// A stream that ends before a prefix gives io.EOF; one that ends inside
// a frame gives io.ErrUnexpectedEOF.
func ReadFrame(r *bufio.Reader, buf []byte) ([]byte, error) {
	n, err := readLength(r)
	if err != nil {
		return nil, err
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// peekLength reads and checks the length prefix at the start of p, as
// readLength does: the frame's length n and the prefix's k bytes, or
// k == 0 if p ends inside the prefix.
func peekLength(p []byte) (n, k int, err error) {
	for i, b := range p[:min(len(p), maxPrefixSize)] {
		if b == 0 && i > 0 {
			return 0, 0, fmt.Errorf("%w: non-minimal varint", ErrBadLength)
		}
		n |= int(b&0x7f) << (7 * i)
		if b < 0x80 {
			switch {
			case n == 0:
				return 0, 0, ErrEmptyFrame
			case n > protocols.MaxFrameSize:
				return 0, 0, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
			}
			return n, i + 1, nil
		}
	}
	if len(p) >= maxPrefixSize {
		return 0, 0, fmt.Errorf("%w: longer than %d bytes", ErrBadLength, maxPrefixSize)
	}
	return 0, 0, nil
}

// readLength reads and checks a length prefix.
func readLength(r *bufio.Reader) (int, error) {
	var n uint64
	for i := range maxPrefixSize {
		b, err := r.ReadByte()
		if err != nil {
			if err == io.EOF && i > 0 {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		if b == 0 && i > 0 {
			return 0, fmt.Errorf("%w: non-minimal varint", ErrBadLength)
		}
		n |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			switch {
			case n == 0:
				return 0, ErrEmptyFrame
			case n > protocols.MaxFrameSize:
				return 0, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
			}
			return int(n), nil
		}
	}
	// The third byte asks for a fourth: no frame needs one, whatever the
	// rest would say (a minimal four-byte varint is at least 2^21, over
	// the maximum; anything else is not minimal).
	return 0, fmt.Errorf("%w: longer than %d bytes", ErrBadLength, maxPrefixSize)
}
