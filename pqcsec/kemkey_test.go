package pqcsec

import (
	"bytes"
	"crypto/ecdh"
	"crypto/mlkem"
	"errors"
	"testing"
	"time"
)

// Every listed small-order key makes X25519 output zero (crypto/ecdh then
// refuses the exchange), so the list holds no typo.
func TestX25519SmallOrderList(t *testing.T) {
	priv, err := ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range x25519SmallOrder {
		pub, err := ecdh.X25519().NewPublicKey(u[:])
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if _, err := priv.ECDH(pub); err == nil {
			t.Errorf("entry %d (%x) is not of small order: X25519 gave a non-zero secret", i, u)
		}
		if !x25519Canonical(u[:]) {
			t.Errorf("entry %d (%x) is not canonical", i, u)
		}
	}
}

// badX25519 lists X25519 keys every decoder must refuse: the small-order
// points, non-canonical encodings (p, p + 1, 2^255 − 1) and a valid key
// with the top bit set (the same point to X25519, another encoding here).
func badX25519(valid []byte) map[string][]byte {
	bad := map[string][]byte{}
	for i, u := range x25519SmallOrder {
		bad[[]string{"zero", "one", "p-1", "order 8 (a)", "order 8 (b)"}[i]] = bytes.Clone(u[:])
	}
	p := append([]byte{0xed}, bytes.Repeat([]byte{0xff}, 30)...)
	bad["p"] = append(bytes.Clone(p), 0x7f)
	bad["p+1"] = append(append([]byte{0xee}, p[1:]...), 0x7f)
	bad["2^255-1"] = append(bytes.Repeat([]byte{0xff}, 31), 0x7f)
	top := bytes.Clone(valid)
	top[31] |= 0x80
	bad["top bit set"] = top
	return bad
}

// A key set, a first handshake message or a validly signed record whose
// X25519 key is invalid is refused at parse time with ErrMalformed (issue
// 19: such keys used to pass and fail later in encapsulation, with an
// untyped error, and such a record passed the DHT validator although no
// handshake with it could succeed).
func TestInvalidX25519Refused(t *testing.T) {
	withoutMemos(t)
	a, b := testIdentity(t, 1), testIdentity(t, 2)
	keys, _ := a.PublicKeys().MarshalBinary()
	x := len(keys) - 32 // the X25519 key ends the set
	_, init, err := NewInitiator(HandshakeConfig{Identity: a, Rand: testRand(3)}, b.PeerID(), t0)
	if err != nil {
		t.Fatal(err)
	}
	v := RecordValidator{Now: func() time.Time { return t0 }}
	for name, u := range badX25519(keys[x:]) {
		t.Run(name, func(t *testing.T) {
			k := append(bytes.Clone(keys[:x]), u...)
			if _, err := ParsePublicKeys(k); !errors.Is(err, ErrMalformed) {
				t.Errorf("key set: %v, want ErrMalformed", err)
			}

			m := append(bytes.Clone(init[:len(init)-32]), u...)
			r, err := NewResponder(HandshakeConfig{Identity: b, Rand: testRand(4)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Step(m, t0); !errors.Is(err, ErrMalformed) {
				t.Errorf("init: %v, want ErrMalformed", err)
			}
			if _, err := r.Step(init, t0); err != nil {
				t.Errorf("the refused init changed the responder: the genuine one fails: %v", err)
			}

			// A record a signed itself, carrying the bad key.
			body := appendRecordBody(nil, &recordFields{keys: k, version: 9, expiry: t0.Add(time.Hour),
				spiffeID: a.Record().SPIFFEID().String()})
			rec := append(body, a.sign(domainRecord, body)...)
			if err := v.Validate(RecordKey(a.PeerID()), rec); !errors.Is(err, ErrMalformed) {
				t.Errorf("record: %v, want ErrMalformed", err)
			}
		})
	}
	if _, err := ParsePublicKeys(keys); err != nil {
		t.Errorf("the genuine key set: %v", err)
	}
}

func TestCheckKEMKeyLength(t *testing.T) {
	for _, n := range []int{0, mlkem.EncapsulationKeySize768, KEMPublicKeySize - 1, KEMPublicKeySize + 1} {
		if err := checkKEMKey(make([]byte, n)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
}
