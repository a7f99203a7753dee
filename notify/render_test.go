package notify

import (
	"bytes"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// at is the moment the test messages' events happen; due dates are set
// relative to it so the relative phrases are exercised.
var at = time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)

var (
	capa = Process{Kind: opsflow.KindCAPA, ID: "capa-1234", Title: "Burr on housing"}
	kzn  = Process{Kind: opsflow.KindKaizen, ID: "kzn-42", Title: "Cut changeover time on press 3"}
	onb  = Process{Kind: opsflow.KindOnboarding, ID: "onb-77", Title: "Jane Doe"}
	ann  = Recipient{ID: "u-ann", Name: "Ann Example", Email: "ann@example.com", TimeZone: "Europe/Berlin"}
)

// goldenMessages holds one message of every kind, as the dispatcher would
// build it.
var goldenMessages = map[Kind]Message{
	KindAssigned: {
		ID: "ntf-assigned-1", Kind: KindAssigned, At: at, Recipient: ann, Process: capa,
		Task:  &Task{ID: "containment", Title: "Verify containment", DueAt: at.Add(49 * time.Hour)},
		Actor: "Bob Quality",
	},
	KindReminder: {
		ID: "ntf-reminder-1", Kind: KindReminder, At: at, Recipient: ann, Process: kzn,
		Task: &Task{ID: "measure", Title: "Measure baseline changeover", DueAt: time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)},
	},
	KindOverdue: {
		ID: "ntf-overdue-1", Kind: KindOverdue, At: at, Recipient: ann, Process: capa,
		Task: &Task{ID: "containment", Title: "Verify containment", DueAt: at.Add(-3 * 24 * time.Hour)},
	},
	KindEscalated: {
		ID: "ntf-escalated-1", Kind: KindEscalated, At: at, Recipient: ann, Process: capa,
		Task: &Task{ID: "rootcause", Title: "Record verified root cause", DueAt: at.Add(-50 * time.Hour),
			EscalationLevel: 2, Assignee: "Carl Engineer"},
	},
	KindApprovalRequested: {
		ID: "ntf-approval-1", Kind: KindApprovalRequested, At: at, Recipient: ann, Process: capa,
		Task:   &Task{ID: "approve-plan", Title: "Approve action plan"},
		Actor:  "Bob Quality",
		Reason: "Two corrective actions, one preventive.\nPlease check the due dates.",
	},
	KindProcessClosed: {
		ID: "ntf-closed-1", Kind: KindProcessClosed, At: at, Recipient: ann, Process: kzn,
		Actor: "Dana Sponsor", Reason: "Target met for three months; standard work updated (SOP-118).",
	},
	KindProvisioningFailed: {
		ID: "ntf-prov-1", Kind: KindProvisioningFailed, At: at,
		Recipient: Recipient{ID: "u-it", Name: "IT Service Desk", Email: "it@example.com", TimeZone: "America/New_York"},
		Process:   onb,
		Task:      &Task{ID: "laptop", Title: "Order laptop", DueAt: at.Add(5 * 24 * time.Hour)},
		Reason:    "asset API answered 503 Service Unavailable after 5 attempts",
	},
	KindStalled: {
		ID: "ntf-stalled-1", Kind: KindStalled, At: at,
		Recipient: Recipient{ID: "u-admin", Name: "Ada Admin", Email: "admin@example.com", TimeZone: "Europe/Berlin"},
		Process:   capa,
		Reason:    "pq: value too long for type character varying(200) (22001)",
	},
	KindReport: {
		ID: "ntf-report-1", Kind: KindReport, At: at,
		Recipient:   Recipient{ID: "ceo@example.com", Email: "ceo@example.com", TimeZone: "UTC"},
		Process:     Process{Kind: KindReportProcess, ID: "rpt-2026-10", Title: "KPIs of 2026-10"},
		Attachments: []Attachment{{Name: "opsflow-kpi-report-2026-10.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.4")}},
	},
	KindDigest: {
		ID: "ntf-digest-2026-11-21-u-ann", Kind: KindDigest, At: at, Recipient: ann,
		Digest: &Digest{
			New: []DigestItem{
				{Process: kzn, Task: Task{ID: "standardise", Title: "Update standard work", DueAt: at.Add(10 * 24 * time.Hour)}},
				{Process: onb, Task: Task{ID: "buddy", Title: "Meet your buddy"}},
			},
			DueSoon: []DigestItem{
				{Process: capa, Task: Task{ID: "containment", Title: "Verify containment", DueAt: at.Add(26 * time.Hour)}},
			},
			Overdue: []DigestItem{
				{Process: capa, Task: Task{ID: "rootcause", Title: "Record verified root cause", DueAt: at.Add(-50 * time.Hour)}},
				{Process: kzn, Task: Task{ID: "measure", Title: "Measure baseline changeover", DueAt: at.Add(-2 * time.Hour)}},
				{Process: onb, Task: Task{ID: "desk", Title: "Prepare desk", DueAt: at.Add(-25 * time.Hour)}},
			},
		},
	},
}

func newRenderer(t *testing.T) *Renderer {
	t.Helper()
	r, err := NewRenderer("https://opsflow.example.com/", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRenderGolden(t *testing.T) {
	r := newRenderer(t)
	for _, k := range Kinds {
		msg, ok := goldenMessages[k]
		if !ok {
			t.Fatalf("no golden message for kind %s", k)
		}
		t.Run(string(k), func(t *testing.T) {
			out, err := r.Render(msg)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, string(k)+".txt.golden", "Subject: "+out.Subject+"\n\n"+out.Text)
			golden(t, string(k)+".html.golden", out.HTML)
			if !strings.Contains(out.Text, out.Link) || !strings.Contains(out.HTML, out.Link) {
				t.Errorf("link %s missing from a body", out.Link)
			}
		})
	}
}

// golden compares got with testdata/name, or rewrites the file under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./notify -run Golden -update to create it)", err)
	}
	if !bytes.Equal(want, []byte(got)) {
		t.Errorf("%s differs from the golden file (rerun with -update if the change is intended)\n--- got:\n%s", name, got)
	}
}

func TestRenderSubjectAndLink(t *testing.T) {
	r := newRenderer(t)
	out, err := r.Render(goldenMessages[KindOverdue])
	if err != nil {
		t.Fatal(err)
	}
	if want := `[opsflow] Overdue: Verify containment — CAPA capa-1234 "Burr on housing"`; out.Subject != want {
		t.Errorf("subject = %q, want %q", out.Subject, want)
	}
	if want := "https://opsflow.example.com/capas/capa-1234#task-containment"; out.Link != want {
		t.Errorf("link = %q, want %q", out.Link, want)
	}
}

func TestPath(t *testing.T) {
	for _, c := range []struct {
		kind     opsflow.Kind
		pid, tid string
		want     string
	}{
		{opsflow.KindCAPA, "capa-1", "", "/capas/capa-1"},
		{opsflow.KindKaizen, "kzn-2", "t1", "/kaizen/kzn-2#task-t1"},
		{opsflow.KindOnboarding, "onb-3", "laptop", "/onboardings/onb-3#task-laptop"},
		{opsflow.KindCAPA, "a/b", "x y", "/capas/a%2Fb#task-x%20y"},
		{"audit", "x", "", ""},
	} {
		if got := Path(c.kind, c.pid, c.tid); got != c.want {
			t.Errorf("Path(%s, %s, %s) = %q, want %q", c.kind, c.pid, c.tid, got, c.want)
		}
	}
}

func TestRenderBaseURLWithPath(t *testing.T) {
	r, err := NewRenderer("https://example.com/opsflow", nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Render(goldenMessages[KindProcessClosed])
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://example.com/opsflow/kaizen/kzn-42"; out.Link != want {
		t.Errorf("link = %q, want %q", out.Link, want)
	}
	for _, bad := range []string{"", "opsflow.example.com", "ftp://x", "https://x/?a=1", "https://u:p@x"} {
		if _, err := NewRenderer(bad, nil); err == nil {
			t.Errorf("NewRenderer(%q) accepted", bad)
		}
	}
}

// A title is user input: the HTML must show it, never run it; and no
// control character may reach the subject (a CR/LF would start a header).
func TestRenderEscapesHostileInput(t *testing.T) {
	r := newRenderer(t)
	msg := goldenMessages[KindAssigned]
	msg.Process.Title = `<script>alert(1)</script>`
	msg.Task = &Task{ID: "t1", Title: "Fix \"it\" & <b>now</b>\r\nBcc: victim@example.com"}
	msg.Actor = `<img src=x onerror=alert(2)>`
	msg.Recipient.Name = `Eve <eve@example.com>`
	out, err := r.Render(msg)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "<img", "<b>now", "<eve@"} {
		if strings.Contains(out.HTML, bad) {
			t.Errorf("HTML contains unescaped %q", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(2)&gt;", "&lt;b&gt;now&lt;/b&gt;"} {
		if !strings.Contains(out.HTML, want) {
			t.Errorf("HTML lacks escaped %q", want)
		}
	}
	if strings.ContainsAny(out.Subject, "\r\n") {
		t.Errorf("subject has a line break: %q", out.Subject)
	}
	if !strings.Contains(out.Subject, `Fix "it" & <b>now</b>  Bcc: victim@example.com`) {
		t.Errorf("subject = %q", out.Subject)
	}
	// The plain-text part is not HTML: it shows the title as typed.
	if !strings.Contains(out.Text, `<script>alert(1)</script>`) {
		t.Errorf("text part altered the title:\n%s", out.Text)
	}
}

func TestRenderTimeZones(t *testing.T) {
	r := newRenderer(t)
	due := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	for _, c := range []struct{ zone, want string }{
		{"Europe/Berlin", "Mon 23 Nov 2026, 09:00 CET"},
		{"America/New_York", "Mon 23 Nov 2026, 03:00 EST"},
		{"Asia/Kolkata", "Mon 23 Nov 2026, 13:30 IST"},
		{"", "Mon 23 Nov 2026, 08:00 UTC"},
		{"Mars/Olympus_Mons", "Mon 23 Nov 2026, 08:00 UTC"},
	} {
		msg := goldenMessages[KindReminder]
		msg.Recipient.TimeZone = c.zone
		msg.Task = &Task{ID: "t", Title: "T", DueAt: due}
		out, err := r.Render(msg)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.Text, c.want) || !strings.Contains(out.HTML, c.want) {
			t.Errorf("zone %q: want %q in both parts, text:\n%s", c.zone, c.want, out.Text)
		}
	}
	// Summer time gives the summer abbreviation.
	msg := goldenMessages[KindReminder]
	msg.Task = &Task{ID: "t", Title: "T", DueAt: time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC)}
	msg.At = msg.Task.DueAt.Add(-time.Hour)
	out, err := r.Render(msg)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Wed 1 Jul 2026, 10:00 CEST"; !strings.Contains(out.Text, want) {
		t.Errorf("want %q in:\n%s", want, out.Text)
	}
}

// The privacy rule: a message about an onboarding carries the hire's name
// (in the title) and nothing else personal; the recipient's own address is
// for delivery only and is printed nowhere.
func TestRenderNeverPrintsAddresses(t *testing.T) {
	r := newRenderer(t)
	for _, k := range Kinds {
		out, err := r.Render(goldenMessages[k])
		if err != nil {
			t.Fatal(err)
		}
		email := goldenMessages[k].Recipient.Email
		for part, s := range map[string]string{"subject": out.Subject, "text": out.Text, "html": out.HTML} {
			if strings.Contains(s, email) {
				t.Errorf("%s: %s contains the recipient's address %s", k, part, email)
			}
		}
	}
}

func TestRenderRejectsIncompleteMessages(t *testing.T) {
	r := newRenderer(t)
	base := goldenMessages[KindOverdue]
	for name, mutate := range map[string]func(*Message){
		"no id":           func(m *Message) { m.ID = "" },
		"id with newline": func(m *Message) { m.ID = "a\nb" },
		"no time":         func(m *Message) { m.At = time.Time{} },
		"unknown kind":    func(m *Message) { m.Kind = "party" },
		"no task":         func(m *Message) { m.Task = nil },
		"no due date":     func(m *Message) { m.Task = &Task{ID: "t", Title: "T"} },
		"unknown process": func(m *Message) { m.Process.Kind = "audit" },
		"no process id":   func(m *Message) { m.Process.ID = "" },
		"empty digest":    func(m *Message) { m.Kind, m.Digest = KindDigest, &Digest{} },
		"stray digest":    func(m *Message) { m.Digest = goldenMessages[KindDigest].Digest },
	} {
		m := base
		mutate(&m)
		_, err := r.Render(m)
		if !errors.Is(err, ErrInvalidMessage) || !IsPermanent(err) {
			t.Errorf("%s: err = %v, want a permanent ErrInvalidMessage", name, err)
		}
	}
}

func TestSpan(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Second: "less than a minute",
		time.Minute:      "1 minute",
		90 * time.Minute: "1 hour",
		5 * time.Hour:    "5 hours",
		25 * time.Hour:   "1 day",
		72 * time.Hour:   "3 days",
	} {
		if got := span(d); got != want {
			t.Errorf("span(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestShortenLongTitles(t *testing.T) {
	r := newRenderer(t)
	msg := goldenMessages[KindOverdue]
	msg.Process.Title = strings.Repeat("very long title ", 20)
	out, err := r.Render(msg)
	if err != nil {
		t.Fatal(err)
	}
	if n := len([]rune(out.Subject)); n > 140 {
		t.Errorf("subject has %d runes: %q", n, out.Subject)
	}
	if !strings.Contains(out.Text, strings.TrimSpace(msg.Process.Title)) {
		t.Error("body lost the full title")
	}
}
