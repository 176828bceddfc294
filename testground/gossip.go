package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/testground/sdk-go/run"
	"github.com/testground/sdk-go/runtime"

	"github.com/x0tta6bl4/x0tta6bl4/lab/scenario"
)

// gossipTopic is the case's own GossipSub topic.
const gossipTopic = "x0tta6bl4/testground/1"

// gossip is the gossip case: every instance publishes messages; each
// must reach every other instance.
func gossip(env *runtime.RunEnv, ic *run.InitContext) error {
	count := env.IntParam("messages")
	interval, err := time.ParseDuration(env.StringParam("interval"))
	if err != nil {
		return fmt.Errorf("interval: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	in, err := join(ctx, env, ic, nil)
	if err != nil {
		return err
	}
	if err := in.start(ctx); err != nil {
		return err
	}
	defer in.stop()
	topic, err := in.node.PubSub().Join(gossipTopic)
	if err != nil {
		return err
	}
	defer topic.Close()
	sub, err := topic.Subscribe()
	if err != nil {
		return err
	}
	defer sub.Cancel()
	// Every instance subscribed and its mesh formed (two heartbeats).
	for len(topic.ListPeers()) < in.n-1 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("instance %d: %d topic peers", in.index, len(topic.ListPeers()))
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := in.barrier(ctx, "subscribed"); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)

	want := count * (in.n - 1)
	lat := make([]float64, 0, want)
	got := make(chan float64, want)
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	go func() {
		for {
			msg, err := sub.Next(rctx)
			if err != nil {
				return
			}
			if len(msg.Data) != 8 || msg.GetFrom() == in.node.ID() {
				continue
			}
			sent := time.Unix(0, int64(binary.BigEndian.Uint64(msg.Data)))
			got <- float64(time.Since(sent)) / float64(time.Millisecond)
		}
	}()
	for range count {
		b := binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))
		if err := topic.Publish(ctx, b); err != nil {
			return err
		}
		time.Sleep(interval)
	}
	deadline := time.After(30 * time.Second)
wait:
	for len(lat) < want {
		select {
		case v := <-got:
			lat = append(lat, v)
		case <-deadline:
			break wait
		}
	}
	rcancel()
	delivered := len(lat)
	total := count * (in.n - 1)
	env.R().RecordPoint("gossip_delivered", float64(delivered))
	env.R().RecordPoint("gossip_delivery_ratio", float64(delivered)/float64(total))
	env.R().RecordPoint("gossip_p50_ms", scenario.Percentile(lat, 0.5))
	env.R().RecordPoint("gossip_p99_ms", scenario.Percentile(lat, 0.99))
	env.RecordMessage("instance %d: %d of %d messages, p50 %.1f ms", in.index, delivered, total, scenario.Percentile(lat, 0.5))
	if err := in.barrier(ctx, "done"); err != nil {
		return err
	}
	if delivered < total {
		return fmt.Errorf("instance %d: %d of %d messages arrived", in.index, delivered, total)
	}
	return nil
}
