package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"mime"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opsflow/opsflow"
)

// pages are the parsed templates: each page is the layout, the partials
// and the page's own content.
type pages struct {
	byName   map[string]*template.Template
	partials *template.Template
}

// pageNames lists the pages, one templates/<name>.html each.
var pageNames = []string{"signin", "error", "work", "capas", "capa", "kaizen-board", "kaizen", "onboardings", "hire", "kpis", "kpi", "reports", "audit", "settings", "notifications", "admin", "users", "user", "issued"}

func mustParsePages() *pages {
	p := &pages{byName: map[string]*template.Template{}}
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html"))
	p.partials = base
	for _, name := range pageNames {
		t := template.Must(template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html"))
		p.byName[name] = t
	}
	return p
}

// layout is what every page's frame shows: who is signed in, the
// navigation with the inbox's counts, a one-time message.
type layout struct {
	Title    string
	Nav      string
	User     *opsflow.User
	CSRF     string
	Inbox    opsflow.InboxCount
	Flash    *flash
	CanAudit bool
	IsAdmin  bool // the Admin page is linked for administrators only
	Admin    opsflow.AdminCount
	Now      time.Time
	Main     any
}

// soon is how far ahead "due soon" looks.
const soon = 72 * time.Hour

// frame builds the layout of a signed-in page.
func (a *App) frame(w http.ResponseWriter, r *http.Request, s *session, title, nav string) *layout {
	now := a.Now().UTC()
	l := &layout{Title: title, Nav: nav, User: &s.User, CSRF: s.CSRF, Flash: a.takeFlash(w, r),
		CanAudit: s.User.HasAny(opsflow.RolesAudit...), IsAdmin: s.User.HasAny(opsflow.RoleAdmin), Now: now}
	if n, err := a.Store.InboxCount(r.Context(), s.User, now, soon); err == nil {
		l.Inbox = n
	} else {
		a.Logger.WarnContext(r.Context(), "web: inbox count", "err", err)
	}
	if l.IsAdmin {
		if n, err := a.Store.AdminCount(r.Context()); err == nil {
			l.Admin = n
		} else {
			a.Logger.WarnContext(r.Context(), "web: admin count", "err", err)
		}
	}
	return l
}

// render writes a whole page. It renders into a buffer first, so a
// template failure is a clean 500 rather than half a page.
func (a *App) render(w http.ResponseWriter, r *http.Request, status int, page string, l *layout, data any) {
	l.Main = data
	var buf bytes.Buffer
	if err := a.pages.byName[page].ExecuteTemplate(&buf, "layout.html", l); err != nil {
		a.Logger.ErrorContext(r.Context(), "web: render", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderForm writes one form alone, for htmx to swap in place.
func (a *App) renderForm(w http.ResponseWriter, r *http.Request, status int, f *Form) {
	var buf bytes.Buffer
	if err := a.pages.partials.ExecuteTemplate(&buf, "form", f.view()); err != nil {
		a.Logger.ErrorContext(r.Context(), "web: render form", "form", f.ID, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage answers with a page saying what went wrong.
func (a *App) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	l := &layout{Title: http.StatusText(status), Now: a.Now().UTC()}
	if s, err := a.session(r); err == nil {
		l = a.frame(w, r, s, http.StatusText(status), "")
	}
	a.render(w, r, status, "error", l, struct {
		Status  int
		Message string
	}{status, msg})
}

// ---- assets

// assetVersion is a content hash per asset: URLs carry it, so browsers
// cache an asset for good and a new binary's assets are fetched anew.
var assetVersion = func() map[string]string {
	out := map[string]string{}
	_ = fs.WalkDir(assetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assetFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[path.Base(p)] = hex.EncodeToString(sum[:6])
		return nil
	})
	return out
}()

func assetURL(name string) string { return "/assets/" + name + "?v=" + assetVersion[name] }

func (a *App) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	v, ok := assetVersion[name]
	if !ok {
		a.notFound(w, r)
		return
	}
	b, err := assetFS.ReadFile("assets/" + name)
	if err != nil {
		a.notFound(w, r)
		return
	}
	if r.URL.Query().Get("v") == v {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
	w.Header().Set("ETag", `"`+v+`"`)
	_, _ = w.Write(b)
}

// ---- template functions

var funcs = template.FuncMap{
	"asset": assetURL,
	"utc":   utc,
	"utcp": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return utc(*t)
	},
	"date": func(t time.Time) string { return t.UTC().Format("2 Jan 2006") },
	"iso":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"due":  dueText,
	"label": func(s any) string {
		return strings.ReplaceAll(fmt.Sprint(s), "_", " ")
	},
	"pct": func(f float64) string { return fmt.Sprintf("%.0f %%", f) },
	"num": num,
	"nump": func(f *float64) string {
		if f == nil {
			return "—"
		}
		return num(*f)
	},
	"join":  func(xs []string, sep string) string { return strings.Join(xs, sep) },
	"roles": roleList,
	"who": func(t opsflow.Task) string {
		if t.Assignee != "" {
			return t.Assignee
		}
		if t.Role != "" {
			return "any " + string(t.Role)
		}
		return ""
	},
	"has": func(xs []string, x string) bool { return slices.Contains(xs, x) },
	"add": func(a, b int) int { return a + b },
	"form": func(f *Form) formView {
		return f.view()
	},
	"mul100": func(f float64) float64 { return f * 100 },
	// folded are the task steps kept out of the way: the everyday ones
	// (start, complete) are in view.
	"folded": func(verb string) bool { return verb == "block" || verb == "skip" || verb == "reassign" },
	"clip": func(s string) string {
		if r := []rune(s); len(r) > 240 {
			return string(r[:240]) + "…"
		}
		return s
	},
	"tasktable": func(tasks []opsflow.Task, forms map[string][]*Form, now time.Time) taskTable {
		return taskTable{Tasks: tasks, Forms: forms, Now: now}
	},
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12] + "…"
		}
		return s
	},
}

// taskTable is what the "tasks" partial shows: tasks and their forms.
type taskTable struct {
	Tasks []opsflow.Task
	Forms map[string][]*Form
	Now   time.Time
}

// num writes a figure as people write it: 36500, 2.65, -51.82.
func num(f float64) string {
	return strconv.FormatFloat(math.Round(f*1e4)/1e4, 'f', -1, 64)
}

func utc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// dueText says how a due date stands at now: "overdue by 3 days", "due in
// 5 hours", "due 14 Dec".
func dueText(due *time.Time, now time.Time) string {
	if due == nil {
		return "no due date"
	}
	d := due.Sub(now)
	span := func(d time.Duration) string {
		switch {
		case d < time.Hour:
			return plural(int(math.Max(1, math.Round(d.Minutes()))), "minute")
		case d < 48*time.Hour:
			return plural(int(math.Round(d.Hours())), "hour")
		}
		return plural(int(math.Round(d.Hours()/24)), "day")
	}
	switch {
	case d < 0:
		return "overdue by " + span(-d)
	case d < 14*24*time.Hour:
		return "due in " + span(d)
	}
	return "due " + due.UTC().Format("2 Jan 2006")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
