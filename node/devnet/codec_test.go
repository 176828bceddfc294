package devnet

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestMessageEncoding(t *testing.T) {
	tests := []struct {
		m    Message
		want string
	}{
		{Message{Seq: 1, SentUnix: 0}, "01" + "0000000000000001" + "0000000000000000"},
		{Message{Seq: 0x0102030405060708, SentUnix: -1}, "01" + "0102030405060708" + "ffffffffffffffff"},
	}
	for _, tt := range tests {
		got := hex.EncodeToString(tt.m.Marshal())
		if got != tt.want {
			t.Errorf("Marshal(%+v) = %s, want %s", tt.m, got, tt.want)
		}
		back, err := UnmarshalMessage(tt.m.Marshal())
		if err != nil || back != tt.m {
			t.Errorf("round trip %+v = %+v, %v", tt.m, back, err)
		}
	}
	bad := []string{"", "01", "02" + "0000000000000001" + "0000000000000000", "01" + "0000000000000000" + "0000000000000000", "01" + "0000000000000001" + "000000000000000000"}
	for _, h := range bad {
		b, _ := hex.DecodeString(h)
		if _, err := UnmarshalMessage(b); !errors.Is(err, ErrBadMessage) {
			t.Errorf("UnmarshalMessage(%s) = %v, want ErrBadMessage", h, err)
		}
	}
}

func FuzzUnmarshalMessage(f *testing.F) {
	f.Add(Message{Seq: 1, SentUnix: 42}.Marshal())
	f.Add([]byte{})
	f.Add([]byte{2, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := UnmarshalMessage(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !bytes.Equal(m.Marshal(), b) {
			t.Fatalf("re-encoding %x gave %x", b, m.Marshal())
		}
	})
}

func testKey(t testing.TB) (crypto.PrivKey, peer.ID) {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	return k, id
}

func TestRecord(t *testing.T) {
	key, id := testKey(t)
	otherKey, otherID := testKey(t)
	sealed, err := SealRecord(Record{Seq: 3, Value: []byte("v3")}, key)
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenRecord(RecordKey(id), sealed)
	if err != nil || r.Seq != 3 || string(r.Value) != "v3" {
		t.Fatalf("open = %+v, %v", r, err)
	}
	forged, _ := SealRecord(Record{Seq: 9, Value: []byte("mine")}, otherKey)
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	bad := []struct {
		name  string
		key   string
		value []byte
	}{
		{"signed by another peer", RecordKey(id), forged},
		{"tampered", RecordKey(id), tampered},
		{"wrong namespace", "/x0other/" + id.String(), sealed},
		{"not a peer id", "/" + Namespace + "/nobody", sealed},
		{"garbage", RecordKey(id), []byte("garbage")},
		{"oversized", RecordKey(id), make([]byte, maxEnvelope+1)},
	}
	for _, tt := range bad {
		if _, err := OpenRecord(tt.key, tt.value); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: err = %v, want ErrBadRecord", tt.name, err)
		}
	}
	if _, err := SealRecord(Record{Value: make([]byte, MaxRecordValue+1)}, key); !errors.Is(err, ErrBadRecord) {
		t.Errorf("sealing an oversized value: %v", err)
	}
	v := RecordValidator{}
	newer, _ := SealRecord(Record{Seq: 4}, key)
	i, err := v.Select(RecordKey(id), [][]byte{sealed, forged, newer, tampered})
	if err != nil || i != 2 {
		t.Errorf("Select = %d, %v; want 2", i, err)
	}
	if _, err := v.Select(RecordKey(otherID), [][]byte{sealed}); err == nil {
		t.Error("Select with no valid value succeeded")
	}
}

func FuzzOpenRecord(f *testing.F) {
	key, id := testKey(f)
	sealed, err := SealRecord(Record{Seq: 1, Value: []byte("seed")}, key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed)
	f.Add([]byte{})
	f.Add(sealed[:len(sealed)/2])
	k := RecordKey(id)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := OpenRecord(k, b)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// A valid record re-seals to one that opens to the same payload.
		again, err := SealRecord(r, key)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := OpenRecord(k, again)
		if err != nil || r2.Seq != r.Seq || !bytes.Equal(r2.Value, r.Value) {
			t.Fatalf("round trip %+v -> %+v, %v", r, r2, err)
		}
	})
}

func FuzzRecordPayload(f *testing.F) {
	b, _ := (&Record{Seq: 7, Value: []byte("x")}).MarshalRecord()
	f.Add(b)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		if err := r.UnmarshalRecord(b); err != nil {
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		out, err := r.MarshalRecord()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("re-encoding %x gave %x, %v", b, out, err)
		}
	})
}
