package opsflow

import (
	"encoding/json"
	"time"
)

// Kind is the kind of a process; it prefixes the process's ID.
type Kind string

const (
	KindCAPA       Kind = "capa"
	KindKaizen     Kind = "kaizen"
	KindOnboarding Kind = "onboarding"
)

// IDPrefix is the workflow-ID prefix of each kind ("capa-…", "kzn-…", "onb-…").
func (k Kind) IDPrefix() string {
	switch k {
	case KindCAPA:
		return "capa-"
	case KindKaizen:
		return "kzn-"
	case KindOnboarding:
		return "onb-"
	}
	return string(k) + "-"
}

// Process is the read-model row of one process: the columns lists filter
// on, and the full record as JSON. Version grows with every projection so a
// late retry never overwrites a newer row.
type Process struct {
	ID       string            `json:"id" db:"id"`
	Kind     Kind              `json:"kind" db:"kind"`
	State    string            `json:"state" db:"state"`
	Title    string            `json:"title" db:"title"`
	OwnerID  string            `json:"owner_id" db:"owner_id"`
	OpenedAt time.Time         `json:"opened_at" db:"opened_at"`
	ClosedAt *time.Time        `json:"closed_at,omitempty" db:"closed_at"`
	DueAt    *time.Time        `json:"due_at,omitempty" db:"due_at"`
	Version  int64             `json:"version" db:"version"`
	Record   json.RawMessage   `json:"record" db:"record"`
	Search   map[string]string `json:"search,omitempty" db:"-"` // extra filter keys (risk_level, source, sponsor, kpi, manager, start_date…)
}

// Snapshot is what a workflow projects after a change: its row, all its
// tasks, and the audit events not yet written. The store writes it in one
// transaction, idempotently.
type Snapshot struct {
	Process Process        `json:"process"`
	Tasks   []Task         `json:"tasks"`
	Events  []AuditEvent   `json:"events"`
	Notify  []Notification `json:"notify,omitempty"`
}

// ProcessFilter selects processes of one kind for a list. Zero values do
// not filter. Search matches extra keys exactly.
type ProcessFilter struct {
	Kind    Kind
	State   string
	OwnerID string
	Search  map[string]string
	// SearchFrom and SearchTo bound extra keys as text (ISO dates compare
	// correctly): From is included, To is not; e.g. start_date.
	SearchFrom map[string]string
	SearchTo   map[string]string
	OpenedFrom *time.Time
	OpenedTo   *time.Time
	ClosedFrom *time.Time
	ClosedTo   *time.Time
	Limit      int
	Cursor     string
}

// TaskRow is a task in the cross-process inbox.
type TaskRow struct {
	Task
	ProcessID    string `json:"process_id"`
	ProcessKind  Kind   `json:"process_kind"`
	ProcessTitle string `json:"process_title"`
	Overdue      bool   `json:"overdue"`
}

// TaskFilter selects inbox tasks. Zero values do not filter.
type TaskFilter struct {
	Assignee    string
	Role        Role
	State       TaskState
	ProcessKind Kind
	ProcessID   string
	Overdue     *bool
	Now         time.Time // the clock "overdue" is judged by
	Limit       int
	Cursor      string
}

// Page is one page of a keyset-paginated list.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// Limits of list pages.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// Notification is a message the system owes someone (a reminder, an
// escalation). Workflows put them on the snapshot; the store keeps them in
// an outbox keyed by ID, so a retried projection never sends one twice.
type Notification struct {
	ID        string    `json:"id"` // idempotency key, derived from the audit event that caused it
	ProcessID string    `json:"process_id"`
	TaskID    string    `json:"task_id,omitempty"`
	To        string    `json:"to"` // a user ID or a role
	Subject   string    `json:"subject"`
	At        time.Time `json:"at"`
}
