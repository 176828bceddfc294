package node

import (
	"context"
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
	return b, c.post(ctx, "/v1/gov/proposals", req, &b)
}

// GovVote is POST /v1/gov/proposals/{id}/votes.
func (c *Client) GovVote(ctx context.Context, id string, req GovVoteRequest) (GovVote, error) {
	var b GovVote
	return b, c.post(ctx, "/v1/gov/proposals/"+url.PathEscape(id)+"/votes", req, &b)
}
