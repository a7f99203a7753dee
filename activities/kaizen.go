package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/kpichart"
)

// kaizenStore is what the kaizen activities need from the store.
type kaizenStore interface {
	KPIStats(ctx context.Context, key string, from, to time.Time) (opsflow.KPIStats, error)
}

// MeasureRequest asks for a KPI's measurements over [From, To), and,
// with Before, for what its control chart shows over that window against
// the process before Before.
type MeasureRequest struct {
	KPI    string     `json:"kpi"`
	From   time.Time  `json:"from"`
	To     time.Time  `json:"to"`
	Before *time.Time `json:"before,omitempty"`
}

// MeasureKPI summarises a KPI's measurements over a window (count, mean,
// min, max). It only reads, so a retry is harmless; the workflow records
// the answer, so a measurement posted later for the same window does not
// change a result already taken.
func (a *Activities) MeasureKPI(ctx context.Context, r MeasureRequest) (opsflow.KPIStats, error) {
	s, err := a.Store.KPIStats(ctx, r.KPI, r.From, r.To)
	if err != nil {
		return s, fmt.Errorf("measure kpi %s from %s to %s: %w", r.KPI, r.From.Format(time.RFC3339), r.To.Format(time.RFC3339), err)
	}
	if r.Before != nil {
		// The chart's verdict is evidence beside the mean, never a reason
		// to lose the result: a chart that cannot be drawn leaves it out.
		if s.Shift, err = a.chartShift(ctx, r); err != nil {
			if Transient(err) {
				return s, err
			}
			a.logger().WarnContext(ctx, "kpi chart verdict left out", "kpi", r.KPI, "error", err)
		}
	}
	s.MeasuredAt = time.Now().UTC()
	return s, nil
}

func (a *Activities) chartShift(ctx context.Context, r MeasureRequest) (*opsflow.ShiftVerdict, error) {
	d, err := a.Store.GetKPIDefinition(ctx, r.KPI)
	if err != nil {
		return nil, err
	}
	ms, err := a.Store.AllMeasurements(ctx, r.KPI, r.To)
	if err != nil {
		return nil, err
	}
	c, err := kpichart.Build(d, ms)
	if err != nil {
		return nil, err
	}
	return kpichart.Shift(d, c, *r.Before, r.From, r.To)
}
