package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/mailcatch"
	"github.com/opsflow/opsflow/internal/testenv"
	"github.com/opsflow/opsflow/notify"
	"github.com/opsflow/opsflow/postgres"
	"github.com/opsflow/opsflow/server"
	"github.com/opsflow/opsflow/worker"
)

// notifyApp is an app with a database of its own (so its dispatcher sees
// only its own outbox), a real SMTP server (the mail catcher) and the
// notification dispatcher running beside its worker, as in production.
type notifyApp struct {
	*app
	mail  *mailcatch.Server
	disp  *worker.Dispatcher
	clock *testClock
	stop  func()
}

// testClock is the dispatcher's clock: the real time plus an offset a test
// moves forward to reach tomorrow's digest hour.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// newNotifyApp starts it; store, when set, wraps the dispatcher's store
// (to inject faults after a send).
func newNotifyApp(t *testing.T, store func(worker.DispatchStore) worker.DispatchStore) *notifyApp {
	t.Helper()
	setup(t)
	ctx := context.Background()
	urls, err := testenv.NewDatabaseWithRoles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := postgres.Open(ctx, urls.Owner)
	if err != nil {
		t.Fatal(err)
	}
	if err := postgres.Migrate(ctx, owner, postgres.GrantTo(testenv.AppRole)); err != nil {
		t.Fatal(err)
	}
	owner.Close()
	db, err := postgres.Open(ctx, urls.App)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tokens := map[string]string{}
	for _, u := range users {
		if tokens[u.ID], err = db.CreateToken(ctx, u, "test"); err != nil {
			t.Fatal(err)
		}
	}
	queueSeq.Lock()
	queueSeq.n++
	queue := fmt.Sprintf("test-%s-%d-%d", strings.ReplaceAll(t.Name(), "/", "-"), os.Getpid(), queueSeq.n)
	queueSeq.Unlock()
	a := &app{t: t, DB: db, TC: shared.tc, Queue: queue, Outbound: testOutbound, tokens: tokens}
	a.StartWorker()
	t.Cleanup(a.StopWorker)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv := httptest.NewServer(server.New(server.Config{Store: db, Temporal: shared.tc, TaskQueue: queue, Logger: logger, Day: time.Second}))
	t.Cleanup(srv.Close)
	a.URL = srv.URL

	mctx, cancel := context.WithCancel(ctx)
	catcher, err := mailcatch.Start(mctx, "127.0.0.1:0", mailcatch.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(catcher.Addr(), ":")
	var p int
	fmt.Sscan(port, &p)
	email, err := notify.NewEmail(notify.EmailConfig{Host: host, Port: p, From: "opsflow@example.com", FromName: "opsflow", TLS: notify.TLSNone, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r, err := notify.NewRenderer(srv.URL, logger)
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{}
	var ds worker.DispatchStore = db
	if store != nil {
		ds = store(db)
	}
	d := &worker.Dispatcher{Store: ds, Renderer: r, Email: email, HTTP: testOutbound.Client(5 * time.Second), Log: logger,
		Every: 100 * time.Millisecond, Backoff: 100 * time.Millisecond, Attempts: 3, Lease: 2 * time.Second, Now: clock.Now}
	var wg sync.WaitGroup
	wg.Go(func() { d.Run(mctx) })
	n := &notifyApp{app: a, mail: catcher, disp: d, clock: clock, stop: func() { cancel(); wg.Wait() }}
	t.Cleanup(n.stop)
	return n
}

// person gives a test user an address (as an administrator would).
func (n *notifyApp) person(id, email, tz string, prefs map[string]any) {
	n.t.Helper()
	body := map[string]any{"name": id, "email": email, "timezone": tz}
	for _, u := range users {
		if u.ID == id {
			body["name"] = u.Name
		}
	}
	if prefs != nil {
		body["preferences"] = prefs
	}
	n.Must(http.StatusOK, "root", "PUT", "/v1/users/"+id, body)
}

// mailFor waits for a mail to addr whose subject holds each of words.
func (n *notifyApp) mailFor(addr string, within time.Duration, words ...string) mailcatch.Message {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	m, err := n.mail.WaitFor(ctx, func(m mailcatch.Message) bool {
		if len(m.To) != 1 || m.To[0] != addr {
			return false
		}
		for _, w := range words {
			if !strings.Contains(m.Subject, w) {
				return false
			}
		}
		return true
	})
	if err != nil {
		var got []string
		for _, m := range n.mail.Messages() {
			got = append(got, fmt.Sprintf("%v %q", m.To, m.Subject))
		}
		n.t.Fatalf("no mail to %s with %q within %s; received: %s", addr, words, within, strings.Join(got, "; "))
	}
	return m
}

// mailsTo counts the mails received by addr whose subject holds word.
func (n *notifyApp) mailsTo(addr, word string) []mailcatch.Message {
	var out []mailcatch.Message
	for _, m := range n.mail.Messages() {
		if len(m.To) == 1 && m.To[0] == addr && strings.Contains(m.Subject, word) {
			out = append(out, m)
		}
	}
	return out
}

func (n *notifyApp) deliveries(user, query string) []opsflow.Delivery {
	n.t.Helper()
	var page opsflow.Page[opsflow.Delivery]
	n.Must(http.StatusOK, user, "GET", query, nil).JSON(n.t, &page)
	return page.Items
}

// A CAPA owner with an e-mail address gets the reminder, the overdue
// notice and (through the tiers) the approvers and the administrator get
// the escalations: in their own time zone, each with a link to the
// record, as multipart text and HTML, each once.
func TestCAPAOverdueWorkIsMailed(t *testing.T) {
	n := newNotifyApp(t, nil)
	n.person("alice", "alice@example.com", "Europe/Berlin", nil)
	n.person("bob", "bob@example.com", "America/New_York", nil)
	n.person("root", "ops-admin@example.com", "UTC", nil)
	var c capaRecord
	n.Must(http.StatusCreated, "alice", "POST", "/v1/capas", capaBody("Mailed triage", "alice")).JSON(t, &c)

	assigned := n.mailFor("alice@example.com", 20*time.Second, "New task", "Mailed triage")
	reminder := n.mailFor("alice@example.com", 20*time.Second, "Due soon", "Mailed triage")
	overdue := n.mailFor("alice@example.com", 30*time.Second, "Overdue", "Mailed triage")
	escalated := n.mailFor("bob@example.com", 30*time.Second, "Escalated to you", "Mailed triage")
	admin := n.mailFor("ops-admin@example.com", 30*time.Second, "Escalated to you", "Mailed triage")
	link := n.URL + "/capas/" + c.ID
	for _, m := range []mailcatch.Message{assigned, reminder, overdue, escalated, admin} {
		if !strings.Contains(m.Text, link) || !strings.Contains(m.HTML, link) {
			t.Errorf("%q has no link to %s:\n%s", m.Subject, link, m.Text)
		}
		if strings.Join(m.ContentTypes, " ") != "multipart/alternative text/plain text/html" {
			t.Errorf("%q is %v; want text and HTML", m.Subject, m.ContentTypes)
		}
		if m.MessageID == "" || m.Header.Get(notify.HeaderNotificationID) == "" {
			t.Errorf("%q has no Message-ID or notification ID", m.Subject)
		}
		if strings.Contains(m.Text, "alice@example.com") && m.To[0] != "alice@example.com" {
			t.Errorf("%q to %v shows alice's address", m.Subject, m.To)
		}
	}
	// The link is the web app's page of the record: without a session it
	// asks to sign in and comes back there (a 404 would be a dead link).
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode/100 != 3 || !strings.HasPrefix(loc, "/signin") {
		t.Errorf("the mail's link %s answers %d → %q; want the sign-in page, then the record", link, res.StatusCode, loc)
	}
	if !strings.Contains(reminder.Text, "CET") && !strings.Contains(reminder.Text, "CEST") {
		t.Errorf("alice's reminder is not in her zone (Europe/Berlin):\n%s", reminder.Text)
	}
	if !strings.Contains(escalated.Text, "Alice Martin") && !strings.Contains(escalated.Text, "alice") {
		t.Errorf("bob's escalation does not say who holds the task:\n%s", escalated.Text)
	}

	// What was sent is visible to the recipient, with when.
	mine := n.deliveries("alice", "/v1/notifications?state=sent")
	kinds := map[string]bool{}
	for _, d := range mine {
		if d.ProcessID == c.ID {
			kinds[d.Kind] = true
			if d.SentAt == nil || d.Attempts != 1 || d.Channel != opsflow.ChannelEmail {
				t.Errorf("delivery %+v: want sent once by e-mail, with sent_at", d)
			}
		}
	}
	for _, k := range []string{opsflow.NotifyAssigned, opsflow.NotifyReminder, opsflow.NotifyOverdue} {
		if !kinds[k] {
			t.Errorf("alice's notifications lack %s: %v", k, kinds)
		}
	}
	// Another person's list is not hers.
	for _, d := range n.deliveries("bob", "/v1/notifications") {
		if d.UserID != "bob" {
			t.Errorf("bob sees %s's notification %s", d.UserID, d.ID)
		}
	}
	// Each message went out once, however many passes the dispatcher made.
	time.Sleep(500 * time.Millisecond)
	seen := map[string]int{}
	for _, m := range n.mail.Messages() {
		seen[m.MessageID]++
	}
	for id, k := range seen {
		if k > 1 {
			t.Errorf("message %s arrived %d times", id, k)
		}
	}
	n.Must(http.StatusUnprocessableEntity, "alice", "GET", "/v1/notifications?state=bogus", nil)
	n.Must(http.StatusForbidden, "alice", "GET", "/v1/admin/notifications", nil)
}

// A dead mail server delays mail, never a process: the CAPA moves on, the
// deliveries fail after their budget and are listed for the administrator,
// whose retry delivers them once the server is back.
func TestDeadMailServerFailsThenAdminRetryDelivers(t *testing.T) {
	n := newNotifyApp(t, nil)
	n.person("alice", "alice@example.com", "UTC", nil)
	if err := n.mail.SetFailure(mailcatch.Failure{Stage: mailcatch.StageConnect, Code: 421, Message: "service not available"}); err != nil {
		t.Fatal(err)
	}
	var c capaRecord
	n.Must(http.StatusCreated, "alice", "POST", "/v1/capas", map[string]any{
		"title": "Mail server down", "type": "corrective", "source": map[string]any{"type": "ncr"}, "problem": map[string]any{"what": "x"}, "owner": "alice",
	}).JSON(t, &c)
	if r := n.step(http.StatusOK, "alice", c.ID, "triage", map[string]any{"severity": 3, "occurrence": 2, "detection": 2}); r.State != "triage" {
		t.Fatalf("the CAPA did not move while mail is down: %s", r.State)
	}
	var failed []opsflow.Delivery
	n.Eventually("alice's assignment failed after its budget", 20*time.Second, func() bool {
		failed = nil
		for _, d := range n.deliveries("root", "/v1/admin/notifications?state=failed&user=alice") {
			if d.ProcessID == c.ID {
				failed = append(failed, d)
			}
		}
		return len(failed) > 0
	})
	d := failed[0]
	if d.Attempts != 3 || !strings.Contains(d.LastError, "421") {
		t.Errorf("failed delivery %+v: want 3 attempts and the server's answer", d)
	}
	if len(n.mail.Messages()) != 0 {
		t.Fatalf("mail arrived while the server refused it")
	}
	_ = n.mail.SetFailure(mailcatch.Failure{})
	var retried opsflow.Delivery
	n.Must(http.StatusOK, "root", "POST", "/v1/admin/notifications/"+d.ID+"/retry", nil).JSON(t, &retried)
	if retried.State != opsflow.DeliveryPending || retried.Attempts != 0 {
		t.Errorf("retried delivery %+v: want pending with a fresh budget", retried)
	}
	n.mailFor("alice@example.com", 10*time.Second, "Mail server down")
	n.Eventually("the retried delivery is sent", 10*time.Second, func() bool {
		for _, x := range n.deliveries("alice", "/v1/notifications?state=sent") {
			if x.ID == d.ID {
				return true
			}
		}
		return false
	})
	n.Must(http.StatusConflict, "root", "POST", "/v1/admin/notifications/"+d.ID+"/retry", nil)
	n.Must(http.StatusNotFound, "root", "POST", "/v1/admin/notifications/dlv_nope/retry", nil)
	n.Must(http.StatusForbidden, "alice", "POST", "/v1/admin/notifications/"+d.ID+"/retry", nil)
}

// flakyRecords fails the first few records of a sent delivery, as a
// database outage right after the send would.
type flakyRecords struct {
	worker.DispatchStore
	fails atomic.Int32
}

func (f *flakyRecords) FinishDelivery(ctx context.Context, id string, o postgres.DeliveryOutcome) error {
	if o.State == opsflow.DeliverySent && f.fails.Add(-1) >= 0 {
		return errors.New("connection refused (injected)")
	}
	return f.DispatchStore.FinishDelivery(ctx, id, o)
}

// A delivery whose record fails after the send is recorded again, not sent
// again: the mail arrives once.
func TestRecordRetriedAfterTheSendSendsOneMail(t *testing.T) {
	flaky := &flakyRecords{}
	flaky.fails.Store(3)
	n := newNotifyApp(t, func(s worker.DispatchStore) worker.DispatchStore { flaky.DispatchStore = s; return flaky })
	n.person("alice", "alice@example.com", "UTC", nil)
	var c capaRecord
	n.Must(http.StatusCreated, "alice", "POST", "/v1/capas", map[string]any{
		"title": "Once only", "type": "corrective", "source": map[string]any{"type": "ncr"}, "problem": map[string]any{"what": "x"}, "owner": "alice",
	}).JSON(t, &c)
	n.mailFor("alice@example.com", 20*time.Second, "Once only")
	n.Eventually("the delivery is recorded as sent", 20*time.Second, func() bool {
		for _, d := range n.deliveries("alice", "/v1/notifications?state=sent") {
			if d.ProcessID == c.ID {
				return true
			}
		}
		return false
	})
	if flaky.fails.Load() >= 0 {
		t.Fatalf("the injected record failures were not all hit (%d left)", flaky.fails.Load())
	}
	time.Sleep(3 * time.Second) // past the claim's lease
	got := n.mailsTo("alice@example.com", "Once only")
	seen := map[string]int{}
	for _, m := range got {
		seen[m.MessageID]++
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("message %s arrived %d times; want once", id, k)
		}
	}
	if len(got) == 0 {
		t.Errorf("no mail at all")
	}
}

// A digest user gets one mail a day at their hour, listing what is new,
// due soon and overdue across processes, never repeating what went out
// at once; escalations still go out at once.
func TestDigestIsOneMailADay(t *testing.T) {
	n := newNotifyApp(t, nil)
	n.person("alice", "alice@example.com", "Asia/Tokyo", map[string]any{"email": "digest", "digest_hour": 7})
	n.person("dave", "dave@example.com", "UTC", nil)
	var me opsflow.Profile
	n.Must(http.StatusOK, "alice", "GET", "/v1/me", nil).JSON(t, &me)
	if me.Preferences.Email != "digest" || me.Timezone != "Asia/Tokyo" || me.Email != "alice@example.com" {
		t.Fatalf("alice's profile %+v", me)
	}
	// Two CAPAs for alice; the day is long, so nothing falls due.
	a := newAppOn(n, 24*time.Hour)
	var c1, c2 capaRecord
	a.Must(http.StatusCreated, "alice", "POST", "/v1/capas", capaBody("Digest one", "alice")).JSON(t, &c1)
	a.Must(http.StatusCreated, "alice", "POST", "/v1/capas", capaBody("Digest two", "alice")).JSON(t, &c2)
	// dave's containment action is immediate mail: he gets it now.
	n.mailFor("dave@example.com", 20*time.Second, "quarantine lot 42")
	n.Eventually("alice's assignments are held for her digest", 20*time.Second, func() bool {
		return len(n.deliveries("alice", "/v1/notifications?state=digest")) == 2
	})
	if got := n.mailsTo("alice@example.com", ""); len(got) != 0 {
		t.Fatalf("alice got %d mails before her digest hour", len(got))
	}
	// Tomorrow, past 07:00 in Tokyo: one mail with both.
	n.clock.Advance(25 * time.Hour)
	m := n.mailFor("alice@example.com", 10*time.Second, "")
	for _, want := range []string{"Digest one", "Digest two", n.URL + "/capas/" + c1.ID, n.URL + "/capas/" + c2.ID} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("the digest lacks %q:\n%s", want, m.Text)
		}
	}
	n.Eventually("the items are digested", 10*time.Second, func() bool {
		return len(n.deliveries("alice", "/v1/notifications?state=digested")) == 2
	})
	// The next day with nothing new: no mail.
	n.clock.Advance(24 * time.Hour)
	time.Sleep(time.Second)
	if got := n.mailsTo("alice@example.com", ""); len(got) != 1 {
		t.Fatalf("alice has %d mails after a day with nothing new; want the one digest", len(got))
	}
	// A new item, then the next day: a second digest with only it.
	var c3 capaRecord
	a.Must(http.StatusCreated, "alice", "POST", "/v1/capas", capaBody("Digest three", "alice")).JSON(t, &c3)
	n.Eventually("the new assignment is held", 20*time.Second, func() bool {
		return len(n.deliveries("alice", "/v1/notifications?state=digest")) == 1
	})
	n.clock.Advance(24 * time.Hour)
	n.Eventually("a second digest", 10*time.Second, func() bool { return len(n.mailsTo("alice@example.com", "")) == 2 })
	second := n.mailsTo("alice@example.com", "")[1]
	if !strings.Contains(second.Text, "Digest three") || strings.Contains(second.Text, "Digest one") {
		t.Errorf("the second digest should list only the new task:\n%s", second.Text)
	}
}

// newAppOn serves n's database with another process day (the digest test
// needs tasks that do not fall due while it runs).
func newAppOn(n *notifyApp, day time.Duration) *app {
	t := n.t
	srv := httptest.NewServer(server.New(server.Config{Store: n.DB, Temporal: shared.tc, TaskQueue: n.Queue,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Day: day}))
	t.Cleanup(srv.Close)
	return &app{t: t, URL: srv.URL, DB: n.DB, TC: n.TC, Queue: n.Queue, tokens: n.tokens}
}

// Slack, Teams and a signed webhook reach a local receiver; the webhook's
// HMAC verifies with the person's secret.
func TestChatAndWebhookNotifications(t *testing.T) {
	n := newNotifyApp(t, nil)
	type hit struct {
		path   string
		header http.Header
		body   []byte
	}
	hits := make(chan hit, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hits <- hit{r.URL.Path, r.Header.Clone(), b}
		if r.URL.Path == "/teams" {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(recv.Close)
	secret := "a-long-shared-secret-for-hmac"
	n.person("alice", "", "UTC", map[string]any{"email": "off", "slack": "immediate", "teams": "immediate", "webhook": "immediate",
		"slack_webhook": recv.URL + "/slack", "teams_webhook": recv.URL + "/teams", "webhook_url": recv.URL + "/hook", "webhook_secret": secret})
	var prof opsflow.Profile
	n.Must(http.StatusOK, "root", "GET", "/v1/users/alice", nil).JSON(t, &prof)
	if prof.Preferences.WebhookSecret != opsflow.MaskedSecret {
		t.Errorf("the webhook secret reads back as %q; want it masked", prof.Preferences.WebhookSecret)
	}
	var c capaRecord
	n.Must(http.StatusCreated, "alice", "POST", "/v1/capas", map[string]any{
		"title": "Chat *me*", "type": "corrective", "source": map[string]any{"type": "ncr"}, "problem": map[string]any{"what": "x"}, "owner": "alice",
	}).JSON(t, &c)
	got := map[string]hit{}
	deadline := time.After(20 * time.Second)
	for len(got) < 3 {
		select {
		case h := <-hits:
			got[h.path] = h
		case <-deadline:
			t.Fatalf("receivers got %d of 3 calls", len(got))
		}
	}
	link := n.URL + "/capas/" + c.ID
	for _, p := range []string{"/slack", "/teams", "/hook"} {
		if !strings.Contains(string(got[p].body), link) {
			t.Errorf("%s payload has no link to %s: %s", p, link, got[p].body)
		}
	}
	h := got["/hook"]
	if err := notify.VerifySignature([]byte(secret), h.header.Get("Opsflow-Signature"), h.header.Get("Opsflow-Timestamp"), h.body, 5*time.Minute, time.Now()); err != nil {
		t.Errorf("the webhook's signature does not verify: %v", err)
	}
	if err := notify.VerifySignature([]byte("another secret entirely"), h.header.Get("Opsflow-Signature"), h.header.Get("Opsflow-Timestamp"), h.body, 5*time.Minute, time.Now()); err == nil {
		t.Errorf("the signature verifies with the wrong secret")
	}
	var ev notify.WebhookEvent
	if err := json.Unmarshal(h.body, &ev); err != nil || ev.Kind != "assigned" || ev.RecipientID != "alice" {
		t.Errorf("webhook event %+v (%v)", ev, err)
	}
	// Changing the preferences without the secret keeps it (sent back masked).
	prof.Preferences.Slack = "off"
	n.Must(http.StatusOK, "root", "PUT", "/v1/users/alice", map[string]any{"name": prof.Name, "timezone": "UTC", "preferences": prof.Preferences})
	n.Must(http.StatusUnprocessableEntity, "alice", "PUT", "/v1/me", map[string]any{"timezone": "UTC",
		"preferences": map[string]any{"email": "off", "webhook": "immediate", "webhook_url": "ftp://x"}})
}

// People named in an input must be users; an owner hands a task over;
// administrators manage users, every change on the user's stream.
func TestPeopleAndReassignment(t *testing.T) {
	a := newApp(t)
	body := capaBody("Ghost owner", "ghost")
	if e := a.Must(http.StatusUnprocessableEntity, "alice", "POST", "/v1/capas", body).Err(t); e.Field != "owner" {
		t.Errorf("owner ghost: %+v", e)
	}
	body = capaBody("Ghost containment", "alice")
	body["containment"] = []any{map[string]any{"description": "quarantine", "owner": "nobody-" + uniq(), "due_days": 3}}
	if e := a.Must(http.StatusUnprocessableEntity, "alice", "POST", "/v1/capas", body).Err(t); e.Field != "containment[0].owner" {
		t.Errorf("containment owner: %+v", e)
	}
	var c capaRecord
	a.Must(http.StatusCreated, "alice", "POST", "/v1/capas", capaBody("Hand over", "alice")).JSON(t, &c)
	var triage string
	for _, tk := range c.Tasks {
		if strings.HasPrefix(tk.ID, "triage") {
			triage = tk.ID
		}
	}
	path := "/v1/capas/" + c.ID + "/tasks/" + triage + "/reassign"
	if e := a.Must(http.StatusUnprocessableEntity, "alice", "POST", path, map[string]any{"assignee": "ghost"}).Err(t); e.Field != "assignee" {
		t.Errorf("reassign to ghost: %+v", e)
	}
	a.Must(http.StatusForbidden, "bob", "POST", path, map[string]any{"assignee": "bob"})
	a.Must(http.StatusOK, "alice", "POST", path, map[string]any{"assignee": "dave", "reason": "alice is on leave"})
	r := a.capa(c.ID)
	for _, tk := range r.Tasks {
		if tk.ID == triage && tk.Assignee != "dave" {
			t.Errorf("triage is assigned to %q after the hand-over", tk.Assignee)
		}
	}
	var reassigned bool
	for _, e := range a.audit(c.ID) {
		reassigned = reassigned || (e.Action == "task.reassigned" && e.Old == "alice" && e.New == "dave" && e.ActorID == "alice")
	}
	if !reassigned {
		t.Errorf("the hand-over is not in the trail")
	}

	// Users: an administrator creates and changes them, audited.
	id := "zoe-" + uniq()
	a.Must(http.StatusForbidden, "alice", "PUT", "/v1/users/"+id, map[string]any{"name": "Zoe", "roles": []string{"owner"}})
	a.Must(http.StatusUnprocessableEntity, "root", "PUT", "/v1/users/"+id, map[string]any{"name": "Zoe"})
	a.Must(http.StatusUnprocessableEntity, "root", "PUT", "/v1/users/system", map[string]any{"name": "Sys", "roles": []string{"owner"}})
	a.Must(http.StatusUnprocessableEntity, "root", "PUT", "/v1/users/"+id, map[string]any{"name": "Zoe", "roles": []string{"owner"}, "timezone": "Mars/Olympus"})
	var zoe opsflow.Profile
	a.Must(http.StatusCreated, "root", "PUT", "/v1/users/"+id, map[string]any{"name": "Zoe Park", "roles": []string{"owner"}, "email": "zoe@example.com"}, "If-None-Match", "*").JSON(t, &zoe)
	// Create-only: the ID is taken now, and she is not edited.
	if e := a.Must(http.StatusConflict, "root", "PUT", "/v1/users/"+id, map[string]any{"name": "Zoe Other", "roles": []string{"owner"}}, "If-None-Match", "*").Err(t); e.Field != "id" {
		t.Errorf("a create of a taken ID: %+v", e)
	}
	if zoe.Timezone != "UTC" || zoe.Preferences.Email != opsflow.DeliverImmediate || zoe.Preferences.Hour() != 7 {
		t.Errorf("a new user's defaults: %+v", zoe)
	}
	if e := a.Must(http.StatusUnprocessableEntity, "root", "PUT", "/v1/users/"+id, map[string]any{"roles": []string{"owner", "approver"}}).Err(t); e.Field != "reason" {
		t.Errorf("a role change without a reason: %+v", e)
	}
	a.Must(http.StatusOK, "root", "PUT", "/v1/users/"+id, map[string]any{"roles": []string{"owner", "approver"}, "reason": "joined the board", "email": "zoe.park@example.com", "timezone": "Asia/Seoul"}).JSON(t, &zoe)
	if !opsflow.SameRoles(zoe.Roles, []opsflow.Role{opsflow.RoleOwner, opsflow.RoleApprover}) || zoe.Email != "zoe.park@example.com" || zoe.Timezone != "Asia/Seoul" {
		t.Errorf("after the change: %+v", zoe)
	}
	// What a change leaves out stays: an administrator changing only the
	// roles does not take the address (and the notifications) away.
	a.Must(http.StatusOK, "root", "PUT", "/v1/users/"+id, map[string]any{"preferences": map[string]any{"email": "digest", "digest_hour": 9}}).JSON(t, &zoe)
	a.Must(http.StatusOK, "root", "PUT", "/v1/users/"+id, map[string]any{"roles": []string{"owner"}, "reason": "left the board"}).JSON(t, &zoe)
	if zoe.Email != "zoe.park@example.com" || zoe.Timezone != "Asia/Seoul" || zoe.Preferences.Email != opsflow.DeliverDigest || zoe.Preferences.Hour() != 9 {
		t.Errorf("a roles-only change changed the rest: %+v", zoe)
	}
	tok, err := a.DB.CreateToken(context.Background(), opsflow.User{ID: id, Name: zoe.Name, Roles: zoe.Roles}, "test")
	if err != nil {
		t.Fatal(err)
	}
	shared.tokens[id] = tok
	t.Cleanup(func() { delete(shared.tokens, id) })
	a.Must(http.StatusOK, id, "PUT", "/v1/me", map[string]any{"timezone": "Europe/Berlin"}).JSON(t, &zoe)
	if zoe.Email != "zoe.park@example.com" || zoe.Timezone != "Europe/Berlin" || zoe.Preferences.Email != opsflow.DeliverDigest {
		t.Errorf("a time-zone-only change changed the rest: %+v", zoe)
	}
	var emptied opsflow.Profile
	a.Must(http.StatusOK, id, "PUT", "/v1/me", map[string]any{"email": ""}).JSON(t, &emptied)
	if emptied.Email != "" || emptied.Preferences.Hour() != 9 {
		t.Errorf("an emptied address: %+v", emptied)
	}
	a.Must(http.StatusOK, "root", "GET", "/v1/users/"+id, nil)
	a.Must(http.StatusForbidden, "alice", "GET", "/v1/users/"+id, nil)
	a.Must(http.StatusNotFound, "root", "GET", "/v1/users/nobody-"+uniq(), nil)
	trail, err := a.DB.AuditEvents(context.Background(), opsflow.UserStream(id))
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range trail {
		actions = append(actions, e.Action+":"+e.Field)
	}
	if got := strings.Join(actions, " "); got != "user.created:roles user.profile_changed:email user.roles_changed:roles user.profile_changed:email user.profile_changed:timezone "+
		"user.preferences_changed:preferences user.roles_changed:roles token.issued:tokens user.profile_changed:timezone user.profile_changed:email" {
		t.Errorf("zoe's trail: %s", got)
	}
	// A person sets their own preferences; a bad one names its field.
	if e := a.Must(http.StatusUnprocessableEntity, "dave", "PUT", "/v1/me", map[string]any{"preferences": map[string]any{"email": "hourly"}}).Err(t); e.Field != "preferences.email" {
		t.Errorf("a bad mode: %+v", e)
	}
	if e := a.Must(http.StatusUnprocessableEntity, "dave", "PUT", "/v1/me", map[string]any{"email": "not an address"}).Err(t); e.Field != "email" {
		t.Errorf("a bad address: %+v", e)
	}
	// No kind at once, said with [], stays none (left out, it is the
	// defaults).
	sam, _ := a.newSamReyes()
	a.Must(http.StatusOK, sam, "PUT", "/v1/me", map[string]any{"preferences": map[string]any{"email": "digest", "always_immediate": []string{}}})
	if p, err := a.DB.Profile(context.Background(), sam); err != nil || p.Preferences.AlwaysImmediate == nil || len(p.Preferences.AlwaysImmediate) != 0 {
		t.Errorf("none at once: %+v %v", p.Preferences, err)
	}
	// and it reads back as [], so a profile read and sent back unchanged
	// keeps it.
	var me struct {
		Preferences map[string]any `json:"preferences"`
	}
	a.Must(http.StatusOK, sam, "GET", "/v1/me", nil).JSON(t, &me)
	if ai, ok := me.Preferences["always_immediate"].([]any); !ok || len(ai) != 0 {
		t.Errorf("GET /v1/me after none at once: %v", me.Preferences)
	}
}

// A monthly report reaches each address of its distribution list once,
// with its PDF attached and a link to it.
func TestReportIsMailedToItsDistribution(t *testing.T) {
	n := newNotifyApp(t, nil)
	pdf := []byte("%PDF-1.4\n% a one-page report\n")
	_, created, err := n.DB.SaveReport(context.Background(), postgres.StoredReport{Report: opsflow.Report{
		ID: opsflow.ReportID("2026-10"), Period: "2026-10", TimeZone: "UTC", GeneratedAt: time.Now(), GeneratedBy: "system",
		Distribution: []string{"ceo@example.com", "coo@example.com"}}, HTML: []byte("<html></html>"), PDF: pdf})
	if err != nil || !created {
		t.Fatalf("save report: %v (created %v)", err, created)
	}
	for _, addr := range []string{"ceo@example.com", "coo@example.com"} {
		m := n.mailFor(addr, 20*time.Second, "Monthly KPI report")
		if !strings.Contains(strings.Join(m.ContentTypes, ","), "application/pdf") || !strings.Contains(string(m.Raw), "opsflow-kpi-report-2026-10.pdf") {
			t.Errorf("the report mail to %s has no PDF: %v", addr, m.ContentTypes)
		}
		if !strings.Contains(m.Text, n.URL+"/reports/rpt-2026-10") {
			t.Errorf("no link to the report:\n%s", m.Text)
		}
	}
	n.Eventually("both report deliveries are sent", 10*time.Second, func() bool {
		k := 0
		for _, d := range n.deliveries("root", "/v1/admin/notifications?state=sent") {
			if d.Kind == opsflow.NotifyReport {
				k++
			}
		}
		return k == 2
	})
}
