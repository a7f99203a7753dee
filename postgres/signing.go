package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/opsflow/opsflow"
)

// Signing passwords (Part 11 re-authentication): the hash and the run of
// failed attempts. Each write locks the user's row first, like every other
// write to a user, so their audit stream stays in order.

// SigningCredential returns a user's signing password hash and lock
// state; found is false when the user has set none.
func (db *DB) SigningCredential(ctx context.Context, userID string) (hash string, lock opsflow.SigningLock, found bool, err error) {
	var row struct {
		Hash        string     `db:"hash"`
		Failures    int        `db:"failures"`
		LockedUntil *time.Time `db:"locked_until"`
	}
	err = db.db.GetContext(ctx, &row, `SELECT hash, failures, locked_until FROM signing_credentials WHERE user_id = $1`, userID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", lock, false, nil
	}
	if err != nil {
		return "", lock, false, wrap("read signing credential", err)
	}
	return row.Hash, opsflow.SigningLock{Failures: row.Failures, LockedUntil: utcPtr(row.LockedUntil)}, true, nil
}

// SetSigningPassword stores a user's signing password hash (made by
// internal/secret), clearing any lock, and records that it was set (not
// what it is) on the user's audit stream, by by.
func (db *DB) SetSigningPassword(ctx context.Context, userID, hash string, by opsflow.Actor) error {
	return db.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, found, err := lockUser(ctx, tx, userID); err != nil {
			return err
		} else if !found {
			return &opsflow.Error{Code: opsflow.ENOTFOUND, Message: "no user " + userID}
		}
		var existed bool
		if err := tx.GetContext(ctx, &existed, `SELECT EXISTS (SELECT 1 FROM signing_credentials WHERE user_id = $1)`, userID); err != nil {
			return wrap("set signing password", err)
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO signing_credentials (user_id, hash) VALUES ($1, $2)
			ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, failures = 0, locked_until = NULL, set_at = now(), updated_at = now()`,
			userID, hash); err != nil {
			return wrap("set signing password", err)
		}
		action := "signing_password.set"
		if existed {
			action = "signing_password.changed"
		}
		return auditUser(ctx, tx, userID, by, time.Now(), opsflow.AuditEvent{Action: action, Field: "signing_password", New: "(argon2id hash, not shown)"})
	})
}

// RecordSigningFailure counts a wrong signing password of userID for
// what (the step or change it was for), records it on the user's stream
// and locks signing once the run reaches policy.MaxFailures. It returns
// the lock state after the attempt.
func (db *DB) RecordSigningFailure(ctx context.Context, userID, what string, policy opsflow.SigningPolicy) (opsflow.SigningLock, error) {
	var lock opsflow.SigningLock
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		u, found, err := lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		if !found {
			return &opsflow.Error{Code: opsflow.ENOTFOUND, Message: "no user " + userID}
		}
		var row struct {
			Failures    int        `db:"failures"`
			LockedUntil *time.Time `db:"locked_until"`
		}
		if err := tx.GetContext(ctx, &row, `
			UPDATE signing_credentials SET updated_at = now(),
				-- a lock that has run out starts a new run of failures
				failures = CASE WHEN locked_until <= now() THEN 1 ELSE failures + 1 END,
				locked_until = CASE
					WHEN (CASE WHEN locked_until <= now() THEN 1 ELSE failures + 1 END) >= $2 THEN now() + $3 * interval '1 millisecond'
					WHEN locked_until <= now() THEN NULL
					ELSE locked_until END
			WHERE user_id = $1 RETURNING failures, locked_until`,
			userID, policy.MaxFailures, policy.Lockout.Milliseconds()); err != nil {
			return wrap("record signing failure", err)
		}
		lock = opsflow.SigningLock{Failures: row.Failures, LockedUntil: utcPtr(row.LockedUntil)}
		events := []opsflow.AuditEvent{{Action: "signature.failed", Field: "signing_password", New: fmt.Sprint(row.Failures),
			Reason: "wrong signing password for " + what}}
		if row.Failures == policy.MaxFailures && lock.LockedUntil != nil {
			events = append(events, opsflow.AuditEvent{Action: "signing.locked", Field: "signing_password",
				New: lock.LockedUntil.Format(time.RFC3339), Reason: fmt.Sprintf("%d failed attempts in a row", row.Failures)})
		}
		return auditUser(ctx, tx, userID, opsflow.Actor{ID: u.ID, Name: u.Name, Roles: u.Roles}, time.Now(), events...)
	})
	return lock, err
}

// RecordSigningRefused records an attempt to sign while signing is
// locked: it does not count, and is recorded.
func (db *DB) RecordSigningRefused(ctx context.Context, userID, what string, until time.Time) error {
	return db.InTx(ctx, func(tx *sqlx.Tx) error {
		u, _, err := lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		return auditUser(ctx, tx, userID, opsflow.Actor{ID: u.ID, Name: u.Name, Roles: u.Roles}, time.Now(), opsflow.AuditEvent{
			Action: "signature.refused", Field: "signing_password", Reason: "signing is locked until " + until.Format(time.RFC3339) + "; attempted for " + what})
	})
}

// RecordSigningSuccess ends a run of failures (a good password resets the
// count; a lock still in force is not lifted by it).
func (db *DB) RecordSigningSuccess(ctx context.Context, userID string) error {
	_, err := db.db.ExecContext(ctx, `UPDATE signing_credentials SET failures = 0, updated_at = now()
		WHERE user_id = $1 AND failures > 0 AND (locked_until IS NULL OR locked_until < now())`, userID)
	return wrap("record signing success", err)
}

// UnlockSigning lifts a user's signing lock (an administrator, by), for
// reason, recorded on the user's stream.
func (db *DB) UnlockSigning(ctx context.Context, userID string, by opsflow.Actor, reason string) (opsflow.SigningLock, error) {
	var lock opsflow.SigningLock
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, found, err := lockUser(ctx, tx, userID); err != nil {
			return err
		} else if !found {
			return &opsflow.Error{Code: opsflow.ENOTFOUND, Message: "no user " + userID}
		}
		var old struct {
			Failures    int        `db:"failures"`
			LockedUntil *time.Time `db:"locked_until"`
		}
		err := tx.GetContext(ctx, &old, `SELECT failures, locked_until FROM signing_credentials WHERE user_id = $1 FOR UPDATE`, userID)
		if errors.Is(err, sql.ErrNoRows) {
			return &opsflow.Error{Code: opsflow.ENOTFOUND, Message: "user " + userID + " has no signing password"}
		}
		if err != nil {
			return wrap("unlock signing", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE signing_credentials SET failures = 0, locked_until = NULL, updated_at = now() WHERE user_id = $1`, userID); err != nil {
			return wrap("unlock signing", err)
		}
		was := "not locked"
		if old.LockedUntil != nil {
			was = "locked until " + old.LockedUntil.UTC().Format(time.RFC3339)
		}
		return auditUser(ctx, tx, userID, by, time.Now(), opsflow.AuditEvent{Action: "signing.unlocked", Field: "signing_password",
			Old: fmt.Sprintf("%s, %d failures", was, old.Failures), New: "unlocked", Reason: reason})
	})
	return lock, err
}
