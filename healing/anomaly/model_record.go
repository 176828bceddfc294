package anomaly

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ModelNamespace is the DHT namespace of model blobs: a blob is stored
// under /x0model/<its SHA-256 in lower-case hex> (ModelKey), so that the
// digest a governance proposal names is all a node needs to fetch the
// model and to know it got the right one.
const ModelNamespace = "x0model"

// ErrModelKey is returned for a DHT key that does not name a model blob
// by its digest, or whose value is not the blob it names.
var ErrModelKey = errors.New("anomaly: model key does not match its value")

// ModelKey returns the DHT key of the model blob with the given digest.
func ModelKey(digest [32]byte) string {
	return "/" + ModelNamespace + "/" + hex.EncodeToString(digest[:])
}

// ParseModelKey returns the digest a model key names.
func ParseModelKey(key string) ([32]byte, error) {
	h, ok := strings.CutPrefix(key, "/"+ModelNamespace+"/")
	if !ok {
		return [32]byte{}, fmt.Errorf("%w: %q", ErrModelKey, key)
	}
	d, err := parseDigest(h)
	if err != nil {
		return d, fmt.Errorf("%w: %q", ErrModelKey, key)
	}
	return d, nil
}

// ModelValidator validates the DHT records of ModelNamespace (it has
// libp2p's record.Validator methods): the value must be at most
// MaxModelSize bytes, hash to the digest its key names and decode as a
// model of CurrentSchema. Every valid value of a key is the same blob, so
// Select takes the first.
type ModelValidator struct{}

// Validate checks that value is the model blob key names.
func (ModelValidator) Validate(key string, value []byte) error {
	d, err := ParseModelKey(key)
	if err != nil {
		return err
	}
	if len(value) > MaxModelSize {
		return &ModelError{Op: "decode", Err: ErrTooLarge}
	}
	if Digest(value) != d {
		return fmt.Errorf("%w: value hashes to %s", ErrModelKey, DigestHex(value))
	}
	if _, err := DecodeModel(value); err != nil {
		return err
	}
	return nil
}

// Select picks the first value: they are all the same blob.
func (ModelValidator) Select(string, [][]byte) (int, error) { return 0, nil }
