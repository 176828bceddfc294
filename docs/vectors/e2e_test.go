package vectors

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay/e2e"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// e2eFile is e2e.json: the end-to-end channel messages carried in DATA
// payloads, the application plaintexts inside them, and the reset token
// and cookie values (docs/protocol.md section 16). The handshake and its
// session are those of handshake.json: alice initiates, bob responds.
type e2eFile struct {
	Format     string      `json:"format"`
	Spec       string      `json:"spec"`
	Package    string      `json:"errors_package"`
	Token      tokenV      `json:"reset_token"`
	Cookie     cookieV     `json:"cookie"`
	Envelopes  []envelopeV `json:"envelopes"`
	Plaintexts []meshValid `json:"plaintexts"`
	Invalid    []e2eReject `json:"invalid_envelopes"`
	InvalidApp []e2eReject `json:"invalid_plaintexts"`
}

// tokenV: bob's reset token for the session with alice (section 16.1):
// K = SHA-256 of bob's hybrid signature of his address in the domain
// x0tta6bl4/e2e/reset-key, token = the first 16 bytes of
// HMAC-SHA-256(K, "x0tta6bl4/e2e/reset" ‖ bob ‖ alice ‖ session).
type tokenV struct {
	Identity string `json:"identity"`
	Self     string `json:"self"`
	Peer     string `json:"peer"`
	Session  string `json:"session"`
	KeySig   string `json:"key_signature"`
	Key      string `json:"key"`
	Token    string `json:"token"`
}

// cookieV: the cookie bob makes, with the secret given, for carol's init
// from source S over link L: the first 16 bytes of
// HMAC-SHA-256(secret, S ‖ L ‖ session).
type cookieV struct {
	Secret  string `json:"secret"`
	Source  string `json:"source"`
	Link    string `json:"link"`
	Session string `json:"session"`
	Cookie  string `json:"cookie"`
}

// envelopeV: a channel message, its kind, session, body (for a
// handshake kind the whole pqcsec message; for an init with a cookie,
// the init and the cookie after it) and its bytes.
type envelopeV struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Session string `json:"session"`
	Body    string `json:"body"`
	Cookie  string `json:"cookie,omitempty"`
	Hex     string `json:"hex"`
}

type e2eReject struct {
	Name  string `json:"name"`
	Hex   string `json:"hex"`
	Error string `json:"error"`
}

// e2eError names err: ErrVersion (which also wraps ErrMalformed) or
// ErrMalformed.
func e2eError(t *testing.T, err error) string {
	t.Helper()
	switch {
	case errors.Is(err, e2e.ErrVersion):
		return "ErrVersion"
	case errors.Is(err, e2e.ErrMalformed):
		return "ErrMalformed"
	}
	t.Fatalf("error %v is neither ErrVersion nor ErrMalformed", err)
	return ""
}

// envelopeBytes encodes a channel message as docs/protocol.md section 16
// says: the version, then a handshake message as it is (its type byte is
// the kind, its bytes 1..8 the session; an init's cookie after it), or
// the kind, the session and the body.
func envelopeBytes(kind e2e.Kind, session, body, cookie []byte) []byte {
	b := []byte{e2e.Version}
	switch kind {
	case e2e.KindInit, e2e.KindReply, e2e.KindFinish:
		return append(append(b, body...), cookie...)
	}
	b = append(b, byte(kind))
	b = append(b, session...)
	return append(b, body...)
}

func hmac16(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)[:16]
}

// resetToken computes tokenV's fields from the identity and addresses.
func resetToken(t *testing.T, v *tokenV, id *pqcsec.Identity) {
	sig, err := id.Sign("x0tta6bl4/e2e/reset-key", unhex(t, v.Self))
	if err != nil {
		t.Fatal(err)
	}
	k := sha256.Sum256(sig)
	v.KeySig, v.Key = hexOf(sig), hexOf(k[:])
	v.Token = hexOf(hmac16(k[:], []byte("x0tta6bl4/e2e/reset"), unhex(t, v.Self), unhex(t, v.Peer), unhex(t, v.Session)))
}

// e2eEngine is bob's channel engine, its record issued, its random
// source rand (the cookie secrets), at most maxPending responders.
func e2eEngine(t *testing.T, hs *handshakeFile, rand []byte, maxPending int) (*e2e.Engine, time.Time) {
	now, _ := time.Parse(time.RFC3339Nano, hs.Now)
	issued, _ := time.Parse(time.RFC3339Nano, hs.RecordsIssued)
	id := newIdentity(t, hs.Responder)
	issue(t, id, hs.TrustDomain, 0, nil, issued)
	cfg := e2e.DefaultConfig()
	cfg.Handshake = pqcsec.HandshakeConfig{Identity: id, Rand: bytes.NewReader(rand)}
	cfg.MaxPending = maxPending
	e, err := e2e.NewEngine(cfg, addrOf(t, hs.Responder))
	if err != nil {
		t.Fatal(err)
	}
	return e, now
}

// addrOf is the mesh address of an identity of the vectors.
func addrOf(t *testing.T, v identityVector) protocols.Addr {
	return protocols.AddrFromPeerID([]byte(newIdentity(t, v).PeerID()))
}

// onlyPacket returns the one channel message e sent to, and advances it.
func onlyPacket(t *testing.T, e *e2e.Engine, to protocols.Addr) []byte {
	t.Helper()
	rd := e.Ready()
	defer e.Advance() // which recycles what Ready holds
	for _, p := range rd.Packets {
		if p.To == to {
			return bytes.Clone(p.Payload)
		}
	}
	t.Fatalf("no channel message to %v (events %v)", to, rd.Events)
	return nil
}

func TestE2E(t *testing.T) {
	raw, err := os.ReadFile("handshake.json")
	if err != nil {
		t.Fatal(err)
	}
	var hs handshakeFile
	load(t, raw, &hs)
	init, reply := unhex(t, hs.Init), unhex(t, hs.Reply)
	session := init[1:9]
	alice, bob := addrOf(t, hs.Initiator), addrOf(t, hs.Responder)
	carolV := identityFrom(t, "carol")
	carol := addrOf(t, carolV)
	carolID, carolEph := seed32("vectors/carol handshake id"), seed32("vectors/carol handshake ephemeral")
	secret := seed32("vectors/cookie secret")
	doc := e2eFile{
		Format:  "end-to-end channel messages (version 2), application plaintexts, reset tokens and cookies",
		Spec:    "docs/protocol.md section 16",
		Package: "github.com/x0tta6bl4/x0tta6bl4/overlay/e2e (ErrVersion also wraps ErrMalformed)",
		Token:   tokenV{Identity: "bob (handshake.json's responder)", Self: bob.String(), Peer: alice.String(), Session: hexOf(session)},
		Cookie:  cookieV{Secret: hexOf(secret[:]), Source: carol.String(), Link: carol.String(), Session: hexOf(carolID[:8])},
	}
	resetToken(t, &doc.Token, newIdentity(t, hs.Responder))
	doc.Cookie.Cookie = hexOf(hmac16(unhex(t, doc.Cookie.Secret), carol[:], carol[:], carolID[:8]))

	// A token message: bob's token sealed under the session, the second
	// frame bob sends (counter 1, epoch 0), keyed as handshake.json says.
	key, iv := unhex(t, hs.Schedule.KeyR2I0), unhex(t, hs.Schedule.IVR2I0)
	hdr := binary.BigEndian.AppendUint64([]byte{pqcsec.MsgData, 0, 0, 0, 0}, 1)
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	nonce := bytes.Clone(iv)
	nonce[11] ^= 1
	tokenFrame := gcm.Seal(bytes.Clone(hdr), nonce, unhex(t, doc.Token.Token), hdr)
	cookie := unhex(t, doc.Cookie.Cookie)
	for _, c := range []struct {
		name           string
		kind           e2e.Kind
		body, cookie   []byte
		sessionOfCarol bool
	}{
		{"init (handshake.json)", e2e.KindInit, init, nil, false},
		{"data: the first frame of handshake.json", e2e.KindData, unhex(t, hs.Frames[0].Hex), nil, false},
		{"token: bob's reset token sealed as his second frame", e2e.KindToken, tokenFrame, nil, false},
		{"unknown-session notice with bob's token", e2e.KindUnknown, unhex(t, doc.Token.Token), nil, false},
		{"cookie for carol's init", e2e.KindCookie, cookie, nil, true},
	} {
		s := session
		if c.sessionOfCarol {
			s = carolID[:8]
		}
		doc.Envelopes = append(doc.Envelopes, envelopeV{Name: c.name, Kind: c.kind.String(), Session: hexOf(s),
			Body: hexOf(c.body), Cookie: hexOf(c.cookie), Hex: hexOf(envelopeBytes(c.kind, s, c.body, c.cookie))})
	}
	// Carol's init, plain and echoing the cookie.
	cid := newIdentity(t, carolV)
	issued, _ := time.Parse(time.RFC3339Nano, hs.RecordsIssued)
	now, _ := time.Parse(time.RFC3339Nano, hs.Now)
	issue(t, cid, hs.TrustDomain, 0, nil, issued)
	_, carolInit, err := pqcsec.NewInitiator(pqcsec.HandshakeConfig{Identity: cid,
		Rand: bytes.NewReader(append(carolID[:8], carolEph[:]...))}, newIdentity(t, hs.Responder).PeerID(), now)
	if err != nil {
		t.Fatal(err)
	}
	doc.Envelopes = append(doc.Envelopes, envelopeV{Name: "carol's init echoing the cookie", Kind: e2e.KindInit.String(),
		Session: hexOf(carolID[:8]), Body: hexOf(carolInit), Cookie: hexOf(cookie), Hex: hexOf(envelopeBytes(e2e.KindInit, nil, carolInit, cookie))})

	for _, c := range []struct {
		name string
		p    e2e.Plaintext
	}{
		{"message", e2e.Plaintext{Kind: e2e.AppMessage, Payload: []byte("hello over the channel")}},
		{"empty message", e2e.Plaintext{Kind: e2e.AppMessage, Payload: []byte{}}},
		{"ping", e2e.Plaintext{Kind: e2e.AppPing, ID: 0x0102030405060708}},
		{"pong after 3 hops", e2e.Plaintext{Kind: e2e.AppPong, ID: 0x0102030405060708, Hops: 3}},
	} {
		b, err := e2e.AppendPlaintext(nil, c.p)
		if err != nil {
			t.Fatal(err)
		}
		doc.Plaintexts = append(doc.Plaintexts, meshValid{Name: c.name, Type: "plaintext", Fields: fieldsOf(reflect.ValueOf(c.p)), Hex: hexOf(b)})
	}
	data := unhex(t, doc.Envelopes[1].Hex)
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"header cut", data[:9]},
		{"version 1", append([]byte{1}, data[1:]...)},
		{"kind 0", append([]byte{2, 0}, data[2:]...)},
		{"kind 8", append([]byte{2, 8}, data[2:]...)},
		{"init one byte short", envelopeBytes(e2e.KindInit, nil, init[:len(init)-1], nil)},
		{"init one byte long", envelopeBytes(e2e.KindInit, nil, init, []byte{0})},
		{"init with a cookie one byte short", envelopeBytes(e2e.KindInit, nil, init, cookie[:15])},
		{"reply over MaxReplySize", envelopeBytes(e2e.KindReply, nil, append(bytes.Clone(reply), make([]byte, pqcsec.MaxReplySize+1-len(reply))...), nil)},
		{"data frame cut below the frame overhead", data[:10+28]},
		{"data frame of type 0x05", append(bytes.Clone(data[:10]), append([]byte{5}, data[11:]...)...)},
		{"token message one byte long", envelopeBytes(e2e.KindToken, session, append(bytes.Clone(tokenFrame), 0), nil)},
		{"unknown-session notice without a token", envelopeBytes(e2e.KindUnknown, session, nil, nil)},
		{"cookie message one byte short", envelopeBytes(e2e.KindCookie, session, cookie[:15], nil)},
	} {
		_, err := e2e.ParseEnvelope(c.b)
		doc.Invalid = append(doc.Invalid, e2eReject{Name: c.name, Hex: hexOf(c.b), Error: e2eError(t, err)})
	}
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"kind 4", []byte{4, 0}},
		{"ping one byte short", []byte{2, 1, 2, 3, 4, 5, 6, 7}},
		{"pong without hops", []byte{3, 1, 2, 3, 4, 5, 6, 7, 8}},
	} {
		_, err := e2e.ParsePlaintext(c.b)
		doc.InvalidApp = append(doc.InvalidApp, e2eReject{Name: c.name, Hex: hexOf(c.b), Error: e2eError(t, err)})
	}

	var file e2eFile
	load(t, golden(t, "e2e.json", doc), &file)

	// The values, recomputed from the file as section 16.1 says, and as
	// bob's engine makes them.
	tv := file.Token
	resetToken(t, &tv, newIdentity(t, hs.Responder))
	if tv != file.Token {
		t.Errorf("reset token recomputed from the file differs")
	}
	if c := hmac16(unhex(t, file.Cookie.Secret), unhex(t, file.Cookie.Source), unhex(t, file.Cookie.Link),
		unhex(t, file.Cookie.Session)); hexOf(c) != file.Cookie.Cookie {
		t.Errorf("cookie recomputed from the file differs")
	}
	e, now := e2eEngine(t, &hs, nil, 64)
	if err := e.Step(now, alice, alice, data, 1); err == nil {
		t.Errorf("bob opened data under a session he does not hold")
	}
	notice := onlyPacket(t, e, alice)
	if want := envelopeBytes(e2e.KindUnknown, session, unhex(t, file.Token.Token), nil); !bytes.Equal(notice, want) {
		t.Errorf("bob's engine answers data for an unknown session with\n%x\nwant\n%x", notice, want)
	}
	// With MaxPending 2, alice's init takes one slot (half): carol's
	// unproven init is answered with a cookie made with the first secret
	// bob's engine draws.
	e, now = e2eEngine(t, &hs, unhex(t, file.Cookie.Secret), 2)
	if err := e.Step(now, alice, alice, envelopeBytes(e2e.KindInit, nil, init, nil), 1); err != nil {
		t.Fatal(err)
	}
	onlyPacket(t, e, alice)
	if err := e.Step(now, carol, carol, envelopeBytes(e2e.KindInit, nil, carolInit, nil), 1); err != nil {
		t.Fatal(err)
	}
	if got, want := onlyPacket(t, e, carol), envelopeBytes(e2e.KindCookie, unhex(t, file.Cookie.Session), unhex(t, file.Cookie.Cookie), nil); !bytes.Equal(got, want) {
		t.Errorf("bob's engine answers carol's init with\n%x\nwant the cookie message\n%x", got, want)
	}

	kinds := map[string]e2e.Kind{}
	for _, k := range []e2e.Kind{e2e.KindInit, e2e.KindReply, e2e.KindFinish, e2e.KindData, e2e.KindUnknown, e2e.KindCookie, e2e.KindToken} {
		kinds[k.String()] = k
	}
	for _, v := range file.Envelopes {
		k, ok := kinds[v.Kind]
		if !ok {
			t.Fatalf("%s: no kind %q", v.Name, v.Kind)
		}
		if b := envelopeBytes(k, unhex(t, v.Session), unhex(t, v.Body), unhex(t, v.Cookie)); hexOf(b) != v.Hex {
			t.Errorf("%s: encoded from its fields\n%x\nwant\n%s", v.Name, b, v.Hex)
		}
		m, err := e2e.ParseEnvelope(unhex(t, v.Hex))
		if err != nil || m.Kind != k || hexOf(m.Session[:]) != v.Session || hexOf(m.Body) != v.Body || hexOf(m.Cookie) != v.Cookie {
			t.Errorf("%s: ParseEnvelope = %v %x %x %x, %v", v.Name, m.Kind, m.Session, m.Body, m.Cookie, err)
		}
	}
	for _, v := range file.Plaintexts {
		var p e2e.Plaintext
		if err := setFields(reflect.ValueOf(&p).Elem(), v.Fields); err != nil {
			t.Fatal(err)
		}
		if b, err := e2e.AppendPlaintext(nil, p); err != nil || hexOf(b) != v.Hex {
			t.Errorf("%s: AppendPlaintext = %x, %v; want %s", v.Name, b, err, v.Hex)
		}
		back, err := e2e.ParsePlaintext(unhex(t, v.Hex))
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		sameFields(t, v.Name, reflect.ValueOf(back), v.Fields)
	}
	for _, v := range file.Invalid {
		if _, err := e2e.ParseEnvelope(unhex(t, v.Hex)); err == nil || e2eError(t, err) != v.Error {
			t.Errorf("%s: ParseEnvelope = %v, want %s", v.Name, err, v.Error)
		}
	}
	for _, v := range file.InvalidApp {
		if _, err := e2e.ParsePlaintext(unhex(t, v.Hex)); err == nil || e2eError(t, err) != v.Error {
			t.Errorf("%s: ParsePlaintext = %v, want %s", v.Name, err, v.Error)
		}
	}
}
