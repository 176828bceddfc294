package main

import (
	"context"
	"fmt"
	"time"

	"github.com/testground/sdk-go/run"
	"github.com/testground/sdk-go/runtime"
	"github.com/testground/sdk-go/sync"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
)

// proposal is what the proposer tells the others.
type proposal struct {
	ID       string `json:"id"`
	Deadline int64  `json:"deadline_ms"`
}

// decision is what each instance decided.
type decision struct {
	Index   int    `json:"index"`
	Outcome string `json:"outcome"`
	Digest  string `json:"digest"`
}

var (
	proposalTopic = sync.NewTopic("proposal", &proposal{})
	decisionTopic = sync.NewTopic("decision", &decision{})
)

// governanceCase is the governance case: instance 0 proposes, the
// others but the last vote YES, the last joins after the deadline and
// must sync the proposal and votes; every instance must decide alike.
func governanceCase(env *runtime.RunEnv, ic *run.InitContext) error {
	voting, err := time.ParseDuration(env.StringParam("voting"))
	if err != nil {
		return fmt.Errorf("voting: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), voting+5*time.Minute)
	defer cancel()
	in, err := join(ctx, env, ic, nil)
	if err != nil {
		return err
	}
	late := in.index == in.n-1
	props := make(chan *proposal, 1)
	if _, err := in.sync.Subscribe(ctx, proposalTopic, props); err != nil {
		return err
	}
	if !late {
		if err := in.start(ctx); err != nil {
			return err
		}
		defer in.stop()
		for !in.node.Governance().Stats().Synced || len(in.node.PubSub().ListPeers(consensus.Topic)) == 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("instance %d: governance not ready", in.index)
			case <-time.After(100 * time.Millisecond):
			}
		}
		if _, err := in.sync.SignalAndWait(ctx, "gov-ready", in.n-1); err != nil {
			return err
		}
		time.Sleep(2 * time.Second) // two heartbeats for the topic's mesh
	}
	if in.index == 0 {
		rec, err := in.node.Governance().Propose(ctx, "testground", "the plan's governance case", voting, 100_000, 500_000, nil)
		if err != nil {
			return fmt.Errorf("propose: %w", err)
		}
		if _, err := in.sync.Publish(ctx, proposalTopic, &proposal{ID: rec.ID().String(), Deadline: rec.Proposal.Deadline}); err != nil {
			return err
		}
	}
	var p *proposal
	select {
	case p = <-props:
	case <-ctx.Done():
		return ctx.Err()
	}
	id, err := consensus.ParseHash(p.ID)
	if err != nil {
		return err
	}
	deadline := time.UnixMilli(p.Deadline)
	switch {
	case late:
		time.Sleep(time.Until(deadline) + 100*time.Millisecond)
		if err := in.start(ctx); err != nil {
			return err
		}
		defer in.stop()
		env.RecordMessage("instance %d: joined after the deadline", in.index)
	case in.index > 0:
		gov := in.node.Governance()
		for {
			if _, ok := gov.Log().Record(id); ok {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("instance %d never received the proposal", in.index)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if _, err := gov.Vote(ctx, id, consensus.Yes, tokens); err != nil {
			return fmt.Errorf("instance %d vote: %w", in.index, err)
		}
	}
	var d *consensus.Decision
	for {
		var ok bool
		if d, ok = in.node.Governance().Log().Decision(id); ok {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("instance %d never decided", in.index)
		case <-time.After(100 * time.Millisecond):
		}
	}
	decidedAfter := time.UnixMilli(d.DecidedAt).Sub(deadline)
	env.R().RecordPoint("gov_decision_after_deadline_ms", float64(decidedAfter.Milliseconds()))
	mine := &decision{Index: in.index, Outcome: d.Outcome.String(), Digest: d.Tally.Digest().String()}
	all := make(chan *decision, in.n)
	if _, _, err := in.sync.PublishSubscribe(ctx, decisionTopic, mine, all); err != nil {
		return err
	}
	for range in.n {
		var other *decision
		select {
		case other = <-all:
		case <-ctx.Done():
			return ctx.Err()
		}
		if other.Outcome != mine.Outcome || other.Digest != mine.Digest {
			return fmt.Errorf("instance %d decided %s (%s), instance %d %s (%s)",
				in.index, mine.Outcome, mine.Digest[:12], other.Index, other.Outcome, other.Digest[:12])
		}
	}
	env.RecordMessage("instance %d: %s, %v after the deadline", in.index, mine.Outcome, decidedAfter)
	return in.barrier(ctx, "done")
}
