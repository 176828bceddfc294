package consensus

import (
	"crypto/sha256"
	"fmt"
	"strings"
)

// HeadKey is the DHT key of author's head: "/x0log/" + base58 peer ID.
func HeadKey(author PeerID) string { return headNamespace + author.String() }

// RecordKey is the DHT key of a record: "/x0rec/" + hex SHA-256.
func RecordKey(id Hash) string { return recordNamespace + id.String() }

const (
	headNamespace   = "/x0log/"
	recordNamespace = "/x0rec/"
)

// parseHeadKey and parseRecordKey invert HeadKey and RecordKey.
func parseHeadKey(key string) (PeerID, error) {
	rest, ok := strings.CutPrefix(key, headNamespace)
	if !ok {
		return "", fmt.Errorf("%w: key %q is not under %s", ErrWrongKey, key, headNamespace)
	}
	return ParsePeerID(rest)
}

func parseRecordKey(key string) (Hash, error) {
	rest, ok := strings.CutPrefix(key, recordNamespace)
	if !ok {
		return Hash{}, fmt.Errorf("%w: key %q is not under %s", ErrWrongKey, key, recordNamespace)
	}
	return ParseHash(rest)
}

// HeadValidator validates the DHT namespace /x0log/: a value must be a head
// signed by the author its key names. Its methods match libp2p's
// record.Validator; register it as the "x0log" namespace.
type HeadValidator struct {
	network  Hash
	verifier Verifier
	quota    *AuthorQuota
}

// NewHeadValidator returns the /x0log/ validator for the network of g. A
// non-nil quota refuses, before verifying, the heads of authors it does
// not take (non-members in closed mode).
func NewHeadValidator(g *Genesis, v Verifier, quota *AuthorQuota) *HeadValidator {
	return &HeadValidator{network: g.ID(), verifier: v, quota: quota}
}

// Validate checks that value is a head of the author named by key, validly
// signed for this network.
func (v *HeadValidator) Validate(key string, value []byte) error {
	author, err := parseHeadKey(key)
	if err != nil {
		return err
	}
	h, err := DecodeHead(value)
	if err != nil {
		return err
	}
	if h.Author != author {
		return fmt.Errorf("%w: head of %v under %s", ErrWrongKey, h.Author, key)
	}
	if err := v.quota.admitHead(author); err != nil {
		return err
	}
	return h.Verify(v.network, v.verifier)
}

// Select returns the index of the best head: the highest seq, then the
// latest signing time, then the smallest encoding. Values that do not
// decode are skipped; if none decodes it returns an error.
func (v *HeadValidator) Select(key string, values [][]byte) (int, error) {
	best, bestIdx := (*Head)(nil), -1
	for i, b := range values {
		h, err := DecodeHead(b)
		if err != nil {
			continue
		}
		if best == nil || betterHead(h, best) {
			best, bestIdx = h, i
		}
	}
	if bestIdx < 0 {
		return 0, fmt.Errorf("%w: no valid head among %d values for %s", ErrMalformed, len(values), key)
	}
	return bestIdx, nil
}

// RecordValidator validates the DHT namespace /x0rec/: a value must be a
// record whose SHA-256 is the key and that is validly signed for this
// network. Its methods match libp2p's record.Validator; register it as the
// "x0rec" namespace.
type RecordValidator struct {
	network  Hash
	verifier Verifier
	quota    *AuthorQuota
}

// NewRecordValidator returns the /x0rec/ validator for the network of g.
// A non-nil quota refuses the records of authors it does not take
// (non-members in closed mode, before verifying) and of authors over
// their quota (see AuthorQuota).
func NewRecordValidator(g *Genesis, v Verifier, quota *AuthorQuota) *RecordValidator {
	return &RecordValidator{network: g.ID(), verifier: v, quota: quota}
}

// Validate checks that value hashes to the ID in key, decodes as a record,
// is of an author the quota takes and verifies.
func (v *RecordValidator) Validate(key string, value []byte) error {
	id, err := parseRecordKey(key)
	if err != nil {
		return err
	}
	if Hash(sha256.Sum256(value)) != id {
		return fmt.Errorf("%w: value does not hash to %s", ErrWrongKey, key)
	}
	r, err := DecodeRecord(value)
	if err != nil {
		return err
	}
	if err := v.quota.checkAuthor(r.Author); err != nil {
		return err
	}
	if err := r.Verify(v.network, v.verifier); err != nil {
		return err
	}
	return v.quota.admitRecord(r.Author, id)
}

// Select returns 0: a content-addressed key has only one valid value.
func (v *RecordValidator) Select(key string, values [][]byte) (int, error) {
	if len(values) == 0 {
		return 0, fmt.Errorf("%w: no values for %s", ErrMalformed, key)
	}
	return 0, nil
}
