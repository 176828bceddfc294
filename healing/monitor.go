package healing

import (
	"bytes"
	"fmt"
	"math"
	"slices"
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

// topology is the mesh as the analysis reads it: the view's nodes and
// every node a link names, with undirected adjacency (a link counts if
// either end reports it, or, for this node, if its own link is alive).
type topology struct {
	index  map[protocols.Addr]int32
	addrs  []protocols.Addr
	peers  []string
	inView []bool
	adj    [][]int32
	self   int32
	nView  int
	// scratch for searches
	seen  []uint32
	epoch uint32
	queue []int32
}

// build makes the topology of g plus this node's live own links.
func (t *topology) build(self protocols.Addr, g *overlay.Graph, links []overlay.NeighborInfo) {
	if t.index == nil {
		t.index = make(map[protocols.Addr]int32, len(g.Nodes)+1)
	} else {
		clear(t.index)
	}
	t.addrs, t.peers, t.inView = t.addrs[:0], t.peers[:0], t.inView[:0]
	for i := range t.adj {
		t.adj[i] = t.adj[i][:0]
	}
	t.nView = 0
	for _, n := range g.Nodes {
		i := t.vertex(n.Addr)
		t.peers[i] = n.Peer
		if !t.inView[i] {
			t.inView[i] = true
			t.nView++
		}
	}
	t.self = t.vertex(self)
	for _, l := range g.Links {
		if l.From != l.To {
			t.edge(t.vertex(l.From), t.vertex(l.To))
		}
	}
	for _, l := range links {
		if l.Alive && l.Addr != self && !l.Addr.IsZero() {
			t.edge(t.self, t.vertex(l.Addr))
		}
	}
	for i := range t.adj {
		slices.Sort(t.adj[i])
		t.adj[i] = slices.Compact(t.adj[i])
	}
}

func (t *topology) vertex(a protocols.Addr) int32 {
	if i, ok := t.index[a]; ok {
		return i
	}
	i := int32(len(t.addrs))
	t.index[a] = i
	t.addrs = append(t.addrs, a)
	t.peers = append(t.peers, "")
	t.inView = append(t.inView, false)
	if len(t.adj) <= int(i) {
		t.adj = append(t.adj, nil)
	}
	return i
}

func (t *topology) edge(a, b int32) {
	t.adj[a] = append(t.adj[a], b)
	t.adj[b] = append(t.adj[b], a)
}

// adjacent reports whether a and b share a link.
func (t *topology) adjacent(a, b protocols.Addr) bool {
	i, ok1 := t.index[a]
	j, ok2 := t.index[b]
	if !ok1 || !ok2 {
		return false
	}
	_, found := slices.BinarySearch(t.adj[i], j)
	return found
}

// reach returns how many view nodes (this one included, if in view) the
// search from this node reaches without passing through skip (-1 for
// none), and marks them in t.seen with the returned epoch.
func (t *topology) reach(skip int32) (int, uint32) {
	if len(t.seen) < len(t.addrs) {
		t.seen = make([]uint32, len(t.addrs))
		t.epoch = 0
	}
	t.epoch++
	if t.epoch == 0 { // wrapped: start the marks afresh
		clear(t.seen)
		t.epoch = 1
	}
	ep := t.epoch
	t.queue = append(t.queue[:0], t.self)
	t.seen[t.self] = ep
	n := 0
	for len(t.queue) > 0 {
		v := t.queue[len(t.queue)-1]
		t.queue = t.queue[:len(t.queue)-1]
		if t.inView[v] {
			n++
		}
		for _, w := range t.adj[v] {
			if w != skip && t.seen[w] != ep {
				t.seen[w] = ep
				t.queue = append(t.queue, w)
			}
		}
	}
	return n, ep
}

// routesAround reports whether every view node this node reaches now
// stays reachable without the node at v: whether avoiding v leaves
// another route to everyone.
func (t *topology) routesAround(v int32) bool {
	if v == t.self {
		return false
	}
	before, ep := t.reach(-1)
	if t.seen[v] != ep {
		return true // not reachable anyway: avoiding it changes nothing
	}
	if t.inView[v] {
		before--
	}
	after, _ := t.reach(v)
	return after >= before
}
