package vectors

import (
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// dhtFile is dht.json: the record namespaces of the private DHT and what
// their validators accept (docs/governance.md section 7 for /x0log/ and
// /x0rec/, docs/security.md section 5 for /x0id/).
type dhtFile struct {
	Format   string            `json:"format"`
	Spec     string            `json:"spec"`
	Genesis  genesisVector     `json:"genesis"`
	Values   map[string]string `json:"values"`
	Validate []dhtValidate     `json:"validate"`
	Select   []dhtSelect       `json:"select"`
}

// dhtValidate: a key (its bytes as hex: /x0id/ keys hold a binary peer
// ID), a value of Values and, for /x0id/, the validator's clock; Error is
// "" when the validator accepts.
type dhtValidate struct {
	Name  string `json:"name"`
	Key   string `json:"key"`
	Value string `json:"value"`
	Now   string `json:"now,omitempty"`
	Error string `json:"error"`
}

// dhtSelect: the index Select picks among values for a key.
type dhtSelect struct {
	Name   string   `json:"name"`
	Key    string   `json:"key"`
	Values []string `json:"values"`
	Now    string   `json:"now,omitempty"`
	Pick   int      `json:"pick"`
}

// dhtErrors are the errors of the /x0id/ validator (pqcsec) and of the
// /x0log/ and /x0rec/ validators (consensus).
var dhtErrors = map[bool]map[string]error{
	true: {
		"pqcsec.ErrMalformed":    pqcsec.ErrMalformed,
		"pqcsec.ErrBadSignature": pqcsec.ErrBadSignature,
		"pqcsec.ErrExpired":      pqcsec.ErrExpired,
		"pqcsec.ErrNotYetValid":  pqcsec.ErrNotYetValid,
		"pqcsec.ErrPeerMismatch": pqcsec.ErrPeerMismatch,
	},
	false: {
		"consensus.ErrMalformed":    consensus.ErrMalformed,
		"consensus.ErrBadSignature": consensus.ErrBadSignature,
		"consensus.ErrWrongKey":     consensus.ErrWrongKey,
		"consensus.ErrQuota":        consensus.ErrQuota,
	},
}

type dhtValidator interface {
	Validate(key string, value []byte) error
	Select(key string, values [][]byte) (int, error)
}

func TestDHT(t *testing.T) {
	alice, bob := identityFrom(t, "alice"), identityFrom(t, "bob")
	ida := newIdentity(t, alice)
	rec1 := issue(t, ida, "mesh.example", 0, nil, vectorTime)
	rec2 := issue(t, ida, "mesh.example", 0, nil, vectorTime.Add(time.Hour))
	recBob := issue(t, newIdentity(t, bob), "mesh.example", 0, nil, vectorTime)

	gv := genesisVector{TrustDomain: "mesh.example", Allocations: []genesisAllocVec{{Peer: alice.PeerID, Tokens: 10000}}}
	g := newGenesis(t, gv)
	gv.Canonical, gv.ID = hexOf(genesisCanonical(gv, t)), g.ID().String()
	au := author(t, alice)
	prop := govRecord{Name: "proposal", Author: "alice", Seq: 1, Time: vectorTime.UnixMilli(),
		Proposal: &govProposal{Title: "t", Deadline: vectorTime.Add(time.Hour).UnixMilli(), Quorum: "0.5", Threshold: "0.5"}}
	r := prop.sign(t, g.ID(), map[string]consensus.Author{"alice": au})
	head1, err := consensus.SignHead(g.ID(), au, 1, r.ID(), vectorTime)
	if err != nil {
		t.Fatal(err)
	}
	head1b, err := consensus.SignHead(g.ID(), au, 1, r.ID(), vectorTime.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	aub := author(t, bob)
	propBob := govRecord{Name: "bob's proposal", Author: "bob", Seq: 1, Time: vectorTime.UnixMilli(),
		Proposal: &govProposal{Title: "b", Deadline: vectorTime.Add(time.Hour).UnixMilli(), Quorum: "0.5", Threshold: "0.5"}}
	rb := propBob.sign(t, g.ID(), map[string]consensus.Author{"bob": aub})
	headBob, err := consensus.SignHead(g.ID(), aub, 1, rb.ID(), vectorTime)
	if err != nil {
		t.Fatal(err)
	}
	forged := append([]byte(nil), head1.Encode()...)
	forged[len(forged)-1] ^= 1

	doc := dhtFile{
		Format: "DHT record namespaces /x0id/, /x0log/, /x0rec/ and their validators",
		Spec:   "docs/governance.md section 7, docs/security.md section 5",
		Values: map[string]string{
			"alice record v1": hexOf(rec1.Bytes()), "alice record v2": hexOf(rec2.Bytes()), "bob record": hexOf(recBob.Bytes()),
			"alice head seq 1": hexOf(head1.Encode()), "alice head seq 1, re-signed later": hexOf(head1b.Encode()),
			"alice head, forged": hexOf(forged), "proposal": hexOf(r.Encode()),
			"bob head": hexOf(headBob.Encode()), "bob proposal": hexOf(rb.Encode()),
		},
		Genesis: gv,
	}
	pa, pb := peer.ID(ida.PeerID()), newIdentity(t, bob).PeerID()
	idKey := func(p peer.ID) string { return hexOf([]byte(pqcsec.RecordKey(p))) }
	at := func(d time.Duration) string { return vectorTime.Add(d).Format(time.RFC3339Nano) }
	expiry := rec1.Expiry().Sub(vectorTime)
	doc.Validate = []dhtValidate{
		{Name: "/x0id/: a valid record under its peer", Key: idKey(pa), Value: "alice record v1", Now: at(time.Minute)},
		{Name: "/x0id/: another peer's key", Key: idKey(pb), Value: "alice record v1", Now: at(time.Minute), Error: "pqcsec.ErrPeerMismatch"},
		{Name: "/x0id/: 1 ns before expiry", Key: idKey(pa), Value: "alice record v1", Now: at(expiry - 1)},
		{Name: "/x0id/: at the instant of expiry", Key: idKey(pa), Value: "alice record v1", Now: at(expiry), Error: "pqcsec.ErrExpired"},
		{Name: "/x0id/: exactly MaxRecordTTL + 2 min before expiry", Key: idKey(pa), Value: "alice record v1",
			Now: at(expiry - pqcsec.MaxRecordTTL - 2*time.Minute)},
		{Name: "/x0id/: 1 ns more than MaxRecordTTL + 2 min before expiry", Key: idKey(pa), Value: "alice record v1",
			Now: at(expiry - pqcsec.MaxRecordTTL - 2*time.Minute - 1), Error: "pqcsec.ErrNotYetValid"},
		{Name: "/x0id/: key with the text form of the record's peer ID (read as the bytes of another)", Key: hexOf([]byte("/x0id/" + pa.String())),
			Value: "alice record v1", Now: at(time.Minute), Error: "pqcsec.ErrPeerMismatch"},
		{Name: "/x0id/: key that is no peer ID", Key: hexOf([]byte("/x0id/\x00")), Value: "alice record v1", Now: at(time.Minute),
			Error: "pqcsec.ErrMalformed"},
		{Name: "/x0log/: a valid head", Key: hexOf([]byte(consensus.HeadKey(au.ID))), Value: "alice head seq 1"},
		{Name: "/x0log/: under another author's key", Key: hexOf([]byte(consensus.HeadKey(consensus.PeerID(pb)))), Value: "alice head seq 1",
			Error: "consensus.ErrWrongKey"},
		{Name: "/x0log/: forged signature", Key: hexOf([]byte(consensus.HeadKey(au.ID))), Value: "alice head, forged", Error: "consensus.ErrBadSignature"},
		{Name: "/x0rec/: a record under its SHA-256", Key: hexOf([]byte(consensus.RecordKey(r.ID()))), Value: "proposal"},
		{Name: "/x0rec/: under another hash", Key: hexOf([]byte(consensus.RecordKey(consensus.Hash{1}))), Value: "proposal", Error: "consensus.ErrWrongKey"},
		{Name: "/x0log/: a non-member's head, closed mode", Key: hexOf([]byte(consensus.HeadKey(aub.ID))), Value: "bob head", Error: "consensus.ErrQuota"},
		{Name: "/x0rec/: a non-member's record, closed mode", Key: hexOf([]byte(consensus.RecordKey(rb.ID()))), Value: "bob proposal", Error: "consensus.ErrQuota"},
	}
	doc.Select = []dhtSelect{
		{Name: "/x0id/: the higher version", Key: idKey(pa), Values: []string{"alice record v1", "alice record v2"}, Now: at(2 * time.Hour)},
		{Name: "/x0id/: an expired record is never selected", Key: idKey(pa), Values: []string{"alice record v2", "alice record v1"}, Now: at(expiry + 30*time.Minute)},
		{Name: "/x0log/: the same seq signed later", Key: hexOf([]byte(consensus.HeadKey(au.ID))), Values: []string{"alice head seq 1", "alice head seq 1, re-signed later"}},
	}
	// The /x0log/ and /x0rec/ validators run in closed mode, alice the
	// only member.
	quota := func() *consensus.AuthorQuota {
		return consensus.NewAuthorQuota(consensus.QuotaConfig{Closed: true,
			Members: consensus.MembersFunc(func(p consensus.PeerID) bool { return p == au.ID })})
	}
	validator := func(key string, now string) dhtValidator {
		switch {
		case strings.HasPrefix(key, "/x0id/"):
			tm, err := time.Parse(time.RFC3339Nano, now)
			if err != nil {
				t.Fatal(err)
			}
			return pqcsec.RecordValidator{Now: func() time.Time { return tm }}
		case strings.HasPrefix(key, "/x0log/"):
			return consensus.NewHeadValidator(g, govVerifier, quota())
		}
		return consensus.NewRecordValidator(g, govVerifier, quota())
	}
	run := func(doc *dhtFile, fill bool) {
		for i, v := range doc.Validate {
			key := string(unhex(t, v.Key))
			err := validator(key, v.Now).Validate(key, unhex(t, doc.Values[v.Value]))
			name := ""
			if err != nil {
				name = errorName(t, err, dhtErrors[strings.HasPrefix(key, "/x0id/")])
			}
			if fill {
				doc.Validate[i].Error = name
			} else if name != v.Error {
				t.Errorf("%s: Validate = %v, want %q", v.Name, err, v.Error)
			}
		}
		for i, v := range doc.Select {
			key := string(unhex(t, v.Key))
			var vals [][]byte
			for _, n := range v.Values {
				vals = append(vals, unhex(t, doc.Values[n]))
			}
			pick, err := validator(key, v.Now).Select(key, vals)
			if err != nil {
				t.Fatalf("%s: %v", v.Name, err)
			}
			if fill {
				doc.Select[i].Pick = pick
			} else if pick != v.Pick {
				t.Errorf("%s: Select = %d, want %d", v.Name, pick, v.Pick)
			}
		}
	}
	want := map[string]string{}
	for _, v := range doc.Validate {
		want[v.Name] = v.Error
	}
	run(&doc, true)
	for _, v := range doc.Validate {
		if v.Error != want[v.Name] {
			t.Fatalf("%s: the validator says %q, the case expects %q", v.Name, v.Error, want[v.Name])
		}
	}

	var file dhtFile
	load(t, golden(t, "dht.json", doc), &file)
	if newGenesis(t, file.Genesis).ID().String() != file.Genesis.ID {
		t.Errorf("genesis ID differs")
	}
	run(&file, false)
}
