package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/node"
)

// The live part of the anomaly group: the running daemon's scores and
// suspects, model blobs for governance, and the federated round.

func runAnomalyScores(ctx context.Context, e *env, args []string) error {
	return showDaemon(ctx, e, "anomaly scores", "print the API's answer as JSON", args, (*node.Client).Anomaly, printAnomaly)
}

func printAnomaly(e *env, b node.AnomalyBody) {
	w := e.stdout
	fmt.Fprintf(w, "model %s (%s), sha256 %s, threshold %.4g", b.Model.Name, b.Model.Kind, b.Model.SHA256, b.Model.Threshold)
	if b.Model.Proposal != "" {
		fmt.Fprintf(w, ", adopted by proposal %s", b.Model.Proposal[:16])
	}
	fmt.Fprintf(w, "\nsuspect: %d or more members that neighbour a node flag it, %d intervals in a row\n", b.Quorum, b.Persistence)
	if b.Own != nil {
		fmt.Fprintf(w, "\nthis node's scores of its neighbours (at %s):\n", b.Own.Time.Local().Format(time.TimeOnly))
		printScores(e, b.Own)
	}
	fmt.Fprintf(w, "\nscores received from %d nodes\n", len(b.Received))
	for i := range b.Received {
		m := &b.Received[i]
		flagged := 0
		for _, s := range m.Scores {
			if s.Flagged {
				flagged++
			}
		}
		fmt.Fprintf(w, "  %-8s %-14s %d scores, %d flagged, model %s\n", m.Scorer.Short(), shortPeer(m.Peer), len(m.Scores), flagged, m.Model[:8])
	}
	fmt.Fprintf(w, "\nsuspects: %d\n", len(b.Suspects))
	for _, s := range b.Suspects {
		fmt.Fprintf(w, "  %-8s %-14s since %s, flagged by %d:", s.Subject.Short(), shortPeer(s.Peer), s.Since.Local().Format(time.TimeOnly), len(s.Reporters))
		for i, r := range s.Reporters {
			fmt.Fprintf(w, " %s (%.2f)", r.Short(), s.Scores[i])
		}
		fmt.Fprintln(w)
	}
}

func printScores(e *env, m *node.AnomalyScoresBody) {
	for _, s := range m.Scores {
		mark := ""
		if s.Flagged {
			mark = "  FLAGGED " + strings.Join(s.Contributing, ", ")
		}
		fmt.Fprintf(e.stdout, "  %-8s %-14s %.4f%s\n", s.Subject.Short(), shortPeer(s.Peer), s.Score, mark)
	}
}

func runAnomalyPublish(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("anomaly publish")
	repoPath := repoFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseWant(fs, args, 1, "anomaly publish <model file>")
	if err != nil {
		return err
	}
	blob, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	c, err := client(repoPath)
	if err != nil {
		return err
	}
	pub, err := c.AnomalyPublishModel(ctx, blob)
	if err != nil {
		return daemonError(err)
	}
	if *asJSON {
		return printJSON(e, pub)
	}
	fmt.Fprintf(e.stdout, "%s %q (%s, %d bytes) is in the DHT\npropose it with: x0tta6bl4 gov propose --title ... --action model:<name>@%s\n",
		pub.SHA256, pub.Name, pub.Kind, pub.Bytes, pub.SHA256)
	return nil
}

func runFLRound(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("anomaly fl-round")
	repoPath := repoFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	var o node.FLRoundOptions
	fs.IntVar(&o.Runs, "runs", 6, "twin rehearsals of the node's mesh, each with at most one gray fault")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "virtual time of each rehearsal")
	fs.IntVar(&o.Epochs, "epochs", 4, "training epochs at most")
	fs.Uint64Var(&o.Seed, "seed", 0, "seed of the rehearsals and the training (0: from the node's address)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if o.Runs < 1 || o.Duration <= 0 || o.Epochs < 1 {
		return usageError{"anomaly fl-round: --runs and --epochs must be at least 1, --duration positive"}
	}
	c, err := client(repoPath)
	if err != nil {
		return err
	}
	res, err := c.AnomalyFLRound(ctx, o)
	if err != nil {
		return daemonError(err)
	}
	if *asJSON {
		return printJSON(e, res)
	}
	fmt.Fprintf(e.stdout, "update %s of base %s\ntrained on %d rehearsals (%d node samples) in %.1f s; announced on the fl topic\n",
		res.Update, res.Base, res.Episodes, res.Samples, res.Seconds)
	return nil
}

func runFLUpdates(ctx context.Context, e *env, args []string) error {
	return showDaemon(ctx, e, "anomaly fl-updates", "print the API's answer as JSON", args, (*node.Client).AnomalyFL,
		func(e *env, b node.FLBody) {
			fmt.Fprintf(e.stdout, "%d updates of %s\n", len(b.Updates), b.Base)
			for _, u := range b.Updates {
				fmt.Fprintf(e.stdout, "  %-8s %s  %d samples, %s\n", u.Node.Short(), u.Update, u.Samples, u.Time.Local().Format(time.TimeOnly))
			}
		})
}

func runFLPropose(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("anomaly fl-propose")
	repoPath := repoFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	var o node.FLProposeOptions
	fs.StringVar(&o.Name, "name", "", "the averaged model's name, 1 to 64 of [a-z0-9._-] (default fedavg-<base digest prefix>)")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "voting time from now")
	fs.IntVar(&o.MinUpdates, "min-updates", 1, "refuse with fewer updates than this")
	quorum := fs.String("quorum", "0.5", "participating power / total allocatable power must reach this fraction")
	threshold := fs.String("threshold", "0.5", "YES / (YES + NO) must exceed this fraction")
	if err := parse(fs, args); err != nil {
		return err
	}
	var err error
	if o.Quorum, err = consensus.ParsePPM(*quorum); err != nil {
		return usageError{"anomaly fl-propose: --quorum: " + err.Error()}
	}
	if o.Threshold, err = consensus.ParsePPM(*threshold); err != nil {
		return usageError{"anomaly fl-propose: --threshold: " + err.Error()}
	}
	c, err := client(repoPath)
	if err != nil {
		return err
	}
	p, err := c.AnomalyFLPropose(ctx, o)
	if err != nil {
		return daemonError(err)
	}
	if *asJSON {
		return printJSON(e, p)
	}
	fmt.Fprintf(e.stdout, "proposal %s: model:%s@%s, the average of %d updates of %s\n", p.Proposal, p.Name, p.Model, len(p.Updates), p.Base)
	return nil
}

func runFLVote(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("anomaly fl-vote")
	repoPath := repoFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseWant(fs, args, 1, "anomaly fl-vote <proposal ID>")
	if err != nil {
		return err
	}
	c, err := client(repoPath)
	if err != nil {
		return err
	}
	v, err := c.AnomalyFLVote(ctx, pos[0])
	if err != nil {
		return daemonError(err)
	}
	if *asJSON {
		return printJSON(e, v)
	}
	fmt.Fprintf(e.stdout, "voted %s on %s", v.Choice, v.Proposal)
	if v.Why != "" {
		fmt.Fprintf(e.stdout, ": %s", v.Why)
	}
	fmt.Fprintln(e.stdout)
	return nil
}
