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
	// StalledAt and StallError are set while the process is stalled (see
	// Stall); the store writes them, never a snapshot.
	StalledAt  *time.Time `json:"stalled_at,omitempty" db:"stalled_at"`
	StallError *string    `json:"stall_error,omitempty" db:"stall_error"`
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
	// Stalled, when set, keeps only stalled (true) or healthy (false)
	// processes.
	Stalled *bool
	Limit   int
	Cursor  string
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
	Assignee string
	Role     Role
	// Mine, when set, keeps the tasks of one person: assigned to them, or
	// queued (unassigned) for one of their roles.
	Mine *User
	// States keeps tasks in these states; none means every state.
	States      []TaskState
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
	// Kind says what happened (one of the Notify* kinds); the dispatcher
	// renders the message from it, the process and the task.
	Kind string `json:"kind,omitempty"`
	// Level is an escalation's tier; Reason a note shown with the message.
	Level  int    `json:"level,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Notification kinds: what a message tells its recipient.
const (
	NotifyAssigned           = "assigned"            // a task was given to you (or your role)
	NotifyReminder           = "reminder"            // your task is due soon
	NotifyOverdue            = "overdue"             // your task is past due
	NotifyEscalated          = "escalated"           // someone's overdue task was escalated to you
	NotifyApproval           = "approval_requested"  // a record awaits your approval or signature
	NotifyClosed             = "process_closed"      // a process you take part in was closed
	NotifyProvisioningFailed = "provisioning_failed" // an automatic onboarding step needs a person
	NotifyStalled            = "stalled"             // a process is stalled (administrators)
)

// StateField is the name of the state in a kind's record JSON: Kaizen
// calls its state a phase (PDCA's vocabulary), the others a state.
func (k Kind) StateField() string {
	if k == KindKaizen {
		return "phase"
	}
	return "state"
}

// States every kind can end in outside its own lifecycle: an administrator
// abandoned a stalled process, or an operator ended its workflow from
// Temporal's own tools (terminate, cancel) rather than through opsflow.
const (
	StateAbandoned  = "abandoned"
	StateTerminated = "terminated"
)

// Ack is what a process answers a person's step with: which read-model
// version holds the change. The record itself is read from PostgreSQL, so
// Temporal's history keeps a few bytes per step instead of the whole
// record each time.
type Ack struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
	State   string `json:"state"`
}

// Stall is a process whose changes the store refused for good (not a
// passing outage): it keeps them, answers every step with a conflict, and
// waits for an administrator to retry or abandon it.
type Stall struct {
	ID       string    `json:"id"`
	Kind     Kind      `json:"kind"`
	Since    time.Time `json:"since"`
	Error    string    `json:"error"`
	Version  int64     `json:"version"`  // the read-model version that could not be written
	Attempts int       `json:"attempts"` // times the write was tried and refused
}

// Abandonment ends a stalled process: its unsaved changes are dropped and
// the read model and trail say who abandoned it and why.
type Abandonment struct {
	ID      string    `json:"id"`
	Kind    Kind      `json:"kind"`
	Actor   Actor     `json:"actor"`
	Reason  string    `json:"reason"`
	Error   string    `json:"error"`   // the stall's error
	Dropped int       `json:"dropped"` // unsaved changes discarded
	At      time.Time `json:"at"`
}

// Orphan is a process whose workflow was ended outside opsflow (terminated
// or cancelled from Temporal's UI or CLI, timed out, failed): its read
// model is closed so it does not stay open forever.
type Orphan struct {
	ID     string    `json:"id"`
	Status string    `json:"status"` // Temporal's execution status: terminated, canceled, timed_out, failed
	Reason string    `json:"reason"`
	At     time.Time `json:"at"` // when the workflow closed
}

// Outside is what a record carries beside the process's own state when the
// engine or an operator stepped in: a stall, an abandonment, a workflow
// ended outside opsflow. The store adds these; every record embeds it so
// the API documents them.
type Outside struct {
	Stalled    *StallNote   `json:"stalled,omitempty"`
	Abandoned  *OutsideNote `json:"abandoned,omitempty"`
	Terminated *OutsideNote `json:"terminated,omitempty"`
}

// StallNote says since when, and why, a process is stalled.
type StallNote struct {
	Since time.Time `json:"since"`
	Error string    `json:"error"`
}

// OutsideNote records an abandonment (by, reason, error, dropped) or a
// termination outside opsflow (status, reason).
type OutsideNote struct {
	At      time.Time `json:"at"`
	By      string    `json:"by,omitempty"`
	Status  string    `json:"status,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Error   string    `json:"error,omitempty"`
	Dropped int       `json:"dropped,omitempty"`
}
