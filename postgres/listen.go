package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// AuthChannel is the PostgreSQL notification channel on which a revoked
// token or a user's changed roles are announced. Each API process trusts a
// token it has checked for a few seconds without asking again; on this
// channel every one of them forgets what it trusted at once, so a token
// revoked through one API stops working on all of them.
const AuthChannel = "opsflow_auth"

// announceAuthChange tells every listener, when tx commits (NOTIFY is
// transactional), that what a user may do has changed.
func announceAuthChange(ctx context.Context, tx *sqlx.Tx, userID string) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, AuthChannel, userID); err != nil {
		return wrap("announce the change", err)
	}
	return nil
}

// ListenAuth calls changed for every change announced on AuthChannel, and
// whenever its connection is lost or comes back (a change may have been
// missed meanwhile), until ctx ends. It reconnects by itself; it returns
// only the error of a URL it cannot use at all.
func ListenAuth(ctx context.Context, url string, log *slog.Logger, changed func()) error {
	l := pq.NewListener(url, time.Second, 30*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventDisconnected, pq.ListenerEventReconnected:
			changed()
		}
		if err != nil {
			log.Warn("listening for revoked tokens", "err", err)
		}
	})
	defer l.Close()
	if err := l.Listen(AuthChannel); err != nil && err != pq.ErrChannelAlreadyOpen {
		// Not connected yet: the listener keeps trying and listens on
		// the channel once it is (pq re-issues LISTEN on reconnect).
		log.Warn("listening for revoked tokens", "err", err)
	}
	ping := time.NewTicker(time.Minute)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case n, ok := <-l.Notify:
			if !ok {
				return fmt.Errorf("postgres: the listener on %s closed", AuthChannel)
			}
			_ = n // nil after a reconnect; either way, forget
			changed()
		case <-ping.C:
			// A silent connection is checked now and then, so a dead
			// one is noticed and re-established.
			go func() { _ = l.Ping() }()
		}
	}
}
