package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/lib/pq"
	"github.com/opsflow/opsflow"
)

// taskRecord is one task as sent to PostgreSQL: the inbox columns, with
// JSON names of our own so that the table does not depend on the domain
// type's tags, plus the whole task.
type taskRecord struct {
	ID              string          `json:"task_id"`
	Kind            string          `json:"kind"`
	Title           string          `json:"title"`
	OwnerType       string          `json:"owner_type"`
	Assignee        string          `json:"assignee"`
	Role            string          `json:"role"`
	State           string          `json:"state"`
	DueAt           *time.Time      `json:"due_at"`
	OpenAt          *time.Time      `json:"open_at"`
	Weight          int             `json:"weight"`
	EscalationLevel int             `json:"escalation_level"`
	Data            json.RawMessage `json:"data"`
}

// taskRecords encodes tasks for the tasks table (a JSON array for
// jsonb_to_recordset) and lists their IDs.
func taskRecords(tasks []opsflow.Task) (string, []string, error) {
	recs := make([]taskRecord, len(tasks))
	ids := make([]string, len(tasks))
	for i, t := range tasks {
		data, err := json.Marshal(t)
		if err != nil {
			return "", nil, wrap("encode task", err)
		}
		recs[i] = taskRecord{
			ID: t.ID, Kind: t.Kind, Title: t.Title, OwnerType: t.OwnerType, Assignee: t.Assignee,
			Role: string(t.Role), State: string(t.State), DueAt: t.DueAt, OpenAt: t.OpenAt,
			Weight: t.Weight, EscalationLevel: t.EscalationLevel, Data: data,
		}
		ids[i] = t.ID
	}
	body, err := json.Marshal(recs)
	if err != nil {
		return "", nil, wrap("encode tasks", err)
	}
	return string(body), ids, nil
}

// activeStates are the task states in which a task can be overdue; it must
// agree with opsflow.TaskState.Active.
const activeStates = `('open', 'in_progress', 'blocked')`

// taskSortKey orders the inbox by due date with undated tasks last; it is
// the expression the inbox indexes are built on.
const taskSortKey = `coalesce(due_at, 'infinity')`

type taskCursor struct {
	DueAt     *time.Time `json:"d,omitempty"` // nil: past the dated tasks
	ProcessID string     `json:"p"`
	TaskID    string     `json:"t"`
}

// mine is the condition "assigned to u, or queued (unassigned) for one of
// u's roles" (an admin's roles are every role).
func mine(w *where, u opsflow.User) string {
	roles := []string{}
	for _, r := range u.Roles {
		roles = append(roles, string(r))
	}
	if u.Has(opsflow.RoleAdmin) {
		roles = roles[:0]
		for _, r := range opsflow.Roles {
			roles = append(roles, string(r))
		}
	}
	return "(assignee = " + w.arg(u.ID) + " OR (assignee = '' AND role = ANY(" + w.arg(pq.Array(roles)) + ")))"
}

type taskRow struct {
	ProcessID    string       `db:"process_id"`
	TaskID       string       `db:"task_id"`
	ProcessKind  opsflow.Kind `db:"process_kind"`
	ProcessTitle string       `db:"process_title"`
	DueAt        *time.Time   `db:"due_at"`
	Data         []byte       `db:"data"`
	Overdue      bool         `db:"overdue"`
}

// ListTasks returns one page of the cross-process inbox, soonest due first
// (tasks without a due date last, then by process and task ID). Overdue is
// judged at f.Now, or at the current time when f.Now is zero.
func (db *DB) ListTasks(ctx context.Context, f opsflow.TaskFilter) (opsflow.Page[opsflow.TaskRow], error) {
	page := opsflow.Page[opsflow.TaskRow]{Items: []opsflow.TaskRow{}}
	now := f.Now
	if now.IsZero() {
		now = time.Now()
	}
	var w where
	// Never NULL, unlike a bare comparison with a NULL due_at, so NOT works.
	overdue := `(state IN ` + activeStates + ` AND due_at IS NOT NULL AND due_at < ` + w.arg(now) + `)`
	if f.Assignee != "" {
		w.add("assignee = " + w.arg(f.Assignee))
	}
	if f.Role != "" {
		w.add("role = " + w.arg(string(f.Role)))
	}
	if f.State != "" {
		w.add("state = " + w.arg(string(f.State)))
	}
	if len(f.States) > 0 {
		states := make([]string, len(f.States))
		for i, st := range f.States {
			states[i] = string(st)
		}
		w.add("state = ANY(" + w.arg(pq.Array(states)) + ")")
	}
	if f.Mine != nil {
		w.add(mine(&w, *f.Mine))
	}
	if f.Scope != nil {
		w.add(visibleTask(&w, *f.Scope))
	}
	if f.ProcessKind != "" {
		w.add("process_kind = " + w.arg(string(f.ProcessKind)))
	}
	if f.ProcessID != "" {
		w.add("process_id = " + w.arg(f.ProcessID))
	}
	if f.Overdue != nil {
		if *f.Overdue {
			w.add(overdue)
		} else {
			w.add("NOT " + overdue)
		}
	}
	if f.Cursor != "" {
		var c taskCursor
		if err := decodeCursor(f.Cursor, &c); err != nil {
			return page, err
		}
		due := "infinity"
		if c.DueAt != nil {
			due = c.DueAt.Format(time.RFC3339Nano)
		}
		w.add("(" + taskSortKey + ", process_id, task_id) > (" + w.arg(due) + "::timestamptz, " + w.arg(c.ProcessID) + ", " + w.arg(c.TaskID) + ")")
	}
	limit := pageSize(f.Limit)
	q := `SELECT process_id, task_id, process_kind, process_title, due_at, data, ` + overdue + ` AS overdue
		FROM tasks ` + w.sql() + `
		ORDER BY ` + taskSortKey + `, process_id, task_id LIMIT ` + w.arg(limit+1)
	var rows []taskRow
	if err := db.db.SelectContext(ctx, &rows, q, w.args...); err != nil {
		return page, wrap("list tasks", err)
	}
	for i, r := range rows {
		if i == limit {
			prev := rows[limit-1]
			page.NextCursor = encodeCursor(taskCursor{DueAt: utcPtr(prev.DueAt), ProcessID: prev.ProcessID, TaskID: prev.TaskID})
			break
		}
		item := opsflow.TaskRow{ProcessID: r.ProcessID, ProcessKind: r.ProcessKind, ProcessTitle: r.ProcessTitle, Overdue: r.Overdue}
		if err := json.Unmarshal(r.Data, &item.Task); err != nil {
			return page, wrap("decode task", err)
		}
		page.Items = append(page.Items, item)
	}
	return page, nil
}
