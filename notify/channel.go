package notify

import "context"

// Channel delivers a rendered message to its recipient: *Email, *Slack,
// *Teams or *Webhook. Send returns nil once the receiving server has
// accepted the message, and otherwise a *DeliveryError (or an error
// wrapping ErrInvalidMessage) that IsPermanent classifies. Send may be
// called concurrently; it does not retry — retries, backoff and attempt
// limits belong to the dispatcher, which sees every channel's failures the
// same way.
type Channel interface {
	Send(ctx context.Context, r Rendered) error
}

var (
	_ Channel = (*Email)(nil)
	_ Channel = (*Slack)(nil)
	_ Channel = (*Teams)(nil)
	_ Channel = (*Webhook)(nil)
)
