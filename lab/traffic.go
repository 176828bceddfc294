package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/lab/scenario"
	"github.com/x0tta6bl4/x0tta6bl4/node"
)

// traffic sends each flow's probes as mesh pings through the source
// node's API and records when each arrived: the send time plus half the
// round trip the node measured (the probe's one-way time), or never.
type traffic struct {
	clients []*node.Client
	ids     []peer.ID
	timeout time.Duration
	t0      time.Time

	mu     sync.Mutex
	errors map[string]int // lost probes by cause
	// trips are the answered probes of traffic (t0 set): when each was
	// sent, the links it and its answer crossed, and its round trip.
	trips []roundTrip
}

// roundTrip is one answered probe.
type roundTrip struct {
	sent  time.Duration // from t0
	links int           // hops out and back
	rtt   time.Duration
}

// lost counts a lost probe under a short cause: the API's status and
// message, or the transport's error.
func (tr *traffic) lost(err error) {
	cause := err.Error()
	var apiErr *node.APIError
	if errors.As(err, &apiErr) {
		cause = fmt.Sprintf("%d %s", apiErr.Status, apiErr.Message)
	}
	// Peer IDs and request IDs make every message unique; keep the gist.
	if i := strings.Index(cause, "12D3KooW"); i >= 0 {
		cause = cause[:i] + "<peer>"
	}
	if len(cause) > 120 {
		cause = cause[:120]
	}
	tr.mu.Lock()
	if tr.errors == nil {
		tr.errors = map[string]int{}
	}
	tr.errors[cause]++
	tr.mu.Unlock()
}

// once pings dst from src and returns the one-way time, or false.
func (tr *traffic) once(ctx context.Context, f scenario.Flow) (time.Duration, bool) {
	ctx, cancel := context.WithTimeout(ctx, tr.timeout+2*time.Second)
	defer cancel()
	var sent time.Duration
	if !tr.t0.IsZero() {
		sent = time.Since(tr.t0)
	}
	res, err := tr.clients[f.Src].MeshPing(ctx, tr.ids[f.Dst], tr.timeout)
	if err != nil {
		tr.lost(err)
		return 0, false
	}
	if !tr.t0.IsZero() && res.Hops+res.HopsBack > 0 {
		tr.mu.Lock()
		tr.trips = append(tr.trips, roundTrip{sent: sent, links: res.Hops + res.HopsBack, rtt: res.RTT})
		tr.mu.Unlock()
	}
	return res.RTT / 2, true
}

// hopTime is the time a probe takes per link it crosses, delay line and
// the daemon that forwards it together: the slope of the round trip over
// the links crossed out and back, over the probes sent before until (the
// first fault; routes being repaired would add their discoveries). Each
// link count that at least hopMinTrips round trips crossed gives its
// median round trip, and the slope is the median of the slopes between
// every two of those (Theil–Sen): a least-squares line through them
// once read 48.6 ms a link where the probes' one-way p50 was 17.8 ms
// and every other run of that hour 6.8–8.3 ms, since a link count few
// probes crossed (a route held for a moment) weighs in a fit as much as
// one crossed by a thousand, and the twin then replayed a run of links
// seven times too slow. The intercept is what every probe pays once
// (the API, the end-to-end channel at both ends). ok is false with
// fewer than two such link counts.
func hopTime(trips []roundTrip, until time.Duration) (perLink time.Duration, ok bool) {
	byLinks := map[int][]float64{}
	for _, t := range trips {
		if t.sent < until {
			byLinks[t.links] = append(byLinks[t.links], float64(t.rtt))
		}
	}
	type point struct{ x, y float64 }
	var pts []point
	for links, rtts := range byLinks {
		if len(rtts) >= hopMinTrips {
			pts = append(pts, point{float64(links), scenario.Percentile(rtts, 0.5)})
		}
	}
	if len(pts) < 2 {
		return 0, false
	}
	var slopes []float64
	for i := range pts {
		for j := i + 1; j < len(pts); j++ {
			slopes = append(slopes, (pts[j].y-pts[i].y)/(pts[j].x-pts[i].x))
		}
	}
	slices.Sort(slopes)
	mid := len(slopes) / 2
	slope := slopes[mid]
	if len(slopes)%2 == 0 {
		slope = (slopes[mid-1] + slopes[mid]) / 2
	}
	return time.Duration(slope), slope > 0
}

// hopMinTrips is how many round trips a link count needs to count in
// hopTime: its median then stands for more than a probe or two.
const hopMinTrips = 5

// unixHTTP is an HTTP client that reaches the server on a unix socket,
// whatever the URL's host.
func unixHTTP(socket string) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}
}

// meshCounters returns the routing frames (every type but DATA) a node
// has sent and the neighbours it declared dead for HELLO loss, from its
// /metrics.
func meshCounters(ctx context.Context, c *http.Client) (control, helloLoss float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://node/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	return sumMesh(resp.Body)
}

// sumMesh adds up x0tta6bl4_mesh_frames_sent_total over every type but
// DATA, and reads x0tta6bl4_mesh_hello_loss_total, in a Prometheus text
// exposition.
func sumMesh(r io.Reader) (control, helloLoss float64, err error) {
	const (
		sent  = "x0tta6bl4_mesh_frames_sent_total{"
		hello = "x0tta6bl4_mesh_hello_loss_total "
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, hello); ok {
			if v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64); err == nil {
				helloLoss = v
			}
			continue
		}
		rest, ok := strings.CutPrefix(line, sent)
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok || strings.Contains(strings.ToUpper(labels), `"DATA"`) {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err == nil {
			control += v
		}
	}
	return control, helloLoss, sc.Err()
}
