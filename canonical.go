package opsflow

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// JCS returns the RFC 8785 (JSON Canonicalization Scheme) form of a JSON
// document: object members sorted by the UTF-16 code units of their names,
// no insignificant whitespace, strings with only the escapes JSON requires,
// and every number written as ECMAScript writes an IEEE 754 double. Record
// hashes (seals, signatures) and checkpoint signatures cover this form, so
// they survive PostgreSQL's jsonb (which reorders keys and rewrites
// numbers), any pretty-printer, and can be recomputed in any language
// (docs/verify_pack.py does it in Python).
//
// It lives here rather than coming from a library because the domain
// package imports the standard library only and the workflows hash records
// with it; TestJCSMatchesReference holds it to github.com/gowebpki/jcs and
// to the RFC's own examples.
//
// Input that RFC 8785 (I-JSON, RFC 7493) rejects is an error: invalid
// UTF-8, duplicate member names, numbers that are not finite doubles.
func JCS(b []byte) ([]byte, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("jcs: the document is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out bytes.Buffer
	if err := jcsValue(dec, &out); err != nil {
		return nil, fmt.Errorf("jcs: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("jcs: data after the JSON value")
	}
	return out.Bytes(), nil
}

// jcsValue writes the next value of dec in canonical form.
func jcsValue(dec *json.Decoder, out *bytes.Buffer) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			return jcsObject(dec, out)
		case '[':
			out.WriteByte('[')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					out.WriteByte(',')
				}
				if err := jcsValue(dec, out); err != nil {
					return err
				}
			}
			_, err := dec.Token() // ']'
			out.WriteByte(']')
			return err
		}
		return fmt.Errorf("unexpected %v", v)
	case string:
		jcsString(out, v)
	case json.Number:
		s, err := jcsNumber(v)
		if err != nil {
			return err
		}
		out.WriteString(s)
	case bool:
		out.WriteString(strconv.FormatBool(v))
	case nil:
		out.WriteString("null")
	default:
		return fmt.Errorf("unexpected token %T", tok)
	}
	return nil
}

// jcsObject writes an object whose '{' was just read, members sorted.
func jcsObject(dec *json.Decoder, out *bytes.Buffer) error {
	type member struct {
		key   string
		units []uint16
		value []byte
	}
	var members []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("object key %v is not a string", tok)
		}
		var val bytes.Buffer
		if err := jcsValue(dec, &val); err != nil {
			return err
		}
		members = append(members, member{key: key, units: utf16.Encode([]rune(key)), value: val.Bytes()})
	}
	if _, err := dec.Token(); err != nil { // '}'
		return err
	}
	slices.SortStableFunc(members, func(a, b member) int { return slices.Compare(a.units, b.units) })
	out.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			if members[i-1].key == m.key {
				return fmt.Errorf("duplicate member %q", m.key)
			}
			out.WriteByte(',')
		}
		jcsString(out, m.key)
		out.WriteByte(':')
		out.Write(m.value)
	}
	out.WriteByte('}')
	return nil
}

// jcsString writes s as RFC 8785 §3.2.2.2 says: '"' and '\' escaped, the
// control characters as \b \t \n \f \r or \u00xx (lowercase hex), every
// other character as itself.
func jcsString(out *bytes.Buffer, s string) {
	out.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			out.WriteString(`\"`)
		case '\\':
			out.WriteString(`\\`)
		case '\b':
			out.WriteString(`\b`)
		case '\t':
			out.WriteString(`\t`)
		case '\n':
			out.WriteString(`\n`)
		case '\f':
			out.WriteString(`\f`)
		case '\r':
			out.WriteString(`\r`)
		default:
			if r < 0x20 {
				fmt.Fprintf(out, `\u%04x`, r)
			} else {
				out.WriteRune(r)
			}
		}
	}
	out.WriteByte('"')
}

// jcsNumber writes a number as ECMAScript's Number.prototype.toString does
// for the double it denotes (RFC 8785 §3.2.2.3): the shortest digits that
// round-trip, plain notation from 1e-6 up to 1e21, exponent notation
// outside, and -0 as 0. This is also how encoding/json writes a float64,
// which is no accident: Go chose the ES6 rules for the same reason.
func jcsNumber(n json.Number) (string, error) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", fmt.Errorf("number %s is not a finite IEEE 754 double", n)
	}
	if f == 0 {
		return "0", nil
	}
	format := byte('f')
	if abs := math.Abs(f); abs < 1e-6 || abs >= 1e21 {
		format = 'e'
	}
	s := strconv.FormatFloat(f, format, -1, 64)
	if format == 'e' {
		// Go writes e-07 and e+21; ECMAScript e-7 and e+21.
		mant, exp, _ := strings.Cut(s, "e")
		sign := exp[:1]
		exp = strings.TrimLeft(exp[1:], "0")
		s = mant + "e" + sign + exp
	}
	return s, nil
}

// legacyCanonicalJSON is how records were hashed before RFC 8785: sorted
// keys by encoding/json, which also escapes <, >, & and U+2028/U+2029 and
// keeps numbers as written. Seals and signatures made then still verify
// against it (see recordHashMatches); nothing new is hashed this way.
func legacyCanonicalJSON(b []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("canonical json: %w", err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("canonical json: %w", err)
	}
	return out, nil
}

// recordHashMatches reports whether record hashes to want, in RFC 8785
// form or, for seals and signatures made before it, in the legacy form.
// Accepting both is safe: a forger would still need a SHA-256 preimage.
func recordHashMatches(record []byte, want string) (got string, ok bool) {
	got, err := RecordHash(record)
	if err != nil {
		return "", false
	}
	if got == want {
		return got, true
	}
	if legacy, err := legacyCanonicalJSON(record); err == nil {
		if sha256Hex(legacy) == want {
			return want, true
		}
	}
	return got, false
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
