package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/opsflow/opsflow/internal/config"
	"github.com/opsflow/opsflow/server"
)

// TestApplySecurity: the security settings' defaults parse, and each bad
// value is refused at start, naming its setting.
func TestApplySecurity(t *testing.T) {
	defaults := func() config.Config {
		var c config.Config
		for _, s := range config.Settings {
			switch s.Flag {
			case "read-all-staff":
				c.ReadAllStaff = s.Default
			case "signing-max-failures":
				c.SigningMaxFailures = s.Default
			case "signing-lockout":
				c.SigningLockout = s.Default
			case "rate-limit-writes":
				c.RateLimitWrites = s.Default
			case "rate-limit-exports":
				c.RateLimitExports = s.Default
			}
		}
		return c
	}
	ctx, log := context.Background(), slog.New(slog.DiscardHandler)
	c := defaults()
	var sc server.Config
	if err := applySecurity(ctx, &c, &sc, log); err != nil || sc.ReadPolicy == nil || sc.RateLimits.Writes != server.DefaultWriteLimit ||
		sc.RateLimits.Exports != server.DefaultExportLimit || sc.Signing.MaxFailures != 5 || sc.SSO != nil {
		t.Fatalf("defaults: %v %+v", err, sc)
	}
	for want, bad := range map[string]func(*config.Config){
		"read-all-staff":       func(c *config.Config) { c.ReadAllStaff = "capas" },
		"signing-max-failures": func(c *config.Config) { c.SigningMaxFailures = "0" },
		"signing-lockout":      func(c *config.Config) { c.SigningLockout = "soon" },
		"rate-limit-writes":    func(c *config.Config) { c.RateLimitWrites = "lots" },
		"rate-limit-exports":   func(c *config.Config) { c.RateLimitExports = "5/d" },
		"oidc-role-map":        func(c *config.Config) { c.OIDCIssuer = "http://127.0.0.1:1"; c.OIDCRoleMap = "" },
	} {
		c := defaults()
		bad(&c)
		if err := applySecurity(ctx, &c, &server.Config{}, log); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", want, err)
		}
	}
}
