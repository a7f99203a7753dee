package server

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
)

// CSV upload of measurements: POST /v1/kpis/{key}/measurements with
// Content-Type text/csv. The first line names the columns (id, at, value,
// and optionally source, in any order); every other line is a
// measurement. The file is taken whole or not at all: every line is
// checked first, and a file with any bad line stores nothing and the
// answer lists each bad line with its field. Each row is idempotent by
// its id, so uploading the same file again adds nothing.

// lineError is one bad line of a CSV upload.
type lineError struct {
	Line    int    `json:"line"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// csvErrorBody is the 422 of a measurements upload: the usual error, and
// for a CSV file every line that was refused.
type csvErrorBody struct {
	Error opsflow.Error `json:"error"`
	Lines []lineError   `json:"lines,omitempty"`
}

// maxLineErrors bounds the lines an answer lists: a file in the wrong
// format fails on every line, and the first hundred say why.
const maxLineErrors = 100

func isCSV(c echo.Context) bool {
	mt, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	return err == nil && mt == "text/csv"
}

var csvColumns = []string{"id", "at", "value", "source"}

// parseCSVTime reads an RFC 3339 time or a date (midnight UTC).
func parseCSVTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2026-11-21T09:00:00Z) or a date (2026-11-21)", s)
}

// readMeasurementsCSV parses a CSV upload into measurements, or the bad
// lines.
func readMeasurementsCSV(body []byte, key, user string, now time.Time) ([]opsflow.Measurement, []lineError) {
	var bad []lineError
	add := func(line int, field, format string, args ...any) {
		if len(bad) < maxLineErrors {
			bad = append(bad, lineError{Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
		}
	}
	body = bytes.TrimPrefix(body, []byte("\uFEFF")) // a spreadsheet's byte-order mark
	if !utf8.Valid(body) || bytes.IndexByte(body, 0) >= 0 {
		add(1, "", "the file must be UTF-8 text without NUL characters")
		return nil, bad
	}
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		add(1, "", "the file is empty: the first line names the columns id, at, value (and source)")
		return nil, bad
	}
	if err != nil {
		add(1, "", "%v", err)
		return nil, bad
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if !slices.Contains(csvColumns, h) {
			add(1, h, "unknown column %q: the columns are id, at, value and source", h)
			continue
		}
		if _, dup := col[h]; dup {
			add(1, h, "column %q appears twice", h)
		}
		col[h] = i
	}
	for _, need := range []string{"id", "at", "value"} {
		if _, ok := col[need]; !ok {
			add(1, need, "the header names no %q column", need)
		}
	}
	if len(bad) > 0 {
		return nil, bad
	}
	var out []opsflow.Measurement
	seen := map[string]int{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			add(line, "", "%v", err)
			if len(bad) >= maxLineErrors {
				break
			}
			continue
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a blank line
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		m := opsflow.Measurement{ID: get("id"), KPI: key, Source: get("source"), RecordedBy: user}
		ok := true
		if m.ID == "" {
			add(line, "id", "id is required: it makes a re-upload add nothing")
			ok = false
		} else if first, dup := seen[m.ID]; dup {
			add(line, "id", "id %q is also on line %d", m.ID, first)
			ok = false
		}
		seen[m.ID] = line
		if m.At, err = parseCSVTime(get("at")); err != nil {
			add(line, "at", "%v", err)
			ok = false
		}
		if v, err := strconv.ParseFloat(get("value"), 64); err != nil {
			add(line, "value", "%q is not a number (use a dot for decimals)", get("value"))
			ok = false
		} else {
			m.Value = v
		}
		if ok {
			if err := m.Validate("", now); err != nil {
				var oe *opsflow.Error
				if errors.As(err, &oe) {
					add(line, oe.Field, "%s", oe.Message)
				}
				continue
			}
			out = append(out, m)
		}
		if len(bad) >= maxLineErrors {
			break
		}
	}
	if len(bad) == 0 && len(out) == 0 {
		add(2, "", "the file has a header but no measurements")
	}
	if len(out) > maxMeasurementBatch && len(bad) == 0 {
		add(maxMeasurementBatch+2, "", "at most %d measurements per file: split it", maxMeasurementBatch)
	}
	return out, bad
}

// addMeasurementsCSV stores a CSV file of measurements, all or nothing.
func (s *Server) addMeasurementsCSV(c echo.Context, key string) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	ms, bad := readMeasurementsCSV(body, key, userOf(c).ID, s.Now())
	if len(bad) > 0 {
		first := bad[0]
		return c.JSON(http.StatusUnprocessableEntity, csvErrorBody{
			Error: opsflow.Error{Code: opsflow.EINVALID, Field: fmt.Sprintf("line %d", first.Line),
				Message: fmt.Sprintf("%d line(s) of the file are refused (line %d: %s); nothing was stored", len(bad), first.Line, first.Message)},
			Lines: bad})
	}
	stored, added, err := s.Store.AddMeasurements(c.Request().Context(), key, ms)
	if err != nil {
		var oe *opsflow.Error
		if errors.As(err, &oe) && strings.HasPrefix(oe.Field, "items[") {
			// The store names the item; the uploader knows lines.
			if i, perr := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(oe.Field, ".id"), "items["), "]")); perr == nil && i < len(ms) {
				return &opsflow.Error{Code: oe.Code, Field: "id", Message: fmt.Sprintf("id %q: %s", ms[i].ID, oe.Message)}
			}
		}
		return err
	}
	if err := s.tellWatch(c, key, "measurements", added); err != nil {
		return err
	}
	status := http.StatusCreated
	if added == 0 {
		status = http.StatusOK
	}
	return c.JSON(status, measurementsAnswer{Items: stored, Added: added})
}
