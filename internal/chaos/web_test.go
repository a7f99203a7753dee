package chaos

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"
)

// webPages are the web app's pages a signed-in auditor reads during a
// fault: each needs the database (the session, then the page's data).
var webPages = []string{"/", "/capas", "/kpis", "/reports", "/audit"}

// webClient is a person signed in to the web app (a session cookie), as a
// browser would be: the fault suite checks the pages, not only the API,
// never answer 500 when a part is down.
type webClient struct {
	base string
	hc   *http.Client
}

// signInWeb signs in to the web app at base with an API token, through
// its sign-in form.
func signInWeb(ctx context.Context, base, token string) (*webClient, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	w := &webClient{base: base, hc: &http.Client{Jar: jar, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	status, body, err := w.do(ctx, http.MethodGet, "/signin", nil)
	if err != nil || status != http.StatusOK {
		return nil, fmt.Errorf("GET /signin: %d %v", status, err)
	}
	_, rest, _ := strings.Cut(body, `name="_pre" value="`)
	pre, _, _ := strings.Cut(rest, `"`)
	status, _, err = w.do(ctx, http.MethodPost, "/signin", url.Values{"_pre": {pre}, "token": {token}, "next": {"/"}})
	if err != nil || status != http.StatusSeeOther {
		return nil, fmt.Errorf("POST /signin: %d %v", status, err)
	}
	return w, nil
}

func (w *webClient) do(ctx context.Context, method, path string, form url.Values) (int, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, w.base+path, body)
	if err != nil {
		return 0, "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := w.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// probe reads every page once and returns how many answered each status;
// a 500 (or a page that does not answer) is a problem, named with when.
func (w *webClient) probe(ctx context.Context, when string, probs *problems) map[int]int {
	seen := map[int]int{}
	for _, p := range webPages {
		status, body, err := w.do(ctx, http.MethodGet, p, nil)
		switch {
		case err != nil:
			probs.add(catAnswer, "web page %s %s: no answer: %v", p, when, err)
		case status >= 500 && status != http.StatusServiceUnavailable:
			probs.add(cat500, "web page %s %s answered %d: %s", p, when, status, brief([]byte(body)))
		}
		seen[status]++
	}
	return seen
}

// The web app while PostgreSQL is down: every page answers 503 (the
// session cannot be read, nor the page's data), none 500; and once it is
// back, the same session reads every page again. startWebProbe signs in
// before the fault; a nil client (the sign-in failed, and said so) checks
// nothing.
func startWebProbe(ctx context.Context, r *scenarioRun) *webClient {
	w, err := signInWeb(ctx, r.st.apis[0].url(), r.st.tokens["carol"])
	if err != nil {
		r.probs.add(catCheck, "sign in to the web app before the fault: %v", err)
		return nil
	}
	return w
}

func (w *webClient) during(ctx context.Context, r *scenarioRun) {
	if w == nil {
		return
	}
	seen := w.probe(ctx, "while PostgreSQL is down", &r.probs)
	if seen[http.StatusServiceUnavailable] == 0 {
		r.probs.add(catAnswer, "no web page answered 503 while PostgreSQL was down: %v", seen)
	}
}

func (w *webClient) after(ctx context.Context, r *scenarioRun) {
	if w == nil {
		return
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var probs problems
		seen := w.probe(ctx, "after PostgreSQL came back", &probs)
		if seen[http.StatusOK] == len(webPages) {
			return
		}
		if time.Now().After(deadline) {
			for cat, lines := range probs {
				for _, l := range lines {
					r.probs.add(cat, "%s", l)
				}
			}
			r.probs.add(catAnswer, "30 s after PostgreSQL came back the web pages answered %v (want 200 for all %d)", seen, len(webPages))
			return
		}
		time.Sleep(time.Second)
	}
}
