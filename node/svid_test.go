package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"go.uber.org/goleak"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// spireScript is the script that builds and runs SPIRE for these tests.
const spireScript = "../scripts/spire.sh"

// spire is a running SPIRE server and agent (scripts/spire.sh up).
type spire struct {
	dir, addr string
}

// startSPIRE starts a SPIRE server and agent for the trust domain of each
// id (at once), with the id registered for this process's user, and stops
// them when t ends. It skips t only when the SPIRE binaries are not built.
func startSPIRE(t *testing.T, ids ...spiffeid.ID) []spire {
	t.Helper()
	out, err := exec.Command(spireScript, "bindir").Output()
	if err != nil {
		t.Fatalf("%s bindir: %v", spireScript, err)
	}
	bin := strings.TrimSpace(string(out))
	for _, b := range []string{"spire-server", "spire-agent"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			t.Skipf("SPIRE is not built (%s missing): run scripts/spire.sh build first (about 6 minutes; .ci/run does)", filepath.Join(bin, b))
		}
	}
	ss := make([]spire, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		// Unix socket paths are limited to 108 bytes; t.TempDir's can be long.
		dir, err := os.MkdirTemp("", "x0pq-spire-")
		if err != nil {
			t.Fatal(err)
		}
		ss[i].dir = dir
		t.Cleanup(func() { stopSPIRE(t, dir) })
		wg.Go(func() { ss[i].addr, errs[i] = upSPIRE(dir, id) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return ss
}

// upSPIRE runs scripts/spire.sh up and returns the Workload API address.
func upSPIRE(dir string, id spiffeid.ID) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, spireScript, "up", dir, id.String())
	cmd.Env = append(os.Environ(), "X0TTA6BL4_SPIRE_OWNER="+strconv.Itoa(os.Getpid()))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s up %s: %w\n%s", spireScript, id, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

func stopSPIRE(t *testing.T, dir string) {
	if err := exec.Command(spireScript, "down", dir).Run(); err != nil {
		t.Errorf("%s down: %v", spireScript, err)
	}
	if t.Failed() {
		for _, f := range []string{"server.log", "agent.log"} {
			b, _ := os.ReadFile(filepath.Join(dir, f))
			t.Logf("%s %s:\n%s", dir, f, b)
		}
	}
	os.RemoveAll(dir)
}

// fetch gets this process's SVID from the agent.
func (s spire) fetch(t *testing.T) SVID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	svid, err := FetchSVID(ctx, s.addr)
	if err != nil {
		t.Fatal(err)
	}
	return svid
}

// TestSPIRE runs a real SPIRE server and agent (two of each, for two trust
// domains) and fetches this workload's X.509-SVIDs through the Workload API.
//
// binding: the SVID bound into an identity record gets its SPIFFE ID
// counted by a verifier holding the trust domain's bundle; a record that
// only claims a SPIFFE ID, or carries an SVID of another trust domain,
// gets none counted.
//
// watch: WatchSVID delivers the SVID and returns when its context ends.
func TestSPIRE(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	td := spiffeid.RequireTrustDomainFromString("x0pq.test")
	otherTD := spiffeid.RequireTrustDomainFromString("x0pq-other.test")
	nodeID := spiffeid.RequireFromPath(td, "/x0tta6bl4/node-a")
	otherID := spiffeid.RequireFromPath(otherTD, "/x0tta6bl4/node-b")
	spires := startSPIRE(t, nodeID, otherID)
	home, away := spires[0], spires[1]
	mine, theirs := home.fetch(t), away.fetch(t)
	if mine.SVID.ID != nodeID || theirs.SVID.ID != otherID {
		t.Fatalf("SVIDs for %s and %s, want %s and %s", mine.SVID.ID, theirs.SVID.ID, nodeID, otherID)
	}
	if _, ok := mine.Bundles.Get(td); !ok {
		t.Fatalf("the Workload API gave no bundle for %s", td)
	}
	now := time.Now()

	// The verifier: RequireSVID, with the home trust domain's bundle as the
	// Workload API gave it, and the same bundle read from the PEM file.
	fileBundle, err := LoadTrustBundle(td, filepath.Join(home.dir, "bundle.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for name, bundles := range map[string]x509bundle.Source{"workload api": mine.Bundles, "bundle file": fileBundle} {
		t.Run("binding/"+name, func(t *testing.T) {
			policy, err := pqcsec.NewPolicyEngine(pqcsec.PolicyConfig{
				TrustDomains: []spiffeid.TrustDomain{td}, Bundles: bundles, RequireSVID: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			// parse is what a node does with a record from the DHT.
			parse := func(t *testing.T, rec *pqcsec.Record) *pqcsec.Record {
				t.Helper()
				v := pqcsec.RecordValidator{Now: func() time.Time { return now }}
				if err := v.Validate(pqcsec.RecordKey(rec.PeerID()), rec.Bytes()); err != nil {
					t.Fatalf("DHT validator: %v", err)
				}
				r, err := pqcsec.ParseRecord(rec.Bytes())
				if err != nil {
					t.Fatal(err)
				}
				return r
			}

			_, bound := newIdentity(t)
			rec, err := bound.IssueRecord(pqcsec.RecordOptions{SVID: mine.SVID}, now)
			if err != nil {
				t.Fatal(err)
			}
			got := parse(t, rec)
			if vid, err := got.VerifySVID(bundles, now); err != nil || vid != nodeID {
				t.Fatalf("SVID-bound record: verified %q, %v; want %s", vid, err, nodeID)
			}
			s := policy.SubjectOf(got, now)
			if s.VerifiedSPIFFEID != nodeID || policy.Check(s, pqcsec.ActionVote, now) != nil {
				t.Fatalf("SVID-bound record: subject %+v, %v", s.VerifiedSPIFFEID, policy.Check(s, pqcsec.ActionVote, now))
			}
			t.Logf("SVID-bound record: %d bytes, verified %s", rec.Len(), s.VerifiedSPIFFEID)

			// The same trust domain claimed without an SVID.
			_, claimer := newIdentity(t)
			rec, err = claimer.IssueRecord(pqcsec.RecordOptions{TrustDomain: td}, now)
			if err != nil {
				t.Fatal(err)
			}
			got = parse(t, rec)
			if vid, err := got.VerifySVID(bundles, now); !errors.Is(err, pqcsec.ErrNoSVID) || !vid.IsZero() {
				t.Errorf("claim only: verified %q, %v", vid, err)
			}
			if s := policy.SubjectOf(got, now); !s.VerifiedSPIFFEID.IsZero() || s.SPIFFEID.TrustDomain() != td ||
				policy.Decide(s, pqcsec.ActionVote, now).Reason != pqcsec.ReasonNoSVID {
				t.Errorf("claim only: counted %q, %s", s.VerifiedSPIFFEID, policy.Decide(s, pqcsec.ActionVote, now))
			}

			// A genuine SVID of another trust domain.
			_, foreign := newIdentity(t)
			rec, err = foreign.IssueRecord(pqcsec.RecordOptions{SVID: theirs.SVID}, now)
			if err != nil {
				t.Fatal(err)
			}
			got = parse(t, rec)
			if vid, err := got.VerifySVID(bundles, now); !errors.Is(err, pqcsec.ErrBadSVID) || !vid.IsZero() {
				t.Errorf("other trust domain: verified %q, %v", vid, err)
			}
			if s := policy.SubjectOf(got, now); !s.VerifiedSPIFFEID.IsZero() || policy.Check(s, pqcsec.ActionVote, now) == nil {
				t.Errorf("other trust domain: counted %q", s.VerifiedSPIFFEID)
			}
		})
	}

	t.Run("watch", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var (
			mu  sync.Mutex
			got []SVID
		)
		err := WatchSVID(ctx, home.addr, func(v SVID) {
			mu.Lock()
			got = append(got, v)
			mu.Unlock()
			cancel()
		}, nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("WatchSVID returned %v, want context.Canceled", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(got) == 0 || got[0].SVID.ID != nodeID || got[0].Bundles == nil {
			t.Fatalf("updates: %+v", got)
		}
	})
}

// FetchSVID against a socket where nothing listens fails within its
// context, and an empty answer is ErrNoSVID.
func TestFetchSVIDErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := FetchSVID(ctx, "unix://"+filepath.Join(t.TempDir(), "none.sock")); err == nil {
		t.Error("fetch from no agent succeeded")
	}
	if _, err := svidOf(nil); !errors.Is(err, ErrNoSVID) {
		t.Errorf("empty context: %v", err)
	}
}
