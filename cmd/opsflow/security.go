package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/config"
	"github.com/opsflow/opsflow/server"
)

// securitySettings are the API's settings of who may read what, signing,
// rate limits and single sign-on (README: Security).
var securitySettings = []string{"read-all-staff", "signing-max-failures", "signing-lockout", "rate-limit-writes", "rate-limit-exports"}

// applySecurity puts the security settings into the API's config.
func applySecurity(cfg *config.Config, sc *server.Config) error {
	pol, err := opsflow.ParseAllStaff(cfg.ReadAllStaff)
	if err != nil {
		return fmt.Errorf("read-all-staff: %s", opsflow.ErrorMessage(err))
	}
	sc.ReadPolicy = &pol
	if sc.Signing.MaxFailures, err = strconv.Atoi(cfg.SigningMaxFailures); err != nil || sc.Signing.MaxFailures < 1 {
		return fmt.Errorf("signing-max-failures %q: want a whole number of 1 or more", cfg.SigningMaxFailures)
	}
	if sc.Signing.Lockout, err = time.ParseDuration(cfg.SigningLockout); err != nil || sc.Signing.Lockout <= 0 {
		return fmt.Errorf("signing-lockout %q: want a duration such as 15m", cfg.SigningLockout)
	}
	var limits server.RateLimits
	if limits.Writes, err = server.ParseRateLimit(cfg.RateLimitWrites); err != nil {
		return fmt.Errorf("rate-limit-writes: %w", err)
	}
	if limits.Exports, err = server.ParseRateLimit(cfg.RateLimitExports); err != nil {
		return fmt.Errorf("rate-limit-exports: %w", err)
	}
	sc.RateLimits = &limits
	return nil
}
