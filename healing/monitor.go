package healing

import (
	"bytes"
	"fmt"
	"math"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Report is one member's anomaly score of another node: what the
// anomaly topic carries once its validator has checked the signature,
// the membership and the model. The engine applies the quorum rule
// itself (see Config.Quorum): a report counts only while it is fresh and
// while the view shows its reporter as a neighbour of its subject.
type Report struct {
	Reporter protocols.Addr
	Subject  protocols.Addr
	// Score is in [0, 1]; at or above Config.Threshold it flags Subject.
	Score float64
	// Contributing names the features that raised the score most, the
	// largest first (healing/anomaly's Contribution.Feature); at most
	// MaxContributing names of at most MaxFeatureName bytes are kept.
	Contributing []string
}

// Bounds of a Report's feature names.
const (
	MaxContributing = 3
	MaxFeatureName  = 64
)

// Load is this node's own load, as its collector and its mesh driver
// measure it.
type Load struct {
	// CPUPercent is the node's CPU use, 0 to 100.
	CPUPercent float64
	// QueueLen and QueueCap are the frames waiting in its relay queues
	// and their capacity (0 when unknown).
	QueueLen, QueueCap int
}

func (l Load) fill() float64 {
	if l.QueueCap <= 0 {
		return 0
	}
	return float64(l.QueueLen) / float64(l.QueueCap)
}

// validate checks a report's fields.
func (r *Report) validate() error {
	switch {
	case r.Reporter.IsZero() || r.Subject.IsZero():
		return fmt.Errorf("%w: report with a zero address", ErrInvalidInput)
	case r.Reporter == r.Subject:
		return fmt.Errorf("%w: report about its own reporter", ErrInvalidInput)
	case math.IsNaN(r.Score) || r.Score < 0 || r.Score > 1:
		return fmt.Errorf("%w: score %v", ErrInvalidInput, r.Score)
	}
	for _, f := range r.Contributing {
		if len(f) > MaxFeatureName {
			return fmt.Errorf("%w: feature name of %d bytes", ErrInvalidInput, len(f))
		}
	}
	return nil
}

type reportKey struct{ reporter, subject protocols.Addr }

type heldReport struct {
	score    float64
	taken    time.Time
	features [MaxContributing]string
}

// reportTable holds the latest report of each reporter about each
// subject, bounded in all and per reporter.
type reportTable struct {
	m           map[reportKey]*heldReport
	perReporter map[protocols.Addr]int
	max, share  int
	ttl         time.Duration
}

func newReportTable(cfg *Config) reportTable {
	return reportTable{
		m: map[reportKey]*heldReport{}, perReporter: map[protocols.Addr]int{},
		max: cfg.MaxReports, share: cfg.MaxReportsPerReporter, ttl: cfg.ReportTTL,
	}
}

// put stores r, taken at now. A reporter at its share replaces its own
// oldest report; a full table first forgets expired reports, then the
// oldest report of the reporter holding the most.
func (t *reportTable) put(now time.Time, r *Report) {
	k := reportKey{r.Reporter, r.Subject}
	h := t.m[k]
	if h == nil {
		switch {
		case t.perReporter[r.Reporter] >= t.share:
			t.evictOldest(r.Reporter)
		case len(t.m) >= t.max:
			t.prune(now)
			if len(t.m) >= t.max {
				t.evictOldest(t.largestReporter())
			}
		}
		h = &heldReport{}
		t.m[k] = h
		t.perReporter[r.Reporter]++
	}
	h.score, h.taken = r.Score, now
	h.features = [MaxContributing]string{}
	copy(h.features[:], r.Contributing)
}

func (t *reportTable) remove(k reportKey) {
	delete(t.m, k)
	if t.perReporter[k.reporter]--; t.perReporter[k.reporter] <= 0 {
		delete(t.perReporter, k.reporter)
	}
}

// prune forgets the reports older than the TTL.
func (t *reportTable) prune(now time.Time) {
	for k, h := range t.m {
		if now.Sub(h.taken) >= t.ttl {
			t.remove(k)
		}
	}
}

func (t *reportTable) largestReporter() protocols.Addr {
	var best protocols.Addr
	n := -1
	for a, c := range t.perReporter {
		if c > n || c == n && bytes.Compare(a[:], best[:]) < 0 {
			best, n = a, c
		}
	}
	return best
}

func (t *reportTable) evictOldest(reporter protocols.Addr) {
	var oldest reportKey
	var at time.Time
	found := false
	for k, h := range t.m {
		if k.reporter != reporter {
			continue
		}
		if !found || h.taken.Before(at) || h.taken.Equal(at) && bytes.Compare(k.subject[:], oldest.subject[:]) < 0 {
			oldest, at, found = k, h.taken, true
		}
	}
	if found {
		t.remove(oldest)
	}
}

// SetView gives the engine the node's latest view of the mesh
// (overlay.View.Graph). The engine keeps g until the next SetView and
// reads it, never modifies it; the caller must not modify it either.
// The engine rebuilds its picture of the mesh only when g's nodes or
// links differ from the last view's.
func (e *Engine) SetView(now time.Time, g overlay.Graph) {
	if !sameShape(&e.graph, &g) {
		e.topoDirty = true
	}
	e.graph = g
}

// View returns the graph last given to SetView, what a plan's rehearsal
// runs on.
func (e *Engine) View() overlay.Graph { return e.graph }

// SetLinks gives the engine the figures of the node's own neighbour
// links (overlay.Engine.Neighbors), once per cycle. The engine copies
// them.
func (e *Engine) SetLinks(now time.Time, links []overlay.NeighborInfo) {
	if !sameLive(e.links, links) {
		e.topoDirty = true
	}
	e.links = append(e.links[:0], links...)
	e.updateBases(links)
}

// SetLoad gives the engine the node's own load, once per cycle.
func (e *Engine) SetLoad(now time.Time, l Load) error {
	if l.CPUPercent < 0 || l.CPUPercent > 100 || l.CPUPercent != l.CPUPercent || l.QueueLen < 0 || l.QueueCap < 0 {
		return fmt.Errorf("%w: load %+v", ErrInvalidInput, l)
	}
	e.load, e.hasLoad = l, true
	return nil
}

// SetPeers gives the engine the peers the node is connected to (or could
// link to) besides its neighbours: the candidates of reconnect. Without
// any, reconnect picks from the view's nodes. The engine copies them.
func (e *Engine) SetPeers(now time.Time, peers []protocols.Addr) {
	e.peers = append(e.peers[:0], peers...)
}

// Report takes one member's anomaly score of a node, received at now. It
// replaces the reporter's earlier report on the same subject. A reporter
// holds at most MaxReportsPerReporter reports (its oldest goes first) and
// the engine MaxReports in all.
func (e *Engine) Report(now time.Time, r Report) error {
	if err := r.validate(); err != nil {
		return err
	}
	e.reports.put(now, &r)
	return nil
}
