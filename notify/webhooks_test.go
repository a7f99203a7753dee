package notify

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is a real HTTP server that records what it was sent and answers
// as the test tells it to.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []recorded
	answer func(w http.ResponseWriter, r *http.Request)
}

type recorded struct {
	method, path string
	header       http.Header
	body         []byte
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{answer: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, recorded{r.Method, r.URL.Path, r.Header.Clone(), body})
		answer := rc.answer
		rc.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) respond(f func(w http.ResponseWriter, r *http.Request)) {
	rc.mu.Lock()
	rc.answer = f
	rc.mu.Unlock()
}

func (rc *receiver) requests() []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]recorded(nil), rc.reqs...)
}

func (rc *receiver) last(t *testing.T) recorded {
	t.Helper()
	reqs := rc.requests()
	if len(reqs) == 0 {
		t.Fatal("receiver got no request")
	}
	return reqs[len(reqs)-1]
}

func status(code int, body string, header ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

// Slack's answer texts are from its incoming-webhook documentation.
func TestSlackPayload(t *testing.T) {
	rc := newReceiver(t)
	s, err := NewSlack(SlackConfig{URL: rc.URL + "/services/T000/B000/XXXX"})
	if err != nil {
		t.Fatal(err)
	}
	r := rendered(t, KindEscalated)
	if err := s.Send(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	req := rc.last(t)
	if req.method != http.MethodPost || req.path != "/services/T000/B000/XXXX" ||
		req.header.Get("Content-Type") != "application/json" || req.header.Get("User-Agent") != userAgent {
		t.Errorf("request: %s %s %v", req.method, req.path, req.header)
	}
	var p struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type, Text string
			} `json:"text"`
			Fields []struct {
				Type, Text string
			} `json:"fields"`
			Elements []struct {
				Type string
				Text struct{ Type, Text string }
				URL  string
			} `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(req.body, &p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Text, "Escalated to you: Record verified root cause") || !strings.Contains(p.Text, r.Link) {
		t.Errorf("text = %q", p.Text)
	}
	if len(p.Blocks) != 3 {
		t.Fatalf("blocks: %s", req.body)
	}
	if b := p.Blocks[0]; b.Type != "section" || b.Text.Type != "mrkdwn" || b.Text.Text != "*<"+r.Link+"|"+r.Title+">*" {
		t.Errorf("head block: %+v", b)
	}
	if b := p.Blocks[1]; len(b.Fields) != len(r.Facts) || b.Fields[0].Text != "*Process*\nCAPA capa-1234 \"Burr on housing\"" {
		t.Errorf("fields block: %+v", b)
	}
	if b := p.Blocks[2]; b.Type != "actions" || len(b.Elements) != 1 || b.Elements[0].Type != "button" ||
		b.Elements[0].URL != r.Link || b.Elements[0].Text.Text != "Open the task" {
		t.Errorf("actions block: %+v", b)
	}
}

func TestSlackEscapesAndDigest(t *testing.T) {
	rc := newReceiver(t)
	s, err := NewSlack(SlackConfig{URL: rc.URL})
	if err != nil {
		t.Fatal(err)
	}
	msg := goldenMessages[KindAssigned]
	msg.Task = &Task{ID: "t1", Title: "<!channel> & <https://evil.example|click>"}
	out, err := newRenderer(t).Render(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(t.Context(), out); err != nil {
		t.Fatal(err)
	}
	body := string(rc.last(t).body)
	if strings.Contains(body, "<!channel>") || strings.Contains(body, "<https://evil") {
		t.Errorf("mrkdwn not escaped: %s", body)
	}
	if !strings.Contains(body, `\u0026lt;!channel\u0026gt; \u0026amp;`) {
		t.Errorf("escaped title missing: %s", body)
	}

	if err := s.Send(t.Context(), rendered(t, KindDigest)); err != nil {
		t.Fatal(err)
	}
	var p struct {
		Blocks []struct{ Text *struct{ Text string } }
	}
	if err := json.Unmarshal(rc.last(t).body, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Blocks) != 5 { // head, three sections, actions
		t.Fatalf("digest blocks: %d", len(p.Blocks))
	}
	want := "*Overdue (3)*\n• <https://opsflow.example.com/capas/capa-1234#task-rootcause|Record verified root cause> — CAPA capa-1234 \"Burr on housing\", due Thu 19 Nov 2026, 07:00 CET (2 days overdue)\n"
	if s := p.Blocks[1].Text.Text; !strings.HasPrefix(s, want) {
		t.Errorf("overdue section:\n%s\nwant prefix\n%s", s, want)
	}
}

func TestTeamsPayload(t *testing.T) {
	rc := newReceiver(t)
	rc.respond(status(http.StatusAccepted, "")) // a Workflows webhook
	tm, err := NewTeams(TeamsConfig{URL: rc.URL + "/workflows/abc"})
	if err != nil {
		t.Fatal(err)
	}
	r := rendered(t, KindApprovalRequested)
	if err := tm.Send(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	var p struct {
		Type        string
		Attachments []struct {
			ContentType string
			ContentURL  *string
			Content     struct {
				Schema  string `json:"$schema"`
				Type    string
				Version string
				Body    []struct {
					Type, Text string
					Facts      []struct{ Title, Value string }
				}
				Actions []struct{ Type, Title, URL string }
			}
		}
	}
	req := rc.last(t)
	if err := json.Unmarshal(req.body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != "message" || len(p.Attachments) != 1 {
		t.Fatalf("envelope: %s", req.body)
	}
	a := p.Attachments[0]
	c := a.Content
	if a.ContentType != "application/vnd.microsoft.card.adaptive" || c.Type != "AdaptiveCard" || c.Version != "1.4" ||
		!strings.HasPrefix(c.Schema, "http://adaptivecards.io/schemas/") {
		t.Errorf("card header: %+v", a)
	}
	if len(c.Body) != 2 || c.Body[0].Type != "TextBlock" || c.Body[0].Text != r.Title || c.Body[1].Type != "FactSet" {
		t.Fatalf("body: %+v", c.Body)
	}
	if len(c.Body[1].Facts) != len(r.Facts) || c.Body[1].Facts[3].Title != "Note" ||
		!strings.Contains(c.Body[1].Facts[3].Value, "Please check the due dates.") {
		t.Errorf("facts: %+v", c.Body[1].Facts)
	}
	if len(c.Actions) != 1 || c.Actions[0].Type != "Action.OpenUrl" || c.Actions[0].URL != r.Link || c.Actions[0].Title != "Review and decide" {
		t.Errorf("actions: %+v", c.Actions)
	}

	msg := goldenMessages[KindOverdue]
	msg.Task = &Task{ID: "t", Title: "[Click me](https://evil.example)", DueAt: at.Add(-time.Hour)}
	out, err := newRenderer(t).Render(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := tm.Send(t.Context(), out); err != nil {
		t.Fatal(err)
	}
	if body := string(rc.last(t).body); strings.Contains(body, "[Click me](") {
		t.Errorf("markdown link survived: %s", body)
	}

	if err := tm.Send(t.Context(), rendered(t, KindDigest)); err != nil {
		t.Fatal(err)
	}
	if body := string(rc.last(t).body); !strings.Contains(body, `"text":"Overdue (3)"`) || !strings.Contains(body, `"title":"Record verified root cause"`) {
		t.Errorf("digest card: %s", body)
	}
}

// Office 365 connectors answer 200 even when Teams refused the card; only
// the body tells.
func TestTeamsHiddenFailures(t *testing.T) {
	rc := newReceiver(t)
	tm, err := NewTeams(TeamsConfig{URL: rc.URL})
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error "
	for _, c := range []struct {
		body      string
		ok        bool
		code      int
		permanent bool
	}{
		{"1", true, 0, false},
		{prefix + "429 with ContextId tcid=0,server=msgapi..", false, 429, false},
		{prefix + "413 with ContextId tcid=1", false, 413, true},
		{prefix + "400 with ContextId tcid=2", false, 400, true},
		{"Webhook message delivery failed with error: something new", false, 0, false},
	} {
		rc.respond(status(http.StatusOK, c.body))
		err := tm.Send(t.Context(), rendered(t, KindOverdue))
		if c.ok {
			if err != nil {
				t.Errorf("%q: %v", c.body, err)
			}
			continue
		}
		var de *DeliveryError
		if !errors.As(err, &de) || de.Code != c.code || IsPermanent(err) != c.permanent || de.Channel != "teams" {
			t.Errorf("%q: err = %v, want code %d permanent %v", c.body, err, c.code, c.permanent)
		}
	}
}

func TestWebhookStatusClassification(t *testing.T) {
	rc := newReceiver(t)
	s, err := NewSlack(SlackConfig{URL: rc.URL + "/services/T000/B000/SECRET"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		answer     func(http.ResponseWriter, *http.Request)
		code       int
		permanent  bool
		retryAfter time.Duration
		text       string
	}{
		{status(400, "invalid_payload"), 400, true, 0, "invalid_payload"},
		{status(403, "action_prohibited"), 403, true, 0, "action_prohibited"},
		{status(404, "channel_not_found"), 404, true, 0, "channel_not_found"},
		{status(410, "channel_is_archived"), 410, true, 0, "channel_is_archived"},
		{status(408, ""), 408, false, 0, "408"},
		{status(429, "rate_limited", "Retry-After", "7"), 429, false, 7 * time.Second, "rate_limited"},
		{status(500, "rollup_error"), 500, false, 0, "rollup_error"},
		{status(503, "", "Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)), 503, false, time.Hour, "503"},
	} {
		rc.respond(c.answer)
		err := s.Send(t.Context(), rendered(t, KindOverdue))
		var de *DeliveryError
		if !errors.As(err, &de) || de.Code != c.code || IsPermanent(err) != c.permanent || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%d: err = %v, want code %d permanent %v", c.code, err, c.code, c.permanent)
			continue
		}
		if got := RetryAfter(err); got > c.retryAfter || got < c.retryAfter-2*time.Second {
			t.Errorf("%d: RetryAfter = %v, want %v", c.code, got, c.retryAfter)
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("error reveals the webhook URL's secret: %v", err)
		}
	}

	// A receiver that answers a novel: the error stays short and the read
	// is bounded.
	rc.respond(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(400)
		_, _ = io.WriteString(w, strings.Repeat("x", 10<<20))
	})
	if err := s.Send(t.Context(), rendered(t, KindOverdue)); err == nil || len(err.Error()) > 500 {
		t.Errorf("long answer: %d-byte error", len(err.Error()))
	}
}

func TestWebhookTransportFailures(t *testing.T) {
	rc := newReceiver(t)
	rc.respond(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	s, err := NewSlack(SlackConfig{URL: rc.URL + "/services/T000/B000/SECRET", Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = s.Send(t.Context(), rendered(t, KindOverdue))
	if err == nil || IsPermanent(err) || time.Since(start) > 3*time.Second {
		t.Errorf("slow receiver: err = %v after %v, want a prompt transient failure", err, time.Since(start))
	}
	if err != nil && strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error reveals the webhook URL's secret: %v", err)
	}

	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	s, err = NewSlack(SlackConfig{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(t.Context(), rendered(t, KindOverdue)); err == nil || IsPermanent(err) {
		t.Errorf("dead receiver: err = %v, want transient", err)
	}
}

func TestWebhookRedirects(t *testing.T) {
	other := newReceiver(t) // another host: must never see the payload
	rc := newReceiver(t)
	rc.respond(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved-away":
			http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
		case "/moved-here":
			http.Redirect(w, r, "/new", http.StatusPermanentRedirect)
		case "/found":
			http.Redirect(w, r, "/new", http.StatusFound)
		case "/new":
			_, _ = io.WriteString(w, "ok")
		}
	})
	secret := []byte("0123456789abcdef0123456789abcdef")
	for _, c := range []struct {
		path string
		ok   bool
	}{
		{"/moved-away", false}, // another host
		{"/found", false},      // 302 would turn the POST into a GET
		{"/moved-here", true},  // 308 on the same host keeps method and body
	} {
		w, err := NewWebhook(WebhookConfig{URL: rc.URL + c.path, Secret: secret})
		if err != nil {
			t.Fatal(err)
		}
		err = w.Send(t.Context(), rendered(t, KindOverdue))
		if c.ok != (err == nil) || (!c.ok && !IsPermanent(err)) {
			t.Errorf("%s: err = %v", c.path, err)
		}
	}
	if n := len(other.requests()); n != 0 {
		t.Errorf("the other host got %d requests", n)
	}
	last := rc.last(t)
	if last.path != "/new" || last.method != http.MethodPost || len(last.body) == 0 {
		t.Errorf("after 308: %s %s with %d bytes", last.method, last.path, len(last.body))
	}
	if err := VerifySignature(secret, last.header.Get(HeaderSignature), last.header.Get(HeaderTimestamp), last.body, 0, time.Now()); err != nil {
		t.Errorf("signature after 308: %v", err)
	}
}

func TestWebhookSignedEvent(t *testing.T) {
	rc := newReceiver(t)
	secret := []byte("whsec_0123456789abcdef0123456789abcdef")
	w, err := NewWebhook(WebhookConfig{URL: rc.URL + "/hooks/opsflow", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	r := rendered(t, KindEscalated)
	if err := w.Send(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	req := rc.last(t)
	sig, ts := req.header.Get(HeaderSignature), req.header.Get(HeaderTimestamp)
	if err := VerifySignature(secret, sig, ts, req.body, 5*time.Minute, time.Now()); err != nil {
		t.Fatalf("VerifySignature: %v (sig %q, ts %q)", err, sig, ts)
	}
	if got := req.header.Get(HeaderWebhookID); got != "ntf-escalated-1" {
		t.Errorf("%s = %q", HeaderWebhookID, got)
	}
	var ev WebhookEvent
	if err := json.Unmarshal(req.body, &ev); err != nil {
		t.Fatal(err)
	}
	due := at.Add(-50 * time.Hour)
	if ev.ID != "ntf-escalated-1" || ev.Kind != KindEscalated || ev.Subject != r.Subject || ev.Text != r.Text ||
		ev.Link != r.Link || ev.RecipientID != "u-ann" || !ev.Time.Equal(at) ||
		ev.Process == nil || *ev.Process != (WebhookProcess{"capa", "capa-1234", "Burr on housing"}) ||
		ev.Task == nil || ev.Task.ID != "rootcause" || ev.Task.EscalationLevel != 2 || ev.Task.DueAt == nil || !ev.Task.DueAt.Equal(due) {
		t.Errorf("event = %+v", ev)
	}
	// The body names the recipient by ID only.
	if strings.Contains(string(req.body), "ann@example.com") {
		t.Error("webhook body carries the recipient's e-mail address")
	}

	// What a receiver must reject.
	if !strings.Contains(string(req.body), `"escalation_level":2`) {
		t.Fatalf("the tampering below would change nothing: %s", req.body)
	}
	tsN, _ := strconv.ParseInt(ts, 10, 64)
	signedAt := time.Unix(tsN, 0)
	for name, c := range map[string]struct {
		secret    []byte
		sig, ts   string
		body      []byte
		now       time.Time
		tolerance time.Duration
		want      error
	}{
		"tampered body":       {secret, sig, ts, []byte(strings.Replace(string(req.body), `"escalation_level":2`, `"escalation_level":1`, 1)), signedAt, 0, ErrSignatureMismatch},
		"wrong secret":        {[]byte("guess"), sig, ts, req.body, signedAt, 0, ErrSignatureMismatch},
		"moved timestamp":     {secret, sig, strconv.FormatInt(tsN+600, 10), req.body, signedAt.Add(600 * time.Second), 0, ErrSignatureMismatch},
		"replayed later":      {secret, sig, ts, req.body, signedAt.Add(6 * time.Minute), 0, ErrTimestampSkew},
		"from the future":     {secret, sig, ts, req.body, signedAt.Add(-2 * time.Minute), time.Minute, ErrTimestampSkew},
		"no signature":        {secret, "", ts, req.body, signedAt, 0, ErrSignatureMissing},
		"unknown scheme only": {secret, "v0=" + strings.TrimPrefix(sig, "v1="), ts, req.body, signedAt, 0, ErrSignatureMissing},
		"garbage signature":   {secret, "v1=zz", ts, req.body, signedAt, 0, ErrSignatureMismatch},
		"bad timestamp":       {secret, sig, "yesterday", req.body, signedAt, 0, ErrTimestampInvalid},
	} {
		if err := VerifySignature(c.secret, c.sig, c.ts, c.body, c.tolerance, c.now); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", name, err, c.want)
		}
	}
	// Within tolerance, and with a second (rotated) signature listed first.
	if err := VerifySignature(secret, "v1=00ff, "+sig, ts, req.body, 0, signedAt.Add(4*time.Minute)); err != nil {
		t.Errorf("rotated header: %v", err)
	}
}

// The scheme is fixed by a vector computed outside Go:
//
//	printf '1795000000.{"id":"ntf-1"}' | openssl dgst -sha256 -hmac whsec_test
func TestSignKnownVector(t *testing.T) {
	got := Sign([]byte("whsec_test"), 1795000000, []byte(`{"id":"ntf-1"}`))
	if want := "v1=d68ea56fd8b769e35bda899fa6f63ef03ce68d36c38663c2da33e794057a657d"; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestWebhookDigestEvent(t *testing.T) {
	ev := Event(rendered(t, KindDigest))
	if ev.Process != nil || ev.Task != nil || len(ev.Digest) != 3 || ev.Digest[0].Heading != "Overdue" ||
		ev.Digest[0].Lines[0].Link != "https://opsflow.example.com/capas/capa-1234#task-rootcause" {
		t.Errorf("digest event = %+v", ev)
	}
}

func TestNewChannelsCheckConfig(t *testing.T) {
	if _, err := NewWebhook(WebhookConfig{URL: "https://example.com/hook"}); err == nil {
		t.Error("webhook without a secret accepted")
	}
	for _, u := range []string{"", "hooks.slack.com/services/x", "ftp://example.com/x", "https:///x"} {
		if _, err := NewSlack(SlackConfig{URL: u}); err == nil {
			t.Errorf("Slack URL %q accepted", u)
		}
		if _, err := NewTeams(TeamsConfig{URL: u}); err == nil {
			t.Errorf("Teams URL %q accepted", u)
		}
	}
	// The caller's client is not modified.
	c := &http.Client{}
	if _, err := NewSlack(SlackConfig{URL: "https://hooks.slack.com/services/x", Client: c}); err != nil || c.CheckRedirect != nil {
		t.Errorf("caller's client changed: %v", err)
	}
}
