// Package stream runs a watch (observe.Watch) live and hands out what it
// sees: Loop owns the watch on one goroutine, takes the messages the
// gossip layer hands it, moves its time on and flushes its changes to
// sinks; Hub is the dashboard's server-sent event stream (/v1/events),
// JSONWriter the NDJSON output and the recorder, TableWriter the
// terminal table; Replay plays a recording back through the same sinks.
//
// # Usage
//
//	w, _ := observe.NewWatch(observe.DefaultConfig())
//	hub := stream.NewHub(stream.DefaultHubConfig(), log)
//	out := stream.NewJSONWriter(os.Stdout, false)
//	loop := stream.New(w, stream.DefaultConfig(), hub, out)
//	go loop.Run(ctx)
//	// in a topic validator:  v, decoded := loop.Check(msg)
//	// for each delivered message: loop.Message(msg) (never blocks)
//	mux.Handle("GET /v1/events", hub)
//
// The formats are observe's (see its package doc): events one JSON
// object per line, snapshots and deltas as server-sent events "snapshot",
// "delta" and "events".
//
// # Costs and bounds
//
// The loop's queue is bounded (Config.Queue): a message that finds it
// full is dropped and counted (Dropped), never waited for. Deltas are
// made every FlushInterval; the hub encodes each frame once, and only
// while dashboards are connected; a dashboard more than Buffer frames
// behind is disconnected and reconnects to a fresh snapshot, so a slow
// browser costs the watcher nothing.
package stream
