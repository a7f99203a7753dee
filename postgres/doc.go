// Package postgres is opsflow's store: the read model that workflows project
// into, the append-only audit trail, and users with their API tokens. It
// uses sqlx over lib/pq, and embeds its schema as goose migrations.
//
// Every write is idempotent so that a Temporal activity retry changes
// nothing: snapshots carry a version and never overwrite a newer one, and
// audit events are keyed by "<stream>/<seq>".
package postgres
