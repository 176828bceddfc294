package devnet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	"github.com/x0tta6bl4/x0tta6bl4/node"
)

// Namespace is the DHT namespace of probe records: /x0devnet/<peer ID>.
const Namespace = "x0devnet"

// recordDomain and recordCodec tag probe records in their envelopes.
const recordDomain = "x0tta6bl4-devnet-record"

var recordCodec = []byte("/x0tta6bl4/devnet-record/1")

// MaxRecordValue bounds a probe record's value.
const MaxRecordValue = 1024

const recordVersion = 1

// ErrBadRecord is wrapped by every error about a malformed or forged probe
// record.
var ErrBadRecord = errors.New("devnet: bad probe record")

// Record is the payload of a probe record; see the package doc for its
// layout.
type Record struct {
	Seq   uint64
	Value []byte
}

var _ record.Record = (*Record)(nil)

// Domain implements record.Record.
func (r *Record) Domain() string { return recordDomain }

// Codec implements record.Record.
func (r *Record) Codec() []byte { return recordCodec }

// MarshalRecord implements record.Record.
func (r *Record) MarshalRecord() ([]byte, error) {
	if len(r.Value) > MaxRecordValue {
		return nil, fmt.Errorf("%w: value of %d bytes exceeds %d", ErrBadRecord, len(r.Value), MaxRecordValue)
	}
	b := make([]byte, 9, 9+len(r.Value))
	b[0] = recordVersion
	binary.BigEndian.PutUint64(b[1:], r.Seq)
	return append(b, r.Value...), nil
}

// UnmarshalRecord implements record.Record.
func (r *Record) UnmarshalRecord(b []byte) error {
	if len(b) < 9 {
		return fmt.Errorf("%w: %d bytes, want at least 9", ErrBadRecord, len(b))
	}
	if b[0] != recordVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrBadRecord, b[0], recordVersion)
	}
	if len(b)-9 > MaxRecordValue {
		return fmt.Errorf("%w: value of %d bytes exceeds %d", ErrBadRecord, len(b)-9, MaxRecordValue)
	}
	r.Seq = binary.BigEndian.Uint64(b[1:9])
	r.Value = bytes.Clone(b[9:])
	return nil
}

// RecordKey is the DHT key of p's probe record.
func RecordKey(p peer.ID) string { return "/" + Namespace + "/" + p.String() }

// SealRecord signs r with key into the bytes stored in the DHT.
func SealRecord(r Record, key crypto.PrivKey) ([]byte, error) {
	if len(r.Value) > MaxRecordValue {
		return nil, fmt.Errorf("%w: value of %d bytes exceeds %d", ErrBadRecord, len(r.Value), MaxRecordValue)
	}
	env, err := record.Seal(&r, key)
	if err != nil {
		return nil, fmt.Errorf("seal probe record: %w", err)
	}
	return env.Marshal()
}

// maxEnvelope bounds the bytes of a sealed record accepted from a peer.
const maxEnvelope = 4096

// OpenRecord checks that b is a probe record signed by the peer its key
// names, and returns it.
func OpenRecord(key string, b []byte) (Record, error) {
	var r Record
	if len(b) > maxEnvelope {
		return r, fmt.Errorf("%w: %d bytes exceeds %d", ErrBadRecord, len(b), maxEnvelope)
	}
	id, ok := strings.CutPrefix(key, "/"+Namespace+"/")
	if !ok {
		return r, fmt.Errorf("%w: key %q is not under /%s/", ErrBadRecord, key, Namespace)
	}
	owner, err := peer.Decode(id)
	if err != nil {
		return r, fmt.Errorf("%w: key %q: %w", ErrBadRecord, key, err)
	}
	env, err := record.ConsumeTypedEnvelope(b, &r)
	if err != nil {
		return Record{}, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	if !bytes.Equal(env.PayloadType, recordCodec) {
		return Record{}, fmt.Errorf("%w: payload type %q", ErrBadRecord, env.PayloadType)
	}
	if !owner.MatchesPublicKey(env.PublicKey) {
		return Record{}, fmt.Errorf("%w: signed by another key than %s's", ErrBadRecord, owner)
	}
	return r, nil
}

// RecordValidator validates probe records for the node's DHT: only the
// peer named in the key may sign its record, and the highest Seq wins.
type RecordValidator struct{}

var _ node.Validator = RecordValidator{}

// Validate implements node.Validator.
func (RecordValidator) Validate(key string, value []byte) error {
	_, err := OpenRecord(key, value)
	return err
}

// Select implements node.Validator.
func (RecordValidator) Select(key string, values [][]byte) (int, error) {
	best, bestSeq := -1, uint64(0)
	for i, v := range values {
		r, err := OpenRecord(key, v)
		if err != nil {
			continue
		}
		if best < 0 || r.Seq > bestSeq {
			best, bestSeq = i, r.Seq
		}
	}
	if best < 0 {
		return 0, fmt.Errorf("%w: no valid value among %d", ErrBadRecord, len(values))
	}
	return best, nil
}
