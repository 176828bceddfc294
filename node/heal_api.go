package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/x0tta6bl4/x0tta6bl4/healing"
	"github.com/x0tta6bl4/x0tta6bl4/observe"
)

// HealStatus is the answer to GET /v1/heal: the engine's state
// (healing.Summary: mode, pause, cycles, the last cycle, incidents,
// actions in force, the avoid list, knowledge and counters) and the
// service's own figures.
type HealStatus struct {
	healing.Summary
	// Rehearsal is "twin" when plans are rehearsed in the digital twin
	// before they execute, "off" when they run without a what-if.
	Rehearsal string `json:"rehearsal"`
	// ReportsDropped counts anomaly reports dropped on a full queue.
	ReportsDropped uint64 `json:"reports_dropped"`
	// ActionErrors counts, by strategy, actions the node could not carry
	// out (each fails its plan and the ladder moves on).
	ActionErrors map[string]uint64 `json:"action_errors"`
}

// HealHistory is the answer to GET /v1/heal/history: the latest plans
// and the latest cycles that changed what the engine saw, oldest first.
type HealHistory struct {
	Plans  []healing.Plan  `json:"plans"`
	Cycles []healing.Cycle `json:"cycles"`
}

// HealModeRequest is the body of POST /v1/heal/mode.
type HealModeRequest struct {
	// Mode is "observe" or "enforce".
	Mode string `json:"mode"`
}

// HealPauseRequest is the body of POST /v1/heal/pause.
type HealPauseRequest struct {
	// Reason is shown in the status while paused.
	Reason string `json:"reason,omitempty"`
}

// maxHealReason bounds a pause reason, in bytes.
const maxHealReason = 256

// Status returns the healing service's state.
func (h *Heal) Status(ctx context.Context) (HealStatus, error) {
	var st HealStatus
	err := h.do(ctx, func(_ time.Time, e *healing.Engine) { st.Summary = e.Summary() })
	if err != nil {
		return st, err
	}
	st.Rehearsal = h.rehearsal
	st.ReportsDropped = h.dropped.Load()
	st.ActionErrors = map[string]uint64{}
	for _, s := range healing.Strategies {
		st.ActionErrors[s.String()] = h.actionErrs[s].Load()
	}
	return st, nil
}

// History returns the latest plans and cycles.
func (h *Heal) History(ctx context.Context) (HealHistory, error) {
	var hi HealHistory
	err := h.do(ctx, func(_ time.Time, e *healing.Engine) {
		hi = HealHistory{Plans: e.History(), Cycles: e.Cycles()}
	})
	return hi, err
}

// SetMode switches between observe and enforce mode until the node
// restarts.
func (h *Heal) SetMode(ctx context.Context, mode string) error {
	m, err := healing.ParseMode(mode)
	if err != nil {
		return err
	}
	var serr error
	if err := h.do(ctx, func(now time.Time, e *healing.Engine) { serr = e.SetMode(now, m) }); err != nil {
		return err
	}
	if serr == nil {
		h.log.Info("healing mode", "mode", m)
	}
	return serr
}

// Pause stops automated action (plans are still made and recorded as
// held) until Resume.
func (h *Heal) Pause(ctx context.Context, reason string) error {
	if len(reason) > maxHealReason {
		return fmt.Errorf("reason: at most %d bytes", maxHealReason)
	}
	h.log.Info("healing paused", "reason", reason)
	return h.do(ctx, func(now time.Time, e *healing.Engine) {
		h.operatorPaused.Store(true)
		e.Pause(now, reason)
	})
}

// Resume undoes Pause.
func (h *Heal) Resume(ctx context.Context) error {
	h.log.Info("healing resumed")
	return h.do(ctx, func(now time.Time, e *healing.Engine) {
		h.operatorPaused.Store(false)
		if h.unrest.holding {
			e.Pause(now, h.unrest.why) // the guard's hold outlives the operator's pause
			return
		}
		e.Resume(now)
	})
}

// routes adds GET /v1/heal, GET /v1/heal/history and POST
// /v1/heal/{mode,pause,resume}.
func (h *Heal) routes(a *api) error {
	for pattern, f := range map[string]http.HandlerFunc{
		"GET /v1/heal":         h.getStatus,
		"GET /v1/heal/history": h.getHistory,
		"POST /v1/heal/mode":   h.postMode,
		"POST /v1/heal/pause":  h.postPause,
		"POST /v1/heal/resume": h.postResume,
	} {
		if err := a.handle(pattern, f); err != nil {
			return err
		}
	}
	return nil
}

// healStatusOf maps a healing service error to an HTTP status.
func healStatusOf(err error) int {
	switch {
	case errors.Is(err, ErrHealClosed):
		return http.StatusServiceUnavailable
	case errors.Is(err, healing.ErrInvalidInput), errors.Is(err, healing.ErrInvalidConfig):
		return http.StatusBadRequest
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

func (h *Heal) getStatus(w http.ResponseWriter, r *http.Request) {
	st, err := h.Status(r.Context())
	if err != nil {
		WriteError(w, healStatusOf(err), err)
		return
	}
	WriteJSON(w, http.StatusOK, st)
}

func (h *Heal) getHistory(w http.ResponseWriter, r *http.Request) {
	hi, err := h.History(r.Context())
	if err != nil {
		WriteError(w, healStatusOf(err), err)
		return
	}
	WriteJSON(w, http.StatusOK, hi)
}

func (h *Heal) postMode(w http.ResponseWriter, r *http.Request) {
	var req HealModeRequest
	if err := decodeGovBody(r, &req); err != nil {
		WriteError(w, http.StatusBadRequest, err)
		return
	}
	if err := h.SetMode(r.Context(), req.Mode); err != nil {
		WriteError(w, healStatusOf(err), err)
		return
	}
	h.getStatus(w, r)
}

func (h *Heal) postPause(w http.ResponseWriter, r *http.Request) {
	var req HealPauseRequest
	if err := decodeGovBody(r, &req); err != nil {
		WriteError(w, http.StatusBadRequest, err)
		return
	}
	if err := h.Pause(r.Context(), req.Reason); err != nil {
		WriteError(w, http.StatusBadRequest, err)
		return
	}
	h.getStatus(w, r)
}

func (h *Heal) postResume(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if err := decodeGovBody(r, &req); err != nil {
		WriteError(w, http.StatusBadRequest, err)
		return
	}
	if err := h.Resume(r.Context()); err != nil {
		WriteError(w, healStatusOf(err), err)
		return
	}
	h.getStatus(w, r)
}

// HealStatus is GET /v1/heal.
func (c *Client) HealStatus(ctx context.Context) (HealStatus, error) {
	return get[HealStatus](ctx, c, "/v1/heal")
}

// HealHistory is GET /v1/heal/history.
func (c *Client) HealHistory(ctx context.Context) (HealHistory, error) {
	return get[HealHistory](ctx, c, "/v1/heal/history")
}

// HealSetMode is POST /v1/heal/mode.
func (c *Client) HealSetMode(ctx context.Context, mode string) (HealStatus, error) {
	return post[HealStatus](ctx, c, "/v1/heal/mode", HealModeRequest{Mode: mode})
}

// HealPause is POST /v1/heal/pause.
func (c *Client) HealPause(ctx context.Context, reason string) (HealStatus, error) {
	return post[HealStatus](ctx, c, "/v1/heal/pause", HealPauseRequest{Reason: reason})
}

// HealResume is POST /v1/heal/resume.
func (c *Client) HealResume(ctx context.Context) (HealStatus, error) {
	return post[HealStatus](ctx, c, "/v1/heal/resume", struct{}{})
}

// healCollector exports the healing service's counters to Prometheus.
type healCollector struct{ h *Heal }

var (
	healPlansDesc = prometheus.NewDesc("x0tta6bl4_heal_plans_total",
		"Healing plans that reached each status, by strategy (avoid, reconnect, shed, quarantine, restart-component) and status (rehearsing, dropped, held, observed, executed, cleared, succeeded, failed).",
		[]string{"strategy", "status"}, nil)
	healCyclesDesc       = prometheus.NewDesc("x0tta6bl4_heal_cycles_total", "MAPE-K cycles run.", nil, nil)
	healHeldDesc         = prometheus.NewDesc("x0tta6bl4_heal_held_cycles_total", "Cycles that could make no plan (a partition, 40% or more of the view suspect).", nil, nil)
	healActiveDesc       = prometheus.NewDesc("x0tta6bl4_heal_actions_active", "Healing actions in force, by strategy.", []string{"strategy"}, nil)
	healIncidentsDesc    = prometheus.NewDesc("x0tta6bl4_heal_incidents", "Symptoms under treatment.", nil, nil)
	healSuspectsDesc     = prometheus.NewDesc("x0tta6bl4_heal_suspects", "Nodes a quorum of their neighbours flags, as of the last cycle.", nil, nil)
	healModeDesc         = prometheus.NewDesc("x0tta6bl4_heal_enforce", "1 in enforce mode, 0 in observe mode.", nil, nil)
	healPausedDesc       = prometheus.NewDesc("x0tta6bl4_heal_paused", "1 while healing is paused.", nil, nil)
	healActionErrorsDesc = prometheus.NewDesc("x0tta6bl4_heal_action_errors_total", "Healing actions the node could not carry out, by strategy.", []string{"strategy"}, nil)
	healDroppedDesc      = prometheus.NewDesc("x0tta6bl4_heal_reports_dropped_total", "Anomaly reports dropped on the healing service's full queue.", nil, nil)
)

func (healCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{healPlansDesc, healCyclesDesc, healHeldDesc, healActiveDesc, healIncidentsDesc,
		healSuspectsDesc, healModeDesc, healPausedDesc, healActionErrorsDesc, healDroppedDesc} {
		ch <- d
	}
}

func (c healCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := c.h.Status(ctx)
	if err != nil {
		return // not started or closed: nothing to report
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, k := range st.Counters {
		counter(healPlansDesc, k.Count, k.Strategy.String(), k.Status.String())
	}
	counter(healCyclesDesc, st.Cycles)
	counter(healHeldDesc, st.Held)
	active := map[healing.Strategy]int{}
	for _, a := range st.Active {
		active[a.Kind]++
	}
	for _, s := range healing.Strategies {
		gauge(healActiveDesc, float64(active[s]), s.String())
		counter(healActionErrorsDesc, st.ActionErrors[s.String()], s.String())
	}
	gauge(healIncidentsDesc, float64(len(st.Incidents)))
	gauge(healSuspectsDesc, float64(st.LastCycle.Suspects))
	enforce, paused := 0.0, 0.0
	if st.Mode == healing.ModeEnforce {
		enforce = 1
	}
	if st.Paused {
		paused = 1
	}
	gauge(healModeDesc, enforce)
	gauge(healPausedDesc, paused)
	counter(healDroppedDesc, st.ReportsDropped)
}

// dashboardPlans is how many of the latest plans the dashboard shows.
const dashboardPlans = 32

// dashboardHealing is the healing record the web dashboard shows: the
// mode and the latest plans, newest last.
func (h *Heal) dashboardHealing(ctx context.Context) (*observe.Healing, error) {
	var (
		mode  healing.Mode
		plans []healing.Plan
	)
	err := h.do(ctx, func(_ time.Time, e *healing.Engine) {
		mode, plans = e.Mode(), e.History()
	})
	if err != nil {
		return nil, err
	}
	plans = plans[max(0, len(plans)-dashboardPlans):]
	out := &observe.Healing{Mode: mode.String(), Plans: make([]observe.HealingPlan, 0, len(plans))}
	for _, p := range plans {
		hp := observe.HealingPlan{
			ID: p.ID, Time: p.Time, Cause: p.Diagnosis.Cause.String(), Subject: p.Diagnosis.Peer,
			Strategy: p.Strategy.String(), State: p.Status.String(),
		}
		if hp.Subject == "" && !p.Diagnosis.Subject.IsZero() {
			hp.Subject = p.Diagnosis.Subject.String()
		}
		switch p.Status {
		case healing.StatusObserved:
			hp.State, hp.WouldExecute = "would-execute", true
		case healing.StatusCleared:
			hp.State = healing.StatusExecuted.String() // executed, its outcome not judged yet
		}
		if r := p.Rehearsal; r != nil {
			hp.HealedIn = r.HealedIn
		}
		out.Plans = append(out.Plans, hp)
	}
	return out, nil
}
