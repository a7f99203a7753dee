// Package mailcatch is a real SMTP server that keeps what it receives in
// memory, for `opsflow dev` and for tests. A developer points opsflow's mail
// settings at it and reads the mails in a browser (Handler); a test sends
// through the real e-mail channel and asserts on the parsed message
// (Messages, WaitFor), or makes the server fail (SetFailure) to see how a
// dead or rejecting mail server is handled.
//
// The protocol is github.com/emersion/go-smtp, a maintained server
// implementation, so the client under test talks to a standard-conforming
// peer rather than to a hand-rolled imitation.
package mailcatch

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// DefaultLimit is how many messages a server keeps unless told otherwise:
// enough for a day of development, small enough to never matter for memory.
const DefaultLimit = 1000

// maxMessageBytes bounds one message; opsflow's mails are a few kilobytes.
const maxMessageBytes = 10 << 20

// Server is a running mail catcher. Its methods are safe for concurrent use.
type Server struct {
	srv  *smtp.Server
	ln   net.Listener
	log  *slog.Logger
	opts options

	mu      sync.Mutex
	msgs    []Message // oldest first, at most opts.limit
	nextID  int
	failure Failure
	changed chan struct{} // closed and replaced whenever msgs changes

	served    chan struct{} // closed when Serve returns
	closeOnce sync.Once
	closeErr  error
	stop      func() bool // unregisters the context watch
}

type options struct {
	limit      int
	username   string
	password   string
	starttls   *tls.Config
	implicit   *tls.Config
	logger     *slog.Logger
	authNeeded bool
}

// Option configures Start.
type Option func(*options)

// WithLimit keeps the last n messages (n > 0) instead of DefaultLimit.
func WithLimit(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.limit = n
		}
	}
}

// WithAuth requires AUTH PLAIN with these credentials before MAIL, so the
// client's authentication settings can be tested.
func WithAuth(username, password string) Option {
	return func(o *options) { o.username, o.password, o.authNeeded = username, password, true }
}

// WithSTARTTLS offers STARTTLS with cfg (see SelfSigned).
func WithSTARTTLS(cfg *tls.Config) Option {
	return func(o *options) { o.starttls = cfg }
}

// WithImplicitTLS speaks TLS from the first byte, like port 465 ("SMTPS").
func WithImplicitTLS(cfg *tls.Config) Option {
	return func(o *options) { o.implicit = cfg }
}

// WithLogger sets the logger for connection errors; the default is
// slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// Start listens on addr (e.g. "127.0.0.1:0" for a free port, or
// "127.0.0.1:1025" in development) and serves until Close is called or ctx
// is done.
func Start(ctx context.Context, addr string, opts ...Option) (*Server, error) {
	o := options{limit: DefaultLimit, logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mailcatch: listen on %s: %w", addr, err)
	}
	s := &Server{
		ln:      ln,
		log:     o.logger,
		opts:    o,
		changed: make(chan struct{}),
		served:  make(chan struct{}),
	}
	var l net.Listener = ln
	if o.implicit != nil {
		l = tls.NewListener(l, o.implicit)
	}
	l = gate{Listener: l, s: s}

	srv := smtp.NewServer(backend{s})
	srv.Domain = "mailcatch.localhost"
	srv.MaxMessageBytes = maxMessageBytes
	srv.MaxRecipients = 100
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.AllowInsecureAuth = true // a development server on loopback; TLS is optional here
	srv.TLSConfig = o.starttls
	srv.ErrorLog = slogLogger{o.logger}
	s.srv = srv

	go func() {
		defer close(s.served)
		if err := srv.Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			s.log.Error("mailcatch: serve", "err", err)
		}
	}()
	s.stop = context.AfterFunc(ctx, func() { _ = s.Close() })
	return s, nil
}

// Addr is the address the server listens on, e.g. "127.0.0.1:40123".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server and drops open connections. The stored messages
// stay readable. Close is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.stop != nil {
			s.stop()
		}
		if err := s.srv.Close(); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, smtp.ErrServerClosed) {
			s.closeErr = fmt.Errorf("mailcatch: close: %w", err)
		}
		// Also close the listener ourselves: if Close wins the race with
		// the serving goroutine, go-smtp has no listener to close yet, and
		// Serve would otherwise block in Accept for ever.
		_ = s.ln.Close()
		<-s.served
	})
	return s.closeErr
}

// Messages returns the stored messages, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.msgs))
	copy(out, s.msgs)
	return out
}

// Message returns the stored message with the given ID.
func (s *Server) Message(id int) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if m.ID == id {
			return m, true
		}
	}
	return Message{}, false
}

// Clear forgets every stored message.
func (s *Server) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = nil
	s.notifyLocked()
}

// WaitFor returns the first stored message, oldest first, for which match
// reports true, waiting for new messages until ctx is done. A nil match
// takes any message.
func (s *Server) WaitFor(ctx context.Context, match func(Message) bool) (Message, error) {
	for {
		s.mu.Lock()
		for _, m := range s.msgs {
			if match == nil || match(m) {
				s.mu.Unlock()
				return m, nil
			}
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return Message{}, fmt.Errorf("mailcatch: no matching message: %w", ctx.Err())
		case <-changed:
		}
	}
}

func (s *Server) store(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	m.ID = s.nextID
	s.msgs = append(s.msgs, m)
	if n := len(s.msgs) - s.opts.limit; n > 0 {
		s.msgs = append(s.msgs[:0:0], s.msgs[n:]...)
	}
	s.notifyLocked()
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Stage is the point of an SMTP exchange at which a Failure strikes.
type Stage string

const (
	// StageConnect answers a new connection with Code instead of the 220
	// greeting and hangs up; with Code 0 it hangs up without a word, like
	// a server that died mid-accept.
	StageConnect Stage = "connect"
	StageMail    Stage = "mail" // rejects MAIL FROM
	StageRcpt    Stage = "rcpt" // rejects RCPT TO (e.g. 550 no such user)
	StageData    Stage = "data" // accepts the content, then rejects it
)

// Failure makes the server reject deliveries so tests can see how a client
// handles a dead or refusing mail server. The zero Failure accepts all.
type Failure struct {
	Stage   Stage
	Code    int    // an SMTP reply code: 4xx (try again later) or 5xx (give up)
	Message string // reply text; a default is used when empty
}

// SetFailure makes the server fail from now on as f says; Failure{} makes it
// accept again. Connections already past the failing stage are not
// affected.
func (s *Server) SetFailure(f Failure) error {
	switch f.Stage {
	case "":
		f = Failure{}
	case StageConnect:
		if f.Code != 0 && (f.Code < 400 || f.Code > 599) {
			return fmt.Errorf("mailcatch: failure code %d is not 4xx or 5xx", f.Code)
		}
	case StageMail, StageRcpt, StageData:
		if f.Code < 400 || f.Code > 599 {
			return fmt.Errorf("mailcatch: failure code %d is not 4xx or 5xx", f.Code)
		}
	default:
		return fmt.Errorf("mailcatch: unknown failure stage %q", f.Stage)
	}
	if f.Stage != "" && f.Message == "" {
		f.Message = "mailcatch: simulated failure"
	}
	s.mu.Lock()
	s.failure = f
	s.mu.Unlock()
	return nil
}

func (s *Server) failAt(stage Stage) error {
	s.mu.Lock()
	f := s.failure
	s.mu.Unlock()
	if f.Stage != stage {
		return nil
	}
	return &smtp.SMTPError{
		Code:         f.Code,
		EnhancedCode: smtp.EnhancedCode{f.Code / 100, 0, 0},
		Message:      f.Message,
	}
}

// gate applies a StageConnect failure before the SMTP server sees the
// connection: it answers in place of the greeting and hangs up.
type gate struct {
	net.Listener
	s *Server
}

func (g gate) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			return nil, err
		}
		g.s.mu.Lock()
		f := g.s.failure
		g.s.mu.Unlock()
		if f.Stage != StageConnect {
			return c, nil
		}
		go func() { // never block the accept loop on a slow peer
			defer c.Close()
			if f.Code != 0 {
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_, _ = fmt.Fprintf(c, "%d %s\r\n", f.Code, f.Message)
			}
		}()
	}
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, helo: c.Hostname()}, nil
}

// session is one SMTP transaction's state. go-smtp calls its methods from
// the connection's goroutine only.
type session struct {
	s      *Server
	helo   string
	authed bool
	from   string
	to     []string
}

var _ smtp.AuthSession = (*session)(nil)

func (se *session) AuthMechanisms() []string {
	if !se.s.opts.authNeeded {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	if !se.s.opts.authNeeded || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		okUser := subtle.ConstantTimeCompare([]byte(username), []byte(se.s.opts.username)) == 1
		okPass := subtle.ConstantTimeCompare([]byte(password), []byte(se.s.opts.password)) == 1
		if identity != "" && identity != username || !okUser || !okPass {
			return smtp.ErrAuthFailed
		}
		se.authed = true
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.s.opts.authNeeded && !se.authed {
		return smtp.ErrAuthRequired
	}
	if err := se.s.failAt(StageMail); err != nil {
		return err
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := se.s.failAt(StageRcpt); err != nil {
		return err
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r) // go-smtp requires r to be consumed, and bounds it by MaxMessageBytes
	if err != nil {
		return fmt.Errorf("mailcatch: read data: %w", err)
	}
	if err := se.s.failAt(StageData); err != nil {
		return err
	}
	m := parse(raw)
	m.Received = time.Now().UTC()
	m.From = se.from
	m.To = append([]string(nil), se.to...)
	m.Helo = se.helo
	se.s.store(m)
	return nil
}

func (se *session) Reset() { se.from, se.to = "", nil }

func (se *session) Logout() error { return nil }

// slogLogger adapts go-smtp's Printf-style error log to slog. The errors it
// reports (a peer hanging up mid-command) are routine for a catcher, so
// they go out at debug level.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Printf(format string, v ...any) {
	s.l.Debug("mailcatch: " + fmt.Sprintf(format, v...))
}

func (s slogLogger) Println(v ...any) { s.l.Debug("mailcatch: " + fmt.Sprint(v...)) }
