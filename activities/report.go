package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/kpichart"
	"github.com/opsflow/opsflow/postgres"
	"github.com/opsflow/opsflow/report"
	"github.com/opsflow/opsflow/workflows"
)

// period resolves a monthly request to its month: the one named, or the
// month before the scheduled time, in the request's time zone.
func period(r workflows.MonthRequest) (opsflow.Period, *time.Location, error) {
	tz := r.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return opsflow.Period{}, nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("time zone %q: %v", tz, err), "report.time_zone", err)
	}
	if r.Period != "" {
		p, err := opsflow.ParsePeriod(r.Period, loc)
		if err != nil {
			return p, nil, temporal.NewNonRetryableApplicationError(err.Error(), "report.period", err)
		}
		return p, loc, nil
	}
	at := time.Now()
	if r.ScheduledAt != nil {
		at = *r.ScheduledAt
	}
	return opsflow.PeriodBefore(at, loc), loc, nil
}

// TellKPIWatch tells a KPI's watch that something changed, starting the
// watch if it is not running (Signal-with-Start on the watch's fixed
// workflow ID). The API calls it after measurements and definition
// changes; the built-in KPIs after their monthly measurement.
func TellKPIWatch(ctx context.Context, c client.Client, queue, key string, day time.Duration, change workflows.KPIChange) error {
	_, err := c.SignalWithStartWorkflow(ctx, workflows.KPIWatchID(key), workflows.SignalKPIChanged, change, client.StartWorkflowOptions{
		TaskQueue: queue,
		// A watch that ended (failed, or terminated by an operator) is
		// started again by the next change.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowTaskTimeout:   5 * time.Second,
	}, workflows.WorkflowKPIWatch, workflows.KPIWatchInput{KPI: key, Day: day})
	if err != nil {
		return fmt.Errorf("tell the watch of kpi %s: %w", key, err)
	}
	return nil
}

func records[T any](ps []opsflow.Process) ([]T, error) {
	out := make([]T, 0, len(ps))
	for _, p := range ps {
		var v T
		if err := json.Unmarshal(p.Record, &v); err != nil {
			return nil, fmt.Errorf("decode %s: %w", p.ID, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// MeasureBuiltinKPIs measures the built-in KPIs for a month from the read
// model and tells their watches. A month already measured keeps its values
// (the measurement IDs are builtin-YYYY-MM).
func (a *Activities) MeasureBuiltinKPIs(ctx context.Context, r workflows.MonthRequest) (workflows.BuiltinOutcome, error) {
	p, _, err := period(r)
	if err != nil {
		return workflows.BuiltinOutcome{}, err
	}
	in := opsflow.BuiltinInput{Period: p}
	for _, k := range []opsflow.Kind{opsflow.KindCAPA, opsflow.KindKaizen, opsflow.KindOnboarding} {
		ps, err := a.Store.ProcessesActiveIn(ctx, k, p.From, p.To)
		if err != nil {
			return workflows.BuiltinOutcome{}, classify(err)
		}
		switch k {
		case opsflow.KindCAPA:
			in.CAPAs, err = records[opsflow.CAPA](ps)
		case opsflow.KindKaizen:
			in.Kaizens, err = records[opsflow.Kaizen](ps)
		case opsflow.KindOnboarding:
			in.Onboardings, err = records[opsflow.Onboarding](ps)
		}
		if err != nil {
			return workflows.BuiltinOutcome{}, temporal.NewNonRetryableApplicationError(err.Error(), "builtin.record", err)
		}
	}
	if in.Tasks, err = a.Store.TasksDueBefore(ctx, p.To); err != nil {
		return workflows.BuiltinOutcome{}, classify(err)
	}
	ms := opsflow.BuiltinMeasurements(p, opsflow.MeasureBuiltins(in), now())
	added, err := a.Store.AddSystemMeasurements(ctx, ms)
	if err != nil {
		return workflows.BuiltinOutcome{}, classify(err)
	}
	day := r.Day
	if day <= 0 {
		day = 24 * time.Hour
	}
	for _, m := range ms {
		if err := TellKPIWatch(ctx, activity.GetClient(ctx), activity.GetInfo(ctx).TaskQueue, m.KPI, day,
			workflows.KPIChange{Reason: "measurements", Count: 1}); err != nil {
			return workflows.BuiltinOutcome{}, err
		}
	}
	a.logger().InfoContext(ctx, "built-in kpis measured", "period", p.Month, "values", len(ms), "added", added)
	return workflows.BuiltinOutcome{Period: p.Month, Added: added}, nil
}

// monthData reads what a month's report and its commentary round judge.
func (a *Activities) monthData(ctx context.Context, p opsflow.Period) (report.Input, error) {
	in := report.Input{Period: p, Measurements: map[string][]opsflow.Measurement{}, Links: map[string][]opsflow.KPILink{},
		Commentary: map[string]string{}, CommentaryDue: true, Now: now()}
	var err error
	if in.KPIs, err = a.Store.AllKPIDefinitions(ctx); err != nil {
		return in, err
	}
	for _, d := range in.KPIs {
		if in.Measurements[d.Key], err = a.Store.AllMeasurements(ctx, d.Key, p.To); err != nil {
			return in, err
		}
		if in.Links[d.Key], err = a.Store.KPILinks(ctx, d.Key); err != nil {
			return in, err
		}
	}
	cs, err := a.Store.Commentaries(ctx, p.Month)
	if err != nil {
		return in, err
	}
	for k, c := range cs {
		in.Commentary[k] = c.Text
	}
	seen := map[string]bool{}
	for _, k := range []opsflow.Kind{opsflow.KindCAPA, opsflow.KindKaizen, opsflow.KindOnboarding} {
		during, err := a.Store.ProcessesActiveIn(ctx, k, p.From, p.To)
		if err != nil {
			return in, err
		}
		// And those open now: a report lists what is open when it is made.
		open, err := a.Store.ProcessesActiveIn(ctx, k, in.Now, in.Now.Add(time.Nanosecond))
		if err != nil {
			return in, err
		}
		for _, ps := range append(during, open...) {
			if !seen[ps.ID] {
				seen[ps.ID] = true
				in.Processes = append(in.Processes, ps)
			}
		}
	}
	return in, nil
}

// GenerateReport renders a month's report (HTML, then the same HTML
// printed to PDF by headless Chromium) and stores it with its SHA-256, an
// audit event and the delivery hook for its distribution list. A month
// that has a report keeps it: a second run returns the stored one.
func (a *Activities) GenerateReport(ctx context.Context, r workflows.MonthRequest) (workflows.ReportRef, error) {
	p, _, err := period(r)
	if err != nil {
		return workflows.ReportRef{}, err
	}
	if got, err := a.Store.ReportByPeriod(ctx, p.Month); err == nil {
		return workflows.ReportRef{ID: got.ID, Period: got.Period}, nil
	} else if opsflow.ErrorCode(err) != opsflow.ENOTFOUND {
		return workflows.ReportRef{}, classify(err)
	}
	in, err := a.monthData(ctx, p)
	if err != nil {
		return workflows.ReportRef{}, classify(err)
	}
	pg, err := report.Build(in)
	if err != nil {
		return workflows.ReportRef{}, temporal.NewNonRetryableApplicationError(err.Error(), "report.build", err)
	}
	html, err := report.HTML(pg)
	if err != nil {
		return workflows.ReportRef{}, temporal.NewNonRetryableApplicationError(err.Error(), "report.html", err)
	}
	pdf, err := report.PDF(ctx, html)
	if err != nil {
		return workflows.ReportRef{}, err // Chromium may start next time: retried
	}
	settings, _, err := a.Store.ReportSettings(ctx)
	if err != nil {
		return workflows.ReportRef{}, classify(err)
	}
	by := r.By
	if by == "" {
		by = opsflow.SystemActor.ID
	}
	dist := settings.Distribution
	if dist == nil {
		dist = []string{}
	}
	stored, created, err := a.Store.SaveReport(ctx, postgres.StoredReport{Report: opsflow.Report{
		ID: opsflow.ReportID(p.Month), Period: p.Month, TimeZone: pg.TimeZone, ScheduledAt: r.ScheduledAt, GeneratedAt: pg.GeneratedAt,
		GeneratedBy: by, Distribution: dist, Content: pg.Content}, HTML: html, PDF: pdf})
	if err != nil {
		return workflows.ReportRef{}, classify(err)
	}
	a.logger().InfoContext(ctx, "monthly report", "period", p.Month, "id", stored.ID, "created", created, "kpis", len(pg.Content.KPIs),
		"pdf_bytes", len(pdf), "pdf_sha256", stored.PDFSHA256)
	return workflows.ReportRef{ID: stored.ID, Period: stored.Period, Created: created}, nil
}

// OpenCommentaryTasks opens, for the month the next report covers, a task
// for the owner of each red or amber KPI that has no commentary yet.
func (a *Activities) OpenCommentaryTasks(ctx context.Context, r workflows.MonthRequest) (workflows.CommentaryOutcome, error) {
	p, _, err := period(r)
	if err != nil {
		return workflows.CommentaryOutcome{}, err
	}
	in, err := a.monthData(ctx, p)
	if err != nil {
		return workflows.CommentaryOutcome{}, classify(err)
	}
	t := now()
	days := r.CommentaryDays
	if days <= 0 {
		days = 3
	}
	due := t.AddDate(0, 0, days)
	opened := 0
	for _, d := range in.KPIs {
		ms := in.Measurements[d.Key]
		if len(ms) == 0 || in.Commentary[d.Key] != "" {
			continue
		}
		c, err := kpichart.Build(d, ms)
		if err != nil {
			a.logger().WarnContext(ctx, "kpi not charted for commentary", "kpi", d.Key, "error", err)
			continue
		}
		st := kpichart.PeriodStatus(d, c, p.From, p.To)
		if st.Status != opsflow.Red && st.Status != opsflow.Amber {
			continue
		}
		assignee, role := d.TaskAssignee()
		task := opsflow.Task{ID: postgres.CommentaryTaskID(p.Month), Kind: postgres.KPITaskCommentary,
			Title:       cut(fmt.Sprintf("Comment on %s for %s: %s", d.Name, p.Month, st.Status), 200),
			Description: fmt.Sprintf("One line for the monthly report (POST /v1/kpis/%s/commentary): %s", d.Key, joinReasons(st.Reasons)),
			OwnerType:   "owner", Assignee: assignee, Role: role, State: opsflow.TaskOpen, DueAt: &due, Weight: 1}
		raised, err := a.Store.RaiseKPITask(ctx, d.Key, task, t)
		if err != nil {
			return workflows.CommentaryOutcome{}, classify(err)
		}
		if raised {
			opened++
		}
	}
	a.logger().InfoContext(ctx, "commentary round", "period", p.Month, "opened", opened)
	return workflows.CommentaryOutcome{Period: p.Month, Opened: opened}, nil
}

func joinReasons(rs []string) string {
	out := ""
	for i, r := range rs {
		if i > 0 {
			out += "; "
		}
		out += r
	}
	return out
}
