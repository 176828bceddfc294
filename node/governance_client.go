package node

import (
	"context"
	"net/url"
)

// GovStatus is GET /v1/gov.
func (c *Client) GovStatus(ctx context.Context) (GovStatus, error) {
	return get[GovStatus](ctx, c, "/v1/gov")
}

// GovProposals is GET /v1/gov/proposals.
func (c *Client) GovProposals(ctx context.Context) (GovProposalsBody, error) {
	return get[GovProposalsBody](ctx, c, "/v1/gov/proposals")
}

// GovProposal is GET /v1/gov/proposals/{id}; id may be a unique prefix.
func (c *Client) GovProposal(ctx context.Context, id string) (GovProposal, error) {
	return get[GovProposal](ctx, c, "/v1/gov/proposals/"+url.PathEscape(id))
}

// GovPropose is POST /v1/gov/proposals.
func (c *Client) GovPropose(ctx context.Context, req GovProposeRequest) (GovProposal, error) {
	return post[GovProposal](ctx, c, "/v1/gov/proposals", req)
}

// GovVote is POST /v1/gov/proposals/{id}/votes.
func (c *Client) GovVote(ctx context.Context, id string, req GovVoteRequest) (GovVote, error) {
	return post[GovVote](ctx, c, "/v1/gov/proposals/"+url.PathEscape(id)+"/votes", req)
}
