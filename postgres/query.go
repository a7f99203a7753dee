package postgres

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/opsflow/opsflow"
)

// where collects the conditions and arguments of a list query, numbering
// placeholders as it goes so that optional filters compose.
type where struct {
	conds []string
	args  []any
}

// arg adds a query argument and returns its placeholder.
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return fmt.Sprintf("$%d", len(w.args))
}

func (w *where) add(cond string) { w.conds = append(w.conds, cond) }

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return "WHERE " + strings.Join(w.conds, " AND ")
}

// pageSize applies the list limits: a default for zero, a ceiling so one
// request cannot read the whole table.
func pageSize(limit int) int {
	if limit <= 0 {
		return opsflow.DefaultPageSize
	}
	return min(limit, opsflow.MaxPageSize)
}

// Cursors are the sort key of the last row of a page, as base64 JSON: opaque
// to clients, and stable across inserts, unlike an offset.
func encodeCursor(v any) string {
	b, err := json.Marshal(v)
	if err != nil { // plain structs of strings and times: cannot fail
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		return opsflow.Invalid("cursor", "invalid cursor; pass next_cursor from the previous page unchanged")
	}
	return nil
}

// each converts the rows a query read into the domain's values, stopping
// at the first that does not convert.
func each[R, T any](rows []R, convert func(R) (T, error)) ([]T, error) {
	out := make([]T, 0, len(rows))
	for _, r := range rows {
		v, err := convert(r)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
