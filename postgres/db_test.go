package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/opsflow/opsflow"
)

func TestOpenNeverLeaksThePassword(t *testing.T) {
	ctx := t.Context()
	const secret = "s3cr3t-pw"
	for _, url := range []string{
		"postgres://opsflow:" + secret + "@127.0.0.1:1/opsflow?sslmode=disable&connect_timeout=1", // nothing listens on port 1
		"postgres://opsflow:" + secret + "@127.0.0.1:notaport/opsflow",
		"host=127.0.0.1 port=1 user=opsflow password=" + secret + " sslmode=disable connect_timeout=1",
		"postgres://nosuchuser:" + secret + "@127.0.0.1:5432/postgres?sslmode=disable",
	} {
		db, err := Open(ctx, url, WithPingTimeout(3*time.Second))
		if err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", url)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}

func TestOpenUnavailableIsCoded(t *testing.T) {
	_, err := Open(t.Context(), "postgres://x@127.0.0.1:1/x?sslmode=disable", WithPingTimeout(2*time.Second))
	if code := opsflow.ErrorCode(err); code != opsflow.EUNAVAILABLE {
		t.Fatalf("refused connection: code %q (%v), want unavailable", code, err)
	}
	if msg := opsflow.ErrorMessage(err); strings.Contains(msg, "127.0.0.1") || strings.Contains(msg, "dial") {
		t.Errorf("client-facing message shows driver detail: %q", msg)
	}
}

func TestWrapKeepsCauseAndHidesSQL(t *testing.T) {
	ctx := t.Context()
	_, err := testDB.db.ExecContext(ctx, `INSERT INTO users (id, name) VALUES ('dup-user', 'a'), ('dup-user', 'b')`)
	err = wrap("save user", err)
	if opsflow.ErrorCode(err) != opsflow.ECONFLICT {
		t.Fatalf("unique violation: code %q, want conflict", opsflow.ErrorCode(err))
	}
	if pq.As(err) == nil {
		t.Error("the driver error is no longer reachable with errors.As")
	}
	if msg := opsflow.ErrorMessage(err); strings.Contains(msg, "users") || strings.Contains(msg, "pq") {
		t.Errorf("client-facing message shows SQL detail: %q", msg)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := testDB.Ping(canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled ping: %v", err)
	}
	if err := testDB.Ping(ctx); err != nil {
		t.Error(err)
	}
}
