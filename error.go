package opsflow

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes. They are the only vocabulary the API uses for failures;
// each has one HTTP status (HTTPStatus), which the API answers with and
// the web app reads back.
const (
	EINVALID      = "invalid"      // bad or missing input (422)
	ENOTFOUND     = "not_found"    // no such resource (404)
	ECONFLICT     = "conflict"     // wrong state for the operation (409)
	EFORBIDDEN    = "forbidden"    // authenticated but not allowed, incl. separation of duties (403)
	EUNAUTHORIZED = "unauthorized" // missing or bad credentials (401)
	EUNAVAILABLE  = "unavailable"  // a dependency is down (503)
	ERATELIMITED  = "rate_limited" // over the credential's budget of writes or exports (429)
	EINTERNAL     = "internal"     // a bug or an unexpected failure (500)
)

var httpStatus = map[string]int{
	EINVALID:      http.StatusUnprocessableEntity,
	ENOTFOUND:     http.StatusNotFound,
	ECONFLICT:     http.StatusConflict,
	EFORBIDDEN:    http.StatusForbidden,
	EUNAUTHORIZED: http.StatusUnauthorized,
	EUNAVAILABLE:  http.StatusServiceUnavailable,
	ERATELIMITED:  http.StatusTooManyRequests,
	EINTERNAL:     http.StatusInternalServerError,
}

// HTTPStatus is the HTTP status of an error code; ok is false for a code
// that is not one of the above.
func HTTPStatus(code string) (status int, ok bool) {
	status, ok = httpStatus[code]
	return status, ok
}

// CodeOfStatus is the error code of an HTTP status: the reverse of
// HTTPStatus, for an answer that carries no code of its own (other 4xx
// are bad input, anything else internal).
func CodeOfStatus(status int) string {
	for code, s := range httpStatus {
		if s == status {
			return code
		}
	}
	if status >= 400 && status < 500 {
		return EINVALID
	}
	return EINTERNAL
}

// Error is an application error: a code, a message meant for the user, and,
// for input errors, the field that is wrong. State names the resource's
// current state on conflicts so a client can recover without another read.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	State   string `json:"state,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("opsflow: %s: %s (field %s)", e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("opsflow: %s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid reports bad input in one named field. Field names are the JSON
// names the client sent (dotted for nested values: "actions[2].owner").
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Conflict reports an operation that the resource's current state forbids.
func Conflict(state, format string, args ...any) *Error {
	return &Error{Code: ECONFLICT, State: state, Message: fmt.Sprintf(format, args...)}
}

// Forbidden reports an operation the actor may not perform.
func Forbidden(format string, args ...any) *Error {
	return &Error{Code: EFORBIDDEN, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// EINTERNAL for any other non-nil error.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err. Internal errors get
// a generic message so that driver or stack details never reach a client.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
