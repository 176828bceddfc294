package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// GovStatus is GET /v1/gov.
func (c *Client) GovStatus(ctx context.Context) (GovStatus, error) {
	var b GovStatus
	return b, c.Get(ctx, "/v1/gov", &b)
}

// GovProposals is GET /v1/gov/proposals.
func (c *Client) GovProposals(ctx context.Context) (GovProposalsBody, error) {
	var b GovProposalsBody
	return b, c.Get(ctx, "/v1/gov/proposals", &b)
}

// GovProposal is GET /v1/gov/proposals/{id}; id may be a unique prefix.
func (c *Client) GovProposal(ctx context.Context, id string) (GovProposal, error) {
	var b GovProposal
	return b, c.Get(ctx, "/v1/gov/proposals/"+url.PathEscape(id), &b)
}

// GovPropose is POST /v1/gov/proposals.
func (c *Client) GovPropose(ctx context.Context, req GovProposeRequest) (GovProposal, error) {
	var b GovProposal
	return b, c.govPost(ctx, "/v1/gov/proposals", req, &b)
}

// GovVote is POST /v1/gov/proposals/{id}/votes.
func (c *Client) GovVote(ctx context.Context, id string, req GovVoteRequest) (GovVote, error) {
	var b GovVote
	return b, c.govPost(ctx, "/v1/gov/proposals/"+url.PathEscape(id)+"/votes", req, &b)
}

// govPost posts body as JSON to path and decodes the JSON answer into v;
// a non-2xx answer is an *APIError.
func (c *Client) govPost(ctx context.Context, path string, body, v any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("api %s: encode: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.addr+path, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("api request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("api %s: %w", path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("api %s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		var eb ErrorBody
		if json.Unmarshal(out, &eb) != nil || eb.Error == "" {
			eb.Error = string(out)
		}
		return &APIError{Status: resp.StatusCode, Message: eb.Error}
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("api %s: decode: %w", path, err)
	}
	return nil
}
