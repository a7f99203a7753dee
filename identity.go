package opsflow

import (
	"net/url"
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

// SSOLink is the sign-on identity a user is linked to: the issuer (the
// provider's URL, as its tokens' iss claim) and the subject it vouches
// for (their sub claim). Both empty: none.
type SSOLink struct {
	Issuer  string `json:"issuer" db:"sso_issuer"`
	Subject string `json:"subject" db:"sso_subject"`
}

func (l SSOLink) String() string {
	if l.Subject == "" {
		return "none"
	}
	return l.Issuer + " subject " + l.Subject
}

// Longest issuer and subject a link takes: OpenID Connect allows a
// subject of 255 ASCII characters; an issuer is a URL.
const (
	MaxSSOIssuer  = 1000
	MaxSSOSubject = 255
)

// Validate checks a link to an identity (not an unlink), naming the field:
// an issuer that is an http(s) URL and a subject, neither longer than the
// provider's own limits.
func (l SSOLink) Validate() error {
	switch u, err := url.Parse(l.Issuer); {
	case strings.TrimSpace(l.Issuer) == "":
		return Invalid("issuer", "the issuer (the provider's URL, as in its tokens' iss) is required")
	case len(l.Issuer) > MaxSSOIssuer:
		return Invalid("issuer", "the issuer is longer than %d bytes", MaxSSOIssuer)
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return Invalid("issuer", "the issuer must be the provider's http(s) URL, e.g. https://login.example.com")
	case strings.TrimSpace(l.Subject) == "":
		return Invalid("subject", "the subject (the person's ID at the provider, as in its tokens' sub) is required")
	case len(l.Subject) > MaxSSOSubject:
		return Invalid("subject", "the subject is longer than %d bytes", MaxSSOSubject)
	case strings.ContainsFunc(l.Subject, unicode.IsControl):
		return Invalid("subject", "the subject may not contain control characters")
	}
	return nil
}
