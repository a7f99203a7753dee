package opsflow

import (
	"fmt"
	"regexp"
	"slices"
	"time"
)

// Period is a calendar month in a time zone: what the monthly report and
// the built-in KPIs measure over. From is its first instant, To the first
// instant of the next month.
type Period struct {
	Month string    `json:"month"` // YYYY-MM
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
}

var periodMonth = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

// ParsePeriod reads a month (2026-10) in loc.
func ParsePeriod(month string, loc *time.Location) (Period, error) {
	if !periodMonth.MatchString(month) {
		return Period{}, Invalid("period", "period must be a month, YYYY-MM (e.g. 2026-10)")
	}
	t, err := time.ParseInLocation("2006-01", month, loc)
	if err != nil {
		return Period{}, Invalid("period", "period %q: %v", month, err)
	}
	return Period{Month: month, From: t, To: t.AddDate(0, 1, 0)}, nil
}

// PeriodBefore is the month before the one that holds t in loc: what a
// report run at t reports on. A run scheduled for 5 November reports on
// October, however late it actually runs.
func PeriodBefore(t time.Time, loc *time.Location) Period {
	l := t.In(loc)
	first := time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, loc).AddDate(0, -1, 0)
	return Period{Month: first.Format("2006-01"), From: first, To: first.AddDate(0, 1, 0)}
}

// Months returns the n months ending with p, oldest first (a report's
// 12-month chart window starts at the first one's From).
func (p Period) Months(n int) []Period {
	out := make([]Period, n)
	for i := range n {
		from := p.From.AddDate(0, i-n+1, 0)
		out[i] = Period{Month: from.Format("2006-01"), From: from, To: from.AddDate(0, 1, 0)}
	}
	return out
}

// Contains reports whether t lies in the period.
func (p Period) Contains(t time.Time) bool { return !t.Before(p.From) && t.Before(p.To) }

// Built-in KPIs: measured from opsflow's own records every month, so a
// manager has them on day one. They are ordinary KPIs (charts, signals,
// targets, the report); their definitions are registered by a migration
// and their measurements are dated on the first of the month they
// describe, with the ID builtin-YYYY-MM.
const (
	BuiltinCAPAOnTime        = "opsflow.capa.on_time_closure"
	BuiltinCAPADaysToClose   = "opsflow.capa.days_to_close"
	BuiltinCAPAEffectiveness = "opsflow.capa.effectiveness"
	BuiltinOverdueTasks      = "opsflow.tasks.overdue"
	BuiltinDay1Ready         = "opsflow.onboarding.day1_ready"
	BuiltinOnboardingOnTime  = "opsflow.onboarding.on_time"
	BuiltinOnboardingDays    = "opsflow.onboarding.days_to_complete"
	BuiltinKaizenCycleDays   = "opsflow.kaizen.cycle_days"
	BuiltinKaizenImpact      = "opsflow.kaizen.realised_impact"
)

// BuiltinKeys lists the built-in KPIs in report order.
var BuiltinKeys = []string{BuiltinCAPAOnTime, BuiltinCAPADaysToClose, BuiltinCAPAEffectiveness, BuiltinOverdueTasks,
	BuiltinDay1Ready, BuiltinOnboardingOnTime, BuiltinOnboardingDays, BuiltinKaizenCycleDays, BuiltinKaizenImpact}

// IsBuiltin reports whether key names a built-in KPI.
func IsBuiltin(key string) bool { return slices.Contains(BuiltinKeys, key) }

// BuiltinID is the measurement ID of a built-in KPI's value for a month:
// measuring a month again adds nothing.
func BuiltinID(month string) string { return "builtin-" + month }

// BuiltinInput is what the built-in KPIs are computed from: every process
// open at some time during the period, and the tasks due before its end.
type BuiltinInput struct {
	Period      Period
	CAPAs       []CAPA
	Kaizens     []Kaizen
	Onboardings []Onboarding
	Tasks       []Task // tasks of every process due before Period.To
}

// onTime reports whether every finished task was done by its due date.
func onTime(tasks []Task) bool {
	for _, t := range tasks {
		if t.State == TaskDone && t.DueAt != nil && t.CompletedAt != nil && t.CompletedAt.After(*t.DueAt) {
			return false
		}
	}
	return true
}

func days(d time.Duration) float64 { return d.Hours() / 24 }

// MeasureBuiltins computes the built-in KPIs for a period. A KPI with
// nothing to measure in the period (no CAPA closed, no onboarding
// started) has no value: a zero would read as a real, terrible month.
func MeasureBuiltins(in BuiltinInput) map[string]float64 {
	p := in.Period
	out := map[string]float64{}
	var closed, closedOnTime int
	var closeDays float64
	var effective, judged int
	for _, c := range in.CAPAs {
		if (c.State == CAPAClosed || c.State == CAPAClosedNoCAPA) && c.ClosedAt != nil && p.Contains(*c.ClosedAt) {
			closed++
			closeDays += days(c.ClosedAt.Sub(c.OpenedAt))
			if onTime(c.Tasks) {
				closedOnTime++
			}
		}
		results := []EffectivenessResult{}
		if c.Effectiveness != nil {
			results = append(results, c.Effectiveness.Results...)
		}
		for _, cy := range c.Cycles {
			results = append(results, cy.Result)
		}
		for _, r := range results {
			if !p.Contains(r.At) {
				continue
			}
			switch r.Outcome {
			case OutcomeEffective:
				effective++
				judged++
			case OutcomeIneffective:
				judged++
			}
		}
	}
	if closed > 0 {
		out[BuiltinCAPAOnTime] = Round4(float64(closedOnTime) / float64(closed) * 100)
		out[BuiltinCAPADaysToClose] = Round4(closeDays / float64(closed))
	}
	if judged > 0 {
		out[BuiltinCAPAEffectiveness] = Round4(float64(effective) / float64(judged) * 100)
	}

	// Overdue at the end of the period: due before it, and not finished
	// by then (still active, or done after it).
	overdue := 0
	for _, t := range in.Tasks {
		if t.DueAt == nil || !t.DueAt.Before(p.To) || t.State == TaskCancelled || t.State == TaskSkipped || t.State == TaskScheduled {
			continue
		}
		if t.State.Active() || (t.State == TaskDone && t.CompletedAt != nil && !t.CompletedAt.Before(p.To)) {
			overdue++
		}
	}
	out[BuiltinOverdueTasks] = float64(overdue)

	var started, ready, completed, completedOnTime int
	var completeDays float64
	for _, o := range in.Onboardings {
		if o.State != OnboardingCancelled && !o.Placement.StartAt.IsZero() && p.Contains(o.Placement.StartAt) {
			started++
			if o.Day1Ready {
				ready++
			}
		}
		if o.State == OnboardingCompleted && o.ClosedAt != nil && p.Contains(*o.ClosedAt) {
			completed++
			completeDays += days(o.ClosedAt.Sub(o.Placement.StartAt))
			if onTime(o.Tasks) {
				completedOnTime++
			}
		}
	}
	if started > 0 {
		out[BuiltinDay1Ready] = Round4(float64(ready) / float64(started) * 100)
	}
	if completed > 0 {
		out[BuiltinOnboardingOnTime] = Round4(float64(completedOnTime) / float64(completed) * 100)
		out[BuiltinOnboardingDays] = Round4(completeDays / float64(completed))
	}

	var kzClosed int
	var kzDays, impact float64
	for _, k := range in.Kaizens {
		if k.Phase != KaizenClosed || k.ClosedAt == nil || !p.Contains(*k.ClosedAt) {
			continue
		}
		kzClosed++
		kzDays += days(k.ClosedAt.Sub(k.OpenedAt))
		for _, e := range k.Impact {
			if e.Category == ImpactHardSavings && e.Actual != nil {
				impact += *e.Actual
			}
		}
	}
	if kzClosed > 0 {
		out[BuiltinKaizenCycleDays] = Round4(kzDays / float64(kzClosed))
		out[BuiltinKaizenImpact] = Round4(impact)
	}
	return out
}

// BuiltinMeasurements turns a month's figures into measurements, in key
// order, dated on the period's first day.
func BuiltinMeasurements(p Period, figures map[string]float64, now time.Time) []Measurement {
	var out []Measurement
	for _, key := range BuiltinKeys {
		v, ok := figures[key]
		if !ok {
			continue
		}
		out = append(out, Measurement{ID: BuiltinID(p.Month), KPI: key, Value: v, At: p.From.UTC(),
			Source: fmt.Sprintf("opsflow records, %s", p.Month), RecordedBy: SystemActor.ID, RecordedAt: now})
	}
	return out
}
