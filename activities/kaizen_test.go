package activities

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

// kpiOnly is a Store that knows one KPI; calling anything else panics
// (the nil embedded interface), which a test would show at once.
type kpiOnly struct {
	Store
	def opsflow.KPIDefinition
	ms  []opsflow.Measurement
}

func (s kpiOnly) KPIStats(_ context.Context, key string, from, to time.Time) (opsflow.KPIStats, error) {
	st := opsflow.KPIStats{KPI: key, From: from, To: to}
	for _, m := range s.ms {
		if !m.At.Before(from) && m.At.Before(to) {
			st.Count++
			st.Mean += m.Value
		}
	}
	if st.Count > 0 {
		st.Mean /= float64(st.Count)
	}
	return st, nil
}

func (s kpiOnly) GetKPIDefinition(context.Context, string) (opsflow.KPIDefinition, error) {
	return s.def, nil
}

func (s kpiOnly) AllMeasurements(_ context.Context, _ string, to time.Time) ([]opsflow.Measurement, error) {
	var out []opsflow.Measurement
	for _, m := range s.ms {
		if to.IsZero() || m.At.Before(to) {
			out = append(out, m)
		}
	}
	return out, nil
}

// TestMeasureKPIJudgesTheWindowOnTheChart: asked with Before, MeasureKPI
// says whether the chart shows a sustained shift over the window; without
// it (the histories recorded before), it answers as it always did.
func TestMeasureKPIJudgesTheWindowOnTheChart(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ms []opsflow.Measurement
	for i, v := range []float64{5.1, 4.8, 5.3, 5.0, 4.9, 5.2, 5.1, 4.7, 5.0, 5.2, 3.9, 4.0, 3.8, 4.1, 3.9, 4.0, 3.8, 4.0} {
		ms = append(ms, opsflow.Measurement{ID: fmt.Sprint(i), At: t0.AddDate(0, 0, i), Value: v})
	}
	def := opsflow.KPIDefinition{KPI: opsflow.KPI{Key: "scrap", Direction: opsflow.LowerIsBetter}, Spec: opsflow.DefaultKPISpec().Normalise()}
	a := &Activities{Store: kpiOnly{def: def, ms: ms}}
	change := t0.AddDate(0, 0, 10)
	s, err := a.MeasureKPI(context.Background(), MeasureRequest{KPI: "scrap", From: change, To: t0.AddDate(0, 0, 18), Before: &change})
	if err != nil {
		t.Fatal(err)
	}
	if s.Count != 8 || !s.Shift.Sustained() || s.Shift.BeforeN != 10 || s.Shift.KPI != "scrap" {
		t.Errorf("stats %+v, shift %+v", s, s.Shift)
	}
	s, err = a.MeasureKPI(context.Background(), MeasureRequest{KPI: "scrap", From: change, To: t0.AddDate(0, 0, 18)})
	if err != nil || s.Shift != nil {
		t.Errorf("without before: %+v, %v", s.Shift, err)
	}
}
