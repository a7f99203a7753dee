package server

import (
	"context"
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
	if err := requireAny(c, opsflow.StartRoles(opsflow.KindKaizen)...); err != nil {
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
	if err := s.checkPeople(ctx, req); err != nil {
		return err
	}
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
