package server

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
)

// Limits on text a client sends, checked in one place for every route.
// PostgreSQL cannot store a NUL character in text, and invalid UTF-8 is
// silently replaced by Go's JSON decoder: both are refused with the field
// they are in, before anything is started or changed.
const (
	// MaxText is the longest string, in bytes, one JSON value may hold: a
	// root-cause analysis or a check-in note is long, a novel is not.
	MaxText = 20000
	// MaxParam is the longest path or query parameter, in bytes.
	MaxParam = 500
)

// checkText walks a JSON body and refuses the first string (key or value)
// that the store could not hold, naming it by its path
// ("containment[0].description"). Malformed JSON is left to the decoder,
// which reports it better.
func checkText(body []byte) error {
	return walkStrings(body, func(field string, raw []byte, v string) error {
		switch {
		case !utf8.Valid(raw):
			return opsflow.Invalid(field, "%s is not valid UTF-8 text", field)
		case strings.ContainsRune(v, 0):
			return opsflow.Invalid(field, "%s contains a NUL character, which cannot be stored", field)
		case len(v) > MaxText:
			return opsflow.Invalid(field, "%s is %d bytes long; at most %d are accepted", field, len(v), MaxText)
		}
		return nil
	})
}

// pathOfValue names the first string value in body equal to v ("" when
// none): the decoder's errors from inside a value (a time that does not
// parse) do not say where the value was.
func pathOfValue(body []byte, v string) string {
	found := ""
	_ = walkStrings(body, func(field string, _ []byte, s string) error {
		if s == v && found == "" {
			found = field
		}
		return nil
	})
	return found
}

// walkStrings calls fn with the path, raw bytes and value of every string
// (keys included) of a JSON body, until fn returns an error.
func walkStrings(body []byte, fn func(field string, raw []byte, v string) error) error {
	type frame struct {
		obj     bool
		key     string
		idx     int
		wantKey bool
	}
	var stack []*frame
	path := func(last string) string {
		var b strings.Builder
		for _, f := range stack {
			if f.obj {
				if f.wantKey {
					continue // the key being read is last
				}
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			} else {
				b.WriteString("[" + strconv.Itoa(f.idx) + "]")
			}
		}
		if last != "" {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(last)
		}
		return b.String()
	}
	valueDone := func() {
		if n := len(stack); n > 0 {
			if f := stack[n-1]; f.obj {
				f.wantKey = true
			} else {
				f.idx++
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil // end of input, or malformed: bind reports that
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, &frame{obj: t == '{', wantKey: t == '{'})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			raw := body[start:dec.InputOffset()]
			isKey := len(stack) > 0 && stack[len(stack)-1].obj && stack[len(stack)-1].wantKey
			field := path("")
			if isKey {
				field = path(t)
			}
			if field == "" {
				field = "body"
			}
			if err := fn(field, raw, t); err != nil {
				return err
			}
			if isKey {
				f := stack[len(stack)-1]
				f.key, f.wantKey = t, false
			} else {
				valueDone()
			}
		default:
			valueDone()
		}
	}
}

// checkParams refuses a path or query parameter the store could not hold
// (or that is absurdly long), for every route: an ID with a NUL in it is
// bad input, not a server error.
func checkParams(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		for i, name := range c.ParamNames() {
			if i < len(c.ParamValues()) {
				if err := checkParam(name, c.ParamValues()[i]); err != nil {
					return err
				}
			}
		}
		for name, vs := range c.QueryParams() {
			if err := checkParam("query parameter", name); err != nil {
				return err
			}
			for _, v := range vs {
				if err := checkParam(name, v); err != nil {
					return err
				}
			}
		}
		return next(c)
	}
}

func checkParam(name, v string) error {
	switch {
	case !utf8.ValidString(v):
		return opsflow.Invalid(name, "%s is not valid UTF-8 text", name)
	case strings.ContainsRune(v, 0):
		return opsflow.Invalid(name, "%s contains a NUL character", name)
	case len(v) > MaxParam:
		return opsflow.Invalid(name, "%s is longer than %d bytes", name, MaxParam)
	}
	return nil
}
