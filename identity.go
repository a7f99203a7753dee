package opsflow

import (
	"slices"
	"strings"
	"unicode"
)

// ReservedUserIDs are IDs no person may be given, compared without regard
// to case. The audit trail and the notifications name actors and
// recipients by ID, so a person called one of these would pass for
// something else there:
//   - "system" is the actor of timers, escalations and provisioning
//     (SystemActor), "opsflow" its name;
//   - role names address notifications and task queues to everyone holding
//     the role ("admin" receives a stalled process's alert), so a user
//     "admin" would receive them, and would read as a role in a trail;
//   - "me" means the caller in queries (GET /v1/tasks?assignee=me);
//   - "anonymous" and "unknown" stand for no one.
//
// IDs starting with CLIActorPrefix are the operators of the command line
// (see CLIActor) and are reserved too.
var ReservedUserIDs = func() []string {
	ids := []string{SystemActor.ID, SystemActor.Name, "me", "anonymous", "unknown"}
	for _, r := range Roles {
		ids = append(ids, string(r))
	}
	return ids
}()

// CLIActorPrefix starts the ID of an operator acting through the opsflow
// command line (token and user administration), who is an account of the
// machine rather than an opsflow user.
const CLIActorPrefix = "cli:"

// CheckUserID refuses an ID a person may not have: empty, with spaces
// around it or control characters in it, or reserved (ReservedUserIDs).
func CheckUserID(id string) error {
	switch {
	case strings.TrimSpace(id) == "":
		return Invalid("user", "a user needs an ID")
	case id != strings.TrimSpace(id):
		return Invalid("user", "user ID %q has spaces around it", id)
	case strings.ContainsFunc(id, unicode.IsControl):
		return Invalid("user", "user ID %q contains a control character", id)
	case slices.ContainsFunc(ReservedUserIDs, func(r string) bool { return strings.EqualFold(r, id) }):
		return Invalid("user", "user ID %q is reserved: it names the system, a role or no one, and a person with it would pass for that in the audit trail", id)
	case len(id) >= len(CLIActorPrefix) && strings.EqualFold(id[:len(CLIActorPrefix)], CLIActorPrefix):
		return Invalid("user", "user ID %q is reserved: IDs starting with %q name operators of the command line", id, CLIActorPrefix)
	}
	return nil
}

// SameRoles reports whether a and b hold the same roles, in any order.
func SameRoles(a, b []Role) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

// UserStream is the audit stream of a user's identity: creation, role
// changes, tokens issued and revoked.
func UserStream(id string) string { return "user/" + id }
