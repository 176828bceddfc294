package node

import (
	"github.com/x0tta6bl4/x0tta6bl4/healing"
	"github.com/x0tta6bl4/x0tta6bl4/twin"
)

// What the healing service is wired to beyond the node's own parts: the
// what-if it rehearses plans in and the anomaly service whose suspects
// it acts on.

// newRehearser returns the what-if the healing service runs each plan
// through before it executes: the digital twin built from the node's
// view (twin.FromView), running the node's routing profile, with the
// suspected fault injected, once without and once with the plan.
func (n *Node) newRehearser() (healing.Rehearser, error) {
	return twin.NewRehearser(n.mesh.r.Addr(), twin.RehearserConfig{Routing: n.cfg.Mesh.RoutingConfig(n.cfg.Profile)})
}

// newReportSource returns the anomaly service's judgements as the
// engine's reports; threshold is the engine's.
func (n *Node) newReportSource(threshold float64) reportSource {
	if n.anomaly == nil {
		return nil
	}
	return anomalyReports{a: n.anomaly, threshold: threshold}
}

// anomalyReports turns the anomaly service's suspects into the healing
// engine's reports: one per member that flags a suspect, with its
// score. The anomaly service has judged them under its adopted model's
// threshold (and its quorum and persistence rules), which governance
// may set below the engine's; a flagging score is so reported at least
// at the engine's threshold, for the engine not to second-guess the
// model.
type anomalyReports struct {
	a         *Anomaly
	threshold float64
}

var _ reportSource = anomalyReports{}

func (r anomalyReports) Reports() []healing.Report {
	var out []healing.Report
	for _, s := range r.a.Suspicions() {
		for i, rep := range s.Reporters {
			score := r.threshold
			if i < len(s.Scores) {
				score = min(max(s.Scores[i], r.threshold), 1)
			}
			out = append(out, healing.Report{Reporter: rep, Subject: s.Subject, Score: score})
		}
	}
	return out
}
