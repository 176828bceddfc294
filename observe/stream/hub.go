package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/observe"
)

// ErrTooManyClients answers a dashboard beyond the hub's MaxClients.
var ErrTooManyClients = errors.New("stream: too many dashboard clients")

// HubConfig bounds a Hub.
type HubConfig struct {
	// MaxClients bounds the dashboards connected at once.
	MaxClients int
	// Buffer is how many frames may wait for one client; a client that
	// falls further behind is disconnected (its browser reconnects and
	// starts from a fresh snapshot).
	Buffer int
	// KeepAlive is how often an idle stream gets a comment, so that
	// proxies and browsers keep it open.
	KeepAlive time.Duration
	// MaxEvents bounds the notable events sent per flush.
	MaxEvents int
}

// DefaultHubConfig allows 16 dashboards, each 64 frames behind at most.
func DefaultHubConfig() HubConfig {
	return HubConfig{MaxClients: 16, Buffer: 64, KeepAlive: 15 * time.Second, MaxEvents: 256}
}

// Hub is the dashboard's server-sent event stream (GET /v1/events), a
// Sink of a Loop: each new client gets a full snapshot ("snapshot"),
// then every flush's delta ("delta") and the notable events ("events":
// all but telemetry, which the deltas carry). Frames are encoded once
// for all clients, and only while some are connected. Its methods are
// safe for concurrent use.
type Hub struct {
	cfg HubConfig
	log *slog.Logger

	mu      sync.Mutex
	clients map[*client]bool // true once the client got its snapshot
	events  []observe.Event  // notable events since the last flush
	closed  bool
	sent    time.Time // when the last delta went out (the flushing goroutine's)
}

type client struct {
	frames chan []byte
	gone   chan struct{} // closed when the hub drops the client
	once   sync.Once
}

func (c *client) drop() { c.once.Do(func() { close(c.gone) }) }

var _ Sink = (*Hub)(nil)

// NewHub returns a hub without clients; log may be nil.
func NewHub(cfg HubConfig, log *slog.Logger) *Hub {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{cfg: cfg, log: log, clients: map[*client]bool{}}
}

// Clients is the number of dashboards connected.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// Events implements Sink: it keeps the notable events for the next
// flush, while clients are connected.
func (h *Hub) Events(evs []observe.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.clients) == 0 {
		return
	}
	for _, e := range evs {
		if e.Type == observe.EventTelemetry || len(h.events) >= h.cfg.MaxEvents {
			continue
		}
		e.Data = nil
		h.events = append(h.events, e)
	}
}

// Flush implements Sink: a snapshot for the clients that have none yet,
// the delta and the events for the others. Without clients it asks for
// neither.
func (h *Hub) Flush(now time.Time, f *Frame) {
	h.mu.Lock()
	var fresh, old []*client
	for c, ready := range h.clients {
		if ready {
			old = append(old, c)
		} else {
			fresh = append(fresh, c)
			h.clients[c] = true
		}
	}
	events := h.events
	h.events = nil
	h.mu.Unlock()
	if len(fresh) > 0 {
		h.send(fresh, frame("snapshot", f.Full()))
	}
	if len(old) == 0 {
		return
	}
	delta := f.Delta()
	changed := len(delta.Nodes) > 0 || len(delta.Gone) > 0 || delta.Proposals != nil || delta.Peers != nil || delta.Healing != nil
	// An empty delta still carries the time and the counters, so that a
	// dashboard can tell it is live: once a second is enough.
	if changed || now.Sub(h.sent) >= time.Second {
		h.sent = now
		h.send(old, frame("delta", delta))
	}
	if len(events) > 0 && len(old) > 0 {
		h.send(old, frame("events", events))
	}
}

// frame encodes one server-sent event.
func frame(event string, v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		data, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	var b bytes.Buffer
	b.Grow(len(data) + len(event) + 16)
	fmt.Fprintf(&b, "event: %s\ndata: ", event)
	b.Write(data)
	b.WriteString("\n\n")
	return b.Bytes()
}

// send queues f for each client, dropping those whose buffer is full.
func (h *Hub) send(cs []*client, f []byte) {
	for _, c := range cs {
		select {
		case c.frames <- f:
		default:
			h.log.Debug("dashboard client too slow: disconnected")
			h.remove(c)
		}
	}
}

func (h *Hub) remove(c *client) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
	c.drop()
}

// Close disconnects every client and refuses new ones.
func (h *Hub) Close() {
	h.mu.Lock()
	cs := h.clients
	h.clients, h.closed = map[*client]bool{}, true
	h.mu.Unlock()
	for c := range cs {
		c.drop()
	}
}

// ServeHTTP streams server-sent events to one dashboard until it goes or
// the hub drops it. The first frame comes at the next flush.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	c := &client{frames: make(chan []byte, h.cfg.Buffer), gone: make(chan struct{})}
	h.mu.Lock()
	switch {
	case h.closed:
		h.mu.Unlock()
		http.Error(w, "closed", http.StatusServiceUnavailable)
		return
	case len(h.clients) >= h.cfg.MaxClients:
		h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": ErrTooManyClients.Error()})
		return
	}
	h.clients[c] = false
	h.mu.Unlock()
	defer h.remove(c)

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// Tell the browser to reconnect after a second.
	if _, err := w.Write([]byte("retry: 1000\n\n")); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		return
	}
	keep := time.NewTicker(h.cfg.KeepAlive)
	defer keep.Stop()
	for {
		var f []byte
		select {
		case <-r.Context().Done():
			return
		case <-c.gone:
			return
		case <-keep.C:
			f = []byte(": keep-alive\n\n")
		case f = <-c.frames:
		}
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := w.Write(f); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
