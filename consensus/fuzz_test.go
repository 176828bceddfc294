package consensus

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fuzzGenesis and the signers are built once: key generation is slow and
// the fuzz targets need valid seeds, not fresh keys. Seeds use the bare
// Ed25519 signer except for one hybrid record: the layout is the same and
// small inputs keep the fuzzer's minimization of new inputs fast.
var (
	fuzzGenesis, _ = NewGenesis(testTrustDomain, 100, nil)
	fuzzSigner     = newTestSigner(1, false)
	fuzzHybrid     = newTestSigner(2, true)
)

// seedRecords returns valid records of every shape plus near misses.
func seedRecords(t testing.TB) [][]byte {
	c := newChain(fuzzGenesis, fuzzSigner)
	p := c.propose(t, t0, time.Hour, 1, 2, nil)
	recs := []*Record{
		p,
		c.propose(t, t0, time.Hour, 330_000, 500_000, &Quarantine{Peer: fuzzSigner.id, Reason: "r"}),
		c.propose(t, t0, time.Minute, PPMOne, PPMOne-1, &SetParameter{Name: "a.b", Value: "v"}),
		c.propose(t, t0, time.Minute, 0, 0, &AcceptModel{Name: "m", Digest: Hash{9}}),
		c.propose(t, t0, time.Minute, 0, 0, &Admit{Peer: fuzzHybrid.id, Tokens: 7}),
		c.propose(t, t0, time.Minute, 0, 0, &Evict{Peer: fuzzHybrid.id}),
		c.vote(t, t0, p, Abstain, MaxTokens),
		newChain(fuzzGenesis, fuzzHybrid).vote(t, t0, p, Yes, 1),
	}
	sc := newChain(fuzzGenesis, fuzzSigner)
	sc.a.SPIFFEID = "spiffe://" + testTrustDomain + "/node/x"
	recs = append(recs, sc.vote(t, t0, p, No, 5))
	var out [][]byte
	for _, r := range recs {
		b := r.Encode()
		out = append(out, b, b[:len(b)-1], append(bytes.Clone(b), 0))
	}
	return append(out, nil, []byte{1}, []byte{1, 2})
}

// checkDecodeError fails unless err wraps one of the decoders' sentinels.
func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
		t.Fatalf("decode error %v wraps neither ErrMalformed nor ErrTooLarge", err)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, s := range seedRecords(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > MaxRecordSize+64 {
			t.Skip("beyond any valid record")
		}
		r, err := DecodeRecord(b)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		// Re-encode from the decoded fields, not from the kept bytes.
		enc := appendBytes16(r.appendUnsigned(nil), r.Sig)
		if !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", enc, b)
		}
		again, err := DecodeRecord(enc)
		if err != nil {
			t.Fatalf("decode of re-encoding: %v", err)
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("decode(encode(r)) = %+v, want %+v", again, r)
		}
		// Whatever decodes must be safe to verify: an error, never a panic.
		if err := r.Verify(fuzzGenesis.ID(), testVerifier); err != nil && !errors.Is(err, ErrBadSignature) {
			t.Fatalf("Verify: %v", err)
		}
	})
}

func seedHeads(t testing.TB) [][]byte {
	var out [][]byte
	for _, seq := range []uint64{1, 7} {
		h, err := SignHead(fuzzGenesis.ID(), fuzzSigner.author(), seq, Hash{7}, t0)
		if err != nil {
			t.Fatal(err)
		}
		b := h.Encode()
		out = append(out, b, b[:len(b)-1], append(bytes.Clone(b), 0))
	}
	return append(out, nil, []byte{1})
}

func FuzzDecodeHead(f *testing.F) {
	seeds := seedHeads(f)
	for _, s := range seeds {
		f.Add(s)
	}
	v := NewHeadValidator(fuzzGenesis, testVerifier, nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > MaxHeadSize+64 {
			t.Skip("beyond any valid head")
		}
		h, err := DecodeHead(b)
		if err != nil {
			checkDecodeError(t, err)
			if v.Validate(HeadKey(fuzzSigner.id), b) == nil {
				t.Fatalf("validator accepts what does not decode")
			}
			return
		}
		enc := appendBytes16(h.appendUnsigned(nil), h.Sig)
		if !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", enc, b)
		}
		again, err := DecodeHead(enc)
		if err != nil || !reflect.DeepEqual(again, h) {
			t.Fatalf("decode(encode(h)) = %+v, %v; want %+v", again, err, h)
		}
		_ = v.Validate(HeadKey(h.Author), b) // must not panic
		if i, err := v.Select(HeadKey(h.Author), [][]byte{b, seeds[0]}); err != nil || i < 0 || i > 1 {
			t.Fatalf("Select = %d, %v", i, err)
		}
	})
}

func FuzzDecodeAnnouncement(f *testing.F) {
	c := newChain(fuzzGenesis, fuzzSigner)
	p := c.propose(f, t0, time.Hour, 1, 2, &Quarantine{Peer: fuzzSigner.id})
	h, err := SignHead(fuzzGenesis.ID(), fuzzSigner.author(), p.Seq, p.ID(), t0)
	if err != nil {
		f.Fatal(err)
	}
	for _, rec := range []*Record{p, nil} {
		a, err := NewAnnouncement(h, rec)
		if err != nil {
			f.Fatal(err)
		}
		b := a.Encode()
		f.Add(b)
		f.Add(b[:len(b)-1])
		f.Add(append(bytes.Clone(b), 0))
	}
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > MaxAnnouncementSize+64 {
			t.Skip("beyond any valid announcement")
		}
		a, err := DecodeAnnouncement(b)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		again, err := NewAnnouncement(a.Head, a.Record)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(again.Encode(), b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", again.Encode(), b)
		}
		if err := a.Check(t0, a.Head.Author, time.Minute, time.Second); err != nil &&
			!errors.Is(err, ErrStale) && !errors.Is(err, ErrFuture) {
			t.Fatalf("Check: %v", err)
		}
	})
}

func FuzzParseGenesis(f *testing.F) {
	alice := fuzzSigner.id.String()
	for _, s := range []string{
		`trust_domain = "mesh.test"`,
		"trust_domain = \"mesh.test\"\ndefault_allocation = 5\n[[allocations]]\npeer = \"" + alice + "\"\ntokens = 7\n[[allocations]]\nspiffe_id = \"spiffe://mesh.test/a\"\ntokens = 9\n",
		`{"trust_domain": "mesh.test", "default_allocation": 1, "allocations": [{"peer": "` + alice + `", "tokens": 3}]}`,
		`{"trust_domain": "mesh.test", "allocations": [{"spiffe_id": "spiffe://mesh.test/x/y", "tokens": 0}]}`,
		`{"trust_domain": "mesh.test"} {}`,
		"trust_domain = 1",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			t.Skip("genesis fuzz inputs are bounded to 64 KiB")
		}
		g, err := ParseGenesis(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidGenesis) {
				t.Fatalf("error %v does not wrap ErrInvalidGenesis", err)
			}
			return
		}
		for name, marshal := range map[string]func() ([]byte, error){"json": g.MarshalJSON, "toml": g.MarshalTOML} {
			out, err := marshal()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			back, err := ParseGenesis(out)
			if err != nil {
				t.Fatalf("%s: parse of %q: %v", name, out, err)
			}
			if back.ID() != g.ID() {
				t.Fatalf("%s round trip changed the genesis:\n%s", name, out)
			}
		}
	})
}

// FuzzDecodeAction decodes arbitrary action fields (kind, length, body) as
// a proposal record carries them: a decoded action re-encodes to the same
// bytes and validates, and an error wraps ErrMalformed.
func FuzzDecodeAction(f *testing.F) {
	for _, a := range []Action{nil, &Quarantine{Peer: fuzzSigner.id, Reason: "r"}, &SetParameter{Name: "a", Value: "b"},
		&AcceptModel{Name: "m", Digest: Hash{1}}, &Admit{Peer: fuzzHybrid.id, Tokens: MaxTokens}, &Admit{Peer: fuzzSigner.id},
		&Evict{Peer: fuzzSigner.id}} {
		b := appendAction(nil, a)
		f.Add(b)
		f.Add(b[:len(b)-1])
	}
	f.Add([]byte{4, 0, 1, 0})
	f.Add([]byte{5, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 3+maxActionBody+16 {
			t.Skip("beyond any valid action")
		}
		rd := newReader("action", b)
		a := readAction(rd)
		if err := rd.done(); err != nil {
			checkDecodeError(t, err)
			return
		}
		if got := appendAction(nil, a); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, b)
		}
		if a != nil {
			if err := a.validate(); err != nil {
				t.Fatalf("decoded action does not validate: %v", err)
			}
		}
	})
}

// FuzzParseAction reads arbitrary text forms of actions: an action read
// validates and reads back from FormatAction as the same value; an error
// wraps ErrMalformed; nothing panics.
func FuzzParseAction(f *testing.F) {
	p := fuzzSigner.id.String()
	for _, s := range []string{"quarantine:" + p, "quarantine:" + p + ":why", "admit:" + p, "admit:" + p + ":100",
		"evict:" + p, "set:gossip.d=8", "model:m@" + Hash{1}.String(), "admit:" + p + ":x", "evict:", ":", "nope"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAction(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if err := a.validate(); err != nil {
			t.Fatalf("ParseAction(%q) = %#v does not validate: %v", s, a, err)
		}
		back, err := ParseAction(FormatAction(a))
		if err != nil || !reflect.DeepEqual(back, a) {
			t.Fatalf("ParseAction(%q) = %#v → %q → %#v, %v", s, a, FormatAction(a), back, err)
		}
		if len(appendAction(nil, a)) > 3+maxActionBody {
			t.Fatalf("ParseAction(%q) gave an action too large for a record", s)
		}
	})
}

// FuzzParseAllocation reads arbitrary genesis entries as the genesis
// command takes them: an entry read makes a valid genesis alone, and an
// error wraps ErrInvalidGenesis.
func FuzzParseAllocation(f *testing.F) {
	for _, s := range []string{fuzzSigner.id.String(), fuzzSigner.id.String() + "=5", "spiffe://mesh.test/a=1", "x=", "=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAllocation(s, 100)
		if err != nil {
			if !errors.Is(err, ErrInvalidGenesis) {
				t.Fatalf("error %v does not wrap ErrInvalidGenesis", err)
			}
			return
		}
		if a.SPIFFEID != "" && !strings.HasPrefix(a.SPIFFEID, "spiffe://"+testTrustDomain+"/") {
			return // valid, but of another trust domain than the test genesis
		}
		if _, err := NewGenesis(testTrustDomain, 0, []Allocation{a}); err != nil {
			t.Fatalf("ParseAllocation(%q) = %+v, which no genesis takes: %v", s, a, err)
		}
	})
}

func FuzzTallyUnmarshal(f *testing.F) {
	p, recs := mixedRecords(f, fuzzGenesis)
	tl, err := Count(fuzzGenesis, recs, p.ID())
	if err != nil {
		f.Fatal(err)
	}
	b, _ := tl.MarshalBinary()
	f.Add(b)
	f.Add(b[:len(b)-1])
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<20 {
			t.Skip("beyond the fuzzed size")
		}
		var tl Tally
		if err := tl.UnmarshalBinary(b); err != nil {
			checkDecodeError(t, err)
			return
		}
		enc, _ := tl.MarshalBinary()
		if !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", enc, b)
		}
	})
}

func FuzzParsePPM(f *testing.F) {
	for _, s := range []string{"0", "1", "0.5", ".33", "0.000001", "1.0000001", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePPM(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if p > PPMOne {
			t.Fatalf("ParsePPM(%q) = %d above 1", s, p)
		}
		if back, err := ParsePPM(p.String()); err != nil || back != p {
			t.Fatalf("ParsePPM(%q) = %d, %v; want %d", p.String(), back, err, p)
		}
	})
}

func FuzzParsePeerID(f *testing.F) {
	f.Add(fuzzSigner.id.String())
	f.Add(fuzzHybrid.id.String())
	f.Add("1")
	f.Add("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePeerID(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if p.String() != s {
			t.Fatalf("ParsePeerID(%q).String() = %q", s, p.String())
		}
	})
}

// FuzzCountOrder checks order independence on sets chosen by the fuzzer: a
// subset of a fixed record pool, in an order the fuzzer picks, must tally
// to the same bytes as the same subset sorted.
func FuzzCountOrder(f *testing.F) {
	p, pool := mixedRecords(f, fuzzGenesis)
	f.Add(uint64(0), []byte{0, 1, 2, 3})
	f.Add(uint64(1), []byte{5, 4, 3, 2, 1, 0, 9, 8})
	f.Fuzz(func(t *testing.T, mask uint64, order []byte) {
		if len(order) > 256 {
			t.Skip("order bounded to 256 picks")
		}
		var subset []*Record
		for i, r := range pool {
			if i == 0 || mask&(1<<(i%64)) == 0 { // always keep the proposal
				subset = append(subset, r)
			}
		}
		shuffled := append([]*Record(nil), subset...)
		for i, o := range order {
			j, k := i%len(shuffled), int(o)%len(shuffled)
			shuffled[j], shuffled[k] = shuffled[k], shuffled[j]
		}
		a, err := Count(fuzzGenesis, subset, p.ID())
		if err != nil {
			t.Fatal(err)
		}
		b, err := Count(fuzzGenesis, shuffled, p.ID())
		if err != nil {
			t.Fatal(err)
		}
		ab, _ := a.MarshalBinary()
		bb, _ := b.MarshalBinary()
		if !bytes.Equal(ab, bb) {
			t.Fatalf("order changed the tally:\n%x\n%x", ab, bb)
		}
	})
}

// FuzzRecordValidatorQuota feeds arbitrary values to the /x0rec/
// validator under an author quota, open and closed: it never panics,
// takes nothing that does not decode and verify under its content key,
// takes no non-member's value in closed mode, and never counts more of an
// author's records than the quota allows.
func FuzzRecordValidatorQuota(f *testing.F) {
	for _, s := range seedRecords(f) {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, b []byte, closed bool) {
		if len(b) > MaxRecordSize+64 {
			t.Skip("beyond any valid record")
		}
		member := MembersFunc(func(p PeerID) bool { return p == fuzzHybrid.id })
		q := NewAuthorQuota(QuotaConfig{Members: member, Closed: closed, GuestRecords: 1, MemberRecords: 2, MaxGuests: 1})
		v := NewRecordValidator(fuzzGenesis, testVerifier, q)
		key := RecordKey(sha256.Sum256(b))
		err := v.Validate(key, b)
		if err == nil {
			r, derr := DecodeRecord(b)
			if derr != nil || r.Verify(fuzzGenesis.ID(), testVerifier) != nil {
				t.Fatalf("took a value that does not decode or verify: %v", derr)
			}
			if closed && r.Author != fuzzHybrid.id {
				t.Fatalf("took a non-member's record in closed mode")
			}
			if q.Count(r.Author) != 1 {
				t.Fatalf("counted %d records of the author after one", q.Count(r.Author))
			}
			if again := v.Validate(key, b); again != nil {
				t.Fatalf("the same record again: %v", again)
			}
		}
		if v.Validate(RecordKey(Hash{}), b) == nil {
			t.Fatalf("took a value under another key")
		}
	})
}
