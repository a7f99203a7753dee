package postgres

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/opsflow/opsflow"
)

// People: profiles (address, time zone, preferences) and the notification
// outbox's deliveries, which the worker's dispatcher claims, sends and
// records.

type profileRow struct {
	ID       string         `db:"id"`
	Name     string         `db:"name"`
	Roles    pq.StringArray `db:"roles"`
	Email    string         `db:"email"`
	Timezone string         `db:"timezone"`
	Prefs    []byte         `db:"prefs"`
}

func (r profileRow) profile() (opsflow.Profile, error) {
	p := opsflow.Profile{ID: r.ID, Name: r.Name, Email: r.Email, Timezone: r.Timezone, Roles: make([]opsflow.Role, len(r.Roles))}
	for i, role := range r.Roles {
		p.Roles[i] = opsflow.Role(role)
	}
	if len(r.Prefs) > 0 {
		if err := json.Unmarshal(r.Prefs, &p.Preferences); err != nil {
			return p, wrap("decode preferences", err)
		}
	}
	p.Preferences = p.Preferences.WithDefaults()
	return p, nil
}

// Profile returns a user's profile.
func (db *DB) Profile(ctx context.Context, id string) (opsflow.Profile, error) {
	var r profileRow
	err := db.db.GetContext(ctx, &r, `SELECT id, name, roles, email, timezone, prefs FROM users WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return opsflow.Profile{}, &opsflow.Error{Code: opsflow.ENOTFOUND, Message: "no user " + id}
	}
	if err != nil {
		return opsflow.Profile{}, wrap("read profile", err)
	}
	return r.profile()
}

// SaveProfile stores a user's name, address, time zone and preferences,
// creating the user when it does not exist and p names roles. Every change
// is recorded on the user's audit stream, by by. A webhook secret sent
// back masked (as Public shows it) keeps the stored one. Roles of an
// existing user are not changed here: that is SetUserRoles, with a reason.
func (db *DB) SaveProfile(ctx context.Context, p opsflow.Profile, by opsflow.Actor) (saved opsflow.Profile, created bool, err error) {
	return db.saveProfile(ctx, p, by, false)
}

// CreateProfile creates the user p describes, as SaveProfile does, and
// refuses (conflict) a user who exists, in the same transaction: two
// administrators creating one ID at once do not overwrite each other.
func (db *DB) CreateProfile(ctx context.Context, p opsflow.Profile, by opsflow.Actor) (opsflow.Profile, error) {
	saved, _, err := db.saveProfile(ctx, p, by, true)
	return saved, err
}

func (db *DB) saveProfile(ctx context.Context, p opsflow.Profile, by opsflow.Actor, createOnly bool) (saved opsflow.Profile, created bool, err error) {
	err = db.InTx(ctx, func(tx *sqlx.Tx) error {
		at := time.Now()
		u, found, err := lockUser(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		if found && createOnly {
			return &opsflow.Error{Code: opsflow.ECONFLICT, Field: "id", Message: fmt.Sprintf("user %s exists already (%s): change them instead", p.ID, u.Name)}
		}
		if !found {
			if len(p.Roles) == 0 {
				return &opsflow.Error{Code: opsflow.ENOTFOUND, Message: "no user " + p.ID + " (give roles to create one)"}
			}
			if u, err = ensureUser(ctx, tx, opsflow.User{ID: p.ID, Name: p.Name, Roles: p.Roles}, by, at); err != nil {
				return err
			}
			created = true
		}
		var old profileRow
		if err := tx.GetContext(ctx, &old, `SELECT id, name, roles, email, timezone, prefs FROM users WHERE id = $1`, p.ID); err != nil {
			return wrap("read profile", err)
		}
		prev, err := old.profile()
		if err != nil {
			return err
		}
		if p.Preferences.WebhookSecret == opsflow.MaskedSecret {
			p.Preferences.WebhookSecret = prev.Preferences.WebhookSecret
		}
		if p.Name == "" {
			p.Name = u.Name
		}
		if p.Timezone == "" {
			p.Timezone = prev.Timezone
		}
		p.Roles = u.Roles
		p.Preferences = p.Preferences.WithDefaults()
		if err := p.Validate(); err != nil {
			return err
		}
		var changes []opsflow.AuditEvent
		if p.Name != u.Name {
			changes = append(changes, opsflow.AuditEvent{Action: "user.renamed", Field: "name", Old: u.Name, New: p.Name})
		}
		if p.Email != prev.Email {
			changes = append(changes, opsflow.AuditEvent{Action: "user.profile_changed", Field: "email", Old: prev.Email, New: p.Email})
		}
		if p.Timezone != prev.Timezone {
			changes = append(changes, opsflow.AuditEvent{Action: "user.profile_changed", Field: "timezone", Old: prev.Timezone, New: p.Timezone})
		}
		oldPrefs, _ := json.Marshal(prev.Public().Preferences)
		newPrefs, _ := json.Marshal(p.Public().Preferences)
		if string(oldPrefs) != string(newPrefs) || p.Preferences.WebhookSecret != prev.Preferences.WebhookSecret {
			c := opsflow.AuditEvent{Action: "user.preferences_changed", Field: "preferences", Old: string(oldPrefs), New: string(newPrefs)}
			if p.Preferences.WebhookSecret != prev.Preferences.WebhookSecret {
				c.Reason = "webhook secret replaced"
			}
			changes = append(changes, c)
		}
		if len(changes) == 0 {
			saved = p
			return nil
		}
		prefs, err := json.Marshal(p.Preferences)
		if err != nil {
			return wrap("encode preferences", err)
		}
		// The next digest follows the (maybe new) hour and zone; items
		// already waiting for one still go out then.
		loc, err := time.LoadLocation(p.Timezone)
		if err != nil {
			loc = time.UTC
		}
		next := opsflow.NextDigest(at, p.Preferences.Hour(), loc)
		if _, err := tx.ExecContext(ctx, `UPDATE users SET name = $2, email = $3, timezone = $4, prefs = $5::jsonb, updated_at = now(),
			next_digest_at = CASE WHEN next_digest_at IS NULL THEN NULL ELSE $6::timestamptz END WHERE id = $1`,
			p.ID, p.Name, p.Email, p.Timezone, string(prefs), next); err != nil {
			return wrap("save profile", err)
		}
		saved = p
		return auditUser(ctx, tx, p.ID, by, at, changes...)
	})
	return saved, created, err
}

// UsersWithRole lists the users holding role (by membership, not through
// admin: an administrator is not sent every queue's mail).
func (db *DB) UsersWithRole(ctx context.Context, role opsflow.Role) ([]string, error) {
	ids := []string{}
	err := db.db.SelectContext(ctx, &ids, `SELECT id FROM users WHERE $1 = ANY(roles) ORDER BY id`, string(role))
	return ids, wrap("users with role", err)
}

// UnknownUsers returns those of ids that name no user, in order.
func (db *DB) UnknownUsers(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var unknown []string
	err := db.db.SelectContext(ctx, &unknown, `
		SELECT i FROM unnest($1::text[]) WITH ORDINALITY AS x(i, n)
		WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = x.i) ORDER BY n`, pq.Array(ids))
	return unknown, wrap("check users", err)
}

// channelMode is one channel a message goes out on, and how.
type channelMode struct{ channel, mode string }

// channels lists, for a profile, the channels a message of kind goes out on
// and how: immediate or digest. A channel without an address is left out.
// A message about no task (a process closed or stalled) has no place in a
// digest's task lists, so it goes out at once.
func channels(p opsflow.Profile, kind string, hasTask bool) []channelMode {
	var out []channelMode
	addr := map[string]string{opsflow.ChannelEmail: p.Email, opsflow.ChannelSlack: p.Preferences.SlackWebhook,
		opsflow.ChannelTeams: p.Preferences.TeamsWebhook, opsflow.ChannelWebhook: p.Preferences.WebhookURL}
	for _, ch := range []string{opsflow.ChannelEmail, opsflow.ChannelSlack, opsflow.ChannelTeams, opsflow.ChannelWebhook} {
		m := p.Preferences.Mode(ch, kind)
		if m == opsflow.DeliverOff || m == "" || addr[ch] == "" {
			continue
		}
		if m == opsflow.DeliverDigest && !hasTask {
			m = opsflow.DeliverImmediate
		}
		out = append(out, channelMode{ch, m})
	}
	return out
}

// DeliveryID is the key of one notification's delivery to one person on
// one channel: expanding the same row twice adds nothing. It is a hash so
// it fits in a URL path whatever the notification ID holds.
func DeliveryID(notification, user, channel string) string {
	h := sha256.Sum256([]byte(notification + "\x00" + user + "\x00" + channel))
	return "dlv_" + hex.EncodeToString(h[:12])
}

// ExpandNotifications turns up to limit new outbox rows into deliveries:
// one per recipient (a user, or every user of a role) and channel, pending
// or held for the digest, by each person's preferences. A recipient with
// no channel gets a skipped delivery saying so, so nothing disappears
// silently. Several dispatchers may run: rows are claimed with SKIP
// LOCKED, and deliveries are keyed, so nothing is expanded twice.
func (db *DB) ExpandNotifications(ctx context.Context, now time.Time, limit int) (int, error) {
	n := 0
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		var rows []struct {
			ID   string `db:"id"`
			To   string `db:"recipient"`
			Kind string `db:"kind"`
			Task string `db:"task_id"`
		}
		if err := tx.SelectContext(ctx, &rows, `
			SELECT id, recipient, kind, task_id FROM notifications WHERE expanded_at IS NULL
			ORDER BY at, id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit); err != nil {
			return wrap("read new notifications", err)
		}
		profiles := map[string]*opsflow.Profile{}
		profileOf := func(id string) (*opsflow.Profile, error) {
			if p, ok := profiles[id]; ok {
				return p, nil
			}
			var r profileRow
			err := tx.GetContext(ctx, &r, `SELECT id, name, roles, email, timezone, prefs FROM users WHERE id = $1`, id)
			if errors.Is(err, sql.ErrNoRows) {
				profiles[id] = nil
				return nil, nil
			}
			if err != nil {
				return nil, wrap("read profile", err)
			}
			p, err := r.profile()
			profiles[id] = &p
			return &p, err
		}
		for _, nt := range rows {
			recipients := []string{nt.To}
			if strings.Contains(nt.To, "@") {
				// An address of a distribution list (the monthly report),
				// not a user: mail to it, at once.
				if err := insertDelivery(ctx, tx, nt.ID, nt.To, opsflow.ChannelEmail, opsflow.DeliveryPending, ""); err != nil {
					return err
				}
				recipients = nil
			} else if p, err := profileOf(nt.To); err != nil {
				return err
			} else if p == nil {
				// Not a user: a role's queue.
				recipients = nil
				if err := tx.SelectContext(ctx, &recipients, `SELECT id FROM users WHERE $1 = ANY(roles) ORDER BY id`, nt.To); err != nil {
					return wrap("users with role", err)
				}
			}
			for _, uid := range recipients {
				p, err := profileOf(uid)
				if err != nil {
					return err
				}
				if p == nil {
					continue
				}
				chans := channels(*p, nt.Kind, nt.Task != "")
				if len(chans) == 0 {
					if err := insertDelivery(ctx, tx, nt.ID, uid, opsflow.ChannelEmail, opsflow.DeliverySkipped, "no channel: no address, or every channel off"); err != nil {
						return err
					}
					continue
				}
				for _, cm := range chans {
					ch, state := cm.channel, opsflow.DeliveryPending
					if cm.mode == opsflow.DeliverDigest {
						state = opsflow.DeliveryDigest
					}
					if err := insertDelivery(ctx, tx, nt.ID, uid, ch, state, ""); err != nil {
						return err
					}
					if state == opsflow.DeliveryDigest {
						loc, err := time.LoadLocation(p.Timezone)
						if err != nil {
							loc = time.UTC
						}
						if _, err := tx.ExecContext(ctx, `UPDATE users SET next_digest_at = $2 WHERE id = $1 AND (next_digest_at IS NULL)`,
							uid, opsflow.NextDigest(now, p.Preferences.Hour(), loc)); err != nil {
							return wrap("schedule digest", err)
						}
					}
				}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE notifications SET expanded_at = $2 WHERE id = $1`, nt.ID, now); err != nil {
				return wrap("mark expanded", err)
			}
			n++
		}
		return nil
	})
	return n, err
}

func insertDelivery(ctx context.Context, tx *sqlx.Tx, notification, user, channel, state, note string) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO notification_deliveries (id, notification_id, user_id, channel, state, last_error)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
		DeliveryID(notification, user, channel), notification, user, channel, state, note)
	return wrap("add delivery", err)
}

// DeliveryJob is a claimed delivery with everything needed to render and
// send it.
type DeliveryJob struct {
	opsflow.Delivery
	Level        int
	Reason       string
	ProcessKind  opsflow.Kind
	ProcessTitle string
	TaskTitle    string
	TaskDue      *time.Time
	TaskState    opsflow.TaskState
	TaskAssignee string
	TaskLevel    int
	Profile      opsflow.Profile
}

// utcDelivery is a delivery as the store reads it (with its notification;
// last_error and sent_at only where a query selects them), its times in UTC.
func utcDelivery(d opsflow.Delivery) opsflow.Delivery {
	d.SentAt, d.CreatedAt, d.At = utcPtr(d.SentAt), d.CreatedAt.UTC(), d.At.UTC()
	return d
}

type jobRow struct {
	opsflow.Delivery
	Level        int            `db:"level"`
	Reason       string         `db:"reason"`
	ProcessKind  sql.NullString `db:"process_kind"`
	ProcessTitle sql.NullString `db:"process_title"`
	TaskTitle    sql.NullString `db:"task_title"`
	TaskDue      *time.Time     `db:"task_due"`
	TaskState    sql.NullString `db:"task_state"`
	TaskAssignee sql.NullString `db:"task_assignee"`
	TaskLevel    sql.NullInt64  `db:"task_level"`
	UserName     string         `db:"user_name"`
	UserRoles    pq.StringArray `db:"user_roles"`
	UserEmail    string         `db:"user_email"`
	UserTZ       string         `db:"user_tz"`
	UserPrefs    []byte         `db:"user_prefs"`
}

const jobSelect = `d.id, d.notification_id, d.user_id, d.channel, d.state, d.attempts, d.created_at,
	n.kind, n.subject, n.process_id, n.task_id, n.at, n.level, n.reason,
	p.kind AS process_kind, p.title AS process_title,
	t.title AS task_title, t.due_at AS task_due, t.state AS task_state,
	CASE WHEN t.assignee <> '' THEN t.assignee ELSE t.role END AS task_assignee, t.escalation_level AS task_level,
	coalesce(u.name, '') AS user_name, coalesce(u.roles, '{}') AS user_roles, coalesce(u.email, d.user_id) AS user_email,
	coalesce(u.timezone, 'UTC') AS user_tz, coalesce(u.prefs, '{}') AS user_prefs
	FROM notification_deliveries d
	JOIN notifications n ON n.id = d.notification_id
	LEFT JOIN users u ON u.id = d.user_id -- a distribution list's address is no user
	LEFT JOIN processes p ON p.id = n.process_id
	LEFT JOIN tasks t ON t.process_id = n.process_id AND t.task_id = n.task_id`

func (r jobRow) job() (DeliveryJob, error) {
	prof, err := profileRow{ID: r.UserID, Name: r.UserName, Roles: r.UserRoles, Email: r.UserEmail, Timezone: r.UserTZ, Prefs: r.UserPrefs}.profile()
	j := DeliveryJob{
		Delivery: utcDelivery(r.Delivery),
		Level:    r.Level, Reason: r.Reason, ProcessKind: opsflow.Kind(r.ProcessKind.String), ProcessTitle: r.ProcessTitle.String,
		TaskTitle: r.TaskTitle.String, TaskDue: utcPtr(r.TaskDue), TaskState: opsflow.TaskState(r.TaskState.String),
		TaskAssignee: r.TaskAssignee.String, TaskLevel: int(r.TaskLevel.Int64), Profile: prof,
	}
	return j, err
}

// ClaimDeliveries claims up to limit pending deliveries that are due: they
// are this dispatcher's until lease ends (another picks them up if it
// dies), and their attempt is counted.
func (db *DB) ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]DeliveryJob, error) {
	var rows []jobRow
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		var ids []string
		if err := tx.SelectContext(ctx, &ids, `
			SELECT id FROM notification_deliveries
			WHERE state = 'pending' AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until < $1)
			ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED`, now, limit); err != nil {
			return wrap("claim deliveries", err)
		}
		if len(ids) == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE notification_deliveries SET claimed_until = $2, attempts = attempts + 1, updated_at = now()
			WHERE id = ANY($1)`, pq.Array(ids), now.Add(lease)); err != nil {
			return wrap("claim deliveries", err)
		}
		return wrap("read deliveries", tx.SelectContext(ctx, &rows, `SELECT `+jobSelect+` WHERE d.id = ANY($1) ORDER BY d.id`, pq.Array(ids)))
	})
	if err != nil {
		return nil, err
	}
	return each(rows, jobRow.job)
}

// DeliveryOutcome is what became of one attempt.
type DeliveryOutcome struct {
	State     string    // sent, failed, skipped, or pending (try again at Next)
	Error     string    // the last error, for failed and pending
	Next      time.Time // pending: when to try again
	DeliverAt time.Time // sent: when
}

// FinishDelivery records an attempt's outcome and releases the claim.
func (db *DB) FinishDelivery(ctx context.Context, id string, o DeliveryOutcome) error {
	var sentAt *time.Time
	if o.State == opsflow.DeliverySent {
		sentAt = &o.DeliverAt
	}
	next := o.Next
	if next.IsZero() {
		next = time.Now()
	}
	_, err := db.db.ExecContext(ctx, `
		UPDATE notification_deliveries SET state = $2, last_error = $3, next_attempt_at = $4, sent_at = coalesce($5, sent_at),
			claimed_until = NULL, updated_at = now()
		WHERE id = $1`, id, o.State, storable(o.Error, 1000), next, sentAt)
	return wrap("finish delivery", err)
}

// ClaimDigests claims up to limit users whose digest time has come and
// who have items waiting for it: their digest time moves lease ahead, so
// another dispatcher leaves them alone, and comes round again if this one
// dies before FinishDigest. A user with nothing waiting is scheduled to
// their next digest hour.
func (db *DB) ClaimDigests(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]string, error) {
	ids := []string{}
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.SelectContext(ctx, &ids, `
			SELECT u.id FROM users u WHERE u.next_digest_at <= $1
			AND EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.user_id = u.id AND d.state = 'digest')
			ORDER BY u.next_digest_at, u.id LIMIT $2 FOR UPDATE SKIP LOCKED`, now, limit); err != nil {
			return wrap("digests due", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET next_digest_at = $2 WHERE id = ANY($1)`, pq.Array(ids), now.Add(lease)); err != nil {
			return wrap("claim digests", err)
		}
		// Nothing waiting (every item was retried or the mode changed):
		// no digest until something is held for one again.
		_, err := tx.ExecContext(ctx, `UPDATE users u SET next_digest_at = NULL WHERE u.next_digest_at <= $1
			AND NOT EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.user_id = u.id AND d.state = 'digest')`, now)
		return wrap("clear digests", err)
	})
	return ids, err
}

// FailDigest records a digest that did not go out: the items' attempts and
// error, and when to try again. After the budget the items are failed,
// where an administrator sees them and retries each.
func (db *DB) FailDigest(ctx context.Context, user string, items []string, msg string, retry time.Time, budget int) error {
	return db.InTx(ctx, func(tx *sqlx.Tx) error {
		var attempts int
		if err := tx.GetContext(ctx, &attempts, `
			WITH u AS (UPDATE notification_deliveries SET attempts = attempts + 1, last_error = $2, updated_at = now()
				WHERE id = ANY($1) AND state = 'digest' RETURNING attempts)
			SELECT coalesce(max(attempts), 0) FROM u`, pq.Array(items), storable(msg, 1000)); err != nil {
			return wrap("count digest attempt", err)
		}
		if attempts >= budget {
			if _, err := tx.ExecContext(ctx, `UPDATE notification_deliveries SET state = 'failed' WHERE id = ANY($1) AND state = 'digest'`, pq.Array(items)); err != nil {
				return wrap("fail digest", err)
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE users SET next_digest_at = $2 WHERE id = $1`, user, retry)
		return wrap("schedule digest", err)
	})
}

// DigestItems returns the items waiting for user's digest on channel.
func (db *DB) DigestItems(ctx context.Context, user, channel string) ([]DeliveryJob, error) {
	var rows []jobRow
	if err := db.db.SelectContext(ctx, &rows, `SELECT `+jobSelect+` WHERE d.user_id = $1 AND d.channel = $2 AND d.state = 'digest' ORDER BY n.at, d.id`, user, channel); err != nil {
		return nil, wrap("digest items", err)
	}
	return each(rows, jobRow.job)
}

// FinishDigest marks the items of a digest that went out (or were left
// out: skipped) and schedules the user's next digest.
func (db *DB) FinishDigest(ctx context.Context, user string, sent, skipped []string, at, next time.Time) error {
	return db.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE notification_deliveries SET state = 'digested', sent_at = $2, updated_at = now() WHERE id = ANY($1) AND state = 'digest'`,
			pq.Array(sent), at); err != nil {
			return wrap("mark digested", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE notification_deliveries SET state = 'skipped', last_error = 'done before the digest went out', updated_at = now() WHERE id = ANY($1) AND state = 'digest'`,
			pq.Array(skipped)); err != nil {
			return wrap("mark skipped", err)
		}
		_, err := tx.ExecContext(ctx, `UPDATE users SET next_digest_at = $2 WHERE id = $1`, user, next)
		return wrap("schedule digest", err)
	})
}

// DeliveryFilter selects deliveries for a list.
type DeliveryFilter struct {
	UserID string // "" for everyone's (administrators)
	State  string
	Limit  int
	Cursor string
}

type deliveryCursor struct {
	CreatedAt time.Time `json:"t"`
	ID        string    `json:"i"`
}

// Deliveries lists deliveries, newest first.
func (db *DB) Deliveries(ctx context.Context, f DeliveryFilter) (opsflow.Page[opsflow.Delivery], error) {
	page := opsflow.Page[opsflow.Delivery]{Items: []opsflow.Delivery{}}
	var w where
	if f.UserID != "" {
		w.add("d.user_id = " + w.arg(f.UserID))
	}
	if f.State != "" {
		w.add("d.state = " + w.arg(f.State))
	}
	if f.Cursor != "" {
		var c deliveryCursor
		if err := decodeCursor(f.Cursor, &c); err != nil {
			return page, err
		}
		w.add("(d.created_at, d.id) < (" + w.arg(c.CreatedAt) + ", " + w.arg(c.ID) + ")")
	}
	limit := pageSize(f.Limit)
	var rows []opsflow.Delivery
	q := `SELECT d.id, d.notification_id, d.user_id, d.channel, d.state, d.attempts, d.last_error, d.sent_at, d.created_at,
		n.kind, n.subject, n.process_id, n.task_id, n.at
		FROM notification_deliveries d JOIN notifications n ON n.id = d.notification_id ` + w.sql() +
		` ORDER BY d.created_at DESC, d.id DESC LIMIT ` + w.arg(limit+1)
	if err := db.db.SelectContext(ctx, &rows, q, w.args...); err != nil {
		return page, wrap("list deliveries", err)
	}
	for i, r := range rows {
		if i == limit {
			last := page.Items[limit-1]
			page.NextCursor = encodeCursor(deliveryCursor{CreatedAt: last.CreatedAt, ID: last.ID})
			break
		}
		page.Items = append(page.Items, utcDelivery(r))
	}
	return page, nil
}

// RetryDelivery puts a failed delivery back in the queue with a fresh
// attempt budget.
func (db *DB) RetryDelivery(ctx context.Context, id string) (opsflow.Delivery, error) {
	res, err := db.db.ExecContext(ctx, `UPDATE notification_deliveries SET state = 'pending', attempts = 0, next_attempt_at = now(),
		claimed_until = NULL, updated_at = now() WHERE id = $1 AND state = 'failed'`, id)
	if err != nil {
		return opsflow.Delivery{}, wrap("retry delivery", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var state string
		err := db.db.GetContext(ctx, &state, `SELECT state FROM notification_deliveries WHERE id = $1`, id)
		if errors.Is(err, sql.ErrNoRows) {
			return opsflow.Delivery{}, &opsflow.Error{Code: opsflow.ENOTFOUND, Message: "no delivery " + id}
		}
		if err != nil {
			return opsflow.Delivery{}, wrap("read delivery", err)
		}
		return opsflow.Delivery{}, opsflow.Conflict(state, "delivery %s is %s; only a failed one is retried", id, state)
	}
	return db.delivery(ctx, id)
}

func (db *DB) delivery(ctx context.Context, id string) (opsflow.Delivery, error) {
	var r jobRow
	if err := db.db.GetContext(ctx, &r, `SELECT `+jobSelect+` WHERE d.id = $1`, id); err != nil {
		return opsflow.Delivery{}, wrap("read delivery", err)
	}
	j, err := r.job()
	return j.Delivery, err
}

// accountRow is a user with their signing credential's state and
// sign-on identity.
type accountRow struct {
	profileRow
	Issuer      sql.NullString `db:"sso_issuer"`
	Subject     sql.NullString `db:"sso_subject"`
	SetAt       *time.Time     `db:"set_at"`
	LockedUntil *time.Time     `db:"locked_until"`
}

// accountSelect reads accounts; a lock that has run out is no lock.
const accountSelect = `SELECT u.id, u.name, u.roles, u.email, u.timezone, u.prefs, u.sso_issuer, u.sso_subject, s.set_at,
	CASE WHEN s.locked_until > now() THEN s.locked_until END AS locked_until
	FROM users u LEFT JOIN signing_credentials s ON s.user_id = u.id`

func (r accountRow) account() (opsflow.Account, error) {
	p, err := r.profile()
	a := opsflow.Account{Profile: p, SigningPasswordSet: r.SetAt != nil, SigningPasswordSetAt: utcPtr(r.SetAt),
		SigningLocked: r.LockedUntil != nil, SigningLockedUntil: utcPtr(r.LockedUntil)}
	if r.Subject.String != "" {
		a.SSO = &opsflow.SSOLink{Issuer: r.Issuer.String, Subject: r.Subject.String}
	}
	return a, err
}

// Account returns a user's profile, signing state and sign-on identity.
func (db *DB) Account(ctx context.Context, id string) (opsflow.Account, error) {
	var r accountRow
	err := db.db.GetContext(ctx, &r, accountSelect+` WHERE u.id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return opsflow.Account{}, &opsflow.Error{Code: opsflow.ENOTFOUND, Message: "no user " + id}
	}
	if err != nil {
		return opsflow.Account{}, wrap("read account", err)
	}
	return r.account()
}

// AccountFilter selects users for the administrators' list: holding
// Role ("" any), and Query found (case-insensitively) in their ID, name
// or e-mail address ("" any); a page at a time, by ID.
type AccountFilter struct {
	Role   opsflow.Role
	Query  string
	Limit  int
	Cursor string
}

type accountCursor struct {
	ID string `json:"i"`
}

// likeEscaper makes text match itself in a LIKE pattern.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// Accounts lists users by f, ordered by ID.
func (db *DB) Accounts(ctx context.Context, f AccountFilter) (opsflow.Page[opsflow.Account], error) {
	page := opsflow.Page[opsflow.Account]{Items: []opsflow.Account{}}
	var w where
	if f.Role != "" {
		w.add(w.arg(string(f.Role)) + " = ANY(u.roles)")
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		p := w.arg("%" + likeEscaper.Replace(q) + "%")
		w.add("(u.id ILIKE " + p + " OR u.name ILIKE " + p + " OR u.email ILIKE " + p + ")")
	}
	if f.Cursor != "" {
		var c accountCursor
		if err := decodeCursor(f.Cursor, &c); err != nil {
			return page, err
		}
		w.add("u.id > " + w.arg(c.ID))
	}
	limit := pageSize(f.Limit)
	var rows []accountRow
	if err := db.db.SelectContext(ctx, &rows, accountSelect+" "+w.sql()+" ORDER BY u.id LIMIT "+w.arg(limit+1), w.args...); err != nil {
		return page, wrap("list users", err)
	}
	if len(rows) > limit {
		rows = rows[:limit]
		page.NextCursor = encodeCursor(accountCursor{ID: rows[limit-1].ID})
	}
	items, err := each(rows, accountRow.account)
	if err != nil {
		return page, err
	}
	page.Items = items
	return page, nil
}
