package opsflow

import (
	"slices"
	"strings"
	"time"
)

// Role is what a user may do. Roles are coarse on purpose; the finer rules
// (an approver who is not the owner, a reviewer other than the implementer)
// are separation-of-duties checks in each process.
type Role string

const (
	RoleRequester Role = "requester" // opens processes
	RoleOwner     Role = "owner"     // owns and drives processes
	RoleApprover  Role = "approver"  // approves plans, sponsors Kaizen
	RoleAuditor   Role = "auditor"   // reads everything, exports audit packs
	RoleAdmin     Role = "admin"     // everything, manages tokens and templates
	RoleHR        Role = "hr"        // onboarding: HR tasks
	RoleIT        Role = "it"        // onboarding: IT tasks
	RoleManager   Role = "manager"   // onboarding: hiring manager
)

// Roles lists every role, in a stable order.
var Roles = []Role{RoleRequester, RoleOwner, RoleApprover, RoleAuditor, RoleAdmin, RoleHR, RoleIT, RoleManager}

// ParseRoles parses a comma-separated role list, rejecting unknown roles.
func ParseRoles(s string) ([]Role, error) {
	var out []Role
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		r := Role(p)
		if !slices.Contains(Roles, r) {
			return nil, Invalid("roles", "unknown role %q", p)
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, Invalid("roles", "at least one role is required")
	}
	return out, nil
}

// User is an authenticated person (or service account).
type User struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Roles []Role `json:"roles"`
}

// Has reports whether the user holds role r. Admins hold every role.
func (u User) Has(r Role) bool {
	return slices.Contains(u.Roles, r) || slices.Contains(u.Roles, RoleAdmin)
}

// HasAny reports whether the user holds one of roles.
func (u User) HasAny(roles ...Role) bool {
	return slices.ContainsFunc(roles, u.Has)
}

// Who may do what outside a process's own steps. The API checks these
// lists and the web app shows the matching buttons from the same lists.
var (
	// RolesExportCAPA may export one CAPA's inspection pack: the read
	// policy's exporters (RolesExport).
	RolesExportCAPA = RolesExport
	// RolesAudit may verify the audit trail and export every CAPA closed
	// in a period.
	RolesAudit = []Role{RoleAuditor, RoleAdmin}
	// RolesRunReport may run a month's report by hand, before or besides
	// the schedule.
	RolesRunReport = []Role{RoleApprover, RoleAdmin}
	// RolesMeasure may record a KPI's measurements.
	RolesMeasure = []Role{RoleRequester, RoleOwner, RoleApprover, RoleAdmin}
	// RolesDefineKPI may register a KPI (its owner defaults to them).
	RolesDefineKPI = []Role{RoleOwner, RoleApprover, RoleAdmin}
	// RolesChangeKPI may change any KPI's definition, target, baseline
	// and dividers; a KPI's owner may change their own.
	RolesChangeKPI = []Role{RoleApprover, RoleAdmin}
)

// StartRoles lists the roles that may start a process of kind k.
func StartRoles(k Kind) []Role {
	switch k {
	case KindCAPA:
		return []Role{RoleRequester, RoleOwner, RoleApprover}
	case KindKaizen:
		return []Role{RoleRequester, RoleOwner, RoleAdmin}
	case KindOnboarding:
		return []Role{RoleHR, RoleAdmin}
	}
	return nil
}

// Actor is who did something, as recorded on audit events. The server fills
// it from the authenticated user, never from a request body; the system
// itself acts as SystemActor (timers, escalations, provisioning).
type Actor struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Roles []Role `json:"roles,omitempty"`
	// At is when the actor acted: the moment the API received the
	// request. Processes stamp the change with it, so a workflow task
	// retried later makes exactly the same change.
	At time.Time `json:"at,omitzero"`
}

// SystemActor is the actor of events caused by timers and activities.
var SystemActor = Actor{ID: "system", Name: "opsflow"}

// ActorOf returns the actor for an authenticated user acting at at.
func ActorOf(u User, at time.Time) Actor {
	return Actor{ID: u.ID, Name: u.Name, Roles: u.Roles, At: at.UTC()}
}

// Has reports whether the actor holds role r (admins hold every role).
func (a Actor) Has(r Role) bool { return User{Roles: a.Roles}.Has(r) }

// RoleLabel is the role recorded on an audit event: the most specific role
// the actor used, or "system".
func (a Actor) RoleLabel(used Role) string {
	if a.ID == SystemActor.ID {
		return "system"
	}
	if slices.Contains(a.Roles, used) {
		return string(used)
	}
	if slices.Contains(a.Roles, RoleAdmin) {
		return string(RoleAdmin)
	}
	if len(a.Roles) > 0 {
		return string(a.Roles[0])
	}
	return ""
}

// Require returns a forbidden error unless the actor holds role r.
func (a Actor) Require(r Role) error {
	if !a.Has(r) {
		return Forbidden("this action needs the %s role", r)
	}
	return nil
}
