package kpichart

import (
	"bytes"
	"fmt"
	"image/png"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/chart"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func month(i int) time.Time { return t0.AddDate(0, i, 0) }

// scrap is a lower-is-better KPI with its limits locked on the first 12
// months.
func scrap() opsflow.KPIDefinition {
	s := opsflow.DefaultKPISpec()
	s.Baseline = opsflow.ChartBaseline{Locked: true, N: 12}
	return opsflow.KPIDefinition{KPI: opsflow.KPI{Key: "scrap", Name: "Scrap", Unit: "%", Direction: opsflow.LowerIsBetter},
		Spec: s.Normalise(), Targets: []opsflow.KPITarget{{Value: 4, EffectiveFrom: t0}}}
}

func series(values ...float64) []opsflow.Measurement {
	out := make([]opsflow.Measurement, len(values))
	for i, v := range values {
		out[i] = opsflow.Measurement{ID: fmt.Sprintf("m%02d", i), At: month(i), Value: v}
	}
	return out
}

// The baseline 4.1, 3.8, … alternates around 4 with mean moving range
// about 0.4: limits near 2.9–5.1.
var stable = []float64{4.1, 3.8, 4.4, 4.0, 3.9, 4.2, 4.3, 3.7, 4.0, 4.1, 3.9, 4.2}

func TestBreachesAreUnfavourableViolationsOnNewPoints(t *testing.T) {
	d := scrap()
	// Month 12 is a bad month (beyond UNPL), 13 a good one (below LNPL).
	ms := series(append(append([]float64{}, stable...), 6.5, 1.5, 4.0)...)
	c, err := Build(d, ms)
	if err != nil {
		t.Fatal(err)
	}
	all := Breaches(d, c, func(string) bool { return true })
	if len(all) != 1 || all[0].PointID != "m12" || all[0].Rule != opsflow.RuleBeyondLimits || all[0].Side != "above" {
		t.Fatalf("breaches %+v: want only the bad month (the good one is favourable; jumps are warnings)", all)
	}
	if b := all[0]; b.BaselineN != 12 || b.CL < 3.9 || b.CL > 4.2 || !b.BaselineFrom.Equal(month(0)) {
		t.Errorf("breach limits %+v", b)
	}
	if got := Breaches(d, c, func(id string) bool { return id == "m14" }); len(got) != 0 {
		t.Errorf("an old point breached again: %+v", got)
	}
	// Made a violation, the moving-range jumps count too — but only the
	// unfavourable ones, up (into 6.5, and from 1.5 back to 4.0), not the
	// jump down to 1.5.
	d.Spec.Rules[opsflow.RuleMRAboveURL] = opsflow.SeverityViolation
	c, _ = Build(d, ms)
	var rules []string
	for _, b := range Breaches(d, c, func(string) bool { return true }) {
		rules = append(rules, b.Rule+"@"+b.PointID)
	}
	if fmt.Sprint(rules) != "[beyond_limits@m12 mr_above_url@m12 mr_above_url@m14]" {
		t.Errorf("breaches %v", rules)
	}
}

// Limits from fewer than spc.MinFirmBaseline values are soft: a point
// beyond them shows on the chart but opens nothing; once the segment has
// enough values, the next point beyond its limits is a breach.
func TestNoBreachOnProvisionalLimits(t *testing.T) {
	d := scrap()
	d.Spec.Baseline = opsflow.ChartBaseline{} // unlocked: the limits follow the values
	soft := series(4.0, 4.0, 4.0, 4.0, 9.0)
	c, err := Build(d, soft)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Segments[0].Limits.Provisional {
		t.Fatalf("limits from %d values not provisional", len(soft))
	}
	seen := 0
	for _, s := range c.Signals {
		if s.PointID == "m04" && s.Rule == opsflow.RuleBeyondLimits {
			seen++
		}
	}
	if seen != 1 {
		t.Fatalf("the chart should still show m04 beyond its soft limits: signals %+v", c.Signals)
	}
	if got := Breaches(d, c, func(string) bool { return true }); len(got) != 0 {
		t.Errorf("breaches on provisional limits: %+v", got)
	}

	firm := series(append(append([]float64{}, stable...), 6.5)...)
	d.Spec.Baseline = opsflow.ChartBaseline{Locked: true, N: 12}
	c, _ = Build(d, firm)
	if got := Breaches(d, c, func(string) bool { return true }); len(got) != 1 || got[0].PointID != "m12" {
		t.Errorf("firm limits: breaches %+v, want m12 alone", got)
	}
}

func TestPeriodStatus(t *testing.T) {
	d := scrap()
	d.Spec.Thresholds = opsflow.Thresholds{Amber: ptr(4.5), Red: ptr(5.5)}
	c, _ := Build(d, series(append(append([]float64{}, stable...), 6.5, 4.6)...))
	if s := PeriodStatus(d, c, month(12), month(13)); s.Status != opsflow.Red || *s.Actual != 6.5 || *s.Target != 4 || *s.Variance != 2.5 {
		t.Errorf("bad month: %+v", s)
	}
	if s := PeriodStatus(d, c, month(13), month(14)); s.Status != opsflow.Amber {
		t.Errorf("amber month: %+v", s)
	}
	if s := PeriodStatus(d, c, month(11), month(12)); s.Status != opsflow.Green {
		t.Errorf("baseline month: %+v", s)
	}
	if s := PeriodStatus(d, c, month(20), month(21)); s.Status != opsflow.NoData {
		t.Errorf("empty month: %+v", s)
	}
	if s := LatestStatus(d, c); s.Status != opsflow.Amber {
		t.Errorf("latest: %+v", s)
	}
}

func TestShiftJudgesTheWindowOnTheChart(t *testing.T) {
	d := scrap()
	// After month 12 the process runs lower: eight values below the old
	// centre line are a sustained shift the good way, though their mean
	// (3.6) misses a target of 3.
	after := []float64{3.6, 3.5, 3.7, 3.6, 3.5, 3.6, 3.7, 3.6}
	c, _ := Build(d, series(append(append([]float64{}, stable...), after...)...))
	v, err := Shift(d, c, time.Time{}, month(12), month(20))
	if err != nil {
		t.Fatal(err)
	}
	if !v.Sustained() || v.Rule != opsflow.RuleEightOnOneSide || v.Favourable != 8 || v.BeforeN != 12 || v.NewSegment {
		t.Errorf("verdict %+v", v)
	}
	// Four values only: too few for a run, and no divider.
	v, _ = Shift(d, c, time.Time{}, month(12), month(16))
	if v.Verdict != "insufficient_data" || v.Sustained() {
		t.Errorf("four values: %+v", v)
	}
	// With a divider at month 12 the window is a new segment, and its
	// centre line (3.6) is inside the old limits: no shift by that test,
	// but the run still counts.
	d.Dividers = []opsflow.KPIDivider{{At: month(12), Label: "new vents"}}
	c, _ = Build(d, series(append(append([]float64{}, stable...), after...)...))
	v, _ = Shift(d, c, time.Time{}, month(12), month(20))
	if !v.NewSegment || v.AfterCL == nil || !v.Sustained() {
		t.Errorf("new segment: %+v", v)
	}
	// Noise after the change: no shift.
	c, _ = Build(scrap(), series(append(append([]float64{}, stable...), stable[:8]...)...))
	if v, _ := Shift(scrap(), c, time.Time{}, month(12), month(20)); v.Verdict != "no_shift" {
		t.Errorf("noise: %+v", v)
	}
}

func TestCropKeepsTheWholeChartsJudgement(t *testing.T) {
	d := scrap()
	c, _ := Build(d, series(append(append([]float64{}, stable...), 6.5, 4.0)...))
	w := Crop(c, month(10))
	if len(w.Points) != 4 || w.Points[0].Index != 0 || w.Points[0].ID != "m10" {
		t.Fatalf("points %+v", w.Points)
	}
	if len(w.Segments) != 1 || w.Segments[0].First != 0 || w.Segments[0].Last != 3 || w.Segments[0].Limits.N != 12 {
		t.Fatalf("segments %+v", w.Segments)
	}
	if len(w.Signals) == 0 || w.Signals[0].Index != 2 || w.Signals[0].PointID != "m12" {
		t.Fatalf("signals %+v", w.Signals)
	}
	var buf bytes.Buffer
	if err := Render(&buf, chart.PNG, d, w, RenderOptions{Width: 480, Height: 200}, month(14)); err != nil {
		t.Fatal(err)
	}
	if img, err := png.Decode(&buf); err != nil || img.Bounds().Dx() != 480 {
		t.Fatalf("png: %v", err)
	}
}

func ptr(v float64) *float64 { return &v }
