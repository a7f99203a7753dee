package server

import (
	"context"
	"net/http"
	"reflect"
	"regexp"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/web"
)

// The web app (package web) is served at / beside the API, and talks to
// the API in-process: a form's step goes through the same route, body,
// preparer and update as a client's request, as the signed-in person.

// mountWeb serves the web app for every path no API route has (the API
// keeps /v1, /docs, /openapi.json, /healthz and /readyz; an unknown /v1
// path stays the API's JSON 404).
func (s *Server) mountWeb() {
	h := echo.WrapHandler(s.web)
	s.echo.RouteNotFound("/*", func(c echo.Context) error {
		if !web.Owns(c.Request().URL.Path) {
			return echo.ErrNotFound
		}
		return h(c)
	})
}

// inProcessUser marks a request the web app sends on behalf of the person
// its session signed in. Only code in this binary can set a context value,
// so a request from the network never carries it.
type inProcessUser struct{}

// ServeAs serves r through the API as u, whom the web app's session has
// authenticated.
func (s *Server) ServeAs(u opsflow.User, w http.ResponseWriter, r *http.Request) {
	s.echo.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), inProcessUser{}, u)))
}

// sessionUser is the user of an in-process request, if it is one.
func sessionUser(r *http.Request) (opsflow.User, bool) {
	u, ok := r.Context().Value(inProcessUser{}).(opsflow.User)
	return u, ok
}

// docPath turns an Echo path ("/v1/kpis/:key") into the document's form
// ("/v1/kpis/{key}").
var echoParam = regexp.MustCompile(`:([a-z_]+)`)

func docPath(p string) string { return echoParam.ReplaceAllString(p, "{$1}") }

// Serves reports whether the API has a route, named as in its document.
func (s *Server) Serves(method, path string) bool {
	for _, o := range s.ops {
		if o.method == method && docPath(o.path) == path {
			return true
		}
	}
	return false
}

// Body is the request body's type of a route, named as in its document.
func (s *Server) Body(method, path string) reflect.Type {
	for _, o := range s.ops {
		if o.method == method && docPath(o.path) == path {
			return o.body
		}
	}
	return nil
}

// inProcess authenticates a request the web app sends as its session's
// person.
func (s *Server) inProcess(c echo.Context) bool {
	u, ok := sessionUser(c.Request())
	if !ok {
		return false
	}
	c.Set(userKey, u)
	c.Set(requestAtKey, s.Now().UTC())
	return true
}

var _ web.API = (*Server)(nil)

// newWeb makes the web app. With single sign-on, its sign-in page offers
// it, and the browser login ends in one of its sessions.
func (s *Server) newWeb() {
	cfg := web.Config{Store: s.Store, API: s, Logger: s.log, Now: s.Now}
	if s.SSO != nil {
		cfg.SignIn = []web.SignInLink{{Label: "Sign in with single sign-on", URL: "/auth/login?return_to=/"}}
	}
	s.web = web.New(cfg)
	if s.SSO != nil && s.Sessions == nil {
		s.Sessions = webSessions{s.web}
	}
}

// webSessions hands a person the SSO login vouched for to a web session.
type webSessions struct{ app *web.App }

func (ws webSessions) IssueSession(w http.ResponseWriter, r *http.Request, u opsflow.User, method, returnTo string) error {
	if err := ws.app.StartSession(w, r, opsflow.NewSession{UserID: u.ID, Method: method}); err != nil {
		return err
	}
	if returnTo == "" || !strings.HasPrefix(returnTo, "/") || strings.HasPrefix(returnTo, "//") {
		returnTo = "/"
	}
	http.Redirect(w, r, returnTo, http.StatusSeeOther)
	return nil
}
