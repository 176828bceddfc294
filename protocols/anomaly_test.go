package protocols

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sampleAnomaly is a message with two scores, one naming three
// contributing features and one naming one.
func sampleAnomaly() *AnomalyScores {
	return &AnomalyScores{
		Scorer: addrA, Time: time.Unix(1700000000, 123456789).UTC(), Seq: 7,
		Model: [32]byte{0xde, 0xad, 31: 0x01}, Threshold: 0.6,
		Scores: []AnomalyScore{
			{Subject: addrB, SubjectTime: time.Unix(1700000000, 0).UTC(), Score: 0.9876, Contributing: [3]uint8{19, 33, 2}},
			{Subject: addrC, SubjectTime: time.Unix(1699999999, 500).UTC(), Score: 0.0123,
				Contributing: [3]uint8{4, NoContribution, NoContribution}},
		},
	}
}

const sampleAnomalyHex = `
	01 00 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf 17979cfe3d85cd15 00000007
	dead000000000000000000000000000000000000000000000000000000000001 1770 02
	b0b1b2b3b4b5b6b7b8b9babbbcbdbebf 17979cfe362a0000 2694 132102
	c0c1c2c3c4c5c6c7c8c9cacbcccdcecf 17979cfdfa8f37f4 007b 04ffff`

func TestAnomalyEncoding(t *testing.T) {
	m := sampleAnomaly()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := hex.DecodeString(strings.Join(strings.Fields(sampleAnomalyHex), ""))
	if !bytes.Equal(b, want) {
		t.Fatalf("encoding =\n%x\nwant\n%x", b, want)
	}
	if len(b) != m.Size() || m.Size() != AnomalySize(2) {
		t.Fatalf("%d bytes, Size %d", len(b), m.Size())
	}
	var back AnomalyScores
	if err := back.Decode(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, m) {
		t.Fatalf("decode =\n%+v\nwant\n%+v", back, *m)
	}
	if s, ok := back.Score(addrC); !ok || s.Score != 0.0123 {
		t.Errorf("Score(c) = %+v, %v", s, ok)
	}
	if _, ok := back.Score(addrA); ok {
		t.Error("Score found the scorer itself")
	}
	if MaxAnomalySize != 7460 {
		t.Errorf("MaxAnomalySize %d", MaxAnomalySize)
	}
}

func TestAnomalyRejects(t *testing.T) {
	good, err := sampleAnomaly().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	set := func(off int, v ...byte) []byte {
		b := bytes.Clone(good)
		copy(b[off:], v)
		return b
	}
	entry := AnomalyHeaderSize
	for _, tc := range []struct {
		name  string
		msg   []byte
		field string
		want  error
	}{
		{"empty", nil, "anomaly", ErrTruncated},
		{"version 2", set(0, 2), "anomaly version", ErrVersion},
		{"header cut", good[:40], "anomaly", ErrTruncated},
		{"too large", make([]byte, MaxAnomalySize+1), "anomaly", ErrTooLarge},
		{"score cut", good[:len(good)-1], "anomaly scores", ErrTruncated},
		{"trailing byte", append(bytes.Clone(good), 0), "anomaly scores", ErrLength},
		{"reserved", set(1, 1), "anomaly reserved", ErrReserved},
		{"zero scorer", set(2, make([]byte, 16)...), "anomaly scorer", ErrField},
		{"time 0", set(18, 0, 0, 0, 0, 0, 0, 0, 0), "anomaly time", ErrField},
		{"negative time", set(18, 0x80), "anomaly time", ErrField},
		{"seq 0", set(26, 0, 0, 0, 0), "anomaly seq", ErrField},
		{"threshold 0", set(62, 0, 0), "anomaly threshold", ErrField},
		{"threshold 1", set(62, 0x27, 0x10), "anomaly threshold", ErrField},
		{"zero subject", set(entry, make([]byte, 16)...), "anomaly subject", ErrField},
		{"subject is the scorer", set(entry, good[2:18]...), "anomaly subject", ErrField},
		{"subjects out of order", set(entry, good[entry+AnomalyScoreSize:entry+AnomalyScoreSize+16]...), "anomaly subject order", ErrField},
		{"subject time 0", set(entry+16, 0, 0, 0, 0, 0, 0, 0, 0), "anomaly subject time", ErrField},
		{"score above 1", set(entry+24, 0x27, 0x11), "anomaly score", ErrField},
		{"contribution after none", set(entry+26, NoContribution, 5), "anomaly contributing", ErrField},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m AnomalyScores
			err := m.Decode(tc.msg)
			var fe *FrameError
			if !errors.As(err, &fe) || !errors.Is(err, tc.want) || fe.Field != tc.field || fe.Op != "decode" {
				t.Fatalf("err = %v, want decode %q wrapping %v", err, tc.field, tc.want)
			}
		})
	}
}

func TestAnomalyEncodeRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mod   func(m *AnomalyScores)
		field string
	}{
		{"zero scorer", func(m *AnomalyScores) { m.Scorer = Addr{} }, "anomaly scorer"},
		{"seq 0", func(m *AnomalyScores) { m.Seq = 0 }, "anomaly seq"},
		{"time before the epoch", func(m *AnomalyScores) { m.Time = time.Unix(-1, 0) }, "anomaly time"},
		{"threshold 1", func(m *AnomalyScores) { m.Threshold = 1 }, "anomaly threshold"},
		{"threshold unrounded", func(m *AnomalyScores) { m.Threshold = 0.60001 }, "anomaly threshold"},
		{"score NaN", func(m *AnomalyScores) { m.Scores[0].Score = math.NaN() }, "anomaly score"},
		{"score above 1", func(m *AnomalyScores) { m.Scores[0].Score = 1.5 }, "anomaly score"},
		{"unsorted", func(m *AnomalyScores) { m.Scores[0], m.Scores[1] = m.Scores[1], m.Scores[0] }, "anomaly subject order"},
		{"self", func(m *AnomalyScores) { m.Scores[0].Subject = m.Scorer }, "anomaly subject"},
		{"subject time zero", func(m *AnomalyScores) { m.Scores[1].SubjectTime = time.Time{} }, "anomaly subject time"},
		{"too many", func(m *AnomalyScores) { m.Scores = make([]AnomalyScore, MaxAnomalyScores+1) }, "anomaly scores"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := sampleAnomaly()
			tc.mod(m)
			b, err := m.MarshalBinary()
			var fe *FrameError
			if !errors.As(err, &fe) || fe.Op != "encode" || fe.Field != tc.field || len(b) != 0 {
				t.Fatalf("encode = %x, %v; want an encode error on %q", b, err, tc.field)
			}
		})
	}
}

// anomalySeeds returns valid messages and near misses of each.
func anomalySeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, m := range []*AnomalyScores{sampleAnomaly(), {Scorer: addrB, Time: time.Unix(1, 0), Seq: 1, Threshold: 0.5}} {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("seed: %v", err)
		}
		out = append(out, b, b[:len(b)-1], append(bytes.Clone(b), 0))
	}
	return append(out, nil, []byte{AnomalyVersion})
}

// FuzzAnomalyDecode feeds arbitrary bytes, as a peer could gossip them,
// to the decoder: it must fail with a decode *FrameError or succeed with a
// message that re-encodes to the same bytes.
func FuzzAnomalyDecode(f *testing.F) {
	for _, b := range anomalySeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) > MaxAnomalySize+64 {
			t.Skip("input beyond any valid message")
		}
		var m AnomalyScores
		if err := m.Decode(msg); err != nil {
			checkDecodeError(t, err)
			return
		}
		enc, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encode of a decoded message: %v", err)
		}
		if !bytes.Equal(enc, msg) {
			t.Fatalf("re-encode =\n%x\nwant\n%x", enc, msg)
		}
		var again AnomalyScores
		if err := again.Decode(enc); err != nil || !reflect.DeepEqual(&m, &again) {
			t.Fatalf("decode(encode(m)) = %+v, %v; want %+v", again, err, m)
		}
	})
}

// FuzzAnomalyRoundTrip builds a message the way a scorer does (Round,
// then encode) from arbitrary scores: encoding must succeed and decode to
// the same message.
func FuzzAnomalyRoundTrip(f *testing.F) {
	f.Add(int64(1700000000123456789), uint32(7), 0.6, []byte{0xb0, 0x40, 0xc0, 0xff})
	f.Add(int64(1), uint32(1), math.NaN(), []byte{0, 0, 0xa0, 0x3f, 7, 200})
	f.Fuzz(func(t *testing.T, ns int64, seq uint32, threshold float64, scores []byte) {
		if ns <= 0 || seq == 0 || len(scores) > 2*MaxAnomalyScores {
			t.Skip("not a message a node could send")
		}
		m := &AnomalyScores{Scorer: addrA, Time: time.Unix(0, ns), Seq: seq, Threshold: threshold}
		seen := map[Addr]bool{addrA: true}
		for i := 0; i+1 < len(scores); i += 2 {
			var a Addr
			a[0], a[1] = scores[i], 1
			if seen[a] {
				continue
			}
			seen[a] = true
			s := AnomalyScore{Subject: a, SubjectTime: time.Unix(0, ns/2+1),
				Score: float64(scores[i+1]) / 200, Contributing: [3]uint8{scores[i+1], NoContribution, NoContribution}}
			m.Scores = append(m.Scores, s)
		}
		m.Round()
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("encode after Round: %v\n%+v", err, m)
		}
		var back AnomalyScores
		if err := back.Decode(b); err != nil {
			t.Fatalf("decode: %v", err)
		}
		m.Time = m.Time.UTC()
		for i := range m.Scores {
			m.Scores[i].SubjectTime = m.Scores[i].SubjectTime.UTC()
		}
		if !reflect.DeepEqual(m, &back) {
			t.Fatalf("decode(encode(m)) =\n%+v\nwant\n%+v", back, *m)
		}
	})
}
