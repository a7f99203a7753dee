package web

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/opsflow/opsflow"
)

// Forms post to the web app's twin of an API route: /capas/{id}/triage
// for POST /v1/capas/{id}/triage. The handler turns the form into the
// step's body (the step table's body type) and sends it to that API route
// in-process, as the signed-in person, with the form's Idempotency-Key, so
// a double click or a retried post takes the step once.

// pageOut is a built page: its template and data, and every form on it
// (so a refused post can be put back on its form).
type pageOut struct {
	page, title, nav string
	data             any
	forms            []*Form
	status           int // of a page read (0: 200); a list's refused filter is 422
}

// show answers a page read: the page built, with its status, or the error
// that kept it from being built.
func (a *App) show(w http.ResponseWriter, r *http.Request, s *session, out *pageOut, err error) {
	if err != nil {
		a.errorPage(w, r, statusOf(err), opsflow.ErrorMessage(err))
		return
	}
	a.render(w, r, cmp.Or(out.status, http.StatusOK), out.page, a.frame(w, r, s, out.title, out.nav), out.data)
}

// recordBuilder builds the page of one record; st, when set, is a refused
// post of one of its forms.
type recordBuilder func(ctx context.Context, s *session, id string, st *formState) (*pageOut, error)

func (a *App) builder(k opsflow.Kind) recordBuilder {
	switch k {
	case opsflow.KindCAPA:
		return a.buildCAPA
	case opsflow.KindKaizen:
		return a.buildKaizen
	}
	return a.buildHire
}

// recordURL is the page of a record.
func recordURL(ki opsflow.KindInfo, id string) string {
	return "/" + ki.Collection + "/" + url.PathEscape(id)
}

// matchStep finds the step whose path matches rest ("triage",
// "tasks/c1-action-5/complete") and the task it names.
func matchStep(ki opsflow.KindInfo, rest string) (opsflow.Step, string, bool) {
	parts := strings.Split(rest, "/")
	for _, st := range ki.Steps {
		want := strings.Split(st.Path, "/")
		if len(want) != len(parts) {
			continue
		}
		taskID, ok := "", true
		for i, w := range want {
			switch {
			case w == "{task_id}":
				taskID = parts[i]
			case w != parts[i]:
				ok = false
			}
		}
		if ok && (taskID != "" || !strings.Contains(st.Path, "{task_id}")) {
			return st, taskID, true
		}
	}
	return opsflow.Step{}, "", false
}

// step serves the forms of one kind's steps.
func (a *App) step(ki opsflow.KindInfo) handler {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		id := r.PathValue("id")
		st, taskID, ok := matchStep(ki, r.PathValue("step"))
		if !ok || !strings.HasPrefix(id, ki.Kind.IDPrefix()) {
			a.notFound(w, r)
			return
		}
		vals := r.PostForm
		state := &formState{ID: vals.Get("_form"), Values: vals, Back: safeBack(vals.Get("_back"))}
		var body []byte
		if st.Body != nil {
			var err error
			body, state.Renames, err = decodeForm(st.Body, vals)
			if err != nil {
				state.Error, state.Key = asError(err), vals.Get("_key")
				a.refused(w, r, s, ki, id, state, http.StatusUnprocessableEntity)
				return
			}
		}
		path := "/v1/" + ki.Collection + "/" + url.PathEscape(id) + "/" + strings.ReplaceAll(st.Path, "{task_id}", url.PathEscape(taskID))
		ans := a.call(r.Context(), s, http.MethodPost, path, nil, body, vals.Get("_key"))
		back := recordURL(ki, id)
		if state.Back != "" {
			back = state.Back
		}
		switch {
		case ans.Status == http.StatusAccepted:
			a.setFlash(w, r, "ok", st.Summary+": accepted, and being applied. It will show here in a moment.")
			a.navigate(w, r, back)
		case ans.ok():
			a.setFlash(w, r, "ok", st.Summary+": done.")
			a.navigate(w, r, back)
		case ans.Status == http.StatusConflict:
			// The record moved on (someone else took a step, a timer
			// fired): say where it stands and show it as it is now.
			e := ans.err()
			msg := "Not applied: " + e.Message + "."
			if e.State != "" {
				msg += " The " + ki.Title + " is " + strings.ReplaceAll(e.State, "_", " ") + " now; this page shows it as it stands."
			}
			a.setFlash(w, r, "conflict", msg)
			a.navigate(w, r, recordURL(ki, id))
		case ans.Status == http.StatusNotFound:
			a.errorPage(w, r, http.StatusNotFound, ans.err().Message)
		default:
			state.Error = ans.err()
			if ans.Status == http.StatusServiceUnavailable {
				// Not applied; the same key makes a repeat safe.
				state.Key = vals.Get("_key")
				state.Error.Message += " Nothing was changed: send it again (it is safe to repeat)."
			}
			if (ans.Status == http.StatusUnauthorized || ans.Status == http.StatusForbidden) && state.Error.Field == "" && strings.Contains(strings.ToLower(state.Error.Message), "signing password") {
				state.Error.Field = "signing_password" // the signature's re-entered credential
			}
			if ans.Status == http.StatusForbidden && strings.Contains(state.Error.Message, "no signing password yet") {
				// The API names its route; a person here has a page for it.
				state.Error.Message = "You have no signing password yet: set one on your Settings page (at the top of every page), then sign."
			}
			a.refused(w, r, s, ki, id, state, ans.Status)
		}
	}
}

// refused puts a refused post back on its form: the form alone for htmx
// to swap in place, else the whole page with the form open.
func (a *App) refused(w http.ResponseWriter, r *http.Request, s *session, ki opsflow.KindInfo, id string, st *formState, status int) {
	out, err := a.builder(ki.Kind)(r.Context(), s, id, st)
	if err != nil {
		a.errorPage(w, r, statusOf(err), opsflow.ErrorMessage(err))
		return
	}
	a.answerRefused(w, r, s, out, st, status, recordURL(ki, id))
}

// answerRefused answers a refused post of a form of page out; home is
// where to go if the form is no longer on it.
func (a *App) answerRefused(w http.ResponseWriter, r *http.Request, s *session, out *pageOut, st *formState, status int, home string) {
	var form *Form
	for _, f := range out.forms {
		if f.ID == st.ID {
			form = f
		}
	}
	if form == nil {
		// The form is gone from the page: the record moved on meanwhile.
		msg := "Not applied"
		if st.Error != nil {
			msg += ": " + st.Error.Message
		}
		a.setFlash(w, r, "conflict", msg)
		a.navigate(w, r, home)
		return
	}
	if isHTMX(r) {
		a.renderForm(w, r, status, form)
		return
	}
	a.render(w, r, status, out.page, a.frame(w, r, s, out.title, out.nav), out.data)
}

// navigate sends the browser to a page after a post: htmx fetches it and
// swaps the body (no full reload), a plain form follows a 303.
func (a *App) navigate(w http.ResponseWriter, r *http.Request, to string) {
	if isHTMX(r) {
		loc, _ := json.Marshal(map[string]string{"path": to, "target": "body"})
		w.Header().Set("HX-Location", string(loc))
		w.WriteHeader(http.StatusOK)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// safeBack is a form's _back: a local path, or none.
func safeBack(b string) string {
	if b == "" {
		return ""
	}
	return safeNext(b)
}

// asError is err as the API's error shape.
func asError(err error) *opsflow.Error {
	var oe *opsflow.Error
	if errors.As(err, &oe) {
		return oe
	}
	return &opsflow.Error{Code: opsflow.EINTERNAL, Message: "internal error"}
}

// ---- forms posted to an API route of their own

// apiPost is a form posted to an API route that is not a process's step
// (start a process, run a report, record a measurement, save settings).
type apiPost struct {
	method string
	route  string // as the API's document names it, for the body's type
	path   string // the route with its parameters filled in
	noBody bool   // the route takes no body: a button alone (send again, revoke)
	// page rebuilds the form's page with a refused post on it; home is
	// where to go when the form is no longer there.
	page func(ctx context.Context, st *formState) (*pageOut, error)
	home string
	// check is what the web app checks itself before sending (a new
	// password typed twice alike); adjust completes the body.
	check  func(vals url.Values) error
	adjust func(body map[string]any)
	// done says what was done and where to go next.
	done func(ans answer) (msg, to string)
	// shown, when set, is the page that answers a success itself, in
	// place of done's message and redirect: the page showing a new
	// token's secret, which must reach no cookie and no later page.
	shown func(ctx context.Context, ans answer) (*pageOut, error)
	// header goes with the request (If-None-Match: * for a create only).
	header http.Header
}

// leftOut puts v at path (dotted: "preferences.webhook_secret") in a
// form's body when the form left it out, making the objects on the way:
// for an input whose emptiness means something the API would otherwise
// read as "unchanged" (no box ticked, an address emptied).
func leftOut(body map[string]any, path string, v any) {
	head, rest, nested := strings.Cut(path, ".")
	if !nested {
		if _, ok := body[head]; !ok {
			body[head] = v
		}
		return
	}
	m, _ := body[head].(map[string]any)
	if m == nil {
		m = map[string]any{}
		body[head] = m
	}
	leftOut(m, rest, v)
}

// submit turns a posted form into the route's body (its type from the
// API's own route table) and sends it as the signed-in person; a refusal
// is put back on the form, next to the input it names.
func (a *App) submit(w http.ResponseWriter, r *http.Request, s *session, p apiPost) {
	vals := r.PostForm
	state := &formState{ID: vals.Get("_form"), Values: vals}
	t := a.API.Body(p.method, p.route)
	if (t == nil) != p.noBody {
		a.errorPage(w, r, http.StatusInternalServerError, "internal error")
		return
	}
	key := ""
	if p.method == http.MethodPost { // the API keys POSTs only
		key = vals.Get("_key")
	}
	var body []byte
	var err error
	if t != nil {
		body, state.Renames, err = decodeForm(t, vals)
	}
	if err == nil && p.check != nil {
		err = p.check(vals)
	}
	if err == nil && p.adjust != nil {
		body, err = adjustBody(body, p.adjust)
	}
	var ans answer
	if err != nil {
		state.Error, state.Key = asError(err), vals.Get("_key") // not sent: the key is unused
		ans.Status = http.StatusUnprocessableEntity
		if st := statusOf(err); st != http.StatusInternalServerError {
			ans.Status = st // a check's conflict (an ID taken) or unavailable API
		}
	} else {
		ans = a.callWith(r.Context(), s, p.method, p.path, nil, body, key, p.header)
		if !ans.ok() {
			state.Error = ans.err()
			if ans.Status == http.StatusServiceUnavailable {
				state.Key = vals.Get("_key")
			}
		}
	}
	if ans.ok() && p.shown != nil {
		out, err := p.shown(r.Context(), ans)
		if err != nil {
			a.errorPage(w, r, statusOf(err), opsflow.ErrorMessage(err))
			return
		}
		a.render(w, r, ans.Status, out.page, a.frame(w, r, s, out.title, out.nav), out.data)
		return
	}
	if ans.ok() {
		msg, to := p.done(ans)
		a.setFlash(w, r, "ok", msg)
		a.navigate(w, r, to)
		return
	}
	out, err := p.page(r.Context(), state)
	if err != nil {
		a.errorPage(w, r, statusOf(err), opsflow.ErrorMessage(err))
		return
	}
	a.answerRefused(w, r, s, out, state, ans.Status, p.home)
}

// adjustBody lets f complete a decoded body.
func adjustBody(body []byte, f func(map[string]any)) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("web: adjust form: %w", err)
	}
	f(m)
	return json.Marshal(m)
}

// ---- starting a process

// start serves a "start" form (report a CAPA, submit a Kaizen idea,
// start an onboarding): the API's create route.
func (a *App) start(w http.ResponseWriter, r *http.Request, s *session, ki opsflow.KindInfo, list func(ctx context.Context, st *formState) (*pageOut, error)) {
	apiPath := "/v1/" + ki.Collection
	a.submit(w, r, s, apiPost{method: http.MethodPost, route: apiPath, path: apiPath, page: list, home: "/" + ki.Collection,
		done: func(ans answer) (string, string) {
			var rec struct {
				ID    string `json:"id"`
				Title string `json:"title"`
			}
			_ = json.Unmarshal(ans.Body, &rec)
			return fmt.Sprintf("%s started: %s.", ki.Title, strings.TrimSpace(rec.Title+" "+rec.ID)), recordURL(ki, rec.ID)
		}})
}
