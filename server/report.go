package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/postgres"
	"github.com/opsflow/opsflow/worker"
	"github.com/opsflow/opsflow/workflows"
)

// The monthly executive report: stored reports (JSON, HTML, PDF), a run by
// hand for a month, and the schedule an administrator sets.

// reportStore is what the report handlers read and write.
type reportStore interface {
	ListReports(ctx context.Context, limit int, cursor string) (opsflow.Page[opsflow.Report], error)
	GetReport(ctx context.Context, id string) (postgres.StoredReport, error)
	ReportByPeriod(ctx context.Context, period string) (postgres.StoredReport, error)
	ReportSettings(ctx context.Context) (opsflow.ReportSettings, bool, error)
	SaveReportSettings(ctx context.Context, s opsflow.ReportSettings, actor opsflow.Actor) (opsflow.ReportSettings, error)
}

func (s *Server) listReports(c echo.Context) error {
	limit, err := queryInt(c, "limit", opsflow.DefaultPageSize, 1, opsflow.MaxPageSize)
	if err != nil {
		return err
	}
	page, err := s.Store.ListReports(c.Request().Context(), limit, c.QueryParam("cursor"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

// getReport serves a report: JSON (what it says, its hashes), or the
// stored HTML or PDF — append .html or .pdf to the ID, or ask with
// ?format=html|pdf. The bytes are the stored ones: their SHA-256 is the
// one the JSON and the audit trail name.
func (s *Server) getReport(c echo.Context) error {
	id, format := c.Param("id"), c.QueryParam("format")
	for _, ext := range []string{"html", "pdf"} {
		if base, ok := strings.CutSuffix(id, "."+ext); ok {
			id, format = base, ext
		}
	}
	r, err := s.Store.GetReport(c.Request().Context(), id)
	if err != nil {
		return err
	}
	c.Response().Header().Set("ETag", `"`+r.PDFSHA256+`"`)
	switch format {
	case "", "json":
		return c.JSON(http.StatusOK, r.Report)
	case "html":
		c.Response().Header().Set("ETag", `"`+r.HTMLSHA256+`"`)
		return c.Blob(http.StatusOK, "text/html; charset=utf-8", r.HTML)
	case "pdf":
		c.Response().Header().Set(echo.HeaderContentDisposition, `inline; filename="opsflow-report-`+r.Period+`.pdf"`)
		return c.Blob(http.StatusOK, "application/pdf", r.PDF)
	}
	return opsflow.Invalid("format", "format must be json, html or pdf")
}

// runReportBody asks for a month's report now.
type runReportBody struct {
	Period   string `json:"period"`              // YYYY-MM
	TimeZone string `json:"time_zone,omitempty"` // the schedule's, or UTC
}

// runReport runs a month's report now, the same workflow the schedule
// starts (built-in KPIs measured for the month, then the report rendered
// and stored). A month that has its report answers 200 with it: a re-run
// never makes a second one.
func (s *Server) runReport(c echo.Context) error {
	if err := requireAny(c, opsflow.RolesRunReport...); err != nil {
		return err
	}
	var in runReportBody
	if err := bind(c, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if in.TimeZone == "" {
		in.TimeZone = "UTC"
		if st, ok, err := s.Store.ReportSettings(ctx); err != nil {
			return err
		} else if ok {
			in.TimeZone = st.TimeZone
		}
	}
	loc, err := time.LoadLocation(in.TimeZone)
	if err != nil {
		return opsflow.Invalid("time_zone", "time_zone must be an IANA time zone, e.g. Europe/Berlin")
	}
	p, err := opsflow.ParsePeriod(in.Period, loc)
	if err != nil {
		return err
	}
	if p.To.After(s.Now()) {
		// A report is stored once and never changed: one made from part
		// of a month would stand in for the whole month for good.
		return opsflow.Invalid("period", "%s has not ended yet", p.Month)
	}
	if r, err := s.Store.ReportByPeriod(ctx, p.Month); err == nil {
		return c.JSON(http.StatusOK, r.Report)
	} else if opsflow.ErrorCode(err) != opsflow.ENOTFOUND {
		return err
	}
	id := "report-" + p.Month
	wait, cancel := s.updateDeadline(ctx)
	defer cancel()
	run, err := s.Temporal.ExecuteWorkflow(wait, client.StartWorkflowOptions{
		ID: id, TaskQueue: s.TaskQueue,
		// A run in progress for the month is joined; a failed one may run
		// again (the stored report, not the workflow ID, makes it once).
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowTaskTimeout:      workflowTaskTimeout,
	}, workflows.WorkflowMonthlyReport, workflows.MonthlyInput{Period: p.Month, TimeZone: in.TimeZone, By: userOf(c).ID, Day: s.Day})
	var ref workflows.ReportRef
	if err == nil {
		err = run.Get(wait, &ref)
	}
	if err != nil {
		if wait.Err() != nil && ctx.Err() == nil {
			loc := "/v1/reports/" + opsflow.ReportID(p.Month)
			c.Response().Header().Set(echo.HeaderLocation, loc)
			c.Response().Header().Set("Retry-After", "5")
			return c.JSON(http.StatusAccepted, acceptedBody{Status: "accepted", ID: opsflow.ReportID(p.Month), Location: loc, UpdateID: id,
				Message: "the report is being rendered; read " + loc + " shortly, or repeat the request"})
		}
		return err
	}
	r, err := s.Store.GetReport(ctx, ref.ID)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/reports/"+r.ID)
	status := http.StatusCreated
	if !ref.Created {
		status = http.StatusOK
	}
	return c.JSON(status, r.Report)
}

// reportSchedule is the report schedule with the next runs Temporal has
// planned.
type reportSchedule struct {
	opsflow.ReportSettings
	NextReport     []time.Time `json:"next_report"`
	NextCommentary []time.Time `json:"next_commentary"`
}

func (s *Server) scheduleView(ctx context.Context, st opsflow.ReportSettings) (reportSchedule, error) {
	out := reportSchedule{ReportSettings: st, NextReport: []time.Time{}, NextCommentary: []time.Time{}}
	rep, com, err := worker.NextReportRuns(ctx, s.Temporal)
	if err != nil {
		return out, err
	}
	out.NextReport, out.NextCommentary = rep, com
	return out, nil
}

func (s *Server) getReportSchedule(c echo.Context) error {
	st, ok, err := s.Store.ReportSettings(c.Request().Context())
	if err != nil {
		return err
	}
	if !ok {
		return &opsflow.Error{Code: opsflow.ENOTFOUND, Message: "no report schedule yet: an administrator sets one with PUT /v1/admin/report-schedule"}
	}
	v, err := s.scheduleView(c.Request().Context(), st)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// putReportSchedule sets when the monthly report runs (a calendar day and
// time in a time zone), the commentary round before it, and the
// distribution list; Temporal's schedules follow.
func (s *Server) putReportSchedule(c echo.Context) error {
	if err := requireAny(c, opsflow.RoleAdmin); err != nil {
		return err
	}
	var in opsflow.ReportSettings
	if err := bind(c, &in); err != nil {
		return err
	}
	if in.UpdatedBy != "" || in.UpdatedAt != nil {
		return opsflow.Invalid("updated_by", "updated_by and updated_at are the server's to set")
	}
	_, locErr := time.LoadLocation(in.TimeZone)
	if in.TimeZone == "Local" {
		locErr = errors.New("a named zone is required")
	}
	if in.Distribution == nil {
		in.Distribution = []string{}
	}
	if err := in.Check(locErr); err != nil {
		return err
	}
	ctx := c.Request().Context()
	st, err := s.Store.SaveReportSettings(ctx, in, actorOf(c))
	if err != nil {
		return err
	}
	if err := worker.SyncReportSchedules(ctx, s.Temporal, s.TaskQueue, st, s.Day); err != nil {
		s.log.WarnContext(ctx, "report schedules not synchronised", "error", err)
		return opsflow.Errorf(opsflow.EUNAVAILABLE, "the settings are stored but Temporal's schedules were not updated: repeat the request")
	}
	v, err := s.scheduleView(ctx, st)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// reportRoutes are the monthly report's routes.
func (s *Server) reportRoutes() []op {
	return []op{
		{method: "GET", path: "/v1/reports", id: "listReports", tag: "reports", summary: "Monthly reports, newest month first",
			resp: typeOf[opsflow.Report](), list: true, query: []param{pLimit, pCursor}, rule: roles(opsflow.RoleOwner, opsflow.RoleApprover, opsflow.RoleAuditor, opsflow.RoleAdmin), handler: s.listReports},
		{method: "GET", path: "/v1/reports/:id", id: "getReport", tag: "reports", summary: "One monthly report: JSON, or its HTML or PDF",
			doc:  "Append .html or .pdf to the ID (rpt-2026-10.pdf), or ask with ?format=html|pdf. The bytes are the stored, immutable ones; their SHA-256 is in the JSON and the report's audit event.",
			resp: typeOf[opsflow.Report](), content: []string{"application/json", "text/html", "application/pdf"}, rule: roles(opsflow.RoleOwner, opsflow.RoleApprover, opsflow.RoleAuditor, opsflow.RoleAdmin), handler: s.getReport,
			query: []param{{"format", "string", "json (default), html or pdf", []string{"json", "html", "pdf"}}}},
		{method: "POST", path: "/v1/reports", id: "runReport", tag: "reports", summary: "Run a month's report now (approver, admin)",
			doc:  "The schedule's workflow, for a month named: the built-in KPIs are measured, the report rendered (HTML, and PDF by headless Chromium) and stored once. A month that has its report answers 200 with it.",
			body: typeOf[runReportBody](), example: runReportBody{Period: "2025-10", TimeZone: "Europe/Berlin"},
			resp: typeOf[opsflow.Report](), status: http.StatusCreated, step: true, rule: roles(opsflow.RolesRunReport...), handler: s.runReport},
		{method: "GET", path: "/v1/admin/report-schedule", id: "getReportSchedule", tag: "reports", summary: "When the monthly report runs, and its next runs",
			doc:  "404 until an administrator has set it.",
			resp: typeOf[reportSchedule](), errs: []int{http.StatusNotFound}, rule: roles(opsflow.RoleAuditor, opsflow.RoleAdmin), handler: s.getReportSchedule},
		{method: "PUT", path: "/v1/admin/report-schedule", id: "setReportSchedule", tag: "reports", summary: "Set when the monthly report runs, and who receives it (admin)",
			doc: "A Temporal Schedule runs the report on day_of_month at hour:minute in time_zone (overlap: skip), for the month before; " +
				"commentary_days_before days earlier another opens a commentary task for the owner of each red or amber KPI. " +
				"Each run is keyed by its scheduled time, so a re-run never makes a second report. The distribution list is queued on the notifications outbox.",
			body: typeOf[opsflow.ReportSettings](), example: opsflow.ReportSettings{DayOfMonth: 5, Hour: 7, Minute: 0, TimeZone: "Europe/Berlin",
				CommentaryDaysBefore: 3, Distribution: []string{"exec-team@example.com"}},
			resp: typeOf[reportSchedule](), rule: roles(opsflow.RoleAdmin), handler: s.putReportSchedule},
	}
}
