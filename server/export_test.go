package server

import "github.com/opsflow/opsflow"

// OpAccess is one op and its access rule, for TestRouteAccess.
type OpAccess struct {
	Method, Path, ID string
	Rule             string // public, any, list, roles, record, self, kpi-owner
	Roles            []opsflow.Role
	Record           opsflow.Kind
	Full             bool
	Example          any
	Describe         string
}

// Ops lists every op of the API with its rule.
func (s *Server) Ops() []OpAccess {
	names := map[ruleKind]string{ruleUnset: "", rulePublic: "public", ruleAnyUser: "any", ruleList: "list",
		ruleRoles: "roles", ruleRecord: "record", ruleSelf: "self", ruleKPIOwner: "kpi-owner"}
	var out []OpAccess
	for _, o := range s.apiRoutes() {
		out = append(out, OpAccess{Method: o.method, Path: o.path, ID: o.id, Rule: names[o.rule.kind], Roles: o.rule.roles,
			Record: o.rule.record, Full: o.rule.full, Example: o.example, Describe: o.rule.String()})
	}
	return out
}
