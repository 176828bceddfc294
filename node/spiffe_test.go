package node

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/mesh"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// TestSPIREAdmission runs [spiffe] on real nodes with a real SPIRE server
// and agent. Node a fetches its X.509-SVID from the agent's Workload API
// and binds it into its identity record; node b verifies peers against
// the trust bundle file and requires an SVID (require_svid); node c only
// claims the trust domain, as any key holder can. b admits a as a mesh
// neighbor and takes its telemetry; c's SPIFFE ID counts for nothing, so b
// refuses it both (on the old code the trust-domain string was enough).
// The genesis gives a's SPIFFE ID tokens: a votes with them, and b counts
// the vote once it has tied the ID to a's keys.
func TestSPIREAdmission(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString("x0tr.test")
	id := spiffeid.RequireFromPath(td, "/x0tta6bl4/node-a")
	sp := startSPIRE(t, id)[0]

	// The genesis gives a's SPIFFE ID 400 tokens and b 100 by peer ID.
	ka, _ := newIdentity(t)
	kb, _ := newIdentity(t)
	idb, _ := peer.IDFromPrivateKey(kb)
	g, err := consensus.NewGenesis(td.Name(), 0, []consensus.Allocation{
		{SPIFFEID: id.String(), Tokens: 400}, {Peer: consensus.PeerID(idb), Tokens: 100}})
	if err != nil {
		t.Fatal(err)
	}
	gb, err := g.MarshalTOML()
	if err != nil {
		t.Fatal(err)
	}
	genesis := filepath.Join(t.TempDir(), "genesis.toml")
	if err := os.WriteFile(genesis, gb, 0o644); err != nil {
		t.Fatal(err)
	}
	base := func(bootstrap ...*Node) Config {
		c := localConfig(bootstrap...)
		c.TrustDomain = td.Name()
		c.Telemetry.Interval = 200 * time.Millisecond
		c.Governance.Genesis = genesis
		c.Governance.CheckInterval = 50 * time.Millisecond
		return c
	}
	cfgA := base()
	cfgA.SPIFFE.WorkloadAPI = sp.addr
	cfgA.SPIFFE.FetchTimeout = time.Minute
	a := startNodeWith(t, cfgA, Options{Key: ka})
	cfgB := base(a)
	cfgB.SPIFFE.TrustBundle = filepath.Join(sp.dir, "bundle.pem")
	cfgB.SPIFFE.RequireSVID = true
	b := startNodeWith(t, cfgB, Options{Key: kb})
	c := startNode(t, base(a, b))

	now := time.Now()
	recA, err := a.IdentityRecord(now)
	if err != nil {
		t.Fatal(err)
	}
	if !recA.HasSVID() || recA.ClaimedSPIFFEID().TrustDomain() != td {
		t.Fatalf("a's record: SVID %v, claimed %s", recA.HasSVID(), recA.ClaimedSPIFFEID())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lookup := func(p peer.ID) *pqcsec.Record {
		t.Helper()
		for {
			r, err := b.LookupIdentity(ctx, p)
			if err == nil {
				return r
			}
			if ctx.Err() != nil {
				t.Fatalf("b looking up %s: %v", p, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	gotA, gotC := lookup(a.ID()), lookup(c.ID())
	if s := b.Policy().SubjectOf(gotA, now); s.VerifiedSPIFFEID != id {
		t.Errorf("b verified a's SPIFFE ID as %q, want %s", s.VerifiedSPIFFEID, id)
	}
	if err := b.adm.checkRecord(gotA, pqcsec.ActionRoute, now); err != nil {
		t.Errorf("b refused a, whose SVID binds its keys: %v", err)
	}
	var de *pqcsec.DeniedError
	if err := b.adm.checkRecord(gotC, pqcsec.ActionRoute, now); !errors.As(err, &de) || de.Decision.Reason != pqcsec.ReasonNoSVID {
		t.Errorf("b on c, which only claims %s: %v; want %s", td, err, pqcsec.ReasonNoSVID)
	}

	// On the wire: a is b's mesh neighbor and in b's view; c is neither.
	waitFor(t, 20*time.Second, "a to be b's mesh neighbor and in b's view", func() bool {
		nbs, err := b.Mesh().Neighbors(ctx)
		return err == nil && slices.ContainsFunc(nbs, func(n mesh.Neighbor) bool { return n.Peer == a.ID() }) && b.Telemetry().Holds(a.ID())
	})
	waitFor(t, 10*time.Second, "b to refuse c's telemetry", func() bool {
		return refusals(b, pqcsec.ActionPublishTelemetry, pqcsec.ReasonNoSVID.String()) > 0
	})
	nbs, err := b.Mesh().Neighbors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(nbs, func(n mesh.Neighbor) bool { return n.Peer == c.ID() }) || b.Telemetry().Holds(c.ID()) {
		t.Error("b took c, whose SPIFFE ID nothing binds, as a neighbor or into its view")
	}
	// a, without require_svid, takes c: the SPIFFE rules read the claimed
	// ID there.
	waitFor(t, 10*time.Second, "a to take c's telemetry", func() bool { return a.Telemetry().Holds(c.ID()) })

	// Governance: a's records claim its SVID's SPIFFE ID, which b ties to
	// a's keys, so a votes with the genesis's 400 tokens for that ID.
	if got := a.Governance().Allocation(); got != 400 {
		t.Errorf("a's allocation %d, want the 400 of its SPIFFE ID", got)
	}
	if got := c.Governance().Allocation(); got != 0 {
		t.Errorf("c's allocation %d, want none", got)
	}
	waitFor(t, 20*time.Second, "governance to sync", func() bool {
		return a.Governance().Log().Status().Writable && b.Governance().Log().Status().Writable
	})
	// b, which requires SVIDs and has none itself, may not write.
	if _, err := b.Governance().Propose(ctx, "poll", "", 3*time.Second, 0, mustPPM(t, "0.5"), nil); !errors.Is(err, pqcsec.ErrDenied) {
		t.Errorf("b's proposal without an SVID of its own: %v", err)
	}
	poll, err := a.Governance().Propose(ctx, "poll", "", 3*time.Second, 0, mustPPM(t, "0.5"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Governance().Vote(ctx, poll.ID(), consensus.Yes, 400); err != nil {
		t.Fatalf("a's vote with its SPIFFE ID's tokens: %v", err)
	}
	waitFor(t, 20*time.Second, "b to decide the poll with a's ballot", func() bool {
		d, ok := b.Governance().Log().Decision(poll.ID())
		if !ok {
			return false
		}
		if len(d.Tally.Ballots) != 1 || d.Tally.Ballots[0].Voter != consensus.PeerID(a.ID()) || d.Tally.Ballots[0].Power != consensus.Power(400) {
			t.Fatalf("b's tally: %+v", d.Tally)
		}
		return true
	})
}

// TestSPIFFEState: a rotation is a new leaf certificate; the bundles are
// the Workload API's with the file's authorities added to its trust
// domain's.
func TestSPIFFEState(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString("x0tr.test")
	cert := func(b byte) *x509.Certificate { return &x509.Certificate{Raw: []byte{b}} }
	var s spiffeState
	if s.bundles(nil) != nil {
		t.Error("bundles without any source")
	}
	v1 := &x509svid.SVID{Certificates: []*x509.Certificate{cert(1)}}
	if !s.swap(v1) || s.swap(&x509svid.SVID{Certificates: []*x509.Certificate{cert(1)}}) || !s.swap(&x509svid.SVID{Certificates: []*x509.Certificate{cert(2)}}) {
		t.Error("swap: a first SVID and a new leaf are changes, the same leaf again is not")
	}
	s.file = x509bundle.FromX509Authorities(td, []*x509.Certificate{cert(3)})
	wl := x509bundle.NewSet(x509bundle.FromX509Authorities(td, []*x509.Certificate{cert(4)}))
	b, err := s.bundles(wl).GetX509BundleForTrustDomain(td)
	if err != nil || !b.HasX509Authority(cert(3)) || !b.HasX509Authority(cert(4)) {
		t.Errorf("merged bundle: %v, %v", b, err)
	}
	if only, _ := wl.Get(td); only.HasX509Authority(cert(3)) {
		t.Error("the merge changed the Workload API's bundle")
	}
}

// TestSPIFFEConfig: the [spiffe] keys and the errors naming the one at
// fault.
func TestSPIFFEConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte("[spiffe]\nworkload_api = \"unix:///run/spire/agent.sock\"\ntrust_bundle = \"bundle.pem\"\nrequire_svid = true\nfetch_timeout = \"5s\"\n"))
	if err != nil || cfg.SPIFFE.WorkloadAPI != "unix:///run/spire/agent.sock" || !cfg.SPIFFE.RequireSVID || cfg.SPIFFE.FetchTimeout != 5*time.Second {
		t.Fatalf("parse: %+v, %v", cfg.SPIFFE, err)
	}
	cfg.SPIFFE.resolve("/etc/x0")
	if cfg.SPIFFE.TrustBundle != "/etc/x0/bundle.pem" {
		t.Errorf("trust_bundle resolved to %q", cfg.SPIFFE.TrustBundle)
	}
	for _, tt := range []struct{ text, field string }{
		{"[spiffe]\nworkload_api = \"/run/spire/agent.sock\"\n", "spiffe.workload_api"},
		{"[spiffe]\nrequire_svid = true\n", "spiffe.require_svid"},
		{"[spiffe]\nfetch_timeout = \"0s\"\n", "spiffe.fetch_timeout"},
	} {
		_, err := ParseConfig([]byte(tt.text))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%q: %v, want a FieldError naming %s", tt.text, err, tt.field)
		}
	}
	// A bundle file that is not there stops the node, naming the key.
	bad := DefaultLocalConfig()
	bad.SPIFFE.TrustBundle = filepath.Join(t.TempDir(), "none.pem")
	_, err = New(bad, Options{})
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "spiffe.trust_bundle" {
		t.Errorf("New with a missing bundle file: %v", err)
	}
}
