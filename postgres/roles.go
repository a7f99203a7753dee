package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/lib/pq"
)

// opsflow runs as two PostgreSQL roles:
//
//   - the owner, which owns the schema and runs the migrations
//     (MIGRATE_DATABASE_URL, `opsflow migrate`);
//   - the application, which the API and the worker connect as
//     (DATABASE_URL). It owns nothing, is no superuser, and holds only the
//     privileges GrantApp gives it.
//
// PostgreSQL itself then refuses the application any change to the audit
// trail other than appending: it has no UPDATE, DELETE or TRUNCATE on the
// trail, cannot disable its triggers (only an owner can), cannot set
// session_replication_role (only a superuser can), and moves a chain's
// head only by appending the event that continues it (migration 00006).
// What the owner or a superuser could still do — rewrite a tail with
// recomputed hashes — signed checkpoints make visible (opsflow.Checkpoint).

// evidenceGrants are the privileges the application keeps on the tables
// that are evidence; every other table of the schema gets SELECT, INSERT,
// UPDATE and DELETE. A table added later is covered by the default, so a
// new evidence table must be listed here.
var evidenceGrants = []struct{ table, privileges string }{
	{"audit_events", "SELECT, INSERT"},
	{"audit_heads", "SELECT"},
	{"audit_checkpoints", "SELECT, INSERT, UPDATE (published_at, publish_error)"},
	{"kpi_measurements", "SELECT, INSERT"},     // append-only by its own trigger
	{"onboarding_templates", "SELECT, INSERT"}, // versions are immutable: running onboardings keep theirs
	{"kpi_targets", "SELECT, INSERT"},          // a target history: a new target is a new row, never an edit
	{"kpi_dividers", "SELECT, INSERT"},         // so are dividers
	{"kpi_evaluated", "SELECT, INSERT"},        // what a KPI's watch judged, and when
	{"kpi_signals", "SELECT, INSERT"},          // what the watch did about each signal, once
	{"kpi_links", "SELECT, INSERT"},            // the processes a KPI's signals opened
	{"reports", "SELECT, INSERT"},              // monthly reports are immutable (and a trigger says so too)
	{"goose_db_version", "SELECT"},             // the application may read the schema's version, never change it
}

// GrantApp gives role the application's privileges on this schema, and no
// more: run it as the owner after migrating (Migrate does, with
// GrantTo). It is idempotent, and re-applies the policy to tables created
// since it last ran.
func GrantApp(ctx context.Context, db *DB, role string) error {
	if strings.TrimSpace(role) == "" {
		return fmt.Errorf("postgres: grant: no application role")
	}
	tx, err := db.db.BeginTxx(ctx, nil)
	if err != nil {
		return wrap("grant: begin", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	var schema, me string
	if err := tx.QueryRowContext(ctx, `SELECT current_schema(), current_user`).Scan(&schema, &me); err != nil {
		return wrap("grant", err)
	}
	if role == me {
		return fmt.Errorf("postgres: grant: the application role %q is the role that migrates: give the application a role of its own", role)
	}
	r, s := pq.QuoteIdentifier(role), pq.QuoteIdentifier(schema)
	stmts := []string{
		"REVOKE ALL ON ALL TABLES IN SCHEMA " + s + " FROM " + r,
		"REVOKE CREATE ON SCHEMA " + s + " FROM " + r,
		"GRANT USAGE ON SCHEMA " + s + " TO " + r,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA " + s + " TO " + r,
		"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA " + s + " TO " + r,
	}
	for _, g := range evidenceGrants {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, schema+"."+g.table).Scan(&exists); err != nil {
			return wrap("grant", err)
		}
		if exists {
			t := s + "." + pq.QuoteIdentifier(g.table)
			stmts = append(stmts, "REVOKE ALL ON "+t+" FROM "+r, "GRANT "+g.privileges+" ON "+t+" TO "+r)
		}
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return wrap("grant: "+q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return wrap("grant: commit", err)
	}
	return nil
}

// RoleProblems lists what is wrong with the role db connects as, for a
// role the application runs as: each item is a sentence for the log. An
// empty list means PostgreSQL itself keeps that role from rewriting the
// audit trail.
func RoleProblems(ctx context.Context, db *DB) ([]string, error) {
	var row struct {
		Role      string `db:"role"`
		Super     bool   `db:"super"`
		Owns      int    `db:"owns"`
		Rewrites  bool   `db:"rewrites"`
		MovesHead bool   `db:"moves_head"`
	}
	err := db.db.GetContext(ctx, &row, `
		SELECT current_user AS role,
			(SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS super,
			(SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm')
				  AND pg_has_role(current_user, c.relowner, 'USAGE'))::int AS owns,
			coalesce(to_regclass('audit_events') IS NOT NULL AND (
				has_table_privilege('audit_events', 'UPDATE') OR has_table_privilege('audit_events', 'DELETE') OR
				has_table_privilege('audit_events', 'TRUNCATE')), false) AS rewrites,
			coalesce(to_regclass('audit_heads') IS NOT NULL AND (
				has_table_privilege('audit_heads', 'INSERT') OR has_table_privilege('audit_heads', 'UPDATE') OR
				has_table_privilege('audit_heads', 'DELETE')), false) AS moves_head`)
	if err != nil {
		return nil, wrap("check role", err)
	}
	var out []string
	if row.Super {
		out = append(out, fmt.Sprintf("the database role %q is a superuser: it can rewrite the audit trail and switch its triggers off", row.Role))
	}
	if row.Owns > 0 {
		out = append(out, fmt.Sprintf("the database role %q owns %d tables or views of the schema: an owner can disable the audit trail's triggers", row.Role, row.Owns))
	}
	if row.Rewrites {
		out = append(out, fmt.Sprintf("the database role %q may UPDATE, DELETE or TRUNCATE audit_events", row.Role))
	}
	if row.MovesHead {
		out = append(out, fmt.Sprintf("the database role %q may write audit_heads directly", row.Role))
	}
	return out, nil
}

// CurrentRole is the role db connects as.
func CurrentRole(ctx context.Context, db *DB) (string, error) {
	var r string
	if err := db.db.GetContext(ctx, &r, `SELECT current_user`); err != nil {
		return "", wrap("current role", err)
	}
	return r, nil
}
