package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/opsflow/opsflow"
)

const processColumns = `id, kind, state, title, owner_id, opened_at, closed_at, due_at, version, record, search`

// processSelect reads a row with its stall, if any, and its participants.
const processSelect = processColumns + `, stalled_at, stall_error, participants`

// processRow is a processes row as scanned; Search is JSON in the table.
type processRow struct {
	opsflow.Process
	SearchJSON   []byte         `db:"search"`
	Participants pq.StringArray `db:"participants"`
}

func (r processRow) process() (opsflow.Process, error) {
	p := r.Process
	p.Participants = []string(r.Participants)
	p.OpenedAt = p.OpenedAt.UTC()
	p.ClosedAt, p.DueAt = utcPtr(p.ClosedAt), utcPtr(p.DueAt)
	if len(r.SearchJSON) > 0 {
		if err := json.Unmarshal(r.SearchJSON, &p.Search); err != nil {
			return p, wrap("decode process search keys", err)
		}
	}
	if len(p.Search) == 0 {
		p.Search = nil
	}
	p.StalledAt = utcPtr(p.StalledAt)
	if p.StalledAt != nil {
		// The record a client reads says the process is stalled, beside
		// whatever state it last reached.
		rec := map[string]json.RawMessage{}
		if len(p.Record) > 0 {
			if err := json.Unmarshal(p.Record, &rec); err != nil {
				return p, wrap("decode process record", err)
			}
		}
		msg := ""
		if p.StallError != nil {
			msg = *p.StallError
		}
		stall, _ := json.Marshal(map[string]any{"since": p.StalledAt, "error": msg})
		rec["stalled"] = stall
		if _, ok := rec["id"]; !ok {
			rec["id"], _ = json.Marshal(p.ID)
			rec[p.Kind.StateField()], _ = json.Marshal(p.State)
		}
		p.Record, _ = json.Marshal(rec)
	}
	return p, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// SaveSnapshot writes a workflow's projection in one transaction: its
// process row, all its tasks and its new audit events. A snapshot whose
// version is not newer than the stored one changes neither the row nor the
// tasks, so a late retry never overwrites newer state and a repeated call
// changes nothing; its audit events are still appended idempotently.
//
// It is on the path of every person's step, so it is written for round
// trips: the row and its tasks go in one statement, the audit append in
// one or two (see AppendAudit), the notifications with the events.
func (db *DB) SaveSnapshot(ctx context.Context, s opsflow.Snapshot) error {
	if err := checkSnapshot(s); err != nil {
		return err
	}
	return db.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := db.upsertProcess(ctx, tx, s.Process, s.Tasks); err != nil {
			return err
		}
		if err := db.appendAudit(ctx, tx, s.Events, s.Notify); err != nil {
			return err
		}
		return dividerOnStandardise(ctx, tx, s)
	})
}

// dividerOnStandardise starts new control limits on a Kaizen's KPI when
// the snapshot carries the initiative's standardisation: the standard is
// the deliberate change to the process after which Wheeler draws new
// limits, and the sustain follow-ups are then judged as a new segment
// against the old process (kpichart.Shift). It runs in the projection's
// transaction, so the divider lands exactly when the standardisation
// does and is audited on the KPI's stream in the standardiser's name; a
// retried snapshot finds it there and adds nothing.
func dividerOnStandardise(ctx context.Context, tx *sqlx.Tx, s opsflow.Snapshot) error {
	if s.Process.Kind != opsflow.KindKaizen {
		return nil
	}
	for _, ev := range s.Events {
		if ev.Action != opsflow.ActionKaizenStandardised {
			continue
		}
		var key sql.NullString
		if err := tx.GetContext(ctx, &key, `SELECT record->'kpi'->>'key' FROM processes WHERE id = $1`, s.Process.ID); err != nil {
			return wrap("read the kaizen's kpi", err)
		}
		if !key.Valid || key.String == "" {
			return nil
		}
		at := opsflow.AuditTime(ev.At)
		label := "Kaizen " + s.Process.ID + " standardised"
		actor := opsflow.Actor{ID: ev.ActorID, Name: ev.ActorName, Roles: []opsflow.Role{opsflow.Role(ev.ActorRole)}, At: at}
		_, _, err := changeKPI(ctx, tx, key.String, actor, label, func(d *opsflow.KPIDefinition) error {
			for _, o := range d.Dividers {
				if o.At.Equal(at) {
					return nil // this one, from an earlier try, or one set by hand at the same moment
				}
			}
			d.Dividers = append(d.Dividers, opsflow.KPIDivider{At: at, Label: label, CreatedBy: ev.ActorID, CreatedAt: at})
			return nil
		})
		if opsflow.ErrorCode(err) == opsflow.ENOTFOUND {
			return nil // the KPI is not in the registry: nothing to divide
		}
		return err
	}
	return nil
}

func checkSnapshot(s opsflow.Snapshot) error {
	p := s.Process
	switch {
	case p.ID == "":
		return opsflow.Invalid("process.id", "a snapshot needs a process ID")
	case p.Kind == "":
		return opsflow.Invalid("process.kind", "process %s has no kind", p.ID)
	case p.State == "":
		return opsflow.Invalid("process.state", "process %s has no state", p.ID)
	case p.Version < 1:
		return opsflow.Invalid("process.version", "process %s: version must be 1 or more", p.ID)
	case p.OpenedAt.IsZero():
		return opsflow.Invalid("process.opened_at", "process %s has no opening time", p.ID)
	case len(p.Record) > 0 && !json.Valid(p.Record):
		return opsflow.Invalid("process.record", "process %s: record is not valid JSON", p.ID)
	}
	seen := make(map[string]bool, len(s.Tasks))
	for _, t := range s.Tasks {
		switch {
		case t.ID == "":
			return opsflow.Invalid("tasks.id", "process %s has a task without an ID", p.ID)
		case seen[t.ID]:
			return opsflow.Invalid("tasks.id", "process %s has task %s twice", p.ID, t.ID)
		case t.State == "":
			return opsflow.Invalid("tasks.state", "task %s of process %s has no state", t.ID, p.ID)
		}
		seen[t.ID] = true
	}
	return nil
}

// upsertProcess writes the process row and its tasks unless the stored row
// is newer, and reports whether it wrote. The record is stored with the
// tasks added under "tasks" — the snapshot carries them once, beside the
// record.
//
// A row of the same version is overwritten when its record differs: that
// is a workflow task retried after its projection committed (its changes
// are the same, any update that joined the retry is not), and the retry is
// what the workflow goes on from. A successful write also ends a stall.
// Tasks carry the version of the row that wrote them and follow it; tasks
// the snapshot no longer has are removed.
func (db *DB) upsertProcess(ctx context.Context, tx *sqlx.Tx, p opsflow.Process, tasks []opsflow.Task) (bool, error) {
	var record *string
	if tasks == nil {
		tasks = []opsflow.Task{}
	}
	if len(p.Record) > 0 {
		tb, err := json.Marshal(tasks)
		if err != nil {
			return false, wrap("encode tasks", err)
		}
		var rec map[string]json.RawMessage
		if err := json.Unmarshal(p.Record, &rec); err != nil {
			return false, opsflow.Invalid("process.record", "process %s: record is not a JSON object", p.ID)
		}
		rec["tasks"] = tb
		b, err := json.Marshal(rec)
		if err != nil {
			return false, wrap("encode record", err)
		}
		r := string(b) // lib/pq would send []byte as bytea
		record = &r
	}
	search, err := json.Marshal(p.Search)
	if err != nil || len(p.Search) == 0 {
		search = []byte("{}")
	}
	recs, ids, err := taskRecords(tasks)
	if err != nil {
		return false, err
	}
	var readers []string
	if record != nil {
		// A record the policy cannot read names no participants: it is
		// then read only by the roles that read every record (fail
		// closed), and the process goes on.
		if readers, err = opsflow.Participants(p.Kind, []byte(*record)); err != nil {
			readers = []string{}
		}
	}
	var written int
	err = db.txRow(ctx, tx, `
		WITH p AS (
			INSERT INTO processes (`+processColumns+`, participants)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb, $14)
			ON CONFLICT (id) DO UPDATE SET
				kind = excluded.kind, state = excluded.state, title = excluded.title,
				owner_id = excluded.owner_id, opened_at = excluded.opened_at,
				closed_at = excluded.closed_at, due_at = excluded.due_at,
				version = excluded.version, record = excluded.record, search = excluded.search,
				participants = excluded.participants,
				stalled_at = NULL, stall_error = NULL, updated_at = now()
			WHERE processes.version < excluded.version
			   OR (processes.version = excluded.version AND processes.record IS DISTINCT FROM excluded.record)
			RETURNING version
		), t AS (
			INSERT INTO tasks (process_id, task_id, process_kind, process_title, kind, title, owner_type,
				assignee, role, state, due_at, open_at, weight, escalation_level, data, version)
			SELECT $1, t.task_id, $2, $4, t.kind, t.title, t.owner_type,
				t.assignee, t.role, t.state, t.due_at, t.open_at, t.weight, t.escalation_level, t.data, $9
			FROM jsonb_to_recordset($12::jsonb) AS t(task_id text, kind text, title text, owner_type text,
				assignee text, role text, state text, due_at timestamptz, open_at timestamptz,
				weight int, escalation_level int, data jsonb)
			WHERE EXISTS (SELECT 1 FROM p)
			ON CONFLICT (process_id, task_id) DO UPDATE SET
				process_kind = excluded.process_kind, process_title = excluded.process_title,
				kind = excluded.kind, title = excluded.title, owner_type = excluded.owner_type,
				assignee = excluded.assignee, role = excluded.role, state = excluded.state,
				due_at = excluded.due_at, open_at = excluded.open_at, weight = excluded.weight,
				escalation_level = excluded.escalation_level, data = excluded.data,
				version = excluded.version, updated_at = now()
			WHERE tasks.version <= excluded.version AND tasks.data IS DISTINCT FROM excluded.data
			RETURNING 1
		), d AS (
			DELETE FROM tasks WHERE process_id = $1 AND EXISTS (SELECT 1 FROM p) AND NOT (task_id = ANY($13))
			RETURNING 1
		)
		SELECT count(*)::int FROM p`, // data-modifying CTEs run to completion whether read or not
		p.ID, p.Kind, p.State, p.Title, p.OwnerID, p.OpenedAt, p.ClosedAt, p.DueAt,
		p.Version, record, string(search), recs, pq.Array(ids), pq.Array(readers)).Scan(&written)
	if err != nil {
		return false, wrap("save process", err)
	}
	return written > 0, nil
}

// GetProcess returns one process; kind "" matches any kind.
func (db *DB) GetProcess(ctx context.Context, kind opsflow.Kind, id string) (opsflow.Process, error) {
	var r processRow
	st, err := db.prepared(ctx, `SELECT `+processSelect+` FROM processes WHERE id = $1 AND ($2 = '' OR kind = $2)`)
	if err != nil {
		return opsflow.Process{}, err
	}
	err = st.GetContext(ctx, &r, id, kind)
	if errors.Is(err, sql.ErrNoRows) {
		return opsflow.Process{}, &opsflow.Error{Code: opsflow.ENOTFOUND, Message: "no such process: " + id}
	}
	if err != nil {
		return opsflow.Process{}, wrap("get process", err)
	}
	return r.process()
}

type processCursor struct {
	OpenedAt time.Time `json:"t"`
	ID       string    `json:"i"`
}

// ListProcesses returns one page of processes matching f, newest first
// (opened_at, then ID, descending). Time ranges are half-open: From is
// included, To is not.
func (db *DB) ListProcesses(ctx context.Context, f opsflow.ProcessFilter) (opsflow.Page[opsflow.Process], error) {
	page := opsflow.Page[opsflow.Process]{Items: []opsflow.Process{}}
	var w where
	if f.Kind != "" {
		w.add("kind = " + w.arg(f.Kind))
	}
	if f.State != "" {
		w.add("state = " + w.arg(f.State))
	}
	if f.OwnerID != "" {
		w.add("owner_id = " + w.arg(f.OwnerID))
	}
	if len(f.Search) > 0 {
		b, _ := json.Marshal(f.Search) // a map of strings: cannot fail
		w.add("search @> " + w.arg(string(b)) + "::jsonb")
	}
	for _, k := range slices.Sorted(maps.Keys(f.SearchFrom)) {
		w.add("search->>" + w.arg(k) + " >= " + w.arg(f.SearchFrom[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(f.SearchTo)) {
		w.add("search->>" + w.arg(k) + " < " + w.arg(f.SearchTo[k]))
	}
	if f.OpenedFrom != nil {
		w.add("opened_at >= " + w.arg(*f.OpenedFrom))
	}
	if f.OpenedTo != nil {
		w.add("opened_at < " + w.arg(*f.OpenedTo))
	}
	if f.ClosedFrom != nil {
		w.add("closed_at >= " + w.arg(*f.ClosedFrom))
	}
	if f.ClosedTo != nil {
		w.add("closed_at < " + w.arg(*f.ClosedTo))
	}
	if f.Stalled != nil {
		if *f.Stalled {
			w.add("stalled_at IS NOT NULL")
		} else {
			w.add("stalled_at IS NULL")
		}
	}
	if f.Scope != nil {
		w.add(readable(&w, *f.Scope))
	}
	if f.Cursor != "" {
		var c processCursor
		if err := decodeCursor(f.Cursor, &c); err != nil {
			return page, err
		}
		w.add("(opened_at, id) < (" + w.arg(c.OpenedAt) + ", " + w.arg(c.ID) + ")")
	}
	limit := pageSize(f.Limit)
	// One extra row says whether another page follows.
	q := `SELECT ` + processSelect + ` FROM processes ` + w.sql() +
		` ORDER BY opened_at DESC, id DESC LIMIT ` + w.arg(limit+1)
	var rows []processRow
	if err := db.db.SelectContext(ctx, &rows, q, w.args...); err != nil {
		return page, wrap("list processes", err)
	}
	for i, r := range rows {
		if i == limit {
			last := page.Items[limit-1]
			page.NextCursor = encodeCursor(processCursor{OpenedAt: last.OpenedAt, ID: last.ID})
			break
		}
		p, err := r.process()
		if err != nil {
			return page, err
		}
		page.Items = append(page.Items, p)
	}
	return page, nil
}
