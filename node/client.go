package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Client talks to a running node's local API.
type Client struct {
	addr  string
	http  *http.Client
	token string
}

// NewClient returns a client of the API at host:port, or at the unix
// socket that "unix:/path" names.
func NewClient(addr string) *Client {
	c := &Client{addr: addr, http: &http.Client{Timeout: 10 * time.Second}}
	if path, ok := strings.CutPrefix(addr, UnixAPIPrefix); ok {
		c.addr = "unix" // the URL's host; the transport dials the socket
		c.http.Transport = &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", path)
			},
			MaxIdleConnsPerHost: 32,
		}
	}
	return c
}

// WithToken returns a copy of c that sends token as its bearer token
// (the node's API token, which every request that changes something
// needs; the CLI reads it from the repo's api.token).
func (c *Client) WithToken(token string) *Client {
	cc := *c
	cc.token = token
	return &cc
}

// APIError is a non-2xx answer of the API.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("api: %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// maxAnswer bounds the API answer a client reads.
const maxAnswer = 16 << 20

// Get fetches path (e.g. "/v1/id") and decodes the JSON answer into v.
func (c *Client) Get(ctx context.Context, path string, v any) error {
	return c.call(ctx, http.MethodGet, path, nil, v)
}

// get is GET path, its JSON answer decoded as a T.
func get[T any](ctx context.Context, c *Client, path string) (T, error) {
	var v T
	err := c.Get(ctx, path, &v)
	return v, err
}

// post is POST path with body as JSON, the JSON answer decoded as a T.
func post[T any](ctx context.Context, c *Client, path string, body any) (T, error) {
	var v T
	data, err := json.Marshal(body)
	if err != nil {
		return v, fmt.Errorf("api %s: encode: %w", path, err)
	}
	err = c.call(ctx, http.MethodPost, path, data, &v)
	return v, err
}

// call makes one request (with a JSON body unless body is nil) and
// decodes the JSON answer into v; a non-2xx answer is an *APIError whose
// Message is the answer's "error", or the whole answer without one.
func (c *Client) call(ctx context.Context, method, path string, body []byte, v any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.addr+path, rd)
	if err != nil {
		return fmt.Errorf("api request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("api %s: %w", path, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("api %s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		var eb ErrorBody
		if json.Unmarshal(answer, &eb) != nil || eb.Error == "" {
			eb.Error = string(answer)
		}
		return &APIError{Status: resp.StatusCode, Message: eb.Error}
	}
	if err := json.Unmarshal(answer, v); err != nil {
		return fmt.Errorf("api %s: decode: %w", path, err)
	}
	return nil
}

// ID is GET /v1/id.
func (c *Client) ID(ctx context.Context) (IDBody, error) {
	return get[IDBody](ctx, c, "/v1/id")
}

// Peers is GET /v1/peers.
func (c *Client) Peers(ctx context.Context) (PeersBody, error) {
	return get[PeersBody](ctx, c, "/v1/peers")
}

// Health is GET /v1/health; a degraded node answers 503, an *APIError
// whose Message is the body.
func (c *Client) Health(ctx context.Context) (HealthBody, error) {
	return get[HealthBody](ctx, c, "/v1/health")
}
