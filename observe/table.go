package observe

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Table renders s as the observer's terminal table: a status line, the
// nodes (suspect, quarantined and down ones first), the links that lose
// most or are slowest, the proposals with their tallies, and the healing
// record. At most rows nodes and rows links are listed; the rest are
// counted.
func Table(s Snapshot, rows int) string {
	var b strings.Builder
	st := s.Stats
	fmt.Fprintf(&b, "x0tta6bl4 %s  %s  nodes %d up, %d down (seen %d)  suspects %d  messages %d  duplicates %d  rejected %d  peers %d\n",
		cmp.Or(s.Source, "observer"), s.Time.Local().Format("15:04:05"), st.NodesUp, st.NodesDown, st.NodesSeen,
		st.Suspects, sum(st.Messages), sum(st.Duplicates), sum(st.Rejected), len(s.Peers))
	fmt.Fprintf(&b, "telemetry latency p50 %.1f ms  p99 %.1f ms\n\n", st.TelemetryP50MS, st.TelemetryP99MS)

	nodes := slices.Clone(s.Nodes)
	slices.SortStableFunc(nodes, func(a, c NodeState) int { return cmp.Compare(nodeRank(c), nodeRank(a)) })
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tCPU%\tMEM\tLOAD\tLINKS\tRTT\tLOSS%\tANOMALY\tFLAGS\tAGE")
	for i, n := range nodes {
		if i == rows {
			fmt.Fprintf(tw, "… %d more\t\t\t\t\t\t\t\t\t\t\n", len(nodes)-rows)
			break
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%s\t%.2f\t%d\t%s\t%.2f\t%s\t%s\t%s\n",
			shortPeer(n.Peer), n.State, n.CPUPercent, bytesText(n.MemoryUsed), n.Load1, len(n.Links),
			durationText(n.Latency), n.LossPercent, anomalyText(n.Anomaly), flagsText(n), durationText(n.Age.Round(100*time.Millisecond)))
	}
	tw.Flush()

	type link struct {
		from string
		l    LinkState
	}
	var links []link
	for _, n := range s.Nodes {
		for _, l := range n.Links {
			links = append(links, link{n.Peer, l})
		}
	}
	slices.SortStableFunc(links, func(a, c link) int {
		return cmp.Or(cmp.Compare(c.l.LossPercent, a.l.LossPercent), cmp.Compare(c.l.RTT, a.l.RTT))
	})
	fmt.Fprintf(&b, "\nLINKS (%d, worst first)\n", len(links))
	tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FROM\tTO\tRTT\tBY\tLOSS%\tMUTUAL")
	for i, l := range links {
		if i == rows {
			fmt.Fprintf(tw, "… %d more\t\t\t\t\t\n", len(links)-rows)
			break
		}
		to := shortPeer(l.l.To)
		if l.l.To == "" {
			to = l.l.ToAddr.Short() + " (not in view)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f\t%v\n", shortPeer(l.from), to, durationText(l.l.RTT), l.l.RTTBy, l.l.LossPercent, l.l.Mutual)
	}
	tw.Flush()

	fmt.Fprintf(&b, "\nPROPOSALS (%d)\n", len(s.Proposals))
	tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tDEADLINE\tYES\tNO\tABSTAIN\tACTION\tTITLE")
	for _, p := range s.Proposals {
		var yes, no, abstain string
		if t := p.Tally; t != nil {
			yes, no, abstain = votesText(t.Yes), votesText(t.No), votesText(t.Abstain)
		}
		action := ""
		if p.Action != nil {
			action = p.Action.Kind + " " + shortPeer(p.Action.Peer)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID[:min(8, len(p.ID))], p.State,
			deadlineText(p.Deadline, s.Time), yes, no, abstain, strings.TrimSpace(action), p.Title)
	}
	tw.Flush()

	fmt.Fprintln(&b, "\nHEALING")
	if s.Healing == nil {
		fmt.Fprintln(&b, "  no healing record here (an observer has none; nodes heal in a later version)")
	} else {
		fmt.Fprintf(&b, "  mode %s, %d plans\n", s.Healing.Mode, len(s.Healing.Plans))
		for _, p := range s.Healing.Plans {
			fmt.Fprintf(&b, "  %s  %s %s → %s (%s)\n", p.Time.Local().Format("15:04:05"), p.Cause, shortPeer(p.Subject), p.Strategy, p.State)
		}
	}
	return b.String()
}

// nodeRank orders nodes that need attention first.
func nodeRank(n NodeState) int {
	r := 0
	if n.Anomaly != nil && n.Anomaly.Suspect {
		r += 8
	}
	if n.Quarantined {
		r += 4
	}
	switch n.State {
	case StateDown:
		r += 2
	case StateLate:
		r++
	}
	return r
}

func shortPeer(p string) string {
	if len(p) <= 14 {
		return p
	}
	return p[:6] + "…" + p[len(p)-6:]
}

func flagsText(n NodeState) string {
	var f []string
	if n.Anomaly != nil && n.Anomaly.Suspect {
		f = append(f, "SUSPECT")
	}
	if n.Quarantined {
		f = append(f, "QUARANTINED")
	}
	return strings.Join(f, ",")
}

func anomalyText(a *NodeAnomaly) string {
	if a == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f %d/%d", a.Score, a.Flagged, a.Reporters)
}

func durationText(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	if d < time.Millisecond {
		return fmt.Sprintf("%dµs", d.Microseconds())
	}
	return d.Round(10 * time.Microsecond).String()
}

func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%c", float64(n)/float64(div), "KMGTPE"[exp])
}

// votesText is a power in micro-votes as votes.
func votesText(micro uint64) string { return fmt.Sprintf("%.2f", float64(micro)/1e6) }

func deadlineText(deadline, now time.Time) string {
	if d := deadline.Sub(now); d > 0 {
		return "in " + d.Round(time.Second).String()
	}
	return deadline.Local().Format("15:04:05")
}
