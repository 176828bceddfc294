package node

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAPIGuard: the checks in front of every route, one request each.
func TestAPIGuard(t *testing.T) {
	const token = "s3cret"
	tests := []struct {
		name    string
		method  string
		host    string
		headers map[string]string
		unix    bool
		want    int // 0: served
		wantErr error
	}{
		{name: "read", method: "GET", host: "127.0.0.1:9741"},
		{name: "read from localhost", method: "GET", host: "localhost:9741"},
		{name: "read on IPv6 loopback", method: "GET", host: "[::1]:9741"},
		{name: "read, no Host", method: "GET", host: ""},
		{name: "read from another origin", method: "GET", host: "127.0.0.1:9741", headers: map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}},
		{name: "read through a rebound name", method: "GET", host: "evil.example:9741", want: 403, wantErr: ErrForeignHost},
		{name: "read through a rebound name, no port", method: "GET", host: "evil.example", want: 403, wantErr: ErrForeignHost},
		{name: "read through a LAN address", method: "GET", host: "192.168.1.5:9741", want: 403, wantErr: ErrForeignHost},
		{name: "write", method: "POST", host: "127.0.0.1:9741", headers: map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}},
		{name: "write, JSON with charset", method: "POST", host: "127.0.0.1:9741", headers: map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json; charset=utf-8"}},
		{name: "write, same origin", method: "POST", host: "127.0.0.1:9741", headers: map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json", "Origin": "http://127.0.0.1:9741"}},
		{name: "cross-origin text/plain (CSRF)", method: "POST", host: "127.0.0.1:9741", headers: map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain"}, want: 403, wantErr: ErrCrossOrigin},
		{name: "cross-site fetch with the token", method: "POST", host: "127.0.0.1:9741", headers: map[string]string{"Sec-Fetch-Site": "cross-site", "Authorization": "Bearer " + token, "Content-Type": "application/json"}, want: 403, wantErr: ErrCrossOrigin},
		{name: "write through a rebound name", method: "POST", host: "evil.example", headers: map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}, want: 403, wantErr: ErrForeignHost},
		{name: "write without the token", method: "POST", host: "127.0.0.1:9741", headers: map[string]string{"Content-Type": "application/json"}, want: 401, wantErr: ErrUnauthorized},
		{name: "write with a wrong token", method: "POST", host: "127.0.0.1:9741", headers: map[string]string{"Authorization": "Bearer s3cre", "Content-Type": "application/json"}, want: 401, wantErr: ErrUnauthorized},
		{name: "write with basic auth", method: "POST", host: "127.0.0.1:9741", headers: map[string]string{"Authorization": "Basic " + token, "Content-Type": "application/json"}, want: 401, wantErr: ErrUnauthorized},
		{name: "write as text/plain", method: "POST", host: "127.0.0.1:9741", headers: map[string]string{"Authorization": "Bearer " + token, "Content-Type": "text/plain"}, want: 415, wantErr: ErrContentType},
		{name: "write as a form", method: "POST", host: "127.0.0.1:9741", headers: map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/x-www-form-urlencoded"}, want: 415, wantErr: ErrContentType},
		{name: "write without a type", method: "POST", host: "127.0.0.1:9741", headers: map[string]string{"Authorization": "Bearer " + token}, want: 415, wantErr: ErrContentType},
		{name: "delete without the token", method: "DELETE", host: "127.0.0.1:9741", want: 401, wantErr: ErrUnauthorized},
		{name: "unix socket, any Host", method: "POST", host: "unix", unix: true, headers: map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}},
		{name: "unix socket still wants the token", method: "POST", host: "unix", unix: true, headers: map[string]string{"Content-Type": "application/json"}, want: 401, wantErr: ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newAPIGuard(token)
			g.anyHost = tt.unix
			r := httptest.NewRequest(tt.method, "http://127.0.0.1:9741/v1/gov/proposals", strings.NewReader("{}"))
			r.Host = tt.host
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			status, err := g.check(r)
			if status != tt.want || !errors.Is(err, tt.wantErr) || (tt.want == 0) != (err == nil) {
				t.Errorf("check = %d, %v; want %d, %v", status, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestAPIGuardOnNode sends the attacks of a web page to a running node's
// API: a cross-origin text/plain POST (CSRF) gets 403, a POST without the
// token 401, a rebound Host 403; reads stay open; the node's client with
// its token proposes. On the old code the first two were served.
func TestAPIGuardOnNode(t *testing.T) {
	n := startNode(t, localConfig())
	url := "http://" + n.APIAddr() + "/v1/mesh/ping"
	do := func(method, host string, headers map[string]string, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	body := `{"peer":"` + n.ID().String() + `","timeout_ms":100}`
	if code, b := do("POST", "", map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain"}, body); code != http.StatusForbidden || !strings.Contains(b, "cross-origin") {
		t.Errorf("cross-origin text/plain POST: %d %s, want 403", code, b)
	}
	if code, b := do("POST", "", map[string]string{"Content-Type": "application/json"}, body); code != http.StatusUnauthorized || !strings.Contains(b, APITokenFile) {
		t.Errorf("POST without the token: %d %s, want 401 naming %s", code, b, APITokenFile)
	}
	if code, _ := do("GET", "rebind.evil.example:80", nil, ""); code != http.StatusForbidden {
		t.Errorf("GET through a rebound name: %d, want 403", code)
	}
	auth := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + n.APIToken()}
	// Through the guard to the handler: a ping to itself without a
	// neighbor answers 400 or 503, not a guard's status.
	if code, b := do("POST", "", auth, body); code == http.StatusForbidden || code == http.StatusUnauthorized || code == http.StatusUnsupportedMediaType {
		t.Errorf("POST with the token: %d %s, want the handler's answer", code, b)
	}
	if _, err := NewClient(n.APIAddr()).Peers(context.Background()); err != nil {
		t.Errorf("GET without the token: %v", err)
	}
	metrics, err := http.Get("http://" + n.APIAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(metrics.Body)
	metrics.Body.Close()
	for _, want := range []string{`x0tta6bl4_api_refused_total{status="401"} 1`, `x0tta6bl4_api_refused_total{status="403"} 2`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestRepoAPIToken: init writes api.token with mode 0600; a repo without
// one (made before tokens) gets one on the daemon's start; a token
// readable by others is refused.
func TestRepoAPIToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	r, err := InitRepo(dir, DefaultLocalConfig())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := r.APIToken()
	if err != nil || len(tok) != 2*apiTokenBytes {
		t.Fatalf("token after init: %q, %v", tok, err)
	}
	st, err := os.Stat(filepath.Join(dir, APITokenFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("api.token: %v, %v; want mode 0600", st.Mode(), err)
	}
	if again, err := r.EnsureAPIToken(); err != nil || again != tok {
		t.Errorf("EnsureAPIToken on a repo with a token: %q, %v; want %q", again, err, tok)
	}
	if err := os.Remove(filepath.Join(dir, APITokenFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.APIToken(); !errors.Is(err, ErrNoAPIToken) {
		t.Errorf("APIToken without the file: %v, want ErrNoAPIToken", err)
	}
	fresh, err := r.EnsureAPIToken()
	if err != nil || fresh == tok || len(fresh) != 2*apiTokenBytes {
		t.Errorf("EnsureAPIToken on an old repo: %q, %v", fresh, err)
	}
	if err := os.Chmod(filepath.Join(dir, APITokenFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.APIToken(); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Errorf("APIToken of a world-readable file: %v, want a refusal", err)
	}
}
