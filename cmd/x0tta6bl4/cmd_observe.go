package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/observe"
	"github.com/x0tta6bl4/x0tta6bl4/observe/light"
	"github.com/x0tta6bl4/x0tta6bl4/observe/stream"
	"github.com/x0tta6bl4/x0tta6bl4/observe/ui"
)

// observeFlags are the flags of x0tta6bl4 observe.
type observeFlags struct {
	bootstrap listFlag
	duration  time.Duration
	json      bool
	record    string
	uiAddr    string
	replay    string
	speed     float64
	keyFile   string
	genesis   string
	rows      int
	logLevel  string
}

func runObserve(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("observe")
	var f observeFlags
	fs.Var(&f.bootstrap, "bootstrap", "a running node's multiaddr ending in /p2p/<peer ID> (repeatable)")
	fs.DurationVar(&f.duration, "duration", 0, "stop after this long and print the summary (0: until Ctrl-C)")
	fs.BoolVar(&f.json, "json", false, "print one JSON event per line, then a summary, instead of the table")
	fs.StringVar(&f.record, "record", "", "also write the events with their messages to `FILE`, for --replay")
	fs.StringVar(&f.uiAddr, "ui", "", "serve the web dashboard on `HOST:PORT` (/ui/)")
	fs.StringVar(&f.replay, "replay", "", "play back a recording made with --record instead of joining a mesh")
	fs.Float64Var(&f.speed, "speed", 1, "replay speed: 1 as recorded, 10 ten times faster, 0 as fast as possible")
	fs.StringVar(&f.keyFile, "key", "", "the observer's key `FILE` (made if missing), for a fixed peer ID; default an ephemeral key")
	fs.StringVar(&f.genesis, "genesis", "", "the network's genesis `FILE`: tallies with its allocations, governance signatures checked")
	fs.IntVar(&f.rows, "rows", 20, "nodes and links the table lists at most")
	fs.StringVar(&f.logLevel, "log-level", "warn", "debug, info, warn or error (on stderr)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return usageError{fmt.Sprintf("observe: --log-level %q: want debug, info, warn or error", f.logLevel)}
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	quietLibp2p(e.stderr)
	switch {
	case f.replay != "" && len(f.bootstrap) > 0:
		return usageError{"observe: --replay plays a recording; it takes no --bootstrap"}
	case f.replay == "" && len(f.bootstrap) == 0:
		return usageError{"observe: give --bootstrap (a running node's multiaddr) or --replay FILE"}
	case f.speed < 0:
		return usageError{"observe: --speed must not be negative"}
	}
	wc := observe.DefaultConfig()
	if f.genesis != "" {
		b, err := os.ReadFile(f.genesis)
		if err != nil {
			return err
		}
		if wc.Genesis, err = consensus.ParseGenesis(b); err != nil {
			return fmt.Errorf("--genesis: %w", err)
		}
		wc.Verifier = light.GovernanceVerifier
	}
	w, err := observe.NewWatch(wc)
	if err != nil {
		return err
	}
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	out := observeOutput{e: e, f: f}
	sinks, closeSinks, err := out.sinks(log)
	if err != nil {
		return err
	}
	defer closeSinks()
	lc := stream.DefaultConfig()
	if f.replay != "" {
		return out.replay(ctx, w, lc, sinks)
	}
	return out.live(ctx, w, lc, sinks, log)
}

// observeOutput is where observe writes: the table or NDJSON on stdout,
// the recording, the dashboard.
type observeOutput struct {
	e        *env
	f        observeFlags
	json     *stream.JSONWriter
	recorder *stream.JSONWriter
	hub      *stream.Hub
}

// sinks opens the outputs the flags ask for; closeSinks closes them.
func (o *observeOutput) sinks(log *slog.Logger) (sinks []stream.Sink, closeSinks func(), err error) {
	var closers []func()
	closeSinks = func() {
		for _, c := range closers {
			c()
		}
	}
	if o.f.json {
		o.json = stream.NewJSONWriter(o.e.stdout, false)
		sinks = append(sinks, o.json)
	} else {
		sinks = append(sinks, stream.NewTableWriter(o.e.stdout, time.Second, o.f.rows))
	}
	if o.f.record != "" {
		file, err := os.Create(o.f.record)
		if err != nil {
			return nil, closeSinks, err
		}
		closers = append(closers, func() { file.Close() })
		o.recorder = stream.NewJSONWriter(file, true)
		sinks = append(sinks, o.recorder)
	}
	if o.f.uiAddr != "" {
		o.hub = stream.NewHub(stream.DefaultHubConfig(), log)
		srv, addr, err := serveDashboard(o.f.uiAddr, o.hub, log)
		if err != nil {
			return nil, closeSinks, err
		}
		closers = append(closers, func() {
			o.hub.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		})
		fmt.Fprintf(o.e.stderr, "dashboard on http://%s/ui/\n", addr)
		sinks = append(sinks, o.hub)
	}
	return sinks, closeSinks, nil
}

// serveDashboard serves the dashboard page and its event stream on addr.
func serveDashboard(addr string, hub *stream.Hub, log *slog.Logger) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("--ui: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+ui.Prefix, ui.Handler())
	mux.Handle("GET /v1/events", hub)
	mux.Handle("GET /{$}", http.RedirectHandler(ui.Prefix, http.StatusFound))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	srv.RegisterOnShutdown(hub.Close)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("dashboard server stopped", "err", err)
		}
	}()
	return srv, ln.Addr().String(), nil
}

// live joins the mesh as a light peer until ctx ends, then prints the
// summary.
func (o *observeOutput) live(ctx context.Context, w *observe.Watch, lc stream.Config, sinks []stream.Sink, log *slog.Logger) error {
	cfg := light.DefaultConfig()
	cfg.Bootstrap, cfg.Logger = o.f.bootstrap, log
	var err error
	if o.f.keyFile != "" {
		cfg.Key, err = light.LoadKey(o.f.keyFile)
	} else {
		cfg.Key, _, err = crypto.GenerateEd25519Key(rand.Reader)
	}
	if err != nil {
		return err
	}
	self, err := peer.IDFromPrivateKey(cfg.Key)
	if err != nil {
		return err
	}
	lc.Self = self.String()
	loop := stream.New(w, lc, sinks...)
	p, err := light.New(cfg, loop)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.e.stderr, "observer %s joining through %d bootstrap peer(s)\n", p.ID(), len(cfg.Bootstrap))
	start := time.Now()
	loopCtx, stopLoop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { loop.Run(loopCtx); close(done) }()
	p.Start()
	<-ctx.Done()
	closeErr := p.Close()
	stopLoop()
	<-done
	var s observe.Summary
	loop.View(func(w *observe.Watch) { s = w.Summary(start, time.Now()) })
	if d := loop.Dropped(); d > 0 {
		log.Warn("messages dropped on the watch's full queue", "dropped", d)
	}
	return errors.Join(closeErr, o.summary(s))
}

// replay plays the recording back through the sinks.
func (o *observeOutput) replay(ctx context.Context, w *observe.Watch, lc stream.Config, sinks []stream.Sink) error {
	file, err := os.Open(o.f.replay)
	if err != nil {
		return err
	}
	defer file.Close()
	start, end, err := stream.Replay(ctx, file, w, lc, o.f.speed, sinks...)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return err
	}
	if o.hub != nil && ctx.Err() == nil {
		// The dashboard keeps showing the end of the recording, its clock
		// stopped there, until Ctrl-C or --duration.
		fmt.Fprintln(o.e.stderr, "replay done; the dashboard shows its end until interrupted")
		lc.Now = func() time.Time { return end }
		stream.New(w, lc, o.hub).Run(ctx)
	}
	return o.summary(w.Summary(start, end))
}

// summary ends the output: the JSON summary line (and in the recording),
// or the summary in words after the table.
func (o *observeOutput) summary(s observe.Summary) error {
	if o.recorder != nil {
		if err := o.recorder.Write(s); err != nil {
			return fmt.Errorf("--record: %w", err)
		}
	}
	if o.json != nil {
		return o.json.Write(s)
	}
	_, err := fmt.Fprintf(o.e.stdout, "\nsummary: %d nodes seen (%d up at the end) in %.1f s, %d messages on %d topics, %d duplicates, %d rejected; telemetry latency p50 %.1f ms p99 %.1f ms\n",
		s.NodesSeen, s.NodesUp, s.DurationS, s.Messages, len(s.Topics), s.Duplicates, s.Rejected, s.TelemetryP50MS, s.TelemetryP99MS)
	return err
}
