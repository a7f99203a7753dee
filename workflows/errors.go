package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/opsflow/opsflow"
)

// AppError turns an *opsflow.Error into a non-retryable Temporal
// application error whose type is the error code and whose details carry the
// error itself, so the API can map it back (FromTemporal in the server).
// Other errors pass through unchanged.
func AppError(err error) error {
	var e *opsflow.Error
	if err == nil || !errors.As(err, &e) {
		return err
	}
	return temporal.NewApplicationErrorWithOptions(e.Message, e.Code, temporal.ApplicationErrorOptions{
		NonRetryable: true,
		Details:      []any{*e},
	})
}

// OpsError recovers the *opsflow.Error that AppError wrapped, if err carries
// one.
func OpsError(err error) (*opsflow.Error, bool) {
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() == "" {
		return nil, false
	}
	var e opsflow.Error
	if app.HasDetails() && app.Details(&e) == nil && e.Code != "" {
		return &e, true
	}
	return &opsflow.Error{Code: app.Type(), Message: app.Message()}, true
}

// failedAt is the time an activity put in its failure's details, if any
// (see activities.provisionFailure).
func failedAt(err error) time.Time {
	var app *temporal.ApplicationError
	var at time.Time
	if errors.As(err, &app) && app.HasDetails() && app.Details(&at) == nil {
		return at
	}
	return time.Time{}
}
