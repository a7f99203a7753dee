package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/wneessen/go-mail"
)

// TLSPolicy says how the e-mail channel protects its SMTP connection.
type TLSPolicy string

const (
	// TLSStartTLS upgrades with STARTTLS and fails when the server does
	// not offer it: the default, because credentials and personal data
	// must not cross a network in clear text by accident.
	TLSStartTLS TLSPolicy = "starttls"
	// TLSOpportunistic upgrades with STARTTLS when offered and sends in
	// clear text otherwise (legacy relays inside a plant network).
	TLSOpportunistic TLSPolicy = "opportunistic"
	// TLSImplicit speaks TLS from the first byte ("SMTPS", port 465).
	TLSImplicit TLSPolicy = "tls"
	// TLSNone never encrypts: for a mail catcher on loopback only.
	TLSNone TLSPolicy = "none"
)

// ParseTLSPolicy parses a configured policy; "" means TLSStartTLS.
func ParseTLSPolicy(s string) (TLSPolicy, error) {
	switch p := TLSPolicy(strings.ToLower(strings.TrimSpace(s))); p {
	case "":
		return TLSStartTLS, nil
	case TLSStartTLS, TLSOpportunistic, TLSImplicit, TLSNone:
		return p, nil
	}
	return "", fmt.Errorf("notify: unknown SMTP TLS policy %q (want starttls, opportunistic, tls or none)", s)
}

// EmailConfig configures the e-mail channel.
type EmailConfig struct {
	Host string
	// Port defaults to 465 with TLSImplicit and 587 (submission) otherwise.
	Port int
	// Username and Password enable SMTP AUTH. The mechanism is chosen from
	// what the server offers; PLAIN and LOGIN are only used over TLS.
	Username string
	Password string
	From     string // sender address, e.g. "opsflow@example.com"
	FromName string // sender display name, e.g. "opsflow"
	TLS      TLSPolicy
	// TLSConfig overrides certificate checks, e.g. a private CA's roots.
	// ServerName defaults to Host.
	TLSConfig *tls.Config
	// HELO is the name sent with EHLO; the default is the host name.
	HELO string
	// Timeout bounds one whole send, connection included; default 30s.
	Timeout time.Duration
	// MessageIDDomain is the right-hand side of Message-IDs; the default
	// is the domain of From.
	MessageIDDomain string
	Logger          *slog.Logger // nil: slog.Default()
}

// Email sends messages over SMTP as multipart/alternative mails (plain
// text and HTML) with github.com/wneessen/go-mail. It opens one connection
// per message: notifications are few, and a fresh connection cannot be
// left in a half-broken state by the previous send. Email is safe for
// concurrent use.
type Email struct {
	client   *mail.Client
	from     netmail.Address
	domain   string
	timeout  time.Duration
	implicit bool
	tls      *tls.Config
	log      *slog.Logger
}

// NewEmail checks cfg and returns the channel. It does not connect: a mail
// server that is down at start is a transient condition, not a reason for
// opsflow to refuse to start.
func NewEmail(cfg EmailConfig) (*Email, error) {
	if cfg.Host == "" {
		return nil, errors.New("notify: SMTP host is required")
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("notify: SMTP from address %q: %w", cfg.From, err)
	}
	from.Name = cfg.FromName
	policy, err := ParseTLSPolicy(string(cfg.TLS))
	if err != nil {
		return nil, err
	}
	if cfg.Port == 0 {
		cfg.Port = 587
		if policy == TLSImplicit {
			cfg.Port = 465
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	domain := cfg.MessageIDDomain
	if domain == "" {
		domain = from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	}
	if domain == "" || strings.ContainsAny(domain, " <>@\t\r\n") {
		return nil, fmt.Errorf("notify: Message-ID domain %q is not a domain", domain)
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSConfig != nil {
		tlsCfg = cfg.TLSConfig.Clone()
	}
	if tlsCfg.ServerName == "" {
		tlsCfg.ServerName = cfg.Host
	}
	e := &Email{
		from:     *from,
		domain:   domain,
		timeout:  cfg.Timeout,
		implicit: policy == TLSImplicit,
		tls:      tlsCfg,
		log:      cfg.Logger,
	}
	if e.log == nil {
		e.log = slog.Default()
	}

	opts := []mail.Option{
		mail.WithPort(cfg.Port),
		mail.WithTimeout(cfg.Timeout),
		mail.WithTLSConfig(tlsCfg),
		mail.WithDialContextFunc(e.dial),
	}
	switch policy {
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case TLSOpportunistic:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	case TLSStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case TLSImplicit:
		// e.dial makes the TLS connection itself. go-mail is told
		// "opportunistic" so that it looks at the connection, finds it
		// encrypted and allows PLAIN/LOGIN; a server never offers
		// STARTTLS inside TLS, so nothing is upgraded twice.
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	}
	if cfg.HELO != "" {
		opts = append(opts, mail.WithHELO(cfg.HELO))
	}
	if cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(cfg.Username), mail.WithPassword(cfg.Password))
	}
	client, err := mail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("notify: SMTP client: %w", err)
	}
	e.client = client
	return e, nil
}

// dial connects for go-mail. It does two things go-mail's own dialer does
// not: implicit TLS with our config, and honouring ctx after the dial —
// go-mail checks the context only while connecting, so a cancelled send
// would otherwise run on until its per-command timeout.
func (e *Email) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{}
	var c net.Conn
	var err error
	if e.implicit {
		c, err = (&tls.Dialer{NetDialer: d, Config: e.tls}).DialContext(ctx, network, addr)
	} else {
		c, err = d.DialContext(ctx, network, addr)
	}
	if err != nil {
		return nil, err
	}
	// go-mail hands us a context it cancels as soon as the dial returns;
	// the send's own context travels in a value (see Send).
	if send, ok := ctx.Value(sendContextKey{}).(context.Context); ok {
		context.AfterFunc(send, func() { _ = c.Close() }) // Send's deferred cancel always fires it
	}
	return c, nil
}

// sendContextKey carries Send's context to dial.
type sendContextKey struct{}

// MessageID returns the Message-ID header value of the mail for a
// notification: derived from the notification's ID only, so a re-sent
// duplicate has the same Message-ID and mail clients and archives can
// fold the two. The ID is hashed because outbox IDs may contain
// characters a Message-ID must not.
func MessageID(notificationID, domain string) string {
	sum := sha256.Sum256([]byte(notificationID))
	return "<opsflow." + hex.EncodeToString(sum[:16]) + "@" + domain + ">"
}

// HeaderNotificationID carries the raw notification ID in every mail.
const HeaderNotificationID = "X-Opsflow-Notification-ID"

// Send delivers r to r.Message.Recipient.Email.
func (e *Email) Send(ctx context.Context, r Rendered) error {
	msg, err := e.compose(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	ctx = context.WithValue(ctx, sendContextKey{}, ctx)

	sc, err := e.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		// Whatever fails before MAIL FROM — connecting, the greeting,
		// EHLO, STARTTLS, AUTH — is about the mail server or our
		// settings, not this message: even a 5xx (554 "no service",
		// 535 bad credentials) is transient, so that fixing the
		// settings lets the backlog go out instead of dead-lettering
		// every message sent meanwhile. The dispatcher's attempt limit
		// still ends retries.
		return transient("email", replyCode(err), fmt.Errorf("connect to %s: %w", e.client.ServerAddr(), err))
	}
	sendErr := e.client.SendWithSMTPClient(sc, msg)
	closeErr := e.client.CloseWithSMTPClient(sc)
	if sendErr != nil {
		return classifySMTP(fmt.Errorf("send to %s: %w", e.client.ServerAddr(), sendErr))
	}
	if closeErr != nil {
		// The server accepted the message (250 after DATA) before QUIT
		// failed: reporting an error would make the dispatcher send a
		// duplicate, so log it and report success.
		e.log.Warn("notify: SMTP QUIT failed after delivery", "notification", r.Message.ID, "err", closeErr)
	}
	return nil
}

// compose builds the mail. Failures here are the message's fault and
// therefore permanent.
func (e *Email) compose(r Rendered) (*mail.Msg, error) {
	rc := r.Message.Recipient
	to, err := netmail.ParseAddress(rc.Email)
	if err != nil {
		return nil, permanent("email", 0, fmt.Errorf("%w: recipient %s address %q: %v", ErrInvalidMessage, rc.ID, rc.Email, err))
	}
	to.Name = rc.Name
	if r.Message.ID == "" || r.Subject == "" || r.Text == "" {
		return nil, permanent("email", 0, fmt.Errorf("%w: not a rendered message", ErrInvalidMessage))
	}
	m := mail.NewMsg()
	m.FromMailAddress(&e.from)
	m.ToMailAddress(to)
	m.Subject(r.Subject)
	m.SetMessageIDWithValue(strings.Trim(MessageID(r.Message.ID, e.domain), "<>"))
	m.SetGenHeader(HeaderNotificationID, r.Message.ID)
	// RFC 3834: an automatic message; out-of-office replies should not
	// answer it (Exchange reads the second header).
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetGenHeader("X-Auto-Response-Suppress", "All")
	m.SetUserAgent("opsflow")
	m.SetDate()
	m.SetBodyString(mail.TypeTextPlain, r.Text)
	if r.HTML != "" {
		m.AddAlternativeString(mail.TypeTextHTML, r.HTML)
	}
	for _, a := range r.Message.Attachments {
		if err := m.AttachReader(a.Name, bytes.NewReader(a.Data), mail.WithFileContentType(mail.ContentType(a.ContentType))); err != nil {
			return nil, permanent("email", 0, fmt.Errorf("%w: attach %s: %v", ErrInvalidMessage, a.Name, err))
		}
	}
	return m, nil
}

// classifySMTP decides whether a failed transaction (MAIL, RCPT, DATA) may
// succeed later. Reply codes decide when there is one (RFC 5321 §4.2.1:
// 4yz transient, 5yz permanent — a rejected recipient, a refused content);
// a dropped connection or a timeout has none and is transient.
func classifySMTP(err error) error {
	var se *mail.SendError
	if errors.As(err, &se) {
		code := se.ErrorCode()
		switch {
		case code >= 500:
			return permanent("email", code, err)
		case code >= 400:
			return transient("email", code, err)
		}
		switch se.Reason {
		case mail.ErrGetSender, mail.ErrGetRcpts, mail.ErrNoUnencoded:
			return permanent("email", 0, err) // the message itself is unsendable
		}
		return transient("email", 0, err)
	}
	if code := replyCode(err); code >= 500 {
		return permanent("email", code, err)
	}
	return transient("email", replyCode(err), err)
}

// replyCode returns the SMTP reply code in err's chain, or 0.
func replyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 200 && te.Code < 600 {
		return te.Code
	}
	return 0
}
