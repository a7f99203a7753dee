package server

import (
	"net/http"
	"reflect"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/sso"
)

// op is one route of the API and everything the OpenAPI document says of
// it. The list of ops (apiRoutes) is the only place a route is declared:
// Echo serves it and the document is generated from it, so the two cannot
// drift apart.
type op struct {
	method, path string // Echo's path syntax (":id")
	id, summary  string
	doc, tag     string
	// body is the request body's type (nil: none); optionalBody lets it
	// be left out; example is a valid body.
	body         reflect.Type
	optionalBody bool
	example      any
	// bodyAlt are media types the body may also come in besides JSON
	// (text/csv), documented as text.
	bodyAlt []string
	// resp is the success answer's type (nil: none); list wraps it in a
	// page of items; status is the success status (200 when zero).
	resp   reflect.Type
	list   bool
	status int
	// content is the success answer's media type when it is not JSON.
	content []string
	query   []param
	// step marks a process step: it may answer 202 (accepted, not applied
	// before the deadline) and 409 (the process's state does not allow it).
	step bool
	errs []int
	// errBodies gives the answer of an error status its own type (readyz's
	// 503 is a readiness report, not an error body).
	errBodies map[int]reflect.Type
	// rule is who may call the op (access.go); every op has one.
	rule    rule
	handler echo.HandlerFunc
}

// isPublic says the op needs no token.
func (o op) isPublic() bool { return o.rule.kind == rulePublic }

// param is a query parameter.
type param struct {
	name, typ, doc string
	enum           []string
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

// Common query parameters.
var (
	pLimit  = param{"limit", "integer", "page size, 1–200 (default 50)", nil}
	pCursor = param{"cursor", "string", "next_cursor of the previous page", nil}
	// pTokenState filters API tokens by state.
	pTokenState = param{"state", "string", "active, revoked or expired (default: all)", []string{"active", "revoked", "expired"}}
)

func listParams(extra ...param) []param {
	return append(append([]param{}, extra...),
		param{"owner", "string", "owner's user ID", nil},
		param{"opened_from", "date-time", "opened at or after (a date or RFC 3339 time)", nil},
		param{"opened_to", "date-time", "opened before", nil},
		param{"closed_from", "date-time", "closed at or after", nil},
		param{"closed_to", "date-time", "closed before", nil},
		param{"stalled", "boolean", "only stalled (true) or healthy (false) processes", nil},
		pLimit, pCursor)
}

// apiRoutes lists every route of the API.
func (s *Server) apiRoutes() []op {
	ops := []op{
		{method: "GET", path: "/healthz", id: "healthz", tag: "platform", summary: "Liveness: the process runs",
			resp: typeOf[map[string]string](), rule: public(), handler: s.healthz},
		{method: "GET", path: "/readyz", id: "readyz", tag: "platform", summary: "Readiness: PostgreSQL and Temporal answer and a worker polls the task queue",
			doc:  "503 names what is missing (postgres, temporal, workers); stalled_processes counts processes that need an administrator.",
			resp: typeOf[readiness](), errs: []int{http.StatusServiceUnavailable},
			errBodies: map[int]reflect.Type{http.StatusServiceUnavailable: typeOf[readiness]()}, rule: public(), handler: s.readyz},
		{method: "GET", path: "/openapi.json", id: "openapi", tag: "platform", summary: "This document",
			resp: typeOf[map[string]any](), rule: public(), handler: s.openapi},
		{method: "GET", path: "/v1/openapi.json", id: "openapiV1", tag: "platform", summary: "This document (under /v1 as well)",
			resp: typeOf[map[string]any](), rule: public(), handler: s.openapi},
		{method: "GET", path: "/docs", id: "docs", tag: "platform", summary: "The API reference, as a page",
			content: []string{"text/html"}, rule: public(), handler: s.docs},

		{method: "GET", path: "/v1/me", id: "me", tag: "people", summary: "The authenticated user, with their address, time zone and notification preferences",
			doc:  "With whether you have a signing password (and since when), whether signing is locked after wrong ones, and the sign-on identity you are linked to.",
			resp: typeOf[opsflow.Account](), rule: anyUser(), handler: s.me},
		{method: "PUT", path: "/v1/me", id: "putMe", tag: "people", summary: "Set your e-mail address, time zone and notification preferences",
			doc:  "What is left out stays as it is; an empty email removes the address, and preferences, when given, replace the stored ones whole. Per channel (email, slack, teams, webhook): immediate, digest (one message a day at digest_hour, local time) or off. always_immediate lists kinds sent at once even on a digest channel. A webhook needs webhook_url and a webhook_secret of 16+ characters; secrets read back masked, and the masked value sent back keeps the stored one. Audited on the user's stream.",
			body: typeOf[profileRequest](), example: profileRequest{Email: opsflow.Ptr("ann@example.com"), Timezone: "Europe/Berlin",
				Preferences: &opsflow.Preferences{Email: opsflow.DeliverDigest, Slack: opsflow.DeliverOff, Teams: opsflow.DeliverOff, Webhook: opsflow.DeliverOff, DigestHour: opsflow.Ptr(7),
					AlwaysImmediate: []string{opsflow.NotifyEscalated, opsflow.NotifyApproval}}},
			resp: typeOf[opsflow.Profile](), rule: anyUser(), handler: s.putMe},
		{method: "PUT", path: "/v1/me/signing-password", id: "putSigningPassword", tag: "people", summary: "Set or change your signing password (Part 11 signatures)",
			doc:  "Signed steps (a CAPA's decision, plan approval, effectiveness result and closure; a Kaizen plan's approval and standardisation) ask for it again at each signature. Changing it needs the current one, which counts towards the lockout like a signature. Stored only as an argon2id hash; setting it is recorded on your audit stream.",
			body: typeOf[signingPasswordRequest](), example: signingPasswordRequest{New: "a long phrase only I know"},
			status: http.StatusNoContent, rule: anyUser(), handler: s.putSigningPassword},
		{method: "GET", path: "/v1/me/tokens", id: "listMyTokens", tag: "people", summary: "Your API tokens: label, created, last used, expiry, state",
			doc:  "Never a token itself: its ID (derived from its hash), label, created, last used (to the minute), expires, revoked and who issued it. Newest first.",
			resp: typeOf[tokenInfo](), list: true, rule: anyUser(), handler: s.listMyTokens,
			query: []param{pTokenState, pLimit, pCursor}},
		{method: "POST", path: "/v1/me/tokens", id: "createMyToken", tag: "people", summary: "Create an API token for yourself: the answer holds it, once",
			doc: "The token acts as you, with your roles. label (required, at most 100 characters) says what it is for; expires when it stops working: a number of days (90d), a duration (12h), a date or an RFC 3339 time, " +
				"in the future and at most 2 years ahead (left out: 90 days). The answer (201) is the only place the token is ever shown: only its SHA-256 is stored. " +
				"Repeated with its Idempotency-Key, the request issues nothing and answers 409 naming the token it issued, whose secret cannot be shown again: if the first answer was lost, revoke that token and create another. " +
				"Recorded on your audit stream (the token's ID, never the token). A person linked to single sign-on is refused (403): the provider manages their access, and an administrator issues their tokens.",
			body: typeOf[tokenRequest](), example: tokenRequest{Label: "laptop", Expires: "90d"},
			resp: typeOf[newToken](), status: http.StatusCreated, rule: anyUser(), handler: s.createMyToken},
		{method: "POST", path: "/v1/me/tokens/:id/revoke", id: "revokeMyToken", tag: "people", summary: "Revoke one of your API tokens",
			doc:  "Someone else's token is answered 404, as one that does not exist. Revoking a revoked token changes nothing. Every API instance stops accepting it at once; a web session signed in with it ends. Recorded on your audit stream.",
			resp: typeOf[tokenInfo](), rule: anyUser(), handler: s.revokeMyToken},
		{method: "POST", path: "/v1/admin/users/:id/tokens", id: "issueUserToken", tag: "admin", summary: "Issue an API token for a user, e.g. their first (admin)",
			doc: "For a user who exists (404 otherwise: create them with PUT /v1/users/{id}); their name and roles are not changed. label and expires as for POST /v1/me/tokens; reason is required and recorded, with you as the actor, on the user's audit stream. " +
				"The answer (201) is the only place the token is ever shown: hand it over safely. Repeated with its Idempotency-Key, the request issues nothing and answers 409 naming the token it issued.",
			body: typeOf[adminTokenRequest](), example: adminTokenRequest{tokenRequest: tokenRequest{Label: "first token", Expires: "30d"}, Reason: "new in quality; handed over in person"},
			resp: typeOf[newToken](), status: http.StatusCreated, rule: roles(opsflow.RoleAdmin), handler: s.issueUserToken},
		{method: "POST", path: "/v1/admin/users/:id/unlock-signing", id: "unlockSigning", tag: "admin", summary: "Lift a user's signing lock after failed signing passwords (admin)",
			doc:  "Recorded, with the reason, on the user's audit stream.",
			body: typeOf[unlockRequest](), example: unlockRequest{Reason: "verified by phone"},
			resp: typeOf[opsflow.SigningLock](), rule: roles(opsflow.RoleAdmin), handler: s.unlockSigning},
		{method: "GET", path: "/v1/users", id: "listUsers", tag: "people", summary: "The people: their profiles, signing state and sign-on identities (administrators)",
			doc:  "Ordered by user ID. role keeps those holding a role; q those whose ID, name or e-mail address contains the text, in any case.",
			resp: typeOf[opsflow.Account](), list: true, rule: roles(opsflow.RoleAdmin), handler: s.listUsers,
			query: []param{{"role", "string", "one role's holders", statesOf(opsflow.Roles)}, {"q", "string", "text in the ID, name or e-mail address (any case)", nil}, pLimit, pCursor}},
		{method: "GET", path: "/v1/users/:id", id: "getUser", tag: "people", summary: "A user's profile, signing state and sign-on identity (administrators, or the user)",
			resp: typeOf[opsflow.Account](), rule: self(), handler: s.getUser},
		{method: "PUT", path: "/v1/users/:id", id: "putUser", tag: "people", summary: "Create a user or change one (administrators)",
			doc:  "A new user needs a name and roles (201). For an existing user, what is sent replaces what is stored and what is left out stays (an empty email removes the address; preferences are replaced whole); roles change only with a reason. With the header If-None-Match: * it only creates: an ID that is taken is a conflict (409), never an edit of that person. Every change is recorded on the user's audit stream (user/{id}).",
			body: typeOf[userRequest](), example: userRequest{Name: "Ann Lee", Roles: []opsflow.Role{opsflow.RoleOwner}, profileRequest: profileRequest{Email: opsflow.Ptr("ann@example.com"), Timezone: "Europe/Berlin"}},
			resp: typeOf[opsflow.Profile](), status: http.StatusCreated, errs: []int{http.StatusConflict}, rule: roles(opsflow.RoleAdmin), handler: s.putUser},
		{method: "PUT", path: "/v1/admin/users/:id/sso", id: "linkSSO", tag: "admin", summary: "Link a user to a single sign-on identity (admin)",
			doc:  "From then on the person signs on through the provider as this user, and their name and roles follow its claims. An identity linked to another user is a conflict (409): unlink it there first. Linking the identity the user has changes nothing. Recorded, with the reason, on the user's audit stream, as opsflow user link-sso records it.",
			body: typeOf[ssoLinkRequest](), example: ssoLinkRequest{Issuer: "https://login.example.com", Subject: "00u8ann7lee", Reason: "moves to the company's sign-on"},
			resp: typeOf[opsflow.Account](), errs: []int{http.StatusConflict}, rule: roles(opsflow.RoleAdmin), handler: s.linkSSO},
		{method: "POST", path: "/v1/admin/users/:id/sso/unlink", id: "unlinkSSO", tag: "admin", summary: "Unlink a user from their single sign-on identity (admin)",
			doc:  "The reason is in the body. The provider's claim to the account is refused from then on; the user signs in with a token. Unlinking a user with no link changes nothing. Recorded, with the reason, on the user's audit stream.",
			body: typeOf[adminAction](), example: adminAction{Reason: "left the company's sign-on"},
			resp: typeOf[opsflow.Account](), rule: roles(opsflow.RoleAdmin), handler: s.unlinkSSO},
		{method: "GET", path: "/v1/notifications", id: "listMyNotifications", tag: "people", summary: "Notifications sent to you, newest first",
			doc:  "One row per channel: pending, sent, failed (after its retry budget), digest (waiting for your daily digest), digested or skipped (the task was done before it went out, or no address).",
			resp: typeOf[opsflow.Delivery](), list: true, rule: anyUser(), handler: s.myNotifications,
			query: []param{{"state", "string", "one delivery state", opsflow.DeliveryStates}, pLimit, pCursor}},
		{method: "GET", path: "/v1/admin/notifications", id: "listAdminNotifications", tag: "admin", summary: "Everyone's notifications, e.g. the failed ones (admin)",
			resp: typeOf[opsflow.Delivery](), list: true, rule: roles(opsflow.RoleAdmin), handler: s.adminNotifications,
			query: []param{{"state", "string", "one delivery state", opsflow.DeliveryStates}, {"user", "string", "one recipient", nil}, pLimit, pCursor}},
		{method: "POST", path: "/v1/admin/notifications/:id/retry", id: "retryNotification", tag: "admin", summary: "Send a failed notification again, with a fresh retry budget (admin)",
			doc:  "Only a failed delivery is retried (409 otherwise). It goes back in the queue at once.",
			resp: typeOf[opsflow.Delivery](), errs: []int{http.StatusConflict}, rule: roles(opsflow.RoleAdmin), handler: s.retryNotification},
		{method: "GET", path: "/v1/admin/tokens", id: "listTokens", tag: "admin", summary: "API tokens: who holds them, last use, expiry, state (admin)",
			doc:  "Never the token itself: its ID (derived from its hash, as opsflow token list shows it), user, label, created, last used (to the minute), expires, revoked and who issued it. Newest first.",
			resp: typeOf[tokenInfo](), list: true, rule: roles(opsflow.RoleAdmin), handler: s.listTokens,
			query: []param{{"user", "string", "one user's tokens", nil}, pTokenState, pLimit, pCursor}},
		{method: "POST", path: "/v1/admin/tokens/:id/revoke", id: "revokeToken", tag: "admin", summary: "Revoke an API token (admin)",
			doc:  "Recorded on the token's user's audit stream. Revoking a revoked token changes nothing. Every API instance stops accepting it at once (PostgreSQL announces the revocation to all of them).",
			resp: typeOf[tokenInfo](), rule: roles(opsflow.RoleAdmin), handler: s.revokeToken},
		{method: "GET", path: "/v1/admin/access-log", id: "listAccessLog", tag: "audit", summary: "Who read or exported which record, when (auditor, admin)",
			doc:  "One entry per read of a record or its audit trail (action read, read_audit) and per record exported (export), newest first. Lists are not logged record by record.",
			resp: typeOf[opsflow.AccessEntry](), list: true, rule: roles(opsflow.RoleAuditor, opsflow.RoleAdmin), handler: s.listAccessLog,
			query: []param{{"record", "string", "one record's reads", nil}, {"user", "string", "one user's reads", nil}, pLimit, pCursor}},
		{method: "GET", path: "/v1/tasks", id: "listTasks", tag: "tasks", summary: "One inbox across every process",
			doc:  "By default the caller's inbox: tasks assigned to them or queued for one of their roles, still to do (open, in progress, blocked), overdue first. Filters widen or narrow it; assignee=me names the caller.",
			resp: typeOf[opsflow.TaskRow](), list: true, rule: listed(), handler: s.listTasks,
			query: []param{
				{"assignee", "string", "a user ID, or me", nil},
				{"role", "string", "a role's queue", nil},
				{"state", "string", "a task state, or all (default: the states still to do)", nil},
				{"process_kind", "string", "capa, kaizen, onboarding, or kpi (a KPI owner's tasks)", []string{"capa", "kaizen", "onboarding", "kpi"}},
				{"process_id", "string", "one process", nil},
				{"overdue", "boolean", "only overdue (true) or not (false)", nil},
				pLimit, pCursor,
			}},
		{method: "GET", path: "/v1/audit/verify", id: "verifyAudit", tag: "audit", summary: "Recompute the audit hash chains and report the first broken link",
			doc: "Needs the auditor or admin role.", resp: typeOf[opsflow.VerifyReport](), rule: roles(opsflow.RoleAuditor, opsflow.RoleAdmin), handler: s.verifyAudit,
			query: []param{{"stream", "string", "one process ID; every chain when omitted", nil}}},

		{method: "GET", path: "/v1/admin/processes", id: "listAdminProcesses", tag: "admin", summary: "Processes of every kind, e.g. the stalled ones",
			doc:  "Needs the admin role. A stalled process is one whose changes the store refused for good: it holds them and refuses every step until an administrator retries or abandons it.",
			resp: typeOf[map[string]any](), list: true, rule: roles(opsflow.RoleAdmin), handler: s.listAdminProcesses,
			query: listParams(param{"kind", "string", "one kind", []string{"capa", "kaizen", "onboarding"}}, param{"state", "string", "a state", nil})},
		{method: "POST", path: "/v1/admin/processes/:id/retry", id: "retryStalledProcess", tag: "admin", summary: "Write a stalled process's held changes again",
			doc: "After fixing what the store refused. Answers the process's record.", body: typeOf[adminAction](), optionalBody: true,
			resp: typeOf[map[string]any](), step: true, rule: step("").withRoles(opsflow.RoleAdmin), handler: s.retryStalled},
		{method: "POST", path: "/v1/admin/processes/:id/abandon", id: "abandonStalledProcess", tag: "admin", summary: "End a stalled process, dropping the changes the store refused",
			doc:  "The record keeps its last written state and becomes abandoned; the trail records who, why and how many changes were dropped.",
			body: typeOf[adminAction](), example: adminAction{Reason: "duplicate of capa-41"}, resp: typeOf[map[string]any](), step: true, rule: step("").withRoles(opsflow.RoleAdmin), handler: s.abandonStalled},

		{method: "POST", path: "/v1/onboarding-templates", id: "createTemplate", tag: "onboarding", summary: "Create a role's template, or its next version (hr, admin)",
			doc:  "An unchanged template answers 200 with the latest version; a changed one 201 with the next.",
			body: typeOf[templateRequest](), example: exampleTemplate, resp: typeOf[opsflow.OnboardingTemplate](), status: http.StatusCreated, rule: roles(opsflow.RoleHR, opsflow.RoleAdmin), handler: s.createTemplate},
		{method: "GET", path: "/v1/onboarding-templates", id: "listTemplates", tag: "onboarding", summary: "The latest template of every role",
			resp: typeOf[opsflow.OnboardingTemplate](), list: true, rule: anyUser(), handler: s.listTemplates},
		{method: "GET", path: "/v1/onboarding-templates/:role", id: "getTemplate", tag: "onboarding", summary: "A role's latest template, or one version",
			resp: typeOf[opsflow.OnboardingTemplate](), rule: anyUser(), handler: s.getTemplate, query: []param{{"version", "integer", "a version (default: the latest)", nil}}},

		{method: "GET", path: "/v1/capas/export", id: "exportCAPAs", tag: "capa", summary: "Export every CAPA closed in a date range (auditor, admin)",
			resp: typeOf[opsflow.InspectionPack](), content: []string{"application/json", "text/csv"}, rule: roles(opsflow.RolesExport...), handler: s.exportCAPAs,
			query: []param{{"closed_from", "date-time", "closed at or after", nil}, {"closed_to", "date-time", "closed before", nil},
				{"format", "string", "json (an inspection pack) or csv", []string{"json", "csv"}}}},
		{method: "GET", path: "/v1/capas/:id/export", id: "exportCAPA", tag: "capa", summary: "Export one CAPA for audit: an inspection pack (json) or csv",
			resp: typeOf[opsflow.InspectionPack](), content: []string{"application/json", "text/csv"}, rule: reader(opsflow.KindCAPA, "export").withRoles(opsflow.RolesExport...), handler: s.exportCAPA,
			query: []param{{"format", "string", "json (an inspection pack) or csv", []string{"json", "csv"}}}},
	}
	for _, ki := range opsflow.Kinds() {
		ops = append(ops, s.processRoutes(ki)...)
	}
	ops = append(ops, s.kpiRoutes()...)
	ops = append(ops, s.reportRoutes()...)
	return ops
}

// processRoutes are the routes of one kind of process: create, list, get,
// audit, and one per step of the domain's step table.
func (s *Server) processRoutes(ki opsflow.KindInfo) []op {
	base := "/v1/" + ki.Collection
	tag := string(ki.Kind)
	create := map[opsflow.Kind]op{
		opsflow.KindCAPA: {body: typeOf[opsflow.CAPARequest](), example: exampleCAPA, handler: s.createCAPA,
			rule: roles(opsflow.RoleRequester, opsflow.RoleOwner, opsflow.RoleApprover),
			doc:  "Requester, owner or approver. The record is in the read model when this answers (201)."},
		opsflow.KindKaizen: {body: typeOf[opsflow.KaizenRequest](), example: exampleKaizen, handler: s.createKaizen,
			rule: roles(opsflow.RoleRequester, opsflow.RoleOwner, opsflow.RoleAdmin),
			doc:  "The KPI must be registered; a baseline given as a window is measured from it."},
		opsflow.KindOnboarding: {body: typeOf[onboardingRequest](), example: exampleOnboarding, handler: s.createOnboarding,
			rule: roles(opsflow.RoleHR, opsflow.RoleAdmin),
			doc:  "HR or an admin. The template version is resolved now and kept for the onboarding's life."},
	}[ki.Kind]
	list := map[opsflow.Kind]op{
		opsflow.KindCAPA: {handler: s.listCAPAs, query: listParams(
			param{"state", "string", "a CAPA state", statesOf(opsflow.CAPAStates)},
			param{"risk_level", "string", "risk level", []string{opsflow.RiskLow, opsflow.RiskMedium, opsflow.RiskHigh, opsflow.RiskCritical}},
			param{"source", "string", "source type", opsflow.CAPASourceTypes},
			param{"type", "string", "corrective, preventive or correction", nil})},
		opsflow.KindKaizen: {handler: s.listKaizen, query: listParams(
			param{"phase", "string", "a phase", statesOf(kaizenPhases)}, param{"state", "string", "the phase (an alias)", nil},
			param{"sponsor", "string", "sponsor's user ID", nil}, param{"kpi", "string", "KPI key", nil}, param{"cycle", "string", "PDCA cycle number", nil})},
		opsflow.KindOnboarding: {handler: s.listOnboardings, query: []param{
			{"state", "string", "an onboarding state", statesOf(opsflow.OnboardingStates)}, {"owner", "string", "the hire's manager", nil},
			{"manager", "string", "the hire's manager", nil}, {"role", "string", "template role", nil},
			{"overdue", "boolean", "with overdue tasks", nil},
			{"start_from", "date", "start date on or after", nil}, {"start_to", "date", "start date before", nil}, pLimit, pCursor}},
	}[ki.Kind]
	create.method, create.path, create.id, create.tag = "POST", base, "create"+camel(ki.Kind), tag
	create.summary, create.resp, create.status = "Start a "+ki.Title, ki.Record, http.StatusCreated
	list.method, list.path, list.id, list.tag = "GET", base, "list"+camel(ki.Kind), tag
	list.summary, list.resp, list.list, list.rule = "List "+ki.Title+"s, newest first", ki.Record, true, listed()
	ops := []op{create, list,
		{method: "GET", path: base + "/:id", id: "get" + camel(ki.Kind), tag: tag, summary: "One " + ki.Title, resp: ki.Record,
			rule: reader(ki.Kind, "read").withTaskView(), handler: s.getProcess},
		{method: "GET", path: base + "/:id/audit", id: "audit" + camel(ki.Kind), tag: tag, summary: "The " + ki.Title + "'s audit trail, oldest first, with its hash chain",
			resp: typeOf[opsflow.AuditEvent](), list: true, rule: reader(ki.Kind, "read_audit"), handler: s.processAudit},
	}
	for _, st := range ki.Steps {
		path := base + "/:id/" + strings.ReplaceAll(st.Path, "{task_id}", ":task_id")
		id := camel(opsflow.Kind(strings.ReplaceAll(st.Path, "{task_id}", ""))) + camel(ki.Kind)
		ops = append(ops, op{method: "POST", path: path, id: strings.ToLower(id[:1]) + id[1:],
			tag: tag, summary: st.Summary, doc: st.Doc, body: st.Body, optionalBody: st.OptionalBody, example: st.Example,
			resp: ki.Record, step: true, rule: step(ki.Kind), handler: s.stepHandler(st)})
	}
	return ops
}

func statesOf[S ~string](states []S) []string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = string(s)
	}
	return out
}

// camel turns "record-investigation" or "tasks//complete" into
// "RecordInvestigation" / "TasksComplete", for operation IDs.
func camel(k opsflow.Kind) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(string(k), func(r rune) bool { return r == '-' || r == '/' || r == '_' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// routes registers every op with Echo: public ones as they are, the rest
// behind authentication and the Idempotency-Key check.
func (s *Server) routes() {
	s.ops = s.apiRoutes()
	s.prepare = s.preparers()
	v1 := s.echo.Group("/v1", s.authenticate, s.idempotency)
	if s.SSO != nil {
		// The browser login is no API operation (it answers redirects to
		// and from the issuer, not JSON): it is outside the op table and
		// the OpenAPI document, and public by nature.
		login := &sso.Login{Provider: s.SSO, Users: s, Sessions: s.Sessions, CookieKey: s.SSOCookieKey, Secure: s.SSOSecureCookie}
		s.echo.GET("/auth/login", echo.WrapHandler(http.HandlerFunc(login.Start)))
		s.echo.GET("/auth/callback", echo.WrapHandler(http.HandlerFunc(login.Callback)))
	}
	for _, o := range s.ops {
		h := s.limited(o, s.guard(o))
		if o.isPublic() {
			s.echo.Add(o.method, o.path, h)
		} else {
			v1.Add(o.method, strings.TrimPrefix(o.path, "/v1"), h)
		}
	}
}
