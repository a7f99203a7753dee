package opsflow

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func f(v float64) *float64 { return &v }

func TestKPISpecCheckNamesTheField(t *testing.T) {
	ok := DefaultKPISpec()
	cases := []struct {
		name  string
		dir   Direction
		edit  func(*KPISpec)
		field string
	}{
		{"default", LowerIsBetter, func(*KPISpec) {}, ""},
		{"frequency", LowerIsBetter, func(s *KPISpec) { s.Frequency = "hourly" }, "frequency"},
		{"grace", LowerIsBetter, func(s *KPISpec) { s.Missing = MissingRule{Enabled: true, GraceDays: -1} }, "missing.grace_days"},
		// Lower is better: amber must be below red.
		{"thresholds in order", LowerIsBetter, func(s *KPISpec) { s.Thresholds = Thresholds{Amber: f(4.5), Red: f(5.5)} }, ""},
		{"thresholds reversed", LowerIsBetter, func(s *KPISpec) { s.Thresholds = Thresholds{Amber: f(5.5), Red: f(4.5)} }, "thresholds.red"},
		{"thresholds higher", HigherIsBetter, func(s *KPISpec) { s.Thresholds = Thresholds{Amber: f(95), Red: f(90)} }, ""},
		{"policy action", LowerIsBetter, func(s *KPISpec) { s.Policy.Action = "email" }, "policy.action"},
		{"kaizen needs a sponsor", LowerIsBetter, func(s *KPISpec) { s.Policy = ResponsePolicy{Action: RespondKaizen} }, "policy.sponsor"},
		{"sponsor is not the owner", LowerIsBetter, func(s *KPISpec) { s.Policy = ResponsePolicy{Action: RespondKaizen, Sponsor: "alice"} }, "policy.sponsor"},
		{"kaizen ok", LowerIsBetter, func(s *KPISpec) { s.Policy = ResponsePolicy{Action: RespondKaizen, Sponsor: "bob"} }, ""},
		{"capa type", LowerIsBetter, func(s *KPISpec) { s.Policy = ResponsePolicy{Action: RespondCAPA, CAPAType: "urgent"} }, "policy.capa_type"},
		{"capa risk", LowerIsBetter, func(s *KPISpec) {
			s.Policy = ResponsePolicy{Action: RespondCAPA, CAPAType: CAPATypeCorrective, Risk: &RiskDefaults{Severity: 9, Occurrence: 1, Detection: 1}}
		}, "policy.risk.severity"},
		{"risk without capa", LowerIsBetter, func(s *KPISpec) { s.Policy.Risk = &RiskDefaults{1, 1, 1} }, "policy.capa_type"},
		{"unknown rule", LowerIsBetter, func(s *KPISpec) { s.Rules["western_electric_5"] = SeverityWarning }, "rules.western_electric_5"},
		{"bad severity", LowerIsBetter, func(s *KPISpec) { s.Rules[RuleMRAboveURL] = "loud" }, "rules.mr_above_url"},
		{"baseline n", LowerIsBetter, func(s *KPISpec) { s.Baseline = ChartBaseline{Locked: true, N: 1} }, "baseline.n"},
		{"baseline unlocked with n", LowerIsBetter, func(s *KPISpec) { s.Baseline = ChartBaseline{N: 12} }, "baseline.locked"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			s.Rules = ok.Rules.Complete()
			tc.edit(&s)
			err := s.Normalise().Check(tc.dir, "alice")
			if got := ErrorField(err); got != tc.field || (tc.field != "" && err == nil) {
				t.Errorf("field %q (%v), want %q", got, err, tc.field)
			}
		})
	}
}

func ErrorField(err error) string {
	if e, ok := err.(*Error); ok {
		return e.Field
	}
	return ""
}

func TestStatusReadsTheChartAndTheTarget(t *testing.T) {
	at := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	viol := SignalSeen{Rule: RuleBeyondLimits, Severity: SeverityViolation, Unfavourable: true, At: at}
	warn := SignalSeen{Rule: RuleEightOnOneSide, Severity: SeverityWarning, Unfavourable: true, At: at}
	good := SignalSeen{Rule: RuleBeyondLimits, Severity: SeverityViolation, Unfavourable: false, At: at}
	th := Thresholds{Amber: f(4.5), Red: f(5.5)}
	cases := []struct {
		name    string
		actual  *float64
		target  *float64
		th      Thresholds
		signals []SignalSeen
		want    RAG
	}{
		{"no data", nil, f(4), th, nil, NoData},
		{"on target", f(3.9), f(4), th, nil, Green},
		{"short of target, inside amber", f(4.2), f(4), th, nil, Green},
		{"worse than amber", f(4.8), f(4), th, nil, Amber},
		{"worse than red", f(6), f(4), th, nil, Red},
		{"no thresholds: short of target is amber", f(4.2), f(4), Thresholds{}, nil, Amber},
		{"a violation is red even on target", f(3.9), f(4), th, []SignalSeen{viol}, Red},
		{"a warning is amber", f(3.9), f(4), th, []SignalSeen{warn}, Amber},
		{"a favourable signal is news, not an alarm", f(3.0), f(4), th, []SignalSeen{good}, Green},
		{"red wins over amber", f(4.8), f(4), th, []SignalSeen{viol}, Red},
	}
	for _, tc := range cases {
		s := Status(LowerIsBetter, tc.actual, 1, tc.target, tc.th, tc.signals)
		if s.Status != tc.want {
			t.Errorf("%s: %s (%v), want %s", tc.name, s.Status, s.Reasons, tc.want)
		}
		if tc.want != Green && tc.want != NoData && len(s.Reasons) == 0 {
			t.Errorf("%s: no reason given", tc.name)
		}
	}
	s := Status(HigherIsBetter, f(92), 1, f(95), Thresholds{}, nil)
	if s.Status != Amber || *s.Variance != -3 || *s.VariancePct != Round4(-3.0/95*100) {
		t.Errorf("higher is better, short of target: %+v", s)
	}
}

func TestTargetHistory(t *testing.T) {
	d := func(m int) time.Time { return time.Date(2026, time.Month(m), 1, 0, 0, 0, 0, time.UTC) }
	ts := []KPITarget{{Value: 3, EffectiveFrom: d(7)}, {Value: 5, EffectiveFrom: d(1)}}
	if got := TargetAt(ts, d(3)); got == nil || got.Value != 5 {
		t.Errorf("March: %+v", got)
	}
	if got := TargetAt(ts, d(7)); got == nil || got.Value != 3 {
		t.Errorf("July (from its first instant): %+v", got)
	}
	if got := TargetAt(ts, d(1).Add(-time.Second)); got != nil {
		t.Errorf("before any target: %+v", got)
	}
}

func TestMissingDeadlineAndPeriods(t *testing.T) {
	last := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	r := MissingRule{Enabled: true, GraceDays: 5}
	// September's value is followed by October's, measurable once October
	// has ended: due 1 November, missing after five days of grace.
	if got, want := r.Deadline(Monthly, last), time.Date(2026, 11, 6, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("monthly: %s, want %s", got, want)
	}
	if got, want := r.Deadline(Weekly, last), last.AddDate(0, 0, 19); !got.Equal(want) {
		t.Errorf("weekly: %s, want %s", got, want)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata")
	}
	// A run scheduled for 5 November 07:00 in Berlin reports on October.
	p := PeriodBefore(time.Date(2026, 11, 5, 6, 0, 0, 0, time.UTC), berlin)
	if p.Month != "2026-10" || !p.From.Equal(time.Date(2026, 10, 1, 0, 0, 0, 0, berlin)) || !p.To.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, berlin)) {
		t.Errorf("period %+v", p)
	}
	// 1 November 00:30 in Berlin is still 31 October in UTC: the zone decides.
	if p := PeriodBefore(time.Date(2026, 10, 31, 23, 30, 0, 0, time.UTC), berlin); p.Month != "2026-10" {
		t.Errorf("zone ignored: %s", p.Month)
	}
	if _, err := ParsePeriod("2026-13", time.UTC); ErrorField(err) != "period" {
		t.Errorf("bad month accepted: %v", err)
	}
	months := p.Months(12)
	if months[0].Month != "2025-11" || months[11].Month != "2026-10" {
		t.Errorf("12 months: %s … %s", months[0].Month, months[11].Month)
	}
}

func TestMeasureBuiltins(t *testing.T) {
	p, _ := ParsePeriod("2026-10", time.UTC)
	at := func(d int) *time.Time { v := time.Date(2026, 10, d, 12, 0, 0, 0, time.UTC); return &v }
	due := func(d int) *time.Time { return at(d) }
	in := BuiltinInput{Period: p,
		CAPAs: []CAPA{
			// Closed on time in 10 days, judged effective in October.
			{State: CAPAClosed, OpenedAt: *at(1), ClosedAt: at(11), Tasks: []Task{{State: TaskDone, DueAt: due(10), CompletedAt: at(9)}},
				Effectiveness: &Effectiveness{Results: []EffectivenessResult{{Outcome: OutcomeEffective, At: *at(10)}}}},
			// Closed late in 20 days; an ineffective earlier cycle in October.
			{State: CAPAClosed, OpenedAt: *at(1), ClosedAt: at(21), Tasks: []Task{{State: TaskDone, DueAt: due(5), CompletedAt: at(8)}},
				Cycles: []CAPACycle{{Result: EffectivenessResult{Outcome: OutcomeIneffective, At: *at(6)}}}},
			// Cancelled: not a closure.
			{State: CAPACancelled, OpenedAt: *at(1), ClosedAt: at(3)},
		},
		Tasks: []Task{
			{State: TaskOpen, DueAt: due(20)},                      // overdue at the month's end
			{State: TaskDone, DueAt: due(20), CompletedAt: at(25)}, // done in time for the end... but after due: not overdue at the end
			{State: TaskCancelled, DueAt: due(20)},
		},
		Onboardings: []Onboarding{
			{State: OnboardingInProgress, Placement: Placement{StartAt: *at(2)}, Day1Ready: true},
			{State: OnboardingInProgress, Placement: Placement{StartAt: *at(3)}, Day1Ready: false},
		},
		Kaizens: []Kaizen{{Phase: KaizenClosed, OpenedAt: *at(1), ClosedAt: at(31),
			Impact: []ImpactEntry{{Category: ImpactHardSavings, Actual: f(1200)}, {Category: ImpactTime, Actual: f(40)}}}},
	}
	got := MeasureBuiltins(in)
	want := map[string]float64{BuiltinCAPAOnTime: 50, BuiltinCAPADaysToClose: 15, BuiltinCAPAEffectiveness: 50,
		BuiltinOverdueTasks: 1, BuiltinDay1Ready: 50, BuiltinKaizenCycleDays: 30, BuiltinKaizenImpact: 1200}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for _, k := range []string{BuiltinOnboardingOnTime, BuiltinOnboardingDays} {
		if _, ok := got[k]; ok {
			t.Errorf("%s measured without a completed onboarding", k)
		}
	}
	ms := BuiltinMeasurements(p, got, time.Now())
	if len(ms) != len(want) || ms[0].ID != "builtin-2026-10" || !ms[0].At.Equal(p.From) {
		t.Errorf("measurements %+v", ms)
	}
	if !slices.IsSortedFunc(ms, func(a, b Measurement) int {
		return slices.Index(BuiltinKeys, a.KPI) - slices.Index(BuiltinKeys, b.KPI)
	}) {
		t.Error("measurements out of key order")
	}
}

func TestReportSettingsCheck(t *testing.T) {
	ok := ReportSettings{DayOfMonth: 5, Hour: 7, TimeZone: "Europe/Berlin", CommentaryDaysBefore: 3, Distribution: []string{"exec@example.com"}}
	if err := ok.Check(nil); err != nil {
		t.Fatal(err)
	}
	for field, edit := range map[string]func(*ReportSettings){
		"day_of_month":           func(s *ReportSettings) { s.DayOfMonth = 31 },
		"commentary_days_before": func(s *ReportSettings) { s.CommentaryDaysBefore = 5 },
		"distribution":           func(s *ReportSettings) { s.Distribution = []string{"Exec Team <exec@example.com>"} },
		"hour":                   func(s *ReportSettings) { s.Hour = 24 },
	} {
		s := ok
		edit(&s)
		if got := ErrorField(s.Check(nil)); got != field {
			t.Errorf("%s: field %q", field, got)
		}
	}
	if !strings.Contains(ok.Check(errNoZone).Error(), "IANA") {
		t.Error("a bad zone is not named")
	}
}

var errNoZone = Invalid("", "no zone")

func TestKPITasksOfARoleOwnedKPIGoToTheRole(t *testing.T) {
	d := KPIDefinition{KPI: KPI{OwnerID: "admin"}}
	if a, r := d.TaskAssignee(); a != "" || r != RoleAdmin {
		t.Errorf("built-in KPI: %q, %q", a, r)
	}
	d.OwnerID = "alice"
	if a, r := d.TaskAssignee(); a != "alice" || r != "" {
		t.Errorf("alice's KPI: %q, %q", a, r)
	}
}
