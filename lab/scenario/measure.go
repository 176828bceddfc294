package scenario

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/twin"
)

// Probe is one packet of a flow: when it was sent and when it arrived,
// both from the start of traffic. Arrived is negative for a packet that
// never arrived.
type Probe struct {
	Sent    time.Duration
	Arrived time.Duration
}

// Lost reports whether the probe never arrived.
func (p Probe) Lost() bool { return p.Arrived < 0 }

// FlowRecord is everything a flow sent, in order of sending.
type FlowRecord struct {
	Flow
	Probes []Probe
}

// AppliedFault is a fault at the time it took effect (from the start of
// traffic), which may lag its scheduled time.
type AppliedFault struct {
	Fault
	At time.Duration
}

// Measures are the figures of a run, computed alike from the lab's
// daemons, the Testground plan's instances and (for comparison) the
// twin's definitions: MTTR per flow is the time from a fault until the
// arrival of the first packet the flow sent after its last lost one.
type Measures struct {
	// Sent and Delivered count the packets sent while their flow was
	// servable (both ends up and connected); DeliveryRatio is their
	// quotient (1 with nothing sent).
	Sent          int     `json:"sent"`
	Delivered     int     `json:"delivered"`
	DeliveryRatio float64 `json:"delivery_ratio"`
	// LatencyP50 and LatencyP99 are the delivered packets' one-way times,
	// in seconds.
	LatencyP50 float64 `json:"latency_p50_s"`
	LatencyP99 float64 `json:"latency_p99_s"`
	// MTTR figures pool every affected flow of every fault window, in
	// seconds; MTTRMax is what the twin calls MTTR.
	MTTRP50 float64 `json:"mttr_p50_s"`
	MTTRP99 float64 `json:"mttr_p99_s"`
	MTTRMax float64 `json:"mttr_max_s"`
	// FlowsAffected counts flows that lost a packet after a fault and
	// could still be served at the end of its window; Recovered is false
	// when one of them never delivered again.
	FlowsAffected int  `json:"flows_affected"`
	Recovered     bool `json:"recovered"`
	// Windows has the figures after each distinct fault time.
	Windows []Window `json:"windows"`
	// LostPerSecond counts the servable packets lost, by the second of
	// traffic they were sent in: where an outage sat.
	LostPerSecond []int `json:"lost_per_s"`
}

// Window is what followed the faults applied at one time, until the
// next fault time or the end.
type Window struct {
	AtSeconds  float64  `json:"at_s"`
	Faults     []string `json:"faults"`
	MTTRP50    float64  `json:"mttr_p50_s"`
	MTTRP99    float64  `json:"mttr_p99_s"`
	MTTRMax    float64  `json:"mttr_max_s"`
	Affected   int      `json:"flows_affected"`
	Unservable int      `json:"flows_unservable"`
	Recovered  bool     `json:"recovered"`
	// AffectedFlows lists the affected flows: how many probes each lost
	// in the window, the send time of the last lost one and its MTTR.
	AffectedFlows []AffectedFlow `json:"affected_flows"`
}

// AffectedFlow is one flow that lost probes after a fault.
type AffectedFlow struct {
	Flow
	Lost        int     `json:"lost"`
	LastLostAtS float64 `json:"last_lost_at_s"`
	MTTRSeconds float64 `json:"mttr_s"`
}

// Percentile is the nearest-rank p-quantile (0 < p ≤ 1) of v, 0 for an
// empty v. It sorts v.
func Percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	i := int(math.Ceil(p*float64(len(v)))) - 1
	return v[min(max(i, 0), len(v)-1)]
}

// liveness is the mesh's state over time: from each instant on, which
// component each node is in (-1 down).
type liveness struct {
	from []time.Duration
	comp [][]int
}

func newLiveness(t *twin.Topology, faults []AppliedFault) *liveness {
	down := map[int]bool{}
	cut := map[int]bool{}
	lv := &liveness{from: []time.Duration{0}, comp: [][]int{Components(t, down, cut)}}
	partitioned := map[int]bool{}
	for _, f := range faults {
		switch f.Kind {
		case Kill, Stop:
			for _, i := range f.Nodes {
				down[i] = true
			}
		case Resume, Restart:
			for _, i := range f.Nodes {
				delete(down, i)
			}
		case Partition:
			group := make([]int, len(t.Nodes))
			for g, nodes := range f.Groups {
				for _, i := range nodes {
					group[i] = g + 1
				}
			}
			for li, l := range t.Links {
				if group[l.A] != group[l.B] {
					cut[li], partitioned[li] = true, true
				}
			}
		case Heal:
			for li := range partitioned {
				delete(cut, li)
			}
			clear(partitioned)
		default:
			continue
		}
		lv.from = append(lv.from, f.At)
		lv.comp = append(lv.comp, Components(t, down, cut))
	}
	return lv
}

// at returns the components in force at time d.
func (lv *liveness) at(d time.Duration) []int {
	i := sort.Search(len(lv.from), func(i int) bool { return lv.from[i] > d })
	return lv.comp[max(i-1, 0)]
}

func servable(comp []int, f Flow) bool {
	return comp[f.Src] >= 0 && comp[f.Src] == comp[f.Dst]
}

// Measure computes the run's figures from its flows' records, the faults
// as they were applied (in time order) and the end of traffic.
func Measure(t *twin.Topology, records []FlowRecord, faults []AppliedFault, end time.Duration) Measures {
	lv := newLiveness(t, faults)
	m := Measures{Recovered: true, DeliveryRatio: 1}
	var lat []float64
	for _, r := range records {
		for _, p := range r.Probes {
			if !servable(lv.at(p.Sent), r.Flow) {
				continue
			}
			m.Sent++
			if p.Lost() {
				sec := int(p.Sent / time.Second)
				for len(m.LostPerSecond) <= sec {
					m.LostPerSecond = append(m.LostPerSecond, 0)
				}
				m.LostPerSecond[sec]++
			} else {
				m.Delivered++
				lat = append(lat, (p.Arrived - p.Sent).Seconds())
			}
		}
	}
	if m.Sent > 0 {
		m.DeliveryRatio = float64(m.Delivered) / float64(m.Sent)
	}
	m.LatencyP50, m.LatencyP99 = Percentile(lat, 0.5), Percentile(lat, 0.99)

	var pooled []float64
	for i := 0; i < len(faults); {
		at := faults[i].At
		w := Window{AtSeconds: at.Seconds(), Recovered: true}
		for ; i < len(faults) && faults[i].At == at; i++ {
			w.Faults = append(w.Faults, faults[i].Fault.String())
		}
		until := end
		if i < len(faults) {
			until = faults[i].At
		}
		// Flows that can be served at the end of the window count.
		last := lv.at(max(until-1, at))
		var mttr []float64
		for _, r := range records {
			if !servable(last, r.Flow) {
				w.Unservable++
				continue
			}
			lastLost, lost := -1, 0
			for k, p := range r.Probes {
				if p.Sent >= at && p.Sent < until && p.Lost() {
					lastLost = k
					lost++
				}
			}
			if lastLost < 0 {
				continue
			}
			w.Affected++
			back := time.Duration(-1)
			for _, p := range r.Probes[lastLost+1:] {
				if !p.Lost() {
					back = p.Arrived
					break
				}
			}
			if back < 0 {
				w.Recovered = false
				back = end
			}
			mttr = append(mttr, (back - at).Seconds())
			w.AffectedFlows = append(w.AffectedFlows, AffectedFlow{Flow: r.Flow, Lost: lost,
				LastLostAtS: r.Probes[lastLost].Sent.Seconds(), MTTRSeconds: (back - at).Seconds()})
		}
		pooled = append(pooled, mttr...)
		w.MTTRMax = Percentile(mttr, 1)
		w.MTTRP99 = Percentile(mttr, 0.99)
		w.MTTRP50 = Percentile(mttr, 0.5)
		m.FlowsAffected += w.Affected
		m.Recovered = m.Recovered && w.Recovered
		m.Windows = append(m.Windows, w)
	}
	m.MTTRMax = Percentile(pooled, 1)
	m.MTTRP99 = Percentile(pooled, 0.99)
	m.MTTRP50 = Percentile(pooled, 0.5)
	return m
}
