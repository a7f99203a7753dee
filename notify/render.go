package notify

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"log/slog"
	"slices"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"
	"unicode/utf8"

	"github.com/opsflow/opsflow"
)

// SubjectPrefix starts every subject so people can filter opsflow's mail.
const SubjectPrefix = "[opsflow]"

// timeLayout renders times as people read them in a mail: weekday, day,
// month, year, 24-hour clock and the zone's abbreviation, e.g.
// "Mon 23 Nov 2026, 09:00 CET".
const timeLayout = "Mon 2 Jan 2006, 15:04 MST"

// Rendered is a message ready for any channel: the subject, a plain-text
// and an HTML body for e-mail, and the short parts chat channels show. It
// keeps the (cleaned) message it was rendered from, because channels need
// its ID, recipient, process and task.
type Rendered struct {
	Message Message
	// Subject is the e-mail subject: SubjectPrefix and Title.
	Subject string
	// Title is the one-line headline without the prefix, for chat.
	Title string
	Text  string // plain-text body
	HTML  string // HTML body (a whole document)
	// Link is the absolute URL of the page to act on; Button is its label.
	Link   string
	Button string
	// Facts are the details as label/value pairs, times already in the
	// recipient's zone: Teams shows them as a fact set, Slack as fields.
	Facts []Fact
	// Digest holds a digest's lists, most urgent first; nil otherwise.
	Digest []DigestSection
}

// DigestSection is one heading of a rendered digest ("Overdue", "Due
// soon", "New") with its lines, earliest due date first.
type DigestSection struct {
	Heading string       `json:"heading"`
	Lines   []DigestLine `json:"lines"`
}

// DigestLine is one task of a rendered digest.
type DigestLine struct {
	Task    string `json:"task"`          // the task's title
	Process string `json:"process"`       // e.g. `CAPA capa-1234 "Burr on housing"`
	Due     string `json:"due,omitempty"` // e.g. "Mon 23 Nov 2026, 09:00 CET (in 2 days)"
	Link    string `json:"link"`
}

// Fact is one labelled detail of a message.
type Fact struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// Renderer renders messages with the embedded templates. It is safe for
// concurrent use.
type Renderer struct {
	links links
	log   *slog.Logger
	zones sync.Map // time-zone name → *time.Location
}

// NewRenderer returns a renderer whose links start with baseURL, the public
// address of the web app (e.g. "https://opsflow.example.com"). logger
// receives a warning when a recipient's time zone is unknown; nil means
// slog.Default().
func NewRenderer(baseURL string, logger *slog.Logger) (*Renderer, error) {
	l, err := parseBase(baseURL)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Renderer{links: l, log: logger}, nil
}

//go:embed templates/*.tmpl
var templateFS embed.FS

// The template sets, one per kind: the shared layout plus the kind's own
// file. Parsing happens once at start; a broken embedded template is a bug
// that the golden tests catch, so Must is right here.
var (
	textSets = map[Kind]*texttemplate.Template{}
	htmlSets = map[Kind]*htmltemplate.Template{}
)

func init() {
	funcs := texttemplate.FuncMap{"indent": indent}
	for _, k := range Kinds {
		textSets[k] = texttemplate.Must(texttemplate.New(string(k)).Funcs(funcs).
			ParseFS(templateFS, "templates/layout.txt.tmpl", "templates/"+string(k)+".txt.tmpl"))
		htmlSets[k] = htmltemplate.Must(htmltemplate.New(string(k)).
			ParseFS(templateFS, "templates/layout.html.tmpl", "templates/"+string(k)+".html.tmpl"))
	}
}

// Render validates msg and renders it. A message that cannot be rendered
// returns an error wrapping ErrInvalidMessage: retrying will not help.
func (r *Renderer) Render(msg Message) (Rendered, error) {
	if err := msg.Validate(); err != nil {
		return Rendered{}, err
	}
	msg = msg.clean()
	v := r.view(msg)

	var b bytes.Buffer
	text := textSets[msg.Kind]
	if err := text.ExecuteTemplate(&b, "subject", v); err != nil {
		return Rendered{}, fmt.Errorf("notify: render %s subject: %w", msg.Kind, err)
	}
	v.Title = oneLine(b.String())
	b.Reset()
	if err := text.ExecuteTemplate(&b, "button", v); err != nil {
		return Rendered{}, fmt.Errorf("notify: render %s button: %w", msg.Kind, err)
	}
	v.Button = oneLine(b.String())
	v.Subject = SubjectPrefix + " " + v.Title

	b.Reset()
	if err := text.ExecuteTemplate(&b, "body", v); err != nil {
		return Rendered{}, fmt.Errorf("notify: render %s text: %w", msg.Kind, err)
	}
	plain := b.String()
	b.Reset()
	if err := htmlSets[msg.Kind].ExecuteTemplate(&b, "body", v); err != nil {
		return Rendered{}, fmt.Errorf("notify: render %s html: %w", msg.Kind, err)
	}
	return Rendered{
		Message: msg,
		Subject: v.Subject,
		Title:   v.Title,
		Text:    plain,
		HTML:    b.String(),
		Link:    v.Link,
		Button:  v.Button,
		Facts:   v.Facts,
		Digest:  v.Sections,
	}, nil
}

// view is what the templates see: every value already formatted, so the
// templates hold wording and layout only.
type view struct {
	Kind    Kind
	Name    string // recipient's display name
	Actor   string
	Reason  string
	Subject string
	Title   string
	Button  string
	Link    string
	Facts   []Fact

	// ProcessLabel names the process in full: `CAPA capa-1234 "Burr on
	// housing"`; ProcessShort does the same with a shortened title, for
	// subjects.
	ProcessLabel string
	ProcessShort string
	Task         *taskView

	Counts   digestCounts
	Sections []DigestSection
}

type taskView struct {
	Title    string
	Short    string // title shortened for subjects
	Due      string // formatted in the recipient's zone; "" when none
	DueIn    string // "in 2 days" while before the due date
	Late     string // "2 days" once past it
	Level    int
	Assignee string
	Link     string
}

type digestCounts struct{ New, DueSoon, Overdue int }

func (r *Renderer) view(m Message) *view {
	loc := r.location(m.Recipient)
	v := &view{Kind: m.Kind, Name: m.Recipient.Name, Actor: m.Actor, Reason: m.Reason}
	if m.Kind == KindDigest {
		d := m.Digest
		v.Link = r.links.inbox()
		v.Counts = digestCounts{New: len(d.New), DueSoon: len(d.DueSoon), Overdue: len(d.Overdue)}
		for _, s := range []struct {
			heading string
			items   []DigestItem
		}{{"Overdue", d.Overdue}, {"Due soon", d.DueSoon}, {"New", d.New}} {
			if len(s.items) == 0 {
				continue
			}
			sec := DigestSection{Heading: s.heading}
			for _, it := range byDue(s.items) {
				tv := r.task(it.Task, it.Process, m.At, loc)
				sec.Lines = append(sec.Lines, DigestLine{
					Task:    tv.Title,
					Process: processLabel(it.Process, false),
					Due:     tv.dueWithSpan(),
					Link:    tv.Link,
				})
			}
			v.Sections = append(v.Sections, sec)
		}
		v.Facts = []Fact{
			{"Overdue", fmt.Sprint(v.Counts.Overdue)},
			{"Due soon", fmt.Sprint(v.Counts.DueSoon)},
			{"New", fmt.Sprint(v.Counts.New)},
		}
		return v
	}

	v.ProcessLabel = processLabel(m.Process, false)
	v.ProcessShort = processLabel(m.Process, true)
	taskID := ""
	if m.Task != nil {
		tv := r.task(*m.Task, m.Process, m.At, loc)
		v.Task = &tv
		taskID = m.Task.ID
	}
	if m.Kind == KindProcessClosed || m.Kind == KindStalled {
		taskID = "" // the record, not a task, is what to look at
	}
	v.Link = r.links.process(m.Process, taskID)
	v.Facts = facts(m.Kind, v)
	return v
}

func (r *Renderer) task(t Task, p Process, at time.Time, loc *time.Location) taskView {
	tv := taskView{
		Title:    t.Title,
		Short:    shorten(t.Title, 60),
		Level:    t.EscalationLevel,
		Assignee: t.Assignee,
		Link:     r.links.process(p, t.ID),
	}
	if !t.DueAt.IsZero() {
		tv.Due = t.DueAt.In(loc).Format(timeLayout)
		if d := t.DueAt.Sub(at); d > 0 {
			tv.DueIn = "in " + span(d)
		} else {
			tv.Late = span(-d)
		}
	}
	return tv
}

// byDue orders digest items by due date, earliest (most urgent) first and
// those without a due date last, keeping the caller's order among equals.
func byDue(items []DigestItem) []DigestItem {
	out := slices.Clone(items)
	slices.SortStableFunc(out, func(a, b DigestItem) int {
		switch az, bz := a.Task.DueAt.IsZero(), b.Task.DueAt.IsZero(); {
		case az && bz:
			return 0
		case az:
			return 1
		case bz:
			return -1
		}
		return a.Task.DueAt.Compare(b.Task.DueAt)
	})
	return out
}

// dueWithSpan is the due date with how far away it is, e.g.
// "Mon 23 Nov 2026, 09:00 CET (in 2 days)" or "… (3 days overdue)".
func (t taskView) dueWithSpan() string {
	switch {
	case t.Due == "":
		return ""
	case t.DueIn != "":
		return t.Due + " (" + t.DueIn + ")"
	case t.Late != "":
		return t.Due + " (" + t.Late + " overdue)"
	}
	return t.Due
}

// facts lists a message's details in the order people scan them.
func facts(k Kind, v *view) []Fact {
	out := []Fact{{"Process", v.ProcessLabel}}
	if t := v.Task; t != nil {
		out = append(out, Fact{"Task", t.Title})
		if t.Due != "" {
			due := t.dueWithSpan()
			if k == KindAssigned || k == KindApprovalRequested {
				due = t.Due
				if t.DueIn != "" {
					due += " (" + t.DueIn + ")"
				}
			}
			out = append(out, Fact{"Due", due})
		}
		if k == KindEscalated {
			if t.Assignee != "" {
				out = append(out, Fact{"Assigned to", t.Assignee})
			}
			if t.Level > 0 {
				out = append(out, Fact{"Escalation", fmt.Sprintf("level %d", t.Level)})
			}
		}
	}
	if v.Actor != "" {
		label := "By"
		if k == KindApprovalRequested {
			label = "Requested by"
		}
		out = append(out, Fact{label, v.Actor})
	}
	if v.Reason != "" {
		label := "Note"
		switch k {
		case KindProcessClosed:
			label = "Reason"
		case KindProvisioningFailed, KindStalled:
			label = "Error"
		}
		out = append(out, Fact{label, v.Reason})
	}
	return out
}

// kindLabel is how people name a process kind.
func kindLabel(k opsflow.Kind) string {
	switch k {
	case opsflow.KindCAPA:
		return "CAPA"
	case opsflow.KindKaizen:
		return "Kaizen"
	case opsflow.KindOnboarding:
		return "Onboarding"
	case KindReportProcess:
		return "Report"
	}
	return string(k)
}

func processLabel(p Process, short bool) string {
	title := p.Title
	if short {
		title = shorten(title, 60)
	}
	if title == "" {
		return kindLabel(p.Kind) + " " + p.ID
	}
	return kindLabel(p.Kind) + " " + p.ID + ` "` + title + `"`
}

// location returns the recipient's zone, or UTC for an empty or unknown
// one. An unknown zone is a bad profile, not a reason to drop the message:
// it is logged and the message still goes out, in UTC.
func (r *Renderer) location(rc Recipient) *time.Location {
	name := rc.TimeZone
	if name == "" || name == "UTC" {
		return time.UTC
	}
	if l, ok := r.zones.Load(name); ok {
		return l.(*time.Location)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		r.log.Warn("notify: unknown time zone, using UTC", "zone", name, "recipient", rc.ID, "err", err)
		return time.UTC
	}
	r.zones.Store(name, l)
	return l
}

// span says a duration the way a reminder does: the largest whole unit.
func span(d time.Duration) string {
	plural := func(n time.Duration, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= 24*time.Hour:
		return plural(d/(24*time.Hour), "day")
	case d >= time.Hour:
		return plural(d/time.Hour, "hour")
	case d >= time.Minute:
		return plural(d/time.Minute, "minute")
	}
	return "less than a minute"
}

// shorten cuts s to at most n runes, ending with an ellipsis when cut, so a
// pasted paragraph as a title does not make a subject nobody can read.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "\u2026"
}

// indent prefixes every line after the first with pad, for multi-line
// values in the plain-text body.
func indent(pad, s string) string {
	return strings.ReplaceAll(s, "\n", "\n"+pad)
}
