package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// The monthly cycle of the KPI loop, as short workflows a Temporal
// Schedule starts (or the API, for a month run by hand):
//
//   - ReportCommentary, some days before the report: the owners of red and
//     amber KPIs get a task to comment on the month;
//   - MonthlyReport, on the report's day: the built-in KPIs are measured
//     for the month, then the report is rendered (HTML and PDF) and stored
//     once;
//   - MeasureBuiltinKPIs, on the 1st: the built-in KPIs for the month
//     before, so their charts and watches move even without a report.
//
// Each is keyed by the month it covers: a schedule's run reports on the
// month before its scheduled time (TemporalScheduledStartTime, which a
// catch-up or a retry keeps), and every step is idempotent by that month,
// so a re-run for a month never makes a second report or measurement.

// Workflow types of the monthly cycle.
const (
	WorkflowMonthlyReport      = "MonthlyReport"
	WorkflowReportCommentary   = "ReportCommentary"
	WorkflowMeasureBuiltinKPIs = "MeasureBuiltinKPIs"
)

// Activities of the monthly cycle.
const (
	ActivityMeasureBuiltinKPIs  = "MeasureBuiltinKPIs"
	ActivityGenerateReport      = "GenerateReport"
	ActivityOpenCommentaryTasks = "OpenCommentaryTasks"
)

// ScheduledStartTime is the search attribute a Temporal Schedule sets on
// every run it starts: the time the run was scheduled for.
var ScheduledStartTime = temporal.NewSearchAttributeKeyTime("TemporalScheduledStartTime")

// MonthlyInput starts one of the monthly workflows. A schedule's run
// leaves Period empty and reports on the month before its scheduled
// time, in TimeZone; a run by hand names the Period.
type MonthlyInput struct {
	Period   string `json:"period,omitempty"` // YYYY-MM
	TimeZone string `json:"time_zone"`
	// By is who asked for a run by hand ("" for the schedule).
	By string `json:"by,omitempty"`
	// CommentaryDays is how long owners have to comment (the commentary
	// round's tasks are due that many days after it).
	CommentaryDays int `json:"commentary_days,omitempty"`
	// Day is the process day of the KPI watches the built-in KPIs tell.
	Day time.Duration `json:"day,omitempty"`
}

// MonthRequest is the input of the monthly activities: the month (or the
// scheduled time it derives from) and its time zone.
type MonthRequest struct {
	Period         string        `json:"period,omitempty"`
	ScheduledAt    *time.Time    `json:"scheduled_at,omitempty"`
	TimeZone       string        `json:"time_zone"`
	By             string        `json:"by,omitempty"`
	CommentaryDays int           `json:"commentary_days,omitempty"`
	Day            time.Duration `json:"day,omitempty"`
}

// ReportRef names a stored report.
type ReportRef struct {
	ID      string `json:"id"`
	Period  string `json:"period"`
	Created bool   `json:"created"` // false: the month's report existed already
}

// BuiltinOutcome says what a measurement of the built-in KPIs added.
type BuiltinOutcome struct {
	Period string `json:"period"`
	Added  int    `json:"added"`
}

// CommentaryOutcome says how many commentary tasks were opened.
type CommentaryOutcome struct {
	Period string `json:"period"`
	Opened int    `json:"opened"`
}

// monthlyOptions: reading the month and rendering the report (Chromium)
// take seconds; every step is idempotent by the month, so retries are
// safe, but a report that cannot be printed should fail visibly in
// minutes rather than retry for days.
var monthlyOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 5 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    2 * time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
		MaximumAttempts:    10,
	},
}

// month is the activities' request for this run: the period named, else
// the schedule's time.
func month(ctx workflow.Context, in MonthlyInput) MonthRequest {
	r := MonthRequest{Period: in.Period, TimeZone: in.TimeZone, By: in.By, CommentaryDays: in.CommentaryDays, Day: in.Day}
	if r.Period == "" {
		at, ok := workflow.GetTypedSearchAttributes(ctx).GetTime(ScheduledStartTime)
		if !ok {
			// Started without a schedule and without a period: the run's
			// start stands in (it is fixed in the history, like the
			// attribute).
			at = workflow.GetInfo(ctx).WorkflowStartTime
		}
		at = at.UTC()
		r.ScheduledAt = &at
	}
	return r
}

// MonthlyReport measures the built-in KPIs for the month and renders and
// stores its report, once.
func MonthlyReport(ctx workflow.Context, in MonthlyInput) (ReportRef, error) {
	actx := workflow.WithActivityOptions(ctx, monthlyOptions)
	req := month(ctx, in)
	var b BuiltinOutcome
	if err := workflow.ExecuteActivity(actx, ActivityMeasureBuiltinKPIs, req).Get(ctx, &b); err != nil {
		return ReportRef{}, fmt.Errorf("measure built-in kpis: %w", err)
	}
	var ref ReportRef
	if err := workflow.ExecuteActivity(actx, ActivityGenerateReport, req).Get(ctx, &ref); err != nil {
		return ReportRef{}, fmt.Errorf("generate report: %w", err)
	}
	return ref, nil
}

// ReportCommentary opens a commentary task for the owner of every KPI that
// is red or amber for the month the next report covers.
func ReportCommentary(ctx workflow.Context, in MonthlyInput) (CommentaryOutcome, error) {
	actx := workflow.WithActivityOptions(ctx, monthlyOptions)
	var out CommentaryOutcome
	if err := workflow.ExecuteActivity(actx, ActivityOpenCommentaryTasks, month(ctx, in)).Get(ctx, &out); err != nil {
		return out, fmt.Errorf("open commentary tasks: %w", err)
	}
	return out, nil
}

// MeasureBuiltinKPIs measures the built-in KPIs for the month before.
func MeasureBuiltinKPIs(ctx workflow.Context, in MonthlyInput) (BuiltinOutcome, error) {
	actx := workflow.WithActivityOptions(ctx, monthlyOptions)
	var out BuiltinOutcome
	if err := workflow.ExecuteActivity(actx, ActivityMeasureBuiltinKPIs, month(ctx, in)).Get(ctx, &out); err != nil {
		return out, fmt.Errorf("measure built-in kpis: %w", err)
	}
	return out, nil
}
