package anomaly

import (
	"fmt"
	"slices"
)

// clipZ bounds every normalised value: one wild figure moves a score by
// at most this many robust standard deviations.
const clipZ = 10

// Normaliser maps raw feature values to robust z-scores, per feature:
// (x - Center) / Scale, clipped to ±10. Center is the median over the
// training data; Scale is the interquartile range over 1.349 (the
// standard deviation, were the values normal), at least the schema's
// MinScale. Models ship it with their weights.
type Normaliser struct {
	NodeCenter, NodeScale []float64
	LinkCenter, LinkScale []float64
}

// FitNormaliser computes the normaliser of the node and link features of
// every sample in eps, with the floors of schema (whose dimensions the
// samples must have). For CurrentSchema the host figures of nodes
// without a collector, and of the links they report, are left out: they
// are unknown, not zero (unknown.go).
func FitNormaliser(schema *Schema, eps []Episode) (Normaliser, error) {
	fn, fe := len(schema.Node), len(schema.Link)
	nodeCols := make([][]float64, fn)
	linkCols := make([][]float64, fe)
	current := schema.Hash() == currentSchemaHash
	hostNode, hostLink := make([]bool, fn), make([]bool, fe)
	if current {
		for _, f := range hostNodeFeatures {
			hostNode[f] = true
		}
		for _, f := range hostLinkFeatures {
			hostLink[f] = true
		}
	}
	for _, e := range eps {
		for _, s := range e.Samples {
			if s.NodeDim != fn || s.LinkDim != fe {
				return Normaliser{}, fmt.Errorf("%w: dimensions %d and %d, schema has %d and %d",
					ErrInvalidSample, s.NodeDim, s.LinkDim, fn, fe)
			}
			for i, x := range s.NodeX {
				f := i % fn
				if hostNode[f] && unknownHost(s.NodeX[i-f:i-f+fn]) {
					continue
				}
				nodeCols[f] = append(nodeCols[f], x)
			}
			for i, x := range s.LinkX {
				f := i % fe
				if hostLink[f] && unknownHost(s.Node(int(s.Links[i/fe].From))) {
					continue
				}
				linkCols[f] = append(linkCols[f], x)
			}
		}
	}
	if len(nodeCols[0]) == 0 {
		return Normaliser{}, fmt.Errorf("%w: no node samples to normalise", ErrNoData)
	}
	var n Normaliser
	n.NodeCenter, n.NodeScale = robustStats(nodeCols, schema.Node)
	n.LinkCenter, n.LinkScale = robustStats(linkCols, schema.Link)
	return n, nil
}

func robustStats(cols [][]float64, specs []FeatureSpec) (center, scale []float64) {
	center = make([]float64, len(cols))
	scale = make([]float64, len(cols))
	for f, c := range cols {
		scale[f] = max(specs[f].MinScale, 1e-6)
		if len(c) == 0 {
			continue
		}
		slices.Sort(c)
		center[f] = quantile(c, 0.5)
		scale[f] = max(scale[f], (quantile(c, 0.75)-quantile(c, 0.25))/1.349)
	}
	return center, scale
}

// quantile returns the q-quantile of sorted values, interpolating
// linearly between the two nearest ranks.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	pos := q * float64(len(sorted)-1)
	lo := int(pos)
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	frac := pos - float64(lo)
	return sorted[lo] + frac*(sorted[lo+1]-sorted[lo])
}

// normalise writes the normalised x into dst (same length).
func normalise(dst, x, center, scale []float64) {
	for i, v := range x {
		dst[i] = clip((v - center[i]) / scale[i])
	}
}

func clip(z float64) float64 { return max(-clipZ, min(clipZ, z)) }

// Flat normalises a flat input (Sample.FlatInput) in place: the node part
// with the node statistics, both link means with the link statistics.
func (n *Normaliser) Flat(x []float64) {
	fn, fe := len(n.NodeCenter), len(n.LinkCenter)
	normalise(x[:fn], x[:fn], n.NodeCenter, n.NodeScale)
	normalise(x[fn:fn+fe], x[fn:fn+fe], n.LinkCenter, n.LinkScale)
	normalise(x[fn+fe:], x[fn+fe:], n.LinkCenter, n.LinkScale)
}

// dims returns the node and link dimensions the normaliser is for.
func (n *Normaliser) dims() (int, int) { return len(n.NodeCenter), len(n.LinkCenter) }
