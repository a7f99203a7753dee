// Package notify turns a notification the system owes someone into a
// message people read, and delivers it over one channel: e-mail (SMTP),
// Slack or Microsoft Teams incoming webhooks, or a generic webhook signed
// with HMAC-SHA256.
//
// The package knows nothing of the outbox table, of Temporal or of user
// profiles: the dispatcher reads an outbox row and a profile, builds a
// [Message], renders it once with a [Renderer] and hands the [Rendered]
// result to a [Channel]. Every channel reports failure as a *[DeliveryError];
// [IsPermanent] tells the dispatcher whether another attempt can help, so
// retry policy lives in one place and not in every channel.
//
// Delivery is at least once: the dispatcher may send the same notification
// twice (a crash between sending and recording sent_at). Every channel
// therefore carries the notification ID where a receiver can see it — a
// deterministic e-mail Message-ID and an X-Opsflow-Notification-ID header,
// an Opsflow-Notification-Id webhook header and the "id" field — so a
// receiver can drop the duplicate.
package notify
