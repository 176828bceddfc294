package vectors

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// governanceFile is governance.json: a genesis and its ID, signed log
// records, a head, an announcement, refusals, and a tally over the records
// with its canonical encoding and digest (docs/governance.md).
type governanceFile struct {
	Format     string           `json:"format"`
	Spec       string           `json:"spec"`
	Package    string           `json:"errors_package"`
	Identities []identityVector `json:"identities"`
	Genesis    genesisVector    `json:"genesis"`
	Records    []govRecord      `json:"records"`
	Head       govHead          `json:"head"`
	Announce   govAnnouncement  `json:"announcement"`
	Invalid    []govReject      `json:"invalid_records"`
	Tally      govTally         `json:"tally"`
}

type genesisVector struct {
	TrustDomain       string            `json:"trust_domain"`
	DefaultAllocation uint64            `json:"default_allocation"`
	Allocations       []genesisAllocVec `json:"allocations"`
	Canonical         string            `json:"canonical"`
	ID                string            `json:"id"`
}

type genesisAllocVec struct {
	Peer     string `json:"peer,omitempty"`
	SPIFFEID string `json:"spiffe_id,omitempty"`
	Tokens   uint64 `json:"tokens"`
}

// govRecord: a draft, its author (an identity of the file) and the signed
// record's bytes and ID.
type govRecord struct {
	Name     string       `json:"name"`
	Author   string       `json:"author"`
	Seq      uint64       `json:"seq"`
	Prev     string       `json:"prev"`
	Time     int64        `json:"time_ms"`
	Proposal *govProposal `json:"proposal,omitempty"`
	Vote     *govVote     `json:"vote,omitempty"`
	Hex      string       `json:"hex"`
	ID       string       `json:"id"`
}

type govProposal struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	Deadline    int64  `json:"deadline_ms"`
	Quorum      string `json:"quorum"`
	Threshold   string `json:"threshold"`
	Action      string `json:"action"` // text form, "" for none
}

type govVote struct {
	Proposal string `json:"proposal"`
	Choice   string `json:"choice"`
	Tokens   uint64 `json:"tokens"`
}

type govHead struct {
	Author string `json:"author"`
	Seq    uint64 `json:"seq"`
	Record string `json:"record"`
	Time   int64  `json:"time_ms"`
	Hex    string `json:"hex"`
}

type govAnnouncement struct {
	Head   string `json:"head"`
	Record string `json:"record"`
	Hex    string `json:"hex"`
}

// govReject: a splice of the first record (see recordReject) and the
// error of DecodeRecord, or of Verify when the bytes decode.
type govReject struct {
	Name   string `json:"name"`
	Offset int    `json:"offset"`
	Delete int    `json:"delete"`
	Insert string `json:"insert"`
	Step   string `json:"step"` // "decode" or "verify"
	Error  string `json:"error"`
}

type govTally struct {
	Proposal  string `json:"proposal"`
	Fields    any    `json:"fields"`
	Canonical string `json:"canonical"`
	Digest    string `json:"digest"`
}

var governanceErrors = map[string]error{
	"ErrMalformed":    consensus.ErrMalformed,
	"ErrTooLarge":     consensus.ErrTooLarge,
	"ErrBadSignature": consensus.ErrBadSignature,
}

// govVerifier is the node's verifier: the key bundle is a pqcsec key set
// that must belong to the author, the signature a hybrid one.
var govVerifier = consensus.VerifierFunc(func(author consensus.PeerID, key, msg, sig []byte) error {
	return pqcsec.VerifyPeer(peer.ID(author), key, consensus.SignatureDomain, msg, sig)
})

type govSigner struct{ id *pqcsec.Identity }

func (s govSigner) Sign(msg []byte) ([]byte, error) { return s.id.Sign(consensus.SignatureDomain, msg) }

func author(t *testing.T, v identityVector) consensus.Author {
	id := newIdentity(t, v)
	key, err := id.PublicKeys().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return consensus.Author{ID: consensus.PeerID(id.PeerID()), Key: key, Signer: govSigner{id}}
}

// genesisCanonical is the genesis ID's preimage as docs/governance.md
// gives it, written out here from the text.
func genesisCanonical(g genesisVector, t *testing.T) []byte {
	b := append([]byte("x0tta6bl4/genesis/1\x00"), byte(len(g.TrustDomain)))
	b = append(b, g.TrustDomain...)
	b = binary.BigEndian.AppendUint64(b, g.DefaultAllocation)
	type entry struct {
		kind byte
		id   []byte
		n    uint64
	}
	var es []entry
	for _, a := range g.Allocations {
		if a.Peer != "" {
			p, err := consensus.ParsePeerID(a.Peer)
			if err != nil {
				t.Fatal(err)
			}
			es = append(es, entry{1, []byte(p), a.Tokens})
		} else {
			es = append(es, entry{2, []byte(a.SPIFFEID), a.Tokens})
		}
	}
	sort.Slice(es, func(i, j int) bool {
		if es[i].kind != es[j].kind {
			return es[i].kind < es[j].kind
		}
		return bytes.Compare(es[i].id, es[j].id) < 0
	})
	b = binary.BigEndian.AppendUint32(b, uint32(len(es)))
	for _, e := range es {
		b = append(append(append(b, e.kind), byte(len(e.id))), e.id...)
		b = binary.BigEndian.AppendUint64(b, e.n)
	}
	return b
}

func newGenesis(t *testing.T, g genesisVector) *consensus.Genesis {
	var allocs []consensus.Allocation
	for _, a := range g.Allocations {
		var al consensus.Allocation
		if a.Peer != "" {
			p, err := consensus.ParsePeerID(a.Peer)
			if err != nil {
				t.Fatal(err)
			}
			al.Peer = p
		}
		al.SPIFFEID, al.Tokens = a.SPIFFEID, a.Tokens
		allocs = append(allocs, al)
	}
	gen, err := consensus.NewGenesis(g.TrustDomain, g.DefaultAllocation, allocs)
	if err != nil {
		t.Fatal(err)
	}
	return gen
}

// sign makes the record of v.
func (v *govRecord) sign(t *testing.T, network consensus.Hash, authors map[string]consensus.Author) *consensus.Record {
	t.Helper()
	d := consensus.Draft{Seq: v.Seq, Time: v.Time}
	if v.Prev != "" {
		copy(d.Prev[:], unhex(t, v.Prev))
	}
	if p := v.Proposal; p != nil {
		q, err := consensus.ParsePPM(p.Quorum)
		if err != nil {
			t.Fatal(err)
		}
		th, err := consensus.ParsePPM(p.Threshold)
		if err != nil {
			t.Fatal(err)
		}
		d.Proposal = &consensus.Proposal{Title: p.Title, Description: p.Description, Deadline: p.Deadline, Quorum: q, Threshold: th}
		if p.Action != "" {
			if d.Proposal.Action, err = consensus.ParseAction(p.Action); err != nil {
				t.Fatal(err)
			}
		}
	}
	if w := v.Vote; w != nil {
		c, err := consensus.ParseChoice(w.Choice)
		if err != nil {
			t.Fatal(err)
		}
		d.Vote = &consensus.Vote{Choice: c, Tokens: w.Tokens}
		copy(d.Vote.Proposal[:], unhex(t, w.Proposal))
	}
	r, err := d.Sign(network, authors[v.Author])
	if err != nil {
		t.Fatalf("%s: %v", v.Name, err)
	}
	return r
}

func TestGovernance(t *testing.T) {
	alice, bob, carol := identityFrom(t, "alice"), identityFrom(t, "bob"), identityFrom(t, "carol")
	doc := governanceFile{
		Format:     "governance: genesis ID, log records (proposal, vote), head, announcement, tally",
		Spec:       "docs/governance.md",
		Package:    "github.com/x0tta6bl4/x0tta6bl4/consensus",
		Identities: []identityVector{alice, bob, carol},
		Genesis: genesisVector{TrustDomain: "mesh.example", Allocations: []genesisAllocVec{
			{Peer: alice.PeerID, Tokens: 10000}, {Peer: bob.PeerID, Tokens: 400},
			{SPIFFEID: "spiffe://mesh.example/node/gw1", Tokens: 100}}},
	}
	authors := map[string]consensus.Author{"alice": author(t, alice), "bob": author(t, bob), "carol": author(t, carol)}
	g := newGenesis(t, doc.Genesis)
	doc.Genesis.Canonical = hexOf(genesisCanonical(doc.Genesis, t))
	doc.Genesis.ID = g.ID().String()

	t0 := vectorTime.UnixMilli()
	deadline := t0 + time.Hour.Milliseconds()
	doc.Records = []govRecord{{Name: "alice proposes", Author: "alice", Seq: 1, Time: t0,
		Proposal: &govProposal{Title: "raise the HELLO interval", Description: "250 ms to 500 ms on the WAN profile",
			Deadline: deadline, Quorum: "0.33", Threshold: "0.5", Action: "set:hello_interval=500ms"}}}
	prop := doc.Records[0].sign(t, g.ID(), authors)
	pid := prop.ID().String()
	doc.Records = append(doc.Records,
		govRecord{Name: "alice votes yes with 10000 tokens", Author: "alice", Seq: 2, Prev: pid, Time: t0 + 1000,
			Vote: &govVote{Proposal: pid, Choice: "yes", Tokens: 10000}},
		govRecord{Name: "bob votes yes with 100 tokens", Author: "bob", Seq: 1, Time: t0 + 2000,
			Vote: &govVote{Proposal: pid, Choice: "yes", Tokens: 100}},
		govRecord{Name: "carol, unlisted, votes no", Author: "carol", Seq: 1, Time: t0 + 3000,
			Vote: &govVote{Proposal: pid, Choice: "no", Tokens: 1}},
	)
	var records []*consensus.Record
	for i := 0; i < len(doc.Records); i++ {
		v := &doc.Records[i]
		r := v.sign(t, g.ID(), authors)
		records = append(records, r)
		v.Hex, v.ID = hexOf(r.Encode()), r.ID().String()
		if i == 2 { // bob changes his mind: his latest vote counts
			doc.Records = append(doc.Records, govRecord{Name: "bob votes no with 400 tokens", Author: "bob", Seq: 2, Prev: v.ID,
				Time: t0 + 4000, Vote: &govVote{Proposal: pid, Choice: "no", Tokens: 400}})
		}
	}
	aliceLast := records[1]
	head, err := consensus.SignHead(g.ID(), authors["alice"], 2, aliceLast.ID(), vectorTime.Add(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	doc.Head = govHead{Author: "alice", Seq: 2, Record: aliceLast.ID().String(), Time: head.Time, Hex: hexOf(head.Encode())}
	ann, err := consensus.NewAnnouncement(head, aliceLast)
	if err != nil {
		t.Fatal(err)
	}
	doc.Announce = govAnnouncement{Head: doc.Head.Hex, Record: doc.Records[1].Hex, Hex: hexOf(ann.Encode())}

	base := records[0].Encode()
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(base)) }
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version 2", edit(func(b []byte) []byte { b[0] = 2; return b })},
		{"kind 3", edit(func(b []byte) []byte { b[1] = 3; return b })},
		{"seq 0", edit(func(b []byte) []byte { clear(b[2:10]); return b })},
		{"seq 1 with a prev", edit(func(b []byte) []byte { b[10] = 1; return b })},
		{"trailing byte", append(bytes.Clone(base), 0)},
		{"cut in the signature", base[:len(base)-1]},
		{"title changed", edit(func(b []byte) []byte {
			i := bytes.Index(b, []byte("raise"))
			b[i] = 'R'
			return b
		})},
		{"signature changed", edit(func(b []byte) []byte { b[len(b)-1] ^= 1; return b })},
	} {
		step := "decode"
		r, err := consensus.DecodeRecord(c.b)
		if err == nil {
			step, err = "verify", r.Verify(g.ID(), govVerifier)
		}
		off, del, ins := splice(base, c.b)
		doc.Invalid = append(doc.Invalid, govReject{Name: c.name, Offset: off, Delete: del, Insert: hexOf(ins), Step: step,
			Error: errorName(t, err, governanceErrors)})
	}

	tally, err := consensus.Count(g, records, prop.ID())
	if err != nil {
		t.Fatal(err)
	}
	canon, err := tally.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	digest := tally.Digest()
	doc.Tally = govTally{Proposal: pid, Fields: fieldsOf(reflect.ValueOf(*tally)), Canonical: hexOf(canon), Digest: hexOf(digest[:])}

	var file governanceFile
	load(t, golden(t, "governance.json", doc), &file)
	ids := map[string]consensus.Author{}
	for _, v := range file.Identities {
		checkIdentity(t, v)
		ids[v.Name] = author(t, v)
	}
	g = newGenesis(t, file.Genesis)
	if c := genesisCanonical(file.Genesis, t); hexOf(c) != file.Genesis.Canonical || g.ID().String() != file.Genesis.ID {
		t.Errorf("genesis: canonical form %x, ID %v; want %s, %s", c, g.ID(), file.Genesis.Canonical, file.Genesis.ID)
	}
	if sum := sha256.Sum256(unhex(t, file.Genesis.Canonical)); hexOf(sum[:]) != file.Genesis.ID {
		t.Errorf("genesis ID is not the SHA-256 of its canonical form")
	}
	records = records[:0]
	for _, v := range file.Records {
		r := v.sign(t, g.ID(), ids)
		if hexOf(r.Encode()) != v.Hex || r.ID().String() != v.ID {
			t.Errorf("%s: signed record differs", v.Name)
		}
		back, err := consensus.DecodeRecord(unhex(t, v.Hex))
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		if err := back.Verify(g.ID(), govVerifier); err != nil {
			t.Errorf("%s: %v", v.Name, err)
		}
		if sum := sha256.Sum256(unhex(t, v.Hex)); hexOf(sum[:]) != v.ID || !reflect.DeepEqual(back.Draft, r.Draft) {
			t.Errorf("%s: decoded record differs from its draft, or its ID is not its SHA-256", v.Name)
		}
		records = append(records, back)
	}
	h, err := consensus.DecodeHead(unhex(t, file.Head.Hex))
	if err != nil || h.Verify(g.ID(), govVerifier) != nil || h.Seq != file.Head.Seq || h.Record.String() != file.Head.Record || h.Time != file.Head.Time {
		t.Errorf("head: %v", err)
	}
	a, err := consensus.DecodeAnnouncement(unhex(t, file.Announce.Hex))
	if err != nil || hexOf(a.Head.Encode()) != file.Announce.Head || hexOf(a.Record.Encode()) != file.Announce.Record {
		t.Errorf("announcement: %v", err)
	}
	for _, v := range file.Invalid {
		b := applySplice(unhex(t, file.Records[0].Hex), v.Offset, v.Delete, unhex(t, v.Insert))
		r, err := consensus.DecodeRecord(b)
		if v.Step == "verify" {
			if err != nil {
				t.Errorf("%s: does not decode: %v", v.Name, err)
				continue
			}
			err = r.Verify(g.ID(), govVerifier)
		}
		if !errors.Is(err, governanceErrors[v.Error]) {
			t.Errorf("%s: %s = %v, want %s", v.Name, v.Step, err, v.Error)
		}
	}
	var pidHash consensus.Hash
	copy(pidHash[:], unhex(t, file.Tally.Proposal))
	got, err := consensus.Count(g, records, pidHash)
	if err != nil {
		t.Fatal(err)
	}
	sameFields(t, "tally", reflect.ValueOf(*got), file.Tally.Fields)
	canon, _ = got.MarshalBinary()
	if d := got.Digest(); hexOf(canon) != file.Tally.Canonical || hexOf(d[:]) != file.Tally.Digest {
		t.Errorf("tally: canonical encoding or digest differs")
	}
	if sum := sha256.Sum256(unhex(t, file.Tally.Canonical)); hexOf(sum[:]) != file.Tally.Digest {
		t.Errorf("tally digest is not the SHA-256 of its canonical encoding")
	}
}
