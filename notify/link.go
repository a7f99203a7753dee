package notify

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/opsflow/opsflow"
)

// InboxPath is the web app's page of a person's tasks across processes
// (My work), where a digest links to.
const InboxPath = "/"

// KindReportProcess is the "process" of a report message: a monthly KPI
// report, at /reports/{id}.
const KindReportProcess opsflow.Kind = "report"

// Path returns the web app's path of a process, with "#task-{id}" when
// taskID is set, or "" for an unknown process kind. It is the one place
// that knows the app's routes: when a route moves, only this changes.
func Path(kind opsflow.Kind, processID, taskID string) string {
	var collection string
	switch kind {
	case opsflow.KindCAPA:
		collection = "capas"
	case opsflow.KindKaizen:
		collection = "kaizen"
	case opsflow.KindOnboarding:
		collection = "onboardings"
	case KindReportProcess:
		collection = "reports"
	default:
		return ""
	}
	p := "/" + collection + "/" + url.PathEscape(processID)
	if kind == KindReportProcess {
		p += ".html" // the report as its page shows it; the mail carries the PDF
	}
	if taskID != "" {
		p += "#task-" + url.PathEscape(taskID)
	}
	return p
}

// links builds absolute links under the public base URL.
type links struct{ base string }

// parseBase checks the public base URL and returns it without a trailing
// slash. Only absolute http(s) URLs are accepted: a link in a mail must work
// outside the server's own network namespace.
func parseBase(raw string) (links, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return links{}, fmt.Errorf("notify: base URL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return links{}, fmt.Errorf("notify: base URL %q must be an absolute http(s) URL", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return links{}, fmt.Errorf("notify: base URL %q must have no query, fragment or user info", raw)
	}
	return links{base: strings.TrimRight(u.String(), "/")}, nil
}

func (l links) process(p Process, taskID string) string {
	return l.base + Path(p.Kind, p.ID, taskID)
}

func (l links) inbox() string { return l.base + InboxPath }
