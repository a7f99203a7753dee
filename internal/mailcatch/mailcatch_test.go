package mailcatch

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// The tests talk to the catcher with the standard library's SMTP client,
// an implementation independent of both go-smtp and go-mail.

func start(t *testing.T, opts ...Option) *Server {
	t.Helper()
	opts = append([]Option{WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	s, err := Start(t.Context(), "127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// A multipart/alternative message with a quoted-printable text part, a
// base64 HTML part and an RFC 2047 subject, as mail libraries send them.
const multipartMail = "From: \"Ops Flow\" <opsflow@example.com>\r\n" +
	"To: Ann <ann@example.com>\r\n" +
	"Subject: =?UTF-8?q?Overdue:_Pr=C3=BCfung_=E2=80=94_CAPA?=\r\n" +
	"Message-ID: <abc@example.com>\r\n" +
	"X-Opsflow-Notification-ID: ntf-1\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=\"b1\"\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Hello Ann, Pr=C3=BCfung is due. A long line that is soft-=\r\nwrapped.\r\n" +
	"--b1\r\n" +
	"Content-Type: text/html; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"PHA+SGVsbG8gPGI+QW5uPC9iPjwvcD48c2NyaXB0PmFsZXJ0KDEpPC9zY3JpcHQ+\r\n" +
	"--b1--\r\n"

func send(addr, from string, to []string, msg string) error {
	return smtp.SendMail(addr, nil, from, to, []byte(msg))
}

func TestReceiveAndParse(t *testing.T) {
	s := start(t)
	if err := send(s.Addr(), "bounce@example.com", []string{"ann@example.com", "bcc@example.com"}, multipartMail); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	m, err := s.WaitFor(ctx, func(m Message) bool { return m.Header.Get("X-Opsflow-Notification-Id") == "ntf-1" })
	if err != nil {
		t.Fatal(err)
	}
	if m.ParseError != "" {
		t.Fatalf("parse error: %s", m.ParseError)
	}
	check := func(name, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	check("envelope from", m.From, "bounce@example.com")
	check("envelope to", strings.Join(m.To, ","), "ann@example.com,bcc@example.com")
	check("subject", m.Subject, "Overdue: Prüfung — CAPA")
	check("header from", m.HeaderFrom(), `"Ops Flow" <opsflow@example.com>`)
	check("message id", m.MessageID, "<abc@example.com>")
	check("text", m.Text, "Hello Ann, Prüfung is due. A long line that is soft-wrapped.") // the CRLF before a boundary belongs to the boundary
	check("html", m.HTML, "<p>Hello <b>Ann</b></p><script>alert(1)</script>")
	check("types", strings.Join(m.ContentTypes, ","), "multipart/alternative,text/plain,text/html")
	if m.ID != 1 || m.Received.IsZero() || m.Helo == "" {
		t.Errorf("id %d, received %v, helo %q", m.ID, m.Received, m.Helo)
	}
}

func TestWaitForGivesUpWithContext(t *testing.T) {
	s := start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.WaitFor(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestLimitKeepsNewest(t *testing.T) {
	s := start(t, WithLimit(2))
	for _, subj := range []string{"one", "two", "three"} {
		if err := send(s.Addr(), "a@example.com", []string{"b@example.com"}, "Subject: "+subj+"\r\n\r\nbody\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	msgs := s.Messages()
	if len(msgs) != 2 || msgs[0].Subject != "two" || msgs[1].Subject != "three" || msgs[1].ID != 3 {
		t.Fatalf("messages = %+v", msgs)
	}
	if msgs[0].Text != "body\r\n" {
		t.Errorf("a message without MIME headers is text/plain: %q", msgs[0].Text)
	}
	s.Clear()
	if n := len(s.Messages()); n != 0 {
		t.Errorf("%d messages after Clear", n)
	}
}

func TestFailures(t *testing.T) {
	s := start(t)
	for _, c := range []struct {
		f    Failure
		code int // the reply code the client must see; 0 = a broken connection
	}{
		{Failure{Stage: StageRcpt, Code: 550, Message: "no such user"}, 550},
		{Failure{Stage: StageRcpt, Code: 450}, 450},
		{Failure{Stage: StageMail, Code: 451}, 451},
		{Failure{Stage: StageData, Code: 554}, 554},
		{Failure{Stage: StageConnect, Code: 421}, 421},
		{Failure{Stage: StageConnect, Code: 554}, 554},
		{Failure{Stage: StageConnect}, 0},
	} {
		if err := s.SetFailure(c.f); err != nil {
			t.Fatal(err)
		}
		err := send(s.Addr(), "a@example.com", []string{"b@example.com"}, "Subject: x\r\n\r\nx\r\n")
		var te *textproto.Error
		switch {
		case err == nil:
			t.Errorf("%+v: mail accepted", c.f)
		case c.code == 0 && errors.As(err, &te):
			t.Errorf("%+v: got reply %v, want a broken connection", c.f, te)
		case c.code != 0 && (!errors.As(err, &te) || te.Code != c.code):
			t.Errorf("%+v: err = %v, want reply %d", c.f, err, c.code)
		}
	}
	if n := len(s.Messages()); n != 0 {
		t.Errorf("%d messages stored while failing", n)
	}
	if err := s.SetFailure(Failure{}); err != nil {
		t.Fatal(err)
	}
	if err := send(s.Addr(), "a@example.com", []string{"b@example.com"}, "Subject: x\r\n\r\nx\r\n"); err != nil {
		t.Fatalf("after clearing the failure: %v", err)
	}
	for _, bad := range []Failure{{Stage: StageRcpt}, {Stage: StageRcpt, Code: 250}, {Stage: "later", Code: 550}, {Stage: StageConnect, Code: 220}} {
		if err := s.SetFailure(bad); err == nil {
			t.Errorf("SetFailure(%+v) accepted", bad)
		}
	}
}

func TestSTARTTLSAndAuth(t *testing.T) {
	cfg, roots, err := SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, WithSTARTTLS(cfg), WithAuth("opsflow", "s3cret"))
	dial := func(password string) error {
		c, err := smtp.Dial(s.Addr())
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.StartTLS(&tls.Config{ServerName: "127.0.0.1", RootCAs: roots}); err != nil {
			return err
		}
		if err := c.Auth(smtp.PlainAuth("", "opsflow", password, "127.0.0.1")); err != nil {
			return err
		}
		if err := c.Mail("a@example.com"); err != nil {
			return err
		}
		if err := c.Rcpt("b@example.com"); err != nil {
			return err
		}
		w, err := c.Data()
		if err != nil {
			return err
		}
		if _, err := io.WriteString(w, "Subject: tls\r\n\r\nx\r\n"); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		return c.Quit()
	}
	if err := dial("s3cret"); err != nil {
		t.Fatal(err)
	}
	var te *textproto.Error
	if err := dial("wrong"); !errors.As(err, &te) || te.Code != 535 {
		t.Errorf("wrong password: err = %v, want 535", err)
	}
	// Without AUTH the server refuses MAIL.
	if err := send(s.Addr(), "a@example.com", []string{"b@example.com"}, "Subject: x\r\n\r\nx\r\n"); err == nil {
		t.Error("unauthenticated mail accepted")
	}
	if msgs := s.Messages(); len(msgs) != 1 || msgs[0].Subject != "tls" {
		t.Errorf("messages = %+v", msgs)
	}
}

func TestImplicitTLS(t *testing.T) {
	cfg, roots, err := SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, WithImplicitTLS(cfg))
	conn, err := tls.Dial("tcp", s.Addr(), &tls.Config{ServerName: "127.0.0.1", RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClient(conn, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("test"); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.TLSConnectionState(); !ok {
		t.Fatal("not TLS")
	}
}

func TestCloseStopsServing(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s, err := Start(ctx, "127.0.0.1:0", WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	cancel() // the context bounds the server's life
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections after the context was cancelled")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestHandler(t *testing.T) {
	s := start(t)
	for _, subj := range []string{"first", "second"} {
		if err := send(s.Addr(), "a@example.com", []string{"ann@example.com"}, strings.Replace(multipartMail, "=?UTF-8?q?Overdue:_Pr=C3=BCfung_=E2=80=94_CAPA?=", subj, 1)); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/dev/mail/", http.StripPrefix("/dev/mail", s.Handler()))
	web := httptest.NewServer(mux)
	defer web.Close()

	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(web.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}

	resp, body := get("/dev/mail/")
	if resp.StatusCode != 200 || !strings.Contains(body, `<a href="2">second</a>`) {
		t.Fatalf("list: %d\n%s", resp.StatusCode, body)
	}
	if strings.Index(body, `<a href="2">`) > strings.Index(body, `<a href="1">`) {
		t.Error("list is not newest first")
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Error("list has no CSP")
	}

	_, body = get("/dev/mail/?format=json")
	var list []Message
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Subject != "second" || list[0].Text == "" || list[0].HTML == "" {
		t.Fatalf("json list: %+v", list)
	}

	resp, body = get("/dev/mail/2")
	if resp.StatusCode != 200 || !strings.Contains(body, "<pre>Hello Ann") || !strings.Contains(body, `<iframe sandbox src="2/html"`) {
		t.Fatalf("detail: %d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, "<script>") {
		t.Error("detail page inlines the mail's HTML")
	}

	resp, body = get("/dev/mail/2/html")
	if !strings.Contains(body, "<script>alert(1)</script>") || !strings.HasPrefix(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("html part: CSP %q\n%s", resp.Header.Get("Content-Security-Policy"), body)
	}

	_, body = get("/dev/mail/2?format=json")
	var one Message
	if err := json.Unmarshal([]byte(body), &one); err != nil || one.ID != 2 {
		t.Errorf("json detail: %v %+v", err, one)
	}

	_, body = get("/dev/mail/1/raw")
	if !strings.Contains(body, "Subject: first\r\n") {
		t.Errorf("raw: %s", body)
	}

	for _, p := range []string{"/dev/mail/9", "/dev/mail/x", "/dev/mail/9/html"} {
		if resp, _ := get(p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
}
