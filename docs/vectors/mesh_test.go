package vectors

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// meshFile is mesh.json: mesh packets (docs/protocol.md section 6) and
// route claims (sections 6.6 and 9.8).
type meshFile struct {
	Format  string        `json:"format"`
	Spec    string        `json:"spec"`
	Package string        `json:"errors_package"`
	Claims  []claimVector `json:"claims"`
	Valid   []meshValid   `json:"valid"`
	Invalid []meshReject  `json:"invalid"`
}

// claimVector: a claim made from a key seed and a chain seed, with every
// link of its chain, the message it signs and its 113 bytes on the wire.
type claimVector struct {
	Name         string   `json:"name"`
	KeySeed      string   `json:"ed25519_seed"`
	PublicKey    string   `json:"public_key"`
	PeerID       string   `json:"peer_id_binary"`
	Addr         string   `json:"address"`
	Seq          uint32   `json:"seq"`
	MaxHops      uint8    `json:"max_hops"`
	Chain        []string `json:"chain"`
	ClaimMessage string   `json:"claim_message"`
	Claim        string   `json:"claim"`
}

type meshValid struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Fields any    `json:"fields"`
	Hex    string `json:"hex"`
}

type meshReject struct {
	Name  string `json:"name"`
	Hex   string `json:"hex"`
	Error string `json:"error"`
	Field string `json:"field"`
}

var meshErrors = map[string]error{
	"ErrTruncated":   protocols.ErrTruncated,
	"ErrLength":      protocols.ErrLength,
	"ErrTooLarge":    protocols.ErrTooLarge,
	"ErrVersion":     protocols.ErrVersion,
	"ErrUnknownType": protocols.ErrUnknownType,
	"ErrReserved":    protocols.ErrReserved,
	"ErrField":       protocols.ErrField,
}

func newPacket(t *testing.T, typ string) protocols.Packet {
	t.Helper()
	switch typ {
	case "DATA":
		return new(protocols.Data)
	case "RREQ":
		return new(protocols.RREQ)
	case "RREP":
		return new(protocols.RREP)
	case "RERR":
		return new(protocols.RERR)
	case "HELLO":
		return new(protocols.Hello)
	}
	t.Fatalf("no packet type %q", typ)
	return nil
}

// seed32 is a 32-byte seed named by a label: SHA-256 of the label.
func seed32(label string) [32]byte { return sha256.Sum256([]byte(label)) }

// makeClaim builds the claim of the owner with the given key seed to seq,
// with a chain of maxHops links from chainSeed.
func makeClaim(keySeed, chainSeed [32]byte, seq uint32, maxHops uint8) (claimVector, protocols.Claim, protocols.Addr, []protocols.ChainHash) {
	priv := ed25519.NewKeyFromSeed(keySeed[:])
	var c protocols.Claim
	c.MaxHops = maxHops
	copy(c.Key[:], priv.Public().(ed25519.PublicKey))
	addr := protocols.AddrFromEd25519Key(&c.Key)
	chain := []protocols.ChainHash{protocols.ChainHash(chainSeed[:protocols.ChainHashSize])}
	for range maxHops {
		chain = append(chain, protocols.NextChainHash(chain[len(chain)-1]))
	}
	c.Top = chain[maxHops]
	msg := c.ClaimMessage(nil, addr, seq)
	copy(c.Sig[:], ed25519.Sign(priv, msg))
	v := claimVector{
		KeySeed:      hexOf(keySeed[:]),
		PublicKey:    hexOf(c.Key[:]),
		PeerID:       hexOf(append([]byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}, c.Key[:]...)),
		Addr:         addr.String(),
		Seq:          seq,
		MaxHops:      maxHops,
		ClaimMessage: hexOf(msg),
		Claim:        hexOf(claimBytes(&c)),
	}
	for _, l := range chain {
		v.Chain = append(v.Chain, hexOf(l[:]))
	}
	return v, c, addr, chain
}

// claimBytes is the claim's 113 bytes as the packets carry them.
func claimBytes(c *protocols.Claim) []byte {
	b := []byte{c.MaxHops}
	b = append(b, c.Top[:]...)
	b = append(b, c.Key[:]...)
	return append(b, c.Sig[:]...)
}

func TestMesh(t *testing.T) {
	doc := meshFile{
		Format:  "mesh packets, version 2 (DATA, RREQ, RREP, RERR, HELLO) and route claims",
		Spec:    "docs/protocol.md sections 6, 6.6 and 9.8",
		Package: "github.com/x0tta6bl4/x0tta6bl4/protocols (every error is a *FrameError whose Field names the field)",
	}
	origVec, origClaim, orig, origChain := makeClaim(seed32("vectors/mesh originator key"), seed32("vectors/mesh originator chain"), 7, 8)
	origVec.Name = "originator's claim to seq 7, 8 links"
	dstVec, dstClaim, dst, dstChain := makeClaim(seed32("vectors/mesh destination key"), seed32("vectors/mesh destination chain"), 42, 8)
	dstVec.Name = "destination's claim to seq 42, 8 links"
	doc.Claims = []claimVector{origVec, dstVec}

	relay := protocols.Addr{0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f}
	avoid1 := protocols.Addr{0x30, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	avoid2 := protocols.Addr{0xc0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	valid := []struct {
		name string
		p    protocols.Packet
	}{
		{"DATA from its source", &protocols.Data{TTL: 64, Src: orig, Dst: dst, Payload: []byte("hello, mesh")}},
		{"DATA relayed twice, empty payload", &protocols.Data{TTL: 62, Hops: 2, Src: orig, Dst: dst}},
		{"DATA with TTL + hops over 255 (accepted)", &protocols.Data{TTL: 255, Hops: 255, Src: orig, Dst: dst, Payload: []byte{0}}},
		{"RREQ from its originator, destination seq unknown", &protocols.RREQ{UnknownSeq: true, TTL: 1, ID: 0x01020304,
			Dst: dst, Orig: orig, OrigSeq: 7, Hash: origChain[0], Claim: origClaim}},
		{"RREQ relayed 3 hops, avoiding 2 nodes", &protocols.RREQ{DestOnly: true, TTL: 29, Hops: 3, ID: 0x01020305, Cost: 3500,
			Dst: dst, DstSeq: 41, Orig: orig, OrigSeq: 7, Hash: origChain[3], Claim: origClaim, Avoid: []protocols.Addr{avoid1, avoid2}}},
		{"RREQ with D and no avoid list", &protocols.RREQ{DestOnly: true, TTL: 7, ID: 9, Dst: dst, DstSeq: 1, Orig: orig, OrigSeq: 7,
			Hash: origChain[0], Claim: origClaim}},
		{"RREP from its destination", &protocols.RREP{Dst: dst, DstSeq: 42, Orig: orig, Lifetime: 6 * time.Second,
			Hash: dstChain[0], Claim: dstClaim}},
		{"RREP relayed once", &protocols.RREP{Hops: 1, Cost: 1250, Dst: dst, DstSeq: 42, Orig: orig, Lifetime: 6 * time.Second,
			Hash: dstChain[1], Claim: dstClaim}},
		{"RERR with two destinations", &protocols.RERR{Unreachable: []protocols.Unreachable{{Dst: dst, Seq: 43}, {Dst: relay, Seq: 0}}}},
		{"HELLO, the first on a link", &protocols.Hello{Interval: 250 * time.Millisecond, Instance: 0x5eed5eed, Seq: 1, NodeSeq: 1}},
		{"HELLO with echo and window", &protocols.Hello{Interval: 250 * time.Millisecond, Instance: 0x5eed5eed, Seq: 1000, NodeSeq: 7,
			EchoSeq: 998, EchoHold: 1500 * time.Microsecond, Window: 32, Heard: 31}},
	}
	frames := map[string][]byte{}
	for _, c := range valid {
		b, err := c.p.AppendBinary(nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		frames[c.name] = b
		doc.Valid = append(doc.Valid, meshValid{Name: c.name, Type: c.p.Type().String(), Fields: fieldsOf(reflect.ValueOf(c.p)), Hex: hexOf(b)})
	}

	// Invalid frames: one valid frame with one rule broken.
	edit := func(name string, f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), frames[name]...))
	}
	set := func(name string, off int, v ...byte) []byte {
		return edit(name, func(b []byte) []byte { copy(b[off:], v); return b })
	}
	const (
		data   = "DATA from its source"
		rreq   = "RREQ relayed 3 hops, avoiding 2 nodes"
		rreqU  = "RREQ from its originator, destination seq unknown"
		rrep   = "RREP relayed once"
		rerr   = "RERR with two destinations"
		hello  = "HELLO with echo and window"
		avoid0 = protocols.RREQMinSize
	)
	zero16 := make([]byte, 16)
	invalid := []struct {
		name  string
		frame []byte
	}{
		{"empty", nil},
		{"version byte only", []byte{2}},
		{"version 1", set(hello, 0, 1)},
		{"version 3", set(data, 0, 3)},
		{"type 0", []byte{2, 0}},
		{"type 6", []byte{2, 6}},
		{"DATA header cut", frames[data][:35]},
		{"DATA TTL 0", set(data, 2, 0)},
		{"DATA zero source", set(data, 4, zero16...)},
		{"DATA destination = source", edit(data, func(b []byte) []byte { copy(b[20:36], b[4:20]); return b })},
		{"RREQ reserved flag", set(rreq, 2, 0x05)},
		{"RREQ TTL 0", set(rreq, 3, 0)},
		{"RREQ hops beyond the claim's max hops", set(rreq, 4, 9)},
		{"RREQ zero destination", set(rreq, 13, zero16...)},
		{"RREQ U set with a destination seq", set(rreq, 2, 0x03)},
		{"RREQ U clear with destination seq 0", set(rreqU, 2, 0x00)},
		{"RREQ originator = destination", edit(rreq, func(b []byte) []byte { copy(b[33:49], b[13:29]); return b })},
		{"RREQ originator seq 0", set(rreq, 49, 0, 0, 0, 0)},
		{"RREQ claim max hops 0", set(rreq, 53+protocols.ChainHashSize, 0)},
		{"RREQ avoid list without D", set(rreq, 2, 0x00)},
		{"RREQ avoid list unsorted", edit(rreq, func(b []byte) []byte {
			copy(b[avoid0:], avoid2[:])
			copy(b[avoid0+16:], avoid1[:])
			return b
		})},
		{"RREQ avoided node twice", set(rreq, avoid0+16, avoid1[:]...)},
		{"RREQ avoids its originator", set(rreq, avoid0, orig[:]...)},
		{"RREQ avoids a zero address", set(rreq, avoid0, zero16...)},
		{"RREQ avoid count 9", set(rreq, avoid0-1, 9)},
		{"RREQ avoid count beyond the frame", set(rreq, avoid0-1, 3)},
		{"RREQ trailing byte", append(append([]byte(nil), frames[rreq]...), 0)},
		{"RREP one byte short", frames[rrep][:protocols.RREPSize-1]},
		{"RREP destination seq 0", set(rrep, 23, 0, 0, 0, 0)},
		{"RREP lifetime 0", set(rrep, 43, 0, 0, 0, 0)},
		{"RREP originator = destination", edit(rrep, func(b []byte) []byte { copy(b[27:43], b[7:23]); return b })},
		{"RERR without entries", []byte{2, 4, 0}},
		{"RERR count beyond the frame", set(rerr, 2, 3)},
		{"RERR 65 entries", append([]byte{2, 4, 65}, make([]byte, 20*65)...)},
		{"RERR zero destination", set(rerr, 3, zero16...)},
		{"RERR destination twice", set(rerr, 23, dst[:]...)},
		{"HELLO short", frames[hello][:25]},
		{"HELLO interval 0", set(hello, 2, 0, 0)},
		{"HELLO seq 0", set(hello, 8, 0, 0, 0, 0)},
		{"HELLO node seq 0", set(hello, 12, 0, 0, 0, 0)},
		{"HELLO echo hold without echo seq", set(hello, 16, 0, 0, 0, 0)},
		{"HELLO window 33", set(hello, 24, 33)},
		{"HELLO heard > window", set(hello, 24, 4, 5)},
	}
	for _, c := range invalid {
		_, err := protocols.Decode(c.frame)
		var fe *protocols.FrameError
		if !errors.As(err, &fe) {
			t.Fatalf("%s: Decode = %v, want a *FrameError", c.name, err)
		}
		doc.Invalid = append(doc.Invalid, meshReject{Name: c.name, Hex: hexOf(c.frame), Error: errorName(t, err, meshErrors), Field: fe.Field})
	}

	var file meshFile
	load(t, golden(t, "mesh.json", doc), &file)
	for _, v := range file.Claims {
		var keySeed, chainSeed [32]byte
		copy(keySeed[:], unhex(t, v.KeySeed))
		copy(chainSeed[:], unhex(t, v.Chain[0])) // the seed's first 16 bytes are link 0
		got, c, _, _ := makeClaim(keySeed, chainSeed, v.Seq, v.MaxHops)
		got.Name = v.Name
		got.Chain[0] = v.Chain[0]
		if !reflect.DeepEqual(got, v) {
			t.Errorf("%s: claim made from the seeds\n%+v\nwant\n%+v", v.Name, got, v)
		}
		for h, l := range v.Chain {
			if !c.Covers(protocols.ChainHash(unhex(t, l)), uint8(h)) {
				t.Errorf("%s: link %d does not lead to the top", v.Name, h)
			}
		}
	}
	for _, v := range file.Valid {
		p := newPacket(t, v.Type)
		if err := setFields(reflect.ValueOf(p).Elem(), v.Fields); err != nil {
			t.Fatalf("%s: fields: %v", v.Name, err)
		}
		if b, err := p.AppendBinary(nil); err != nil || hexOf(b) != v.Hex {
			t.Errorf("%s: encoded\n%x, %v\nwant\n%s", v.Name, b, err, v.Hex)
		}
		back, err := protocols.Decode(unhex(t, v.Hex))
		if err != nil {
			t.Errorf("%s: Decode: %v", v.Name, err)
			continue
		}
		sameFields(t, v.Name, reflect.ValueOf(back), v.Fields)
	}
	for _, v := range file.Invalid {
		_, err := protocols.Decode(unhex(t, v.Hex))
		var fe *protocols.FrameError
		if want := meshErrors[v.Error]; want == nil || !errors.Is(err, want) || !errors.As(err, &fe) || fe.Field != v.Field {
			t.Errorf("%s: Decode = %v, want %s on field %q", v.Name, err, v.Error, v.Field)
		}
	}
}
