package anomaly

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"
)

// tinySchema has one node and one link feature, so that tiny models have
// blobs short enough to read in hex.
var tinySchema = Schema{Version: 1,
	Node: []FeatureSpec{{Name: "n0", MinScale: 1}},
	Link: []FeatureSpec{{Name: "l0", MinScale: 1}},
}

func tinyBase() model {
	return model{name: "tiny", threshold: 0.6, schema: tinySchema.Hash(),
		norm: Normaliser{NodeCenter: []float64{0.5}, NodeScale: []float64{2}, LinkCenter: []float64{-1}, LinkScale: []float64{0.25}},
		cal:  calibration{cut: 1.5, spread: 0.5}}
}

// tinyModels returns one small model of each kind.
func tinyModels() map[Kind]Detector {
	g := &GraphSAGE{model: tinyBase(), h1: 1, h2: 1, p: make([]float64, numParams(1, 1, 1, 1))}
	for i := range g.p {
		g.p[i] = 0.125 * float64(i-8)
	}
	return map[Kind]Detector{
		KindGraphSAGE: g,
		KindMAD:       &MAD{model: tinyBase(), center: []float64{0, 0.5, -0.5}, scale: []float64{1, 2, 0.5}},
		KindEWMA:      &EWMA{model: tinyBase(), alpha: 0.25, warmup: 3, floor: []float64{1, 1, 0.5}},
		KindIsolationForest: &IsolationForest{model: tinyBase(), subsample: 4, trees: []itree{{
			{feature: 0, split: 0.5, left: 1, right: 2}, {feature: -1, size: 3}, {feature: -1, size: 1},
		}}},
	}
}

// The common header of the tiny models, up to the kind's body: magic,
// version 1, kind (xx), reserved, the tiny schema's hash, name "tiny",
// threshold 0.6, cut 1.5, spread 0.5, 1 node and 1 link feature, the
// normaliser (0.5, 2) and (-1, 0.25).
const tinyHeaderHex = `
	7830616d 01 xx 0000
	` + "%s" + `
	04 74696e79
	3fe3333333333333 3ff8000000000000 3fe0000000000000
	0001 0001
	3fe0000000000000 4000000000000000 bff0000000000000 3fd0000000000000`

var tinyBodyHex = map[Kind]string{
	// h1 1, h2 1, then 16 weights -1, -0.875, ..., 0.875.
	KindGraphSAGE: `0001 0001
		bff0000000000000 bfec000000000000 bfe8000000000000 bfe4000000000000
		bfe0000000000000 bfd8000000000000 bfd0000000000000 bfc0000000000000
		0000000000000000 3fc0000000000000 3fd0000000000000 3fd8000000000000
		3fe0000000000000 3fe4000000000000 3fe8000000000000 3fec000000000000`,
	// (center, scale) × 3.
	KindMAD: `0000000000000000 3ff0000000000000 3fe0000000000000 4000000000000000
		bfe0000000000000 3fe0000000000000`,
	// alpha 0.25, warmup 3, floors 1, 1, 0.5.
	KindEWMA: `3fd0000000000000 0003 3ff0000000000000 3ff0000000000000 3fe0000000000000`,
	// ψ 4, 1 tree of 3 nodes: split x0 < 0.5 → 1 else 2; leaves of 3 and 1.
	KindIsolationForest: `0004 0001 0003
		01 0000 3fe0000000000000 0001 0002
		00 00000003
		00 00000001`,
}

func tinyWant(t *testing.T, k Kind) []byte {
	t.Helper()
	h := tinySchema.Hash()
	s := strings.Replace(tinyHeaderHex, "xx", hex.EncodeToString([]byte{byte(k)}), 1)
	s = strings.Replace(s, "%s", hex.EncodeToString(h[:]), 1) + tinyBodyHex[k]
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// TestModelEncoding pins the bytes of a tiny model of each kind, and
// checks that they decode to a model that encodes to the same bytes.
func TestModelEncoding(t *testing.T) {
	for k, det := range tinyModels() {
		t.Run(k.String(), func(t *testing.T) {
			got, err := det.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			want := tinyWant(t, k)
			if !bytes.Equal(got, want) {
				t.Fatalf("encoding =\n%x\nwant\n%x", got, want)
			}
			back, err := DecodeModelFor(got, &tinySchema)
			if err != nil {
				t.Fatal(err)
			}
			if back.Kind() != k || back.Name() != "tiny" || back.Threshold() != 0.6 {
				t.Fatalf("decoded %v %q %v", back.Kind(), back.Name(), back.Threshold())
			}
			again, err := back.MarshalBinary()
			if err != nil || !bytes.Equal(again, got) {
				t.Fatalf("re-encoding = %x, %v", again, err)
			}
			if _, err := DecodeModel(got); !errors.Is(err, ErrSchema) {
				t.Fatalf("decode for the current schema: %v, want ErrSchema", err)
			}
		})
	}
}

// reseal replaces b's SHA-256 trailer with the right one, so that a
// mutation reaches the field it breaks.
func reseal(b []byte) []byte {
	b = bytes.Clone(b)
	sum := sha256.Sum256(b[:len(b)-trailerSize])
	copy(b[len(b)-trailerSize:], sum[:])
	return b
}

// Offsets in the tiny blobs.
const (
	offKind      = 5
	offReserved  = 6
	offName      = 40
	offThreshold = 45
	offSpread    = 61
	offDims      = 69
	offNormScale = 81
	offBody      = 105
)

func putF64(b []byte, off int, v float64) []byte {
	b = bytes.Clone(b)
	binary.BigEndian.PutUint64(b[off:], math.Float64bits(v))
	return b
}

func TestDecodeModelRejects(t *testing.T) {
	mad := tinyWant(t, KindMAD)
	forest := tinyWant(t, KindIsolationForest)
	graph := tinyWant(t, KindGraphSAGE)
	set := func(b []byte, off int, v ...byte) []byte {
		b = bytes.Clone(b)
		copy(b[off:], v)
		return b
	}
	insert := func(b []byte, off int, v ...byte) []byte {
		return append(append(bytes.Clone(b[:off]), v...), b[off:]...)
	}
	for _, tc := range []struct {
		name  string
		blob  []byte
		field string
		want  error
	}{
		{"empty", nil, "", ErrTruncated},
		{"magic only", mad[:4], "", ErrTruncated},
		{"bad magic", set(mad, 0, 'X'), "magic", ErrMagic},
		{"version 2", set(mad, 4, 2), "version", ErrVersion},
		{"header cut", mad[:60], "", ErrTruncated},
		{"checksum", set(mad, 50, mad[50]^1), "checksum", ErrChecksum},
		{"too large", make([]byte, MaxModelSize+1), "", ErrTooLarge},
		{"kind 0", reseal(set(mad, offKind, 0)), "kind", ErrKind},
		{"kind 5", reseal(set(mad, offKind, 5)), "kind", ErrKind},
		{"reserved", reseal(set(mad, offReserved, 0, 1)), "reserved", ErrField},
		{"name too long", reseal(set(mad, offName, MaxNameLen+1)), "name", ErrTooLarge},
		{"name not UTF-8", reseal(set(mad, offName+1, 0xff)), "name", ErrField},
		{"threshold 1", reseal(putF64(mad, offThreshold, 1)), "threshold", ErrField},
		{"threshold NaN", reseal(putF64(mad, offThreshold, math.NaN())), "threshold", ErrField},
		{"spread 0", reseal(putF64(mad, offSpread, 0)), "calibration", ErrField},
		{"no node features", reseal(set(mad, offDims, 0, 0)), "dimensions", ErrField},
		{"too many link features", reseal(set(mad, offDims+2, 1, 1)), "dimensions", ErrTooLarge},
		{"scale -1", reseal(putF64(mad, offNormScale, -1)), "normaliser", ErrField},
		{"scale +Inf", reseal(putF64(mad, offNormScale, math.Inf(1))), "normaliser", ErrField},
		{"body cut", reseal(append(bytes.Clone(mad[:offBody+8]), mad[len(mad)-trailerSize:]...)), "mad", ErrTruncated},
		{"trailing byte", reseal(insert(mad, len(mad)-trailerSize, 0)), "", ErrLength},
		{"hidden 0", reseal(set(graph, offBody, 0, 0)), "hidden", ErrField},
		{"hidden 300", reseal(set(graph, offBody, 1, 44)), "hidden", ErrField},
		{"weights for more hidden units than sent", reseal(set(graph, offBody, 0, 2)), "weights", ErrTruncated},
		{"no trees", reseal(set(forest, offBody+2, 0, 0)), "trees", ErrField},
		{"subsample too large", reseal(set(forest, offBody, 0xff, 0xff)), "trees", ErrTooLarge},
		{"tree too large", reseal(set(forest, offBody+4, 0, 9)), "tree", ErrTooLarge},
		{"child before parent", reseal(set(forest, offBody+6+1+2+8, 0, 0)), "split", ErrField},
		{"child out of tree", reseal(set(forest, offBody+6+1+2+8+2, 0, 3)), "split", ErrField},
		{"split on a missing feature", reseal(set(forest, offBody+6+1, 0, 3)), "split", ErrField},
		{"unknown node tag", reseal(set(forest, offBody+6, 7)), "tree node", ErrField},
		{"leaf above ψ", reseal(set(forest, offBody+6+15+1, 0, 0, 0, 5)), "leaf", ErrField},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeModelFor(tc.blob, nil)
			var me *ModelError
			if !errors.As(err, &me) || !errors.Is(err, tc.want) || me.Op != "decode" || me.Field != tc.field {
				t.Fatalf("err = %v, want a decode ModelError for field %q wrapping %v", err, tc.field, tc.want)
			}
		})
	}
}

// TestEncodeModelRejects checks that a model a decoder would refuse is
// not encoded either.
func TestEncodeModelRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(m *MAD)
	}{
		{"NaN weight", func(m *MAD) { m.center[1] = math.NaN() }},
		{"zero scale", func(m *MAD) { m.scale[0] = 0 }},
		{"threshold 0", func(m *MAD) { m.threshold = 0 }},
		{"long name", func(m *MAD) { m.name = strings.Repeat("x", MaxNameLen+1) }},
		{"infinite cut", func(m *MAD) { m.cal.cut = math.Inf(1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tinyModels()[KindMAD].(*MAD)
			tc.mod(m)
			if b, err := m.MarshalBinary(); err == nil {
				t.Fatalf("encoded %x", b)
			}
		})
	}
}
