package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of a generic webhook request.
const (
	HeaderTimestamp      = "Opsflow-Timestamp"       // Unix seconds at signing
	HeaderSignature      = "Opsflow-Signature"       // "v1=" + hex HMAC-SHA256
	HeaderWebhookID      = "Opsflow-Notification-Id" // the notification ID, for de-duplication
	DefaultSignatureSkew = 5 * time.Minute           // VerifySignature's tolerance when given none
)

// WebhookConfig configures a generic signed webhook.
type WebhookConfig struct {
	URL string
	// Secret is the shared HMAC key; use at least 32 random bytes. The
	// receiver needs the same bytes to verify.
	Secret  []byte
	Timeout time.Duration // default DefaultWebhookTimeout
	Client  *http.Client  // default: a plain http.Client; redirects are always restricted
}

// Webhook POSTs each notification as JSON (a WebhookEvent) to a URL of the
// customer's choosing — a ticketing system, a plant display, a chat bridge
// — signed so the receiver can tell it came from opsflow and was not
// replayed.
//
// # Signature scheme (v1)
//
// Every request carries
//
//	Opsflow-Timestamp: <unix seconds>
//	Opsflow-Signature: v1=<hex(HMAC-SHA256(secret, timestamp + "." + body))>
//	Opsflow-Notification-Id: <notification ID>
//
// where body is the exact request body, byte for byte. A receiver
// recomputes the HMAC over the raw body (before any JSON decoding), compares
// in constant time, and rejects a timestamp further than a few minutes from
// its own clock, which bounds how long a captured request can be replayed;
// VerifySignature does all three. The signature header may carry several
// comma-separated values (a future secret rotation signs with old and new);
// a receiver accepts the request if any v1 value matches. Delivery is at
// least once: the receiver should drop a notification ID it has seen.
type Webhook struct {
	p      *poster
	secret []byte
	now    func() time.Time
}

// NewWebhook checks cfg and returns the channel.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	if len(cfg.Secret) == 0 {
		return nil, errors.New("notify: webhook secret is required")
	}
	p, err := newPoster("webhook", cfg.URL, cfg.Timeout, cfg.Client)
	if err != nil {
		return nil, err
	}
	return &Webhook{p: p, secret: append([]byte(nil), cfg.Secret...), now: time.Now}, nil
}

// WebhookEvent is the JSON body of a generic webhook request. Field names
// are a public contract: add fields, never rename or remove them.
type WebhookEvent struct {
	ID          string          `json:"id"`
	Kind        Kind            `json:"kind"`
	Subject     string          `json:"subject"`
	Text        string          `json:"text"`
	Link        string          `json:"link"`
	Process     *WebhookProcess `json:"process,omitempty"` // absent for a digest
	Task        *WebhookTask    `json:"task,omitempty"`
	RecipientID string          `json:"recipient_id"`
	Time        time.Time       `json:"time"`             // when the event happened, UTC
	Digest      []DigestSection `json:"digest,omitempty"` // a digest's lists
}

// WebhookProcess identifies the process in a WebhookEvent.
type WebhookProcess struct {
	Kind  string `json:"kind"`
	ID    string `json:"id"`
	Title string `json:"title"`
}

// WebhookTask identifies the task in a WebhookEvent.
type WebhookTask struct {
	ID              string     `json:"id"`
	Title           string     `json:"title"`
	DueAt           *time.Time `json:"due_at,omitempty"` // UTC
	EscalationLevel int        `json:"escalation_level,omitempty"`
}

// Event returns the webhook body for r.
func Event(r Rendered) WebhookEvent {
	m := r.Message
	ev := WebhookEvent{
		ID:          m.ID,
		Kind:        m.Kind,
		Subject:     r.Subject,
		Text:        r.Text,
		Link:        r.Link,
		RecipientID: m.Recipient.ID,
		Time:        m.At.UTC(),
		Digest:      r.Digest,
	}
	if m.Process.ID != "" {
		ev.Process = &WebhookProcess{Kind: string(m.Process.Kind), ID: m.Process.ID, Title: m.Process.Title}
	}
	if t := m.Task; t != nil {
		ev.Task = &WebhookTask{ID: t.ID, Title: t.Title, EscalationLevel: t.EscalationLevel}
		if !t.DueAt.IsZero() {
			due := t.DueAt.UTC()
			ev.Task.DueAt = &due
		}
	}
	return ev
}

// Send posts r as a signed WebhookEvent. 2xx is delivered; 408, 429 and
// 5xx are transient; other 4xx and redirects are permanent.
func (w *Webhook) Send(ctx context.Context, r Rendered) error {
	if r.Message.ID == "" {
		return permanent("webhook", 0, fmt.Errorf("%w: not a rendered message", ErrInvalidMessage))
	}
	body, err := json.Marshal(Event(r))
	if err != nil {
		return permanent("webhook", 0, fmt.Errorf("%w: encode: %v", ErrInvalidMessage, err))
	}
	ts := w.now().Unix()
	h := http.Header{}
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, Sign(w.secret, ts, body))
	h.Set(HeaderWebhookID, r.Message.ID)
	_, _, err = w.p.post(ctx, body, h)
	return err
}

// Sign returns the Opsflow-Signature value for body sent at timestamp
// (Unix seconds): "v1=" and the hex HMAC-SHA256 of timestamp "." body.
// The timestamp is inside the MAC so it cannot be moved forward to dodge
// the receiver's replay window.
func Sign(secret []byte, timestamp int64, body []byte) string {
	return "v1=" + hex.EncodeToString(mac(secret, strconv.FormatInt(timestamp, 10), body))
}

func mac(secret []byte, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(timestamp))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Errors of VerifySignature. A receiver should answer all of them with 401
// and log which one it was.
var (
	ErrSignatureMissing  = errors.New("notify: no v1 signature")
	ErrSignatureMismatch = errors.New("notify: signature does not match")
	ErrTimestampInvalid  = errors.New("notify: timestamp is not Unix seconds")
	ErrTimestampSkew     = errors.New("notify: timestamp outside the tolerance")
)

// VerifySignature checks a webhook request as a receiver must: header is
// the Opsflow-Signature value, timestamp the Opsflow-Timestamp value, body
// the raw request body. It accepts when one v1 signature matches in
// constant time and the timestamp is within tolerance of now (either way,
// to allow for clock skew); tolerance <= 0 means DefaultSignatureSkew. The
// signature is checked before the time, so ErrTimestampSkew means "genuine
// but too old (or a wrong clock)".
func VerifySignature(secret []byte, header, timestamp string, body []byte, tolerance time.Duration, now time.Time) error {
	timestamp = strings.TrimSpace(timestamp)
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrTimestampInvalid
	}
	want := mac(secret, timestamp, body) // the header's bytes, as they were signed
	found := false
	for _, part := range strings.Split(header, ",") {
		v, ok := strings.CutPrefix(strings.TrimSpace(part), "v1=")
		if !ok {
			continue // another scheme version: not ours to judge
		}
		found = true
		got, err := hex.DecodeString(v)
		if err == nil && hmac.Equal(got, want) {
			if tolerance <= 0 {
				tolerance = DefaultSignatureSkew
			}
			if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
				return fmt.Errorf("%w: signed %s ago, tolerance %s", ErrTimestampSkew, d.Round(time.Second), tolerance)
			}
			return nil
		}
	}
	if !found {
		return ErrSignatureMissing
	}
	return ErrSignatureMismatch
}
