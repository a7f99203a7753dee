package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
)

// bind decodes the JSON request body into v strictly: malformed JSON, a
// value of the wrong type and an unknown field are each a 422 that names the
// field, so a typo never silently drops data.
func bind(c echo.Context, v any) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	if err := checkText(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var timeErr *time.ParseError
		if errors.As(err, &timeErr) {
			field := pathOfValue(body, timeErr.Value)
			return opsflow.Invalid(field, "%s: %q is not a time: use RFC 3339, e.g. 2026-11-21T09:00:00Z", field, timeErr.Value)
		}
		var oe *opsflow.Error
		if errors.As(err, &oe) && oe.Field == "" {
			// A custom decoder (a duration) said what was wrong, not where.
			if field := fieldOfDecodeError(err); field != "" {
				oe.Field = field
			}
		}
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return opsflow.Invalid("", "the body must hold a single JSON object")
	}
	return nil
}

func decodeError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	var timeErr *time.ParseError
	switch {
	case errors.Is(err, io.EOF):
		return opsflow.Invalid("", "the request body is empty; send a JSON object")
	case errors.As(err, &syntax):
		return opsflow.Invalid("", "malformed JSON at byte %d: %s", syntax.Offset, syntax.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return opsflow.Invalid("", "malformed JSON: the body ends too early")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return opsflow.Invalid(field, "%s must be a JSON %s, not %s", field, jsonType(typ.Type.Kind().String()), typ.Value)
	case errors.As(err, &tooBig):
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
	case errors.As(err, &timeErr):
		return opsflow.Invalid("", "bad time %q: use RFC 3339, e.g. 2026-11-21T09:00:00Z", timeErr.Value)
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		return opsflow.Invalid(f, "unknown field %q", f)
	}
	var oe *opsflow.Error
	if errors.As(err, &oe) { // from a custom UnmarshalJSON
		return oe
	}
	return opsflow.Invalid("", "cannot read the request body: %s", err.Error())
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	}
	return "number"
}

// queryInt reads an optional integer query parameter within [lo, hi].
func queryInt(c echo.Context, name string, def, lo, hi int) (int, error) {
	s := c.QueryParam(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, opsflow.Invalid(name, "%s must be a whole number from %d to %d", name, lo, hi)
	}
	return n, nil
}

// queryTime reads an optional time query parameter: RFC 3339, or a date
// (YYYY-MM-DD, midnight UTC).
func queryTime(c echo.Context, name string) (*time.Time, error) {
	s := c.QueryParam(name)
	if s == "" {
		return nil, nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			return &t, nil
		}
	}
	return nil, opsflow.Invalid(name, "%s must be a date (2026-11-21) or an RFC 3339 time", name)
}

// queryBool reads an optional boolean query parameter.
func queryBool(c echo.Context, name string) (*bool, error) {
	s := c.QueryParam(name)
	if s == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return nil, opsflow.Invalid(name, "%s must be true or false", name)
	}
	return &b, nil
}

// readBody reads the whole request body (the body limit bounds it) and
// leaves a fresh reader in its place for whoever reads it next.
func readBody(c echo.Context) ([]byte, error) {
	r := c.Request()
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, decodeError(err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// bodyLimit refuses a body over limit bytes with 413. A declared length is
// refused before the body is read (the error handler drains it, so the
// client reads the answer instead of a connection reset); an undeclared
// one is cut at the limit.
func bodyLimit(limit int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.ContentLength > limit {
				return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
			}
			if r.Body != nil {
				r.Body = http.MaxBytesReader(c.Response(), r.Body, limit)
			}
			return next(c)
		}
	}
}

// fieldOfDecodeError is the field encoding/json names in a wrapped error
// from a custom UnmarshalJSON, when it does.
func fieldOfDecodeError(err error) string {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return typ.Field
	}
	return ""
}
