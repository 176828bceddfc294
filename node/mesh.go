package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/e2e"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/mesh"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// MeshConfig is the [mesh] section of config.toml: the routing engine's
// timers, the neighbor set and the end-to-end channels of the mesh
// (package overlay/mesh).
type MeshConfig struct {
	// Routing names the routing engine's timer profile: "lan" (HELLO
	// every 250 ms, a neighbor dead after 3 lost), "wan" (250 ms, 4 lost,
	// 50 ms hops), "local" (100 ms, 3 lost, for many nodes on one host),
	// or "" for the profile of the node's config.
	Routing string `toml:"routing"`

	// MaxNeighbors caps the mesh neighbor links: connected peers that
	// the policy engine allows to relay become neighbors until there are
	// this many.
	MaxNeighbors int `toml:"max_neighbors"`

	// QueueFrames and QueueBytes bound each neighbor link's send queue.
	// DATA beyond them is dropped (routing packets get a reserve), and
	// local sends wait while the first hop holds over QueueBytes/2.
	QueueFrames int `toml:"queue_frames"`
	QueueBytes  int `toml:"queue_bytes"`

	// HandshakeTimeout is how long the end-to-end handshake waits for a
	// reply before sending its first message again; each of the 4 retries
	// waits twice as long as the one before.
	HandshakeTimeout time.Duration `toml:"handshake_timeout"`

	// RekeyInterval is the age at which an end-to-end session is
	// replaced by a fresh handshake, which also checks the peer's record
	// and the policy again. Within a session keys ratchet every 2 minutes.
	RekeyInterval time.Duration `toml:"rekey_interval"`

	// LateWarn is how late the router's loop may run before it warns
	// "mesh owner late" ("0s": one HELLO interval of the routing
	// profile, when neighbors start to miss this node's HELLOs).
	LateWarn time.Duration `toml:"late_warn"`
}

// DefaultMeshConfig is every profile's mesh section.
func DefaultMeshConfig() MeshConfig {
	return MeshConfig{
		MaxNeighbors:     16,
		QueueFrames:      1024,
		QueueBytes:       4 << 20,
		HandshakeTimeout: 500 * time.Millisecond,
		RekeyInterval:    10 * time.Minute,
	}
}

func (c *MeshConfig) validate() error {
	switch {
	case c.Routing != "" && c.Routing != ProfileLAN && c.Routing != ProfileWAN && c.Routing != ProfileLocal:
		return fieldErr("mesh.routing", "unknown profile %q (want lan, wan, local or empty)", c.Routing)
	case c.MaxNeighbors < 1:
		return fieldErr("mesh.max_neighbors", "must be at least 1, got %d", c.MaxNeighbors)
	case c.QueueFrames < 1:
		return fieldErr("mesh.queue_frames", "must be at least 1, got %d", c.QueueFrames)
	case c.QueueBytes < protocols.MaxFrameSize:
		return fieldErr("mesh.queue_bytes", "must hold a maximal frame (%d bytes), got %d", protocols.MaxFrameSize, c.QueueBytes)
	case c.HandshakeTimeout < time.Millisecond:
		return fieldErr("mesh.handshake_timeout", "must be at least 1ms, got %v", c.HandshakeTimeout)
	case c.RekeyInterval < time.Second:
		return fieldErr("mesh.rekey_interval", "must be at least 1s, got %v", c.RekeyInterval)
	case c.LateWarn < 0:
		return fieldErr("mesh.late_warn", "must not be negative, got %v", c.LateWarn)
	}
	return nil
}

// RoutingConfig is the routing engine configuration the section selects
// for a node of the given profile.
func (c *MeshConfig) RoutingConfig(profile string) overlay.Config {
	name := c.Routing
	if name == "" {
		name = profile
	}
	switch name {
	case ProfileWAN:
		return overlay.DefaultWANConfig()
	case ProfileLocal:
		return overlay.DefaultLocalConfig()
	}
	return overlay.DefaultLANConfig()
}

// meshService runs the node's mesh router as a node service.
type meshService struct {
	r       *mesh.Router
	records recordIssuer
}

var _ Service = (*meshService)(nil)

// recordIssuer issues the node's identity record, which the mesh's
// handshakes carry.
type recordIssuer interface {
	IdentityRecord(now time.Time) (*pqcsec.Record, error)
}

var _ recordIssuer = (*Node)(nil)

// setupMesh gives the node its mesh router: neighbors are connected peers
// whose identity record the policy engine allows to relay; end-to-end
// peers must be allowed to route. It adds the API routes, the metrics and
// a service that starts with the node.
func (n *Node) setupMesh(fault mesh.Fault) error {
	c := n.cfg.Mesh
	r, err := mesh.New(n.host, mesh.Config{
		Routing:      c.RoutingConfig(n.cfg.Profile),
		Identity:     n.identity,
		Authorize:    n.adm.authorizer(pqcsec.ActionRoute),
		Admit:        n.admitNeighbor,
		MaxNeighbors: c.MaxNeighbors,
		QueueFrames:  c.QueueFrames,
		QueueBytes:   c.QueueBytes,
		Channel:      e2e.Config{HandshakeTimeout: c.HandshakeTimeout, RekeyInterval: c.RekeyInterval},
		Logger:       n.log.With("service", "mesh"),
		LateWarn:     c.LateWarn,
		Fault:        fault,
	})
	if err != nil {
		return fmt.Errorf("mesh: %w", err)
	}
	s := &meshService{r: r, records: n}
	n.mesh = s
	if err := n.reg.Register(meshCollector{r}); err != nil {
		return fmt.Errorf("register mesh metrics: %w", err)
	}
	if n.api != nil {
		for pattern, h := range map[string]http.HandlerFunc{
			"GET /v1/mesh/routes": s.getRoutes,
			"POST /v1/mesh/ping":  s.postPing,
			"POST /v1/mesh/send":  s.postSend,
		} {
			if err := n.api.handle(pattern, h); err != nil {
				return err
			}
		}
	}
	return n.AddService(s)
}

// Start issues the identity record the handshakes carry and starts the
// router.
func (s *meshService) Start(ctx context.Context) error {
	if _, err := s.records.IdentityRecord(time.Now()); err != nil {
		return err
	}
	return s.r.Start(ctx)
}

// Close stops the router.
func (s *meshService) Close() error { return s.r.Close() }

// Mesh is the node's mesh router: Send, Ping and Subscribe for
// end-to-end encrypted DATA, Routes and Neighbors for its state.
func (n *Node) Mesh() *mesh.Router { return n.mesh.r }

// admitNeighbor is the neighbor policy: p's identity record must pass
// admission for relaying (the policy engine, and membership in closed
// admission); and a guest (a non-member, in open admission) becomes a
// neighbor only while guests hold fewer than half of the neighbor links,
// so that guests can never surround a node. The mesh asks again about
// every neighbour each AdmitRecheck, and every rule is applied again then,
// over the record: the cached one while a lookup could not return another
// (identityCache.current), else the one the peer serves or the DHT's
// (neighborRecord).
func (n *Node) admitNeighbor(ctx context.Context, p peer.ID) error {
	if err := n.bans.check(p); err != nil {
		return err
	}
	// What the peer ID alone refuses (the deny list; a non-member in
	// closed admission) needs no record, asked or looked up.
	if err := n.adm.peerIDRules(p, pqcsec.ActionRelay); err != nil {
		return err
	}
	rec, err := n.neighborRecord(ctx, p, time.Now())
	if err != nil {
		return err
	}
	if err := n.adm.checkRecord(rec, pqcsec.ActionRelay, time.Now()); err != nil {
		return err
	}
	if n.adm.isMember(p) {
		return nil
	}
	nbs, err := n.mesh.r.Neighbors(ctx)
	if err != nil {
		return err
	}
	guests := 0
	for _, nb := range nbs {
		if nb.Peer != p && !n.adm.isMember(nb.Peer) {
			guests++
		}
	}
	if max := (n.cfg.Mesh.MaxNeighbors + 1) / 2; guests >= max {
		return fmt.Errorf("%w: %d of %d neighbor links", ErrGuestShare, guests, n.cfg.Mesh.MaxNeighbors)
	}
	return nil
}

// neighborRecord is p's verified identity record for neighbour admission:
// the cached one if it is current, unless the policy refuses it for want
// of what a newer record may carry (an SVID, a fresh attestation), else
// the one p serves itself (askIdentity), else, if p does not answer, the
// DHT's. Without the cache every neighbour's recheck was a full DHT
// lookup, about half of the DHT's work in a 20-node mesh; without asking
// the peer no node had a neighbour until the records reached the DHT
// (30-45 s into a loaded 20-node devnet). A record p serves that fails
// verification refuses p: it is not looked up in the DHT instead.
func (n *Node) neighborRecord(ctx context.Context, p peer.ID, now time.Time) (*pqcsec.Record, error) {
	if rec, ok := n.ids.current(p, now); ok {
		d := n.adm.policy.Decide(n.adm.policy.SubjectOf(rec, now), pqcsec.ActionRelay, now)
		if d.Allow || !needsRecord(d.Reason) {
			return rec, nil
		}
	}
	rec, err := n.askIdentity(ctx, p)
	if err == nil || errors.Is(err, ErrPeerRecord) || errors.Is(err, ErrIdentityBusy) {
		return rec, err
	}
	n.log.Debug("identity record not served, looking it up", "peer", p, "err", err)
	return n.LookupIdentity(ctx, p)
}

// ErrGuestShare keeps a guest out of a table whose guests' share is full.
var ErrGuestShare = errors.New("node: the guests' share is full")

// MeshRoutesBody is the answer to GET /v1/mesh/routes.
type MeshRoutesBody struct {
	// Self is the node's mesh address.
	Self      protocols.Addr  `json:"self"`
	Routes    []mesh.Route    `json:"routes"`
	Neighbors []mesh.Neighbor `json:"neighbors"`
}

// MeshPingRequest is the body of POST /v1/mesh/ping.
type MeshPingRequest struct {
	Peer string `json:"peer"`
	// TimeoutMs bounds the wait for the reply (default 5000).
	TimeoutMs int `json:"timeout_ms,omitempty"`
}

// MeshSendRequest is the body of POST /v1/mesh/send: the payload as Text
// or as Data (base64 in JSON), not both.
type MeshSendRequest struct {
	Peer string `json:"peer"`
	Text string `json:"text,omitempty"`
	Data []byte `json:"data,omitempty"`
}

// MeshSendBody is the answer to POST /v1/mesh/send.
type MeshSendBody struct {
	Peer  string `json:"peer"`
	Bytes int    `json:"bytes"`
}

// maxMeshRequest bounds a mesh API request body: a maximal payload in
// base64 and some JSON.
const maxMeshRequest = 2*mesh.MaxPayloadSize + 1024

func (s *meshService) getRoutes(w http.ResponseWriter, r *http.Request) {
	routes, err := s.r.Routes(r.Context())
	if err == nil {
		var nbs []mesh.Neighbor
		if nbs, err = s.r.Neighbors(r.Context()); err == nil {
			WriteJSON(w, http.StatusOK, MeshRoutesBody{Self: s.r.Addr(), Routes: orEmpty(routes), Neighbors: orEmpty(nbs)})
			return
		}
	}
	WriteError(w, meshStatus(err), err)
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// decodeMeshRequest reads a JSON body and the peer ID it names.
func decodeMeshRequest(w http.ResponseWriter, r *http.Request, v any, peerOf func() string) (peer.ID, bool) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxMeshRequest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		WriteError(w, http.StatusBadRequest, fmt.Errorf("request body: %w", err))
		return "", false
	}
	if dec.More() {
		WriteError(w, http.StatusBadRequest, errors.New("request body: more than one JSON value"))
		return "", false
	}
	p, err := peer.Decode(peerOf())
	if err != nil {
		WriteError(w, http.StatusBadRequest, fmt.Errorf("peer %q: %w", peerOf(), err))
		return "", false
	}
	return p, true
}

func (s *meshService) postPing(w http.ResponseWriter, r *http.Request) {
	var req MeshPingRequest
	p, ok := decodeMeshRequest(w, r, &req, func() string { return req.Peer })
	if !ok {
		return
	}
	timeout := 5 * time.Second
	if req.TimeoutMs < 0 || req.TimeoutMs > 60_000 {
		WriteError(w, http.StatusBadRequest, fmt.Errorf("timeout_ms %d not in 0..60000", req.TimeoutMs))
		return
	} else if req.TimeoutMs > 0 {
		timeout = time.Duration(req.TimeoutMs) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	res, err := s.r.Ping(ctx, p)
	if err != nil {
		WriteError(w, meshStatus(err), err)
		return
	}
	WriteJSON(w, http.StatusOK, res)
}

func (s *meshService) postSend(w http.ResponseWriter, r *http.Request) {
	var req MeshSendRequest
	p, ok := decodeMeshRequest(w, r, &req, func() string { return req.Peer })
	if !ok {
		return
	}
	data := req.Data
	switch {
	case req.Text != "" && len(req.Data) > 0:
		WriteError(w, http.StatusBadRequest, errors.New("give text or data, not both"))
		return
	case req.Text != "":
		data = []byte(req.Text)
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := s.r.Send(ctx, p, data); err != nil {
		WriteError(w, meshStatus(err), err)
		return
	}
	WriteJSON(w, http.StatusOK, MeshSendBody{Peer: p.String(), Bytes: len(data)})
}

// meshStatus maps a mesh error to an HTTP status.
func meshStatus(err error) int {
	switch {
	case errors.Is(err, mesh.ErrPayloadTooLarge), errors.Is(err, e2e.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, mesh.ErrNoNeighbor), errors.Is(err, e2e.ErrQueueFull), errors.Is(err, mesh.ErrClosed),
		errors.Is(err, e2e.ErrTooManyPeers):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// MeshRoutes is GET /v1/mesh/routes.
func (c *Client) MeshRoutes(ctx context.Context) (MeshRoutesBody, error) {
	return get[MeshRoutesBody](ctx, c, "/v1/mesh/routes")
}

// MeshPing is POST /v1/mesh/ping.
func (c *Client) MeshPing(ctx context.Context, p peer.ID, timeout time.Duration) (mesh.PingResult, error) {
	return post[mesh.PingResult](ctx, c, "/v1/mesh/ping", MeshPingRequest{Peer: p.String(), TimeoutMs: int(timeout.Milliseconds())})
}

// MeshSend is POST /v1/mesh/send with a text payload.
func (c *Client) MeshSend(ctx context.Context, p peer.ID, text string) (MeshSendBody, error) {
	return post[MeshSendBody](ctx, c, "/v1/mesh/send", MeshSendRequest{Peer: p.String(), Text: text})
}

// meshCollector exports the router's counters to Prometheus.
type meshCollector struct{ r *mesh.Router }

var (
	meshNeighborsDesc = prometheus.NewDesc("x0tta6bl4_mesh_neighbors", "Mesh neighbor links.", nil, nil)
	meshRoutesDesc    = prometheus.NewDesc("x0tta6bl4_mesh_sessions", "End-to-end sessions held.", nil, nil)
	meshFramesOutDesc = prometheus.NewDesc("x0tta6bl4_mesh_frames_sent_total", "Mesh frames queued on neighbor links, by packet type.", []string{"type"}, nil)
	meshFramesInDesc  = prometheus.NewDesc("x0tta6bl4_mesh_frames_received_total", "Mesh frames read from neighbor links, by packet type.", []string{"type"}, nil)
	meshQueueDropDesc = prometheus.NewDesc("x0tta6bl4_mesh_queue_drops_total", "Mesh frames dropped on a full send queue, by packet type.", []string{"type"}, nil)
	meshLinkDropDesc  = prometheus.NewDesc("x0tta6bl4_mesh_link_drops_total", "Mesh frames lost with their neighbor link (queued on it, or read from it and not yet handled, when it closed or was replaced), by packet type.", []string{"type"}, nil)
	meshDataDesc      = prometheus.NewDesc("x0tta6bl4_mesh_data_total", "DATA packets originated, forwarded and delivered by the routing engine.", []string{"what"}, nil)
	meshDroppedDesc   = prometheus.NewDesc("x0tta6bl4_mesh_data_dropped_total", "DATA packets the routing engine dropped, by reason.", []string{"reason"}, nil)
	meshHandshakeDesc = prometheus.NewDesc("x0tta6bl4_mesh_handshakes_total", "End-to-end handshakes by result (started, established, failed; rate-limited: inits from peers, cookies and notices not sent; cookie: inits answered with a cookie round; evicted: unfinished responders that gave way to an init with a cookie).", []string{"result"}, nil)
	meshNoticesDesc   = prometheus.NewDesc("x0tta6bl4_mesh_notices_total", "End-to-end unknown-session notices by kind (sent; forged: received and not believed).", []string{"kind"}, nil)
	meshShedDesc      = prometheus.NewDesc("x0tta6bl4_mesh_shed_total", "Relayed DATA frames dropped under a relay share below 1 (the healing loop's shed).", nil, nil)
	meshHelloLossDesc = prometheus.NewDesc("x0tta6bl4_mesh_hello_loss_total", "Neighbors the routing engine declared dead for HELLO loss.", nil, nil)
	meshOwnerDesc     = prometheus.NewDesc("x0tta6bl4_mesh_owner_seconds", "How promptly the mesh's owner goroutine serves its inputs, by what: step (each wake-up of its loop, with all it made), frame_lag (a batch of frames, from read to stepped), tick_lag (a routing timer, from its deadline to its tick). Read without the owner, so a stalled owner shows.", []string{"what"}, nil)
	meshOwnerMaxDesc  = prometheus.NewDesc("x0tta6bl4_mesh_owner_max_seconds", "The longest mesh owner step, frame lag and tick lag since the node started (see x0tta6bl4_mesh_owner_seconds).", []string{"what"}, nil)
)

func (meshCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{meshNeighborsDesc, meshRoutesDesc, meshFramesOutDesc, meshFramesInDesc,
		meshQueueDropDesc, meshLinkDropDesc, meshDataDesc, meshDroppedDesc, meshHandshakeDesc, meshNoticesDesc, meshShedDesc,
		meshHelloLossDesc, meshOwnerDesc, meshOwnerMaxDesc} {
		ch <- d
	}
}

func (c meshCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	// The owner's figures first, without the owner: they must show
	// when it is too late to answer.
	own := c.r.Owner()
	for _, o := range []struct {
		what string
		l    mesh.Latency
	}{{"step", own.Step}, {"frame_lag", own.FrameLag}, {"tick_lag", own.TickLag}} {
		buckets := make(map[float64]uint64, len(mesh.OwnerBuckets))
		var cum uint64
		for i, b := range mesh.OwnerBuckets {
			cum += o.l.Counts[i]
			buckets[b.Seconds()] = cum
		}
		ch <- prometheus.MustNewConstHistogram(meshOwnerDesc, o.l.Count(), o.l.Sum.Seconds(), buckets, o.what)
		gauge(meshOwnerMaxDesc, o.l.Max.Seconds(), o.what)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := c.r.Stats(ctx)
	if err != nil {
		return // not started or closed: nothing more to report
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(meshNeighborsDesc, float64(st.Neighbors))
	gauge(meshRoutesDesc, float64(st.Channel.Sessions))
	for t := protocols.TypeData; t <= protocols.TypeHello; t++ {
		counter(meshFramesOutDesc, st.FramesOut[t], t.String())
		counter(meshFramesInDesc, st.FramesIn[t], t.String())
		counter(meshQueueDropDesc, st.QueueDrops[t], t.String())
		counter(meshLinkDropDesc, st.LinkDrops[t], t.String())
	}
	counter(meshDataDesc, st.Engine.Originated, "originated")
	counter(meshDataDesc, st.Engine.Forwarded, "forwarded")
	counter(meshDataDesc, st.Engine.Delivered, "delivered")
	for r, v := range st.Engine.Dropped {
		if v > 0 {
			counter(meshDroppedDesc, v, overlay.Reason(r).String())
		}
	}
	counter(meshShedDesc, st.Shed)
	counter(meshHelloLossDesc, st.HelloLoss)
	counter(meshHandshakeDesc, st.Channel.Handshakes, "started")
	counter(meshHandshakeDesc, st.Channel.Established, "established")
	counter(meshHandshakeDesc, st.Channel.Failed, "failed")
	counter(meshHandshakeDesc, st.Channel.RateLimited, "rate-limited")
	counter(meshHandshakeDesc, st.Channel.Cookies, "cookie")
	counter(meshHandshakeDesc, st.Channel.Evicted, "evicted")
	counter(meshNoticesDesc, st.Channel.Notices, "sent")
	counter(meshNoticesDesc, st.Channel.ForgedNotices, "forged")
}
