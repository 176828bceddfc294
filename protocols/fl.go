package protocols

import (
	"encoding/binary"
	"time"
)

// FLUpdateVersion is the first byte of every federated-learning update
// announcement. A change of meaning gets a new version (and topic).
const FLUpdateVersion = 1

// FLTopic is the GossipSub topic of federated-learning update
// announcements.
const FLTopic = "x0tta6bl4/fl/1"

// FLUpdateSize is the size of every update announcement, in bytes;
// receivers reject any other size before decoding.
const FLUpdateSize = 94

// FLUpdate announces a node's local update of an anomaly model for a
// federated round: the node trained Update (the SHA-256 of a model blob
// it stored in the DHT, content-addressed) from Base (the model it scored
// with) on Samples node samples of its own rehearsals. Members gossip it
// on FLTopic; any member may then propose the average of the updates of
// one base. Multi-byte fields are big-endian.
//
//	offset size field
//	0      1    version (1)
//	1      1    reserved, 0
//	2      16   node: the sender's mesh address, non-zero; it must be the
//	            address of the peer that signed the gossip message
//	18     8    time: when it was announced, Unix nanoseconds, > 0
//	26     32   base: SHA-256 of the base model's blob
//	58     32   update: SHA-256 of the update's blob, not the base's
//	90     4    samples: node samples the update was trained on, > 0
type FLUpdate struct {
	Node    Addr
	Time    time.Time
	Base    [32]byte
	Update  [32]byte
	Samples uint32
}

func flErr(op, field string, err error) error {
	f := "fl update"
	if field != "" {
		f += " " + field
	}
	return &FrameError{Op: op, Field: f, Err: err}
}

// check applies the field rules, returning the field at fault.
func (u *FLUpdate) check(ns int64) string {
	switch {
	case u.Node.IsZero():
		return "node"
	case ns <= 0:
		return "time"
	case u.Update == u.Base:
		return "update"
	case u.Samples == 0:
		return "samples"
	}
	return ""
}

// AppendBinary appends the encoding of u to b. It fails, leaving b as it
// was, if a field breaks a rule.
func (u *FLUpdate) AppendBinary(b []byte) ([]byte, error) {
	ns, ok := timeNanos(u.Time)
	if !ok {
		ns = 0
	}
	if field := u.check(ns); field != "" {
		return b, flErr("encode", field, ErrField)
	}
	b = append(b, FLUpdateVersion, 0)
	b = appendAddr(b, u.Node)
	b = binary.BigEndian.AppendUint64(b, uint64(ns))
	b = append(b, u.Base[:]...)
	b = append(b, u.Update[:]...)
	return binary.BigEndian.AppendUint32(b, u.Samples), nil
}

// MarshalBinary returns the encoding of u.
func (u *FLUpdate) MarshalBinary() ([]byte, error) {
	return u.AppendBinary(make([]byte, 0, FLUpdateSize))
}

// Decode decodes an update announcement into u. One that decodes
// satisfies every rule above and re-encodes to the same bytes.
func (u *FLUpdate) Decode(msg []byte) error {
	switch {
	case len(msg) > FLUpdateSize:
		return flErr("decode", "", ErrTooLarge)
	case len(msg) < 1:
		return flErr("decode", "", ErrTruncated)
	case msg[0] != FLUpdateVersion:
		return flErr("decode", "version", ErrVersion)
	case len(msg) < FLUpdateSize:
		return flErr("decode", "", ErrTruncated)
	case msg[1] != 0:
		return flErr("decode", "reserved", ErrReserved)
	}
	be := binary.BigEndian
	ns := int64(be.Uint64(msg[18:]))
	*u = FLUpdate{Node: readAddr(msg[2:]), Samples: be.Uint32(msg[90:])}
	copy(u.Base[:], msg[26:58])
	copy(u.Update[:], msg[58:90])
	if field := u.check(ns); field != "" {
		return flErr("decode", field, ErrField)
	}
	u.Time = time.Unix(0, ns).UTC()
	return nil
}
