package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/workflows"
)

// The KPI loop's Temporal Schedules. Their IDs are fixed: one of each per
// namespace, whichever worker or API created it.
const (
	ScheduleMonthlyReport    = "opsflow-monthly-report"
	ScheduleReportCommentary = "opsflow-report-commentary"
	ScheduleBuiltinKPIs      = "opsflow-builtin-kpis"
)

// monthly is a calendar spec that fires once a month.
func monthly(day, hour, minute int, tz string) client.ScheduleSpec {
	return client.ScheduleSpec{Calendars: []client.ScheduleCalendarSpec{{
		Second: []client.ScheduleRange{{Start: 0}}, Minute: []client.ScheduleRange{{Start: minute}},
		Hour: []client.ScheduleRange{{Start: hour}}, DayOfMonth: []client.ScheduleRange{{Start: day}},
	}}, TimeZoneName: tz}
}

// upsertSchedule creates a schedule, or changes an existing one to the
// given spec and action. Overlap is always skip: a report still rendering
// when the next is due (a month later) is a fault to see, not to pile up.
// A day of catch-up lets a run missed while Temporal was down still
// happen; it keeps its scheduled time, so it reports on the right month.
func upsertSchedule(ctx context.Context, c client.Client, id string, spec client.ScheduleSpec, action *client.ScheduleWorkflowAction, paused bool) error {
	sc := c.ScheduleClient()
	_, err := sc.Create(ctx, client.ScheduleOptions{ID: id, Spec: spec, Action: action,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, CatchupWindow: 24 * time.Hour, Paused: paused})
	if err == nil {
		return nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("create schedule %s: %w", id, err)
	}
	err = sc.GetHandle(ctx, id).Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		s := in.Description.Schedule
		s.Spec, s.Action = &spec, action
		if s.Policy == nil {
			s.Policy = &client.SchedulePolicies{}
		}
		s.Policy.Overlap, s.Policy.CatchupWindow = enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, 24*time.Hour
		if s.State == nil {
			s.State = &client.ScheduleState{}
		}
		s.State.Paused = paused
		return &client.ScheduleUpdate{Schedule: &s}, nil
	}})
	if err != nil {
		return fmt.Errorf("update schedule %s: %w", id, err)
	}
	return nil
}

func deleteSchedule(ctx context.Context, c client.Client, id string) error {
	err := c.ScheduleClient().GetHandle(ctx, id).Delete(ctx)
	var nf *serviceerror.NotFound
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("delete schedule %s: %w", id, err)
	}
	return nil
}

// SyncReportSchedules makes Temporal's schedules say what the report
// settings say: the report on its day and time in its time zone, and the
// commentary round CommentaryDaysBefore days earlier (none when 0). day
// is the process day of the KPI watches the report's built-in
// measurement tells.
func SyncReportSchedules(ctx context.Context, c client.Client, queue string, s opsflow.ReportSettings, day time.Duration) error {
	in := workflows.MonthlyInput{TimeZone: s.TimeZone, CommentaryDays: s.CommentaryDaysBefore, Day: day}
	report := &client.ScheduleWorkflowAction{ID: "report-scheduled", Workflow: workflows.WorkflowMonthlyReport, Args: []any{in},
		TaskQueue: queue, WorkflowTaskTimeout: 5 * time.Second}
	if err := upsertSchedule(ctx, c, ScheduleMonthlyReport, monthly(s.DayOfMonth, s.Hour, s.Minute, s.TimeZone), report, s.Paused); err != nil {
		return err
	}
	if s.CommentaryDaysBefore == 0 {
		return deleteSchedule(ctx, c, ScheduleReportCommentary)
	}
	commentary := &client.ScheduleWorkflowAction{ID: "report-commentary", Workflow: workflows.WorkflowReportCommentary, Args: []any{in},
		TaskQueue: queue, WorkflowTaskTimeout: 5 * time.Second}
	return upsertSchedule(ctx, c, ScheduleReportCommentary, monthly(s.DayOfMonth-s.CommentaryDaysBefore, s.Hour, s.Minute, s.TimeZone), commentary, s.Paused)
}

// NextReportRuns lists the next times the report and its commentary
// round run, as Temporal's schedules say (empty when they do not exist).
func NextReportRuns(ctx context.Context, c client.Client) (report, commentary []time.Time, err error) {
	next := func(id string) ([]time.Time, error) {
		d, err := c.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return []time.Time{}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("describe schedule %s: %w", id, err)
		}
		out := []time.Time{}
		for _, t := range d.Info.NextActionTimes {
			out = append(out, t.UTC())
		}
		return out, nil
	}
	if report, err = next(ScheduleMonthlyReport); err != nil {
		return nil, nil, err
	}
	commentary, err = next(ScheduleReportCommentary)
	return report, commentary, err
}

// EnsureBuiltinSchedule creates, once per namespace, the schedule that
// measures the built-in KPIs on the 1st of every month at 00:30 UTC for
// the month before. An existing one is left as it is (an operator may have
// paused it in Temporal's UI).
func EnsureBuiltinSchedule(ctx context.Context, c client.Client, queue string, log *slog.Logger) error {
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{ID: ScheduleBuiltinKPIs, Spec: monthly(1, 0, 30, "UTC"),
		Action: &client.ScheduleWorkflowAction{ID: "builtin-kpis", Workflow: workflows.WorkflowMeasureBuiltinKPIs,
			Args: []any{workflows.MonthlyInput{TimeZone: "UTC"}}, TaskQueue: queue, WorkflowTaskTimeout: 5 * time.Second},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, CatchupWindow: 7 * 24 * time.Hour})
	switch {
	case err == nil:
		log.Info("schedule created", "schedule", ScheduleBuiltinKPIs, "task_queue", queue)
	case errors.Is(err, temporal.ErrScheduleAlreadyRunning):
	default:
		return fmt.Errorf("create schedule %s: %w", ScheduleBuiltinKPIs, err)
	}
	return nil
}

// registerKPIWorkflows registers the KPI loop's workflows: the KPI watch
// and the monthly cycle.
func registerKPIWorkflows(r sdkworker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(workflows.KPIWatch, workflow.RegisterOptions{Name: workflows.WorkflowKPIWatch})
	r.RegisterWorkflowWithOptions(workflows.MonthlyReport, workflow.RegisterOptions{Name: workflows.WorkflowMonthlyReport})
	r.RegisterWorkflowWithOptions(workflows.ReportCommentary, workflow.RegisterOptions{Name: workflows.WorkflowReportCommentary})
	r.RegisterWorkflowWithOptions(workflows.MeasureBuiltinKPIs, workflow.RegisterOptions{Name: workflows.WorkflowMeasureBuiltinKPIs})
}
