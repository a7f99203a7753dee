package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/postgres"
)

// peopleStore holds people's profiles and their notifications.
type peopleStore interface {
	Profile(ctx context.Context, id string) (opsflow.Profile, error)
	Account(ctx context.Context, id string) (opsflow.Account, error)
	Accounts(ctx context.Context, f postgres.AccountFilter) (opsflow.Page[opsflow.Account], error)
	LinkSSO(ctx context.Context, id string, to opsflow.SSOLink, by opsflow.Actor, reason string) (opsflow.SSOLink, error)
	SaveProfile(ctx context.Context, p opsflow.Profile, by opsflow.Actor) (opsflow.Profile, bool, error)
	CreateProfile(ctx context.Context, p opsflow.Profile, by opsflow.Actor) (opsflow.Profile, error)
	SetUserRoles(ctx context.Context, id string, roles []opsflow.Role, by opsflow.Actor, reason string) ([]opsflow.Role, error)
	UnknownUsers(ctx context.Context, ids []string) ([]string, error)
	Deliveries(ctx context.Context, f postgres.DeliveryFilter) (opsflow.Page[opsflow.Delivery], error)
	RetryDelivery(ctx context.Context, id string) (opsflow.Delivery, error)
}

// checkPeople refuses an input naming a person who is not a user, with a
// 422 naming the field: a task given to "ghost" would sit where nobody
// sees it.
func (s *Server) checkPeople(ctx context.Context, in any) error {
	r, ok := in.(opsflow.UserReferrer)
	if !ok {
		return nil
	}
	refs := r.UserRefs()
	if len(refs) == 0 {
		return nil
	}
	ids := make([]string, len(refs))
	for i, ref := range refs {
		ids[i] = ref.ID
	}
	unknown, err := s.Store.UnknownUsers(ctx, ids)
	if err != nil || len(unknown) == 0 {
		return err
	}
	for _, ref := range refs {
		if slices.Contains(unknown, ref.ID) {
			return opsflow.Invalid(ref.Field, "%s: no user %q (users are created with PUT /v1/users/{id} or opsflow token create)", ref.Field, ref.ID)
		}
	}
	return nil
}

// profileRequest is what a person may change of their own profile. What
// is left out stays as it is: an administrator who changes only someone's
// roles must not silently take their address (and so their notifications)
// away. An empty email removes the address.
type profileRequest struct {
	Email       *string              `json:"email,omitempty"`
	Timezone    string               `json:"timezone,omitempty"`
	Preferences *opsflow.Preferences `json:"preferences,omitempty"` // replaced whole when given
}

// onto is the profile prev with the request's changes.
func (in profileRequest) onto(prev opsflow.Profile) opsflow.Profile {
	p := opsflow.Profile{ID: prev.ID, Name: prev.Name, Roles: prev.Roles, Email: prev.Email, Timezone: prev.Timezone, Preferences: prev.Preferences}
	if in.Email != nil {
		p.Email = strings.TrimSpace(*in.Email)
	}
	if in.Timezone != "" {
		p.Timezone = in.Timezone
	}
	if in.Preferences != nil {
		p.Preferences = *in.Preferences
	}
	return p
}

// userRequest creates a user or changes one (administrators). Roles of an
// existing user change only with a reason, recorded in the trail; what is
// left out stays as it is.
type userRequest struct {
	Name  string         `json:"name,omitempty"` // a new user: default the ID
	Roles []opsflow.Role `json:"roles,omitempty"`
	profileRequest
	Reason string `json:"reason,omitempty"`
}

// me answers who the caller is, with their address, time zone and
// notification preferences, whether they have a signing password and
// their sign-on identity.
func (s *Server) me(c echo.Context) error {
	return s.account(c, userOf(c).ID)
}

// account answers user id's account as the API shows it.
func (s *Server) account(c echo.Context, id string) error {
	a, err := s.Store.Account(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a.Public())
}

// putMe: PUT /v1/me — a person sets their own address, time zone and
// preferences (not their name or roles).
func (s *Server) putMe(c echo.Context) error {
	var in profileRequest
	if err := bind(c, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	prev, err := s.Store.Profile(ctx, userOf(c).ID)
	if err != nil {
		return err
	}
	p, _, err := s.Store.SaveProfile(ctx, in.onto(prev), actorOf(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p.Public())
}

// getUser: GET /v1/users/{id} — administrators, or the person themself.
func (s *Server) getUser(c echo.Context) error {
	id := c.Param("id")
	if u := userOf(c); u.ID != id && !u.Has(opsflow.RoleAdmin) {
		return opsflow.Forbidden("only administrators see other people's profiles")
	}
	return s.account(c, id)
}

// putUser: PUT /v1/users/{id} — an administrator creates a user (name,
// roles, address) or changes one; with If-None-Match: * only creates. Every change is audited on the user's
// stream; a role change needs a reason.
func (s *Server) putUser(c echo.Context) error {
	if err := requireAny(c, opsflow.RoleAdmin); err != nil {
		return err
	}
	var in userRequest
	if err := bind(c, &in); err != nil {
		return err
	}
	id := c.Param("id")
	if err := opsflow.CheckUserID(id); err != nil {
		return opsflow.Invalid("id", "%s", opsflow.ErrorMessage(err))
	}
	for i, r := range in.Roles {
		if _, err := opsflow.ParseRoles(string(r)); err != nil {
			return opsflow.Invalid("roles", "roles[%d]: %s", i, opsflow.ErrorMessage(err))
		}
	}
	ctx := c.Request().Context()
	by := actorOf(c)
	existing, err := s.Store.Profile(ctx, id)
	found := err == nil
	if err != nil && opsflow.ErrorCode(err) != opsflow.ENOTFOUND {
		return err
	}
	// If-None-Match: * asks for a new user only (HTTP's "create, do not
	// replace"): an ID that is taken is a conflict, not an edit of that
	// person, even when two administrators create it at once.
	createOnly := strings.TrimSpace(c.Request().Header.Get("If-None-Match")) == "*"
	if found && createOnly {
		return &opsflow.Error{Code: opsflow.ECONFLICT, Field: "id", Message: fmt.Sprintf("user %s exists already (%s): change them instead", id, existing.Name)}
	}
	if !found {
		existing = opsflow.Profile{ID: id}
	}
	p := in.onto(existing)
	p.Name, p.Roles = strings.TrimSpace(in.Name), in.Roles
	if !found && len(in.Roles) == 0 {
		return opsflow.Invalid("roles", "a new user needs at least one role")
	}
	if in.Roles != nil && len(in.Roles) == 0 {
		// [] is no role at all, not "unchanged" (roles left out).
		return opsflow.Invalid("roles", "a user needs at least one role; to stop someone acting, revoke their tokens")
	}
	if found && len(in.Roles) > 0 && !opsflow.SameRoles(in.Roles, existing.Roles) {
		if strings.TrimSpace(in.Reason) == "" {
			return opsflow.Invalid("reason", "say why %s's roles change: the reason is recorded in the audit trail", id)
		}
		if _, err := s.Store.SetUserRoles(ctx, id, in.Roles, by, in.Reason); err != nil {
			return err
		}
	}
	if createOnly {
		saved, err := s.Store.CreateProfile(ctx, p, by)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, saved.Public())
	}
	saved, created, err := s.Store.SaveProfile(ctx, p, by)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, saved.Public())
}

// deliveryFilter reads the state filter and the page of a notification
// list.
func deliveryFilter(c echo.Context) (postgres.DeliveryFilter, error) {
	f := postgres.DeliveryFilter{State: c.QueryParam("state"), Cursor: c.QueryParam("cursor")}
	if f.State != "" && !slices.Contains(opsflow.DeliveryStates, f.State) {
		return f, opsflow.Invalid("state", "state must be one of %s", strings.Join(opsflow.DeliveryStates, ", "))
	}
	var err error
	f.Limit, err = queryInt(c, "limit", opsflow.DefaultPageSize, 1, opsflow.MaxPageSize)
	return f, err
}

// myNotifications: GET /v1/notifications — what was sent to the caller,
// newest first.
func (s *Server) myNotifications(c echo.Context) error {
	f, err := deliveryFilter(c)
	if err != nil {
		return err
	}
	f.UserID = userOf(c).ID
	page, err := s.Store.Deliveries(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

// adminNotifications: GET /v1/admin/notifications — everyone's, e.g. the
// failed ones.
func (s *Server) adminNotifications(c echo.Context) error {
	if err := requireAny(c, opsflow.RoleAdmin); err != nil {
		return err
	}
	f, err := deliveryFilter(c)
	if err != nil {
		return err
	}
	f.UserID = c.QueryParam("user")
	page, err := s.Store.Deliveries(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

// retryNotification: POST /v1/admin/notifications/{id}/retry — a failed
// delivery goes back in the queue with a fresh budget.
func (s *Server) retryNotification(c echo.Context) error {
	if err := requireAny(c, opsflow.RoleAdmin); err != nil {
		return err
	}
	d, err := s.Store.RetryDelivery(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, d)
}

// listUsers: GET /v1/users (administrators) — people by role and by text
// in their ID, name or address, a page at a time by ID.
func (s *Server) listUsers(c echo.Context) error {
	f := postgres.AccountFilter{Query: strings.TrimSpace(c.QueryParam("q")), Cursor: c.QueryParam("cursor")}
	if r := c.QueryParam("role"); r != "" {
		if !slices.Contains(opsflow.Roles, opsflow.Role(r)) {
			return opsflow.Invalid("role", "role must be one of %s", rolesString(opsflow.Roles))
		}
		f.Role = opsflow.Role(r)
	}
	var err error
	if f.Limit, err = queryInt(c, "limit", opsflow.DefaultPageSize, 1, opsflow.MaxPageSize); err != nil {
		return err
	}
	page, err := s.Store.Accounts(c.Request().Context(), f)
	if err != nil {
		return err
	}
	for i, a := range page.Items {
		page.Items[i] = a.Public()
	}
	return c.JSON(http.StatusOK, page)
}

// ssoLinkRequest links a user to a sign-on identity, for a reason.
type ssoLinkRequest struct {
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
	Reason  string `json:"reason"`
}

// linkSSO: PUT /v1/admin/users/{id}/sso — what opsflow user link-sso
// does, audited the same way, by the administrator calling.
func (s *Server) linkSSO(c echo.Context) error {
	var in ssoLinkRequest
	if err := bind(c, &in); err != nil {
		return err
	}
	to := opsflow.SSOLink{Issuer: strings.TrimSpace(in.Issuer), Subject: strings.TrimSpace(in.Subject)}
	if err := to.Validate(); err != nil {
		return err
	}
	return s.changeSSO(c, to, in.Reason)
}

// unlinkSSO: POST /v1/admin/users/{id}/sso/unlink, with the reason in the
// body (an action with a reason, as revoke and abandon are).
func (s *Server) unlinkSSO(c echo.Context) error {
	var in adminAction
	if c.Request().ContentLength != 0 {
		if err := bind(c, &in); err != nil {
			return err
		}
	}
	return s.changeSSO(c, opsflow.SSOLink{}, in.Reason)
}

// changeSSO sets user :id's sign-on identity and answers their account.
func (s *Server) changeSSO(c echo.Context, to opsflow.SSOLink, reason string) error {
	id := c.Param("id")
	if _, err := s.Store.LinkSSO(c.Request().Context(), id, to, actorOf(c), reason); err != nil {
		return err
	}
	return s.account(c, id)
}
