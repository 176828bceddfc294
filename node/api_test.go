package node

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("%s: %v in %q", url, err, body)
		}
	}
	return resp.StatusCode
}

func TestAPI(t *testing.T) {
	a := startNode(t, localConfig())
	b := startNode(t, localConfig(a))
	waitFor(t, 10*time.Second, "b to connect to a", func() bool { return b.connected(a.ID()) })
	base := "http://" + b.APIAddr()

	var id IDBody
	if code := getJSON(t, base+"/v1/id", &id); code != 200 || id.ID != b.ID().String() || len(id.Addrs) == 0 {
		t.Errorf("/v1/id = %d %+v", code, id)
	}
	var peers PeersBody
	if code := getJSON(t, base+"/v1/peers", &peers); code != 200 || peers.Count < 1 {
		t.Fatalf("/v1/peers = %d %+v", code, peers)
	}
	found := false
	for _, p := range peers.Peers {
		if p.ID == a.ID() {
			found = true
			if len(p.Links) == 0 || p.Links[0].Security == nil || p.Links[0].Security.KeyExchange != "X25519MLKEM768" {
				t.Errorf("peer a links = %+v", p.Links)
			}
		}
	}
	if !found {
		t.Errorf("a missing from /v1/peers: %+v", peers)
	}
	var health HealthBody
	if code := getJSON(t, base+"/v1/health", &health); code != 200 || health.Status != "ok" || health.Peers < 1 {
		t.Errorf("/v1/health = %d %+v", code, health)
	}

	// A route added by another package.
	if err := b.Handle("GET /v1/echo/{word}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"word": r.PathValue("word")})
	})); err != nil {
		t.Fatal(err)
	}
	var echo map[string]string
	if code := getJSON(t, base+"/v1/echo/mesh", &echo); code != 200 || echo["word"] != "mesh" {
		t.Errorf("/v1/echo = %d %v", code, echo)
	}
	for _, bad := range []string{"GET /metrics2", "GET /v2/x", "GET /v1/echo/{word}"} {
		if err := b.Handle(bad, http.NotFoundHandler()); err == nil {
			t.Errorf("Handle(%q) accepted", bad)
		}
	}

	errs := []struct {
		method, path string
		code         int
	}{
		{"GET", "/v1/nothing", http.StatusNotFound},
		{"POST", "/v1/id", http.StatusMethodNotAllowed},
		{"GET", "/", http.StatusNotFound},
	}
	for _, tt := range errs {
		req, _ := http.NewRequest(tt.method, base+tt.path, nil)
		req.Header.Set("Authorization", "Bearer "+b.APIToken())
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var eb ErrorBody
		err = json.NewDecoder(resp.Body).Decode(&eb)
		resp.Body.Close()
		if resp.StatusCode != tt.code || err != nil || eb.Error == "" {
			t.Errorf("%s %s = %d %+v (%v), want %d with an error body", tt.method, tt.path, resp.StatusCode, eb, err, tt.code)
		}
	}

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"x0tta6bl4_node_peers", "x0tta6bl4_node_dials_total", "libp2p_swarm_", "go_goroutines"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
