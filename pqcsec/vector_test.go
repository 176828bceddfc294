package pqcsec

import (
	"crypto/rand"
	"runtime"
	"testing"
)

// ymmUpperInUse is XINUSE bit 2: the upper halves of YMM0-15 are not in
// their initial state.
const ymmUpperInUse = 1 << 2

// Every operation of the package that runs circl's ML-DSA-65 must return
// with the upper vector state clean, or the SHA-256 and AES-GCM after it
// on the same thread can run many times slower (issue 18:
// docs/upstream/circl-avx.md). The state is read from the CPU (XINUSE),
// so this fails on any amd64 machine with AVX2 if a clear goes missing,
// whether or not that machine pays the penalty.
func TestMLDSALeavesVectorStateClean(t *testing.T) {
	if !xinuseSupported() {
		t.Skip("the CPU cannot report the vector state (XGETBV with ECX=1 needs amd64 with XINUSE support)")
	}
	runtime.LockOSThread() // the state belongs to the thread
	defer runtime.UnlockOSThread()
	withoutMemos(t)

	a, r := testIdentity(t, 1), testIdentity(t, 2)
	sig, err := a.Sign("test/vector", []byte("msg"))
	if err != nil {
		t.Fatal(err)
	}
	recBytes := a.Record().Bytes()
	keyBytes, _ := a.PublicKeys().MarshalBinary()
	var (
		ini  *Initiator
		res  *Responder
		init []byte
		rep  []byte
		fin  []byte
	)
	ca := HandshakeConfig{Identity: a, Rand: rand.Reader}
	cr := HandshakeConfig{Identity: r, Rand: rand.Reader}
	for _, tc := range []struct {
		name string
		op   func() error
	}{
		{"NewIdentity", func() error { _, err := NewIdentity(testKey(t, 3), testRand(3)); return err }},
		{"Sign", func() error { _, err := a.Sign("test/vector", []byte("msg")); return err }},
		{"Verify", func() error { return Verify(a.PublicKeys(), "test/vector", []byte("msg"), sig) }},
		{"ParsePublicKeys", func() error { _, err := ParsePublicKeys(keyBytes); return err }},
		{"IssueRecord", func() error { _, err := a.IssueRecord(RecordOptions{TrustDomain: testTD}, t0); return err }},
		{"ParseRecord", func() error { _, err := ParseRecord(recBytes); return err }},
		{"NewInitiator", func() (err error) { ini, init, err = NewInitiator(ca, r.PeerID(), t0); return err }},
		{"Responder.Step(init)", func() (err error) {
			if res, err = NewResponder(cr); err == nil {
				rep, err = res.Step(init, t0)
			}
			return err
		}},
		{"Initiator.Step(reply)", func() (err error) { fin, err = ini.Step(rep, t0); return err }},
		{"Responder.Step(finish)", func() error { _, err := res.Step(fin, t0); return err }},
	} {
		clearUpperVectors()
		if xinuse()&ymmUpperInUse != 0 {
			t.Fatalf("%s: cannot clear the vector state before the call", tc.name)
		}
		if err := tc.op(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if x := xinuse(); x&ymmUpperInUse != 0 {
			t.Errorf("%s returned with the upper YMM halves dirty (XINUSE %#x)", tc.name, x)
		}
	}
}
