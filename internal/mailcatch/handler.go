package mailcatch

import (
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
	"strconv"
)

// Handler shows the received messages, newest first:
//
//	GET /               an HTML list (time, to, subject); ?format=json for JSON
//	GET /{id}           one message: headers, text part, HTML part in a sandboxed frame; ?format=json
//	GET /{id}/html      the HTML part alone, sandboxed
//	GET /{id}/raw       the message as received
//
// Links are relative, so the handler works under any prefix when mounted
// with a trailing slash, e.g.
//
//	mux.Handle("/dev/mail/", http.StripPrefix("/dev/mail", catcher.Handler()))
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.list)
	mux.HandleFunc("GET /{id}", s.show)
	mux.HandleFunc("GET /{id}/html", s.showHTML)
	mux.HandleFunc("GET /{id}/raw", s.showRaw)
	return mux
}

// pageCSP keeps the catcher's own pages inert: no scripts at all, only
// inline styles, and frames from this origin (the HTML part).
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; frame-ancestors 'self'"

// partCSP serves a mail's HTML as a sandboxed, unique origin: a mail that
// carries script (or a template that forgot to escape) cannot reach the
// cookies of the app the catcher is mounted in, and loads nothing remote.
const partCSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	msgs := s.Messages()
	slices.Reverse(msgs) // newest first
	if r.URL.Query().Get("format") == "json" {
		writeJSON(w, msgs)
		return
	}
	render(w, listPage, msgs)
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) (Message, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		http.NotFound(w, r)
		return Message{}, false
	}
	m, ok := s.Message(id)
	if !ok {
		http.NotFound(w, r)
	}
	return m, ok
}

func (s *Server) show(w http.ResponseWriter, r *http.Request) {
	m, ok := s.lookup(w, r)
	if !ok {
		return
	}
	if r.URL.Query().Get("format") == "json" {
		writeJSON(w, m)
		return
	}
	render(w, showPage, m)
}

func (s *Server) showHTML(w http.ResponseWriter, r *http.Request) {
	m, ok := s.lookup(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Security-Policy", partCSP)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(m.HTML))
}

func (s *Server) showRaw(w http.ResponseWriter, r *http.Request) {
	m, ok := s.lookup(w, r)
	if !ok {
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(m.Raw)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func render(w http.ResponseWriter, t *template.Template, data any) {
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := t.Execute(w, data); err != nil {
		http.Error(w, "mailcatch: render: "+err.Error(), http.StatusInternalServerError)
	}
}

const style = `<style>
body{font-family:system-ui,sans-serif;margin:24px;color:#1f2328}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #d0d7de;vertical-align:top}
pre{white-space:pre-wrap;background:#f6f8fa;padding:12px;border-radius:6px}
iframe{width:100%;height:600px;border:1px solid #d0d7de;border-radius:6px}
.muted{color:#57606a}
</style>`

var listPage = template.Must(template.New("list").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<title>Mail catcher ({{len .}})</title>` + style + `</head>
<body>
<h1>Mail catcher</h1>
<p class="muted">{{len .}} message(s), newest first; this page refreshes every 5 seconds. <a href="?format=json">JSON</a></p>
<table>
<thead><tr><th scope="col">Received (UTC)</th><th scope="col">To</th><th scope="col">Subject</th></tr></thead>
<tbody>
{{- range .}}
<tr><td>{{.Received.Format "2006-01-02 15:04:05"}}</td><td>{{range $i, $to := .To}}{{if $i}}, {{end}}{{$to}}{{end}}</td><td><a href="{{.ID}}">{{if .Subject}}{{.Subject}}{{else}}(no subject){{end}}</a></td></tr>
{{- else}}
<tr><td colspan="3" class="muted">No mail yet.</td></tr>
{{- end}}
</tbody></table>
</body></html>
`))

var showPage = template.Must(template.New("show").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.Subject}}</title>` + style + `</head>
<body>
<p><a href="./">&larr; All messages</a> · <a href="{{.ID}}?format=json">JSON</a> · <a href="{{.ID}}/raw">Raw</a></p>
<h1>{{if .Subject}}{{.Subject}}{{else}}(no subject){{end}}</h1>
<table>
<tr><th scope="row">Received (UTC)</th><td>{{.Received.Format "2006-01-02 15:04:05"}}</td></tr>
<tr><th scope="row">Envelope from</th><td>{{.From}}</td></tr>
<tr><th scope="row">Envelope to</th><td>{{range $i, $to := .To}}{{if $i}}, {{end}}{{$to}}{{end}}</td></tr>
<tr><th scope="row">From</th><td>{{.HeaderFrom}}</td></tr>
<tr><th scope="row">To</th><td>{{.HeaderTo}}</td></tr>
<tr><th scope="row">Message-ID</th><td>{{.MessageID}}</td></tr>
<tr><th scope="row">Parts</th><td>{{range $i, $t := .ContentTypes}}{{if $i}}, {{end}}{{$t}}{{end}}</td></tr>
{{- with .ParseError}}<tr><th scope="row">Parse error</th><td>{{.}}</td></tr>{{end}}
</table>
{{- if .Text}}
<h2>Text part</h2>
<pre>{{.Text}}</pre>
{{- end}}
{{- if .HTML}}
<h2>HTML part</h2>
<iframe sandbox src="{{.ID}}/html" title="HTML part of the message"></iframe>
{{- end}}
</body></html>
`))
