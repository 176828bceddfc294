package anomaly

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"unicode/utf8"
)

// Model blob format constants (see the package doc for the layout).
const (
	// ModelVersion is the format version this package writes and reads.
	ModelVersion = 1
	// MaxModelSize bounds a model blob; the decoder refuses longer ones
	// before reading them.
	MaxModelSize = 8 << 20
	// MaxNameLen bounds a model's name, in bytes.
	MaxNameLen = 64
)

// modelMagic starts every model blob.
var modelMagic = [4]byte{'x', '0', 'a', 'm'}

// Sizes of the fixed parts of a blob.
const (
	headerSize  = 4 + 1 + 1 + 2 + 32 + 1 // up to the name
	trailerSize = sha256.Size
)

// Digest returns the SHA-256 of a model blob, the name by which governance
// adopts it (what sha256sum prints for the file).
func Digest(blob []byte) [32]byte { return sha256.Sum256(blob) }

// DigestHex returns Digest in lower-case hexadecimal.
func DigestHex(blob []byte) string {
	d := Digest(blob)
	return hex.EncodeToString(d[:])
}

// encoder appends the parts of a blob.
type encoder struct{ b []byte }

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16) { e.b = binary.BigEndian.AppendUint16(e.b, v) }
func (e *encoder) u32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *encoder) f64(v float64) {
	e.b = binary.BigEndian.AppendUint64(e.b, math.Float64bits(v))
}
func (e *encoder) f64s(vs []float64) {
	for _, v := range vs {
		e.f64(v)
	}
}

// encodeModel writes the common header of m, then body, then the
// checksum.
func encodeModel(kind Kind, m *model, body func(e *encoder) error) ([]byte, error) {
	fail := func(field string, err error) ([]byte, error) {
		return nil, &ModelError{Op: "encode", Field: field, Err: err}
	}
	fn, fe := m.norm.dims()
	switch {
	case len(m.name) > MaxNameLen || !utf8.ValidString(m.name):
		return fail("name", ErrField)
	case !(m.threshold > 0 && m.threshold < 1):
		return fail("threshold", ErrField)
	case !isFinite(m.cal.cut) || !(m.cal.spread > 0) || !isFinite(m.cal.spread):
		return fail("calibration", ErrField)
	case fn < 1 || fn > maxNodeFeature || fe < 1 || fe > maxLinkFeature ||
		len(m.norm.NodeScale) != fn || len(m.norm.LinkScale) != fe:
		return fail("dimensions", ErrField)
	}
	e := &encoder{b: make([]byte, 0, 1024)}
	e.b = append(e.b, modelMagic[:]...)
	e.u8(ModelVersion)
	e.u8(uint8(kind))
	e.u16(0)
	e.b = append(e.b, m.schema[:]...)
	e.u8(uint8(len(m.name)))
	e.b = append(e.b, m.name...)
	e.f64(m.threshold)
	e.f64(m.cal.cut)
	e.f64(m.cal.spread)
	e.u16(uint16(fn))
	e.u16(uint16(fe))
	for f := range fn {
		e.f64(m.norm.NodeCenter[f])
		e.f64(m.norm.NodeScale[f])
	}
	for f := range fe {
		e.f64(m.norm.LinkCenter[f])
		e.f64(m.norm.LinkScale[f])
	}
	if err := body(e); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(e.b)
	e.b = append(e.b, sum[:]...)
	if len(e.b) > MaxModelSize {
		return fail("", ErrTooLarge)
	}
	// The blob must read back as it was written: the rules the decoder
	// applies to values (finite weights, positive scales) are checked
	// here by running it.
	if _, err := decodeModel(e.b, nil); err != nil {
		return fail("", err)
	}
	return e.b, nil
}

// MarshalBinary encodes the model.
func (g *GraphSAGE) MarshalBinary() ([]byte, error) {
	return encodeModel(KindGraphSAGE, &g.model, func(e *encoder) error {
		e.u16(uint16(g.h1))
		e.u16(uint16(g.h2))
		e.f64s(g.p)
		return nil
	})
}

// MarshalBinary encodes the model.
func (d *MAD) MarshalBinary() ([]byte, error) {
	return encodeModel(KindMAD, &d.model, func(e *encoder) error {
		for f := range d.center {
			e.f64(d.center[f])
			e.f64(d.scale[f])
		}
		return nil
	})
}

// MarshalBinary encodes the model (not the nodes' histories).
func (d *EWMA) MarshalBinary() ([]byte, error) {
	return encodeModel(KindEWMA, &d.model, func(e *encoder) error {
		e.f64(d.alpha)
		e.u16(uint16(d.warmup))
		e.f64s(d.floor)
		return nil
	})
}

// MarshalBinary encodes the model.
func (d *IsolationForest) MarshalBinary() ([]byte, error) {
	return encodeModel(KindIsolationForest, &d.model, func(e *encoder) error {
		e.u16(uint16(d.subsample))
		e.u16(uint16(len(d.trees)))
		for _, t := range d.trees {
			e.u16(uint16(len(t)))
			for _, n := range t {
				if n.feature < 0 {
					e.u8(0)
					e.u32(n.size)
					continue
				}
				e.u8(1)
				e.u16(uint16(n.feature))
				e.f64(n.split)
				e.u16(n.left)
				e.u16(n.right)
			}
		}
		return nil
	})
}

// decoder reads a blob, remembering the first failure.
type decoder struct {
	b     []byte
	off   int
	field string
	err   error
}

func (d *decoder) fail(field string, err error) {
	if d.err == nil {
		d.field, d.err = field, err
	}
}

// take returns the next n bytes, or nil after a failure.
func (d *decoder) take(field string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.fail(field, ErrTruncated)
		return nil
	}
	s := d.b[d.off : d.off+n]
	d.off += n
	return s
}

// room checks that count items of at least size bytes each can follow,
// before anything is allocated for them.
func (d *decoder) room(field string, count, size int) bool {
	if d.err == nil && count*size > len(d.b)-d.off {
		d.fail(field, ErrTruncated)
	}
	return d.err == nil
}

func (d *decoder) u8(field string) uint8 {
	if s := d.take(field, 1); s != nil {
		return s[0]
	}
	return 0
}

func (d *decoder) u16(field string) uint16 {
	if s := d.take(field, 2); s != nil {
		return binary.BigEndian.Uint16(s)
	}
	return 0
}

func (d *decoder) u32(field string) uint32 {
	if s := d.take(field, 4); s != nil {
		return binary.BigEndian.Uint32(s)
	}
	return 0
}

// f64 reads a finite float64.
func (d *decoder) f64(field string) float64 {
	s := d.take(field, 8)
	if s == nil {
		return 0
	}
	v := math.Float64frombits(binary.BigEndian.Uint64(s))
	if !isFinite(v) {
		d.fail(field, ErrField)
		return 0
	}
	return v
}

// positive reads a finite float64 greater than zero.
func (d *decoder) positive(field string) float64 {
	v := d.f64(field)
	if d.err == nil && !(v > 0) {
		d.fail(field, ErrField)
	}
	return v
}

// f64s reads n finite float64s.
func (d *decoder) f64s(field string, n int) []float64 {
	if !d.room(field, n, 8) {
		return nil
	}
	vs := make([]float64, n)
	for i := range vs {
		vs[i] = d.f64(field)
	}
	return vs
}

// DecodeModel decodes a model blob made for CurrentSchema. It refuses,
// with a *ModelError wrapping one of ErrTooLarge, ErrTruncated, ErrLength,
// ErrMagic, ErrVersion, ErrKind, ErrSchema, ErrChecksum and ErrField, any
// blob that does not follow the format to the letter; a blob it accepts
// re-encodes to the same bytes.
func DecodeModel(blob []byte) (Detector, error) {
	return decodeModel(blob, &CurrentSchema)
}

// DecodeModelFor is DecodeModel for the given schema; nil accepts any
// schema, with any dimensions.
func DecodeModelFor(blob []byte, schema *Schema) (Detector, error) {
	return decodeModel(blob, schema)
}

func decodeModel(blob []byte, schema *Schema) (Detector, error) {
	det, field, err := decodeBlob(blob, schema)
	if err != nil {
		return nil, &ModelError{Op: "decode", Field: field, Err: err}
	}
	return det, nil
}

func decodeBlob(blob []byte, schema *Schema) (Detector, string, error) {
	switch {
	case len(blob) > MaxModelSize:
		return nil, "", ErrTooLarge
	case len(blob) < len(modelMagic):
		return nil, "", ErrTruncated
	case !bytes.Equal(blob[:4], modelMagic[:]):
		return nil, "magic", ErrMagic
	case len(blob) < 5:
		return nil, "", ErrTruncated
	case blob[4] != ModelVersion:
		return nil, "version", ErrVersion
	case len(blob) < headerSize+trailerSize:
		return nil, "", ErrTruncated
	}
	body, sum := blob[:len(blob)-trailerSize], blob[len(blob)-trailerSize:]
	if want := sha256.Sum256(body); !bytes.Equal(sum, want[:]) {
		return nil, "checksum", ErrChecksum
	}
	d := &decoder{b: body, off: 5}
	kind := Kind(d.u8("kind"))
	if kind < KindGraphSAGE || kind > KindIsolationForest {
		return nil, "kind", ErrKind
	}
	if d.u16("reserved") != 0 {
		return nil, "reserved", ErrField
	}
	var m model
	copy(m.schema[:], d.take("schema", 32))
	if schema != nil && m.schema != schema.Hash() {
		return nil, "schema", ErrSchema
	}
	nameLen := int(d.u8("name"))
	if nameLen > MaxNameLen {
		return nil, "name", ErrTooLarge
	}
	name := d.take("name", nameLen)
	if d.err == nil && !utf8.Valid(name) {
		return nil, "name", ErrField
	}
	m.name = string(name)
	m.threshold = d.f64("threshold")
	if d.err == nil && !(m.threshold > 0 && m.threshold < 1) {
		return nil, "threshold", ErrField
	}
	m.cal.cut = d.f64("calibration")
	m.cal.spread = d.positive("calibration")
	fn, fe := int(d.u16("dimensions")), int(d.u16("dimensions"))
	if d.err == nil {
		switch {
		case fn < 1 || fe < 1:
			return nil, "dimensions", ErrField
		case fn > maxNodeFeature || fe > maxLinkFeature:
			return nil, "dimensions", ErrTooLarge
		case schema != nil && (fn != len(schema.Node) || fe != len(schema.Link)):
			return nil, "dimensions", ErrSchema
		}
	}
	if !d.room("normaliser", fn+fe, 16) {
		return nil, d.field, d.err
	}
	m.norm = Normaliser{
		NodeCenter: make([]float64, fn), NodeScale: make([]float64, fn),
		LinkCenter: make([]float64, fe), LinkScale: make([]float64, fe),
	}
	for f := range fn {
		m.norm.NodeCenter[f] = d.f64("normaliser")
		m.norm.NodeScale[f] = d.positive("normaliser")
	}
	for f := range fe {
		m.norm.LinkCenter[f] = d.f64("normaliser")
		m.norm.LinkScale[f] = d.positive("normaliser")
	}
	if d.err != nil {
		return nil, d.field, d.err
	}
	var det Detector
	switch kind {
	case KindGraphSAGE:
		det = decodeGraphSAGE(d, m)
	case KindMAD:
		det = decodeMAD(d, m)
	case KindEWMA:
		det = decodeEWMA(d, m)
	case KindIsolationForest:
		det = decodeForest(d, m)
	}
	switch {
	case d.err != nil:
		return nil, d.field, d.err
	case d.off != len(body):
		return nil, "", ErrLength
	}
	return det, "", nil
}

func decodeGraphSAGE(d *decoder, m model) Detector {
	h1, h2 := int(d.u16("hidden")), int(d.u16("hidden"))
	if d.err != nil {
		return nil
	}
	if h1 < 1 || h2 < 1 || h1 > maxHidden || h2 > maxHidden {
		d.fail("hidden", ErrField)
		return nil
	}
	fn, fe := m.norm.dims()
	p := d.f64s("weights", numParams(fn, fe, h1, h2))
	return &GraphSAGE{model: m, h1: h1, h2: h2, p: p}
}

func decodeMAD(d *decoder, m model) Detector {
	dim := m.flatDim()
	if !d.room("mad", dim, 16) {
		return nil
	}
	det := &MAD{model: m, center: make([]float64, dim), scale: make([]float64, dim)}
	for f := range dim {
		det.center[f] = d.f64("mad")
		det.scale[f] = d.positive("mad")
	}
	return det
}

func decodeEWMA(d *decoder, m model) Detector {
	alpha := d.positive("alpha")
	if d.err == nil && alpha > 1 {
		d.fail("alpha", ErrField)
	}
	warmup := int(d.u16("warmup"))
	dim := m.flatDim()
	if !d.room("floor", dim, 8) {
		return nil
	}
	floor := make([]float64, dim)
	for f := range floor {
		floor[f] = d.positive("floor")
	}
	return &EWMA{model: m, alpha: alpha, warmup: warmup, floor: floor}
}

func decodeForest(d *decoder, m model) Detector {
	psi, count := int(d.u16("subsample")), int(d.u16("trees"))
	if d.err != nil {
		return nil
	}
	switch {
	case psi < 1 || count < 1:
		d.fail("trees", ErrField)
		return nil
	case psi > maxSubsample || count > maxTrees:
		d.fail("trees", ErrTooLarge)
		return nil
	}
	dim := m.flatDim()
	// A tree has at least one node of at least 5 bytes.
	if !d.room("trees", count, 2+5) {
		return nil
	}
	forest := make([]itree, count)
	for t := range forest {
		n := int(d.u16("tree"))
		switch {
		case d.err != nil:
			return nil
		case n < 1:
			d.fail("tree", ErrField)
			return nil
		case n > 2*psi-1:
			d.fail("tree", ErrTooLarge)
			return nil
		}
		if !d.room("tree", n, 5) {
			return nil
		}
		tree := make(itree, n)
		for i := range tree {
			switch d.u8("tree node") {
			case 0:
				size := d.u32("leaf")
				if d.err == nil && (size > uint32(psi)) {
					d.fail("leaf", ErrField)
				}
				tree[i] = inode{feature: -1, size: size}
			case 1:
				f := int(d.u16("split"))
				split := d.f64("split")
				l, r := int(d.u16("split")), int(d.u16("split"))
				// Children come after their parent: every path ends.
				if d.err == nil && (f >= dim || l <= i || r <= i || l >= n || r >= n) {
					d.fail("split", ErrField)
				}
				tree[i] = inode{feature: int32(f), split: split, left: uint16(l), right: uint16(r)}
			default:
				d.fail("tree node", ErrField)
			}
			if d.err != nil {
				return nil
			}
		}
		forest[t] = tree
	}
	return &IsolationForest{model: m, subsample: psi, trees: forest}
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
