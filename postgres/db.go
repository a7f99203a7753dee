package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // registers the "postgres" driver
)

// DB is a pool of connections to opsflow's PostgreSQL database.
type DB struct {
	db    *sqlx.DB
	stmts sync.Map // query → *sqlx.Stmt, see prepared
}

// Option configures Open.
type Option func(*options)

type options struct {
	maxOpen     int
	maxIdle     int
	maxLifetime time.Duration
	maxIdleTime time.Duration
	pingTimeout time.Duration
}

// WithPool overrides the pool limits (defaults: 20 open, 10 idle).
func WithPool(maxOpen, maxIdle int) Option {
	return func(o *options) { o.maxOpen, o.maxIdle = maxOpen, maxIdle }
}

// WithConnLifetime overrides how long a connection lives (default 30m) and
// may stay idle (default 5m). Recycling connections lets a failover or a
// PgBouncer restart take effect without restarting opsflow.
func WithConnLifetime(maxLifetime, maxIdleTime time.Duration) Option {
	return func(o *options) { o.maxLifetime, o.maxIdleTime = maxLifetime, maxIdleTime }
}

// WithPingTimeout bounds the initial ping of Open (default 5s), so a wrong
// host fails fast instead of hanging a starting process.
func WithPingTimeout(d time.Duration) Option {
	return func(o *options) { o.pingTimeout = d }
}

// Open connects to the database at url (a postgres:// URL or a lib/pq
// key=value string) and checks that it answers. It does not migrate: call
// Migrate for that. Errors never contain the password.
func Open(ctx context.Context, url string, opts ...Option) (*DB, error) {
	o := options{maxOpen: 20, maxIdle: 10, maxLifetime: 30 * time.Minute, maxIdleTime: 5 * time.Minute, pingTimeout: 5 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	where, err := describeURL(url)
	if err != nil {
		return nil, err
	}
	// sqlx.Open only validates the driver name; the DSN is parsed on the
	// first connection, so the ping below reports a malformed one.
	sdb, err := sqlx.Open("postgres", url)
	if err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", where, err)
	}
	sdb.SetMaxOpenConns(o.maxOpen)
	sdb.SetMaxIdleConns(o.maxIdle)
	sdb.SetConnMaxLifetime(o.maxLifetime)
	sdb.SetConnMaxIdleTime(o.maxIdleTime)
	db := &DB{db: sdb}

	pctx, cancel := context.WithTimeout(ctx, o.pingTimeout)
	defer cancel()
	if err := sdb.PingContext(pctx); err != nil {
		_ = sdb.Close()
		return nil, wrap("connect to "+where, err)
	}
	return db, nil
}

// describeURL returns a description of the database URL safe to put in an
// error message: the URL without its password, or "database" for a
// key=value string (which may hold a password anywhere).
func describeURL(raw string) (string, error) {
	if !strings.HasPrefix(raw, "postgres://") && !strings.HasPrefix(raw, "postgresql://") {
		if strings.TrimSpace(raw) == "" {
			return "", errors.New("postgres: empty database URL")
		}
		return "database", nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		// *url.Error repeats the whole URL, password included: keep only
		// the reason.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return "", fmt.Errorf("postgres: invalid database URL: %w", err)
	}
	return u.Redacted(), nil
}

// Close closes every connection of the pool.
func (db *DB) Close() error { return db.db.Close() }

// prepared returns the prepared statement of query, preparing it on first
// use. The write path of every step runs a handful of large statements;
// prepared once per connection, PostgreSQL plans them once (a generic
// plan after a few runs) instead of on every call.
func (db *DB) prepared(ctx context.Context, query string) (*sqlx.Stmt, error) {
	if st, ok := db.stmts.Load(query); ok {
		return st.(*sqlx.Stmt), nil
	}
	st, err := db.db.PreparexContext(ctx, query)
	if err != nil {
		return nil, wrap("prepare", err)
	}
	if prev, loaded := db.stmts.LoadOrStore(query, st); loaded {
		_ = st.Close()
		return prev.(*sqlx.Stmt), nil
	}
	return st, nil
}

// inTx returns the prepared statement of query bound to tx.
func (db *DB) inTx(ctx context.Context, tx *sqlx.Tx, query string) (*sqlx.Stmt, error) {
	st, err := db.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return tx.StmtxContext(ctx, st), nil
}

// Ping checks that the database answers, for readiness probes.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.db.PingContext(ctx); err != nil {
		return wrap("ping", err)
	}
	return nil
}

// InTx runs fn in a transaction, committing if it returns nil and rolling
// back otherwise. Use it to append audit events together with other writes.
func (db *DB) InTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.db.BeginTxx(ctx, nil)
	if err != nil {
		return wrap("begin", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return wrap("commit", err)
	}
	return nil
}

// txExec runs query in tx, prepared when db is set (AppendAudit may run
// with a bare transaction, which plans each time).
func (db *DB) txExec(ctx context.Context, tx *sqlx.Tx, query string, args ...any) error {
	if db == nil {
		_, err := tx.ExecContext(ctx, query, args...)
		return err
	}
	st, err := db.inTx(ctx, tx, query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return err
}

// txRow is txExec for a statement that returns one row.
func (db *DB) txRow(ctx context.Context, tx *sqlx.Tx, query string, args ...any) *sqlx.Row {
	if db == nil {
		return tx.QueryRowxContext(ctx, query, args...)
	}
	st, err := db.inTx(ctx, tx, query)
	if err != nil {
		return tx.QueryRowxContext(ctx, query, args...) // unprepared, same answer
	}
	return st.QueryRowxContext(ctx, args...)
}

// txSelect is txExec for a statement that returns rows, scanned into dest.
func (db *DB) txSelect(ctx context.Context, tx *sqlx.Tx, dest any, query string, args ...any) error {
	if db == nil {
		return tx.SelectContext(ctx, dest, query, args...)
	}
	st, err := db.inTx(ctx, tx, query)
	if err != nil {
		return err
	}
	return st.SelectContext(ctx, dest, args...)
}
