package postgres

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/opsflow/opsflow"
)

// A KPI's definition beyond the registry row: its spec (one JSON document
// with a version), its target history and its dividers. Every change is
// made under a lock on the KPI's registry row, which also serialises the
// audit stream "kpi/<key>": whoever appends to that stream (the API, the
// KPI's watch) locks the row first, so sequence numbers never collide.

// lockKPI locks a KPI's registry row for a change to its definition or
// its audit stream, and returns it.
func lockKPI(ctx context.Context, tx *sqlx.Tx, key string) (opsflow.KPI, error) {
	var k opsflow.KPI
	err := tx.GetContext(ctx, &k, `SELECT `+kpiColumns+` FROM kpis WHERE key = $1 FOR NO KEY UPDATE`, key)
	if errors.Is(err, sql.ErrNoRows) {
		return k, &opsflow.Error{Code: opsflow.ENOTFOUND, Message: fmt.Sprintf("no kpi %q", key)}
	}
	if err != nil {
		return k, wrap("lock kpi", err)
	}
	k.CreatedAt = k.CreatedAt.UTC()
	return k, nil
}

// auditChange is one change to append to a stream.
type auditChange struct {
	Action, Field string
	Old, New      any
	Reason        string
}

func auditText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// appendStream appends changes to stream after its head, as actor. The
// caller holds the lock that makes it the stream's only writer (lockKPI
// for a KPI's stream).
func appendStream(ctx context.Context, tx *sqlx.Tx, stream string, actor opsflow.Actor, role opsflow.Role, at time.Time, changes []auditChange) error {
	if len(changes) == 0 {
		return nil
	}
	var head int64
	err := tx.GetContext(ctx, &head, `SELECT seq FROM audit_heads WHERE stream = $1`, stream)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return wrap("read audit head", err)
	}
	evs := make([]opsflow.AuditEvent, len(changes))
	for i, c := range changes {
		seq := head + int64(i) + 1
		evs[i] = opsflow.AuditEvent{ID: opsflow.EventID(stream, seq), Stream: stream, Seq: seq, At: opsflow.AuditTime(at),
			ActorID: actor.ID, ActorName: actor.Name, ActorRole: actor.RoleLabel(role),
			Action: c.Action, Field: c.Field, Old: auditText(c.Old), New: auditText(c.New), Reason: c.Reason}
	}
	return AppendAudit(ctx, tx, evs)
}

type specRow struct {
	Spec    []byte `db:"spec"`
	Version int64  `db:"version"`
}

// readDefinition reads the spec, targets and dividers of k (in tx, or
// outside one when q is the pool).
func readDefinition(ctx context.Context, q sqlx.QueryerContext, k opsflow.KPI) (opsflow.KPIDefinition, error) {
	d := opsflow.KPIDefinition{KPI: k, Spec: opsflow.DefaultKPISpec(), Targets: []opsflow.KPITarget{}, Dividers: []opsflow.KPIDivider{}}
	var sr specRow
	err := sqlx.GetContext(ctx, q, &sr, `SELECT spec, version FROM kpi_specs WHERE kpi_key = $1`, k.Key)
	switch {
	case err == nil:
		if err := json.Unmarshal(sr.Spec, &d.Spec); err != nil {
			return d, wrap("decode kpi spec", err)
		}
		d.Version = sr.Version
	case errors.Is(err, sql.ErrNoRows):
	default:
		return d, wrap("read kpi spec", err)
	}
	d.Spec = d.Spec.Normalise()
	if err := sqlx.SelectContext(ctx, q, &d.Targets, `SELECT value, effective_from, reason, set_by, set_at FROM kpi_targets
		WHERE kpi_key = $1 ORDER BY effective_from DESC`, k.Key); err != nil {
		return d, wrap("read kpi targets", err)
	}
	for i := range d.Targets {
		d.Targets[i].EffectiveFrom, d.Targets[i].SetAt = d.Targets[i].EffectiveFrom.UTC(), d.Targets[i].SetAt.UTC()
	}
	var divs []struct {
		At        time.Time `db:"at"`
		Label     string    `db:"label"`
		Baseline  []byte    `db:"baseline"`
		CreatedBy string    `db:"created_by"`
		CreatedAt time.Time `db:"created_at"`
	}
	if err := sqlx.SelectContext(ctx, q, &divs, `SELECT at, label, baseline, created_by, created_at FROM kpi_dividers
		WHERE kpi_key = $1 ORDER BY at`, k.Key); err != nil {
		return d, wrap("read kpi dividers", err)
	}
	for _, r := range divs {
		div := opsflow.KPIDivider{At: r.At.UTC(), Label: r.Label, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC()}
		if err := json.Unmarshal(r.Baseline, &div.Baseline); err != nil {
			return d, wrap("decode kpi divider", err)
		}
		d.Dividers = append(d.Dividers, div)
	}
	return d, nil
}

// GetKPIDefinition returns a KPI with its spec, targets and dividers.
func (db *DB) GetKPIDefinition(ctx context.Context, key string) (opsflow.KPIDefinition, error) {
	k, err := db.GetKPI(ctx, key)
	if err != nil {
		return opsflow.KPIDefinition{KPI: k}, err
	}
	return readDefinition(ctx, db.db, k)
}

func specJSON(s opsflow.KPISpec) []byte {
	b, err := json.Marshal(s.Normalise())
	if err != nil { // plain data: cannot fail
		panic(err)
	}
	return b
}

// DefineKPI registers a KPI with its spec and, optionally, its first
// target, and audits it on the KPI's stream. The same definition again is
// a retry (created false); a different one under the same key is a
// conflict naming the key.
func (db *DB) DefineKPI(ctx context.Context, k opsflow.KPI, spec opsflow.KPISpec, target *opsflow.KPITarget, actor opsflow.Actor) (opsflow.KPIDefinition, bool, error) {
	var out opsflow.KPIDefinition
	created := false
	spec = spec.Normalise()
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		var stored opsflow.KPI
		err := tx.GetContext(ctx, &stored, `
			INSERT INTO kpis (key, name, description, unit, direction, owner_id, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (key) DO NOTHING
			RETURNING `+kpiColumns,
			k.Key, k.Name, k.Description, k.Unit, k.Direction, k.OwnerID, k.CreatedBy)
		if errors.Is(err, sql.ErrNoRows) {
			if stored, err = lockKPI(ctx, tx, k.Key); err != nil {
				return err
			}
			d, err := readDefinition(ctx, tx, stored)
			if err != nil {
				return err
			}
			same := stored.Name == k.Name && stored.Description == k.Description && stored.Unit == k.Unit &&
				stored.Direction == k.Direction && stored.OwnerID == k.OwnerID && bytes.Equal(specJSON(d.Spec), specJSON(spec))
			if target != nil {
				t := opsflow.TargetAt(d.Targets, target.EffectiveFrom)
				same = same && t != nil && t.EffectiveFrom.Equal(target.EffectiveFrom) && t.Value == target.Value
			}
			if !same {
				return &opsflow.Error{Code: opsflow.ECONFLICT, Field: "key",
					Message: fmt.Sprintf("kpi %q already exists with a different definition: change it with PATCH /v1/kpis/%s", k.Key, k.Key)}
			}
			out = d
			return nil
		}
		if err != nil {
			return wrap("create kpi", err)
		}
		created = true
		stored.CreatedAt = stored.CreatedAt.UTC()
		if _, err := tx.ExecContext(ctx, `INSERT INTO kpi_specs (kpi_key, spec, version, updated_by) VALUES ($1, $2, 1, $3)`,
			k.Key, string(specJSON(spec)), actor.ID); err != nil {
			return wrap("create kpi spec", err)
		}
		changes := []auditChange{{Action: "kpi.defined", Field: "definition", New: map[string]any{
			"name": k.Name, "unit": k.Unit, "direction": k.Direction, "owner": k.OwnerID, "spec": spec}}}
		if target != nil {
			if err := insertTarget(ctx, tx, k.Key, *target); err != nil {
				return err
			}
			changes = append(changes, auditChange{Action: "kpi.target_set", Field: "target", New: target.Value, Reason: targetReason(*target)})
		}
		if err := appendStream(ctx, tx, opsflow.KPIStream(k.Key), actor, opsflow.RoleOwner, actor.At, changes); err != nil {
			return err
		}
		out, err = readDefinition(ctx, tx, stored)
		return err
	})
	return out, created, err
}

func targetReason(t opsflow.KPITarget) string {
	r := "effective from " + t.EffectiveFrom.UTC().Format(time.RFC3339)
	if t.Reason != "" {
		r += ": " + t.Reason
	}
	return r
}

func insertTarget(ctx context.Context, tx *sqlx.Tx, key string, t opsflow.KPITarget) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO kpi_targets (kpi_key, effective_from, value, reason, set_by) VALUES ($1, $2, $3, $4, $5)`,
		key, t.EffectiveFrom.UTC(), t.Value, t.Reason, t.SetBy)
	return wrap("add kpi target", err)
}

// ChangeKPI applies change to a KPI's definition under its lock: change
// edits the definition it is given (name, description, owner, spec) and
// may append a target or a divider. What differs afterwards is written
// and audited, one event per field, with reason; a change that changes
// nothing writes nothing (changed false), so a repeated request is
// harmless. change may refuse with an error (a conflict, say).
func (db *DB) ChangeKPI(ctx context.Context, key string, actor opsflow.Actor, reason string, change func(*opsflow.KPIDefinition) error) (opsflow.KPIDefinition, bool, error) {
	var out opsflow.KPIDefinition
	changed := false
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		out, changed, err = changeKPI(ctx, tx, key, actor, reason, change)
		return err
	})
	return out, changed, err
}

// changeKPI is ChangeKPI inside tx.
func changeKPI(ctx context.Context, tx *sqlx.Tx, key string, actor opsflow.Actor, reason string, change func(*opsflow.KPIDefinition) error) (opsflow.KPIDefinition, bool, error) {
	var out opsflow.KPIDefinition
	changed := false
	err := func() error {
		k, err := lockKPI(ctx, tx, key)
		if err != nil {
			return err
		}
		old, err := readDefinition(ctx, tx, k)
		if err != nil {
			return err
		}
		next, err := readDefinition(ctx, tx, k) // a deep copy to edit
		if err != nil {
			return err
		}
		if err := change(&next); err != nil {
			return err
		}
		next.Spec = next.Spec.Normalise()
		var changes []auditChange
		if next.Name != old.Name || next.Description != old.Description || next.OwnerID != old.OwnerID {
			if _, err := tx.ExecContext(ctx, `UPDATE kpis SET name = $2, description = $3, owner_id = $4 WHERE key = $1`,
				key, next.Name, next.Description, next.OwnerID); err != nil {
				return wrap("change kpi", err)
			}
			for _, f := range []struct {
				field    string
				old, new string
			}{{"name", old.Name, next.Name}, {"description", old.Description, next.Description}, {"owner", old.OwnerID, next.OwnerID}} {
				if f.old != f.new {
					changes = append(changes, auditChange{Action: "kpi.changed", Field: f.field, Old: f.old, New: f.new, Reason: reason})
				}
			}
		}
		specChanged := false
		for _, f := range []struct {
			field    string
			old, new any
		}{
			{"frequency", old.Spec.Frequency, next.Spec.Frequency}, {"missing", old.Spec.Missing, next.Spec.Missing},
			{"method", old.Spec.Method, next.Spec.Method}, {"source", old.Spec.Source, next.Spec.Source},
			{"thresholds", old.Spec.Thresholds, next.Spec.Thresholds}, {"policy", old.Spec.Policy, next.Spec.Policy},
			{"rules", old.Spec.Rules, next.Spec.Rules}, {"baseline", old.Spec.Baseline, next.Spec.Baseline},
		} {
			if o, n := auditText(f.old), auditText(f.new); o != n {
				action := "kpi.changed"
				switch {
				case f.field == "baseline" && next.Spec.Baseline.Locked && !old.Spec.Baseline.Locked:
					action = "kpi.baseline_locked"
				case f.field == "baseline" && !next.Spec.Baseline.Locked && old.Spec.Baseline.Locked:
					action = "kpi.baseline_unlocked"
				}
				changes = append(changes, auditChange{Action: action, Field: f.field, Old: o, New: n, Reason: reason})
				specChanged = true
			}
		}
		if specChanged {
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO kpi_specs (kpi_key, spec, version, updated_by, updated_at) VALUES ($1, $2, $3, $4, now())
				ON CONFLICT (kpi_key) DO UPDATE SET spec = excluded.spec, version = excluded.version,
					updated_by = excluded.updated_by, updated_at = now()`,
				key, string(specJSON(next.Spec)), old.Version+1, actor.ID); err != nil {
				return wrap("change kpi spec", err)
			}
		}
		for _, t := range next.Targets {
			if slices.ContainsFunc(old.Targets, func(o opsflow.KPITarget) bool { return o.EffectiveFrom.Equal(t.EffectiveFrom) }) {
				continue
			}
			if err := insertTarget(ctx, tx, key, t); err != nil {
				return err
			}
			var prev any
			if p := old.Target(t.EffectiveFrom); p != nil {
				prev = p.Value
			}
			changes = append(changes, auditChange{Action: "kpi.target_set", Field: "target", Old: prev, New: t.Value, Reason: targetReason(t)})
		}
		for _, dv := range next.Dividers {
			if slices.ContainsFunc(old.Dividers, func(o opsflow.KPIDivider) bool { return o.At.Equal(dv.At) }) {
				continue
			}
			b, _ := json.Marshal(dv.Baseline)
			if _, err := tx.ExecContext(ctx, `INSERT INTO kpi_dividers (kpi_key, at, label, baseline, created_by) VALUES ($1, $2, $3, $4, $5)`,
				key, dv.At.UTC(), dv.Label, string(b), dv.CreatedBy); err != nil {
				return wrap("add kpi divider", err)
			}
			changes = append(changes, auditChange{Action: "kpi.divider_added", Field: "dividers", New: dv.At.UTC().Format(time.RFC3339),
				Reason: dv.Label})
		}
		if len(changes) > 0 {
			changed = true
			if !specChanged {
				// Targets and dividers change the definition too: its
				// version says so.
				if _, err := tx.ExecContext(ctx, `
					INSERT INTO kpi_specs (kpi_key, spec, version, updated_by) VALUES ($1, $2, $3, $4)
					ON CONFLICT (kpi_key) DO UPDATE SET version = excluded.version, updated_by = excluded.updated_by, updated_at = now()`,
					key, string(specJSON(next.Spec)), old.Version+1, actor.ID); err != nil {
					return wrap("change kpi version", err)
				}
			}
			if err := appendStream(ctx, tx, opsflow.KPIStream(key), actor, opsflow.RoleOwner, actor.At, changes); err != nil {
				return err
			}
		}
		k, err = lockKPI(ctx, tx, key)
		if err != nil {
			return err
		}
		out, err = readDefinition(ctx, tx, k)
		return err
	}()
	return out, changed, err
}

// AllMeasurements returns a KPI's measurements dated before to (all when
// to is zero), in time order.
func (db *DB) AllMeasurements(ctx context.Context, key string, to time.Time) ([]opsflow.Measurement, error) {
	var rows []opsflow.Measurement
	q := `SELECT ` + measurementColumns + ` FROM kpi_measurements WHERE kpi_key = $1 AND ($2::timestamptz IS NULL OR at < $2) ORDER BY at, id`
	var bound *time.Time
	if !to.IsZero() {
		bound = &to
	}
	if err := db.db.SelectContext(ctx, &rows, q, key, bound); err != nil {
		return nil, wrap("read measurements", err)
	}
	for i := range rows {
		rows[i] = utcMeasurement(rows[i])
	}
	return rows, nil
}

// Evaluation is what one evaluation of a KPI's watch reads.
type Evaluation struct {
	Definition   opsflow.KPIDefinition
	Measurements []opsflow.Measurement
	// New are the IDs of the measurements this evaluation is the first to
	// judge.
	New []string
	// Open are the processes opened by the KPI's signals that are still
	// open.
	Open []opsflow.KPILink
}

// Evaluate claims the KPI's measurements no evaluation has judged yet for
// evaluation number n and reads what judging them needs. Claiming is
// idempotent: the same n again (a retried activity) returns the same new
// measurements, plus any that arrived since.
func (db *DB) Evaluate(ctx context.Context, key string, n int64) (Evaluation, error) {
	var ev Evaluation
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO kpi_evaluated (kpi_key, measurement_id, evaluation)
			SELECT kpi_key, id, $2 FROM kpi_measurements m WHERE kpi_key = $1
			ON CONFLICT (kpi_key, measurement_id) DO NOTHING`, key, n); err != nil {
			return wrap("claim measurements", err)
		}
		return tx.SelectContext(ctx, &ev.New, `SELECT measurement_id FROM kpi_evaluated WHERE kpi_key = $1 AND evaluation = $2 ORDER BY measurement_id`, key, n)
	})
	if err != nil {
		return ev, wrap("evaluate kpi", err)
	}
	if ev.Definition, err = db.GetKPIDefinition(ctx, key); err != nil {
		return ev, err
	}
	if ev.Measurements, err = db.AllMeasurements(ctx, key, time.Time{}); err != nil {
		return ev, err
	}
	links, err := db.KPILinks(ctx, key)
	if err != nil {
		return ev, err
	}
	for _, l := range links {
		if l.ClosedAt == nil && !finalState(l.Kind, l.State) {
			ev.Open = append(ev.Open, l)
		}
	}
	return ev, nil
}

// finalState reports whether a process in state takes no more changes.
func finalState(kind opsflow.Kind, state string) bool {
	switch state {
	case "stalled":
		return false
	case opsflow.StateAbandoned, opsflow.StateTerminated:
		return true
	}
	switch kind {
	case opsflow.KindCAPA:
		return opsflow.CAPAState(state).Final()
	case opsflow.KindKaizen:
		return opsflow.KaizenPhase(state).Final()
	}
	return false
}

// KPILinks lists the processes a KPI's signals opened, open ones first,
// newest first, with how many signals each holds.
func (db *DB) KPILinks(ctx context.Context, key string) ([]opsflow.KPILink, error) {
	out := []opsflow.KPILink{}
	err := db.db.SelectContext(ctx, &out, `
		SELECT l.process_id, l.kind, l.rule, l.point_id, l.opened_at,
			(SELECT count(*) FROM kpi_signals s WHERE s.kpi_key = l.kpi_key AND s.process_id = l.process_id)::int AS signals,
			coalesce(p.title, '') AS title, coalesce(p.state, 'opening') AS state, coalesce(p.owner_id, '') AS owner_id,
			p.due_at, p.closed_at
		FROM kpi_links l LEFT JOIN processes p ON p.id = l.process_id
		WHERE l.kpi_key = $1
		ORDER BY (p.closed_at IS NULL) DESC, l.opened_at DESC, l.process_id`, key)
	if err != nil {
		return nil, wrap("kpi links", err)
	}
	for i := range out {
		out[i].OpenedAt = out[i].OpenedAt.UTC()
		out[i].DueAt, out[i].ClosedAt = utcPtr(out[i].DueAt), utcPtr(out[i].ClosedAt)
	}
	return out, nil
}

// SignalHandled records what the KPI's watch did about a breach — opened
// processID, added the signal to it, or only recorded it (note says why,
// when the policy could not act) — with an audit event on the KPI's
// stream. It is idempotent: a breach is handled once, and recording it
// again returns the first record (action and process).
func (db *DB) SignalHandled(ctx context.Context, key string, b opsflow.KPIBreach, action, processID string, kind opsflow.Kind, note string, at time.Time) (string, string, error) {
	var gotAction, gotProcess string
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := lockKPI(ctx, tx, key); err != nil {
			return err
		}
		var r struct {
			Action    string `db:"action"`
			ProcessID string `db:"process_id"`
		}
		err := tx.GetContext(ctx, &r, `
			INSERT INTO kpi_signals (kpi_key, rule, point_id, at, value, action, process_id, handled_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (kpi_key, rule, point_id) DO NOTHING
			RETURNING action, process_id`, key, b.Rule, b.PointID, b.At.UTC(), b.Value, action, processID, at.UTC())
		if errors.Is(err, sql.ErrNoRows) {
			err = tx.GetContext(ctx, &r, `SELECT action, process_id FROM kpi_signals WHERE kpi_key = $1 AND rule = $2 AND point_id = $3`,
				key, b.Rule, b.PointID)
			gotAction, gotProcess = r.Action, r.ProcessID
			return wrap("read kpi signal", err)
		}
		if err != nil {
			return wrap("record kpi signal", err)
		}
		gotAction, gotProcess = r.Action, r.ProcessID
		change := auditChange{Field: "signals." + b.SignalKey(), New: b.Value, Reason: fmt.Sprintf("%s %s at %s (threshold %v)",
			b.Rule, b.Side, b.At.UTC().Format(time.RFC3339), opsflow.Round4(b.Threshold))}
		switch action {
		case "opened":
			if _, err := tx.ExecContext(ctx, `INSERT INTO kpi_links (kpi_key, process_id, kind, rule, point_id, opened_at)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, key, processID, kind, b.Rule, b.PointID, at.UTC()); err != nil {
				return wrap("link kpi process", err)
			}
			change.Action, change.Reason = "kpi.process_opened", processID+" opened for "+change.Reason
		case "noted":
			change.Action, change.Reason = "kpi.signal_noted", "added to "+processID+", already open for this rule: "+change.Reason
		default:
			why := "the policy opens nothing"
			if note != "" {
				why = note
			}
			change.Action, change.Reason = "kpi.signal_recorded", why+": "+change.Reason
		}
		return appendStream(ctx, tx, opsflow.KPIStream(key), opsflow.SystemActor, "", at, []auditChange{change})
	})
	return gotAction, gotProcess, err
}

// RaiseKPITask files a task for a KPI's owner (a missing measurement, a
// report commentary) in the one inbox, under the KPI, with a notification
// and an audit event. A task with the same ID is raised once.
func (db *DB) RaiseKPITask(ctx context.Context, key string, t opsflow.Task, at time.Time) (bool, error) {
	raised := false
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		k, err := lockKPI(ctx, tx, key)
		if err != nil {
			return err
		}
		data, err := json.Marshal(t)
		if err != nil {
			return wrap("encode task", err)
		}
		res, err := tx.ExecContext(ctx, `
			INSERT INTO tasks (process_id, task_id, process_kind, process_title, kind, title, owner_type,
				assignee, role, state, due_at, open_at, weight, escalation_level, data, version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14, 0)
			ON CONFLICT (process_id, task_id) DO NOTHING`,
			opsflow.KPITaskProcess(key), t.ID, opsflow.KindKPI, k.Name, t.Kind, t.Title, t.OwnerType,
			t.Assignee, string(t.Role), string(t.State), t.DueAt, t.OpenAt, t.Weight, string(data))
		if err != nil {
			return wrap("raise kpi task", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		raised = true
		stream := opsflow.KPIStream(key)
		who := t.Assignee
		if who == "" {
			who = "role " + string(t.Role)
		}
		if err := appendStream(ctx, tx, stream, opsflow.SystemActor, "", at, []auditChange{{Action: "task.opened", Field: "tasks." + t.ID, New: t.Title,
			Reason: "assigned to " + who}}); err != nil {
			return err
		}
		to := t.Assignee
		if to == "" {
			to = string(t.Role)
		}
		return queueNotifications(ctx, tx, []opsflow.Notification{{ID: stream + "/" + t.ID + ":" + to, ProcessID: opsflow.KPITaskProcess(key),
			TaskID: t.ID, To: to, Subject: t.Title, At: at, Kind: opsflow.NotifyAssigned}})
	})
	return raised, err
}

// CloseKPITasks marks a KPI's active tasks of kind (and, when id is set,
// only that task) done by actor, with an audit event each.
func (db *DB) CloseKPITasks(ctx context.Context, key, kind, id string, actor opsflow.Actor, reason string, at time.Time) (int, error) {
	n := 0
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := lockKPI(ctx, tx, key); err != nil {
			return err
		}
		return db.closeKPITasks(ctx, tx, key, kind, id, actor, reason, at, &n)
	})
	return n, err
}

func (db *DB) closeKPITasks(ctx context.Context, tx *sqlx.Tx, key, kind, id string, actor opsflow.Actor, reason string, at time.Time, n *int) error {
	var rows []struct {
		ID   string `db:"task_id"`
		Data []byte `db:"data"`
	}
	if err := tx.SelectContext(ctx, &rows, `SELECT task_id, data FROM tasks WHERE process_id = $1 AND kind = $2 AND ($3 = '' OR task_id = $3)
		AND state IN `+activeStates+` ORDER BY task_id`, opsflow.KPITaskProcess(key), kind, id); err != nil {
		return wrap("read kpi tasks", err)
	}
	var changes []auditChange
	for _, r := range rows {
		var t opsflow.Task
		if err := json.Unmarshal(r.Data, &t); err != nil {
			return wrap("decode kpi task", err)
		}
		old := t.State
		t.Move(opsflow.TaskDone, "", nil, actor, at.UTC())
		data, _ := json.Marshal(t)
		if _, err := tx.ExecContext(ctx, `UPDATE tasks SET state = $3, data = $4, updated_at = now() WHERE process_id = $1 AND task_id = $2`,
			opsflow.KPITaskProcess(key), r.ID, string(t.State), string(data)); err != nil {
			return wrap("close kpi task", err)
		}
		changes = append(changes, auditChange{Action: "task.done", Field: "tasks." + r.ID + ".state", Old: string(old), New: string(t.State), Reason: reason})
		*n++
	}
	return appendStream(ctx, tx, opsflow.KPIStream(key), actor, opsflow.RoleOwner, at, changes)
}

// Commentary is a KPI owner's one line on a month.
type Commentary struct {
	KPI    string    `json:"kpi" db:"kpi_key"`
	Period string    `json:"period" db:"period"`
	Text   string    `json:"text" db:"text"`
	By     string    `json:"by" db:"by_id"`
	At     time.Time `json:"at" db:"at"`
}

// AddCommentary records (or revises) the commentary on a KPI's month,
// closes the owner's commentary task for it, and audits both. The same
// text again changes nothing.
func (db *DB) AddCommentary(ctx context.Context, key, period, text string, actor opsflow.Actor) (Commentary, bool, error) {
	var c Commentary
	changed := false
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := lockKPI(ctx, tx, key); err != nil {
			return err
		}
		var old Commentary
		err := tx.GetContext(ctx, &old, `SELECT kpi_key, period, text, by_id, at FROM kpi_commentary WHERE kpi_key = $1 AND period = $2`, key, period)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return wrap("read commentary", err)
		}
		if err == nil && old.Text == text {
			c = old
			c.At = c.At.UTC()
			return nil
		}
		changed = true
		if err := tx.GetContext(ctx, &c, `
			INSERT INTO kpi_commentary (kpi_key, period, text, by_id, at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (kpi_key, period) DO UPDATE SET text = excluded.text, by_id = excluded.by_id, at = excluded.at
			RETURNING kpi_key, period, text, by_id, at`, key, period, text, actor.ID, actor.At.UTC()); err != nil {
			return wrap("add commentary", err)
		}
		c.At = c.At.UTC()
		if err := appendStream(ctx, tx, opsflow.KPIStream(key), actor, opsflow.RoleOwner, actor.At, []auditChange{{Action: "kpi.commentary",
			Field: "commentary." + period, Old: old.Text, New: text}}); err != nil {
			return err
		}
		n := 0
		return db.closeKPITasks(ctx, tx, key, KPITaskCommentary, CommentaryTaskID(period), actor, "commentary given", actor.At, &n)
	})
	return c, changed, err
}

// Commentaries returns the commentary of every KPI on a month, by key.
func (db *DB) Commentaries(ctx context.Context, period string) (map[string]Commentary, error) {
	var rows []Commentary
	if err := db.db.SelectContext(ctx, &rows, `SELECT kpi_key, period, text, by_id, at FROM kpi_commentary WHERE period = $1`, period); err != nil {
		return nil, wrap("read commentary", err)
	}
	out := map[string]Commentary{}
	for _, r := range rows {
		r.At = r.At.UTC()
		out[r.KPI] = r
	}
	return out, nil
}

// KPI task kinds.
const (
	KPITaskMissing    = "measurement-missing"
	KPITaskCommentary = "commentary"
)

// CommentaryTaskID is the ID of a KPI's commentary task for a month.
func CommentaryTaskID(period string) string { return "commentary-" + period }

// AllKPIDefinitions returns every KPI's definition in key order.
func (db *DB) AllKPIDefinitions(ctx context.Context) ([]opsflow.KPIDefinition, error) {
	var ks []opsflow.KPI
	if err := db.db.SelectContext(ctx, &ks, `SELECT `+kpiColumns+` FROM kpis ORDER BY key`); err != nil {
		return nil, wrap("list kpis", err)
	}
	out := make([]opsflow.KPIDefinition, 0, len(ks))
	for _, k := range ks {
		k.CreatedAt = k.CreatedAt.UTC()
		d, err := readDefinition(ctx, db.db, k)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// ProcessesActiveIn returns the processes of kind open at some time in
// [from, to): opened before to, and not closed before from.
func (db *DB) ProcessesActiveIn(ctx context.Context, kind opsflow.Kind, from, to time.Time) ([]opsflow.Process, error) {
	var rows []processRow
	if err := db.db.SelectContext(ctx, &rows, `SELECT `+processSelect+` FROM processes
		WHERE kind = $1 AND opened_at < $3 AND (closed_at IS NULL OR closed_at >= $2) ORDER BY opened_at, id`, kind, from, to); err != nil {
		return nil, wrap("processes active in period", err)
	}
	return each(rows, processRow.process)
}

// TasksDueBefore returns every task due before to, of every process.
func (db *DB) TasksDueBefore(ctx context.Context, to time.Time) ([]opsflow.Task, error) {
	var rows [][]byte
	if err := db.db.SelectContext(ctx, &rows, `SELECT data FROM tasks WHERE due_at < $1 ORDER BY process_id, task_id`, to); err != nil {
		return nil, wrap("tasks due", err)
	}
	out := make([]opsflow.Task, 0, len(rows))
	for _, b := range rows {
		var t opsflow.Task
		if err := json.Unmarshal(b, &t); err != nil {
			return nil, wrap("decode task", err)
		}
		out = append(out, t)
	}
	return out, nil
}

// AddSystemMeasurements stores measurements the system computed (the
// built-in KPIs): idempotent by ID like any other, and a value already
// stored for an ID is kept (a month measured once stays as measured).
func (db *DB) AddSystemMeasurements(ctx context.Context, ms []opsflow.Measurement) (int, error) {
	added := 0
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		for _, m := range ms {
			res, err := tx.ExecContext(ctx, `
				INSERT INTO kpi_measurements (kpi_key, id, value, at, source, recorded_by)
				SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM kpis WHERE key = $1)
				ON CONFLICT (kpi_key, id) DO NOTHING`, m.KPI, m.ID, m.Value, m.At.UTC(), m.Source, m.RecordedBy)
			if err != nil {
				return wrap("add measurement", err)
			}
			n, _ := res.RowsAffected()
			added += int(n)
		}
		return nil
	})
	return added, err
}

// SignalRecord returns what was done about a KPI's breach, if anything.
func (db *DB) SignalRecord(ctx context.Context, key, rule, pointID string) (action, processID string, found bool, err error) {
	var r struct {
		Action    string `db:"action"`
		ProcessID string `db:"process_id"`
	}
	err = db.db.GetContext(ctx, &r, `SELECT action, process_id FROM kpi_signals WHERE kpi_key = $1 AND rule = $2 AND point_id = $3`, key, rule, pointID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, wrap("read kpi signal", err)
	}
	return r.Action, r.ProcessID, true, nil
}
