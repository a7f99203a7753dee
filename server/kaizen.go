package server

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/workflows"
)

// kaizenStore is what the kaizen and KPI handlers read beyond the shared
// process reads.
type kaizenStore interface {
	CreateKPI(ctx context.Context, k opsflow.KPI) (opsflow.KPI, bool, error)
	GetKPI(ctx context.Context, key string) (opsflow.KPI, error)
	ListKPIs(ctx context.Context, limit int, cursor string) (opsflow.Page[opsflow.KPI], error)
	AddMeasurements(ctx context.Context, key string, ms []opsflow.Measurement) ([]opsflow.Measurement, int, error)
	Measurements(ctx context.Context, key string, from, to *time.Time, limit int, cursor string) (opsflow.Page[opsflow.Measurement], error)
	KPIStats(ctx context.Context, key string, from, to time.Time) (opsflow.KPIStats, error)
}

// resolveBaseline computes a window baseline from the KPI's measurements;
// an entered one is kept as sent.
func (s *Server) resolveBaseline(ctx context.Context, kpi string, b *opsflow.Baseline) (*opsflow.Baseline, error) {
	if b == nil {
		return nil, nil
	}
	if err := b.CheckInput("baseline"); err != nil {
		return nil, err
	}
	if !b.NeedsMeasuring() {
		out := *b
		out.Method, out.Count = opsflow.BaselineEntered, 0
		return &out, nil
	}
	st, err := s.Store.KPIStats(ctx, kpi, b.From.UTC(), b.To.UTC())
	if err != nil {
		return nil, err
	}
	out, err := b.Measured(st, "baseline")
	return &out, err
}

// createKaizen opens an initiative: the request is checked against its KPI
// (it must exist; the target must lie in its better direction from the
// baseline) before the workflow starts.
func (s *Server) createKaizen(c echo.Context) error {
	if err := requireAny(c, opsflow.RoleRequester, opsflow.RoleOwner, opsflow.RoleAdmin); err != nil {
		return err
	}
	var req opsflow.KaizenRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	u := userOf(c)
	if req.Owner == "" {
		req.Owner = u.ID
	}
	if err := req.CheckShape(req.Owner); err != nil {
		return err
	}
	ctx := c.Request().Context()
	kpi, err := s.Store.GetKPI(ctx, req.KPI)
	if opsflow.ErrorCode(err) == opsflow.ENOTFOUND {
		return opsflow.Invalid("kpi", "unknown kpi %q: register it with POST /v1/kpis first", req.KPI)
	} else if err != nil {
		return err
	}
	if req.Baseline, err = s.resolveBaseline(ctx, kpi.Key, req.Baseline); err != nil {
		return err
	}
	if err := req.Validate(kpi, req.Owner, s.Now()); err != nil {
		return err
	}
	return s.startProcess(c, opsflow.KindKaizen, workflows.WorkflowKaizen, workflows.KaizenInput{
		Request: req, KPI: kpi, Actor: actorOf(c), Day: s.Day,
	})
}

func (s *Server) getKaizen(c echo.Context) error   { return s.getProcess(c, opsflow.KindKaizen) }
func (s *Server) kaizenAudit(c echo.Context) error { return s.processAudit(c, opsflow.KindKaizen) }

var kaizenPhases = []opsflow.KaizenPhase{opsflow.KaizenSubmitted, opsflow.KaizenTriage, opsflow.KaizenPlan, opsflow.KaizenDo,
	opsflow.KaizenCheck, opsflow.KaizenAct, opsflow.KaizenSustain, opsflow.KaizenClosed, opsflow.KaizenDeferred,
	opsflow.KaizenRejected, opsflow.KaizenCancelled}

// listKaizen lists initiatives; phase is the process state (state is
// accepted too), sponsor, kpi and cycle filter exactly.
func (s *Server) listKaizen(c echo.Context) error {
	q := c.QueryParams()
	if ph := q.Get("phase"); ph != "" {
		if !slices.Contains(kaizenPhases, opsflow.KaizenPhase(ph)) {
			return opsflow.Invalid("phase", "unknown phase %q", ph)
		}
		q.Set("state", ph) // QueryParams is the context's cached copy: listProcesses reads it
	}
	return s.listProcesses(c, opsflow.KindKaizen, "sponsor", "kpi", "cycle")
}

type triageBody struct {
	Decision string     `json:"decision"`
	Reason   string     `json:"reason"`
	Until    *time.Time `json:"until"`
}

func (s *Server) triageKaizen(c echo.Context) error {
	var in triageBody
	if err := bind(c, &in); err != nil {
		return err
	}
	return s.updateProcess(c, opsflow.KindKaizen, workflows.UpdateKaizenTriage,
		workflows.KaizenTriage{Actor: actorOf(c), Decision: in.Decision, Reason: in.Reason, Until: in.Until})
}

// submitKaizenPlan sends the A3; a baseline given as a window is computed
// here from the initiative's KPI, so the workflow records a value.
func (s *Server) submitKaizenPlan(c echo.Context) error {
	var plan opsflow.A3
	if err := bind(c, &plan); err != nil {
		return err
	}
	if plan.Baseline != nil {
		ctx := c.Request().Context()
		row, err := s.Store.GetProcess(ctx, opsflow.KindKaizen, c.Param("id"))
		if err != nil {
			if opsflow.ErrorCode(err) == opsflow.ENOTFOUND {
				return notFound(opsflow.KindKaizen, c.Param("id"))
			}
			return err
		}
		var k opsflow.Kaizen
		if err := json.Unmarshal(row.Record, &k); err != nil {
			return err
		}
		if plan.Baseline, err = s.resolveBaseline(ctx, k.KPI.Key, plan.Baseline); err != nil {
			return err
		}
	}
	return s.updateProcess(c, opsflow.KindKaizen, workflows.UpdateKaizenSubmitPlan, workflows.KaizenPlanInput{Actor: actorOf(c), Plan: plan})
}

type reviewBody struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
}

func (s *Server) approveKaizenPlan(c echo.Context) error {
	var in reviewBody
	if err := bind(c, &in); err != nil {
		return err
	}
	return s.updateProcess(c, opsflow.KindKaizen, workflows.UpdateKaizenApprovePlan,
		workflows.KaizenReview{Actor: actorOf(c), Decision: in.Decision, Reason: in.Reason})
}

type observationBody struct {
	Text string `json:"text"`
}

func (s *Server) observeKaizen(c echo.Context) error {
	var in observationBody
	if err := bind(c, &in); err != nil {
		return err
	}
	return s.updateProcess(c, opsflow.KindKaizen, workflows.UpdateKaizenObserve, workflows.KaizenObservation{Actor: actorOf(c), Text: in.Text})
}

func (s *Server) actKaizen(c echo.Context) error {
	var in opsflow.ActDecision
	if err := bind(c, &in); err != nil {
		return err
	}
	return s.updateProcess(c, opsflow.KindKaizen, workflows.UpdateKaizenAct, workflows.KaizenActInput{Actor: actorOf(c), Decision: in})
}

// impactBody is an impact entry as a client sends it: who recorded it,
// when, and the lock are the system's to set.
type impactBody struct {
	ID          string   `json:"id"`
	Category    string   `json:"category"`
	Description string   `json:"description"`
	Unit        string   `json:"unit"`
	Target      *float64 `json:"target"`
	Forecast    *float64 `json:"forecast"`
	Actual      *float64 `json:"actual"`
	Recurrence  string   `json:"recurrence"`
}

func (s *Server) recordKaizenImpact(c echo.Context) error {
	var in impactBody
	if err := bind(c, &in); err != nil {
		return err
	}
	return s.updateProcess(c, opsflow.KindKaizen, workflows.UpdateKaizenImpact, workflows.KaizenImpactInput{Actor: actorOf(c), Entry: opsflow.ImpactEntry{
		ID: in.ID, Category: in.Category, Description: in.Description, Unit: in.Unit,
		Target: in.Target, Forecast: in.Forecast, Actual: in.Actual, Recurrence: in.Recurrence,
	}})
}

type reasonBody struct {
	Reason string `json:"reason"`
}

func (s *Server) cancelKaizen(c echo.Context) error {
	var in reasonBody
	if err := bind(c, &in); err != nil {
		return err
	}
	return s.updateProcess(c, opsflow.KindKaizen, workflows.UpdateKaizenCancel, workflows.KaizenCancel{Actor: actorOf(c), Reason: in.Reason})
}

// Task moves on a Kaizen board (countermeasures, regression follow-ups).
func (s *Server) startKaizenTask(c echo.Context) error {
	return s.moveTask(c, opsflow.KindKaizen, opsflow.TaskInProgress)
}
func (s *Server) completeKaizenTask(c echo.Context) error {
	return s.moveTask(c, opsflow.KindKaizen, opsflow.TaskDone)
}
func (s *Server) blockKaizenTask(c echo.Context) error {
	return s.moveTask(c, opsflow.KindKaizen, opsflow.TaskBlocked)
}
func (s *Server) skipKaizenTask(c echo.Context) error {
	return s.moveTask(c, opsflow.KindKaizen, opsflow.TaskSkipped)
}
