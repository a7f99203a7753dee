package server

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/workflows"
)

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error opsflow.Error `json:"error"`
}

// handleError is Echo's error handler: every failure, from a handler, the
// router, a middleware or a panic, leaves as the documented error shape.
// Internal errors are logged with the request ID and answered without detail.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	e, status := s.classify(err)
	if status >= 500 && e.Code == opsflow.EINTERNAL {
		s.log.ErrorContext(c.Request().Context(), "request failed", "err", err,
			"request_id", c.Response().Header().Get(echo.HeaderXRequestID), "path", c.Request().URL.Path)
	}
	if status == http.StatusServiceUnavailable {
		// Every 503 is "not applied, try again": say when.
		c.Response().Header().Set("Retry-After", "2")
	}
	if status == http.StatusRequestEntityTooLarge {
		drainBody(c.Request())
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, errorBody{Error: *e})
}

func (s *Server) classify(err error) (*opsflow.Error, int) {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return &opsflow.Error{Code: opsflow.ENOTFOUND, Message: "no such route"}, http.StatusNotFound
		case http.StatusMethodNotAllowed:
			return &opsflow.Error{Code: opsflow.EINVALID, Message: "method not allowed on this route"}, http.StatusMethodNotAllowed
		case http.StatusRequestEntityTooLarge:
			return &opsflow.Error{Code: opsflow.EINVALID, Message: "request body too large"}, http.StatusRequestEntityTooLarge
		case http.StatusServiceUnavailable:
			return &opsflow.Error{Code: opsflow.EUNAVAILABLE, Message: "request timed out; try again"}, http.StatusServiceUnavailable
		}
		if he.Code >= 400 && he.Code < 500 {
			return &opsflow.Error{Code: opsflow.EINVALID, Message: http.StatusText(he.Code)}, he.Code
		}
	}
	e := asOpsError(err)
	status, _ := opsflow.HTTPStatus(e.Code)
	return e, status
}

// asOpsError turns any error into an *opsflow.Error: opsflow errors as they
// are, errors that crossed Temporal back into what the workflow said,
// Temporal and network failures into "unavailable", anything else internal.
func asOpsError(err error) *opsflow.Error {
	var e *opsflow.Error
	if errors.As(err, &e) {
		if _, ok := opsflow.HTTPStatus(e.Code); ok {
			return e
		}
	}
	if oe, ok := workflows.OpsError(err); ok {
		if _, known := opsflow.HTTPStatus(oe.Code); known {
			return oe
		}
	}
	var notFound *serviceerror.NotFound
	var unavailable *serviceerror.Unavailable
	var exhausted *serviceerror.ResourceExhausted
	var deadline *serviceerror.DeadlineExceeded
	var canceled *serviceerror.Canceled
	var timeout *temporal.TimeoutError
	switch {
	case errors.As(err, &notFound):
		return &opsflow.Error{Code: opsflow.ENOTFOUND, Message: "not found"}
	case errors.As(err, &exhausted):
		return &opsflow.Error{Code: opsflow.EUNAVAILABLE, Message: "too many changes in flight for this record; retry shortly"}
	case errors.As(err, &unavailable), errors.As(err, &deadline), errors.As(err, &canceled), errors.As(err, &timeout),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &opsflow.Error{Code: opsflow.EUNAVAILABLE, Message: "the workflow service or the database did not answer in time; retry shortly"}
	}
	return &opsflow.Error{Code: opsflow.EINTERNAL, Message: "internal error"}
}

// drainBody reads what is left of a refused body, up to a bound, so the
// client — still sending — reads the 413 instead of a connection reset.
// Beyond the bound the connection is closed: draining gigabytes would be a
// gift to an attacker.
func drainBody(r *http.Request) {
	if r.Body != nil {
		_, _ = io.CopyN(io.Discard, r.Body, maxDrain)
	}
}

// maxDrain is how much of a too-large body is read to deliver the 413.
const maxDrain = 16 << 20
