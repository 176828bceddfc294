package pqcsec

import (
	"bytes"
	"crypto/mlkem"
)

// checkKEMKey checks an X-Wing encapsulation key (ML-KEM-768 ‖ X25519,
// KEMPublicKeySize bytes) without expanding it: every ML-KEM-768
// coefficient below q, as FIPS 203 requires of encapsulation keys, and a
// valid X25519 key (validX25519). The error wraps ErrMalformed.
func checkKEMKey(b []byte) error {
	if len(b) != KEMPublicKeySize {
		return malformed("kem key: length %d, want %d", len(b), KEMPublicKeySize)
	}
	if !mlkemKeyReduced(b[:mlkem.EncapsulationKeySize768]) {
		return malformed("kem key: ml-kem-768 coefficient not below q")
	}
	if !validX25519(b[mlkem.EncapsulationKeySize768:]) {
		return malformed("kem key: x25519 key not canonical or of small order")
	}
	return nil
}

// mlkemKeyReduced reports whether every 12-bit coefficient of an ML-KEM-768
// encapsulation key's vector (its first 1152 bytes; the last 32 are a seed)
// is below q = 3329.
func mlkemKeyReduced(ek []byte) bool {
	const q = 3329
	v := ek[:len(ek)-32]
	for i := 0; i+3 <= len(v); i += 3 {
		a := uint16(v[i]) | uint16(v[i+1]&0x0f)<<8
		b := uint16(v[i+1]>>4) | uint16(v[i+2])<<4
		if a >= q || b >= q {
			return false
		}
	}
	return true
}

// x25519SmallOrder lists, little endian, the canonical u-coordinates of the
// Curve25519 and twist points whose order divides 8: u = 0 (order 2),
// u = 1 (order 4), u = p − 1 (order 4 on the twist) and the two points of
// order 8. X25519 with any (clamped) scalar maps each of them to zero, so a
// key among them yields an all-zero shared secret.
var x25519SmallOrder = [][32]byte{
	{},
	{1},
	{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	{0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
		0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
	{0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b,
		0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57},
}

// validX25519 reports whether u (32 bytes) is a valid X25519 public key
// here: the canonical encoding of a u-coordinate below p = 2^255 − 19 (so
// the top bit is clear, and each key has exactly one encoding, as X25519
// itself always outputs) and not of small order. Every such key gives a
// non-zero shared secret with every private key.
func validX25519(u []byte) bool {
	if len(u) != 32 || !x25519Canonical(u) {
		return false
	}
	for i := range x25519SmallOrder {
		if bytes.Equal(u, x25519SmallOrder[i][:]) {
			return false
		}
	}
	return true
}

// x25519Canonical reports whether the little-endian u is below
// p = 2^255 − 19 = 7fff…ffed (hex, big endian).
func x25519Canonical(u []byte) bool {
	if u[31] != 0x7f {
		return u[31] < 0x7f
	}
	for _, b := range u[1:31] {
		if b != 0xff {
			return true
		}
	}
	return u[0] < 0xed
}
