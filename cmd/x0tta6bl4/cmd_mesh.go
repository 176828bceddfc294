package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/node"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/mesh"
)

// meshCommands are the subcommands of "mesh", one line each; a
// subcommand may live in a file of its own.
var meshCommands = []command{
	{"ping", "PEER [--count N] [--interval D] [--timeout D] [--json] [--repo DIR]", "ping a peer over the mesh: route, hops, round-trip time", runMeshPing},
	{"routes", "[--json] [--repo DIR]", "list the routing table and the neighbor links", runMeshRoutes},
	{"send", "PEER TEXT... [--repo DIR]", "send a text to a peer, end-to-end encrypted", runMeshSend},
	{"view", "[--json] [--repo DIR]", "the mesh as gossiped telemetry shows it: nodes, links and their figures", runMeshView},
}

// runMesh is the "mesh" command group: it runs the subcommand named by
// its first argument.
func runMesh(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		printMeshUsage(e.stderr)
		return usageError{"mesh: no subcommand"}
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		printMeshUsage(e.stdout)
		return flag.ErrHelp
	}
	for _, c := range meshCommands {
		if c.name == args[0] {
			return c.run(ctx, e, args[1:])
		}
	}
	printMeshUsage(e.stderr)
	return usageError{fmt.Sprintf("mesh: unknown subcommand %q", args[0])}
}

func printMeshUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: x0tta6bl4 mesh SUBCOMMAND [flags]")
	fmt.Fprintln(w)
	for _, c := range meshCommands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
		fmt.Fprintf(w, "  %-8s   x0tta6bl4 mesh %s %s\n", "", c.name, c.usage)
	}
}

// meshPeer parses a peer ID argument.
func meshPeer(cmd, s string) (peer.ID, error) {
	p, err := peer.Decode(s)
	if err != nil {
		return "", usageError{fmt.Sprintf("%s: %q is not a peer ID: %v", cmd, s, err)}
	}
	return p, nil
}

// MeshPingReport is what "mesh ping --json" prints.
type MeshPingReport struct {
	Peer     peer.ID           `json:"peer"`
	Sent     int               `json:"sent"`
	Received int               `json:"received"`
	Replies  []mesh.PingResult `json:"replies"`
	Errors   []string          `json:"errors"`
}

func runMeshPing(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("mesh ping")
	repoPath := repoFlag(fs)
	count := fs.Int("count", 3, "pings to send")
	interval := fs.Duration("interval", 200*time.Millisecond, "time between pings")
	timeout := fs.Duration("timeout", 5*time.Second, "wait for each reply (the first includes setting up the session)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"mesh ping: want one PEER"}
	}
	if *count < 1 || *timeout <= 0 || *interval < 0 {
		return usageError{"mesh ping: --count must be at least 1, --timeout positive, --interval not negative"}
	}
	p, err := meshPeer("mesh ping", pos[0])
	if err != nil {
		return err
	}
	c, err := client(repoPath)
	if err != nil {
		return err
	}
	rep := MeshPingReport{Peer: p, Replies: []mesh.PingResult{}, Errors: []string{}}
	for i := range *count {
		if i > 0 && !sleepCtx(ctx, *interval) {
			break
		}
		rep.Sent++
		res, err := c.MeshPing(ctx, p, *timeout)
		if errors.Is(err, syscall.ECONNREFUSED) {
			return daemonError(err)
		}
		if err != nil {
			rep.Errors = append(rep.Errors, err.Error())
			if !*asJSON {
				fmt.Fprintf(e.stdout, "ping %d: %v\n", i+1, err)
			}
			continue
		}
		rep.Received++
		rep.Replies = append(rep.Replies, res)
		if !*asJSON {
			via := "-"
			if res.NextHop != "" {
				via = res.NextHop.String()
			}
			fmt.Fprintf(e.stdout, "reply from %s: hops=%d back=%d via %s rtt=%s\n",
				res.Peer, res.Hops, res.HopsBack, via, res.RTT.Round(10*time.Microsecond))
		}
	}
	if *asJSON {
		if err := printJSON(e, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "%d sent, %d received\n", rep.Sent, rep.Received)
	}
	if rep.Received == 0 {
		return fmt.Errorf("mesh ping: no reply from %s", p)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func runMeshRoutes(ctx context.Context, e *env, args []string) error {
	return showDaemon(ctx, e, "mesh routes", "print JSON (the API's answer)", args, (*node.Client).MeshRoutes, printRoutes)
}

func printRoutes(e *env, b node.MeshRoutesBody) {
	w := e.stdout
	fmt.Fprintf(w, "mesh address %s\n\n", b.Self)
	fmt.Fprintf(w, "%d routes\n", len(b.Routes))
	if len(b.Routes) > 0 {
		fmt.Fprintf(w, "%-8s  %-14s %-14s %4s %9s %6s %-7s %s\n", "dst", "peer", "next hop", "hops", "cost", "seq", "state", "expires in")
	}
	for _, r := range b.Routes {
		state := "valid"
		if !r.Valid {
			state = "invalid"
		}
		fmt.Fprintf(w, "%-8s  %-14s %-14s %4d %9s %6d %-7s %s\n", r.Dst.Short(), shortID(r.DstPeer), shortID(r.NextHopPeer),
			r.Hops, r.Cost.Round(time.Microsecond), r.Seq, state, time.Until(r.Expires).Round(10*time.Millisecond))
	}
	fmt.Fprintf(w, "\n%d neighbors\n", len(b.Neighbors))
	if len(b.Neighbors) > 0 {
		fmt.Fprintf(w, "%-8s  %-14s %-5s %9s %7s %7s %9s %-8s %s\n", "addr", "peer", "alive", "rtt", "out", "in", "cost", "opened", "queued")
	}
	for _, nb := range b.Neighbors {
		dir := "inbound"
		if nb.Outbound {
			dir = "outbound"
		}
		fmt.Fprintf(w, "%-8s  %-14s %-5v %9s %6.0f%% %6.0f%% %9s %-8s %d\n", nb.Addr.Short(), shortID(nb.Peer), nb.Alive,
			nb.RTT.Round(time.Microsecond), 100*nb.DeliveryOut, 100*nb.DeliveryIn, nb.Cost.Round(time.Microsecond), dir, nb.Queued)
	}
}

// shortID abbreviates a peer ID for tables; "-" when unknown.
func shortID(p peer.ID) string {
	if p == "" {
		return "-"
	}
	s := p.String()
	if len(s) > 14 {
		return s[:6] + "…" + s[len(s)-6:]
	}
	return s
}

func runMeshSend(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("mesh send")
	repoPath := repoFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return usageError{"mesh send: want PEER and TEXT"}
	}
	p, err := meshPeer("mesh send", pos[0])
	if err != nil {
		return err
	}
	text := strings.Join(pos[1:], " ")
	c, err := client(repoPath)
	if err != nil {
		return err
	}
	body, err := c.MeshSend(ctx, p, text)
	if err != nil {
		return daemonError(err)
	}
	fmt.Fprintf(e.stdout, "sent %d bytes to %s\n", body.Bytes, body.Peer)
	return nil
}
