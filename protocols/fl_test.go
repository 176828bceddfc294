package protocols

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

func flUpdate() *FLUpdate {
	return &FLUpdate{Node: addrA, Time: time.Unix(1700000000, 5).UTC(), Base: [32]byte{1, 2}, Update: [32]byte{3, 4}, Samples: 1234}
}

func TestFLUpdate(t *testing.T) {
	u := flUpdate()
	b, err := u.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != FLUpdateSize || b[0] != FLUpdateVersion || b[1] != 0 {
		t.Fatalf("encoding of %d bytes starting %x", len(b), b[:2])
	}
	var back FLUpdate
	if err := back.Decode(b); err != nil || !reflect.DeepEqual(&back, u) {
		t.Fatalf("decode = %+v, %v; want %+v", back, err, u)
	}
	for _, tc := range []struct {
		name string
		mut  func(*FLUpdate)
	}{
		{"zero node", func(u *FLUpdate) { u.Node = Addr{} }},
		{"no time", func(u *FLUpdate) { u.Time = time.Time{} }},
		{"update is the base", func(u *FLUpdate) { u.Update = u.Base }},
		{"no samples", func(u *FLUpdate) { u.Samples = 0 }},
	} {
		bad := flUpdate()
		tc.mut(bad)
		if _, err := bad.MarshalBinary(); !errors.Is(err, ErrField) {
			t.Errorf("encode with %s: %v, want ErrField", tc.name, err)
		}
	}
	for _, tc := range []struct {
		name string
		msg  []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"short", b[:FLUpdateSize-1], ErrTruncated},
		{"long", append(bytes.Clone(b), 0), ErrTooLarge},
		{"version", append([]byte{2}, b[1:]...), ErrVersion},
		{"reserved", append([]byte{1, 1}, b[2:]...), ErrReserved},
	} {
		var u FLUpdate
		if err := u.Decode(tc.msg); !errors.Is(err, tc.want) {
			t.Errorf("decode %s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// FuzzFLUpdateDecode feeds arbitrary bytes, as a peer could gossip them
// on FLTopic, to the decoder: it must fail with a decode *FrameError or
// succeed with an announcement that re-encodes to the same bytes.
func FuzzFLUpdateDecode(f *testing.F) {
	b, err := flUpdate().MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:40])
	f.Add(append(bytes.Clone(b), 9))
	f.Add([]byte{FLUpdateVersion})
	f.Fuzz(func(t *testing.T, msg []byte) {
		var u FLUpdate
		if err := u.Decode(msg); err != nil {
			checkDecodeError(t, err)
			return
		}
		enc, err := u.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encode of a decoded announcement: %v", err)
		}
		if !bytes.Equal(enc, msg) {
			t.Fatalf("re-encode =\n%x\nwant\n%x", enc, msg)
		}
	})
}
