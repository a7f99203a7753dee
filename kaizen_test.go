package opsflow

import (
	"testing"
	"time"
)

func f64(v float64) *float64 { return &v }

func TestDirectionBetter(t *testing.T) {
	for _, c := range []struct {
		dir  Direction
		a, b float64
		want bool
	}{
		{HigherIsBetter, 2, 1, true}, {HigherIsBetter, 1, 2, false}, {HigherIsBetter, 1, 1, false},
		{LowerIsBetter, 1, 2, true}, {LowerIsBetter, 2, 1, false}, {LowerIsBetter, 1, 1, false},
	} {
		if got := c.dir.Better(c.a, c.b); got != c.want {
			t.Errorf("%s.Better(%v, %v) = %v", c.dir, c.a, c.b, got)
		}
	}
}

func TestKPIValidate(t *testing.T) {
	ok := KPI{Key: "scrap-rate", Name: "Scrap rate", Unit: "%", Direction: LowerIsBetter, OwnerID: "alice"}
	for _, c := range []struct {
		name  string
		edit  func(*KPI)
		field string
	}{
		{"valid", func(*KPI) {}, ""},
		{"key with capitals", func(k *KPI) { k.Key = "Scrap" }, "key"},
		{"empty key", func(k *KPI) { k.Key = "" }, "key"},
		{"no name", func(k *KPI) { k.Name = " " }, "name"},
		{"no unit", func(k *KPI) { k.Unit = "" }, "unit"},
		{"bad direction", func(k *KPI) { k.Direction = "up" }, "direction"},
		{"no owner", func(k *KPI) { k.OwnerID = "" }, "owner"},
	} {
		k := ok
		c.edit(&k)
		if got := fieldOf(k.Validate()); got != c.field {
			t.Errorf("%s: field %q, want %q", c.name, got, c.field)
		}
	}
}

func TestMeasurementValidate(t *testing.T) {
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		m     Measurement
		field string
	}{
		{"valid", Measurement{ID: "m-1", Value: 3.5, At: now.Add(-time.Hour)}, ""},
		{"no id is fine", Measurement{Value: 3.5, At: now}, ""},
		{"bad id", Measurement{ID: "a b", Value: 1, At: now}, "items[0].id"},
		{"no time", Measurement{Value: 1}, "items[0].at"},
		{"future", Measurement{Value: 1, At: now.Add(time.Hour)}, "items[0].at"},
	} {
		if got := fieldOf(c.m.Validate("items[0].", now)); got != c.field {
			t.Errorf("%s: field %q, want %q", c.name, got, c.field)
		}
	}
}

func TestBaseline(t *testing.T) {
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 1, 0)
	for _, c := range []struct {
		name  string
		b     Baseline
		field string
	}{
		{"window", Baseline{From: &from, To: &to}, ""},
		{"entered with source", Baseline{Value: f64(4.2), Source: "MES report Q3"}, ""},
		{"entered without source", Baseline{Value: f64(4.2)}, "baseline.source"},
		{"neither", Baseline{}, "baseline.from"},
		{"window backwards", Baseline{From: &to, To: &from}, "baseline.to"},
	} {
		if got := fieldOf(c.b.CheckInput("baseline")); got != c.field {
			t.Errorf("%s: field %q, want %q", c.name, got, c.field)
		}
	}
	b, err := Baseline{From: &from, To: &to}.Measured(KPIStats{KPI: "scrap", Count: 3, Mean: 4.56789}, "baseline")
	if err != nil || *b.Value != 4.5679 || b.Method != BaselineMeasured || b.Count != 3 || b.Source == "" {
		t.Errorf("measured baseline = %+v, %v", b, err)
	}
	if _, err := (Baseline{From: &from, To: &to}).Measured(KPIStats{KPI: "scrap"}, "baseline"); fieldOf(err) != "baseline.from" {
		t.Errorf("empty window: %v, want invalid baseline.from", err)
	}
}

func TestCheckTarget(t *testing.T) {
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	later, earlier := now.AddDate(0, 3, 0), now.AddDate(0, -1, 0)
	for _, c := range []struct {
		name     string
		dir      Direction
		baseline float64
		t        Target
		field    string
	}{
		{"lower is better, below", LowerIsBetter, 5, Target{Value: f64(3), Date: &later}, ""},
		{"lower is better, above", LowerIsBetter, 5, Target{Value: f64(6), Date: &later}, "target.value"},
		{"lower is better, equal", LowerIsBetter, 5, Target{Value: f64(5), Date: &later}, "target.value"},
		{"higher is better, above", HigherIsBetter, 90, Target{Value: f64(95), Date: &later}, ""},
		{"higher is better, below", HigherIsBetter, 90, Target{Value: f64(85), Date: &later}, "target.value"},
		{"zero target is a value", LowerIsBetter, 2, Target{Value: f64(0), Date: &later}, ""},
		{"no value", LowerIsBetter, 5, Target{Date: &later}, "target.value"},
		{"no date", LowerIsBetter, 5, Target{Value: f64(3)}, "target.date"},
		{"past date", LowerIsBetter, 5, Target{Value: f64(3), Date: &earlier}, "target.date"},
	} {
		if got := fieldOf(CheckTarget(c.dir, c.baseline, c.t, now)); got != c.field {
			t.Errorf("%s: field %q, want %q", c.name, got, c.field)
		}
	}
}

func TestKaizenRequestValidate(t *testing.T) {
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	later := now.AddDate(0, 3, 0)
	kpi := KPI{Key: "scrap", Direction: LowerIsBetter}
	ok := KaizenRequest{Title: "Scrap on line 4", ProblemStatement: "5% scrap", KPI: "scrap", Sponsor: "bob",
		Baseline: &Baseline{Value: f64(5), Source: "MES"}, Target: &Target{Value: f64(3), Date: &later}}
	for _, c := range []struct {
		name  string
		edit  func(*KaizenRequest)
		owner string
		field string
	}{
		{"valid", func(*KaizenRequest) {}, "alice", ""},
		{"no title", func(r *KaizenRequest) { r.Title = "" }, "alice", "title"},
		{"no problem", func(r *KaizenRequest) { r.ProblemStatement = "" }, "alice", "problem_statement"},
		{"no kpi", func(r *KaizenRequest) { r.KPI = "" }, "alice", "kpi"},
		{"unknown kpi", func(r *KaizenRequest) { r.KPI = "other" }, "alice", "kpi"},
		{"no sponsor", func(r *KaizenRequest) { r.Sponsor = "" }, "alice", "sponsor"},
		{"sponsor is owner", func(*KaizenRequest) {}, "bob", "sponsor"},
		{"target wrong way", func(r *KaizenRequest) { r.Target = &Target{Value: f64(7), Date: &later} }, "alice", "target.value"},
		{"target without baseline", func(r *KaizenRequest) { r.Baseline = nil }, "alice", "baseline"},
		{"neither baseline nor target", func(r *KaizenRequest) { r.Baseline, r.Target = nil, nil }, "alice", ""},
	} {
		r := ok
		c.edit(&r)
		if got := fieldOf(r.Validate(kpi, c.owner, now)); got != c.field {
			t.Errorf("%s: field %q, want %q", c.name, got, c.field)
		}
	}
}

func TestComputeResult(t *testing.T) {
	for _, c := range []struct {
		name             string
		dir              Direction
		baseline, target float64
		stats            KPIStats
		want             KaizenResult
	}{
		{"half the gap, lower is better", LowerIsBetter, 5, 3, KPIStats{Count: 4, Mean: 4},
			KaizenResult{Count: 4, Mean: 4, Baseline: 5, Target: 3, Change: -1, ChangePct: -20, GapClosed: 0.5, Improved: true}},
		{"target beaten", LowerIsBetter, 5, 3, KPIStats{Count: 2, Mean: 2.5},
			KaizenResult{Count: 2, Mean: 2.5, Baseline: 5, Target: 3, Change: -2.5, ChangePct: -50, GapClosed: 1.25, Improved: true, TargetMet: true}},
		{"got worse, higher is better", HigherIsBetter, 90, 95, KPIStats{Count: 1, Mean: 89},
			KaizenResult{Count: 1, Mean: 89, Baseline: 90, Target: 95, Change: -1, ChangePct: -1.1111, GapClosed: -0.2}},
		{"target met exactly", HigherIsBetter, 90, 95, KPIStats{Count: 1, Mean: 95},
			KaizenResult{Count: 1, Mean: 95, Baseline: 90, Target: 95, Change: 5, ChangePct: 5.5556, GapClosed: 1, Improved: true, TargetMet: true}},
		{"zero baseline has no percentage", HigherIsBetter, 0, 10, KPIStats{Count: 1, Mean: 3},
			KaizenResult{Count: 1, Mean: 3, Baseline: 0, Target: 10, Change: 3, GapClosed: 0.3, Improved: true}},
		{"no data", LowerIsBetter, 5, 3, KPIStats{},
			KaizenResult{Baseline: 5, Target: 3, NoData: true}},
	} {
		if got := ComputeResult(c.dir, c.baseline, c.target, c.stats); got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
}

func TestRegression(t *testing.T) {
	for _, c := range []struct {
		name                         string
		dir                          Direction
		baseline, achieved, followUp float64
		tol                          float64
		regressed                    bool
		lost                         float64
	}{
		{"held", LowerIsBetter, 5, 3, 3, 20, false, 0},
		{"improved further", LowerIsBetter, 5, 3, 2.5, 20, false, 0},
		{"lost 10% of the gain, within 20%", LowerIsBetter, 5, 3, 3.2, 20, false, 0.1},
		{"lost 50% of the gain", LowerIsBetter, 5, 3, 4, 20, true, 0.5},
		{"higher is better, lost 40%", HigherIsBetter, 90, 95, 93, 25, true, 0.4},
		{"exactly at tolerance is not beyond", HigherIsBetter, 90, 95, 94, 20, false, 0.2},
		{"no gain, any loss", HigherIsBetter, 90, 90, 89.9, 50, true, 1},
	} {
		r, lost := Regression(c.dir, c.baseline, c.achieved, c.followUp, c.tol)
		if r != c.regressed || lost != c.lost {
			t.Errorf("%s: regressed %v lost %v, want %v %v", c.name, r, lost, c.regressed, c.lost)
		}
	}
}

func TestA3CheckShape(t *testing.T) {
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	ok := A3{CurrentCondition: "c", RootCauses: []string{"rc"}, Experiment: Experiment{Hypothesis: "h"}, CheckWindowDays: 14,
		Countermeasures: []Countermeasure{{ID: "cm1", Title: "t", Owner: "dave", Due: now.Add(time.Hour)}}}
	for _, c := range []struct {
		name  string
		edit  func(*A3)
		field string
	}{
		{"valid", func(*A3) {}, ""},
		{"no condition", func(p *A3) { p.CurrentCondition = "" }, "current_condition"},
		{"no causes", func(p *A3) { p.RootCauses = nil }, "root_causes"},
		{"no countermeasures", func(p *A3) { p.Countermeasures = nil }, "countermeasures"},
		{"no hypothesis", func(p *A3) { p.Experiment.Hypothesis = "" }, "experiment.hypothesis"},
		{"window 0", func(p *A3) { p.CheckWindowDays = 0 }, "check_window_days"},
		{"cm without owner", func(p *A3) {
			p.Countermeasures = []Countermeasure{{ID: "cm1", Title: "t", Due: now.Add(time.Hour)}}
		}, "countermeasures[0].owner"},
		{"cm due in the past", func(p *A3) {
			p.Countermeasures = []Countermeasure{{ID: "cm1", Title: "t", Owner: "d", Due: now.Add(-time.Hour)}}
		}, "countermeasures[0].due"},
		{"cm twice", func(p *A3) { p.Countermeasures = append(p.Countermeasures, p.Countermeasures[0]) }, "countermeasures[1].id"},
	} {
		p := ok
		c.edit(&p)
		if got := fieldOf(p.CheckShape(now)); got != c.field {
			t.Errorf("%s: field %q, want %q", c.name, got, c.field)
		}
	}
}

func TestActAndImpactChecks(t *testing.T) {
	for _, c := range []struct {
		name  string
		d     ActDecision
		field string
	}{
		{"standardise", ActDecision{Decision: ActStandardise, Standard: &Standard{SOPRef: "SOP-12", SOPVersion: "3", TolerancePct: 20}}, ""},
		{"standardise without sop", ActDecision{Decision: ActStandardise, Standard: &Standard{SOPVersion: "3"}}, "standard.sop_ref"},
		{"standardise bad tolerance", ActDecision{Decision: ActStandardise, Standard: &Standard{SOPRef: "S", SOPVersion: "3", TolerancePct: 120}}, "standard.regression_tolerance_pct"},
		{"adjust", ActDecision{Decision: ActAdjust, Reason: "second countermeasure"}, ""},
		{"adjust without reason", ActDecision{Decision: ActAdjust}, "reason"},
		{"unknown", ActDecision{Decision: "maybe"}, "decision"},
	} {
		if got := fieldOf(c.d.Check()); got != c.field {
			t.Errorf("%s: field %q, want %q", c.name, got, c.field)
		}
	}
	for _, c := range []struct {
		name  string
		e     ImpactEntry
		field string
	}{
		{"valid", ImpactEntry{ID: "scrap", Category: ImpactHardSavings, Unit: "EUR", Forecast: f64(1000), Recurrence: Recurring}, ""},
		{"bad category", ImpactEntry{ID: "scrap", Category: "revenue", Unit: "EUR", Forecast: f64(1), Recurrence: OneTime}, "category"},
		{"no figures", ImpactEntry{ID: "scrap", Category: ImpactTime, Unit: "h", Recurrence: OneTime}, "target"},
		{"bad recurrence", ImpactEntry{ID: "scrap", Category: ImpactTime, Unit: "h", Actual: f64(1), Recurrence: "yearly"}, "recurrence"},
	} {
		if got := fieldOf(c.e.Check()); got != c.field {
			t.Errorf("%s: field %q, want %q", c.name, got, c.field)
		}
	}
}

func TestSponsorSeparation(t *testing.T) {
	k := Kaizen{Owner: "erin", Sponsor: "bob"}
	for _, c := range []struct {
		name string
		a    Actor
		ok   bool
	}{
		{"sponsor", Actor{ID: "bob", Roles: []Role{RoleApprover}}, true},
		{"owner who is an approver", Actor{ID: "erin", Roles: []Role{RoleApprover, RoleOwner}}, false},
		{"another approver", Actor{ID: "zoe", Roles: []Role{RoleApprover}}, false},
		{"admin stands in", Actor{ID: "root", Roles: []Role{RoleAdmin}}, true},
		{"sponsor without the role", Actor{ID: "bob", Roles: []Role{RoleOwner}}, false},
	} {
		err := k.CheckSponsorAct(c.a, "plan approval")
		if (err == nil) != c.ok || (err != nil && ErrorCode(err) != EFORBIDDEN) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func fieldOf(err error) string {
	if err == nil {
		return ""
	}
	e, ok := err.(*Error)
	if !ok || e.Code != EINVALID {
		return "not invalid: " + err.Error()
	}
	return e.Field
}
