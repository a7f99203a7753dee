package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/config"
	"github.com/opsflow/opsflow/internal/sso"
	"github.com/opsflow/opsflow/server"
)

// securitySettings are the API's settings of who may read what, signing,
// rate limits and single sign-on (README: Security).
var securitySettings = []string{"read-all-staff", "signing-max-failures", "signing-lockout", "rate-limit-writes", "rate-limit-exports",
	"oidc-issuer", "oidc-client-id", "oidc-client-secret", "oidc-audience", "oidc-scopes", "oidc-user-claim", "oidc-roles-claim",
	"oidc-role-map", "oidc-redirect-url", "oidc-cookie-key"}

// applySecurity puts the security settings into the API's config; with
// an issuer, it discovers it.
func applySecurity(ctx context.Context, cfg *config.Config, sc *server.Config, log *slog.Logger) error {
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
	return applySSO(ctx, cfg, sc, log)
}

// applySSO configures single sign-on when an issuer is set.
func applySSO(ctx context.Context, cfg *config.Config, sc *server.Config, log *slog.Logger) error {
	if cfg.OIDCIssuer == "" {
		return nil
	}
	roles, err := sso.ParseRoleMap(cfg.OIDCRoleMap)
	if err != nil {
		return fmt.Errorf("oidc-role-map: %w", err)
	}
	if len(roles) == 0 {
		return errors.New("oidc-role-map is empty: nobody who signs on would have a role")
	}
	redirect := cfg.OIDCRedirectURL
	if redirect == "" {
		redirect = strings.TrimSuffix(cfg.PublicURL, "/") + "/auth/callback"
	}
	p, err := sso.New(ctx, sso.Config{Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCClientSecret,
		Audience: cfg.OIDCAudience, RedirectURL: redirect, Scopes: strings.Fields(cfg.OIDCScopes), UserClaim: cfg.OIDCUserClaim,
		RolesClaim: cfg.OIDCRolesClaim, RoleMap: roles})
	if err != nil {
		return err
	}
	sc.SSO = p
	sc.SSOSecureCookie = strings.HasPrefix(redirect, "https://")
	if cfg.OIDCCookieKey != "" {
		if sc.SSOCookieKey, err = hex.DecodeString(cfg.OIDCCookieKey); err != nil || len(sc.SSOCookieKey) != 32 {
			return errors.New("oidc-cookie-key: want 64 hex digits (openssl rand -hex 32)")
		}
	} else {
		sc.SSOCookieKey = make([]byte, 32)
		_, _ = rand.Read(sc.SSOCookieKey)
		log.Warn("no OPSFLOW_OIDC_COOKIE_KEY: a login must finish on the API instance that started it")
	}
	log.Info("single sign-on", "issuer", cfg.OIDCIssuer, "callback", redirect)
	return nil
}
