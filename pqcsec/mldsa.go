package pqcsec

import "github.com/cloudflare/circl/sign/mldsa/mldsa65"

// The package calls circl's ML-DSA-65 only through these four functions.
// Each clears the upper vector state circl's AVX2 code leaves behind
// (clearUpperVectors), so the SHA-256 and AES-GCM that follow on the same
// thread (transcript hashes, sealed payloads, session frames, TLS) run at
// full speed.

func dsaKeyFromSeed(seed *[mldsa65.SeedSize]byte) (*mldsa65.PublicKey, *mldsa65.PrivateKey) {
	pub, priv := mldsa65.NewKeyFromSeed(seed)
	clearUpperVectors()
	return pub, priv
}

// dsaSign writes the deterministic ML-DSA-65 signature of m (empty
// context) to sig.
func dsaSign(priv *mldsa65.PrivateKey, m, sig []byte) error {
	err := mldsa65.SignTo(priv, m, nil, false, sig)
	clearUpperVectors()
	return err
}

func dsaVerify(pub *mldsa65.PublicKey, m, sig []byte) bool {
	ok := mldsa65.Verify(pub, m, nil, sig)
	clearUpperVectors()
	return ok
}

func dsaUnpack(b *[mldsa65.PublicKeySize]byte) *mldsa65.PublicKey {
	pub := new(mldsa65.PublicKey)
	pub.Unpack(b)
	clearUpperVectors()
	return pub
}
