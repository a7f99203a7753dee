package opsflow

import (
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Profile is how a person is reached: an e-mail address, a time zone for
// the times in their messages, and what they want to receive where.
type Profile struct {
	ID          string      `json:"id"`
	Name        string      `json:"name"`
	Roles       []Role      `json:"roles"`
	Email       string      `json:"email,omitempty"`
	Timezone    string      `json:"timezone"`
	Preferences Preferences `json:"preferences"`
}

// Delivery modes of a channel.
const (
	DeliverImmediate = "immediate" // each message as it happens
	DeliverDigest    = "digest"    // collected into one message a day, at the person's digest hour
	DeliverOff       = "off"
)

// Channels a message may go out on.
const (
	ChannelEmail   = "email"
	ChannelSlack   = "slack"
	ChannelTeams   = "teams"
	ChannelWebhook = "webhook"
)

// Preferences say, per channel, whether messages go out at once, in a
// daily digest or not at all. Escalations and approval requests may be set
// to go out at once whatever the channel's mode (always_immediate): they
// are the messages a digest would make late.
type Preferences struct {
	Email   string `json:"email,omitempty"`   // immediate (default), digest, off
	Slack   string `json:"slack,omitempty"`   // off (default), immediate, digest
	Teams   string `json:"teams,omitempty"`   // off (default), immediate, digest
	Webhook string `json:"webhook,omitempty"` // off (default), immediate, digest
	// DigestHour is the local hour (0–23) the daily digest goes out; 7
	// when not given.
	DigestHour *int `json:"digest_hour,omitempty"`
	// AlwaysImmediate lists kinds sent at once even on a digest channel
	// (escalated and approval_requested when not given; [] for none).
	AlwaysImmediate []string `json:"always_immediate,omitzero"` // [] is none; left out, the defaults
	// The person's chat and webhook addresses: incoming-webhook URLs of
	// a Slack or Teams channel (a direct-message channel, typically) and
	// a receiver of signed JSON. Secrets are write-only in the API.
	SlackWebhook  string `json:"slack_webhook,omitempty"`
	TeamsWebhook  string `json:"teams_webhook,omitempty"`
	WebhookURL    string `json:"webhook_url,omitempty"`
	WebhookSecret string `json:"webhook_secret,omitempty"`
}

// DefaultPreferences: e-mail at once, chat off, a 07:00 digest when one is
// chosen, escalations and approval requests always at once.
func DefaultPreferences() Preferences {
	return Preferences{Email: DeliverImmediate, Slack: DeliverOff, Teams: DeliverOff, Webhook: DeliverOff, DigestHour: Ptr(7),
		AlwaysImmediate: []string{NotifyEscalated, NotifyApproval}}
}

// WithDefaults fills what is unset.
func (p Preferences) WithDefaults() Preferences {
	d := DefaultPreferences()
	for _, f := range []struct{ v, def *string }{{&p.Email, &d.Email}, {&p.Slack, &d.Slack}, {&p.Teams, &d.Teams}, {&p.Webhook, &d.Webhook}} {
		if *f.v == "" {
			*f.v = *f.def
		}
	}
	if p.AlwaysImmediate == nil {
		p.AlwaysImmediate = d.AlwaysImmediate
	}
	if p.DigestHour == nil {
		p.DigestHour = d.DigestHour
	}
	return p
}

// Hour is the digest hour (7 when unset).
func (p Preferences) Hour() int {
	if p.DigestHour == nil {
		return 7
	}
	return *p.DigestHour
}

// Ptr returns a pointer to v, for optional fields.
func Ptr[T any](v T) *T { return &v }

// Mode returns the delivery mode of channel for a message of kind.
func (p Preferences) Mode(channel, kind string) string {
	var m string
	switch channel {
	case ChannelEmail:
		m = p.Email
	case ChannelSlack:
		m = p.Slack
	case ChannelTeams:
		m = p.Teams
	case ChannelWebhook:
		m = p.Webhook
	}
	if m == DeliverDigest && slices.Contains(p.AlwaysImmediate, kind) {
		return DeliverImmediate
	}
	return m
}

var notifyKinds = []string{NotifyAssigned, NotifyReminder, NotifyOverdue, NotifyEscalated, NotifyApproval, NotifyClosed, NotifyProvisioningFailed, NotifyStalled}

// Validate checks the preferences, naming the field.
func (p Preferences) Validate() error {
	for _, f := range []struct{ name, v string }{{"email", p.Email}, {"slack", p.Slack}, {"teams", p.Teams}, {"webhook", p.Webhook}} {
		if !slices.Contains([]string{DeliverImmediate, DeliverDigest, DeliverOff}, f.v) {
			return Invalid("preferences."+f.name, "%s must be immediate, digest or off", f.name)
		}
	}
	if h := p.Hour(); h < 0 || h > 23 {
		return Invalid("preferences.digest_hour", "digest_hour must be 0–23")
	}
	for i, k := range p.AlwaysImmediate {
		if !slices.Contains(notifyKinds, k) {
			return Invalid("preferences.always_immediate", "always_immediate[%d]: unknown kind %q (%s)", i, k, strings.Join(notifyKinds, ", "))
		}
	}
	for _, f := range []struct{ name, v, mode string }{
		{"slack_webhook", p.SlackWebhook, p.Slack}, {"teams_webhook", p.TeamsWebhook, p.Teams}, {"webhook_url", p.WebhookURL, p.Webhook},
	} {
		if f.v == "" {
			if f.mode != DeliverOff {
				return Invalid("preferences."+f.name, "%s is needed to deliver on that channel", f.name)
			}
			continue
		}
		if u, err := url.Parse(f.v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return Invalid("preferences."+f.name, "%s must be an http(s) URL", f.name)
		}
	}
	if p.Webhook != DeliverOff && len(p.WebhookSecret) < 16 {
		return Invalid("preferences.webhook_secret", "a webhook needs a secret of at least 16 characters to sign with")
	}
	return nil
}

// Validate checks a profile's address and time zone.
func (p Profile) Validate() error {
	if p.Email != "" {
		if a, err := mail.ParseAddress(p.Email); err != nil || a.Address != p.Email {
			return Invalid("email", "email must be an e-mail address")
		}
	}
	if _, err := time.LoadLocation(p.Timezone); err != nil || p.Timezone == "" || strings.EqualFold(p.Timezone, "local") {
		return Invalid("timezone", "timezone must be an IANA name such as Europe/Paris")
	}
	return p.Preferences.Validate()
}

// MaskedSecret stands for a stored webhook secret in what the API shows;
// sent back unchanged, it keeps the stored secret.
const MaskedSecret = "********"

// Public is the profile without write-only secrets, as the API shows it.
func (p Profile) Public() Profile {
	if p.Preferences.WebhookSecret != "" {
		p.Preferences.WebhookSecret = MaskedSecret
	}
	return p
}

// Account is a user as administrators manage them, and as GET /v1/me
// shows a person themself: the profile, whether they can sign — a
// signing password set (since when), signing locked after wrong ones
// (until when) — and the sign-on identity they are linked to, if any.
type Account struct {
	Profile
	SigningPasswordSet   bool       `json:"signing_password_set"`
	SigningPasswordSetAt *time.Time `json:"signing_password_set_at,omitempty"`
	SigningLocked        bool       `json:"signing_locked"`
	SigningLockedUntil   *time.Time `json:"signing_locked_until,omitempty"`
	SSO                  *SSOLink   `json:"sso,omitempty"`
}

// Public is the account without write-only secrets, as the API shows it.
func (a Account) Public() Account {
	a.Profile = a.Profile.Public()
	return a
}

// NextDigest is the next time at or after now that the local digest hour
// comes round in loc.
func NextDigest(now time.Time, hour int, loc *time.Location) time.Time {
	l := now.In(loc)
	next := time.Date(l.Year(), l.Month(), l.Day(), hour, 0, 0, 0, loc)
	if !next.After(now) {
		next = time.Date(l.Year(), l.Month(), l.Day()+1, hour, 0, 0, 0, loc)
	}
	return next.UTC()
}

// Delivery is one notification to one person on one channel, as the
// outbox holds it: what was sent, when, and what went wrong.
type Delivery struct {
	ID           string     `json:"id" db:"id"`
	Notification string     `json:"notification_id" db:"notification_id"`
	UserID       string     `json:"user_id" db:"user_id"`
	Channel      string     `json:"channel" db:"channel"`
	State        string     `json:"state" db:"state"` // pending, sent, failed, digest, digested, skipped
	Attempts     int        `json:"attempts" db:"attempts"`
	LastError    string     `json:"last_error,omitempty" db:"last_error"`
	SentAt       *time.Time `json:"sent_at,omitempty" db:"sent_at"`
	CreatedAt    time.Time  `json:"created_at" db:"created_at"`
	Kind         string     `json:"kind" db:"kind"`
	Subject      string     `json:"subject" db:"subject"`
	ProcessID    string     `json:"process_id" db:"process_id"`
	TaskID       string     `json:"task_id,omitempty" db:"task_id"`
	At           time.Time  `json:"at" db:"at"`
}

// Delivery states.
const (
	DeliveryPending  = "pending"
	DeliverySent     = "sent"
	DeliveryFailed   = "failed"
	DeliveryDigest   = "digest"   // waiting for the person's digest
	DeliveryDigested = "digested" // went out in a digest
	DeliverySkipped  = "skipped"  // not sent: the task was done before it went out, or no address
)

// DeliveryStates lists every delivery state.
var DeliveryStates = []string{DeliveryPending, DeliverySent, DeliveryFailed, DeliveryDigest, DeliveryDigested, DeliverySkipped}
