package protocols

import (
	"encoding/binary"
	"time"
)

// Hello is a HELLO: the keepalive each node sends to each neighbor every
// HELLO interval. Besides liveness it carries what the addressee needs to
// measure the link: an echo of the addressee's latest HELLO with the time
// the sender held it (round-trip time without synchronised clocks), and
// how many of the addressee's recent HELLOs arrived (loss in the
// addressee-to-sender direction). Multi-byte fields are big-endian.
//
//	offset size field
//	0      1    version (1)
//	1      1    type (0x05)
//	2      2    interval: the sender's HELLO interval in milliseconds, >= 1
//	4      4    instance: random, fixed for the life of the sender's engine
//	8      4    seq: this HELLO's number on this link, from 1, +1 per HELLO
//	12     4    node seq: the sender's own destination sequence number, >= 1
//	16     4    echo seq: seq of the latest HELLO received from the
//	            addressee, 0 if none
//	20     4    echo hold: microseconds from receipt of that HELLO to this
//	            transmission, 0 when echo seq is 0
//	24     1    window: the addressee's HELLOs the sender expected, recent
//	            ones by seq, 0..HelloWindow (0: nothing measured yet)
//	25     1    heard: how many of those arrived, 0..window
type Hello struct {
	Interval time.Duration // whole milliseconds on the wire, 1 ms to 65535 ms
	Instance uint32
	Seq      uint32
	NodeSeq  uint32
	EchoSeq  uint32
	EchoHold time.Duration // whole microseconds on the wire, up to 2^32-1 µs
	Window   uint8
	Heard    uint8
}

// Type returns TypeHello.
func (*Hello) Type() Type { return TypeHello }

const (
	maxHelloInterval = 65535 * time.Millisecond
	maxEchoHold      = time.Duration(1<<32-1) * time.Microsecond
)

func (p *Hello) check(fail func(Type, string, error) error) error {
	switch {
	case p.Interval < time.Millisecond || p.Interval > maxHelloInterval ||
		p.Interval%time.Millisecond != 0:
		return fail(TypeHello, "interval", ErrField)
	case p.Seq == 0:
		return fail(TypeHello, "seq", ErrField)
	case p.NodeSeq == 0:
		return fail(TypeHello, "node seq", ErrField)
	case p.EchoHold < 0 || p.EchoHold > maxEchoHold || p.EchoHold%time.Microsecond != 0 ||
		(p.EchoSeq == 0 && p.EchoHold != 0):
		return fail(TypeHello, "echo hold", ErrField)
	case p.Window > HelloWindow:
		return fail(TypeHello, "window", ErrField)
	case p.Heard > p.Window:
		return fail(TypeHello, "heard", ErrField)
	}
	return nil
}

// AppendBinary appends the encoding of p to b.
func (p *Hello) AppendBinary(b []byte) ([]byte, error) {
	if err := p.check(encodeErr); err != nil {
		return b, err
	}
	b = append(b, MeshVersion, byte(TypeHello))
	b = binary.BigEndian.AppendUint16(b, uint16(p.Interval/time.Millisecond))
	b = binary.BigEndian.AppendUint32(b, p.Instance)
	b = binary.BigEndian.AppendUint32(b, p.Seq)
	b = binary.BigEndian.AppendUint32(b, p.NodeSeq)
	b = binary.BigEndian.AppendUint32(b, p.EchoSeq)
	b = binary.BigEndian.AppendUint32(b, uint32(p.EchoHold/time.Microsecond))
	return append(b, p.Window, p.Heard), nil
}

// MarshalBinary returns the encoding of p.
func (p *Hello) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, HelloSize))
}

// Decode decodes frame into p.
func (p *Hello) Decode(frame []byte) error {
	if err := header(frame, TypeHello, HelloSize, HelloSize); err != nil {
		return err
	}
	*p = Hello{
		Interval: time.Duration(binary.BigEndian.Uint16(frame[2:])) * time.Millisecond,
		Instance: binary.BigEndian.Uint32(frame[4:]),
		Seq:      binary.BigEndian.Uint32(frame[8:]),
		NodeSeq:  binary.BigEndian.Uint32(frame[12:]),
		EchoSeq:  binary.BigEndian.Uint32(frame[16:]),
		EchoHold: time.Duration(binary.BigEndian.Uint32(frame[20:])) * time.Microsecond,
		Window:   frame[24],
		Heard:    frame[25],
	}
	return p.check(decodeErr)
}
