package opsflow

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Who may read which record. This file is the one place that says it: the
// API applies it to every read (a record, its trail, an export, a step's
// answer), and the store turns the same rules into SQL for every list
// (processes, the inbox, exports), so that a page holds only what its
// reader may see and keyset pagination stays intact.
//
// The rules:
//
//   - A CAPA is read by its participants (reporter, owner, the owners of
//     its containment and corrective actions, the people its tasks are
//     assigned to, the named effectiveness reviewer), by approvers, who
//     decide and sign CAPAs, by auditors and by administrators.
//   - A Kaizen initiative is read by its participants (submitter, owner,
//     sponsor, team, countermeasure owners, task assignees), approvers,
//     auditors and administrators.
//   - An onboarding holds a new hire's personal data: it is read in full by
//     HR, the hire's manager and administrators. Whoever has a task in it
//     (the mentor, IT working its queue) sees that task in their inbox and
//     the onboarding without the personal data (see Redact).
//   - A setting opens a kind to all staff (ReadPolicy.AllStaff): any
//     authenticated user then reads every record of that kind.
//
// A record someone may not read does not exist for them: 404, never 403,
// so its ID says nothing.

// Access is how much of one record a person sees.
type Access int

const (
	// NoAccess: the record is not shown (404).
	NoAccess Access = iota
	// TaskAccess: the person has a task in the process (assigned to them
	// or queued for one of their roles): they see the record without its
	// personal data (Redact) and may act on it; not its audit trail.
	TaskAccess
	// ReadAccess: the record in full, and its audit trail.
	ReadAccess
)

// ReadPolicy is the configurable part of the rules: which kinds all staff
// may read. DefaultReadPolicy is what opsflow starts with.
type ReadPolicy struct {
	AllStaff []Kind
}

// DefaultReadPolicy opens Kaizen initiatives to all staff (improvement
// work is shown on the shop floor; an A3 names no customer and no
// employee's private data) and keeps CAPAs (complaints, audit findings)
// and onboardings (a hire's personal data) to the people above.
func DefaultReadPolicy() ReadPolicy { return ReadPolicy{AllStaff: []Kind{KindKaizen}} }

// ParseAllStaff parses the all-staff setting: kinds, comma-separated
// ("kaizen,capa"), or "none".
func ParseAllStaff(s string) (ReadPolicy, error) {
	p := ReadPolicy{AllStaff: []Kind{}}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" || part == "none" {
			continue
		}
		k := Kind(part)
		if _, ok := KindOf(k); !ok {
			return p, Invalid("read-all-staff", "unknown process kind %q (capa, kaizen, onboarding or none)", part)
		}
		if !slices.Contains(p.AllStaff, k) {
			p.AllStaff = append(p.AllStaff, k)
		}
	}
	return p, nil
}

// ReadAllRoles are the roles that read every record of kind k.
func ReadAllRoles(k Kind) []Role {
	switch k {
	case KindCAPA, KindKaizen:
		return []Role{RoleApprover, RoleAuditor, RoleAdmin}
	case KindOnboarding:
		return []Role{RoleHR, RoleAdmin}
	}
	return []Role{RoleAdmin}
}

// RolesExport may export inspection packs (and must also be able to read
// each record exported).
var RolesExport = []Role{RoleAuditor, RoleAdmin}

// ReadScope is a person's read rights as a list filter: every record of
// the kinds in Kinds, and of the others those that name UserID among
// their participants. Roles are the task queues they work (an admin's are
// every role), for the inbox.
type ReadScope struct {
	UserID string
	Kinds  []Kind
	Roles  []Role
}

// Scope returns u's read rights as a filter.
func (p ReadPolicy) Scope(u User) ReadScope {
	s := ReadScope{UserID: u.ID, Kinds: []Kind{}, Roles: []Role{}}
	for _, ki := range Kinds() {
		if slices.Contains(p.AllStaff, ki.Kind) || slices.ContainsFunc(ReadAllRoles(ki.Kind), u.Has) {
			s.Kinds = append(s.Kinds, ki.Kind)
		}
	}
	for _, r := range Roles {
		if u.Has(r) {
			s.Roles = append(s.Roles, r)
		}
	}
	return s
}

// CanRead reports whether the scope reads process p in full. p's
// Participants must be set (the store sets them on every row it reads).
func (s ReadScope) CanRead(p Process) bool {
	return slices.Contains(s.Kinds, p.Kind) || (s.UserID != "" && slices.Contains(p.Participants, s.UserID))
}

// HasTask reports whether t is the scope's to work: assigned to its user,
// or unassigned and queued for one of its roles.
func (s ReadScope) HasTask(t Task) bool {
	if t.Assignee != "" {
		return t.Assignee == s.UserID
	}
	return t.Role != "" && slices.Contains(s.Roles, t.Role)
}

// Access returns how much of p the scope sees: in full, as a worker of one
// of its tasks (tasks are the ones in p's record), or not at all.
func (s ReadScope) Access(p Process, tasks []Task) Access {
	if s.CanRead(p) {
		return ReadAccess
	}
	if slices.ContainsFunc(tasks, s.HasTask) {
		return TaskAccess
	}
	return NoAccess
}

type owned struct {
	Owner string `json:"owner"`
}

// Participants lists the people who take part in a process, from its
// record as the read model stores it (with its tasks): they read it in
// full. For an onboarding that is the hire's manager only: the people
// with a task in it see it through the task (TaskAccess).
func Participants(k Kind, record []byte) ([]string, error) {
	out := []string{}
	if len(record) == 0 {
		return out, nil
	}
	add := func(ids ...string) {
		for _, id := range ids {
			if id != "" && !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	var tasks []Task
	var err error
	switch k {
	case KindCAPA:
		var r struct {
			ReportedBy  string  `json:"reported_by"`
			Owner       string  `json:"owner"`
			Containment []owned `json:"containment"`
			Actions     []owned `json:"actions"`
			Cycles      []struct {
				Actions []owned `json:"actions"`
			} `json:"cycles"`
			Effectiveness *struct {
				Plan struct {
					Reviewer string `json:"reviewer"`
				} `json:"plan"`
			} `json:"effectiveness"`
			Tasks []Task `json:"tasks"`
		}
		err = json.Unmarshal(record, &r)
		add(r.ReportedBy, r.Owner)
		for _, a := range r.Containment {
			add(a.Owner)
		}
		for _, a := range r.Actions {
			add(a.Owner)
		}
		for _, c := range r.Cycles {
			for _, a := range c.Actions {
				add(a.Owner)
			}
		}
		if r.Effectiveness != nil {
			add(r.Effectiveness.Plan.Reviewer)
		}
		tasks = r.Tasks
	case KindKaizen:
		var r struct {
			SubmittedBy string   `json:"submitted_by"`
			Owner       string   `json:"owner"`
			Sponsor     string   `json:"sponsor"`
			Team        []string `json:"team"`
			Plan        *struct {
				Countermeasures []owned `json:"countermeasures"`
			} `json:"plan"`
			Tasks []Task `json:"tasks"`
		}
		err = json.Unmarshal(record, &r)
		add(r.SubmittedBy, r.Owner, r.Sponsor)
		add(r.Team...)
		if r.Plan != nil {
			for _, c := range r.Plan.Countermeasures {
				add(c.Owner)
			}
		}
		tasks = r.Tasks
	case KindOnboarding:
		var r struct {
			Placement struct {
				ManagerID string `json:"manager_id"`
			} `json:"placement"`
		}
		err = json.Unmarshal(record, &r)
		add(r.Placement.ManagerID)
	}
	if err != nil {
		return nil, fmt.Errorf("participants of a %s: %w", k, err)
	}
	for _, t := range tasks {
		add(t.Assignee)
	}
	slices.Sort(out)
	return out, nil
}

// RecordTasks returns the tasks a stored record carries.
func RecordTasks(record []byte) ([]Task, error) {
	var r struct {
		Tasks []Task `json:"tasks"`
	}
	if len(record) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(record, &r); err != nil {
		return nil, fmt.Errorf("tasks of a record: %w", err)
	}
	return r.Tasks, nil
}

// Redact returns what someone with TaskAccess sees of a record: an
// onboarding without the hire's e-mail address and without the
// check-ins (notes, sentiment and risks are the manager's and HR's). A
// CAPA's or a Kaizen initiative's task holders take part in it, so they
// see it whole.
func Redact(k Kind, record []byte) ([]byte, error) {
	if k != KindOnboarding || len(record) == 0 {
		return record, nil
	}
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(record, &rec); err != nil {
		return nil, fmt.Errorf("redact: %w", err)
	}
	if raw, ok := rec["hire"]; ok {
		var hire map[string]json.RawMessage
		if err := json.Unmarshal(raw, &hire); err == nil {
			hire["email"] = json.RawMessage(`""`)
			rec["hire"], _ = json.Marshal(hire)
		}
	}
	rec["check_ins"] = json.RawMessage(`[]`)
	rec["redacted"] = json.RawMessage(`true`)
	return json.Marshal(rec)
}

// AccessEntry is one read or export of a record, for the access log: who,
// what, which record, when.
type AccessEntry struct {
	ID        int64     `json:"id" db:"id"`
	At        time.Time `json:"at" db:"at"`
	UserID    string    `json:"user_id" db:"user_id"`
	Action    string    `json:"action" db:"action"` // read, read_audit, export
	RecordID  string    `json:"record_id" db:"record_id"`
	Kind      Kind      `json:"kind" db:"kind"`
	RequestID string    `json:"request_id,omitempty" db:"request_id"`
}

// AccessFilter selects access log entries, newest first.
type AccessFilter struct {
	RecordID string
	UserID   string
	Limit    int
	Cursor   string
}
