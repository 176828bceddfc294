package node

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"strings"
)

// The local API is reachable by everything on the host, including the
// web browser of its operator: a page the operator visits can send
// requests to 127.0.0.1 (cross-site request forgery) and, through a DNS
// name that it rebinds to 127.0.0.1, read the answers (DNS rebinding).
// apiGuard stands in front of every route:
//
//  1. every request must name the API itself in its Host header
//     (localhost or a loopback address, any port), else 403: a rebound
//     name is foreign;
//  2. a request that changes something (any method but GET, HEAD and
//     OPTIONS) must not come from another origin
//     (http.CrossOriginProtection: Sec-Fetch-Site, or Origin against
//     Host), else 403;
//  3. it must carry the node's API token as "Authorization: Bearer
//     <token>", else 401;
//  4. and its body must be application/json, else 415: a browser sends
//     a cross-origin text/plain POST without asking first, never a JSON
//     one.
//
// Read-only requests need no token: anyone on the host may watch the
// node. Over a unix socket (api_addr "unix:PATH") no browser can reach
// the API, and the Host check is left out.
type apiGuard struct {
	token []byte
	cop   *http.CrossOriginProtection
	// anyHost leaves out the Host check (a unix socket).
	anyHost bool
}

// Errors of the API guard, wrapped in the answers' messages.
var (
	ErrForeignHost  = errors.New("node: api: foreign Host header")
	ErrCrossOrigin  = errors.New("node: api: cross-origin request")
	ErrUnauthorized = errors.New("node: api: missing or wrong bearer token")
	ErrContentType  = errors.New("node: api: body must be application/json")
)

// apiTokenBytes is the entropy of a generated API token.
const apiTokenBytes = 32

// NewAPIToken returns a fresh random API token: 64 hex digits.
func NewAPIToken() string {
	b := make([]byte, apiTokenBytes)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

func newAPIGuard(token string) *apiGuard {
	return &apiGuard{token: []byte(token), cop: http.NewCrossOriginProtection()}
}

// safeMethod reports whether m only reads.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// check returns nil for a request the API may serve, else the status and
// the reason to answer with.
func (g *apiGuard) check(r *http.Request) (int, error) {
	if !g.anyHost && !localHost(r.Host) {
		return http.StatusForbidden, fmt.Errorf("%w %q: the API answers to localhost and loopback addresses only", ErrForeignHost, r.Host)
	}
	if safeMethod(r.Method) {
		return 0, nil
	}
	if err := g.cop.Check(r); err != nil {
		return http.StatusForbidden, fmt.Errorf("%w: %v", ErrCrossOrigin, err)
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), g.token) != 1 {
		return http.StatusUnauthorized, fmt.Errorf("%w: send \"Authorization: Bearer <token>\" with the token in the repo's %s", ErrUnauthorized, APITokenFile)
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return http.StatusUnsupportedMediaType, fmt.Errorf("%w, got %q", ErrContentType, r.Header.Get("Content-Type"))
	}
	return 0, nil
}

// localHost reports whether a Host header names this machine: localhost
// or a loopback IP address, with or without a port. An empty Host (an
// HTTP/1.0 client, never a browser) passes.
func localHost(host string) bool {
	if host == "" {
		return true
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
