package server

import (
	"fmt"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
)

// Every op declares who may call it (its rule); guard enforces the rule
// before the handler runs, and New refuses an op without one. The
// record-level part is opsflow's read policy (access.go in the domain):
// guard applies it to the record a path names, lists pass it to the store
// as a filter (scopeOf), and TestRouteAccess calls every op as every role.

// ruleKind is the shape of an op's rule.
type ruleKind int

const (
	ruleUnset    ruleKind = iota // no rule: New panics
	rulePublic                   // no token needed
	ruleAnyUser                  // any authenticated user: their own data, or data shared by all (KPIs, templates)
	ruleList                     // any authenticated user; the list holds only what they may read (the handler passes scopeOf to the store)
	ruleRoles                    // one of roles
	ruleRecord                   // the process named by :id, by the read policy (and one of roles, when set)
	ruleSelf                     // the user named by :id, or an administrator
	ruleKPIOwner                 // the owner of the KPI named by :key, or one of roles
)

// rule is who may call an op.
type rule struct {
	kind  ruleKind
	roles []opsflow.Role
	// record is the kind of the process :id names (ruleRecord; "" for any
	// kind, told by the ID's prefix); full asks for ReadAccess, where a
	// step is open to TaskAccess too.
	record opsflow.Kind
	full   bool
	// logged records each successful call in the access log (reads and
	// exports of records).
	logged string
}

func public() rule  { return rule{kind: rulePublic} }
func anyUser() rule { return rule{kind: ruleAnyUser} }
func listed() rule  { return rule{kind: ruleList} }
func self() rule    { return rule{kind: ruleSelf} }

// kpiOwner is the KPI's owner, or one of rs (approvers and admins change
// any KPI; only its owner or an admin comments on it).
func kpiOwner(rs ...opsflow.Role) rule { return rule{kind: ruleKPIOwner, roles: rs} }
func roles(rs ...opsflow.Role) rule    { return rule{kind: ruleRoles, roles: rs} }
func step(k opsflow.Kind) rule         { return rule{kind: ruleRecord, record: k} }
func reader(k opsflow.Kind, log string) rule {
	return rule{kind: ruleRecord, record: k, full: true, logged: log}
}

// withRoles adds roles to a record rule (exports: auditors and admins,
// who can also read the record).
func (r rule) withRoles(rs ...opsflow.Role) rule { r.roles = rs; return r }

// withTaskView lets a record read through TaskAccess (GET of a record:
// the onboarding without its personal data).
func (r rule) withTaskView() rule { r.full = false; return r }

func (r rule) String() string {
	switch r.kind {
	case rulePublic:
		return "public"
	case ruleAnyUser:
		return "any user"
	case ruleList:
		return "list, filtered by the read policy"
	case ruleRoles:
		return "roles " + rolesString(r.roles)
	case ruleRecord:
		s := "the record's readers"
		if !r.full {
			s += " or its task holders"
		}
		if len(r.roles) > 0 {
			s += ", with roles " + rolesString(r.roles)
		}
		return s
	case ruleSelf:
		return "the user themself, or an admin"
	case ruleKPIOwner:
		return "the KPI's owner, or roles " + rolesString(r.roles)
	}
	return "unset"
}

func rolesString(rs []opsflow.Role) string {
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

// policy is the read policy in force.
func (s *Server) policy() opsflow.ReadPolicy {
	if s.ReadPolicy != nil {
		return *s.ReadPolicy
	}
	return opsflow.DefaultReadPolicy()
}

// scopeOf is the caller's read rights, as a list filter.
func (s *Server) scopeOf(c echo.Context) *opsflow.ReadScope {
	sc := s.policy().Scope(userOf(c))
	return &sc
}

// Context keys of what guard found.
const (
	rowKey    = "opsflow.row"
	accessKey = "opsflow.access"
)

// guard wraps an op's handler with its rule.
func (s *Server) guard(o op) echo.HandlerFunc {
	r := o.rule
	switch r.kind {
	case rulePublic, ruleAnyUser, ruleList:
		return o.handler
	case ruleRoles:
		return func(c echo.Context) error {
			if err := requireAny(c, r.roles...); err != nil {
				return err
			}
			return o.handler(c)
		}
	case ruleSelf:
		return func(c echo.Context) error {
			if u := userOf(c); u.ID != c.Param("id") && !u.Has(opsflow.RoleAdmin) {
				return opsflow.Forbidden("only an administrator, or the user themself, may do this")
			}
			return o.handler(c)
		}
	case ruleKPIOwner:
		return func(c echo.Context) error {
			u := userOf(c)
			if !slices.ContainsFunc(r.roles, u.Has) {
				d, err := s.Store.GetKPIDefinition(c.Request().Context(), c.Param("key"))
				if err != nil {
					return err // a KPI that does not exist is a 404
				}
				if d.OwnerID != u.ID {
					return opsflow.Forbidden("only the KPI's owner (%s) or roles %s may do this", d.OwnerID, rolesString(r.roles))
				}
			}
			return o.handler(c)
		}
	case ruleRecord:
		return func(c echo.Context) error {
			if len(r.roles) > 0 {
				if err := requireAny(c, r.roles...); err != nil {
					return err
				}
			}
			id := c.Param("id")
			kind := r.record
			if kind == "" {
				k, ok := kindOf(id)
				if !ok {
					return notFound("process", id)
				}
				kind = k
			}
			if !strings.HasPrefix(id, kind.IDPrefix()) {
				return notFound(kind, id)
			}
			row, err := s.Store.GetProcess(c.Request().Context(), kind, id)
			if err != nil {
				if opsflow.ErrorCode(err) == opsflow.ENOTFOUND {
					return notFound(kind, id)
				}
				return err
			}
			a, err := s.accessTo(c, row)
			if err != nil {
				return err
			}
			if a == opsflow.NoAccess || (r.full && a != opsflow.ReadAccess) {
				return notFound(kind, id)
			}
			c.Set(rowKey, row)
			c.Set(accessKey, a)
			if r.logged != "" {
				if err := s.logAccess(c, r.logged, row); err != nil {
					return err
				}
			}
			return o.handler(c)
		}
	}
	panic(fmt.Sprintf("server: op %s %s has no access rule", o.method, o.path))
}

// accessTo is how much of row the caller sees.
func (s *Server) accessTo(c echo.Context, row opsflow.Process) (opsflow.Access, error) {
	sc := s.scopeOf(c)
	if sc.CanRead(row) {
		return opsflow.ReadAccess, nil
	}
	tasks, err := opsflow.RecordTasks(row.Record)
	if err != nil {
		return opsflow.NoAccess, err
	}
	return sc.Access(row, tasks), nil
}

// guardedRow is the process guard read for this request.
func guardedRow(c echo.Context) (opsflow.Process, bool) {
	row, ok := c.Get(rowKey).(opsflow.Process)
	return row, ok
}

// recordFor is what the caller is shown of row: the record in full, or
// without its personal data when they only hold a task in it (a step's
// answer to someone who may act but not read: the same view).
func (s *Server) recordFor(c echo.Context, row opsflow.Process) ([]byte, error) {
	a, err := s.accessTo(c, row)
	if err != nil {
		return nil, err
	}
	if a == opsflow.ReadAccess {
		return row.Record, nil
	}
	return opsflow.Redact(row.Kind, row.Record)
}
