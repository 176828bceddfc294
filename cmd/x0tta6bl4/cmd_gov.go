package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/node"
)

// The gov group: governance through the running daemon's API.

func runGovPropose(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("gov propose")
	repoPath := repoFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	title := fs.String("title", "", "title (required, at most 256 bytes)")
	desc := fs.String("description", "", "description (at most 4096 bytes)")
	duration := fs.Duration("duration", 5*time.Minute, "voting time from now")
	quorum := fs.String("quorum", "0.33", "participating power / total allocatable power must reach this fraction")
	threshold := fs.String("threshold", "0.5", "YES / (YES + NO) must exceed this fraction")
	action := fs.String("action", "", "what a pass does: quarantine:<peer>[:<reason>], admit:<peer>[:<tokens>], evict:<peer>, set:<name>=<value> or model:<name>@<sha256>")
	if err := parse(fs, args); err != nil {
		return err
	}
	if strings.TrimSpace(*title) == "" {
		return usageError{"gov propose: --title is required"}
	}
	req := node.GovProposeRequest{
		Title: *title, Description: *desc, Duration: duration.String(),
		Quorum: node.GovFraction(*quorum), Threshold: node.GovFraction(*threshold),
	}
	if *action != "" {
		a, err := node.ParseGovAction(*action)
		if err != nil {
			return usageError{"gov propose: --" + err.Error()}
		}
		req.Action = a
	}
	c, err := client(repoPath)
	if err != nil {
		return err
	}
	p, err := c.GovPropose(ctx, req)
	if err != nil {
		return daemonError(err)
	}
	if *asJSON {
		return printJSON(e, p)
	}
	fmt.Fprintf(e.stdout, "proposal %s\n", p.ID)
	fmt.Fprintf(e.stdout, "deadline %s (in %v)\n", p.Deadline.Local().Format(time.RFC3339), time.Until(p.Deadline).Round(time.Second))
	return nil
}

func runGovVote(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("gov vote")
	repoPath := repoFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	tokens := fs.Uint64("tokens", 0, "tokens to spend (required; voting power is their square root)")
	pos, err := parseWant(fs, args, 2, "gov vote <proposal ID> yes|no|abstain --tokens N")
	if err != nil {
		return err
	}
	switch strings.ToLower(pos[1]) {
	case "yes", "no", "abstain":
	default:
		return usageError{fmt.Sprintf("gov vote: choice %q: want yes, no or abstain", pos[1])}
	}
	if *tokens == 0 {
		return usageError{"gov vote: --tokens is required (at least 1)"}
	}
	c, err := client(repoPath)
	if err != nil {
		return err
	}
	v, err := c.GovVote(ctx, pos[0], node.GovVoteRequest{Choice: pos[1], Tokens: *tokens})
	if err != nil {
		return daemonError(err)
	}
	if *asJSON {
		return printJSON(e, v)
	}
	fmt.Fprintf(e.stdout, "voted %s with %d tokens (%s votes) on %s\n", v.Choice, v.Tokens, formatVotes(v.Power), v.Proposal)
	fmt.Fprintf(e.stdout, "record %s, seq %d\n", v.ID, v.Seq)
	return nil
}

func runGovList(ctx context.Context, e *env, args []string) error {
	return showDaemon(ctx, e, "gov list", "print JSON", args, (*node.Client).GovProposals, printProposals)
}

func printProposals(e *env, body node.GovProposalsBody) {
	if body.Count == 0 {
		fmt.Fprintln(e.stdout, "no proposals")
		return
	}
	fmt.Fprintf(e.stdout, "%-16s  %-8s  %-20s  %s\n", "ID", "STATE", "DEADLINE", "TITLE")
	for _, p := range body.Proposals {
		fmt.Fprintf(e.stdout, "%-16s  %-8s  %-20s  %s\n", p.ID[:16], p.State, p.Deadline.Local().Format("2006-01-02 15:04:05"), p.Title)
	}
}

func runGovShow(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("gov show")
	repoPath := repoFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseWant(fs, args, 1, "gov show <proposal ID>")
	if err != nil {
		return err
	}
	c, err := client(repoPath)
	if err != nil {
		return err
	}
	p, err := c.GovProposal(ctx, pos[0])
	if err != nil {
		return daemonError(err)
	}
	if *asJSON {
		return printJSON(e, p)
	}
	w := e.stdout
	fmt.Fprintf(w, "proposal   %s\n", p.ID)
	fmt.Fprintf(w, "title      %s\n", p.Title)
	if p.Description != "" {
		fmt.Fprintf(w, "           %s\n", p.Description)
	}
	fmt.Fprintf(w, "author     %s\n", p.Author)
	fmt.Fprintf(w, "created    %s\n", p.Created.Local().Format(time.RFC3339))
	fmt.Fprintf(w, "deadline   %s\n", p.Deadline.Local().Format(time.RFC3339))
	fmt.Fprintf(w, "quorum     %s   threshold %s\n", p.Quorum, p.Threshold)
	if p.Action != nil {
		fmt.Fprintf(w, "action     %s\n", p.Action)
	}
	state := p.State
	if p.DecidedAt != nil {
		state += " (decided " + p.DecidedAt.Local().Format(time.RFC3339) + ")"
	}
	fmt.Fprintf(w, "state      %s\n", state)
	t := p.Tally
	if t == nil {
		return nil
	}
	kind := "as it stands"
	if t.Final {
		kind = "final"
	}
	met := "quorum not met"
	if t.QuorumMet {
		met = "quorum met"
	}
	fmt.Fprintf(w, "tally      %s, %s (%s)\n", t.Outcome, met, kind)
	fmt.Fprintf(w, "           yes %s  no %s  abstain %s votes; %s of %s allocatable\n",
		formatVotes(t.Yes), formatVotes(t.No), formatVotes(t.Abstain), formatVotes(t.Participating), formatVotes(t.Total))
	fmt.Fprintf(w, "           digest %s\n", t.Digest)
	if len(t.Ballots) > 0 {
		fmt.Fprintf(w, "voters\n")
		for _, b := range t.Ballots {
			fmt.Fprintf(w, "  %s  %-7s  %d tokens = %s votes  (seq %d)\n", b.Voter, b.Choice, b.Tokens, formatVotes(b.Power), b.Seq)
		}
	}
	if len(t.Void) > 0 {
		fmt.Fprintf(w, "void\n")
		for _, v := range t.Void {
			fmt.Fprintf(w, "  %s  seq %d  %s\n", v.Voter, v.Seq, v.Reason)
		}
	}
	return nil
}

func runGovStatus(ctx context.Context, e *env, args []string) error {
	return showDaemon(ctx, e, "gov status", "print JSON", args, (*node.Client).GovStatus, printGovStatus)
}

func printGovStatus(e *env, st node.GovStatus) {
	w := e.stdout
	fmt.Fprintf(w, "genesis     %s (trust domain %s, %d listed, default %d tokens)\n", st.GenesisID, st.TrustDomain, st.ListedAllocations, st.DefaultAllocation)
	fmt.Fprintf(w, "allocation  %d tokens per vote\n", st.Allocation)
	fmt.Fprintf(w, "members     %d, quarantined %d %s\n", st.Members, len(st.Quarantined), strings.Join(st.Quarantined, " "))
	fmt.Fprintf(w, "log         %d records by %d authors, %d proposals, %d missing, synced %v\n", st.Records, st.Authors, st.Proposals, st.Missing, st.Synced)
	if st.DamagedRecords+st.DamagedDecisions > 0 {
		fmt.Fprintf(w, "DAMAGED     %d records, %d decisions set aside at start (records refetched, decisions taken again)\n", st.DamagedRecords, st.DamagedDecisions)
	}
	if !st.Writable {
		fmt.Fprintf(w, "NOT WRITING %s\n", st.NotSynced)
	}
	fmt.Fprintf(w, "gossip      %d accepted, %d ignored, %d rejected\n", st.Accepted, st.Ignored, st.Rejected)
	for _, ev := range st.Evidence {
		fmt.Fprintf(w, "EQUIVOCATION %s by %s from seq %d\n", ev.Kind, ev.Author, ev.Seq)
	}
}

// formatVotes formats micro-votes as a decimal number of votes.
func formatVotes(micro uint64) string {
	whole, frac := micro/1_000_000, micro%1_000_000
	if frac == 0 {
		return strconv.FormatUint(whole, 10)
	}
	return strings.TrimRight(fmt.Sprintf("%d.%06d", whole, frac), "0")
}
