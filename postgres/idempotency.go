package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// IdempotencyClaim is the request that first used an Idempotency-Key.
type IdempotencyClaim struct {
	Fingerprint string    `db:"fingerprint"`
	Method      string    `db:"method"`
	Path        string    `db:"path"`
	CreatedAt   time.Time `db:"created_at"`
}

// ClaimIdempotencyKey records that userID's key belongs to the request
// with this fingerprint, unless it already belongs to one, and returns the
// request it belongs to: the caller compares fingerprints. Keys are per
// user, like the processes and steps they name.
//
// The row is a guard, not the effect (Temporal's workflow and update IDs
// carry those), so it is committed without waiting for the disk: a crash
// that loses it loses only the check, never an effect.
func (db *DB) ClaimIdempotencyKey(ctx context.Context, userID, key, fingerprint, method, path string) (IdempotencyClaim, error) {
	var claim IdempotencyClaim
	// One statement, one round trip: set_config(..., true) lasts for the
	// statement's own transaction, so its commit skips the WAL flush.
	err := db.db.GetContext(ctx, &claim, `
		WITH cfg AS (SELECT set_config('synchronous_commit', 'off', true) AS v),
		ins AS (
			INSERT INTO idempotency_keys (user_id, key, fingerprint, method, path)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (user_id, key) DO NOTHING
			RETURNING fingerprint, method, path, created_at)
		SELECT fingerprint, method, path, created_at FROM ins CROSS JOIN cfg
		UNION ALL
		SELECT fingerprint, method, path, created_at FROM idempotency_keys CROSS JOIN cfg WHERE user_id = $1 AND key = $2
		LIMIT 1`, userID, key, fingerprint, method, path)
	if errors.Is(err, sql.ErrNoRows) {
		// A concurrent first use committed after this statement's
		// snapshot: it is that request's key, and this one is its twin or
		// not — the workflow and update IDs still keep the effect single.
		return IdempotencyClaim{Fingerprint: fingerprint, Method: method, Path: path}, nil
	}
	if err != nil {
		return claim, wrap("claim idempotency key", err)
	}
	claim.CreatedAt = claim.CreatedAt.UTC()
	return claim, nil
}

// ForgetIdempotencyKeys removes keys used before cutoff, returning how many.
func (db *DB) ForgetIdempotencyKeys(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := db.db.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, cutoff)
	if err != nil {
		return 0, wrap("forget idempotency keys", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
