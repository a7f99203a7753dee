// Package sso is opsflow's single sign-on with OpenID Connect: JWT bearer
// tokens from a configured issuer for the API, and the browser login
// (authorization code with PKCE, state and nonce) whose end hands the
// person to a SessionIssuer — the web app's sessions. Tokens are verified
// with github.com/coreos/go-oidc/v3 against the issuer's published keys;
// roles come from one claim, mapped by configuration.
package sso

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/opsflow/opsflow"
)

// Config is how opsflow trusts an issuer.
type Config struct {
	// Issuer is the OpenID Provider's issuer URL (its discovery document
	// is Issuer + /.well-known/openid-configuration).
	Issuer string
	// ClientID and ClientSecret are opsflow's registration at the issuer
	// (the browser login); ID tokens must name ClientID as audience.
	ClientID, ClientSecret string
	// Audience is what a bearer token for the API must name as its
	// audience (default: ClientID).
	Audience string
	// RedirectURL is where the issuer sends the browser back:
	// https://opsflow.example.com/auth/callback.
	RedirectURL string
	// Scopes asked for at login (default: openid profile email).
	Scopes []string
	// UserClaim is the claim that is the opsflow user ID (default:
	// preferred_username); NameClaim the display name (default: name).
	UserClaim, NameClaim string
	// RolesClaim is the claim holding the person's groups or roles (a
	// string or a list of strings; default: roles); RoleMap maps each of
	// its values to opsflow roles. A person with no mapped role is
	// refused.
	RolesClaim string
	RoleMap    map[string][]opsflow.Role
}

// ParseRoleMap reads a role map: entries separated by ";", each
// "value=role,role" — "quality-leads=owner,approver; opsflow-admins=admin".
func ParseRoleMap(s string) (map[string][]opsflow.Role, error) {
	m := map[string][]opsflow.Role{}
	for _, entry := range strings.Split(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		value, roles, ok := strings.Cut(entry, "=")
		value = strings.TrimSpace(value)
		if !ok || value == "" {
			return nil, fmt.Errorf("role map entry %q: want claim-value=role,role", entry)
		}
		rs, err := opsflow.ParseRoles(roles)
		if err != nil {
			return nil, fmt.Errorf("role map entry %q: %s", entry, opsflow.ErrorMessage(err))
		}
		m[value] = append(m[value], rs...)
	}
	return m, nil
}

// Provider is a configured issuer, discovered.
type Provider struct {
	cfg      Config
	provider *oidc.Provider
	bearer   *oidc.IDTokenVerifier // API tokens: aud = Audience
	idToken  *oidc.IDTokenVerifier // login: aud = ClientID
	oauth    oauth2.Config
}

// New discovers the issuer (its endpoints and keys).
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" {
		return nil, errors.New("sso: an issuer and a client ID are required")
	}
	if cfg.Audience == "" {
		cfg.Audience = cfg.ClientID
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "profile", "email"}
	}
	if !slices.Contains(cfg.Scopes, oidc.ScopeOpenID) {
		cfg.Scopes = append([]string{oidc.ScopeOpenID}, cfg.Scopes...)
	}
	if cfg.UserClaim == "" {
		cfg.UserClaim = "preferred_username"
	}
	if cfg.NameClaim == "" {
		cfg.NameClaim = "name"
	}
	if cfg.RolesClaim == "" {
		cfg.RolesClaim = "roles"
	}
	p, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("sso: discover %s: %w", cfg.Issuer, err)
	}
	return &Provider{
		cfg: cfg, provider: p,
		bearer:  p.Verifier(&oidc.Config{ClientID: cfg.Audience}),
		idToken: p.Verifier(&oidc.Config{ClientID: cfg.ClientID}),
		oauth: oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: p.Endpoint(),
			RedirectURL: cfg.RedirectURL, Scopes: cfg.Scopes},
	}, nil
}

// Issuer is the issuer's URL.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// Identity is a person as the issuer vouches for them.
type Identity struct {
	Issuer  string
	Subject string
	User    opsflow.User
	Expiry  time.Time
}

// ErrNotToken says a bearer credential is no JWT (an opaque API token).
var ErrNotToken = errors.New("sso: not a JWT")

// LooksLikeJWT reports whether a bearer credential has a JWT's shape.
func LooksLikeJWT(s string) bool { return strings.Count(s, ".") == 2 && !strings.HasPrefix(s, "opsf_") }

// VerifyBearer checks an API bearer token: signed by the issuer's keys,
// issued by it, for Audience, not expired; and maps it to a user.
func (p *Provider) VerifyBearer(ctx context.Context, raw string) (Identity, error) {
	if !LooksLikeJWT(raw) {
		return Identity{}, ErrNotToken
	}
	tok, err := p.bearer.Verify(ctx, raw)
	if err != nil {
		return Identity{}, unauthorized("the bearer token is not valid: %v", err)
	}
	return p.identity(tok)
}

func unauthorized(format string, args ...any) error {
	return &opsflow.Error{Code: opsflow.EUNAUTHORIZED, Message: fmt.Sprintf(format, args...)}
}

// identity maps a verified token's claims to a user.
func (p *Provider) identity(tok *oidc.IDToken) (Identity, error) {
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return Identity{}, unauthorized("the token's claims do not decode: %v", err)
	}
	id := Identity{Issuer: tok.Issuer, Subject: tok.Subject, Expiry: tok.Expiry}
	uid, _ := claims[p.cfg.UserClaim].(string)
	if uid == "" {
		return id, &opsflow.Error{Code: opsflow.EFORBIDDEN, Message: fmt.Sprintf("the token has no %s claim to name an opsflow user by", p.cfg.UserClaim)}
	}
	if err := opsflow.CheckUserID(uid); err != nil {
		return id, &opsflow.Error{Code: opsflow.EFORBIDDEN, Message: "single sign-on: " + opsflow.ErrorMessage(err)}
	}
	name, _ := claims[p.cfg.NameClaim].(string)
	if strings.TrimSpace(name) == "" {
		name = uid
	}
	var values []string
	switch v := claims[p.cfg.RolesClaim].(type) {
	case string:
		values = strings.Fields(v)
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				values = append(values, s)
			}
		}
	}
	var roles []opsflow.Role
	for _, v := range values {
		for _, r := range p.cfg.RoleMap[v] {
			if !slices.Contains(roles, r) {
				roles = append(roles, r)
			}
		}
	}
	if len(roles) == 0 {
		return id, &opsflow.Error{Code: opsflow.EFORBIDDEN, Message: fmt.Sprintf("single sign-on: no opsflow role for %s (claim %s: %v)", uid, p.cfg.RolesClaim, values)}
	}
	slices.SortFunc(roles, func(a, b opsflow.Role) int { return slices.Index(opsflow.Roles, a) - slices.Index(opsflow.Roles, b) })
	id.User = opsflow.User{ID: uid, Name: name, Roles: roles}
	return id, nil
}
