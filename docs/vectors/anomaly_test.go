package vectors

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// anomalyFile is anomaly.json: the anomaly layer's formats, anomaly
// score messages, federated-learning update announcements and model
// blobs (docs/gossip.md sections 3 to 5).
type anomalyFile struct {
	Scores    gossipFile   `json:"scores"`
	FLUpdates gossipFile   `json:"fl_updates"`
	Models    modelSection `json:"models"`
}

// modelSection: model blobs, the valid ones with their header fields and
// digest, and refusals as splices of the first (see recordReject).
type modelSection struct {
	Format  string        `json:"format"`
	Spec    string        `json:"spec"`
	Package string        `json:"errors_package"`
	Valid   []modelVector `json:"valid"`
	Invalid []modelReject `json:"invalid"`
	// DHT: the /x0model/ validator on the first valid blob under each key.
	DHT []modelKeyVector `json:"dht"`
}

type modelKeyVector struct {
	Name  string `json:"name"`
	Key   string `json:"key"`
	Error string `json:"error"`
}

type modelVector struct {
	Name      string  `json:"name"`
	Kind      uint8   `json:"kind"`
	ModelName string  `json:"model_name"`
	Threshold float64 `json:"threshold"`
	Digest    string  `json:"digest"`
	Hex       string  `json:"hex"`
}

// modelReject: the splice of the first valid blob, after which, if
// Reseal, the last 32 bytes are replaced by the SHA-256 of the others (so
// that the change meets its own rule rather than the checksum's).
type modelReject struct {
	Name   string `json:"name"`
	Offset int    `json:"offset"`
	Delete int    `json:"delete"`
	Insert string `json:"insert"`
	Reseal bool   `json:"reseal"`
	Error  string `json:"error"`
	Field  string `json:"field"`
}

var modelErrors = map[string]error{
	"ErrTooLarge": anomaly.ErrTooLarge, "ErrTruncated": anomaly.ErrTruncated, "ErrLength": anomaly.ErrLength,
	"ErrMagic": anomaly.ErrMagic, "ErrVersion": anomaly.ErrVersion, "ErrKind": anomaly.ErrKind,
	"ErrSchema": anomaly.ErrSchema, "ErrChecksum": anomaly.ErrChecksum, "ErrField": anomaly.ErrField,
}

// reseal replaces a blob's trailing SHA-256 with that of its other bytes,
// so that a change inside it is judged by its own rule, not the checksum.
func reseal(b []byte) []byte {
	sum := sha256.Sum256(b[:len(b)-32])
	copy(b[len(b)-32:], sum[:])
	return b
}

func TestAnomaly(t *testing.T) {
	var doc anomalyFile
	doc.Scores = gossipFile{
		Format:  "anomaly score messages, version 1",
		Spec:    "docs/gossip.md section 3",
		Topic:   protocols.AnomalyTopic,
		Package: "github.com/x0tta6bl4/x0tta6bl4/protocols (every error is a *FrameError whose Field names the field, prefixed \"anomaly\")",
	}
	scorer := protocols.Addr{0x3d, 0xbd, 0x5e, 0xa9, 0x66, 0xfa, 0x9c, 0xee, 0xc5, 0xf4, 0x65, 0x15, 0x1b, 0x2b, 0xb6, 0xfb}
	subA := protocols.Addr{0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	subB := protocols.Addr{0x85, 0x21, 0x50, 0x50, 0x59, 0xcd, 0xd1, 0x1f, 0x27, 0x72, 0xff, 0xba, 0xfa, 0x33, 0xe8, 0xbf}
	m := &protocols.AnomalyScores{Scorer: scorer, Time: vectorTime, Seq: 3, Model: seed32("vectors/model"), Threshold: 0.62,
		Scores: []protocols.AnomalyScore{
			{Subject: subA, SubjectTime: vectorTime.Add(-time.Second), Score: 0.1234, Contributing: [3]uint8{4, 0, protocols.NoContribution}},
			{Subject: subB, SubjectTime: vectorTime.Add(-2 * time.Second), Score: 0.9, Contributing: [3]uint8{7, 2, 11}},
		}}
	none := &protocols.AnomalyScores{Scorer: scorer, Time: vectorTime, Seq: 1, Model: seed32("vectors/model"), Threshold: 0.5}
	var two []byte
	doc.Scores.Valid, two = gossipValid(t, "anomaly", []namedMessage{{"two scores", m}, {"no scores", none}})
	set := func(off int, v ...byte) []byte { b := bytes.Clone(two); copy(b[off:], v); return b }
	s0, s1 := protocols.AnomalyHeaderSize, protocols.AnomalyHeaderSize+protocols.AnomalyScoreSize
	newMsg := func() gossipMessage { return new(protocols.AnomalyScores) }
	doc.Scores.Invalid = gossipRejects(t, newMsg, []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version 2", set(0, 2)},
		{"header cut", two[:protocols.AnomalyHeaderSize-1]},
		{"reserved byte set", set(1, 1)},
		{"zero scorer", set(2, make([]byte, 16)...)},
		{"time 0", set(18, make([]byte, 8)...)},
		{"seq 0", set(26, 0, 0, 0, 0)},
		{"threshold 0", set(62, 0, 0)},
		{"threshold 1", set(62, 0x27, 0x10)},
		{"score count beyond the message", set(s0-1, 3)},
		{"trailing byte", append(bytes.Clone(two), 0)},
		{"subject time 0", set(s0+16, make([]byte, 8)...)},
		{"score over 1", set(s0+24, 0x27, 0x11)},
		{"subject is the scorer", set(s0, scorer[:]...)},
		{"subjects out of order", append(append(bytes.Clone(two[:s0]), two[s1:]...), two[s0:s1]...)},
		{"subject twice", append(bytes.Clone(two[:s1]), two[s0:s1]...)},
		{"contribution after NoContribution", set(s0+26, 0xff, 3)},
	})

	node := scorer
	u := &protocols.FLUpdate{Node: node, Time: vectorTime, Base: seed32("vectors/model"), Update: seed32("vectors/model update"), Samples: 1200}
	doc.FLUpdates = gossipFile{
		Format:  "federated-learning update announcements, version 1",
		Spec:    "docs/gossip.md section 4",
		Topic:   protocols.FLTopic,
		Package: "github.com/x0tta6bl4/x0tta6bl4/protocols (every error is a *FrameError whose Field names the field, prefixed \"fl update\")",
	}
	var one []byte
	doc.FLUpdates.Valid, one = gossipValid(t, "fl update", []namedMessage{{"an update", u}})
	setU := func(off int, v ...byte) []byte { b := bytes.Clone(one); copy(b[off:], v); return b }
	newU := func() gossipMessage { return new(protocols.FLUpdate) }
	doc.FLUpdates.Invalid = gossipRejects(t, newU, []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version 2", setU(0, 2)},
		{"one byte short", one[:protocols.FLUpdateSize-1]},
		{"one byte long", append(bytes.Clone(one), 0)},
		{"reserved byte set", setU(1, 1)},
		{"zero node", setU(2, make([]byte, 16)...)},
		{"time 0", setU(18, make([]byte, 8)...)},
		{"update = base", setU(58, one[26:58]...)},
		{"samples 0", setU(90, 0, 0, 0, 0)},
	})

	blob := anomaly.DefaultModelBlob()
	det, err := anomaly.DecodeModel(blob)
	if err != nil {
		t.Fatal(err)
	}
	doc.Models = modelSection{
		Format:  "anomaly model blobs, format 1 (stored in the DHT under /x0model/<SHA-256>)",
		Spec:    "docs/gossip.md section 5",
		Package: "github.com/x0tta6bl4/x0tta6bl4/healing/anomaly (every error is a *ModelError whose Field names the field)",
		Valid: []modelVector{{Name: "the default model (GraphSAGE)", Kind: uint8(det.Kind()), ModelName: det.Name(),
			Threshold: det.Threshold(), Digest: anomaly.DigestHex(blob), Hex: hexOf(blob)}},
	}
	editB := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(blob)) }
	for _, c := range []struct {
		name   string
		b      []byte
		reseal bool
	}{
		{"empty", nil, false},
		{"cut before the checksum", blob[:40], false},
		{"magic x0an", editB(func(b []byte) []byte { b[3] = 'n'; return b }), false},
		{"format version 2", editB(func(b []byte) []byte { b[4] = 2; return b }), false},
		{"a byte changed (checksum)", editB(func(b []byte) []byte { b[100] ^= 1; return b }), false},
		{"kind 5", editB(func(b []byte) []byte { b[5] = 5; return b }), true},
		{"reserved bytes set", editB(func(b []byte) []byte { b[6] = 1; return b }), true},
		{"another feature schema", editB(func(b []byte) []byte { b[8] ^= 1; return b }), true},
		{"trailing byte", append(bytes.Clone(blob), 0), true},
	} {
		b := bytes.Clone(c.b)
		if c.reseal {
			b = reseal(b)
		}
		_, err := anomaly.DecodeModel(b)
		var me *anomaly.ModelError
		if !errors.As(err, &me) {
			t.Fatalf("%s: DecodeModel = %v, want a *ModelError", c.name, err)
		}
		off, del, ins := splice(blob, c.b)
		doc.Models.Invalid = append(doc.Models.Invalid, modelReject{Name: c.name, Offset: off, Delete: del, Insert: hexOf(ins),
			Reseal: c.reseal, Error: errorName(t, err, modelErrors), Field: me.Field})
	}

	for _, c := range []struct{ name, key string }{
		{"under its SHA-256", anomaly.ModelKey(anomaly.Digest(blob))},
		{"under another digest", anomaly.ModelKey(seed32("vectors/model"))},
		{"under a key that is no digest", "/x0model/" + anomaly.DigestHex(blob)[:62]},
		{"outside the namespace", "/x0rec/" + anomaly.DigestHex(blob)},
	} {
		v := modelKeyVector{Name: c.name, Key: c.key}
		if err := (anomaly.ModelValidator{}).Validate(c.key, blob); err != nil {
			v.Error = errorName(t, err, map[string]error{"ErrModelKey": anomaly.ErrModelKey})
		}
		doc.Models.DHT = append(doc.Models.DHT, v)
	}

	var file anomalyFile
	load(t, golden(t, "anomaly.json", doc), &file)
	checkGossip(t, file.Scores, newMsg)
	checkGossip(t, file.FLUpdates, newU)
	base := unhex(t, file.Models.Valid[0].Hex)
	for _, v := range file.Models.Valid {
		b := unhex(t, v.Hex)
		det, err := anomaly.DecodeModel(b)
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		again, err := det.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) || anomaly.DigestHex(b) != v.Digest ||
			uint8(det.Kind()) != v.Kind || det.Name() != v.ModelName || det.Threshold() != v.Threshold {
			t.Errorf("%s: decoded model differs, or does not re-encode to its bytes (%v)", v.Name, err)
		}
		if err := (anomaly.ModelValidator{}).Validate(anomaly.ModelKey(anomaly.Digest(b)), b); err != nil {
			t.Errorf("%s: /x0model/ validator: %v", v.Name, err)
		}
	}
	for _, v := range file.Models.DHT {
		err := (anomaly.ModelValidator{}).Validate(v.Key, base)
		if (v.Error == "") != (err == nil) || err != nil && !errors.Is(err, anomaly.ErrModelKey) {
			t.Errorf("/x0model/ %s: Validate = %v, want %q", v.Name, err, v.Error)
		}
	}
	for _, v := range file.Models.Invalid {
		b := applySplice(base, v.Offset, v.Delete, unhex(t, v.Insert))
		if v.Reseal {
			b = reseal(b)
		}
		_, err := anomaly.DecodeModel(b)
		var me *anomaly.ModelError
		if !errors.Is(err, modelErrors[v.Error]) || !errors.As(err, &me) || me.Field != v.Field {
			t.Errorf("%s: DecodeModel = %v, want %s on field %q", v.Name, err, v.Error, v.Field)
		}
	}
}
