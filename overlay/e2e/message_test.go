package e2e

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

func TestPlaintextEncoding(t *testing.T) {
	tests := []struct {
		name string
		p    Plaintext
		want string
	}{
		{"message", Plaintext{Kind: AppMessage, Payload: []byte("hi")}, "016869"},
		{"empty message", Plaintext{Kind: AppMessage, Payload: []byte{}}, "01"},
		{"ping", Plaintext{Kind: AppPing, ID: 0x0102030405060708}, "020102030405060708"},
		{"pong", Plaintext{Kind: AppPong, ID: 9, Hops: 5}, "03000000000000000905"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := AppendPlaintext(nil, tt.p)
			if err != nil || hex.EncodeToString(b) != tt.want {
				t.Fatalf("encoded %x, %v; want %s", b, err, tt.want)
			}
			got, err := ParsePlaintext(b)
			if err != nil || got.Kind != tt.p.Kind || got.ID != tt.p.ID || got.Hops != tt.p.Hops || !bytes.Equal(got.Payload, tt.p.Payload) {
				t.Errorf("decoded %+v, %v", got, err)
			}
		})
	}
	for _, bad := range []string{"", "04", "0201", "02010203040506070809", "030102"} {
		b, _ := hex.DecodeString(bad)
		if _, err := ParsePlaintext(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParsePlaintext(%s) = %v, want ErrMalformed", bad, err)
		}
	}
	if _, err := AppendPlaintext(nil, Plaintext{Kind: AppMessage, Payload: make([]byte, MaxPayloadSize+1)}); err == nil {
		t.Error("an oversized payload was encoded")
	}
	if MaxPlaintext+DataOverhead != protocols.MaxPayloadSize {
		t.Errorf("a maximal data message is %d bytes, a DATA payload at most %d", MaxPlaintext+DataOverhead, protocols.MaxPayloadSize)
	}
}

func TestEnvelopeLayout(t *testing.T) {
	id := SessionID{1, 2, 3, 4, 5, 6, 7, 8}
	var token [TokenSize]byte
	var cookie [CookieSize]byte
	for i := range token {
		token[i], cookie[i] = byte(0xa0+i), byte(0xc0+i)
	}
	for _, tt := range []struct {
		name string
		got  []byte
		want string
	}{
		{"unknown-session notice", appendUnknown(nil, id, token), "02050102030405060708" + "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"},
		{"cookie", appendCookie(nil, id, cookie), "02060102030405060708" + "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"},
	} {
		if got := hex.EncodeToString(tt.got); got != tt.want {
			t.Errorf("%s %s, want %s", tt.name, got, tt.want)
		}
		env, err := ParseEnvelope(tt.got)
		if err != nil || env.Session != id || !bytes.Equal(appendEnvelope(env), tt.got) {
			t.Errorf("%s parsed %+v, %v", tt.name, env, err)
		}
		if _, err := ParseEnvelope(tt.got[:len(tt.got)-1]); !errors.Is(err, ErrMalformed) {
			t.Errorf("a short %s parsed: %v", tt.name, err)
		}
	}
	net := newChanNet(t, 2, nil)
	a, b := net.nodes[0], net.nodes[1]
	_ = net.send(a, b, "x")
	kinds := map[Kind]int{}
	for _, w := range net.wire {
		env, err := ParseEnvelope(w)
		if err != nil {
			t.Fatal(err)
		}
		kinds[env.Kind]++
		if w[0] != Version || Kind(w[1]) != env.Kind || !bytes.Equal(w[2:HeaderSize], env.Session[:]) {
			t.Errorf("%s header %x", env.Kind, w[:HeaderSize])
		}
		if env.Kind == KindData && len(w) != DataOverhead+1 { // "x"
			t.Errorf("data message of %d bytes, want %d", len(w), DataOverhead+1)
		}
		if env.Kind == KindInit && len(w) != 1+pqcsec.InitSize {
			t.Errorf("init of %d bytes", len(w))
		}
		if env.Kind == KindToken && len(w) != TokenMessageSize {
			t.Errorf("token message of %d bytes, want %d", len(w), TokenMessageSize)
		}
	}
	if kinds[KindInit] != 1 || kinds[KindReply] != 1 || kinds[KindFinish] != 1 || kinds[KindData] != 1 || kinds[KindToken] != 2 {
		t.Errorf("packets by kind %v, want a token from each end", kinds)
	}
}
