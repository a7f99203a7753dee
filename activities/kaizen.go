package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/opsflow/opsflow"
)

// kaizenStore is what the kaizen activities need from the store.
type kaizenStore interface {
	KPIStats(ctx context.Context, key string, from, to time.Time) (opsflow.KPIStats, error)
}

// MeasureRequest asks for a KPI's measurements over [From, To).
type MeasureRequest struct {
	KPI  string    `json:"kpi"`
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
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
	s.MeasuredAt = time.Now().UTC()
	return s, nil
}
