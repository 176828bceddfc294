package pqcsec

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// Fuzz targets for every decoder of bytes that come from a peer. Each checks
// that the decoder never panics, that accepted input re-encodes to the same
// bytes, and that only genuine input is accepted where signatures or AEAD
// tags are involved. Run one with
//
//	go test ./pqcsec -run '^$' -fuzz '^FuzzParseRecord$' -fuzztime 60s

func FuzzParsePublicKeys(f *testing.F) {
	keys, _ := testIdentity(f, 1).PublicKeys().MarshalBinary()
	f.Add(keys)
	f.Add(keys[:33])
	f.Add(append([]byte{0}, keys[1:]...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePublicKeys(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrDowngrade) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		back, _ := p.MarshalBinary()
		if !bytes.Equal(back, b) {
			t.Fatal("accepted keys re-encode differently")
		}
		if _, err := p.kemKey(); err != nil {
			t.Fatalf("KEM key passed the cheap check, not the full parse: %v", err)
		}
		again, err := ParsePublicKeys(back)
		if err != nil || !again.Equal(p) || again.PeerID() != p.PeerID() {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func FuzzVerify(f *testing.F) {
	id := testIdentity(f, 1)
	pub := id.PublicKeys()
	msg := []byte("governance vote")
	sig, _ := id.Sign("test/vote", msg)
	f.Add(msg, sig)
	f.Add(msg, sig[:65])
	f.Add(msg[1:], sig)
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, m, s []byte) {
		err := Verify(pub, "test/vote", m, s)
		if err == nil && (!bytes.Equal(m, msg) || !bytes.Equal(s, sig)) {
			t.Fatalf("forged signature accepted: msg %x", m)
		}
		if err != nil && !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrDowngrade) {
			t.Fatalf("untyped error %v", err)
		}
	})
}

// fuzzSVID is an X.509-SVID whose certificates and binding signatures are
// the same in every process (Ed25519 keys from fixed seeds), and the
// bundle that verifies it.
func fuzzSVID(tb testing.TB) (*x509svid.SVID, *x509bundle.Bundle) {
	ca := newTestCAKey(tb, testTD, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)))
	return ca.svid(tb, "/workload/fuzz", leafOpts{key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))}), ca.bundle()
}

func FuzzParseRecord(f *testing.F) {
	id := testIdentity(f, 1)
	withClaim := id.Record().Bytes()
	bare, _ := id.IssueRecord(RecordOptions{TrustDomain: testTD}, t0)
	svid, bundle := fuzzSVID(f)
	withSVID, err := id.IssueRecord(RecordOptions{SVID: svid}, t0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(withClaim)
	f.Add(bare.Bytes())
	f.Add(withSVID.Bytes())
	f.Add(withClaim[:len(withClaim)-SignatureSize])
	f.Add([]byte{recordFormat})
	f.Add([]byte{recordFormatSVID})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRecord(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrDowngrade) &&
				!errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrPeerMismatch) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !bytes.Equal(r.Bytes(), b) || !bytes.Equal(r.appendBody(nil), b[:len(b)-SignatureSize]) {
			t.Fatal("accepted record re-encodes differently")
		}
		if !bytes.Equal(b, withClaim) && !bytes.Equal(b, bare.Bytes()) && !bytes.Equal(b, withSVID.Bytes()) {
			t.Fatal("a record the identity never signed was accepted")
		}
		vid, err := r.VerifySVID(bundle, t0)
		if r.HasSVID() && (err != nil || vid != svid.ID) || !r.HasSVID() && !errors.Is(err, ErrNoSVID) {
			t.Fatalf("svid: %q, %v", vid, err)
		}
	})
}

// FuzzDecodeRecordFields covers the record layout without the signature
// check, which stops nearly every mutated input in FuzzParseRecord.
func FuzzDecodeRecordFields(f *testing.F) {
	id := testIdentity(f, 1)
	f.Add(id.Record().Bytes())
	bare, _ := id.IssueRecord(RecordOptions{TrustDomain: testTD}, t0)
	f.Add(bare.Bytes())
	svid, _ := fuzzSVID(f)
	withSVID, err := id.IssueRecord(RecordOptions{SVID: svid}, t0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(withSVID.Bytes())
	f.Add([]byte{recordFormat})
	f.Add([]byte{recordFormatSVID})
	f.Fuzz(func(t *testing.T, b []byte) {
		fields, err := decodeRecordFields(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if got := append(appendRecordBody(nil, fields), fields.sig...); !bytes.Equal(got, b) {
			t.Fatal("record fields re-encode differently")
		}
	})
}

func FuzzDecodeClaim(f *testing.F) {
	f.Add(appendClaim(nil, testClaim()))
	f.Add(make([]byte, MaxClaimSize))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4*MaxClaimSize {
			return
		}
		d := decoder{b: b, what: "claim"}
		c := decodeClaim(&d)
		d.end()
		if d.err != nil {
			if !errors.Is(d.err, ErrMalformed) {
				t.Fatalf("untyped error %v", d.err)
			}
			return
		}
		if got := appendClaim(nil, c); !bytes.Equal(got, b) {
			t.Fatalf("claim re-encodes differently:\n%x\n%x", got, b)
		}
	})
}

func FuzzParseAttestation(f *testing.F) {
	id := testIdentity(f, 1)
	pub := id.PublicKeys()
	att, _ := id.Attest(*testClaim())
	f.Add(att)
	f.Add(att[:len(att)-1])
	f.Add([]byte{attestationFormat})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseAttestation(pub, b)
		if err != nil {
			return
		}
		enc := appendClaim([]byte{attestationFormat}, &c)
		if !bytes.Equal(enc, b[:len(b)-SignatureSize]) {
			t.Fatal("accepted claim re-encodes differently")
		}
		if !bytes.Equal(b, att) {
			t.Fatal("an attestation the identity never signed was accepted")
		}
	})
}

func FuzzHandshakeInit(f *testing.F) {
	a, b := testIdentity(f, 1), testIdentity(f, 2)
	_, init, err := NewInitiator(HandshakeConfig{Identity: a, Rand: testRand(3)}, b.PeerID(), t0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(init)
	f.Add(init[:InitSize-1])
	f.Add([]byte{MsgInit})
	f.Add([]byte{MsgFinish, 1, 2, 3})
	f.Fuzz(func(t *testing.T, msg []byte) {
		if id, ek, err := decodeInit(msg); err == nil {
			enc := append(append(append([]byte{MsgInit}, id[:]...), SuiteHybrid), ek.Bytes()...)
			if !bytes.Equal(enc, msg) {
				t.Fatal("accepted init re-encodes differently")
			}
		}
		r, err := NewResponder(HandshakeConfig{Identity: b, Rand: testRand(4)})
		if err != nil {
			t.Fatal(err)
		}
		reply, err := r.Step(msg, t0)
		if err != nil {
			if reply != nil || r.init != nil {
				t.Fatal("refused init changed state")
			}
			return
		}
		if _, err := decodeAuthMsg(reply, MsgReply); err != nil || len(reply) > MaxReplySize {
			t.Fatalf("reply of %d bytes does not decode: %v", len(reply), err)
		}
	})
}

// The handshake fixtures below are rebuilt in every fuzz worker process.
// Identities, handshake IDs and ephemeral keys are deterministic, but the
// standard library draws KEM encapsulation randomness itself, so a worker's
// genuine reply or finish differs from the coordinator's seed while both are
// genuine. The targets therefore check that at most one distinct message
// ever completes the handshake, from the right peer.

func FuzzHandshakeReply(f *testing.F) {
	a, b := testIdentity(f, 1), testIdentity(f, 2)
	i, init, err := NewInitiator(HandshakeConfig{Identity: a, Rand: testRand(3)}, b.PeerID(), t0)
	if err != nil {
		f.Fatal(err)
	}
	r, _ := NewResponder(HandshakeConfig{Identity: b, Rand: testRand(4)})
	reply, err := r.Step(init, t0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(reply)
	f.Add(reply[:authPrefixSize+minAuthPayload+16])
	f.Add(reply[:authPrefixSize])
	f.Add([]byte{MsgReply})
	var accepted []byte
	f.Fuzz(func(t *testing.T, msg []byte) {
		if m, err := decodeAuthMsg(msg, MsgReply); err == nil {
			if !bytes.Equal(append(bytes.Clone(m.prefix), m.sealed...), msg) || m.prefix[0] != MsgReply {
				t.Fatal("decoded reply does not cover the message")
			}
		}
		before := i.session
		fin, err := i.Step(msg, t0)
		if err != nil {
			if fin != nil || i.session != before {
				t.Fatal("refused reply changed state")
			}
			return
		}
		if accepted != nil && !bytes.Equal(msg, accepted) {
			t.Fatal("a second, different reply was accepted")
		}
		accepted = bytes.Clone(msg)
		if i.Session().Peer().PeerID() != b.PeerID() {
			t.Fatal("handshake completed with the wrong peer")
		}
	})
}

func FuzzHandshakeFinish(f *testing.F) {
	a, b := testIdentity(f, 1), testIdentity(f, 2)
	i, init, err := NewInitiator(HandshakeConfig{Identity: a, Rand: testRand(3)}, b.PeerID(), t0)
	if err != nil {
		f.Fatal(err)
	}
	r, _ := NewResponder(HandshakeConfig{Identity: b, Rand: testRand(4)})
	reply, err := r.Step(init, t0)
	if err != nil {
		f.Fatal(err)
	}
	fin, err := i.Step(reply, t0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fin)
	f.Add(fin[:len(fin)-1])
	f.Add(init)
	f.Add([]byte{MsgFinish})
	var accepted []byte
	f.Fuzz(func(t *testing.T, msg []byte) {
		before := r.session
		out, err := r.Step(msg, t0)
		switch {
		case err != nil:
			if out != nil || r.session != before {
				t.Fatal("refused message produced output or changed state")
			}
		case bytes.Equal(msg, init):
			if !bytes.Equal(out, reply) {
				t.Fatal("repeated init did not repeat the reply")
			}
		default:
			if !bytes.Equal(msg, fin) {
				t.Fatal("a finish the initiator never sent was accepted")
			}
			if accepted != nil && !bytes.Equal(msg, accepted) {
				t.Fatal("a second, different finish was accepted")
			}
			accepted = bytes.Clone(msg)
		}
	})
}

func FuzzDecodeAuthPayload(f *testing.F) {
	rec := testIdentity(f, 1).Record().Bytes()
	f.Add(appendAuthPayload(nil, rec, make([]byte, SignatureSize), make([]byte, confirmSize)))
	f.Add([]byte{0, 1, 2})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		if len(p) > 2*maxAuthPayload {
			return
		}
		record, sig, confirm, err := decodeAuthPayload(p)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if got := appendAuthPayload(nil, record, sig, confirm); !bytes.Equal(got, p) {
			t.Fatal("payload re-encodes differently")
		}
	})
}

func FuzzSessionOpen(f *testing.F) {
	a, _ := testSessions(f, SessionConfig{MaxPlaintext: 4096})
	var genuine [][]byte
	for _, n := range []int{0, 1, 100, 4096} {
		fr, err := a.Seal(nil, bytes.Repeat([]byte{7}, n), t0)
		if err != nil {
			f.Fatal(err)
		}
		genuine = append(genuine, fr)
		f.Add(fr)
	}
	f.Add(genuine[1][:FrameOverhead-1])
	f.Add([]byte{MsgData})
	known := []error{ErrTruncated, ErrOversized, ErrMalformed, ErrTooOld, ErrReplay, ErrWrongEpoch, ErrBadTag}
	f.Fuzz(func(t *testing.T, frame []byte) {
		_, b := testSessions(t, SessionConfig{MaxPlaintext: 4096})
		pt, err := b.Open(nil, frame)
		if err != nil {
			for _, k := range known {
				if errors.Is(err, k) {
					if b.Stats().Opened != 0 {
						t.Fatal("refused frame changed state")
					}
					return
				}
			}
			t.Fatalf("untyped error %v", err)
		}
		for _, g := range genuine {
			if bytes.Equal(frame, g) {
				if _, err := b.Open(nil, frame); !errors.Is(err, ErrReplay) {
					t.Fatalf("replay: %v", err)
				}
				return
			}
		}
		t.Fatalf("forged frame opened to %x", pt)
	})
}
