package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// govMember is one node of the governance mesh test: its repo (key,
// hybrid identity, datastore) survives a restart of the node.
type govMember struct {
	repo  *Repo
	cfg   Config
	key   crypto.PrivKey
	id    *pqcsec.Identity
	store ds.Batching
	n     *Node
}

func (m *govMember) start(t *testing.T) {
	t.Helper()
	var err error
	if m.store, err = m.repo.OpenDatastore(m.cfg); err != nil {
		t.Fatal(err)
	}
	if m.n, err = New(m.cfg, Options{Key: m.key, Identity: m.id, Datastore: m.store, Logger: testLogger(t)}); err != nil {
		t.Fatalf("new node: %v", err)
	}
	if err := m.n.Start(context.Background()); err != nil {
		t.Fatalf("start node: %v", err)
	}
}

func (m *govMember) stop() {
	if m.n != nil {
		m.n.Close()
		m.store.Close()
		m.n = nil
	}
}

// writeGenesis writes a genesis file listing ids with tokens each; other
// identities hold nothing.
func writeGenesis(t testing.TB, dir string, tokens uint64, ids ...peer.ID) string {
	t.Helper()
	allocs := make([]consensus.Allocation, len(ids))
	for i, id := range ids {
		allocs[i] = consensus.Allocation{Peer: consensus.PeerID(id), Tokens: tokens}
	}
	g, err := consensus.NewGenesis(DefaultLocalConfig().TrustDomain, 0, allocs)
	if err != nil {
		t.Fatal(err)
	}
	b, err := g.MarshalTOML()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "genesis.toml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestGovernanceMesh is the multi-node test on real hosts: seven
// nodes share a genesis; one proposes a quarantine, five vote, one of them
// (on a pebble datastore) is restarted after voting and still has its vote,
// and one joins only after the deadline, syncs from the DHT and computes the
// same decision. Every node then quarantines the peer.
func TestGovernanceMesh(t *testing.T) {
	const size = 7
	const restarted, late = 3, size - 1
	dir := t.TempDir()
	members := make([]*govMember, size)
	ids := make([]peer.ID, size)
	for i := range members {
		cfg := DefaultLocalConfig()
		cfg.APIAddr = ""
		cfg.Datastore = "memory"
		if i == restarted {
			cfg.Datastore = "pebble"
		}
		repo, err := InitRepo(filepath.Join(dir, "node"+string(rune('0'+i))), cfg)
		if err != nil {
			t.Fatal(err)
		}
		key, err := repo.Key()
		if err != nil {
			t.Fatal(err)
		}
		id, err := repo.Identity(key)
		if err != nil {
			t.Fatal(err)
		}
		members[i] = &govMember{repo: repo, cfg: cfg, key: key, id: id}
		ids[i] = id.PeerID()
	}
	genesis := writeGenesis(t, dir, 10_000, ids...)
	for i, m := range members {
		m.cfg.Governance.Genesis = genesis
		if i > 0 {
			m.cfg.BootstrapPeers = []string{members[0].n.Addrs()[0].String()}
		}
		if i != late {
			m.start(t)
		}
		t.Cleanup(m.stop)
	}
	running := members[:late]
	waitFor(t, 30*time.Second, "every node to sync and join the governance topic", func() bool {
		for _, m := range running {
			if !m.n.Governance().Stats().Synced || len(m.n.PubSub().ListPeers(consensus.Topic)) == 0 {
				return false
			}
		}
		return true
	})

	ctx := context.Background()
	target, err := peer.Decode("12D3KooWGRUVh2UH2CeC6UNdgBYZ5JsZ9JbNGoVM1vbPjyJb9Qvx")
	if err != nil {
		t.Fatal(err)
	}
	p, err := members[0].n.Governance().Propose(ctx, "quarantine a flooder", "it floods the mesh", 10*time.Second,
		mustPPM(t, "0.5"), mustPPM(t, "0.5"), &consensus.Quarantine{Peer: consensus.PeerID(target)})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.UnixMilli(p.Proposal.Deadline)
	votes := []struct {
		choice consensus.Choice
		tokens uint64
	}{1: {consensus.Yes, 10_000}, 2: {consensus.Yes, 10_000}, 3: {consensus.Yes, 2_500}, 4: {consensus.No, 10_000}, 5: {consensus.Abstain, 100}}
	var restartedVote *consensus.Record
	for i := 1; i <= 5; i++ {
		gov := members[i].n.Governance()
		waitFor(t, 10*time.Second, "the proposal to reach a voter", func() bool {
			_, ok := gov.Log().Record(p.ID())
			return ok
		})
		v, err := gov.Vote(ctx, p.ID(), votes[i].choice, votes[i].tokens)
		if err != nil {
			t.Fatalf("node %d vote: %v", i, err)
		}
		if i == restarted {
			restartedVote = v
		}
	}

	// Restart a voter on its datastore: its vote is still in its log.
	m := members[restarted]
	m.stop()
	m.start(t)
	if _, ok := m.n.Governance().Log().Record(restartedVote.ID()); !ok {
		t.Fatal("the restarted node lost its own vote")
	}
	if own := m.n.Governance().Log().Records(consensus.PeerID(ids[restarted])); len(own) != 1 || own[0].ID() != restartedVote.ID() {
		t.Fatalf("the restarted node's own records: %d", len(own))
	}

	// The late joiner starts after the deadline and has heard nothing.
	time.Sleep(time.Until(deadline) + 100*time.Millisecond)
	members[late].start(t)
	lateStart := time.Now()

	waitFor(t, 60*time.Second, "every node to decide", func() bool {
		for _, m := range members {
			if _, ok := m.n.Governance().Log().Decision(p.ID()); !ok {
				return false
			}
		}
		return true
	})
	t.Logf("late joiner decided %v after its start", time.Since(lateStart).Round(time.Millisecond))
	want, _ := members[0].n.Governance().Log().Decision(p.ID())
	if want.Outcome != consensus.Passed || want.Tally.Yes != 250_000_000 || want.Tally.No != 100_000_000 ||
		want.Tally.Abstain != 10_000_000 || want.Tally.Total != 700_000_000 {
		t.Fatalf("decision %v: yes %d no %d abstain %d total %d", want.Outcome, want.Tally.Yes, want.Tally.No, want.Tally.Abstain, want.Tally.Total)
	}
	for i, m := range members {
		d, _ := m.n.Governance().Log().Decision(p.ID())
		if d.Tally.Digest() != want.Tally.Digest() {
			t.Errorf("node %d decided %v with %d ballots, tally digest %v; node 0 %v", i, d.Outcome, len(d.Tally.Ballots), d.Tally.Digest(), want.Tally.Digest())
		}
		if !m.n.Policy().Quarantined(target) {
			t.Errorf("node %d did not quarantine the peer", i)
		}
	}
	if st := members[late].n.Governance().Stats(); st.HeadsFetched == 0 || st.RecordsFetched == 0 {
		t.Errorf("late joiner did not sync from the DHT: %+v", st)
	}
}

func mustPPM(t testing.TB, s string) consensus.PPM {
	t.Helper()
	p, err := consensus.ParsePPM(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newKey makes a libp2p identity key and its peer ID.
func newKey(t testing.TB) (crypto.PrivKey, peer.ID) {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, id
}

// startGovNode starts a node under a genesis that lists it with tokens.
func startGovNode(t testing.TB, cfg Config, tokens uint64) *Node {
	t.Helper()
	key, id := newKey(t)
	cfg.Governance.Genesis = writeGenesis(t, t.TempDir(), tokens, id)
	return startNodeWith(t, cfg, Options{Key: key})
}

// TestGovernanceAPI drives one node's governance through the HTTP API and
// its client, errors included.
func TestGovernanceAPI(t *testing.T) {
	cfg := DefaultLocalConfig()
	cfg.Governance.CheckInterval = 50 * time.Millisecond
	n := startGovNode(t, cfg, 100)
	c := NewClient(n.APIAddr()).WithToken(n.APIToken())
	ctx := context.Background()
	waitFor(t, 10*time.Second, "governance to sync", func() bool { return n.Governance().Stats().Synced })

	st, err := c.GovStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Allocation != 100 || st.TrustDomain != cfg.TrustDomain || st.Records != 0 || !st.Synced ||
		!st.Writable || st.Members != 1 || st.DefaultAllocation != 0 || st.DamagedRecords != 0 {
		t.Fatalf("status %+v", st)
	}

	target := "12D3KooWGRUVh2UH2CeC6UNdgBYZ5JsZ9JbNGoVM1vbPjyJb9Qvx"
	action, err := ParseGovAction("quarantine:" + target + ":floods")
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.GovPropose(ctx, GovProposeRequest{Title: "quarantine", Duration: "2s", Quorum: "0.33", Threshold: "0.5", Action: action})
	if err != nil {
		t.Fatal(err)
	}
	if p.State != "open" || p.Quorum != "0.33" || p.Action == nil || p.Action.Peer != target || p.Action.Reason != "floods" || p.Tally == nil {
		t.Fatalf("proposal %+v", p)
	}
	v, err := c.GovVote(ctx, p.ID[:10], GovVoteRequest{Choice: "YES", Tokens: 100})
	if err != nil {
		t.Fatal(err)
	}
	if v.Proposal != p.ID || v.Choice != "yes" || v.Power != 10_000_000 || v.Seq != 2 {
		t.Fatalf("vote %+v", v)
	}
	list, err := c.GovProposals(ctx)
	if err != nil || list.Count != 1 || list.Proposals[0].ID != p.ID {
		t.Fatalf("list %+v, %v", list, err)
	}

	errTests := []struct {
		name   string
		do     func() error
		status int
		says   string
	}{
		{"over allocation", func() error {
			_, err := c.GovVote(ctx, p.ID, GovVoteRequest{Choice: "no", Tokens: 101})
			return err
		}, http.StatusBadRequest, "allocation 100"},
		{"bad choice", func() error {
			_, err := c.GovVote(ctx, p.ID, GovVoteRequest{Choice: "maybe", Tokens: 1})
			return err
		}, http.StatusBadRequest, "choice"},
		{"no tokens", func() error {
			_, err := c.GovVote(ctx, p.ID, GovVoteRequest{Choice: "yes"})
			return err
		}, http.StatusBadRequest, "tokens"},
		{"unknown proposal", func() error {
			_, err := c.GovProposal(ctx, strings.Repeat("ab", 32))
			return err
		}, http.StatusNotFound, "unknown proposal"},
		{"not an ID", func() error {
			_, err := c.GovProposal(ctx, "xyz")
			return err
		}, http.StatusBadRequest, "hex"},
		{"no title", func() error {
			_, err := c.GovPropose(ctx, GovProposeRequest{Duration: "1m"})
			return err
		}, http.StatusBadRequest, "title"},
		{"bad duration", func() error {
			_, err := c.GovPropose(ctx, GovProposeRequest{Title: "x", Duration: "soon"})
			return err
		}, http.StatusBadRequest, "duration"},
		{"quorum above 1", func() error {
			_, err := c.GovPropose(ctx, GovProposeRequest{Title: "x", Duration: "1m", Quorum: "1.5"})
			return err
		}, http.StatusBadRequest, "quorum"},
		{"threshold of 1", func() error {
			_, err := c.GovPropose(ctx, GovProposeRequest{Title: "x", Duration: "1m", Threshold: "1"})
			return err
		}, http.StatusBadRequest, "threshold"},
		{"bad action peer", func() error {
			_, err := c.GovPropose(ctx, GovProposeRequest{Title: "x", Duration: "1m", Action: &GovAction{Kind: "quarantine", Peer: "nobody"}})
			return err
		}, http.StatusBadRequest, "action.peer"},
		{"admission above the token limit", func() error {
			_, err := c.GovPropose(ctx, GovProposeRequest{Title: "x", Duration: "1m", Action: &GovAction{Kind: "admit", Peer: target, Tokens: consensus.MaxTokens + 1}})
			return err
		}, http.StatusBadRequest, "tokens"},
	}
	for _, tt := range errTests {
		err := tt.do()
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != tt.status || !strings.Contains(ae.Message, tt.says) {
			t.Errorf("%s: %v; want status %d saying %q", tt.name, err, tt.status, tt.says)
		}
	}

	// After the deadline: votes are refused, then the node decides. The
	// deadline is in milliseconds and includes its last one (a vote
	// stamped in it counts), so wait until that millisecond is over.
	waitFor(t, 10*time.Second, "the deadline", func() bool { return time.Now().After(p.Deadline.Add(time.Millisecond)) })
	_, err = c.GovVote(ctx, p.ID, GovVoteRequest{Choice: "no", Tokens: 1})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict || !strings.Contains(ae.Message, "deadline") {
		t.Errorf("late vote: %v; want 409 naming the deadline", err)
	}
	var got GovProposal
	waitFor(t, 10*time.Second, "the decision", func() bool {
		got, err = c.GovProposal(ctx, p.ID)
		return err == nil && got.State == "passed"
	})
	if got.Tally == nil || !got.Tally.Final || len(got.Tally.Ballots) != 1 || got.Tally.Ballots[0].Tokens != 100 || got.DecidedAt == nil {
		t.Fatalf("decided proposal %+v", got)
	}
	tp, _ := peer.Decode(target)
	if !n.Policy().Quarantined(tp) {
		t.Error("the passed quarantine did not reach the policy engine")
	}
	if st, err := c.GovStatus(ctx); err != nil || len(st.Quarantined) != 1 || st.Quarantined[0] != target {
		t.Errorf("status after the quarantine: %+v, %v", st, err)
	}

	// Admit a peer by vote: it is a member with its tokens once decided.
	admit, err := ParseGovAction("admit:" + target + ":49")
	if err != nil {
		t.Fatal(err)
	}
	p, err = c.GovPropose(ctx, GovProposeRequest{Title: "admit", Duration: "1s", Quorum: "0.5", Action: admit})
	if err != nil {
		t.Fatal(err)
	}
	if p.Action == nil || p.Action.Kind != "admit" || p.Action.Tokens != 49 {
		t.Fatalf("admission proposal %+v", p.Action)
	}
	if _, err := c.GovVote(ctx, p.ID, GovVoteRequest{Choice: "yes", Tokens: 100}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the admission", func() bool {
		got, err = c.GovProposal(ctx, p.ID)
		return err == nil && got.State == "passed"
	})
	st, err = c.GovStatus(ctx)
	if err != nil || st.Members != 2 || len(st.Quarantined) != 0 {
		t.Fatalf("status after the admission: %+v, %v", st, err)
	}
	if n.Policy().Quarantined(tp) {
		t.Error("an admission did not lift the quarantine in the policy engine")
	}
}

// TestGovernanceOff: a node without a genesis runs, without governance;
// its governance routes answer 503 saying why (on the old code it made up
// a genesis that gave every key 100 tokens).
func TestGovernanceOff(t *testing.T) {
	n := startNode(t, DefaultLocalConfig())
	if n.Governance() != nil {
		t.Fatal("governance without a genesis")
	}
	c := NewClient(n.APIAddr()).WithToken(n.APIToken())
	_, err := c.GovStatus(context.Background())
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || !strings.Contains(ae.Message, "genesis") {
		t.Fatalf("gov status: %v; want 503 naming the genesis", err)
	}
	_, err = c.GovPropose(context.Background(), GovProposeRequest{Title: "x", Duration: "1m"})
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable {
		t.Fatalf("gov propose: %v; want 503", err)
	}
}

// TestGovStatusOf maps the Log's refusals to HTTP statuses; a node that
// may not write yet answers 503 with the reason.
func TestGovStatusOf(t *testing.T) {
	rej := func(r consensus.Reason) error { return &consensus.RejectError{Reason: r, Err: r.Err()} }
	for _, tt := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("%w: the store was empty", consensus.ErrNotSynced), http.StatusServiceUnavailable},
		{rej(consensus.ReasonNotAdmitted), http.StatusForbidden},
		{rej(consensus.ReasonNotMember), http.StatusForbidden},
		{rej(consensus.ReasonQuarantined), http.StatusForbidden},
		{rej(consensus.ReasonUnbound), http.StatusForbidden},
		{rej(consensus.ReasonAfterDeadline), http.StatusConflict},
		{rej(consensus.ReasonOverAllocation), http.StatusBadRequest},
		{fmt.Errorf("x: %w", consensus.ErrUnknownProposal), http.StatusNotFound},
		{errors.New("disk"), http.StatusInternalServerError},
	} {
		if got := govStatusOf(tt.err); got != tt.want {
			t.Errorf("%v: %d, want %d", tt.err, got, tt.want)
		}
	}
}

// TestGovAdmitter: the node's admission of governance records. A peer
// whose keys are pinned is admitted with its own keys (on the old code
// every record of a pinned peer was refused: the keys were not passed to
// the policy engine) and refused with others; a quarantined peer is still
// admitted, since the tally applies quarantine at decision time (on the
// old code its records were refused on arrival, by each node's clock).
func TestGovAdmitter(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString(DefaultLocalConfig().TrustDomain)
	e, err := pqcsec.NewPolicyEngine(pqcsec.DefaultPolicyConfig(td))
	if err != nil {
		t.Fatal(err)
	}
	key := func() (*pqcsec.Identity, []byte) {
		_, id := newIdentity(t)
		b, err := id.PublicKeys().MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return id, b
	}
	a, aKey := key()
	b, _ := key()
	admit := govAdmitter(e, td)
	author := consensus.PeerID(a.PeerID())
	now := time.Now()
	e.SetPins(map[peer.ID][32]byte{a.PeerID(): a.PublicKeys().Fingerprint()})
	if err := admit.Admit(author, aKey, "", consensus.KindVote, now); err != nil {
		t.Errorf("pinned to its own keys: %v", err)
	}
	e.SetPins(map[peer.ID][32]byte{a.PeerID(): b.PublicKeys().Fingerprint()})
	if err := admit.Admit(author, aKey, "", consensus.KindVote, now); !errors.Is(err, pqcsec.ErrDenied) {
		t.Errorf("pinned to other keys: %v", err)
	}
	e.SetPins(nil)
	e.Quarantine(a.PeerID())
	if err := admit.Admit(author, aKey, "", consensus.KindProposal, now); err != nil {
		t.Errorf("quarantined: %v", err)
	}
	e.SetDeny([]peer.ID{a.PeerID()})
	if err := admit.Admit(author, aKey, "", consensus.KindVote, now); !errors.Is(err, pqcsec.ErrDenied) {
		t.Errorf("deny-listed: %v", err)
	}
}

func TestGovernanceConfig(t *testing.T) {
	dir := t.TempDir()
	writeGenesis(t, dir, 10)
	tests := []struct {
		name  string
		toml  string // config.toml in dir
		field string // FieldError field of New, "" for success
	}{
		{"no genesis (governance off)", "profile = \"local\"\n", ""},
		{"default genesis for bound SPIFFE IDs", "profile = \"local\"\n[governance]\ndefault_allocation = 5\n", ""},
		{"relative genesis", "profile = \"local\"\n[governance]\ngenesis = \"genesis.toml\"\n", ""},
		{"missing genesis", "profile = \"local\"\n[governance]\ngenesis = \"nope.toml\"\n", "governance.genesis"},
		{"foreign trust domain", "profile = \"local\"\ntrust_domain = \"other.mesh\"\n[governance]\ngenesis = \"genesis.toml\"\n", "governance.genesis"},
		{"settle below skew", "profile = \"local\"\n[governance]\nmax_clock_skew = \"2s\"\nsettle_delay = \"1s\"\n", "governance.settle_delay"},
		{"unknown key", "profile = \"local\"\n[governance]\ngenesys = \"x\"\n", "governance.genesys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, ConfigFile)
			if err := os.WriteFile(path, []byte(tt.toml), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(path)
			if err == nil {
				var n *Node
				n, err = New(cfg, Options{})
				if err == nil {
					n.Close()
				}
			}
			var fe *FieldError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field):
				t.Fatalf("error %v; want a FieldError on %s", err, tt.field)
			}
		})
	}
}

// TestGovernanceGenesisChange: a datastore keeps the genesis it was first
// used with; a node given another one refuses to start, naming the key.
func TestGovernanceGenesisChange(t *testing.T) {
	store := MemoryDatastore()
	key, id := newKey(t)
	cfg := DefaultLocalConfig()
	cfg.Governance.Genesis = writeGenesis(t, t.TempDir(), 10, id)
	n, err := New(cfg, Options{Key: key, Datastore: store})
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	cfg.Governance.Genesis = writeGenesis(t, t.TempDir(), 20, id) // another genesis
	_, err = New(cfg, Options{Key: key, Datastore: store})
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "governance.genesis" || !errors.Is(err, consensus.ErrInvalidConfig) {
		t.Fatalf("error %v; want a FieldError on governance.genesis", err)
	}
}

// FuzzParseGovAction: the CLI form of an action reads back what String
// writes, and never panics.
func FuzzParseGovAction(f *testing.F) {
	for _, s := range []string{"quarantine:12D3KooWGRUVh2UH2CeC6UNdgBYZ5JsZ9JbNGoVM1vbPjyJb9Qvx", "quarantine:p:why", "set:gossip.d=8",
		"admit:12D3KooWGRUVh2UH2CeC6UNdgBYZ5JsZ9JbNGoVM1vbPjyJb9Qvx:100", "evict:12D3KooWGRUVh2UH2CeC6UNdgBYZ5JsZ9JbNGoVM1vbPjyJb9Qvx",
		"model:graphsage@" + strings.Repeat("0f", 32), "nope", ":", "set:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseGovAction(s)
		if err != nil {
			return
		}
		b, err := ParseGovAction(a.String())
		if err != nil || *a != *b {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, a, a.String(), b, err)
		}
	})
}

// TestGovHeadTap: the /x0log/ validator shows the driver every head it
// finds valid, and nothing else.
func TestGovHeadTap(t *testing.T) {
	n := startGovNode(t, DefaultLocalConfig(), 100)
	gov := n.Governance()
	waitFor(t, 10*time.Second, "governance to sync", func() bool { return gov.Stats().Synced })
	if _, err := gov.Propose(context.Background(), "poll", "", time.Minute, 0, mustPPM(t, "0.5"), nil); err != nil {
		t.Fatal(err)
	}
	head, err := gov.Log().Head(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var seen [][]byte
	tap := govHeadTap{consensus.NewHeadValidator(gov.Genesis(), govVerifier, nil), func(b []byte) { seen = append(seen, b) }}
	key := consensus.HeadKey(consensus.PeerID(n.ID()))
	if err := tap.Validate(key, head.Encode()); err != nil {
		t.Fatal(err)
	}
	forged := append([]byte(nil), head.Encode()...)
	forged[len(forged)-1] ^= 1
	if err := tap.Validate(key, forged); err == nil {
		t.Error("a forged head validated")
	}
	if err := tap.Validate(consensus.HeadKey(consensus.PeerID(peer.ID("x"))), head.Encode()); err == nil {
		t.Error("a head under another author's key validated")
	}
	if len(seen) != 1 || string(seen[0]) != string(head.Encode()) {
		t.Errorf("the driver saw %d heads, want the valid one", len(seen))
	}
}
