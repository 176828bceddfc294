package node

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The local HTTP API. Every body is JSON; errors are {"error":"..."} with
// a matching status code. Routes are versioned under /v1/; /metrics is the
// Prometheus exposition of the node's registry.
type api struct {
	n     *Node
	mux   *http.ServeMux
	srv   *http.Server
	guard *apiGuard

	mu       sync.Mutex
	ln       net.Listener
	patterns map[string]bool
}

func newAPI(n *Node, token string) *api {
	a := &api{n: n, mux: http.NewServeMux(), guard: newAPIGuard(token), patterns: map[string]bool{}}
	a.srv = &http.Server{
		Handler:           a,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          nil,
	}
	a.mux.Handle("GET /metrics", promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{}))
	a.mux.HandleFunc("GET /v1/id", a.getID)
	a.mux.HandleFunc("GET /v1/peers", a.getPeers)
	a.mux.HandleFunc("GET /v1/health", a.getHealth)
	return a
}

// ServeHTTP lets the guard refuse what it must (apiGuard), then answers
// unknown paths and wrong methods with JSON errors rather than the mux's
// plain text.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if status, err := a.guard.check(r); err != nil {
		a.n.met.apiRefused.WithLabelValues(strconv.Itoa(status)).Inc()
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="x0tta6bl4"`)
		}
		WriteError(w, status, err)
		return
	}
	h, pattern := a.mux.Handler(r)
	if pattern == "" {
		// The mux would answer 404 or 405 in plain text; find out which.
		rec := &statusRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		for k, v := range rec.header {
			if k == "Allow" {
				w.Header()[k] = v
			}
		}
		status := rec.status
		if status == 0 {
			status = http.StatusNotFound
		}
		WriteError(w, status, fmt.Errorf("%s %s: %s", r.Method, r.URL.Path, strings.ToLower(http.StatusText(status))))
		return
	}
	a.n.met.apiRequests.WithLabelValues(pattern).Inc()
	a.mux.ServeHTTP(w, r) // sets the request's path values
}

type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusRecorder) WriteHeader(code int)        { s.status = code }

func (a *api) handle(pattern string, h http.Handler) (err error) {
	path := pattern
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		path = strings.TrimSpace(pattern[i+1:])
	}
	if !strings.HasPrefix(path, "/v1/") {
		return fmt.Errorf("handle %q: path must start with /v1/", pattern)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.patterns[pattern] {
		return fmt.Errorf("handle %q: already registered", pattern)
	}
	defer func() {
		// ServeMux panics on a pattern that conflicts with another.
		if r := recover(); r != nil {
			err = fmt.Errorf("handle %q: %v", pattern, r)
		}
	}()
	a.mux.Handle(pattern, h)
	a.patterns[pattern] = true
	return nil
}

func (a *api) listen() error {
	network, address := "tcp", a.n.cfg.APIAddr
	if path, ok := strings.CutPrefix(address, UnixAPIPrefix); ok {
		// A socket left by a daemon that was killed would refuse the bind.
		if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(path)
		}
		network, address = "unix", path
	}
	ln, err := net.Listen(network, address)
	if err != nil {
		return &FieldError{Field: "api_addr", Err: err}
	}
	a.mu.Lock()
	a.ln = ln
	// No browser reaches a unix socket: its Host header is the client's
	// placeholder.
	a.guard.anyHost = ln.Addr().Network() == "unix"
	a.mu.Unlock()
	return nil
}

func (a *api) serve() {
	if err := a.srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.n.log.Error("api stopped", "err", err)
	}
}

func (a *api) addr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ln == nil {
		return ""
	}
	if a.ln.Addr().Network() == "unix" {
		return UnixAPIPrefix + a.ln.Addr().String()
	}
	return a.ln.Addr().String()
}

func (a *api) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		return a.srv.Close()
	}
	return nil
}

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// WriteError answers with {"error": err}.
func WriteError(w http.ResponseWriter, status int, err error) {
	WriteJSON(w, status, ErrorBody{Error: err.Error()})
}

// ErrorBody is the body of every API error.
type ErrorBody struct {
	Error string `json:"error"`
}

// IDBody is the answer to GET /v1/id.
type IDBody struct {
	ID string `json:"id"`
	// Fingerprint is the SHA-256 (hex) of the node's hybrid signature
	// keys, what [policy] pins name.
	Fingerprint string   `json:"fingerprint"`
	Addrs       []string `json:"addrs"`
	Agent       string   `json:"agent"`
	Protocols   []string `json:"protocols"`
}

// PeersBody is the answer to GET /v1/peers.
type PeersBody struct {
	Count int    `json:"count"`
	Peers []Peer `json:"peers"`
}

// HealthBody is the answer to GET /v1/health: 200 when Status is "ok",
// 503 otherwise.
type HealthBody struct {
	Status        string            `json:"status"`
	ID            string            `json:"id"`
	Peers         int               `json:"peers"`
	DHTPeers      int               `json:"dht_peers"`
	UptimeSeconds float64           `json:"uptime_seconds"`
	Checks        map[string]string `json:"checks"`
}

func (a *api) getID(w http.ResponseWriter, r *http.Request) {
	fp := a.n.identity.PublicKeys().Fingerprint()
	body := IDBody{ID: a.n.ID().String(), Fingerprint: hex.EncodeToString(fp[:]), Addrs: []string{}, Agent: UserAgent, Protocols: []string{}}
	for _, m := range a.n.Addrs() {
		body.Addrs = append(body.Addrs, m.String())
	}
	for _, p := range a.n.host.Mux().Protocols() {
		body.Protocols = append(body.Protocols, string(p))
	}
	WriteJSON(w, http.StatusOK, body)
}

func (a *api) getPeers(w http.ResponseWriter, r *http.Request) {
	peers := a.n.Peers()
	WriteJSON(w, http.StatusOK, PeersBody{Count: len(peers), Peers: peers})
}

func (a *api) getHealth(w http.ResponseWriter, r *http.Request) {
	body := HealthBody{
		Status:        "ok",
		ID:            a.n.ID().String(),
		Peers:         len(a.n.host.Network().Peers()),
		DHTPeers:      a.n.dht.RoutingTable().Size(),
		UptimeSeconds: time.Since(a.n.born).Seconds(),
		Checks:        map[string]string{},
	}
	body.Checks["peers"] = "ok"
	if len(a.n.cfg.BootstrapPeers) > 0 && body.Peers == 0 {
		body.Checks["peers"] = "no peer connected"
		body.Status = "degraded"
	}
	status := http.StatusOK
	if body.Status != "ok" {
		status = http.StatusServiceUnavailable
	}
	WriteJSON(w, status, body)
}
