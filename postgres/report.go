package postgres

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/opsflow/opsflow"
)

// StoredReport is a rendered report as stored: immutable once written.
type StoredReport struct {
	opsflow.Report
	HTML []byte `json:"-"`
	PDF  []byte `json:"-"`
}

type reportRow struct {
	ID           string         `db:"id"`
	Period       string         `db:"period"`
	TimeZone     string         `db:"time_zone"`
	ScheduledAt  *time.Time     `db:"scheduled_at"`
	GeneratedAt  time.Time      `db:"generated_at"`
	GeneratedBy  string         `db:"generated_by"`
	HTMLSHA256   string         `db:"html_sha256"`
	PDFSHA256    string         `db:"pdf_sha256"`
	HTMLBytes    int            `db:"html_bytes"`
	PDFBytes     int            `db:"pdf_bytes"`
	Summary      []byte         `db:"summary"`
	Distribution pq.StringArray `db:"distribution"`
	HTML         []byte         `db:"html"`
	PDF          []byte         `db:"pdf"`
}

const reportColumns = `id, period, time_zone, scheduled_at, generated_at, generated_by, html_sha256, pdf_sha256,
	length(html) AS html_bytes, length(pdf) AS pdf_bytes, summary, distribution`

func (r reportRow) report() (StoredReport, error) {
	out := StoredReport{Report: opsflow.Report{ID: r.ID, Period: r.Period, TimeZone: r.TimeZone, ScheduledAt: utcPtr(r.ScheduledAt),
		GeneratedAt: r.GeneratedAt.UTC(), GeneratedBy: r.GeneratedBy, HTMLSHA256: r.HTMLSHA256, PDFSHA256: r.PDFSHA256,
		HTMLBytes: r.HTMLBytes, PDFBytes: r.PDFBytes, Distribution: []string(r.Distribution),
		HTMLURL: "/v1/reports/" + r.ID + ".html", PDFURL: "/v1/reports/" + r.ID + ".pdf"}, HTML: r.HTML, PDF: r.PDF}
	if out.Distribution == nil {
		out.Distribution = []string{}
	}
	if err := json.Unmarshal(r.Summary, &out.Content); err != nil {
		return out, wrap("decode report", err)
	}
	return out, nil
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// SaveReport stores a month's report once: the first report for a period
// wins, and saving another for it returns the stored one (created false),
// so a schedule's retry or a second run for the month never makes a
// second report. A new report gets its SHA-256 sums, an audit event
// ("report.generated") and, for each address of its distribution, an
// outbox row — the hook the notifications dispatcher delivers it by.
func (db *DB) SaveReport(ctx context.Context, r StoredReport) (StoredReport, bool, error) {
	var out StoredReport
	created := false
	summary, err := json.Marshal(r.Content)
	if err != nil {
		return out, false, wrap("encode report", err)
	}
	err = db.InTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `
			INSERT INTO reports (id, period, time_zone, scheduled_at, generated_at, generated_by, html, pdf, html_sha256, pdf_sha256, summary, distribution)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			ON CONFLICT DO NOTHING`,
			r.ID, r.Period, r.TimeZone, r.ScheduledAt, r.GeneratedAt.UTC(), r.GeneratedBy, r.HTML, r.PDF, sha(r.HTML), sha(r.PDF),
			string(summary), pq.StringArray(r.Distribution))
		if err != nil {
			return wrap("save report", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		created = true
		stream := opsflow.ReportStream(r.ID)
		by := opsflow.SystemActor
		if r.GeneratedBy != by.ID {
			by = opsflow.Actor{ID: r.GeneratedBy, Name: r.GeneratedBy}
		}
		if err := appendStream(ctx, tx, stream, by, "", r.GeneratedAt, []auditChange{{Action: "report.generated", Field: "pdf_sha256",
			New: sha(r.PDF), Reason: fmt.Sprintf("monthly report for %s (%s); html sha256 %s, %d KPIs", r.Period, r.TimeZone, sha(r.HTML), len(r.Content.KPIs))}}); err != nil {
			return err
		}
		return EnqueueReportDelivery(ctx, tx, r.ID, r.Period, r.Distribution, r.GeneratedAt)
	})
	if err != nil {
		return out, false, err
	}
	out, err = db.ReportByPeriod(ctx, r.Period)
	return out, created, err
}

// EnqueueReportDelivery is the hook by which a report reaches its
// distribution list: one outbox row of kind opsflow.NotifyReport per
// address, process "report/<id>", subject naming the month. The
// notifications dispatcher delivers outbox rows; for this kind it mails the
// address the report's PDF attached. This package only queues them,
// idempotently by ID.
func EnqueueReportDelivery(ctx context.Context, tx *sqlx.Tx, id, period string, to []string, at time.Time) error {
	ns := make([]opsflow.Notification, 0, len(to))
	for _, addr := range to {
		ns = append(ns, opsflow.Notification{ID: opsflow.ReportStream(id) + ":" + addr, ProcessID: opsflow.ReportStream(id),
			To: addr, Subject: "Monthly KPI report " + period, At: at, Kind: opsflow.NotifyReport})
	}
	return queueNotifications(ctx, tx, ns)
}

// ReportByPeriod returns the report of a month, with its HTML and PDF.
func (db *DB) ReportByPeriod(ctx context.Context, period string) (StoredReport, error) {
	return db.getReport(ctx, `period = $1`, period)
}

// GetReport returns a report by ID, with its HTML and PDF.
func (db *DB) GetReport(ctx context.Context, id string) (StoredReport, error) {
	return db.getReport(ctx, `id = $1`, id)
}

func (db *DB) getReport(ctx context.Context, cond string, arg string) (StoredReport, error) {
	var r reportRow
	err := db.db.GetContext(ctx, &r, `SELECT `+reportColumns+`, html, pdf FROM reports WHERE `+cond, arg)
	if errors.Is(err, sql.ErrNoRows) {
		return StoredReport{}, &opsflow.Error{Code: opsflow.ENOTFOUND, Message: "no such report: " + arg}
	}
	if err != nil {
		return StoredReport{}, wrap("get report", err)
	}
	return r.report()
}

// ListReports returns one page of reports, newest month first.
func (db *DB) ListReports(ctx context.Context, limit int, cursor string) (opsflow.Page[opsflow.Report], error) {
	page := opsflow.Page[opsflow.Report]{Items: []opsflow.Report{}}
	var w where
	if cursor != "" {
		var after string
		if err := decodeCursor(cursor, &after); err != nil {
			return page, err
		}
		w.add("period < " + w.arg(after))
	}
	n := pageSize(limit)
	var rows []reportRow
	if err := db.db.SelectContext(ctx, &rows, `SELECT `+reportColumns+` FROM reports `+w.sql()+` ORDER BY period DESC LIMIT `+w.arg(n+1), w.args...); err != nil {
		return page, wrap("list reports", err)
	}
	for i, row := range rows {
		if i == n {
			page.NextCursor = encodeCursor(page.Items[n-1].Period)
			break
		}
		r, err := row.report()
		if err != nil {
			return page, err
		}
		page.Items = append(page.Items, r.Report)
	}
	return page, nil
}

// ReportSettings returns the report schedule, or found false.
func (db *DB) ReportSettings(ctx context.Context) (opsflow.ReportSettings, bool, error) {
	var row struct {
		Settings  []byte    `db:"settings"`
		UpdatedBy string    `db:"updated_by"`
		UpdatedAt time.Time `db:"updated_at"`
	}
	var s opsflow.ReportSettings
	err := db.db.GetContext(ctx, &row, `SELECT settings, updated_by, updated_at FROM report_settings WHERE id = 1`)
	if errors.Is(err, sql.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, wrap("read report settings", err)
	}
	if err := json.Unmarshal(row.Settings, &s); err != nil {
		return s, false, wrap("decode report settings", err)
	}
	at := row.UpdatedAt.UTC()
	s.UpdatedBy, s.UpdatedAt = row.UpdatedBy, &at
	if s.Distribution == nil {
		s.Distribution = []string{}
	}
	return s, true, nil
}

// SaveReportSettings stores the report schedule and audits the change.
func (db *DB) SaveReportSettings(ctx context.Context, s opsflow.ReportSettings, actor opsflow.Actor) (opsflow.ReportSettings, error) {
	s.UpdatedBy, s.UpdatedAt = "", nil
	b, err := json.Marshal(s)
	if err != nil {
		return s, wrap("encode report settings", err)
	}
	err = db.InTx(ctx, func(tx *sqlx.Tx) error {
		// One writer at a time, the first save included (there is no row
		// to lock yet): the lock also makes this the stream's only writer.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('opsflow.report_settings'))`); err != nil {
			return wrap("lock report settings", err)
		}
		var old []byte
		err := tx.GetContext(ctx, &old, `SELECT settings FROM report_settings WHERE id = 1`)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return wrap("read report settings", err)
		}
		if string(old) != "" {
			if o, n := canonical(old), canonical(b); o == n {
				return nil
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO report_settings (id, settings, updated_by, updated_at) VALUES (1, $1, $2, now())
			ON CONFLICT (id) DO UPDATE SET settings = excluded.settings, updated_by = excluded.updated_by, updated_at = now()`,
			string(b), actor.ID); err != nil {
			return wrap("save report settings", err)
		}
		return appendStream(ctx, tx, opsflow.ReportSettingsStream, actor, opsflow.RoleAdmin, actor.At, []auditChange{{Action: "report.schedule_set",
			Field: "settings", Old: string(old), New: string(b)}})
	})
	if err != nil {
		return s, err
	}
	out, _, err := db.ReportSettings(ctx)
	return out, err
}

func canonical(b []byte) string {
	c, err := opsflow.CanonicalJSON(b)
	if err != nil {
		return string(b)
	}
	return string(c)
}
