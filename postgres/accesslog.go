package postgres

import (
	"context"
	"strconv"

	"github.com/lib/pq"

	"github.com/opsflow/opsflow"
)

// LogAccess appends entries to the access log in one statement.
func (db *DB) LogAccess(ctx context.Context, entries []opsflow.AccessEntry) error {
	if len(entries) == 0 {
		return nil
	}
	n := len(entries)
	at, users, actions, records, kinds, reqs := make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n),
		make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n)
	for i, e := range entries {
		at[i] = e.At.UTC().Format("2006-01-02T15:04:05.999999Z07:00")
		users[i], actions[i], records[i], kinds[i], reqs[i] = e.UserID, e.Action, e.RecordID, string(e.Kind), e.RequestID
	}
	_, err := db.db.ExecContext(ctx, `
		INSERT INTO access_log (at, user_id, action, record_id, kind, request_id)
		SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])`,
		at, users, actions, records, kinds, reqs)
	return wrap("write access log", err)
}

// AccessLog lists access log entries matching f, newest first.
func (db *DB) AccessLog(ctx context.Context, f opsflow.AccessFilter) (opsflow.Page[opsflow.AccessEntry], error) {
	page := opsflow.Page[opsflow.AccessEntry]{Items: []opsflow.AccessEntry{}}
	var w where
	if f.RecordID != "" {
		w.add("record_id = " + w.arg(f.RecordID))
	}
	if f.UserID != "" {
		w.add("user_id = " + w.arg(f.UserID))
	}
	if f.Cursor != "" {
		id, err := strconv.ParseInt(f.Cursor, 10, 64)
		if err != nil {
			return page, opsflow.Invalid("cursor", "invalid cursor; pass next_cursor from the previous page unchanged")
		}
		w.add("id < " + w.arg(id))
	}
	limit := pageSize(f.Limit)
	var rows []opsflow.AccessEntry
	if err := db.db.SelectContext(ctx, &rows, `SELECT id, at, user_id, action, record_id, kind, request_id FROM access_log `+
		w.sql()+` ORDER BY id DESC LIMIT `+w.arg(limit+1), w.args...); err != nil {
		return page, wrap("read access log", err)
	}
	for i, r := range rows {
		if i == limit {
			page.NextCursor = strconv.FormatInt(rows[limit-1].ID, 10)
			break
		}
		r.At = r.At.UTC()
		page.Items = append(page.Items, r)
	}
	return page, nil
}
