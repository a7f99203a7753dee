package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opsflow/opsflow/internal/mailcatch"
)

// These tests send through go-mail to a real SMTP server (mailcatch, on a
// loopback port) and read back what arrived.

func catcher(t *testing.T, opts ...mailcatch.Option) *mailcatch.Server {
	t.Helper()
	opts = append([]mailcatch.Option{mailcatch.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	s, err := mailcatch.Start(t.Context(), "127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func hostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return h, port
}

func newEmail(t *testing.T, addr string, mod func(*EmailConfig)) *Email {
	t.Helper()
	host, port := hostPort(t, addr)
	cfg := EmailConfig{
		Host: host, Port: port, From: "opsflow@plant.example", FromName: "opsflow",
		TLS: TLSNone, HELO: "opsflow.test", Timeout: 5 * time.Second,
		Logger: slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&cfg)
	}
	e, err := NewEmail(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func rendered(t *testing.T, k Kind) Rendered {
	t.Helper()
	out, err := newRenderer(t).Render(goldenMessages[k])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func wait(t *testing.T, s *mailcatch.Server) mailcatch.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	m, err := s.WaitFor(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEmailDelivers(t *testing.T) {
	s := catcher(t)
	e := newEmail(t, s.Addr(), nil)
	r := rendered(t, KindOverdue)
	if err := e.Send(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	m := wait(t, s)
	if m.ParseError != "" {
		t.Fatal(m.ParseError)
	}
	if got := strings.Join(m.To, ","); got != "ann@example.com" {
		t.Errorf("envelope to = %q", got)
	}
	if m.From != "opsflow@plant.example" || m.Helo != "opsflow.test" {
		t.Errorf("envelope from = %q, helo %q", m.From, m.Helo)
	}
	if got := m.HeaderTo(); got != `"Ann Example" <ann@example.com>` {
		t.Errorf("To header = %q", got)
	}
	if got := m.HeaderFrom(); got != `"opsflow" <opsflow@plant.example>` {
		t.Errorf("From header = %q", got)
	}
	if m.Subject != r.Subject {
		t.Errorf("subject = %q, want %q", m.Subject, r.Subject)
	}
	if got := strings.Join(m.ContentTypes, ","); got != "multipart/alternative,text/plain,text/html" {
		t.Errorf("parts = %s", got)
	}
	if norm(m.Text) != norm(r.Text) {
		t.Errorf("text part differs:\n%q\nwant\n%q", m.Text, r.Text)
	}
	if norm(m.HTML) != norm(r.HTML) {
		t.Errorf("HTML part differs:\n%s", m.HTML)
	}
	link := "https://opsflow.example.com/capas/capa-1234#task-containment"
	if !strings.Contains(m.Text, link) || !strings.Contains(m.HTML, `href="`+link+`"`) {
		t.Errorf("link %s missing from a part", link)
	}
	if want := MessageID("ntf-overdue-1", "plant.example"); m.MessageID != want {
		t.Errorf("Message-ID = %q, want %q", m.MessageID, want)
	}
	for h, want := range map[string]string{
		"X-Opsflow-Notification-Id": "ntf-overdue-1",
		"Auto-Submitted":            "auto-generated",
	} {
		if got := m.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}

	// A re-send of the same notification carries the same Message-ID, so
	// the receiver can drop it.
	if err := e.Send(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	msgs := s.Messages()
	if len(msgs) != 2 || msgs[1].MessageID != msgs[0].MessageID {
		t.Errorf("re-send Message-IDs: %q", []string{msgs[0].MessageID, msgs[len(msgs)-1].MessageID})
	}
}

// norm drops the CRs SMTP adds, and the line end before a MIME boundary.
func norm(s string) string {
	return strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
}

func TestEmailTLSAndAuth(t *testing.T) {
	cfg, roots, err := mailcatch.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	withAuth := func(policy TLSPolicy, password string) func(*EmailConfig) {
		return func(c *EmailConfig) {
			c.TLS, c.Username, c.Password = policy, "opsflow", password
			c.TLSConfig = &tls.Config{RootCAs: roots}
		}
	}

	t.Run("starttls", func(t *testing.T) {
		s := catcher(t, mailcatch.WithSTARTTLS(cfg), mailcatch.WithAuth("opsflow", "s3cret"))
		if err := newEmail(t, s.Addr(), withAuth(TLSStartTLS, "s3cret")).Send(t.Context(), rendered(t, KindReminder)); err != nil {
			t.Fatal(err)
		}
		wait(t, s)
		err := newEmail(t, s.Addr(), withAuth(TLSStartTLS, "wrong")).Send(t.Context(), rendered(t, KindReminder))
		var de *DeliveryError
		if !errors.As(err, &de) || de.Code != 535 || IsPermanent(err) {
			t.Errorf("wrong password: %v; want a transient failure with code 535 (settings, not the message)", err)
		}
	})

	t.Run("implicit", func(t *testing.T) {
		s := catcher(t, mailcatch.WithImplicitTLS(cfg), mailcatch.WithAuth("opsflow", "s3cret"))
		if err := newEmail(t, s.Addr(), withAuth(TLSImplicit, "s3cret")).Send(t.Context(), rendered(t, KindReminder)); err != nil {
			t.Fatal(err)
		}
		wait(t, s)
	})

	t.Run("starttls required but not offered", func(t *testing.T) {
		s := catcher(t)
		err := newEmail(t, s.Addr(), func(c *EmailConfig) { c.TLS = TLSStartTLS }).Send(t.Context(), rendered(t, KindReminder))
		if err == nil || IsPermanent(err) {
			t.Errorf("err = %v, want a transient failure", err)
		}
		if n := len(s.Messages()); n != 0 {
			t.Errorf("%d messages sent in clear text", n)
		}
	})

	t.Run("opportunistic falls back to clear text", func(t *testing.T) {
		s := catcher(t)
		if err := newEmail(t, s.Addr(), func(c *EmailConfig) { c.TLS = TLSOpportunistic }).Send(t.Context(), rendered(t, KindReminder)); err != nil {
			t.Fatal(err)
		}
		wait(t, s)
	})

	t.Run("untrusted certificate", func(t *testing.T) {
		s := catcher(t, mailcatch.WithSTARTTLS(cfg))
		err := newEmail(t, s.Addr(), func(c *EmailConfig) { c.TLS = TLSStartTLS }).Send(t.Context(), rendered(t, KindReminder))
		if err == nil {
			t.Fatal("sent to a server with an untrusted certificate")
		}
	})
}

func TestEmailNothingListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = newEmail(t, addr, nil).Send(t.Context(), rendered(t, KindOverdue))
	var de *DeliveryError
	if !errors.As(err, &de) || IsPermanent(err) || de.Channel != "email" {
		t.Fatalf("err = %v, want a transient email DeliveryError", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) || de.Code != 0 {
		t.Errorf("err = %v, want connection refused without a reply code", err)
	}
}

func TestEmailRejections(t *testing.T) {
	s := catcher(t)
	e := newEmail(t, s.Addr(), nil)
	for _, c := range []struct {
		f         mailcatch.Failure
		code      int
		permanent bool
	}{
		{mailcatch.Failure{Stage: mailcatch.StageRcpt, Code: 550, Message: "no such user"}, 550, true},
		{mailcatch.Failure{Stage: mailcatch.StageRcpt, Code: 450, Message: "mailbox busy"}, 450, false},
		{mailcatch.Failure{Stage: mailcatch.StageMail, Code: 451}, 451, false},
		{mailcatch.Failure{Stage: mailcatch.StageData, Code: 554, Message: "looks like spam"}, 554, true},
		{mailcatch.Failure{Stage: mailcatch.StageData, Code: 452}, 452, false},
		// Before MAIL FROM, a failure is about the server, not the message.
		{mailcatch.Failure{Stage: mailcatch.StageConnect, Code: 421}, 421, false},
		{mailcatch.Failure{Stage: mailcatch.StageConnect, Code: 554}, 554, false},
		{mailcatch.Failure{Stage: mailcatch.StageConnect}, 0, false},
	} {
		if err := s.SetFailure(c.f); err != nil {
			t.Fatal(err)
		}
		err := e.Send(t.Context(), rendered(t, KindOverdue))
		var de *DeliveryError
		if !errors.As(err, &de) {
			t.Errorf("%+v: err = %v, want a DeliveryError", c.f, err)
			continue
		}
		if de.Code != c.code || IsPermanent(err) != c.permanent {
			t.Errorf("%+v: code %d permanent %v, want %d %v (%v)", c.f, de.Code, IsPermanent(err), c.code, c.permanent, err)
		}
	}
	if n := len(s.Messages()); n != 0 {
		t.Errorf("%d messages stored while rejecting", n)
	}
}

func TestEmailBadAddressIsPermanent(t *testing.T) {
	s := catcher(t)
	e := newEmail(t, s.Addr(), nil)
	r := rendered(t, KindOverdue)
	for _, addr := range []string{"", "not an address", "ann@example.com\r\nBcc: x@example.com"} {
		r.Message.Recipient.Email = addr
		if err := e.Send(t.Context(), r); !IsPermanent(err) || !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("%q: err = %v, want permanent", addr, err)
		}
	}
}

// A server that accepts the connection and never speaks must not hold a
// send beyond its context.
func TestEmailHonoursContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, silent
		}
	}()
	e := newEmail(t, ln.Addr().String(), func(c *EmailConfig) { c.Timeout = time.Minute })
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = e.Send(ctx, rendered(t, KindOverdue))
	if err == nil || IsPermanent(err) {
		t.Fatalf("err = %v, want transient", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("send took %v after a 200ms context", d)
	}
}

func TestParseTLSPolicy(t *testing.T) {
	for in, want := range map[string]TLSPolicy{"": TLSStartTLS, "STARTTLS": TLSStartTLS, "tls": TLSImplicit, "none": TLSNone, "opportunistic": TLSOpportunistic} {
		if got, err := ParseTLSPolicy(in); err != nil || got != want {
			t.Errorf("ParseTLSPolicy(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseTLSPolicy("ssl3"); err == nil {
		t.Error("accepted ssl3")
	}
}

func TestNewEmailChecksConfig(t *testing.T) {
	for name, cfg := range map[string]EmailConfig{
		"no host":     {From: "a@example.com"},
		"bad from":    {Host: "h", From: "nobody"},
		"bad policy":  {Host: "h", From: "a@example.com", TLS: "sometimes"},
		"bad domain ": {Host: "h", From: "a@example.com", MessageIDDomain: "a b"},
	} {
		if _, err := NewEmail(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The dispatcher may send from several goroutines through one Email.
func TestEmailConcurrentSends(t *testing.T) {
	s := catcher(t)
	e := newEmail(t, s.Addr(), nil)
	base := rendered(t, KindOverdue)
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			r := base
			r.Message.ID = "ntf-" + strconv.Itoa(i)
			errs <- e.Send(t.Context(), r)
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	seen := map[string]bool{}
	for _, m := range s.Messages() {
		seen[m.Header.Get("X-Opsflow-Notification-Id")] = true
	}
	if len(seen) != 8 {
		t.Errorf("received %d distinct notifications, want 8", len(seen))
	}
}

// The monthly report goes out with its PDF attached, beside the text and
// HTML parts.
func TestEmailAttachesTheReport(t *testing.T) {
	s := catcher(t)
	e := newEmail(t, s.Addr(), nil)
	r := rendered(t, KindReport)
	if err := e.Send(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	m := wait(t, s)
	if got := strings.Join(m.ContentTypes, ","); got != "multipart/mixed,multipart/alternative,text/plain,text/html,application/pdf" {
		t.Errorf("parts = %s", got)
	}
	if !strings.Contains(string(m.Raw), "opsflow-kpi-report-2026-10.pdf") {
		t.Errorf("the attachment's name is not in the mail")
	}
	if !strings.Contains(m.Text, "https://opsflow.example.com/reports/rpt-2026-10") {
		t.Errorf("no link to the report:\n%s", m.Text)
	}
}
