package healing_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/healing"
)

// reseal sets the CRC-32C of an entry-sized input to match its bytes.
func reseal(b []byte) []byte {
	if len(b) != healing.EntrySize {
		return b
	}
	binary.BigEndian.PutUint32(b[healing.EntrySize-4:], crc32.Checksum(b[:healing.EntrySize-4], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// FuzzDecodeEntry feeds arbitrary bytes, as a damaged or altered
// datastore could hold them, to the knowledge entry decoder, both as they
// are and with a correct checksum (which a fuzzer could not find by
// itself): it must refuse them with a *DecodeError wrapping one of the
// package's sentinels, or accept an entry that re-encodes to the same
// bytes.
func FuzzDecodeEntry(f *testing.F) {
	valid, _ := hex.DecodeString(entryHex)
	f.Add(valid)
	f.Add(valid[:20])
	f.Add(append(bytes.Clone(valid), 0))
	f.Add([]byte("x0hk"))
	sentinels := []error{healing.ErrTooLarge, healing.ErrTruncated, healing.ErrMagic, healing.ErrVersion,
		healing.ErrField, healing.ErrChecksum}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, b := range [][]byte{in, reseal(bytes.Clone(in))} {
			e, err := healing.DecodeEntry(b)
			if err != nil {
				var de *healing.DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("error %v is not a *DecodeError", err)
				}
				known := false
				for _, s := range sentinels {
					known = known || errors.Is(err, s)
				}
				if !known {
					t.Fatalf("error %v wraps no sentinel", err)
				}
				continue
			}
			again, err := healing.EncodeEntry(nil, e)
			if err != nil {
				t.Fatalf("accepted %x, then EncodeEntry: %v", b, err)
			}
			if !bytes.Equal(again, b) {
				t.Fatalf("accepted %x, re-encodes to %x", b, again)
			}
		}
	})
}
