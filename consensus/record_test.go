package consensus

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fixedSigner returns a constant signature, for encoding tests.
type fixedSigner []byte

func (s fixedSigner) Sign([]byte) ([]byte, error) { return s, nil }

// tinyAuthor has a 5-byte identity multihash as peer ID.
var tinyAuthor = Author{ID: PeerID([]byte{0x00, 0x03, 0xa1, 0xa2, 0xa3}), Key: []byte("K"), Signer: fixedSigner("SIG")}

func TestRecordEncoding(t *testing.T) {
	network := Hash{0xee}
	tests := []struct {
		name string
		d    Draft
		want string
	}{
		{
			name: "vote",
			d:    Draft{Seq: 2, Prev: Hash{0x11}, Time: 0x0102030405, Vote: &Vote{Proposal: Hash{0x22}, Choice: No, Tokens: 100}},
			want: "01" + "02" + "0000000000000002" + "11" + zeros(31) + "0000000102030405" +
				"05" + "0003a1a2a3" + "0001" + "4b" + "00" +
				"0029" + "22" + zeros(31) + "02" + "0000000000000064" +
				"0003" + "534947",
		},
		{
			name: "proposal with a quarantine action and an identity",
			d: Draft{Seq: 1, Time: 1000, Identity: "spiffe://mesh.test/n", Proposal: &Proposal{
				Title: "T", Description: "", Deadline: 2000, Quorum: 1, Threshold: 2,
				Action: &Quarantine{Peer: PeerID([]byte{0x00, 0x01, 0x09}), Reason: "r"},
			}},
			want: "01" + "01" + "0000000000000001" + zeros(32) + "00000000000003e8" +
				"05" + "0003a1a2a3" + "0001" + "4b" +
				"14" + hex.EncodeToString([]byte("spiffe://mesh.test/n")) +
				"001f" + "000154" + "0000" + "00000000000007d0" + "00000001" + "00000002" +
				"01" + "0007" + "03000109" + "000172" +
				"0003" + "534947",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tt.d.Sign(network, tinyAuthor)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(r.Encode()); got != tt.want {
				t.Fatalf("encoding\n got %s\nwant %s", got, tt.want)
			}
			back, err := DecodeRecord(r.Encode())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, r) || back.ID() != r.ID() {
				t.Fatalf("round trip: %+v, want %+v", back, r)
			}
		})
	}
}

func TestActionsRoundTrip(t *testing.T) {
	g := mustGenesis(t, 1)
	c := newChain(g, newTestSigner(1, false))
	for _, a := range []Action{
		nil,
		&Quarantine{Peer: newTestSigner(2, false).id, Reason: strings.Repeat("x", maxReasonLen)},
		&SetParameter{Name: "routing.hello-interval_ms", Value: "250"},
		&AcceptModel{Name: "graphsage-v2", Digest: Hash{1, 2, 3}},
		&Admit{Peer: newTestSigner(3, true).id, Tokens: MaxTokens},
		&Admit{Peer: newTestSigner(3, true).id},
		&Evict{Peer: newTestSigner(4, false).id},
	} {
		r := c.propose(t, t0, time.Minute, 0, 0, a)
		back, err := DecodeRecord(r.Encode())
		if err != nil {
			t.Fatalf("%T: %v", a, err)
		}
		if !reflect.DeepEqual(back.Proposal.Action, a) {
			t.Fatalf("action %#v, want %#v", back.Proposal.Action, a)
		}
	}
}

// TestActionEncoding pins the membership actions' wire bodies: kind,
// body length, then the fields (doc.go's layout).
func TestActionEncoding(t *testing.T) {
	peer := PeerID([]byte{0x00, 0x01, 0x09})
	for _, tt := range []struct {
		a    Action
		want string
	}{
		{&Admit{Peer: peer, Tokens: 100}, "04" + "000c" + "03000109" + "0000000000000064"},
		{&Admit{Peer: peer}, "04" + "000c" + "03000109" + "0000000000000000"},
		{&Evict{Peer: peer}, "05" + "0004" + "03000109"},
		{nil, "00" + "0000"},
	} {
		got := appendAction(nil, tt.a)
		if hex.EncodeToString(got) != tt.want {
			t.Errorf("%#v:\n got %x\nwant %s", tt.a, got, tt.want)
		}
		rd := newReader("test", got)
		back := readAction(rd)
		if err := rd.done(); err != nil || !reflect.DeepEqual(back, tt.a) {
			t.Errorf("%#v: decoded %#v, %v", tt.a, back, err)
		}
	}
	for name, b := range map[string]string{
		"admit without tokens":   "04" + "0004" + "03000109",
		"admit with extra bytes": "04" + "000d" + "03000109" + "0000000000000064" + "00",
		"admit above the limit":  "04" + "000c" + "03000109" + "0000010000000001",
		"evict with tokens":      "05" + "000c" + "03000109" + "0000000000000064",
		"evict of no peer":       "05" + "0001" + "00",
		"unknown kind":           "06" + "0000",
	} {
		raw, _ := hex.DecodeString(b)
		rd := newReader("test", raw)
		if a := readAction(rd); rd.done() == nil {
			t.Errorf("%s: decoded %#v", name, a)
		} else if !errors.Is(rd.done(), ErrMalformed) {
			t.Errorf("%s: %v does not wrap ErrMalformed", name, rd.done())
		}
	}
}

func TestParseAction(t *testing.T) {
	peer := newTestSigner(1, true).id
	ps := peer.String()
	digest := strings.Repeat("0f", 32)
	d, _ := ParseHash(digest)
	tests := []struct {
		in   string
		want Action // nil: an error
	}{
		{"quarantine:" + ps, &Quarantine{Peer: peer}},
		{"quarantine:" + ps + ":floods: a lot", &Quarantine{Peer: peer, Reason: "floods: a lot"}},
		{"admit:" + ps, &Admit{Peer: peer}},
		{"admit:" + ps + ":10000", &Admit{Peer: peer, Tokens: 10_000}},
		{"evict:" + ps, &Evict{Peer: peer}},
		{"set:gossip.d=8", &SetParameter{Name: "gossip.d", Value: "8"}},
		{"set:x=a=b", &SetParameter{Name: "x", Value: "a=b"}},
		{"model:graphsage@" + digest, &AcceptModel{Name: "graphsage", Digest: d}},
		{"admit:" + ps + ":", nil},
		{"admit:" + ps + ":-1", nil},
		{"admit:" + ps + ":0x10", nil},
		{fmt.Sprintf("admit:%s:%d", ps, MaxTokens+1), nil},
		{"admit:nobody", nil},
		{"evict:" + ps + ":1", nil},
		{"evict:", nil},
		{"quarantine:nobody", nil},
		{"set:Bad=1", nil},
		{"set:x", nil},
		{"model:m@xyz", nil},
		{"ban:" + ps, nil},
		{"quarantine", nil},
		{"", nil},
		{"quarantine:" + ps + ":" + strings.Repeat("r", maxReasonLen+1), nil},
	}
	for _, tt := range tests {
		got, err := ParseAction(tt.in)
		if tt.want == nil {
			if err == nil || !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseAction(%q) = %#v, %v; want an error wrapping ErrMalformed", tt.in, got, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseAction(%q) = %#v, %v; want %#v", tt.in, got, err, tt.want)
			continue
		}
		if back, err := ParseAction(FormatAction(got)); err != nil || !reflect.DeepEqual(back, got) {
			t.Errorf("FormatAction(%#v) = %q reads back as %#v, %v", got, FormatAction(got), back, err)
		}
	}
	if FormatAction(nil) != "" {
		t.Errorf("FormatAction(nil) = %q", FormatAction(nil))
	}
}

// TestRecordRules checks that Sign refuses what DecodeRecord would refuse.
func TestRecordRules(t *testing.T) {
	okVote := func() *Vote { return &Vote{Proposal: Hash{1}, Choice: Yes, Tokens: 1} }
	okProp := func() *Proposal { return &Proposal{Title: "t", Deadline: 2000, Threshold: 500_000} }
	tests := []struct {
		name string
		d    Draft
	}{
		{"no body", Draft{Seq: 1, Time: 1000}},
		{"two bodies", Draft{Seq: 1, Time: 1000, Vote: okVote(), Proposal: okProp()}},
		{"seq 0", Draft{Seq: 0, Time: 1000, Vote: okVote()}},
		{"seq 1 with prev", Draft{Seq: 1, Prev: Hash{1}, Time: 1000, Vote: okVote()}},
		{"seq 2 without prev", Draft{Seq: 2, Time: 1000, Vote: okVote()}},
		{"time 0", Draft{Seq: 1, Time: 0, Vote: okVote()}},
		{"bad identity", Draft{Seq: 1, Time: 1000, Identity: "https://x", Vote: okVote()}},
		{"choice 0", Draft{Seq: 1, Time: 1000, Vote: &Vote{Proposal: Hash{1}, Choice: 0, Tokens: 1}}},
		{"choice 4", Draft{Seq: 1, Time: 1000, Vote: &Vote{Proposal: Hash{1}, Choice: 4, Tokens: 1}}},
		{"zero tokens", Draft{Seq: 1, Time: 1000, Vote: &Vote{Proposal: Hash{1}, Choice: Yes}}},
		{"tokens above max", Draft{Seq: 1, Time: 1000, Vote: &Vote{Proposal: Hash{1}, Choice: Yes, Tokens: MaxTokens + 1}}},
		{"no proposal named", Draft{Seq: 1, Time: 1000, Vote: &Vote{Choice: Yes, Tokens: 1}}},
		{"empty title", Draft{Seq: 1, Time: 1000, Proposal: &Proposal{Deadline: 2000}}},
		{"long title", Draft{Seq: 1, Time: 1000, Proposal: &Proposal{Title: strings.Repeat("t", maxTitleLen+1), Deadline: 2000}}},
		{"title not UTF-8", Draft{Seq: 1, Time: 1000, Proposal: &Proposal{Title: "\xff", Deadline: 2000}}},
		{"long description", Draft{Seq: 1, Time: 1000, Proposal: &Proposal{Title: "t", Description: strings.Repeat("d", maxDescriptionLen+1), Deadline: 2000}}},
		{"deadline at creation", Draft{Seq: 1, Time: 1000, Proposal: &Proposal{Title: "t", Deadline: 1000}}},
		{"deadline too far", Draft{Seq: 1, Time: 1000, Proposal: &Proposal{Title: "t", Deadline: 1001 + MaxProposalDuration.Milliseconds()}}},
		{"quorum above 1", Draft{Seq: 1, Time: 1000, Proposal: &Proposal{Title: "t", Deadline: 2000, Quorum: PPMOne + 1}}},
		{"threshold 1", Draft{Seq: 1, Time: 1000, Proposal: &Proposal{Title: "t", Deadline: 2000, Threshold: PPMOne}}},
		{"quarantine of a bad peer", Draft{Seq: 1, Time: 1000, Proposal: &Proposal{Title: "t", Deadline: 2000, Action: &Quarantine{Peer: "x"}}}},
		{"parameter with a bad name", Draft{Seq: 1, Time: 1000, Proposal: &Proposal{Title: "t", Deadline: 2000, Action: &SetParameter{Name: "Bad Name"}}}},
		{"model without a name", Draft{Seq: 1, Time: 1000, Proposal: &Proposal{Title: "t", Deadline: 2000, Action: &AcceptModel{}}}},
		{"admission of a bad peer", Draft{Seq: 1, Time: 1000, Proposal: &Proposal{Title: "t", Deadline: 2000, Action: &Admit{Peer: "x", Tokens: 1}}}},
		{"admission above the token limit", Draft{Seq: 1, Time: 1000, Proposal: &Proposal{Title: "t", Deadline: 2000, Action: &Admit{Peer: tinyAuthor.ID, Tokens: MaxTokens + 1}}}},
		{"eviction of a bad peer", Draft{Seq: 1, Time: 1000, Proposal: &Proposal{Title: "t", Deadline: 2000, Action: &Evict{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.d.Sign(Hash{}, tinyAuthor); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Sign: %v, want ErrMalformed", err)
			}
		})
	}
	// A quorum of exactly 1 and a threshold just below 1 are allowed.
	if _, err := (Draft{Seq: 1, Time: 1000, Proposal: &Proposal{Title: "t", Deadline: 2000, Quorum: PPMOne, Threshold: PPMOne - 1}}).Sign(Hash{}, tinyAuthor); err != nil {
		t.Fatalf("extreme but valid proposal: %v", err)
	}
}

// TestDecodeRecordErrors corrupts a valid encoding in ways a peer could.
func TestDecodeRecordErrors(t *testing.T) {
	r, err := (Draft{Seq: 2, Prev: Hash{0x11}, Time: 5, Vote: &Vote{Proposal: Hash{0x22}, Choice: No, Tokens: 100}}).Sign(Hash{}, tinyAuthor)
	if err != nil {
		t.Fatal(err)
	}
	good := r.Encode()
	set := func(off int, v byte) []byte { b := bytes.Clone(good); b[off] = v; return b }
	tests := []struct {
		name    string
		in      []byte
		wantErr error
	}{
		{"empty", nil, ErrMalformed},
		{"version 2", set(0, 2), ErrMalformed},
		{"kind 3", set(1, 3), ErrMalformed},
		{"kind says proposal", set(1, 1), ErrMalformed},
		{"truncated", good[:len(good)-1], ErrMalformed},
		{"trailing byte", append(bytes.Clone(good), 0), ErrMalformed},
		{"author length 0", set(50, 0), ErrMalformed},
		{"choice 9", set(50+1+5+2+1+1+2+32, 9), ErrMalformed},
		{"too large", make([]byte, MaxRecordSize+1), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeRecord(tt.in); !errors.Is(err, tt.wantErr) {
				t.Fatalf("DecodeRecord: %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	g := mustGenesis(t, 100)
	alice, mallory := newTestSigner(1, true), newTestSigner(2, true)
	r := newChain(g, alice).propose(t, t0, time.Hour, 0, 0, nil)
	if err := r.Verify(g.ID(), testVerifier); err != nil {
		t.Fatalf("valid record: %v", err)
	}
	other := mustGenesis(t, 101)

	// Mallory signs with her key but names Alice as author.
	impostor := Author{ID: alice.id, Key: mallory.key, Signer: mallory.signer}
	forged, err := (Draft{Seq: 1, Time: r.Time, Proposal: r.Proposal}).Sign(g.ID(), impostor)
	if err != nil {
		t.Fatal(err)
	}
	// Mallory signs with her key, names Alice and carries Alice's key.
	stolen := Author{ID: alice.id, Key: alice.key, Signer: mallory.signer}
	wrongKey, err := (Draft{Seq: 1, Time: r.Time, Proposal: r.Proposal}).Sign(g.ID(), stolen)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(r.Encode())
	tampered[len(tampered)-100] ^= 1 // inside the ML-DSA half of the signature
	tamperedAuthor := bytes.Clone(r.Encode())
	tamperedAuthor[60] ^= 1 // inside the author's peer ID
	tamperedKey := bytes.Clone(r.Encode())
	tamperedKey[100] ^= 1 // inside the Ed25519 half of the key

	tests := []struct {
		name    string
		rec     []byte
		network Hash
	}{
		{"author bound to another key", forged.Encode(), g.ID()},
		{"signed by another key", wrongKey.Encode(), g.ID()},
		{"ML-DSA half altered", tampered, g.ID()},
		{"author altered", tamperedAuthor, g.ID()},
		{"key altered", tamperedKey, g.ID()},
		{"another network", r.Encode(), other.ID()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := DecodeRecord(tt.rec)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if err := rec.Verify(tt.network, testVerifier); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("Verify: %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestHeadAndAnnouncement(t *testing.T) {
	g := mustGenesis(t, 100)
	s := newTestSigner(1, true)
	c := newChain(g, s)
	r := c.propose(t, t0, time.Hour, 0, 0, nil)
	h, err := SignHead(g.ID(), s.author(), r.Seq, r.ID(), t0)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeHead(h.Encode())
	if err != nil || !reflect.DeepEqual(back, h) {
		t.Fatalf("head round trip: %v", err)
	}
	if err := back.Verify(g.ID(), testVerifier); err != nil {
		t.Fatalf("head verify: %v", err)
	}
	if err := back.Verify(Hash{}, testVerifier); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("head verify on another network: %v", err)
	}

	a, err := NewAnnouncement(h, r)
	if err != nil {
		t.Fatal(err)
	}
	da, err := DecodeAnnouncement(a.Encode())
	if err != nil || !bytes.Equal(da.Record.Encode(), r.Encode()) || !bytes.Equal(da.Head.Encode(), h.Encode()) {
		t.Fatalf("announcement round trip: %v", err)
	}
	headOnly, err := NewAnnouncement(h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if da, err := DecodeAnnouncement(headOnly.Encode()); err != nil || da.Record != nil {
		t.Fatalf("head-only announcement: %v", err)
	}
	r2 := c.vote(t, at(time.Minute), r, Yes, 1)
	if _, err := NewAnnouncement(h, r2); !errors.Is(err, ErrMalformed) {
		t.Fatalf("announcement of a record its head does not name: %v", err)
	}

	tests := []struct {
		name    string
		now     time.Time
		from    PeerID
		wantErr error
	}{
		{"fresh", at(time.Minute), s.id, nil},
		{"from another peer", at(time.Minute), newTestSigner(2, false).id, ErrSenderMismatch},
		{"stale", at(11 * time.Minute), s.id, ErrStale},
		{"from the future", at(-time.Second), s.id, ErrFuture},
		{"within skew", at(-100 * time.Millisecond), s.id, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := da.Check(tt.now, tt.from, 10*time.Minute, 250*time.Millisecond)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Check: %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestPeerIDText(t *testing.T) {
	s := newTestSigner(1, false)
	text := s.id.String()
	if !strings.HasPrefix(text, "12D3KooW") {
		t.Fatalf("Ed25519 peer ID %q does not have libp2p's 12D3KooW prefix", text)
	}
	back, err := ParsePeerID(text)
	if err != nil || back != s.id {
		t.Fatalf("ParsePeerID(%q) = %x, %v", text, back, err)
	}
	for _, bad := range []string{"", "0OIl", "12D3KooW", "1", strings.Repeat("z", 200)} {
		if _, err := ParsePeerID(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParsePeerID(%q): %v, want ErrMalformed", bad, err)
		}
	}
	h := Hash{1, 2, 3}
	if back, err := ParseHash(h.String()); err != nil || back != h {
		t.Fatalf("ParseHash: %v", err)
	}
	if _, err := ParseHash("xyz"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("ParseHash(xyz): %v", err)
	}
}

func TestJSON(t *testing.T) {
	peer := newTestSigner(1, false).id
	tests := []struct {
		v    any
		want string
	}{
		{&Quarantine{Peer: peer, Reason: "r"}, `{"kind":"quarantine","peer":"` + peer.String() + `","reason":"r"}`},
		{&SetParameter{Name: "n", Value: "v"}, `{"kind":"set-parameter","name":"n","value":"v"}`},
		{&AcceptModel{Name: "m", Digest: Hash{1}}, `{"kind":"accept-model","name":"m","digest":"01` + zeros(31) + `"}`},
		{&Admit{Peer: peer, Tokens: 64}, `{"kind":"admit","peer":"` + peer.String() + `","tokens":64}`},
		{&Evict{Peer: peer}, `{"kind":"evict","peer":"` + peer.String() + `"}`},
		{Ballot{Voter: peer, Seq: 1, Record: Hash{2}, Choice: Abstain, Tokens: 4, Power: 2_000_000},
			`{"voter":"` + peer.String() + `","seq":1,"record":"02` + zeros(31) + `","choice":"abstain","tokens":4,"power":2000000}`},
		{VoidVote{Voter: peer, Seq: 3, Record: Hash{3}, Reason: ReasonAfterDeadline},
			`{"voter":"` + peer.String() + `","seq":3,"record":"03` + zeros(31) + `","reason":"after-deadline"}`},
		{struct {
			Q PPM
			O Outcome
			S State
		}{330_000, Passed, StateClosing}, `{"Q":"0.33","O":"PASSED","S":"closing"}`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(tt.v)
		if err != nil {
			t.Fatalf("%T: %v", tt.v, err)
		}
		if string(got) != tt.want {
			t.Errorf("%T:\n got %s\nwant %s", tt.v, got, tt.want)
		}
	}
}
