package devnet

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Message is what the gossip probe publishes; see the package doc for its
// layout.
type Message struct {
	Seq      uint64 // per publisher, from 1
	SentUnix int64  // publish time, Unix nanoseconds
}

const (
	messageVersion = 1
	messageSize    = 17
)

// ErrBadMessage is wrapped by every error about a malformed probe message.
var ErrBadMessage = errors.New("devnet: bad probe message")

// Marshal encodes m.
func (m Message) Marshal() []byte {
	b := make([]byte, messageSize)
	b[0] = messageVersion
	binary.BigEndian.PutUint64(b[1:9], m.Seq)
	binary.BigEndian.PutUint64(b[9:17], uint64(m.SentUnix))
	return b
}

// UnmarshalMessage decodes a probe message.
func UnmarshalMessage(b []byte) (Message, error) {
	if len(b) != messageSize {
		return Message{}, fmt.Errorf("%w: %d bytes, want %d", ErrBadMessage, len(b), messageSize)
	}
	if b[0] != messageVersion {
		return Message{}, fmt.Errorf("%w: version %d, want %d", ErrBadMessage, b[0], messageVersion)
	}
	m := Message{
		Seq:      binary.BigEndian.Uint64(b[1:9]),
		SentUnix: int64(binary.BigEndian.Uint64(b[9:17])),
	}
	if m.Seq == 0 {
		return Message{}, fmt.Errorf("%w: sequence number 0", ErrBadMessage)
	}
	return m, nil
}
