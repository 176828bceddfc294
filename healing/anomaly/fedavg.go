package anomaly

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// ErrNotUpdate is returned for a model that is not an update of the base
// model it is averaged or checked against: not GraphSAGE, another schema,
// other layer sizes, another normaliser, threshold or calibration.
var ErrNotUpdate = errors.New("anomaly: not an update of the base model")

// MaxUpdates bounds the updates one federated average takes.
const MaxUpdates = 256

// FineTune trains a local update of base, a GraphSAGE model, on eps (a
// node's rehearsals of its own mesh in the twin): training starts from
// base's weights and keeps its normaliser, threshold and calibration, so
// that updates of one base can be averaged (FedAvg). cfg says how long
// (Epochs, Patience, on a validation split of eps), how fast and with
// which seed; its Kind, hidden sizes and Threshold are base's. The
// update is named cfg.Name, or base's name.
func FineTune(cfg TrainConfig, base Detector, eps []Episode) (*GraphSAGE, TrainStats, error) {
	var st TrainStats
	b, ok := base.(*GraphSAGE)
	if !ok {
		return nil, st, fmt.Errorf("%w: base is %s, not graphsage", ErrNotUpdate, base.Kind())
	}
	cfg.Kind, cfg.Hidden1, cfg.Hidden2, cfg.Threshold = KindGraphSAGE, b.h1, b.h2, b.threshold
	if err := cfg.Validate(); err != nil {
		return nil, st, err
	}
	for _, e := range eps {
		for _, s := range e.Samples {
			if s.Labels == nil {
				return nil, st, fmt.Errorf("%w: unlabelled sample", ErrInvalidSample)
			}
			if err := b.checkSample(s); err != nil {
				return nil, st, err
			}
		}
	}
	g := &GraphSAGE{model: b.model, h1: b.h1, h2: b.h2, p: slices.Clone(b.p)}
	if cfg.Name != "" {
		g.name = cfg.Name
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x66656461766721)) // "fedavg!"
	train, val := splitEpisodes(rng, eps, cfg.ValidationFraction)
	st.TrainEpisodes, st.ValidationEpisodes = len(train), len(val)
	st.NodeSamples = nodeSamples(train)
	if err := g.fit(cfg, rng, train, val, recoveringNodes(eps, cfg.RecoveryGrace), &st); err != nil {
		return nil, st, err
	}
	st.Cut, st.Spread = g.cal.cut, g.cal.spread
	return g, st, nil
}

// FedAvg returns the federated average of updates of base (FineTune's),
// named name: base's normaliser, threshold and calibration, and each
// weight the mean of the updates' in the order given (so that everyone
// who averages the same list gets the same blob, bit for bit). It fails
// with ErrNotUpdate if an update does not share all but its weights with
// base.
func FedAvg(name string, base Detector, updates []Detector) (*GraphSAGE, error) {
	b, ok := base.(*GraphSAGE)
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: base is %s, not graphsage", ErrNotUpdate, base.Kind())
	case len(updates) == 0:
		return nil, fmt.Errorf("%w: no updates to average", ErrNoData)
	case len(updates) > MaxUpdates:
		return nil, fmt.Errorf("%w: %d updates, at most %d", ErrTooLarge, len(updates), MaxUpdates)
	case len(name) > MaxNameLen:
		return nil, fmt.Errorf("%w: name of %d bytes", ErrInvalidConfig, len(name))
	}
	avg := &GraphSAGE{model: b.model, h1: b.h1, h2: b.h2, p: make([]float64, len(b.p))}
	avg.name = name
	for k, u := range updates {
		g, ok := u.(*GraphSAGE)
		if !ok {
			return nil, fmt.Errorf("%w: update %d is %s, not graphsage", ErrNotUpdate, k, u.Kind())
		}
		if err := b.sameBase(g); err != nil {
			return nil, fmt.Errorf("update %d: %w", k, err)
		}
		for i, w := range g.p {
			avg.p[i] += w
		}
	}
	n := float64(len(updates))
	for i := range avg.p {
		avg.p[i] /= n
	}
	return avg, nil
}

// sameBase reports, as an ErrNotUpdate, how u differs from g beyond its
// weights.
func (g *GraphSAGE) sameBase(u *GraphSAGE) error {
	eq := func(a, b []float64) bool { return slices.Equal(a, b) }
	switch {
	case u.schema != g.schema:
		return fmt.Errorf("%w: another feature schema", ErrNotUpdate)
	case u.h1 != g.h1 || u.h2 != g.h2 || len(u.p) != len(g.p):
		return fmt.Errorf("%w: layers of %d and %d, base has %d and %d", ErrNotUpdate, u.h1, u.h2, g.h1, g.h2)
	case !eq(u.norm.NodeCenter, g.norm.NodeCenter) || !eq(u.norm.NodeScale, g.norm.NodeScale) ||
		!eq(u.norm.LinkCenter, g.norm.LinkCenter) || !eq(u.norm.LinkScale, g.norm.LinkScale):
		return fmt.Errorf("%w: another normaliser", ErrNotUpdate)
	case u.threshold != g.threshold || u.cal != g.cal:
		return fmt.Errorf("%w: another threshold or calibration", ErrNotUpdate)
	}
	return nil
}

// ErrAverageMismatch is returned by CheckFedAvg for a proposed model that
// is not the average of the updates it claims to be.
var ErrAverageMismatch = errors.New("anomaly: proposed model is not the average of its updates")

// CheckFedAvg is what a voter does before voting for a federated round's
// model: it decodes the base, the updates and the proposed blob, averages
// the updates (FedAvg, under the proposed model's name) and checks that
// the result encodes to exactly the proposed blob.
func CheckFedAvg(proposed, base []byte, updates [][]byte) error {
	p, err := DecodeModel(proposed)
	if err != nil {
		return fmt.Errorf("proposed model: %w", err)
	}
	b, err := DecodeModel(base)
	if err != nil {
		return fmt.Errorf("base model: %w", err)
	}
	us := make([]Detector, len(updates))
	for k, blob := range updates {
		if us[k], err = DecodeModel(blob); err != nil {
			return fmt.Errorf("update %d: %w", k, err)
		}
	}
	avg, err := FedAvg(p.Name(), b, us)
	if err != nil {
		return err
	}
	blob, err := avg.MarshalBinary()
	if err != nil {
		return err
	}
	if !bytes.Equal(blob, proposed) {
		return fmt.Errorf("%w: the average is %s, the proposal names %s", ErrAverageMismatch, DigestHex(blob), DigestHex(proposed))
	}
	return nil
}

// MaxClaimUpdates bounds the updates a FedAvgClaim lists, so that its
// text fits a governance proposal's description (4,096 bytes).
const MaxClaimUpdates = 60

// ErrClaim is returned for a text that is not a FedAvgClaim.
var ErrClaim = errors.New("anomaly: not a federated average claim")

// FedAvgClaim is what a federated round's model proposal says the model
// is: the average (FedAvg) of the updates, in this order, of the base
// model, all named by the SHA-256 of their blobs. Its text, the
// proposal's description, is
//
//	fedavg base=<hex> updates=<hex>,<hex>,...
//
// with lower-case hex digests, at most MaxClaimUpdates updates, no
// repeats. Voters read it back (ParseFedAvgClaim), fetch the blobs and
// check the average (CheckFedAvg) before voting.
type FedAvgClaim struct {
	Base    [32]byte
	Updates [][32]byte
}

// String returns the claim's text.
func (c FedAvgClaim) String() string {
	var b strings.Builder
	b.WriteString("fedavg base=")
	b.WriteString(hex.EncodeToString(c.Base[:]))
	b.WriteString(" updates=")
	for i, u := range c.Updates {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(hex.EncodeToString(u[:]))
	}
	return b.String()
}

// ParseFedAvgClaim reads a claim's text.
func ParseFedAvgClaim(s string) (FedAvgClaim, error) {
	var c FedAvgClaim
	bad := func(why string) (FedAvgClaim, error) { return FedAvgClaim{}, fmt.Errorf("%w: %s", ErrClaim, why) }
	rest, ok := strings.CutPrefix(s, "fedavg base=")
	if !ok {
		return bad(`want "fedavg base=<hex> updates=<hex>,..."`)
	}
	base, list, ok := strings.Cut(rest, " updates=")
	if !ok {
		return bad("no updates")
	}
	var err error
	if c.Base, err = parseDigest(base); err != nil {
		return bad("base: " + err.Error())
	}
	parts := strings.Split(list, ",")
	if len(parts) > MaxClaimUpdates {
		return bad(fmt.Sprintf("%d updates, at most %d", len(parts), MaxClaimUpdates))
	}
	for _, p := range parts {
		d, err := parseDigest(p)
		if err != nil {
			return bad("update: " + err.Error())
		}
		if slices.Contains(c.Updates, d) || d == c.Base {
			return bad("update listed twice, or the base")
		}
		c.Updates = append(c.Updates, d)
	}
	return c, nil
}

// parseDigest reads 64 lower-case hex digits.
func parseDigest(s string) ([32]byte, error) {
	var d [32]byte
	if len(s) != 64 || strings.ToLower(s) != s {
		return d, fmt.Errorf("%q is not 64 lower-case hex digits", s)
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, fmt.Errorf("%q is not 64 lower-case hex digits", s)
	}
	return d, nil
}
