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

const kpiColumns = `key, name, description, unit, direction, owner_id, created_by, created_at`

// CreateKPI adds a KPI to the registry. Creating the same definition again
// (a retried request) returns the stored one with created false; a
// different definition under an existing key is a conflict.
func (db *DB) CreateKPI(ctx context.Context, k opsflow.KPI) (opsflow.KPI, bool, error) {
	var out opsflow.KPI
	err := db.db.GetContext(ctx, &out, `
		INSERT INTO kpis (key, name, description, unit, direction, owner_id, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (key) DO NOTHING
		RETURNING `+kpiColumns,
		k.Key, k.Name, k.Description, k.Unit, k.Direction, k.OwnerID, k.CreatedBy)
	if err == nil {
		out.CreatedAt = out.CreatedAt.UTC()
		return out, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return out, false, wrap("create kpi", err)
	}
	stored, err := db.GetKPI(ctx, k.Key)
	if err != nil {
		return out, false, err
	}
	if stored.Name != k.Name || stored.Description != k.Description || stored.Unit != k.Unit ||
		stored.Direction != k.Direction || stored.OwnerID != k.OwnerID {
		return stored, false, &opsflow.Error{Code: opsflow.ECONFLICT, Field: "key", Message: fmt.Sprintf("kpi %q already exists with a different definition", k.Key)}
	}
	return stored, false, nil
}

// GetKPI returns one KPI.
func (db *DB) GetKPI(ctx context.Context, key string) (opsflow.KPI, error) {
	var k opsflow.KPI
	err := db.db.GetContext(ctx, &k, `SELECT `+kpiColumns+` FROM kpis WHERE key = $1`, key)
	if errors.Is(err, sql.ErrNoRows) {
		return k, &opsflow.Error{Code: opsflow.ENOTFOUND, Message: fmt.Sprintf("no kpi %q", key)}
	}
	if err != nil {
		return k, wrap("get kpi", err)
	}
	k.CreatedAt = k.CreatedAt.UTC()
	return k, nil
}

// ListKPIs returns one page of KPIs in key order.
func (db *DB) ListKPIs(ctx context.Context, limit int, cursor string) (opsflow.Page[opsflow.KPI], error) {
	page := opsflow.Page[opsflow.KPI]{Items: []opsflow.KPI{}}
	var w where
	if cursor != "" {
		var after string
		if err := decodeCursor(cursor, &after); err != nil {
			return page, err
		}
		w.add("key > " + w.arg(after))
	}
	n := pageSize(limit)
	var rows []opsflow.KPI
	if err := db.db.SelectContext(ctx, &rows, `SELECT `+kpiColumns+` FROM kpis `+w.sql()+` ORDER BY key LIMIT `+w.arg(n+1), w.args...); err != nil {
		return page, wrap("list kpis", err)
	}
	for i, k := range rows {
		if i == n {
			page.NextCursor = encodeCursor(page.Items[n-1].Key)
			break
		}
		k.CreatedAt = k.CreatedAt.UTC()
		page.Items = append(page.Items, k)
	}
	return page, nil
}

const measurementColumns = `kpi_key, id, value, at, source, recorded_by, recorded_at`

// AddMeasurements stores measurements of one KPI in one transaction and
// returns them as stored, with how many were new. Every measurement needs
// an ID: one already stored with the same content is a retry and adds
// nothing; the same ID with a different value, time or source is a
// conflict, and nothing of the batch is written.
func (db *DB) AddMeasurements(ctx context.Context, key string, ms []opsflow.Measurement) ([]opsflow.Measurement, int, error) {
	out := make([]opsflow.Measurement, 0, len(ms))
	added := 0
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		var one int
		if err := tx.GetContext(ctx, &one, `SELECT 1 FROM kpis WHERE key = $1 FOR SHARE`, key); errors.Is(err, sql.ErrNoRows) {
			return &opsflow.Error{Code: opsflow.ENOTFOUND, Message: fmt.Sprintf("no kpi %q", key)}
		} else if err != nil {
			return wrap("add measurements", err)
		}
		for i, m := range ms {
			if m.ID == "" {
				return opsflow.Invalid(fmt.Sprintf("items[%d].id", i), "a measurement needs an ID")
			}
			// PostgreSQL keeps microseconds: compare a retry at that precision.
			m.At = m.At.UTC().Truncate(time.Microsecond)
			var got opsflow.Measurement
			err := tx.GetContext(ctx, &got, `
				INSERT INTO kpi_measurements (kpi_key, id, value, at, source, recorded_by)
				VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (kpi_key, id) DO NOTHING
				RETURNING `+measurementColumns,
				key, m.ID, m.Value, m.At, m.Source, m.RecordedBy)
			switch {
			case err == nil:
				added++
			case errors.Is(err, sql.ErrNoRows):
				if err := tx.GetContext(ctx, &got, `SELECT `+measurementColumns+` FROM kpi_measurements WHERE kpi_key = $1 AND id = $2`, key, m.ID); err != nil {
					return wrap("read measurement", err)
				}
				if got.Value != m.Value || !got.At.Equal(m.At) || got.Source != m.Source {
					return &opsflow.Error{Code: opsflow.ECONFLICT, Field: fmt.Sprintf("items[%d].id", i),
						Message: fmt.Sprintf("measurement %q of kpi %s already exists with different content", m.ID, key)}
				}
			default:
				return wrap("add measurement", err)
			}
			out = append(out, utcMeasurement(got))
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, added, nil
}

func utcMeasurement(m opsflow.Measurement) opsflow.Measurement {
	m.At, m.RecordedAt = m.At.UTC(), m.RecordedAt.UTC()
	return m
}

type measurementCursor struct {
	At time.Time `json:"t"`
	ID string    `json:"i"`
}

// Measurements returns one page of a KPI's measurements in [from, to), in
// time order. A KPI that does not exist is not found.
func (db *DB) Measurements(ctx context.Context, key string, from, to *time.Time, limit int, cursor string) (opsflow.Page[opsflow.Measurement], error) {
	page := opsflow.Page[opsflow.Measurement]{Items: []opsflow.Measurement{}}
	if _, err := db.GetKPI(ctx, key); err != nil {
		return page, err
	}
	var w where
	w.add("kpi_key = " + w.arg(key))
	if from != nil {
		w.add("at >= " + w.arg(*from))
	}
	if to != nil {
		w.add("at < " + w.arg(*to))
	}
	if cursor != "" {
		var c measurementCursor
		if err := decodeCursor(cursor, &c); err != nil {
			return page, err
		}
		w.add("(at, id) > (" + w.arg(c.At) + ", " + w.arg(c.ID) + ")")
	}
	n := pageSize(limit)
	var rows []opsflow.Measurement
	q := `SELECT ` + measurementColumns + ` FROM kpi_measurements ` + w.sql() + ` ORDER BY at, id LIMIT ` + w.arg(n+1)
	if err := db.db.SelectContext(ctx, &rows, q, w.args...); err != nil {
		return page, wrap("list measurements", err)
	}
	for i, m := range rows {
		if i == n {
			last := page.Items[n-1]
			page.NextCursor = encodeCursor(measurementCursor{At: last.At, ID: last.ID})
			break
		}
		page.Items = append(page.Items, utcMeasurement(m))
	}
	return page, nil
}

// KPIStats summarises a KPI's measurements in [from, to). A KPI that does
// not exist is not found; a window without measurements has Count 0.
func (db *DB) KPIStats(ctx context.Context, key string, from, to time.Time) (opsflow.KPIStats, error) {
	s := opsflow.KPIStats{KPI: key, From: from.UTC(), To: to.UTC()}
	if _, err := db.GetKPI(ctx, key); err != nil {
		return s, err
	}
	var row struct {
		Count int             `db:"n"`
		Mean  sql.NullFloat64 `db:"mean"`
		Min   sql.NullFloat64 `db:"lo"`
		Max   sql.NullFloat64 `db:"hi"`
	}
	err := db.db.GetContext(ctx, &row, `
		SELECT count(*) AS n, avg(value) AS mean, min(value) AS lo, max(value) AS hi
		FROM kpi_measurements WHERE kpi_key = $1 AND at >= $2 AND at < $3`, key, from, to)
	if err != nil {
		return s, wrap("kpi stats", err)
	}
	s.Count, s.Mean, s.Min, s.Max = row.Count, row.Mean.Float64, row.Min.Float64, row.Max.Float64
	return s, nil
}
