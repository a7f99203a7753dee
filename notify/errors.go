package notify

import (
	"errors"
	"fmt"
	"time"
)

// DeliveryError is how every channel reports a failed send: which channel,
// whether another attempt can succeed, and the remote code if there was
// one. The dispatcher stores Error() as the row's last error and decides
// on retries with IsPermanent, the same way for every channel.
type DeliveryError struct {
	Channel   string // "email", "slack", "teams" or "webhook"
	Permanent bool   // true when retrying the same message cannot succeed
	// Code is the SMTP reply code or HTTP status, 0 when the failure had
	// none (a refused connection, a timeout).
	Code int
	// RetryAfter is the delay a receiver asked for (HTTP Retry-After on
	// 429 or 503); 0 when it asked for none.
	RetryAfter time.Duration
	Err        error
}

func (e *DeliveryError) Error() string {
	kind := "transient"
	if e.Permanent {
		kind = "permanent"
	}
	if e.Code != 0 {
		return fmt.Sprintf("notify: %s: %s failure (%d): %v", e.Channel, kind, e.Code, e.Err)
	}
	return fmt.Sprintf("notify: %s: %s failure: %v", e.Channel, kind, e.Err)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// IsPermanent reports whether err says that sending the same message again
// cannot succeed: an SMTP 5xx reply to MAIL, RCPT or DATA, a bad address, a
// webhook's 4xx other than 408 and 429, a message that does not render.
// Everything else — a refused connection, a timeout, SMTP 4xx, a failure
// before MAIL FROM (greeting, STARTTLS, AUTH: the server or our settings,
// not the message), HTTP 429 and 5xx, a cancelled context, an error this
// package does not know — is transient, because giving up on a message
// someone needs is worse than one more attempt; the dispatcher's attempt
// limit ends retries that never succeed.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrInvalidMessage) {
		return true
	}
	var de *DeliveryError
	return errors.As(err, &de) && de.Permanent
}

// RetryAfter returns the delay the receiver asked for before the next
// attempt, or 0. A dispatcher should wait at least this long.
func RetryAfter(err error) time.Duration {
	var de *DeliveryError
	if errors.As(err, &de) {
		return de.RetryAfter
	}
	return 0
}

func transient(channel string, code int, err error) *DeliveryError {
	return &DeliveryError{Channel: channel, Code: code, Err: err}
}

func permanent(channel string, code int, err error) *DeliveryError {
	return &DeliveryError{Channel: channel, Permanent: true, Code: code, Err: err}
}
