package anomaly

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// updatesOf returns n updates of the default model: its weights, each
// moved by a different amount.
func updatesOf(t *testing.T, n int) (*GraphSAGE, []*GraphSAGE) {
	t.Helper()
	det, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	base := det.(*GraphSAGE)
	var out []*GraphSAGE
	for k := range n {
		u := &GraphSAGE{model: base.model, h1: base.h1, h2: base.h2, p: slices.Clone(base.p)}
		for i := range u.p {
			u.p[i] += float64(k+1) * 1e-3 * float64(i%7-3)
		}
		out = append(out, u)
	}
	return base, out
}

func blobOf(t *testing.T, d Detector) []byte {
	t.Helper()
	b, err := d.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFedAvg(t *testing.T) {
	base, ups := updatesOf(t, 3)
	dets := []Detector{ups[0], ups[1], ups[2]}
	avg, err := FedAvg("fedavg-test", base, dets)
	if err != nil {
		t.Fatal(err)
	}
	if avg.Name() != "fedavg-test" || avg.Threshold() != base.Threshold() || len(avg.p) != len(base.p) {
		t.Fatalf("average %q threshold %v, %d weights", avg.Name(), avg.Threshold(), len(avg.p))
	}
	for i := range avg.p {
		want := (ups[0].p[i] + ups[1].p[i] + ups[2].p[i]) / 3
		if d := avg.p[i] - want; d > 1e-12 || d < -1e-12 {
			t.Fatalf("weight %d: %v, want the mean %v", i, avg.p[i], want)
		}
	}
	blob := blobOf(t, avg)
	updates := [][]byte{blobOf(t, ups[0]), blobOf(t, ups[1]), blobOf(t, ups[2])}
	if err := CheckFedAvg(blob, blobOf(t, base), updates); err != nil {
		t.Fatalf("the true average: %v", err)
	}

	// A proposer that leaves an update out, or slips in its own weights,
	// is caught by the voter's check.
	if err := CheckFedAvg(blob, blobOf(t, base), updates[:2]); !errors.Is(err, ErrAverageMismatch) {
		t.Errorf("an average of other updates: %v, want ErrAverageMismatch", err)
	}
	tampered, _ := FedAvg("fedavg-test", base, dets)
	tampered.p[0] += 0.5
	if err := CheckFedAvg(blobOf(t, tampered), blobOf(t, base), updates); !errors.Is(err, ErrAverageMismatch) {
		t.Errorf("a tampered average: %v, want ErrAverageMismatch", err)
	}
	// An update with another threshold or normaliser is not an update of
	// the base.
	other := &GraphSAGE{model: base.model, h1: base.h1, h2: base.h2, p: slices.Clone(base.p)}
	other.threshold = 0.9
	if _, err := FedAvg("x", base, []Detector{ups[0], other}); !errors.Is(err, ErrNotUpdate) {
		t.Errorf("another threshold: %v, want ErrNotUpdate", err)
	}
	other = &GraphSAGE{model: base.model, h1: base.h1, h2: base.h2, p: slices.Clone(base.p)}
	other.norm.NodeCenter = slices.Clone(base.norm.NodeCenter)
	other.norm.NodeCenter[0] += 1
	if _, err := FedAvg("x", base, []Detector{other}); !errors.Is(err, ErrNotUpdate) {
		t.Errorf("another normaliser: %v, want ErrNotUpdate", err)
	}
	if _, err := FedAvg("x", base, nil); !errors.Is(err, ErrNoData) {
		t.Errorf("no updates: %v", err)
	}
}

func TestFedAvgClaim(t *testing.T) {
	c := FedAvgClaim{Base: [32]byte{1}, Updates: [][32]byte{{2}, {3}}}
	back, err := ParseFedAvgClaim(c.String())
	if err != nil || back.Base != c.Base || !slices.Equal(back.Updates, c.Updates) {
		t.Fatalf("round trip of %q: %+v, %v", c, back, err)
	}
	hex1 := strings.Repeat("01", 32)
	hex2 := strings.Repeat("02", 32)
	for _, bad := range []string{
		"",
		"fedavg base=" + hex1,
		"fedavg base=" + hex1 + " updates=" + hex2 + "," + hex2,                                // twice
		"fedavg base=" + hex1 + " updates=" + hex1,                                             // the base
		"fedavg base=" + hex1 + " updates=" + strings.Repeat("AB", 32),                         // not lower-case
		"fedavg base=" + hex1 + " updates=" + hex2[:62],                                        // short
		"fedavg base=" + hex1 + " updates=" + strings.Repeat(hex2+",", MaxClaimUpdates) + hex2, // too many
	} {
		if _, err := ParseFedAvgClaim(bad); !errors.Is(err, ErrClaim) {
			t.Errorf("ParseFedAvgClaim(...%q): %v, want ErrClaim", bad[max(0, len(bad)-70):], err)
		}
	}
}

func TestModelValidator(t *testing.T) {
	blob := DefaultModelBlob()
	d := Digest(blob)
	var v ModelValidator
	if err := v.Validate(ModelKey(d), blob); err != nil {
		t.Fatalf("the default model under its key: %v", err)
	}
	if got, err := ParseModelKey(ModelKey(d)); err != nil || got != d {
		t.Fatalf("ParseModelKey: %x, %v", got, err)
	}
	other := [32]byte{9}
	if err := v.Validate(ModelKey(other), blob); !errors.Is(err, ErrModelKey) {
		t.Errorf("a blob under another digest: %v, want ErrModelKey", err)
	}
	for _, key := range []string{"/x0model/", "/x0model/" + strings.Repeat("A", 64), "/other/" + DigestHex(blob)} {
		if err := v.Validate(key, blob); !errors.Is(err, ErrModelKey) {
			t.Errorf("key %q: %v, want ErrModelKey", key, err)
		}
	}
	junk := []byte("not a model")
	if err := v.Validate(ModelKey(Digest(junk)), junk); err == nil {
		t.Error("a blob that is no model passed")
	}
}

// TestUpdatesReceive checks the update topic's rule and that Of lists
// one announcement per node, of one base, by address.
func TestUpdatesReceive(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	u, err := NewUpdates(DefaultUpdatesConfig())
	if err != nil {
		t.Fatal(err)
	}
	ann := func(node protocols.Addr, at time.Time, base, update byte) []byte {
		b, err := (&protocols.FLUpdate{Node: node, Time: at, Base: [32]byte{base}, Update: [32]byte{update}, Samples: 10}).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, c := protocols.Addr{0xa}, protocols.Addr{0xb}, protocols.Addr{0xc}
	for _, tc := range []struct {
		from protocols.Addr
		data []byte
		want Verdict
	}{
		{b, ann(b, now, 1, 2), VerdictAccepted},
		{a, ann(a, now, 1, 3), VerdictAccepted},
		{c, ann(c, now, 5, 6), VerdictAccepted}, // another base
		{a, ann(a, now, 1, 3), VerdictOld},
		{a, ann(b, now.Add(time.Second), 1, 4), VerdictForged},
		{a, ann(a, now.Add(-time.Hour), 1, 4), VerdictStale},
		{a, ann(a, now.Add(time.Hour), 1, 4), VerdictFuture},
		{a, []byte{1, 0, 2}, VerdictUndecodable},
		{a, make([]byte, protocols.FLUpdateSize+1), VerdictOversize},
		{a, ann(a, now.Add(time.Millisecond), 1, 7), VerdictAccepted}, // replaces a's
	} {
		if v, m := u.Receive(now, tc.from, tc.data); v != tc.want || (m != nil) != (v == VerdictAccepted) {
			t.Errorf("from %v: %v (%v), want %v", tc.from, v, m, tc.want)
		}
	}
	got := u.Of([32]byte{1})
	if len(got) != 2 || got[0].Node != a || got[1].Node != b || got[0].Update != [32]byte{7} {
		t.Fatalf("Of(base 1) = %+v, want a's latest then b's", got)
	}
}
