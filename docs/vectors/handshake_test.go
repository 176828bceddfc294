package vectors

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// handshakeFile is handshake.json: one whole handshake from fixed seeds,
// every value of its key schedule, and the first session frames each way
// across a rekey (docs/security.md sections 6 and 7).
type handshakeFile struct {
	Format string `json:"format"`
	Spec   string `json:"spec"`
	Notes  string `json:"notes"`

	Initiator         identityVector `json:"initiator"`
	Responder         identityVector `json:"responder"`
	InitiatorRecord   string         `json:"initiator_record"`
	ResponderRecord   string         `json:"responder_record"`
	RecordsIssued     string         `json:"records_issued"`
	TrustDomain       string         `json:"trust_domain"`
	Now               string         `json:"now"`
	HandshakeID       string         `json:"handshake_id"`
	EphemeralSeed     string         `json:"ephemeral_seed"`
	GoRandomSeed      uint64         `json:"go_test_random_seed"`
	RekeyAfterPackets uint64         `json:"rekey_after_packets"`

	Init   string `json:"init"`
	Reply  string `json:"reply"`
	Finish string `json:"finish"`

	Schedule schedule       `json:"key_schedule"`
	Frames   []sessionFrame `json:"frames"`
}

// schedule holds every value of the key schedule (docs/security.md
// section 6, "Key schedule"), by its name there.
type schedule struct {
	CK0       string `json:"ck0"`
	H1        string `json:"h1"`
	SSE       string `json:"ss_e"`
	H2        string `json:"h2"`
	CK1       string `json:"ck1"`
	KR        string `json:"k_r"`
	CR        string `json:"c_r"`
	TR        string `json:"t_r"`
	H3        string `json:"h3"`
	SSS       string `json:"ss_s"`
	H4        string `json:"h4"`
	CK2       string `json:"ck2"`
	KI        string `json:"k_i"`
	CI        string `json:"c_i"`
	TI        string `json:"t_i"`
	H5        string `json:"h5"`
	SecretI2R string `json:"secret_i2r"`
	SecretR2I string `json:"secret_r2i"`
	KeyI2R0   string `json:"key_i2r_epoch0"`
	IVI2R0    string `json:"iv_i2r_epoch0"`
	KeyI2R1   string `json:"key_i2r_epoch1"`
	IVI2R1    string `json:"iv_i2r_epoch1"`
	KeyR2I0   string `json:"key_r2i_epoch0"`
	IVR2I0    string `json:"iv_r2i_epoch0"`
}

type sessionFrame struct {
	Direction string `json:"direction"` // "i2r" or "r2i"
	Epoch     uint32 `json:"epoch"`
	Counter   uint64 `json:"counter"`
	Plaintext string `json:"plaintext"`
	Hex       string `json:"hex"`
}

const (
	protocolName = "x0tta6bl4/pqcsec/handshake/v1 XWing+MLDSA65Ed25519+HKDFSHA256+AES256GCM"
	kemInfo      = "x0tta6bl4/pqcsec/handshake/v1 kem"
)

// handshakeRandomSeed seeds testing/cryptotest's global random source, from
// which the X-Wing encapsulations draw (the standard library offers no
// other way to fix them).
const handshakeRandomSeed = 19

func TestHandshake(t *testing.T) {
	cryptotest.SetGlobalRandom(t, handshakeRandomSeed)
	alice, bob := identityFrom(t, "alice"), identityFrom(t, "bob")
	id, eph := seed32("vectors/handshake id"), seed32("vectors/handshake ephemeral")
	doc := handshakeFile{
		Format: "pqcsec handshake (init, reply, finish), key schedule and session frames",
		Spec:   "docs/security.md sections 6 and 7",
		Notes: "The two X-Wing encapsulations draw randomness the messages do not determine; " +
			"an implementation checks them by decapsulating (ss_e with the ephemeral key from ephemeral_seed, ss_s with the responder's " +
			"X-Wing key) and recomputes everything else. go_test_random_seed fixes them in the Go test " +
			"(testing/cryptotest.SetGlobalRandom). The initiator's Rand gives handshake_id, then ephemeral_seed.",
		Initiator: alice, Responder: bob,
		RecordsIssued: vectorTime.Format(time.RFC3339Nano), TrustDomain: "mesh.example",
		Now:         vectorTime.Add(time.Minute).Format(time.RFC3339Nano),
		HandshakeID: hexOf(id[:8]), EphemeralSeed: hexOf(eph[:]),
		GoRandomSeed: handshakeRandomSeed, RekeyAfterPackets: 2,
	}
	firstFrames(t, &doc)
	doc.Schedule = recompute(t, &doc)

	var file handshakeFile
	load(t, golden(t, "handshake.json", doc), &file)
	// The file alone: the key schedule and the frames, recomputed from the
	// messages and seeds as the specification says, without pqcsec.
	if got := recompute(t, &file); got != file.Schedule {
		t.Errorf("key schedule recomputed from the file:\n%+v\nwant\n%+v", got, file.Schedule)
	}
	// And the state machines again from the file's inputs, with the same
	// random source: the same bytes.
	cryptotest.SetGlobalRandom(t, file.GoRandomSeed)
	again := file
	firstFrames(t, &again)
	if again.Init != file.Init || again.Reply != file.Reply || again.Finish != file.Finish ||
		again.InitiatorRecord != file.InitiatorRecord || again.ResponderRecord != file.ResponderRecord {
		t.Errorf("the handshake run from the file's inputs gives other messages")
	}
	for i := range file.Frames {
		if i >= len(again.Frames) || again.Frames[i] != file.Frames[i] {
			t.Errorf("frame %d differs", i)
		}
	}
}

// runHandshake runs the handshake of doc's inputs through pqcsec, fills
// in its messages and records, and returns both sessions (the
// initiator's, the responder's) and the handshake's time.
func runHandshake(t *testing.T, doc *handshakeFile) (si, sr *pqcsec.Session, now time.Time) {
	t.Helper()
	now, _ = time.Parse(time.RFC3339Nano, doc.Now)
	issued, _ := time.Parse(time.RFC3339Nano, doc.RecordsIssued)
	ia, ib := newIdentity(t, doc.Initiator), newIdentity(t, doc.Responder)
	doc.InitiatorRecord = hexOf(issue(t, ia, doc.TrustDomain, 0, nil, issued).Bytes())
	doc.ResponderRecord = hexOf(issue(t, ib, doc.TrustDomain, 0, nil, issued).Bytes())
	sc := pqcsec.SessionConfig{RekeyAfterPackets: doc.RekeyAfterPackets}
	ini, init, err := pqcsec.NewInitiator(pqcsec.HandshakeConfig{Identity: ia, Session: sc,
		Rand: bytes.NewReader(append(unhex(t, doc.HandshakeID), unhex(t, doc.EphemeralSeed)...))}, ib.PeerID(), now)
	if err != nil {
		t.Fatal(err)
	}
	res, err := pqcsec.NewResponderFrom(pqcsec.HandshakeConfig{Identity: ib, Session: sc, Rand: bytes.NewReader(nil)}, ia.PeerID())
	if err != nil {
		t.Fatal(err)
	}
	reply, err := res.Step(init, now)
	if err != nil {
		t.Fatal(err)
	}
	finish, err := ini.Step(reply, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := res.Step(finish, now); err != nil {
		t.Fatal(err)
	}
	doc.Init, doc.Reply, doc.Finish = hexOf(init), hexOf(reply), hexOf(finish)
	return ini.Session(), res.Session(), now
}

// frameOf describes a sealed frame.
func frameOf(dir string, plaintext, f []byte) sessionFrame {
	return sessionFrame{Direction: dir, Epoch: binary.BigEndian.Uint32(f[1:]), Counter: binary.BigEndian.Uint64(f[5:]),
		Plaintext: hexOf(plaintext), Hex: hexOf(f)}
}

// firstFrames runs the handshake of doc and seals its first frames each
// way, the third initiator frame in epoch 1.
func firstFrames(t *testing.T, doc *handshakeFile) {
	t.Helper()
	si, sr, now := runHandshake(t, doc)
	doc.Frames = nil
	for i, p := range []string{"ping 0", "ping 1", "ping 2, in epoch 1"} {
		f, err := si.Seal(nil, []byte(p), now.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sr.Open(nil, f); err != nil {
			t.Fatal(err)
		}
		doc.Frames = append(doc.Frames, frameOf("i2r", []byte(p), f))
	}
	f, err := sr.Seal(nil, []byte("pong 0"), now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := si.Open(nil, f); err != nil {
		t.Fatal(err)
	}
	doc.Frames = append(doc.Frames, frameOf("r2i", []byte("pong 0"), f))
}

// recompute follows docs/security.md's key schedule and frame layout over
// the messages of doc, and checks each message's sealed payload and the
// session frames on the way.
func recompute(t *testing.T, doc *handshakeFile) schedule {
	t.Helper()
	H := func(parts ...[]byte) []byte {
		h := sha256.New()
		for _, p := range parts {
			h.Write(p)
		}
		return h.Sum(nil)
	}
	expand := func(prk []byte, info string, n int) []byte {
		b, err := hkdf.Expand(sha256.New, prk, info, n)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	mixKey := func(ck, ss []byte) (ck2, k, c []byte) {
		prk, err := hkdf.Extract(sha256.New, ss, ck)
		if err != nil {
			t.Fatal(err)
		}
		return expand(prk, "x0tta6bl4 hs ck", 32), expand(prk, "x0tta6bl4 hs key", 32), expand(prk, "x0tta6bl4 hs confirm", 32)
	}
	xwing := hpke.MLKEM768X25519()
	decap := func(seed, ct []byte) []byte {
		sk, err := xwing.NewPrivateKey(seed)
		if err != nil {
			t.Fatal(err)
		}
		r, err := hpke.NewRecipient(ct, sk, hpke.HKDFSHA256(), hpke.ExportOnly(), []byte(kemInfo))
		if err != nil {
			t.Fatal(err)
		}
		ss, err := r.Export("x0tta6bl4 kem secret", 32)
		if err != nil {
			t.Fatal(err)
		}
		return ss
	}
	gcm := func(key []byte) cipher.AEAD {
		b, err := aes.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		a, err := cipher.NewGCM(b)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	// openAuth opens a reply's or finish's payload and checks the MAC; it
	// returns t and the sender's record.
	openAuth := func(name string, msg, k, c, h []byte) (tr, record []byte) {
		p, err := gcm(k).Open(nil, make([]byte, 12), msg[1129:], h)
		if err != nil {
			t.Fatalf("%s: payload does not open: %v", name, err)
		}
		n := int(binary.BigEndian.Uint16(p))
		record, sig, mac := p[2:2+n], p[2+n:2+n+pqcsec.SignatureSize], p[2+n+pqcsec.SignatureSize:]
		tr = H(h, record)
		m := hmac.New(sha256.New, c)
		m.Write(H(tr, sig))
		if !hmac.Equal(m.Sum(nil), mac) || len(mac) != 32 {
			t.Errorf("%s: confirmation MAC differs", name)
		}
		return tr, record
	}
	init, reply, finish := unhex(t, doc.Init), unhex(t, doc.Reply), unhex(t, doc.Finish)
	var s schedule
	ck0 := H([]byte(protocolName))
	h1 := H(ck0, init)
	ssE := decap(unhex(t, doc.EphemeralSeed), reply[9:1129])
	h2 := H(h1, reply[:1129])
	ck1, kR, cR := mixKey(ck0, ssE)
	tR, recR := openAuth("reply", reply, kR, cR, h2)
	if hexOf(recR) != doc.ResponderRecord {
		t.Errorf("the reply carries another record than the responder's")
	}
	h3 := H(h2, reply[1129:])
	ssS := decap(unhex(t, doc.Responder.KEMSeed), finish[9:1129])
	h4 := H(h3, finish[:1129])
	ck2, kI, cI := mixKey(ck1, ssS)
	tI, recI := openAuth("finish", finish, kI, cI, h4)
	if hexOf(recI) != doc.InitiatorRecord {
		t.Errorf("the finish carries another record than the initiator's")
	}
	h5 := H(h4, finish[1129:])
	prk, err := hkdf.Extract(sha256.New, h5, ck2)
	if err != nil {
		t.Fatal(err)
	}
	i2r, r2i := expand(prk, "x0tta6bl4 session i2r", 32), expand(prk, "x0tta6bl4 session r2i", 32)
	epoch := func(secret []byte) (key, iv, next []byte) {
		return expand(secret, "x0tta6bl4 session key", 32), expand(secret, "x0tta6bl4 session iv", 12), expand(secret, "x0tta6bl4 session next", 32)
	}
	ki0, ivi0, nexti := epoch(i2r)
	ki1, ivi1, _ := epoch(nexti)
	kr0, ivr0, _ := epoch(r2i)
	keys := map[string][][2][]byte{"i2r": {{ki0, ivi0}, {ki1, ivi1}}, "r2i": {{kr0, ivr0}}}
	for i, f := range doc.Frames {
		b := unhex(t, f.Hex)
		hdr := b[:pqcsec.FrameHeaderSize]
		ep, ctr := binary.BigEndian.Uint32(hdr[1:]), binary.BigEndian.Uint64(hdr[5:])
		if hdr[0] != 0x04 || ep != f.Epoch || ctr != f.Counter || int(ep) >= len(keys[f.Direction]) {
			t.Errorf("frame %d: header %x", i, hdr)
			continue
		}
		k := keys[f.Direction][ep]
		nonce := bytes.Clone(k[1])
		for j := range 8 {
			nonce[4+j] ^= byte(ctr >> (56 - 8*j))
		}
		if got := gcm(k[0]).Seal(bytes.Clone(hdr), nonce, unhex(t, f.Plaintext), hdr); !bytes.Equal(got, b) {
			t.Errorf("frame %d: sealed from the schedule\n%x\nwant\n%x", i, got, b)
		}
	}
	s = schedule{
		CK0: hexOf(ck0), H1: hexOf(h1), SSE: hexOf(ssE), H2: hexOf(h2), CK1: hexOf(ck1), KR: hexOf(kR), CR: hexOf(cR),
		TR: hexOf(tR), H3: hexOf(h3), SSS: hexOf(ssS), H4: hexOf(h4), CK2: hexOf(ck2), KI: hexOf(kI), CI: hexOf(cI),
		TI: hexOf(tI), H5: hexOf(h5), SecretI2R: hexOf(i2r), SecretR2I: hexOf(r2i),
		KeyI2R0: hexOf(ki0), IVI2R0: hexOf(ivi0), KeyI2R1: hexOf(ki1), IVI2R1: hexOf(ivi1), KeyR2I0: hexOf(kr0), IVR2I0: hexOf(ivr0),
	}
	return s
}
