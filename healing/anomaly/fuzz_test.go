package anomaly

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

func modelOf(d Detector) *model {
	switch d := d.(type) {
	case *GraphSAGE:
		return &d.model
	case *MAD:
		return &d.model
	case *EWMA:
		return &d.model
	case *IsolationForest:
		return &d.model
	}
	return nil
}

// FuzzDecodeModel feeds arbitrary bytes, as a peer could offer a model
// blob, to the decoder, both as they are and with a correct checksum
// (which a fuzzer could not find by itself): it must refuse them with a
// decode *ModelError, or accept a model that re-encodes to the same bytes
// and scores a sample without panicking.
func FuzzDecodeModel(f *testing.F) {
	for _, det := range tinyModels() {
		b, err := det.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[:len(b)-trailerSize])
	}
	f.Add([]byte("x0am"))
	f.Fuzz(func(t *testing.T, blob []byte) {
		if len(blob) > 8<<10 {
			// Larger blobs only hold more weights, and scoring with
			// hundreds of hidden units makes each run slow.
			t.Skip("beyond the models worth fuzzing")
		}
		tries := [][]byte{blob}
		if len(blob) >= trailerSize {
			tries = append(tries, reseal(blob))
		}
		for _, b := range tries {
			det, err := DecodeModelFor(b, nil)
			if err != nil {
				var me *ModelError
				if !errors.As(err, &me) || me.Op != "decode" {
					t.Fatalf("error %v is not a decode *ModelError", err)
				}
				known := false
				for _, s := range []error{ErrTooLarge, ErrTruncated, ErrLength, ErrMagic, ErrVersion, ErrKind, ErrSchema, ErrChecksum, ErrField} {
					known = known || errors.Is(err, s)
				}
				if !known {
					t.Fatalf("error %v wraps no sentinel", err)
				}
				continue
			}
			again, err := det.MarshalBinary()
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("re-encoding of an accepted blob = %x, %v; want %x", again, err, b)
			}
			scoreAnything(t, det)
		}
	})
}

// scoreAnything scores a random three-node sample of det's dimensions.
func scoreAnything(t *testing.T, det Detector) {
	m := modelOf(det)
	fn, fe := m.norm.dims()
	rng := rand.New(rand.NewPCG(1, 2))
	nodes := []protocols.Addr{{1}, {2}, {3}}
	nodeX := make([]float64, 3*fn)
	linkX := make([]float64, 3*fe)
	for _, xs := range [][]float64{nodeX, linkX} {
		for i := range xs {
			xs[i] = rng.NormFloat64() * 100
		}
	}
	s, err := NewSample(time.Unix(1, 0), time.Second, nodes, fn, nodeX, []Link{{0, 1}, {1, 0}, {1, 2}}, fe, linkX)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		preds, err := det.ScoreGraph(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range preds {
			if !(p.Score >= 0 && p.Score <= 1) || !(p.Confidence >= 0 && p.Confidence <= 1) {
				t.Fatalf("prediction %+v out of range", p)
			}
		}
	}
	if _, err := det.Predict(nodes[0], s.FlatInput(nil, 0)); err != nil {
		t.Fatal(err)
	}
}
