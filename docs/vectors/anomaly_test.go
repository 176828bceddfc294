package vectors

import (
	"bytes"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

func TestAnomaly(t *testing.T) {
	doc := gossipFile{
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
	doc.Valid, two = gossipValid(t, "anomaly", []namedMessage{{"two scores", m}, {"no scores", none}})
	set := func(off int, v ...byte) []byte { b := bytes.Clone(two); copy(b[off:], v); return b }
	s0, s1 := protocols.AnomalyHeaderSize, protocols.AnomalyHeaderSize+protocols.AnomalyScoreSize
	newMsg := func() gossipMessage { return new(protocols.AnomalyScores) }
	doc.Invalid = gossipRejects(t, newMsg, []struct {
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

	var file gossipFile
	load(t, golden(t, "anomaly.json", doc), &file)
	checkGossip(t, file, newMsg)
}
