package vectors

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/overlay/e2e"
)

// e2eFile is e2e.json: the end-to-end channel messages carried in DATA
// payloads and the application plaintexts inside them (docs/protocol.md
// section 16). The init and the frame are those of handshake.json; a
// reply or finish is its version byte and the pqcsec message of
// handshake.json, as an init is.
type e2eFile struct {
	Format     string      `json:"format"`
	Spec       string      `json:"spec"`
	Package    string      `json:"errors_package"`
	Envelopes  []envelopeV `json:"envelopes"`
	Plaintexts []meshValid `json:"plaintexts"`
	Invalid    []e2eReject `json:"invalid_envelopes"`
	InvalidApp []e2eReject `json:"invalid_plaintexts"`
}

// envelopeV: a channel message, its kind, session and body, and its bytes.
type envelopeV struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Session string `json:"session"`
	Body    string `json:"body"`
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
// the kind, its bytes 1..8 the session), or the kind, the session and the
// body.
func envelopeBytes(kind e2e.Kind, session, body []byte) []byte {
	b := []byte{e2e.Version}
	switch kind {
	case e2e.KindInit, e2e.KindReply, e2e.KindFinish:
		return append(b, body...)
	}
	b = append(b, byte(kind))
	b = append(b, session...)
	return append(b, body...)
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
	doc := e2eFile{
		Format:  "end-to-end channel messages (version 1) and application plaintexts",
		Spec:    "docs/protocol.md section 16",
		Package: "github.com/x0tta6bl4/x0tta6bl4/overlay/e2e (ErrVersion also wraps ErrMalformed)",
	}
	for _, c := range []struct {
		name string
		kind e2e.Kind
		body []byte
	}{
		{"init (handshake.json)", e2e.KindInit, init},
		{"data: the first frame of handshake.json", e2e.KindData, unhex(t, hs.Frames[0].Hex)},
		{"unknown-session notice", e2e.KindUnknown, nil},
	} {
		doc.Envelopes = append(doc.Envelopes, envelopeV{Name: c.name, Kind: c.kind.String(), Session: hexOf(session),
			Body: hexOf(c.body), Hex: hexOf(envelopeBytes(c.kind, session, c.body))})
	}
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
		{"version 3", append([]byte{3}, data[1:]...)},
		{"kind 0", append([]byte{1, 0}, data[2:]...)},
		{"init one byte short", envelopeBytes(e2e.KindInit, session, init[:len(init)-1])},
		{"init one byte long", envelopeBytes(e2e.KindInit, session, append(bytes.Clone(init), 0))},
		{"reply over MaxReplySize", envelopeBytes(e2e.KindReply, session, append(bytes.Clone(reply), make([]byte, 16161-len(reply))...))},
		{"data frame cut below the frame overhead", data[:10+28]},
		{"data frame of type 0x05", append(bytes.Clone(data[:10]), append([]byte{5}, data[11:]...)...)},
		{"unknown-session notice with a body", envelopeBytes(e2e.KindUnknown, session, []byte{0})},
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
	kinds := map[string]e2e.Kind{}
	for _, k := range []e2e.Kind{e2e.KindInit, e2e.KindReply, e2e.KindFinish, e2e.KindData, e2e.KindUnknown} {
		kinds[k.String()] = k
	}
	for _, v := range file.Envelopes {
		k, ok := kinds[v.Kind]
		if !ok {
			t.Fatalf("%s: no kind %q", v.Name, v.Kind)
		}
		if b := envelopeBytes(k, unhex(t, v.Session), unhex(t, v.Body)); hexOf(b) != v.Hex {
			t.Errorf("%s: encoded from its fields\n%x\nwant\n%s", v.Name, b, v.Hex)
		}
		m, err := e2e.ParseEnvelope(unhex(t, v.Hex))
		if err != nil || m.Kind != k || hexOf(m.Session[:]) != v.Session || hexOf(m.Body) != v.Body {
			t.Errorf("%s: ParseEnvelope = %v %x, %v", v.Name, m.Kind, m.Session, err)
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
