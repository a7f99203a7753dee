package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/opsflow/opsflow"
)

// ProvisionSSO makes a person an issuer vouches for (issuer, subject) the
// user u: created the first time, audited on their stream; afterwards
// their name and roles follow the issuer's claims, each change audited.
// An existing user not linked to this issuer and subject is refused: a
// local account, or another person's, is never taken over by a claim.
func (db *DB) ProvisionSSO(ctx context.Context, issuer, subject string, u opsflow.User) (opsflow.User, error) {
	var out opsflow.User
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		stored, found, err := lockUser(ctx, tx, u.ID)
		if err != nil {
			return err
		}
		by := opsflow.SystemActor
		at := time.Now()
		origin := fmt.Sprintf("single sign-on: %s, subject %s", issuer, subject)
		if !found {
			if err := checkUser(u); err != nil {
				return err
			}
			var taken string
			err := tx.GetContext(ctx, &taken, `SELECT id FROM users WHERE sso_issuer = $1 AND sso_subject = $2`, issuer, subject)
			if err == nil {
				return &opsflow.Error{Code: opsflow.EFORBIDDEN, Message: fmt.Sprintf("this sign-on identity is user %s, not %s", taken, u.ID)}
			} else if !errors.Is(err, sql.ErrNoRows) {
				return wrap("provision user", err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, name, roles, sso_issuer, sso_subject) VALUES ($1, $2, $3, $4, $5)`,
				u.ID, u.Name, rolesArray(u.Roles), issuer, subject); err != nil {
				return wrap("provision user", err)
			}
			out = u
			return auditUser(ctx, tx, u.ID, by, at, opsflow.AuditEvent{Action: "user.provisioned", Field: "roles", New: rolesText(u.Roles),
				Reason: origin + ", as " + u.Name})
		}
		var link struct {
			Issuer  sql.NullString `db:"sso_issuer"`
			Subject sql.NullString `db:"sso_subject"`
		}
		if err := tx.GetContext(ctx, &link, `SELECT sso_issuer, sso_subject FROM users WHERE id = $1`, u.ID); err != nil {
			return wrap("provision user", err)
		}
		if link.Issuer.String != issuer || link.Subject.String != subject {
			return &opsflow.Error{Code: opsflow.EFORBIDDEN, Message: fmt.Sprintf(
				"user %s exists and is not this sign-on identity's: an administrator must resolve it (a local account of the same ID is never taken over)", u.ID)}
		}
		var changes []opsflow.AuditEvent
		if u.Name != stored.Name {
			changes = append(changes, opsflow.AuditEvent{Action: "user.renamed", Field: "name", Old: stored.Name, New: u.Name, Reason: origin})
		}
		if !opsflow.SameRoles(u.Roles, stored.Roles) {
			changes = append(changes, opsflow.AuditEvent{Action: "user.roles_changed", Field: "roles", Old: rolesText(stored.Roles), New: rolesText(u.Roles),
				Reason: origin + ": the roles claim"})
		}
		out = u
		if len(changes) == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET name = $2, roles = $3, updated_at = now() WHERE id = $1`, u.ID, u.Name, rolesArray(u.Roles)); err != nil {
			return wrap("provision user", err)
		}
		return auditUser(ctx, tx, u.ID, by, at, changes...)
	})
	return out, err
}

// SSOLink is the sign-on identity a user is linked to (the domain's
// opsflow.SSOLink, named here too for the store's callers).
type SSOLink = opsflow.SSOLink

// LinkSSO links user id to the sign-on identity (issuer, subject), or
// unlinks it when subject is empty: how an administrator lets a person
// with a local account sign on through the company's provider as the same
// user (ProvisionSSO refuses a claim to an unlinked account, so that a
// user name at the provider never takes one over). The user's name and
// roles then follow the provider's claims at each sign-on. Audited on the
// user's stream with the reason; linking to the identity the user already
// has changes nothing. An identity linked to another user is a conflict.
func (db *DB) LinkSSO(ctx context.Context, id string, to SSOLink, by opsflow.Actor, reason string) (SSOLink, error) {
	if strings.TrimSpace(reason) == "" {
		return SSOLink{}, opsflow.Invalid("reason", "say why the sign-on identity changes: the reason is recorded in the audit trail")
	}
	if to.Subject == "" {
		to.Issuer = ""
	} else if err := to.Validate(); err != nil {
		return SSOLink{}, err
	}
	var old SSOLink
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, found, err := lockUser(ctx, tx, id); err != nil {
			return err
		} else if !found {
			return &opsflow.Error{Code: opsflow.ENOTFOUND, Message: "no such user: " + id}
		}
		var cur struct {
			Issuer  sql.NullString `db:"sso_issuer"`
			Subject sql.NullString `db:"sso_subject"`
		}
		if err := tx.GetContext(ctx, &cur, `SELECT sso_issuer, sso_subject FROM users WHERE id = $1`, id); err != nil {
			return wrap("read sign-on identity", err)
		}
		old = SSOLink{Issuer: cur.Issuer.String, Subject: cur.Subject.String}
		if old == to {
			return nil
		}
		if to.Subject != "" {
			var taken string
			err := tx.GetContext(ctx, &taken, `SELECT id FROM users WHERE sso_issuer = $1 AND sso_subject = $2`, to.Issuer, to.Subject)
			if err == nil {
				return &opsflow.Error{Code: opsflow.ECONFLICT, Field: "subject", Message: fmt.Sprintf("this sign-on identity is user %s's; unlink it there first", taken)}
			} else if !errors.Is(err, sql.ErrNoRows) {
				return wrap("read sign-on identity", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET sso_issuer = $2, sso_subject = $3, updated_at = now() WHERE id = $1`,
			id, nullIfEmpty(to.Issuer), nullIfEmpty(to.Subject)); err != nil {
			return wrap("link sign-on identity", err)
		}
		action := "user.sso_linked"
		if to.Subject == "" {
			action = "user.sso_unlinked"
		}
		return auditUser(ctx, tx, id, by, time.Now(), opsflow.AuditEvent{Action: action, Field: "sso", Old: old.String(), New: to.String(), Reason: reason})
	})
	return old, err
}

func nullIfEmpty(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
