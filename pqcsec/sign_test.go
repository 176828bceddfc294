package pqcsec

import (
	"bytes"
	"crypto/ed25519"
	"crypto/mlkem"
	"errors"
	"strings"
	"testing"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
)

func TestHybridSignature(t *testing.T) {
	a, b := testIdentity(t, 1), testIdentity(t, 2)
	msg := []byte("quadratic vote for proposal 7")
	sig, err := a.Sign("consensus/vote", msg)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig) != SignatureSize {
		t.Fatalf("signature is %d bytes, want %d", len(sig), SignatureSize)
	}
	other, _ := b.Sign("consensus/vote", msg)
	const edEnd = 1 + ed25519.SignatureSize
	edOf := func(s []byte) []byte { return s[1:edEnd] }
	dsaOf := func(s []byte) []byte { return s[edEnd:] }
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	flip := func(s []byte, at int) []byte { c := bytes.Clone(s); c[at] ^= 0x10; return c }

	for _, tc := range []struct {
		name   string
		pub    *PublicKeys
		domain string
		msg    []byte
		sig    []byte
		want   error // nil: must verify
	}{
		{"valid", a.PublicKeys(), "consensus/vote", msg, sig, nil},
		{"other domain", a.PublicKeys(), "consensus/proposal", msg, sig, ErrBadSignature},
		{"other message", a.PublicKeys(), "consensus/vote", append(bytes.Clone(msg), '!'), sig, ErrBadSignature},
		{"other signer's keys", b.PublicKeys(), "consensus/vote", msg, sig, ErrBadSignature},
		{"ed25519 half flipped", a.PublicKeys(), "consensus/vote", msg, flip(sig, 10), ErrBadSignature},
		{"ml-dsa half flipped", a.PublicKeys(), "consensus/vote", msg, flip(sig, edEnd+100), ErrBadSignature},
		{"ed25519 half zeroed", a.PublicKeys(), "consensus/vote", msg, join(sig[:1], make([]byte, 64), dsaOf(sig)), ErrBadSignature},
		{"ml-dsa half zeroed", a.PublicKeys(), "consensus/vote", msg, join(sig[:edEnd], make([]byte, mldsa65.SignatureSize)), ErrBadSignature},
		{"ed25519 half from another signer", a.PublicKeys(), "consensus/vote", msg, join(sig[:1], edOf(other), dsaOf(sig)), ErrBadSignature},
		{"ml-dsa half from another signer", a.PublicKeys(), "consensus/vote", msg, join(sig[:edEnd], dsaOf(other)), ErrBadSignature},
		{"ml-dsa half missing", a.PublicKeys(), "consensus/vote", msg, sig[:edEnd], ErrBadSignature},
		{"ed25519 half missing", a.PublicKeys(), "consensus/vote", msg, join(sig[:1], dsaOf(sig)), ErrBadSignature},
		{"classical suite", a.PublicKeys(), "consensus/vote", msg, join([]byte{0}, sig[1:]), ErrDowngrade},
		{"empty", a.PublicKeys(), "consensus/vote", msg, nil, ErrBadSignature},
		{"too long", a.PublicKeys(), "consensus/vote", msg, append(bytes.Clone(sig), 0), ErrBadSignature},
		{"no keys", nil, "consensus/vote", msg, sig, ErrBadSignature},
		{"reserved domain", a.PublicKeys(), domainRecord, msg, sig, ErrReservedDomain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.pub, tc.domain, tc.msg, tc.sig)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	// Signing is deterministic.
	again, _ := a.Sign("consensus/vote", msg)
	if !bytes.Equal(again, sig) {
		t.Error("two signatures of the same message differ")
	}
}

func TestSignDomains(t *testing.T) {
	a := testIdentity(t, 1)
	for _, d := range []string{"", strings.Repeat("d", MaxDomainSize+1), "pqcsec/record", "pqcsec/anything"} {
		if _, err := a.Sign(d, []byte("m")); err == nil {
			t.Errorf("domain %q accepted", d)
		}
	}
	if _, err := a.Sign("pqcsec/x", nil); !errors.Is(err, ErrReservedDomain) {
		t.Errorf("reserved domain: %v", err)
	}
	if _, err := a.Sign(strings.Repeat("d", MaxDomainSize), nil); err != nil {
		t.Errorf("longest domain: %v", err)
	}
}

func TestPublicKeysEncoding(t *testing.T) {
	a := testIdentity(t, 1)
	pub := a.PublicKeys()
	b, err := pub.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != PublicKeysSize || b[0] != SuiteHybrid {
		t.Fatalf("encoding: %d bytes, suite %#x", len(b), b[0])
	}
	got, err := ParsePublicKeys(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(pub) || got.PeerID() != a.PeerID() {
		t.Error("decoded keys differ")
	}
	if !bytes.Equal(got.Ed25519(), b[1:33]) || !bytes.Equal(got.MLDSA(), b[33:33+mldsa65.PublicKeySize]) ||
		!bytes.Equal(got.KEM(), b[33+mldsa65.PublicKeySize:]) {
		t.Error("accessors do not return the encoded parts")
	}
	if app, _ := pub.AppendBinary([]byte{9}); !bytes.Equal(app[1:], b) || app[0] != 9 {
		t.Error("AppendBinary did not append")
	}
	sig, _ := a.Sign("test/x", []byte("m"))
	if err := Verify(got, "test/x", []byte("m"), sig); err != nil {
		t.Errorf("decoded keys do not verify: %v", err)
	}

	badKEM := bytes.Clone(b)
	copy(badKEM[PublicKeysSize-KEMPublicKeySize:], bytes.Repeat([]byte{0xff}, 384)) // coefficients ≥ q
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"short", b[:PublicKeysSize-1], ErrMalformed},
		{"long", append(bytes.Clone(b), 0), ErrMalformed},
		{"classical suite", append([]byte{0}, b[1:]...), ErrDowngrade},
		{"bare ed25519 key", append([]byte{0}, b[1:33]...), ErrDowngrade},
		{"bad kem key", badKEM, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParsePublicKeys(tc.b); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifyPeer(t *testing.T) {
	a, b := testIdentity(t, 1), testIdentity(t, 2)
	keys, _ := a.PublicKeys().MarshalBinary()
	sig, _ := a.Sign("routing/hello", []byte("beacon"))
	if err := VerifyPeer(a.PeerID(), keys, "routing/hello", []byte("beacon"), sig); err != nil {
		t.Errorf("genuine: %v", err)
	}
	if err := VerifyPeer(b.PeerID(), keys, "routing/hello", []byte("beacon"), sig); !errors.Is(err, ErrPeerMismatch) {
		t.Errorf("keys of another peer: %v, want ErrPeerMismatch", err)
	}
	if err := VerifyPeer(a.PeerID(), keys[:10], "routing/hello", []byte("beacon"), sig); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad keys: %v, want ErrMalformed", err)
	}
	if err := VerifyPeer(a.PeerID(), keys, "routing/hello", []byte("beacon!"), sig); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other message: %v, want ErrBadSignature", err)
	}
}

// The cheap ML-KEM key check agrees with the standard library's full parse,
// at the boundary q-1 / q for both coefficients packed in three bytes.
func TestMLKEMKeyReduced(t *testing.T) {
	keys, _ := testIdentity(t, 1).PublicKeys().MarshalBinary()
	ek := keys[PublicKeysSize-KEMPublicKeySize : PublicKeysSize-32]
	put := func(b []byte, first bool, v uint16) {
		if first {
			b[0], b[1] = byte(v), b[1]&0xf0|byte(v>>8)
		} else {
			b[1], b[2] = b[1]&0x0f|byte(v<<4), byte(v>>4)
		}
	}
	for _, tc := range []struct {
		at    int
		first bool
		v     uint16
	}{{0, true, 3328}, {0, true, 3329}, {0, false, 3328}, {0, false, 3329}, {1149, true, 4095}, {1149, false, 3329}, {1149, false, 0}} {
		b := bytes.Clone(ek)
		put(b[tc.at:], tc.first, tc.v)
		_, stdErr := mlkem.NewEncapsulationKey768(b)
		if got := mlkemKeyReduced(b); got != (stdErr == nil) {
			t.Errorf("coefficient %d at %d (first %v): check says %v, crypto/mlkem says %v", tc.v, tc.at, tc.first, got, stdErr)
		}
		if tc.v >= 3329 && stdErr == nil {
			t.Errorf("crypto/mlkem accepted coefficient %d", tc.v)
		}
	}
}
