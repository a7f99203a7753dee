package telemetry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opsflow/opsflow"
)

// VerifyMetrics count audit-chain verifications and their results, as
// they happen in this process (an auditor's GET /v1/audit/verify).
//
// TODO(checkpoints): signed checkpoints (issue 12) will verify every chain
// on a schedule in the worker; feed that run's result to Observe and the
// "verify failure" alert covers it with no other change.
type VerifyMetrics struct {
	total     *prometheus.CounterVec
	lastBreak prometheus.Gauge
}

// NewVerifyMetrics registers the verification metrics on reg, every
// (scope, result) at zero so that a rate or an alert has a series from
// the start.
func NewVerifyMetrics(reg prometheus.Registerer) *VerifyMetrics {
	m := &VerifyMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opsflow_audit_verifications_total",
			Help: "Audit-chain verifications run by this process, by scope (all chains or one stream) and result (ok, broken, error).",
		}, []string{"scope", "result"}),
		lastBreak: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "opsflow_audit_last_break_timestamp_seconds",
			Help: "When a verification in this process last found a broken chain (Unix time); 0 if never.",
		}),
	}
	for _, scope := range []string{"all", "stream"} {
		for _, result := range []string{"ok", "broken", "error"} {
			m.total.WithLabelValues(scope, result)
		}
	}
	reg.MustRegister(m.total, m.lastBreak)
	return m
}

// Observe records one verification of stream ("" for every chain).
func (m *VerifyMetrics) Observe(stream string, rep opsflow.VerifyReport, err error) {
	scope := "stream"
	if stream == "" {
		scope = "all"
	}
	result := "ok"
	switch {
	case err != nil:
		result = "error"
	case !rep.OK:
		result = "broken"
		m.lastBreak.Set(float64(time.Now().Unix()))
	}
	m.total.WithLabelValues(scope, result).Inc()
}
