package workflows

import (
	"fmt"
	"slices"

	"go.temporal.io/sdk/workflow"

	"github.com/opsflow/opsflow"
)

// UpdateKPISignal adds a later signal of a KPI to the CAPA or Kaizen its
// first signal opened, instead of opening another: the KPI's watch sends
// it (update ID "kpi-signal:<rule>@<point>", so a retry runs it once).
// It is not a person's step, so it is not in the step tables; the API
// serves no route for it.
const UpdateKPISignal = "kpi-signal"

// KPISignalUpdateID is the update ID of a note, the same on every retry.
func KPISignalUpdateID(n opsflow.KPISignalNote) string { return UpdateKPISignal + ":" + n.Key() }

// signalNotes is the part of a process record that holds a KPI's later
// signals.
type signalNotes struct {
	final func() bool
	state func() string
	notes *[]opsflow.KPISignalNote
	// action names the audit event ("capa.kpi_signal_added").
	action string
}

// registerKPISignal installs the kpi-signal update. A process that has
// finished refuses it with a conflict (the watch then opens a new one); a
// note already held is answered without a change. Registering a handler
// adds no command, so running workflows replay as before.
func registerKPISignal(ctx workflow.Context, e *engine, p process, s signalNotes) error {
	check := func(in opsflow.KPISignalNote) error {
		if s.final() {
			return opsflow.Conflict(s.state(), "%s %s is %s: open a new one for this signal", e.Kind, e.ID, s.state())
		}
		if in.Rule == "" || in.PointID == "" || in.KPI == "" {
			return opsflow.Invalid("point_id", "a KPI signal needs its kpi, rule and point")
		}
		return nil
	}
	apply := func(ctx workflow.Context, in opsflow.KPISignalNote) error {
		if slices.ContainsFunc(*s.notes, func(n opsflow.KPISignalNote) bool { return n.Key() == in.Key() }) {
			return nil
		}
		in.At = in.At.UTC()
		kept := in
		kept.Actor = opsflow.Actor{} // it stamped the change; the record names the KPI, not the system
		*s.notes = append(*s.notes, kept)
		e.record(ctx, change{Actor: opsflow.SystemActor, Action: s.action, Field: "kpi_signals", New: in.Key(),
			Reason: fmt.Sprintf("kpi %s: %s again at %s (value %v, threshold %v)", in.KPI, in.Rule, in.At.Format("2006-01-02"),
				opsflow.Round4(in.Value), opsflow.Round4(in.Threshold))})
		return nil
	}
	return onUpdate(ctx, e, p, UpdateKPISignal, check, apply)
}
