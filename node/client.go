package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Client talks to a running node's local API.
type Client struct {
	addr string
	http *http.Client
}

// NewClient returns a client of the API at host:port.
func NewClient(addr string) *Client {
	return &Client{addr: addr, http: &http.Client{Timeout: 10 * time.Second}}
}

// APIError is a non-2xx answer of the API.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("api: %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// Get fetches path (e.g. "/v1/id") and decodes the JSON answer into v.
func (c *Client) Get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.addr+path, nil)
	if err != nil {
		return fmt.Errorf("api request: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("api %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("api %s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		var eb ErrorBody
		if json.Unmarshal(body, &eb) != nil || eb.Error == "" {
			eb.Error = string(body)
		}
		return &APIError{Status: resp.StatusCode, Message: eb.Error}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("api %s: decode: %w", path, err)
	}
	return nil
}

// ID is GET /v1/id.
func (c *Client) ID(ctx context.Context) (IDBody, error) {
	var b IDBody
	return b, c.Get(ctx, "/v1/id", &b)
}

// Peers is GET /v1/peers.
func (c *Client) Peers(ctx context.Context) (PeersBody, error) {
	var b PeersBody
	return b, c.Get(ctx, "/v1/peers", &b)
}

// Health is GET /v1/health; a degraded node answers 503 with the body,
// which is returned along with the *APIError.
func (c *Client) Health(ctx context.Context) (HealthBody, error) {
	var b HealthBody
	return b, c.Get(ctx, "/v1/health", &b)
}
