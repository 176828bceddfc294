package node

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// AnomalyBody is the answer to GET /v1/anomaly: the model the node
// scores with, its rules, its own latest scores, the latest scores of
// every scorer it holds, the nodes it holds suspect with their reporters,
// and the latest changes of suspicion.
type AnomalyBody struct {
	Model       AnomalyModel        `json:"model"`
	Quorum      int                 `json:"quorum"`
	Persistence int                 `json:"persistence"`
	Own         *AnomalyScoresBody  `json:"own,omitempty"`
	Received    []AnomalyScoresBody `json:"received"`
	Suspects    []AnomalySuspicion  `json:"suspects"`
	History     []AnomalyEvent      `json:"history"`
}

// AnomalyScoresBody is one score message (protocols.AnomalyScores), with
// the peer IDs the view knows for its addresses and the contributing
// features by name.
type AnomalyScoresBody struct {
	Scorer    protocols.Addr     `json:"scorer"`
	Peer      string             `json:"peer,omitempty"`
	Time      time.Time          `json:"time"`
	Seq       uint32             `json:"seq"`
	Model     string             `json:"model"`
	Threshold float64            `json:"threshold"`
	Scores    []AnomalyScoreBody `json:"scores"`
}

// AnomalyScoreBody is one score of a message. Flagged is Score at or
// above the message's threshold.
type AnomalyScoreBody struct {
	Subject      protocols.Addr `json:"subject"`
	Peer         string         `json:"peer,omitempty"`
	SubjectTime  time.Time      `json:"subject_time"`
	Score        float64        `json:"score"`
	Flagged      bool           `json:"flagged"`
	Contributing []string       `json:"contributing,omitempty"`
}

// scoresBody turns a score message into its API form; peers names the
// addresses the view knows.
func scoresBody(m *protocols.AnomalyScores, peers map[protocols.Addr]string) AnomalyScoresBody {
	names := anomaly.CurrentSchema.InputNames()
	b := AnomalyScoresBody{Scorer: m.Scorer, Peer: peers[m.Scorer], Time: m.Time, Seq: m.Seq,
		Model: hex.EncodeToString(m.Model[:]), Threshold: m.Threshold, Scores: []AnomalyScoreBody{}}
	for _, s := range m.Scores {
		sb := AnomalyScoreBody{Subject: s.Subject, Peer: peers[s.Subject], SubjectTime: s.SubjectTime, Score: s.Score,
			Flagged: s.Score >= m.Threshold}
		for _, c := range s.Contributing {
			if c == protocols.NoContribution {
				break
			}
			name := fmt.Sprintf("x%d", c)
			if int(c) < len(names) {
				name = names[c]
			}
			sb.Contributing = append(sb.Contributing, name)
		}
		b.Scores = append(b.Scores, sb)
	}
	return b
}

func (a *Anomaly) routes(api *api) error {
	for pattern, h := range map[string]http.HandlerFunc{
		"GET /v1/anomaly":                a.getAnomaly,
		"POST /v1/anomaly/models":        a.postModel,
		"GET /v1/anomaly/fl":             a.getFL,
		"POST /v1/anomaly/fl/round":      a.postFLRound,
		"POST /v1/anomaly/fl/propose":    a.postFLPropose,
		"POST /v1/anomaly/fl/votes/{id}": a.postFLVote,
	} {
		if err := api.handle(pattern, h); err != nil {
			return err
		}
	}
	return nil
}

// Body returns what GET /v1/anomaly answers.
func (a *Anomaly) Body() AnomalyBody {
	peers := map[protocols.Addr]string{}
	for _, n := range a.view.Graph().Nodes {
		peers[n.Addr] = n.Peer
	}
	own, received := a.Scores()
	b := AnomalyBody{Model: a.Model(), Quorum: a.cfg.Quorum, Persistence: a.cfg.Persistence,
		Received: []AnomalyScoresBody{}, Suspects: a.Suspicions(), History: a.History()}
	if own != nil {
		ob := scoresBody(own, peers)
		b.Own = &ob
	}
	for i := range received {
		b.Received = append(b.Received, scoresBody(&received[i], peers))
	}
	return b
}

func (a *Anomaly) getAnomaly(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, a.Body())
}

// AnomalyModelRequest is the body of POST /v1/anomaly/models: a model
// blob, base64 (standard, padded).
type AnomalyModelRequest struct {
	Blob string `json:"blob"`
}

// AnomalyModelPublished is the answer to POST /v1/anomaly/models: the
// blob's SHA-256, what a model:<name>@<sha256> proposal names.
type AnomalyModelPublished struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	SHA256 string `json:"sha256"`
	Bytes  int    `json:"bytes"`
}

// maxModelBody bounds POST /v1/anomaly/models: a blob of
// anomaly.MaxModelSize, in base64, and the JSON around it.
const maxModelBody = anomaly.MaxModelSize/3*4 + 1024

// PublishModel checks a model blob, keeps it and puts it in the DHT under
// its digest, where every node fetches it from when governance adopts
// it.
func (a *Anomaly) PublishModel(ctx context.Context, blob []byte) (AnomalyModelPublished, error) {
	det, err := anomaly.DecodeModel(blob)
	if err != nil {
		return AnomalyModelPublished{}, err
	}
	d, err := a.models.publish(ctx, blob)
	if err != nil {
		return AnomalyModelPublished{}, err
	}
	return AnomalyModelPublished{Name: det.Name(), Kind: det.Kind().String(), SHA256: hex.EncodeToString(d[:]), Bytes: len(blob)}, nil
}

func (a *Anomaly) postModel(w http.ResponseWriter, r *http.Request) {
	var req AnomalyModelRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxModelBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		WriteError(w, http.StatusBadRequest, fmt.Errorf("request body: %w", err))
		return
	}
	blob, err := base64.StdEncoding.DecodeString(req.Blob)
	if err != nil {
		WriteError(w, http.StatusBadRequest, fmt.Errorf("blob: %w", err))
		return
	}
	if _, err := anomaly.DecodeModel(blob); err != nil {
		WriteError(w, http.StatusBadRequest, fmt.Errorf("blob: %w", err))
		return
	}
	pub, err := a.PublishModel(r.Context(), blob)
	if err != nil {
		WriteError(w, http.StatusBadGateway, err)
		return
	}
	WriteJSON(w, http.StatusCreated, pub)
}

// Anomaly is GET /v1/anomaly.
func (c *Client) Anomaly(ctx context.Context) (AnomalyBody, error) {
	return get[AnomalyBody](ctx, c, "/v1/anomaly")
}

// AnomalyPublishModel is POST /v1/anomaly/models.
func (c *Client) AnomalyPublishModel(ctx context.Context, blob []byte) (AnomalyModelPublished, error) {
	return post[AnomalyModelPublished](ctx, c, "/v1/anomaly/models", AnomalyModelRequest{Blob: base64.StdEncoding.EncodeToString(blob)})
}

// FLBody is the answer to GET /v1/anomaly/fl: the model in force and the
// announced updates of it the node holds.
type FLBody struct {
	Base    string     `json:"base"`
	Updates []FLUpdate `json:"updates"`
}

func (a *Anomaly) getFL(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, FLBody{Base: a.Model().SHA256, Updates: append([]FLUpdate{}, a.FLUpdates()...)})
}

// decodeAnomalyBody reads a small JSON request body into v, refusing
// unknown fields; an empty body leaves v as it is.
func decodeAnomalyBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxGovBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && err != io.EOF {
		return fmt.Errorf("request body: %w", err)
	}
	return nil
}

func (a *Anomaly) postFLRound(w http.ResponseWriter, r *http.Request) {
	var o FLRoundOptions
	if err := decodeAnomalyBody(r, &o); err != nil {
		WriteError(w, http.StatusBadRequest, err)
		return
	}
	res, err := a.FLRound(r.Context(), o)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, err)
		return
	}
	WriteJSON(w, http.StatusCreated, res)
}

func (a *Anomaly) postFLPropose(w http.ResponseWriter, r *http.Request) {
	var o FLProposeOptions
	if err := decodeAnomalyBody(r, &o); err != nil {
		WriteError(w, http.StatusBadRequest, err)
		return
	}
	res, err := a.FLPropose(r.Context(), o)
	switch {
	case errors.Is(err, ErrTooFewUpdates):
		WriteError(w, http.StatusConflict, err)
	case errors.Is(err, ErrGovernanceOff):
		WriteError(w, http.StatusServiceUnavailable, err)
	case err != nil:
		WriteError(w, govStatusOf(err), err)
	default:
		WriteJSON(w, http.StatusCreated, res)
	}
}

func (a *Anomaly) postFLVote(w http.ResponseWriter, r *http.Request) {
	res, err := a.FLVote(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, ErrGovernanceOff):
		WriteError(w, http.StatusServiceUnavailable, err)
	case errors.Is(err, ErrModelNotFound):
		WriteError(w, http.StatusBadGateway, err)
	case err != nil:
		WriteError(w, govStatusOf(err), err)
	default:
		WriteJSON(w, http.StatusCreated, res)
	}
}

// AnomalyFL is GET /v1/anomaly/fl.
func (c *Client) AnomalyFL(ctx context.Context) (FLBody, error) {
	return get[FLBody](ctx, c, "/v1/anomaly/fl")
}

// AnomalyFLRound is POST /v1/anomaly/fl/round.
func (c *Client) AnomalyFLRound(ctx context.Context, o FLRoundOptions) (FLRoundResult, error) {
	return post[FLRoundResult](ctx, c, "/v1/anomaly/fl/round", o)
}

// AnomalyFLPropose is POST /v1/anomaly/fl/propose.
func (c *Client) AnomalyFLPropose(ctx context.Context, o FLProposeOptions) (FLProposal, error) {
	return post[FLProposal](ctx, c, "/v1/anomaly/fl/propose", o)
}

// AnomalyFLVote is POST /v1/anomaly/fl/votes/{id}; id may be a unique
// prefix of the proposal's.
func (c *Client) AnomalyFLVote(ctx context.Context, id string) (FLVote, error) {
	return post[FLVote](ctx, c, "/v1/anomaly/fl/votes/"+url.PathEscape(id), struct{}{})
}
