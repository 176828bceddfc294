package anomaly

import (
	_ "embed"
	"fmt"
	"slices"
)

// Regenerate the default model, its constants and the golden outputs:
//
//go:generate go run ./internal/genmodel -dir .
//go:generate go test -run ^TestDefaultModelGolden$ -update

//go:embed default_model.bin
var defaultModelBlob []byte

// DefaultModelDigest is the SHA-256 of the embedded default model's blob
// (DefaultModelSHA256 as bytes, once DefaultModel has checked it): the
// model a node scores with until governance adopts another.
var DefaultModelDigest = Digest(defaultModelBlob)

// DefaultModelBlob returns a copy of the embedded default model's blob.
func DefaultModelBlob() []byte { return slices.Clone(defaultModelBlob) }

// DefaultModel decodes the embedded default model (DefaultModelName, a
// DefaultModelKind detector), after checking that its SHA-256 is
// DefaultModelSHA256. Each call returns a fresh detector.
func DefaultModel() (Detector, error) {
	if got := DigestHex(defaultModelBlob); got != DefaultModelSHA256 {
		return nil, fmt.Errorf("anomaly: embedded model has SHA-256 %s, want %s", got, DefaultModelSHA256)
	}
	return DecodeModel(defaultModelBlob)
}
