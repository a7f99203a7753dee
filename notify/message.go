package notify

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/opsflow/opsflow"
)

// Kind is the event a message tells its recipient about. The dispatcher
// maps an outbox row to one kind; each kind has its own subject and lead
// sentence (templates/<kind>.*.tmpl).
type Kind string

const (
	KindAssigned           Kind = "assigned"            // a task was assigned to you
	KindReminder           Kind = "reminder"            // your task is due soon
	KindOverdue            Kind = "overdue"             // your task is past its due date
	KindEscalated          Kind = "escalated"           // someone's overdue task was escalated to you
	KindApprovalRequested  Kind = "approval_requested"  // a record awaits your approval or signature
	KindProcessClosed      Kind = "process_closed"      // a process you take part in was closed
	KindProvisioningFailed Kind = "provisioning_failed" // an automatic onboarding step failed and needs a person
	KindStalled            Kind = "stalled"             // a process's changes are refused; an administrator must act
	KindDigest             Kind = "digest"              // new, due-soon and overdue tasks across processes
	KindReport             Kind = "report"              // the monthly KPI report, its PDF attached
)

// Kinds lists every kind in a stable order.
var Kinds = []Kind{KindAssigned, KindReminder, KindOverdue, KindEscalated,
	KindApprovalRequested, KindProcessClosed, KindProvisioningFailed, KindStalled, KindDigest, KindReport}

// needsTask reports whether a message of kind k is about one task.
func (k Kind) needsTask() bool {
	switch k {
	case KindAssigned, KindReminder, KindOverdue, KindEscalated, KindProvisioningFailed:
		return true
	}
	return false
}

// needsDue reports whether the message only makes sense with a due date.
func (k Kind) needsDue() bool {
	return k == KindReminder || k == KindOverdue || k == KindEscalated
}

// Message is one notification to one person: everything a template needs
// and nothing more. It deliberately has no field for personal data beyond
// a display name: a message about an onboarding names the hire (in the
// process title) but never carries the hire's personal e-mail, phone or
// address, so no template or channel can leak them.
type Message struct {
	// ID is the outbox row's ID. It is the idempotency key receivers use
	// to drop a re-sent duplicate (Message-ID, webhook headers).
	ID string
	// Kind says what happened.
	Kind Kind
	// At is when it happened (the outbox row's time). Relative phrases
	// such as "due in 2 days" are computed against At, not the wall
	// clock, so a message re-sent an hour later says the same thing and
	// golden files are stable.
	At        time.Time
	Recipient Recipient
	// Process is the process the message is about; zero for a digest.
	Process Process
	// Task is the task the message is about, if any.
	Task *Task
	// Actor is the display name of the person (or "opsflow" for the
	// system) who caused the event; empty when not meaningful.
	Actor string
	// Reason is free text shown as a note: why a process was closed, a
	// request's comment, or the error of a failed provisioning step.
	Reason string
	// Digest holds the lists of a KindDigest message; nil otherwise.
	Digest *Digest
	// Attachments go with the e-mail (the report's PDF); chat and
	// webhooks carry the link only.
	Attachments []Attachment
}

// Attachment is a file sent with an e-mail.
type Attachment struct {
	Name        string // file name, e.g. "opsflow-kpi-report-2026-10.pdf"
	ContentType string // e.g. "application/pdf"
	Data        []byte
}

// Recipient is who the message is for. Email is used by the e-mail channel
// only; templates never print it.
type Recipient struct {
	ID       string // user ID; the generic webhook sends it, chat channels ignore it
	Name     string // display name for the greeting
	Email    string // delivery address for the e-mail channel
	TimeZone string // IANA name, e.g. "Europe/Berlin"; empty or unknown means UTC
}

// Process identifies the process a message is about.
type Process struct {
	Kind  opsflow.Kind // capa, kaizen or onboarding
	ID    string       // the workflow ID, e.g. "capa-1234"
	Title string       // user input: escaped in HTML, cleaned of control characters
}

// Task identifies the task a message is about.
type Task struct {
	ID    string
	Title string
	// DueAt is the task's due date; zero when it has none.
	DueAt time.Time
	// EscalationLevel is the tier reached (1 = first escalation); 0 if none.
	EscalationLevel int
	// Assignee is the display name of whoever holds the task (or a role
	// name), shown on escalations so the new recipient knows whom to ask.
	Assignee string
}

// Digest is one message listing a person's tasks across processes. The
// dispatcher decides what counts as new and due soon (typically: opened
// since the last digest, due before the next one).
type Digest struct {
	New     []DigestItem
	DueSoon []DigestItem
	Overdue []DigestItem
}

// DigestItem is one task in a digest.
type DigestItem struct {
	Process Process
	Task    Task
}

// Empty reports whether the digest lists nothing. An empty digest is not
// rendered: the dispatcher should skip it rather than mail "nothing to do".
func (d *Digest) Empty() bool {
	return d == nil || len(d.New)+len(d.DueSoon)+len(d.Overdue) == 0
}

// ErrInvalidMessage marks a message that cannot be rendered or sent as
// given. Retrying cannot help, so IsPermanent reports true for it.
var ErrInvalidMessage = errors.New("notify: invalid message")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidMessage, fmt.Sprintf(format, args...))
}

// Validate checks that the message has what its kind needs. Render calls
// it; the dispatcher may call it earlier to fail a row before any work.
func (m Message) Validate() error {
	if strings.TrimSpace(m.ID) == "" {
		return invalid("message has no ID")
	}
	if hasControl(m.ID) {
		return invalid("message ID %q contains control characters", m.ID)
	}
	if m.At.IsZero() {
		return invalid("message %s has no time", m.ID)
	}
	if m.Kind == KindDigest {
		if m.Digest.Empty() {
			return invalid("digest %s lists no tasks", m.ID)
		}
		for _, it := range m.Digest.all() {
			if err := it.Process.validate(); err != nil {
				return fmt.Errorf("digest %s: %w", m.ID, err)
			}
		}
		return nil
	}
	if !isKind(m.Kind) {
		return invalid("unknown message kind %q", m.Kind)
	}
	if m.Digest != nil {
		return invalid("message %s of kind %s carries a digest", m.ID, m.Kind)
	}
	if err := m.Process.validate(); err != nil {
		return fmt.Errorf("message %s: %w", m.ID, err)
	}
	if m.Kind.needsTask() && m.Task == nil {
		return invalid("message %s of kind %s has no task", m.ID, m.Kind)
	}
	if m.Task != nil && m.Task.ID == "" {
		return invalid("message %s: task has no ID", m.ID)
	}
	if m.Kind.needsDue() && m.Task.DueAt.IsZero() {
		return invalid("message %s of kind %s: task %s has no due date", m.ID, m.Kind, m.Task.ID)
	}
	return nil
}

func (p Process) validate() error {
	if p.ID == "" {
		return invalid("process has no ID")
	}
	if Path(p.Kind, p.ID, "") == "" {
		return invalid("process %s has unknown kind %q", p.ID, p.Kind)
	}
	return nil
}

func isKind(k Kind) bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

func (d *Digest) all() []DigestItem {
	var out []DigestItem
	out = append(out, d.New...)
	out = append(out, d.DueSoon...)
	return append(out, d.Overdue...)
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// oneLine replaces control characters (CR and LF above all: a title must
// not be able to start a new mail header) with spaces and trims the result.
func oneLine(s string) string {
	if !hasControl(s) {
		return strings.TrimSpace(s)
	}
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s))
}

// multiLine keeps line breaks (a reason may have several lines) but drops
// other control characters.
func multiLine(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case unicode.IsControl(r):
			return ' '
		}
		return r
	}, s))
}

// clean returns a copy of m with every user-supplied line cleaned, so that
// templates and headers never see control characters.
func (m Message) clean() Message {
	m.Recipient.Name = oneLine(m.Recipient.Name)
	m.Process = m.Process.clean()
	if m.Task != nil {
		t := m.Task.clean()
		m.Task = &t
	}
	m.Actor = oneLine(m.Actor)
	m.Reason = multiLine(m.Reason)
	if m.Digest != nil {
		d := Digest{New: cleanItems(m.Digest.New), DueSoon: cleanItems(m.Digest.DueSoon), Overdue: cleanItems(m.Digest.Overdue)}
		m.Digest = &d
	}
	return m
}

func (p Process) clean() Process {
	p.Title = oneLine(p.Title)
	return p
}

func (t Task) clean() Task {
	t.Title, t.Assignee = oneLine(t.Title), oneLine(t.Assignee)
	return t
}

func cleanItems(in []DigestItem) []DigestItem {
	out := make([]DigestItem, len(in))
	for i, it := range in {
		out[i] = DigestItem{Process: it.Process.clean(), Task: it.Task.clean()}
	}
	return out
}
