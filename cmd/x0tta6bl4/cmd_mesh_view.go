package main

import (
	"context"
	"fmt"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/node"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
)

// runMeshView prints the running daemon's view of the mesh: every node
// whose telemetry it holds, and the links they report.
func runMeshView(ctx context.Context, e *env, args []string) error {
	return showDaemon(ctx, e, "mesh view", "print the view as JSON (the API's answer)", args, (*node.Client).MeshView, printGraph)
}

func printGraph(e *env, g overlay.Graph) {
	w := e.stdout
	fmt.Fprintf(w, "%d nodes, %d links\n", len(g.Nodes), len(g.Links))
	if len(g.Nodes) > 0 {
		fmt.Fprintf(w, "%-8s  %-14s %-6s %6s %6s %6s %9s %6s %10s %10s %5s %6s\n",
			"node", "peer", "source", "cpu%", "mem%", "load1", "latency", "loss%", "sent/s", "recv/s", "links", "age")
	}
	for _, n := range g.Nodes {
		mem := 0.0
		if n.MemoryTotal > 0 {
			mem = 100 * float64(n.MemoryUsed) / float64(n.MemoryTotal)
		}
		fmt.Fprintf(w, "%-8s  %-14s %-6s %6.1f %6.1f %6.2f %9s %6.2f %10s %10s %5d %6s\n",
			n.Addr.Short(), shortPeer(n.Peer), n.Source, n.CPUPercent, mem, n.Load1, durationText(n.Latency),
			n.LossPercent, rateText(n.SendRate), rateText(n.ReceiveRate), n.Degree, n.Age.Round(100*time.Millisecond))
	}
	if len(g.Links) > 0 {
		fmt.Fprintf(w, "\n%-8s  %-8s %9s %-6s %6s %-5s %10s %10s %s\n",
			"from", "to", "rtt", "by", "loss%", "by", "sent", "received", "")
	}
	for _, l := range g.Links {
		var note string
		switch {
		case !l.Known:
			note = "(not in view)"
		case !l.Mutual:
			note = "(one way)"
		}
		rtt, loss := "-", "-"
		if l.RTTBy != 0 {
			rtt = durationText(l.RTT)
		}
		if l.LossBy != 0 {
			loss = fmt.Sprintf("%.2f", l.LossPercent)
		}
		sent, recv := "-", "-"
		if l.TCP || l.UDP {
			sent, recv = bytesText(l.BytesSent), bytesText(l.BytesReceived)
		}
		fmt.Fprintf(w, "%-8s  %-8s %9s %-6s %6s %-5s %10s %10s %s\n",
			l.From.Short(), l.To.Short(), rtt, l.RTTBy, loss, l.LossBy, sent, recv, note)
	}
}

// shortPeer abbreviates a peer ID to its last 12 characters.
func shortPeer(id string) string {
	if len(id) <= 14 {
		return id
	}
	return "…" + id[len(id)-12:]
}

// durationText writes d in milliseconds with three digits of precision.
func durationText(d time.Duration) string {
	return fmt.Sprintf("%.3g ms", float64(d)/float64(time.Millisecond))
}

// rateText writes a byte rate in binary units per second.
func rateText(bps float64) string {
	return bytesText(uint64(bps + 0.5))
}
