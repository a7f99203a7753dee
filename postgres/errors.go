package postgres

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
	"github.com/opsflow/opsflow"
)

// codedError carries both an opsflow error (what a client may see) and the
// driver error (what the logs need). errors.As finds the *opsflow.Error, so
// opsflow.ErrorCode and ErrorMessage never show SQL or driver text, while
// errors.Is/As still reach the cause.
type codedError struct {
	op   string
	code *opsflow.Error
	err  error
}

func (e *codedError) Error() string   { return fmt.Sprintf("postgres: %s: %v", e.op, e.err) }
func (e *codedError) Unwrap() []error { return []error{e.code, e.err} }

// wrap annotates a driver error with the operation that failed and, where
// the cause is meaningful to a client, an opsflow error code: a dropped or
// refused connection is "unavailable" (retry later), a unique violation a
// "conflict". Anything else stays internal.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	if pe := pq.As(err); pe != nil {
		switch {
		case pe.Code == pqerror.UniqueViolation:
			return &codedError{op, opsflow.Errorf(opsflow.ECONFLICT, "already exists"), err}
		case pe.Code.Class() == pqerror.ClassConnectionException,
			pe.Code.Class() == "53", // insufficient resources: too many connections, out of memory or disk
			pe.Code.Class() == "57", // operator intervention: shutting down, restarting, query cancelled
			pe.Code.Class() == "58", // system error: I/O
			pe.Code == pqerror.TRSerializationFailure, pe.Code == pqerror.TRDeadlockDetected:
			return &codedError{op, opsflow.Errorf(opsflow.EUNAVAILABLE, "database unavailable, retry later"), err}
		}
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	// A server that dies mid-query leaves lib/pq with a broken stream.
	var nerr net.Error
	if errors.As(err, &nerr) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return &codedError{op, opsflow.Errorf(opsflow.EUNAVAILABLE, "database unavailable, retry later"), err}
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}
