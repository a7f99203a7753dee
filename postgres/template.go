package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/opsflow/opsflow"
)

// templateRow is an onboarding_templates row as scanned.
type templateRow struct {
	Role        string    `db:"role"`
	Version     int       `db:"version"`
	Title       string    `db:"title"`
	Description string    `db:"description"`
	Tasks       []byte    `db:"tasks"`
	CreatedBy   string    `db:"created_by"`
	CreatedAt   time.Time `db:"created_at"`
}

const templateColumns = `role, version, title, description, tasks, created_by, created_at`

func (r templateRow) template() (opsflow.OnboardingTemplate, error) {
	t := opsflow.OnboardingTemplate{Role: r.Role, Version: r.Version, Title: r.Title, Description: r.Description,
		CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC()}
	if err := json.Unmarshal(r.Tasks, &t.Tasks); err != nil {
		return t, wrap("decode template tasks", err)
	}
	return t, nil
}

// CreateTemplate stores t as the next version of its role's template
// (version 1 for a new role) and returns it with its version. When t is
// the same as the latest version (title, description and tasks), nothing
// is written and the latest version is returned with created false, so a
// retried request does not mint a spurious version. t must be valid.
func (db *DB) CreateTemplate(ctx context.Context, t opsflow.OnboardingTemplate) (opsflow.OnboardingTemplate, bool, error) {
	if err := t.Validate(); err != nil {
		return t, false, err
	}
	tasks, err := json.Marshal(t.Tasks)
	if err != nil {
		return t, false, fmt.Errorf("postgres: encode template tasks: %w", err)
	}
	var out opsflow.OnboardingTemplate
	created := false
	err = db.InTx(ctx, func(tx *sqlx.Tx) error {
		// Two writers of the same role take turns, so versions have no
		// gaps and no duplicate-key failures.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('onboarding_template:' || $1))`, t.Role); err != nil {
			return wrap("lock template role", err)
		}
		var latest templateRow
		err := tx.GetContext(ctx, &latest, `SELECT `+templateColumns+` FROM onboarding_templates
			WHERE role = $1 ORDER BY version DESC LIMIT 1`, t.Role)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return wrap("read latest template", err)
		default:
			var same bool
			if err := tx.GetContext(ctx, &same, `SELECT $1::jsonb = $2::jsonb`, string(latest.Tasks), string(tasks)); err != nil {
				return wrap("compare template", err)
			}
			if same && latest.Title == t.Title && latest.Description == t.Description {
				out, err = latest.template()
				return err
			}
		}
		var row templateRow
		if err := tx.GetContext(ctx, &row, `
			INSERT INTO onboarding_templates (role, version, title, description, tasks, created_by)
			VALUES ($1, $2, $3, $4, $5::jsonb, $6) RETURNING `+templateColumns,
			t.Role, latest.Version+1, t.Title, t.Description, string(tasks), t.CreatedBy); err != nil {
			return wrap("save template", err)
		}
		created = true
		out, err = row.template()
		return err
	})
	return out, created, err
}

// Template returns version of role's template, or its latest version when
// version is 0. A missing one is not_found.
func (db *DB) Template(ctx context.Context, role string, version int) (opsflow.OnboardingTemplate, error) {
	var r templateRow
	err := db.db.GetContext(ctx, &r, `SELECT `+templateColumns+` FROM onboarding_templates
		WHERE role = $1 AND ($2 = 0 OR version = $2) ORDER BY version DESC LIMIT 1`, role, version)
	if errors.Is(err, sql.ErrNoRows) {
		msg := fmt.Sprintf("no onboarding template for role %q", role)
		if version > 0 {
			msg = fmt.Sprintf("no version %d of the onboarding template for role %q", version, role)
		}
		return opsflow.OnboardingTemplate{}, &opsflow.Error{Code: opsflow.ENOTFOUND, Message: msg}
	}
	if err != nil {
		return opsflow.OnboardingTemplate{}, wrap("get template", err)
	}
	return r.template()
}

// LatestTemplates returns the latest version of every role's template, by
// role.
func (db *DB) LatestTemplates(ctx context.Context) ([]opsflow.OnboardingTemplate, error) {
	var rows []templateRow
	if err := db.db.SelectContext(ctx, &rows, `SELECT DISTINCT ON (role) `+templateColumns+`
		FROM onboarding_templates ORDER BY role, version DESC`); err != nil {
		return nil, wrap("list templates", err)
	}
	out := make([]opsflow.OnboardingTemplate, 0, len(rows))
	for _, r := range rows {
		t, err := r.template()
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// UserExists reports whether a user with this ID is known (has ever been
// given a token), so a manager or mentor ID can be checked at the door.
func (db *DB) UserExists(ctx context.Context, id string) (bool, error) {
	var ok bool
	if err := db.db.GetContext(ctx, &ok, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`, id); err != nil {
		return false, wrap("look up user", err)
	}
	return ok, nil
}
