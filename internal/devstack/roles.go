package devstack

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"

	"github.com/lib/pq"
)

// The roles opsflow runs as on a private PostgreSQL (see postgres/roles.go):
// the owner migrates, the application owns nothing and may only append to
// the audit trail.
const (
	OwnerRole = "opsflow_owner"
	AppRole   = "opsflow_app"
)

// DatabaseURLs are the URLs of one database for each of its users.
type DatabaseURLs struct {
	Superuser string // for setup and for tests that play the attacker
	Owner     string // migrations: MIGRATE_DATABASE_URL
	App       string // the API and the worker: DATABASE_URL
}

// SetupRoles prepares database name on the server superuserURL points at
// (a superuser's URL of any database there) for opsflow's two roles: it
// creates roles owner and app unless they exist (LOGIN, no superuser, no
// CREATEDB or CREATEROLE), makes owner the owner of the database and of
// everything already in its schema (a state directory from before the
// roles existed), and returns the URLs. The application's privileges are
// granted by the migrations (postgres.Migrate with postgres.GrantTo).
//
// On the private server the roles have no password: it trusts local
// connections.
func SetupRoles(ctx context.Context, superuserURL, name, owner, app string) (DatabaseURLs, error) {
	var urls DatabaseURLs
	u, err := url.Parse(superuserURL)
	if err != nil {
		return urls, fmt.Errorf("set up roles: %w", err)
	}
	// On a server that asks for passwords (a shared CI server rather than
	// the private one, which trusts local connections), each role gets
	// one derived from the superuser's: the same in every run, so that
	// test binaries sharing the server agree on it, and known only to
	// whoever knows the superuser's.
	super, hasPassword := u.User.Password()
	password := func(role string) string {
		sum := sha256.Sum256([]byte(role + "\x00" + super))
		return hex.EncodeToString(sum[:16])
	}
	at := func(user *url.Userinfo) string {
		v := *u
		v.User = user
		v.Path = "/" + name
		return v.String()
	}
	roleAt := func(role string) string {
		if hasPassword {
			return at(url.UserPassword(role, password(role)))
		}
		return at(url.User(role))
	}
	urls = DatabaseURLs{Superuser: at(u.User), Owner: roleAt(owner), App: roleAt(app)}

	server, err := sql.Open("postgres", superuserURL)
	if err != nil {
		return urls, fmt.Errorf("set up roles: %w", err)
	}
	defer server.Close()
	for _, role := range []string{owner, app} {
		_, err := server.ExecContext(ctx, "CREATE ROLE "+pq.QuoteIdentifier(role)+" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS")
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && (pqErr.Code == "42710" || pqErr.Code == "23505") { // exists already, or a twin created it just now
			err = nil
		}
		if err != nil {
			return urls, fmt.Errorf("create role %s: %w", role, err)
		}
		if hasPassword {
			if _, err := server.ExecContext(ctx, "ALTER ROLE "+pq.QuoteIdentifier(role)+" PASSWORD "+pq.QuoteLiteral(password(role))); err != nil {
				return urls, fmt.Errorf("set the password of role %s: %w", role, err)
			}
		}
	}
	if _, err := server.ExecContext(ctx, "ALTER DATABASE "+pq.QuoteIdentifier(name)+" OWNER TO "+pq.QuoteIdentifier(owner)); err != nil {
		return urls, fmt.Errorf("set up roles: %w", err)
	}

	db, err := sql.Open("postgres", urls.Superuser)
	if err != nil {
		return urls, fmt.Errorf("set up roles: %w", err)
	}
	defer db.Close()
	// Tables (with the sequences they own), views and functions made by
	// another role — the superuser, before there were roles — pass to the
	// owner. An application that owned them could disable the trail's
	// triggers.
	if _, err := db.ExecContext(ctx, `
		DO $$
		DECLARE
			r record;
			owner name := `+pq.QuoteLiteral(owner)+`;
		BEGIN
			EXECUTE format('ALTER SCHEMA public OWNER TO %I', owner);
			FOR r IN SELECT c.oid::regclass AS rel, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') AND pg_get_userbyid(c.relowner) <> owner
			LOOP
				EXECUTE format('ALTER %s %s OWNER TO %I',
					CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, r.rel, owner);
			END LOOP;
			FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
				WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> owner
			LOOP
				EXECUTE format('ALTER ROUTINE %s OWNER TO %I', r.fn, owner);
			END LOOP;
		END;
		$$`); err != nil {
		return urls, fmt.Errorf("hand database %s to role %s: %w", name, owner, err)
	}
	return urls, nil
}
