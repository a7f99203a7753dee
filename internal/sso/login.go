package sso

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/opsflow/opsflow"
)

// The browser login: authorization code with PKCE (S256), a state
// against cross-site request forgery and a nonce against token replay.
// The three secrets travel in a short-lived cookie sealed with AES-GCM
// under the server's key, so any API instance can finish a login another
// started; the cookie is HttpOnly, SameSite=Lax (the issuer's redirect
// back is a top-level GET) and limited to /auth/.

// SessionIssuer starts a web session for a person who has signed in, and
// sends the browser on (to returnTo). The web app's sessions implement it
// (a session row, its cookie, its CSRF secret); method is "sso".
type SessionIssuer interface {
	IssueSession(w http.ResponseWriter, r *http.Request, u opsflow.User, method, returnTo string) error
}

// Provisioner makes a person the issuer vouches for an opsflow user (the
// first time), keeps their name and roles as the issuer says, and
// refuses an ID that belongs to someone else.
type Provisioner interface {
	ProvisionSSO(ctx context.Context, id Identity) (opsflow.User, error)
}

// Login serves /auth/login and /auth/callback.
type Login struct {
	Provider  *Provider
	Users     Provisioner
	Sessions  SessionIssuer
	CookieKey []byte // 16, 24 or 32 bytes
	// Secure marks the flow cookie Secure (set it behind HTTPS).
	Secure bool
}

const flowCookie = "opsflow_sso"

// flowTTL bounds how long a person may take at the issuer.
const flowTTL = 10 * time.Minute

type flow struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	ReturnTo string    `json:"r"`
	Redirect string    `json:"u"`
	Expires  time.Time `json:"e"`
}

// Start is GET /auth/login?return_to=/path: it sends the browser to the
// issuer with a fresh state, nonce and PKCE challenge.
func (l *Login) Start(w http.ResponseWriter, r *http.Request) {
	returnTo := r.URL.Query().Get("return_to")
	if !localPath(returnTo) {
		returnTo = "/"
	}
	f := flow{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), ReturnTo: returnTo,
		Redirect: l.redirectURL(r), Expires: time.Now().Add(flowTTL)}
	sealed, err := l.seal(f)
	if err != nil {
		http.Error(w, "single sign-on is not available", http.StatusServiceUnavailable)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: sealed, Path: "/auth/", MaxAge: int(flowTTL.Seconds()),
		HttpOnly: true, Secure: l.Secure, SameSite: http.SameSiteLaxMode})
	cfg := l.Provider.oauth
	cfg.RedirectURL = f.Redirect
	http.Redirect(w, r, cfg.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), http.StatusFound)
}

// Callback is GET /auth/callback?code=…&state=…: the state must be the
// one this browser was given, the code is exchanged with the PKCE
// verifier, the ID token is verified (issuer, audience, signature, expiry)
// and must carry the nonce; then the person is provisioned and handed to
// the session issuer.
func (l *Login) Callback(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(flowCookie)
	if err != nil {
		http.Error(w, "no sign-in in progress in this browser: start at /auth/login", http.StatusBadRequest)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: "", Path: "/auth/", MaxAge: -1, HttpOnly: true, Secure: l.Secure, SameSite: http.SameSiteLaxMode})
	f, err := l.open(c.Value)
	if err != nil || time.Now().After(f.Expires) {
		http.Error(w, "the sign-in expired or was tampered with: start again at /auth/login", http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		http.Error(w, "the sign-in's state does not match: start again at /auth/login", http.StatusBadRequest)
		return
	}
	if e := q.Get("error"); e != "" {
		http.Error(w, "the identity provider refused the sign-in: "+e, http.StatusUnauthorized)
		return
	}
	cfg := l.Provider.oauth
	cfg.RedirectURL = f.Redirect
	tok, err := cfg.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(f.Verifier))
	if err != nil {
		http.Error(w, "the identity provider did not accept the sign-in's code", http.StatusUnauthorized)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := l.Provider.idToken.Verify(r.Context(), raw)
	if err != nil {
		http.Error(w, "the identity provider's ID token is not valid", http.StatusUnauthorized)
		return
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		http.Error(w, "the ID token is not for this sign-in (nonce)", http.StatusUnauthorized)
		return
	}
	id, err := l.Provider.identity(idt)
	if err == nil {
		id.User, err = l.Users.ProvisionSSO(r.Context(), id)
	}
	if err != nil {
		status := http.StatusForbidden
		if opsflow.ErrorCode(err) == opsflow.EUNAVAILABLE || opsflow.ErrorCode(err) == opsflow.EINTERNAL {
			status = http.StatusServiceUnavailable
		}
		http.Error(w, opsflow.ErrorMessage(err), status)
		return
	}
	if l.Sessions == nil {
		http.Error(w, "signed in as "+id.User.ID+", but this server has no web sessions to start", http.StatusNotImplemented)
		return
	}
	if err := l.Sessions.IssueSession(w, r, id.User, "sso", f.ReturnTo); err != nil {
		http.Error(w, "the session could not be started", http.StatusServiceUnavailable)
	}
}

// redirectURL is the configured callback, or this server's own.
func (l *Login) redirectURL(r *http.Request) string {
	if l.Provider.cfg.RedirectURL != "" {
		return l.Provider.cfg.RedirectURL
	}
	scheme := "http"
	if r.TLS != nil || l.Secure {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/auth/callback"
}

// localPath accepts only a path on this server, so the login cannot be
// made to redirect elsewhere.
func localPath(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") && !strings.HasPrefix(p, "/\\") && !strings.ContainsAny(p, "\r\n")
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (l *Login) aead() (cipher.AEAD, error) {
	block, err := aes.NewCipher(l.CookieKey)
	if err != nil {
		return nil, fmt.Errorf("sso: cookie key: %w", err)
	}
	return cipher.NewGCM(block)
}

func (l *Login) seal(f flow) (string, error) {
	a, err := l.aead()
	if err != nil {
		return "", err
	}
	b, _ := json.Marshal(f)
	nonce := make([]byte, a.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(a.Seal(nonce, nonce, b, []byte(flowCookie))), nil
}

func (l *Login) open(v string) (flow, error) {
	var f flow
	a, err := l.aead()
	if err != nil {
		return f, err
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(b) < a.NonceSize() {
		return f, errors.New("sso: bad flow cookie")
	}
	plain, err := a.Open(nil, b[:a.NonceSize()], b[a.NonceSize():], []byte(flowCookie))
	if err != nil {
		return f, errors.New("sso: bad flow cookie")
	}
	return f, json.Unmarshal(plain, &f)
}
