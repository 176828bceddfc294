package mesh

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// TestOwnerStats holds node 0's owner goroutine for 250 ms on a frame it
// steps (in the tracer, as a slow step would), and reads Owner while it
// is held and after: it answers without the owner, the step shows with
// its input, the frames read meanwhile show their lag, the HELLO round
// due meanwhile its tick's lag, and the router logs a late loop.
func TestOwnerStats(t *testing.T) {
	const hold = 250 * time.Millisecond
	var logs syncBuffer
	tm := startMesh(t, 2, [][2]int{{0, 1}}, func(i int, c *Config, _ []peer.ID) {
		c.Routing.AllowedHelloLoss = 10 // the held owner keeps its neighbor
		if i == 0 {
			c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		}
	})
	tm.waitNeighbors([]int{1, 1})
	a := tm.routers[0]
	waitFor(t, 5*time.Second, func() error {
		if o := a.Owner(); o.Step.Count() == 0 || o.FrameLag.Count() == 0 || o.TickLag.Count() == 0 {
			return fmt.Errorf("not all recorded once the link is up: %+v", o)
		}
		return nil
	})
	var armed, held atomic.Bool
	armed.Store(true)
	a.SetTracer(TracerFunc(func(ev TraceEvent) {
		if ev.Kind == TraceFrameIn && armed.CompareAndSwap(true, false) {
			held.Store(true)
			time.Sleep(hold)
		}
	}))
	waitFor(t, 5*time.Second, func() error {
		if !held.Load() {
			return context.DeadlineExceeded
		}
		return nil
	})
	begin := time.Now()
	_ = a.Owner() // while held: no owner round trip
	if took := time.Since(begin); took > 50*time.Millisecond {
		t.Errorf("Owner took %v while the owner was held", took)
	}
	time.Sleep(hold + 200*time.Millisecond) // the owner runs again, and ticks
	a.SetTracer(nil)
	o := a.Owner()
	if o.Step.Max < hold || o.SlowestInput != "frames" {
		t.Errorf("longest step %v on %q, want %v at least on frames", o.Step.Max, o.SlowestInput, hold)
	}
	if o.Step.Over(100*time.Millisecond) == 0 {
		t.Errorf("no step over 100 ms counted: %+v", o.Step)
	}
	// B's HELLOs (every 100 ms) read while the owner was held wait most
	// of the hold, and a HELLO round fell due in it.
	if o.FrameLag.Max < hold/2 {
		t.Errorf("longest frame lag %v, want %v at least", o.FrameLag.Max, hold/2)
	}
	if o.TickLag.Max < hold/4 {
		t.Errorf("longest tick lag %v, want %v at least", o.TickLag.Max, hold/4)
	}
	if !bytes.Contains(logs.Bytes(), []byte("mesh owner late")) {
		t.Errorf("no late loop logged: %q", logs.Bytes())
	}
}

// syncBuffer is a bytes.Buffer safe for a logger on another goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// TestOwnerLateLogged: each late stretch of the owner's loop is logged
// as it begins, however soon after the last, so that every stall shows;
// loops that stay late (a backlog) are logged at most once a second.
func TestOwnerLateLogged(t *testing.T) {
	var logs syncBuffer
	m := &Router{log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	m.cfg.Routing.HelloInterval = 100 * time.Millisecond
	m.cfg.LateWarn = m.cfg.Routing.HelloInterval // withDefaults' default
	t0 := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for _, s := range []struct {
		woke, done int // ms
		tickLag    time.Duration
	}{
		{0, 1, 0},                            // on time
		{1, 2, 150 * time.Millisecond},       // a stall: logged
		{2, 3, 0},                            // on time
		{300, 301, 200 * time.Millisecond},   // another, 300 ms on: logged
		{301, 420, 0},                        // a step of 119 ms right after: still late, not logged
		{420, 421, 0},                        // on time
		{1500, 1501, 300 * time.Millisecond}, // logged
		{1501, 1502, 300 * time.Millisecond}, // still late
		{2600, 2601, 300 * time.Millisecond}, // still late, a second after the last warning: logged
	} {
		m.stepped(inputTimer, at(s.woke), at(s.done), 0, s.tickLag)
	}
	if n := bytes.Count(logs.Bytes(), []byte("mesh owner late")); n != 4 {
		t.Errorf("%d late loops logged, want 4:\n%s", n, logs.Bytes())
	}
}

// TestOwnerLateWarnThreshold: a stall shorter than a HELLO interval is
// logged only where LateWarn asks for it (the lab's daemons), and the
// default is the HELLO interval.
func TestOwnerLateWarnThreshold(t *testing.T) {
	routing := overlay.DefaultLocalConfig()
	for _, tc := range []struct {
		name     string
		lateWarn time.Duration
		want     int
	}{
		{"default: one HELLO interval", 0, 1},
		{"half an interval", routing.HelloInterval / 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Config{Routing: routing, Identity: &pqcsec.Identity{}, LateWarn: tc.lateWarn}.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			var logs syncBuffer
			m := &Router{cfg: cfg, log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))}
			t0 := time.Date(2026, 12, 8, 4, 0, 0, 0, time.UTC)
			at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
			m.stepped(inputFrames, at(0), at(1), routing.HelloInterval*6/10, 0) // frames 60% of an interval late
			m.stepped(inputTimer, at(1), at(2), 0, 0)
			m.stepped(inputTimer, at(500), at(501), 0, routing.HelloInterval) // timers a whole interval late
			if n := bytes.Count(logs.Bytes(), []byte("mesh owner late")); n != tc.want {
				t.Errorf("%d late loops logged, want %d:\n%s", n, tc.want, logs.Bytes())
			}
		})
	}
}
