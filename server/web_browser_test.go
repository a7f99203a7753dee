package server_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/browser"
	"github.com/opsflow/opsflow/postgres"
	"github.com/opsflow/opsflow/server"
)

// The web app in a real browser (headless Chromium) against the real stack:
// Temporal, PostgreSQL, the worker and the API, as newApp runs them. People
// sign in with their tokens and use only the pages.

// tab is one person's browser tab.
type tab struct {
	t    *testing.T
	b    *browser.Browser
	ctx  context.Context
	base string
	user string
}

// browse signs user in through the sign-in page.
func (a *app) browse(t *testing.T, b *browser.Browser, user string) *tab {
	t.Helper()
	tb := &tab{t: t, b: b, ctx: b.Tab(t), base: a.URL, user: user}
	tb.open("/signin")
	tb.do(chromedp.SendKeys(chromedp.CSS("#token"), Token(user)))
	tb.submitWith(`form[action="/signin"] button[type=submit]`)
	if !tb.has(".me .name") {
		t.Fatalf("%s is not signed in: %s", user, tb.text("main"))
	}
	return tb
}

func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v (at %s)", tb.user, err, tb.location())
	}
}

func eval[T any](tb *tab, js string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.user, js, err)
	}
	return v
}

func (tb *tab) location() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	l, _ := chromedp.Run(ctx, chromedp.Location())
	return l
}

func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(tb.base+path), chromedp.WaitReady(chromedp.CSS("body")))
}

// has reports whether the page has an element matching css.
func (tb *tab) has(css string) bool {
	tb.t.Helper()
	return eval[bool](tb, fmt.Sprintf("document.querySelector(%q) !== null", css))
}

// text is the visible text of the first element matching css.
func (tb *tab) text(css string) string {
	tb.t.Helper()
	return eval[string](tb, fmt.Sprintf("(document.querySelector(%q) || {innerText: ''}).innerText", css))
}

// fill sets the inputs of a form, by input name; a value "@check" ticks
// a checkbox, "@yes"/"@no" picks a yes/no radio.
func (tb *tab) fill(form string, fields ...string) {
	tb.t.Helper()
	for i := 0; i+1 < len(fields); i += 2 {
		sel := fmt.Sprintf("#%s [name=%q]", form, fields[i])
		switch v := fields[i+1]; v {
		case "@check":
			tb.do(chromedp.Click(chromedp.CSS(sel)))
		case "@yes", "@no":
			tb.do(chromedp.Click(chromedp.CSS(fmt.Sprintf("#%s [name=%q][value=%q]", form, fields[i], map[string]string{"@yes": "true", "@no": "false"}[v]))))
		default:
			if !tb.has(sel) {
				tb.t.Fatalf("%s: no input %s on %s", tb.user, sel, tb.location())
			}
			tb.do(chromedp.SetValue(chromedp.CSS(sel), v))
		}
	}
}

// submit presses a form's button and waits for the answer to be on the
// page: htmx swapped the form (a refusal) or the page (a step taken).
func (tb *tab) submit(form string) {
	tb.t.Helper()
	tb.submitWith("#" + form + " button[type=submit]")
}

func (tb *tab) submitWith(button string) {
	tb.t.Helper()
	_ = eval[bool](tb, fmt.Sprintf(`(() => { const b = document.querySelector(%q); window.__stale = [document.querySelector('main'), b && b.closest('form')].filter(Boolean); return true })()`, button))
	tb.do(chromedp.Click(chromedp.CSS(button)))
	// The answer replaces the form (htmx swapped a refusal in), the page's
	// main (htmx swapped the next page in) or the whole document (a plain
	// post): wait until the marked elements are gone.
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		gone, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === 'complete' && (!window.__stale || window.__stale.some(e => !e.isConnected))`))
		cancel()
		if err == nil && gone {
			tb.do(chromedp.WaitReady(chromedp.CSS("body")))
			return
		}
		last = err // a navigation in flight: ask again
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({htmx: typeof htmx, url: location.href, ready: document.readyState,
		stale: (window.__stale||[]).map(e => e.isConnected), form: ((window.__stale||[])[1]||{outerHTML:''}).outerHTML.slice(0, 800)})`))
	tb.t.Fatalf("%s: no answer to %s: %v\n%s", tb.user, button, last, state)
}

// flash is the page's one-time message.
func (tb *tab) flash() string { return tb.text(".flash") }

// eventually reloads path until the page has css.
func (tb *tab) eventually(path, css string, within time.Duration) {
	tb.t.Helper()
	deadline := time.Now().Add(within)
	for {
		tb.open(path)
		if tb.has(css) {
			return
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("%s: %s never showed %s: %s", tb.user, path, css, tb.text("main"))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// shot takes a screenshot of the page, after checking it for the
// accessibility faults a machine can find.
func (tb *tab) shot(name string) {
	tb.t.Helper()
	tb.checkA11y(name)
	tb.b.Shot(tb.t, tb.ctx, name)
}

// checkA11y fails on what makes a page unusable with a screen reader or a
// keyboard: a form control without a label, an image without a text, a
// button without a name, duplicate IDs (labels and errors point by ID),
// no language, not exactly one h1, and an error not tied to its field.
func (tb *tab) checkA11y(name string) {
	tb.t.Helper()
	problems := eval[[]string](tb, `(() => {
		const out = [];
		const named = el => el.labels && el.labels.length > 0 || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
		document.querySelectorAll('input:not([type=hidden]), select, textarea').forEach(el => { if (!named(el)) out.push('no label: ' + (el.name || el.id)); });
		document.querySelectorAll('img').forEach(el => { if (!el.getAttribute('alt')) out.push('no alt: ' + el.src); });
		document.querySelectorAll('button').forEach(el => { if (!el.textContent.trim() && !el.getAttribute('aria-label')) out.push('unnamed button'); });
		const seen = {};
		document.querySelectorAll('[id]').forEach(el => { if (seen[el.id]) out.push('duplicate id: ' + el.id); seen[el.id] = true; });
		if (!document.documentElement.lang) out.push('no lang');
		const h1 = document.querySelectorAll('h1').length;
		if (h1 !== 1) out.push(h1 + ' h1');
		document.querySelectorAll('[aria-invalid=true]').forEach(el => {
			const by = (el.getAttribute('aria-describedby') || '') + ' ' + ((el.closest('[aria-describedby]') || {getAttribute: () => ''}).getAttribute('aria-describedby') || '');
			if (!by.split(' ').some(id => id && document.getElementById(id) && document.getElementById(id).classList.contains('error'))) out.push('error not tied to ' + (el.name || el.id));
		});
		return out;
	})()`)
	for _, p := range problems {
		tb.t.Errorf("%s: accessibility: %s", name, p)
	}
}

// screen is what the viewport shows.
func (tb *tab) screen(name string) { tb.b.ShotViewport(tb.t, tb.ctx, name) }

var capaIDRE = regexp.MustCompile(`/capas/(capa-[0-9a-f]+)`)

// Two people take a CAPA from report to signed closure through the pages
// alone: alice owns it, bob approves, decides, verifies and signs.
func TestWebCAPAFromReportToSignedClosure(t *testing.T) {
	a := newAppWith(t, func(c *server.Config) { c.Day = 2 * time.Second })
	b := browser.Start(t)
	// A wrong token is refused on the sign-in page, and never shown back.
	stranger := &tab{t: t, b: b, ctx: b.Tab(t), base: a.URL, user: "stranger"}
	stranger.open("/signin")
	stranger.do(chromedp.SendKeys(chromedp.CSS("#token"), "opsf_not-a-token"))
	stranger.submitWith(`form[action="/signin"] button[type=submit]`)
	if e := stranger.text(".form-error"); !strings.Contains(e, "not valid") || strings.Contains(eval[string](stranger, `document.documentElement.outerHTML`), "opsf_not-a-token") {
		t.Errorf("a wrong token: %q", e)
	}
	stranger.shot("signin")
	alice, bob := a.browse(t, b, "alice"), a.browse(t, b, "bob")

	alice.open("/capas")
	alice.do(chromedp.Click(chromedp.CSS("details.start summary")))
	alice.shot("capa-register-report-form")
	// Nothing typed: the API's 422 names the field, and the form shows it there.
	alice.submit("report")
	if e := alice.text("#f-report-title-err"); !strings.Contains(e, "title is required") {
		t.Fatalf("no field error on the title: %q", e)
	}
	alice.fill("report", "title", "Housing cracks at the boss", "source.type", "complaint", "source.refs", "CMP-1042",
		"problem.what", "Three housings cracked at the screw boss", "problem.how_many", "3",
		"containment[0].description", "Quarantine lot 42", "containment[0].owner", "alice", "containment[0].due_days", "2")
	alice.submit("report")
	m := capaIDRE.FindStringSubmatch(alice.location())
	if m == nil {
		t.Fatalf("not on a CAPA page: %s (%s)", alice.location(), alice.text("main"))
	}
	id := m[1]
	page := "/capas/" + id

	// A bad value: the field says so, and what was typed stays.
	alice.fill("triage", "severity", "9", "occurrence", "3", "detection", "4", "comment", "three field returns")
	alice.submit("triage")
	if e := alice.text("#f-triage-severity-err"); !strings.Contains(e, "from 1 to 5") {
		t.Fatalf("no severity error: %q", e)
	}
	if v := eval[string](alice, `document.querySelector('#f-triage-comment').value`); v != "three field returns" {
		t.Errorf("the comment typed is lost: %q", v)
	}
	if !eval[bool](alice, `document.activeElement && document.activeElement.id === 'f-triage-severity'`) {
		t.Error("the invalid field does not have the focus")
	}
	alice.shot("capa-field-error")
	// Meanwhile bob scores it: alice's form is out of date. The 409 says
	// where the CAPA stands and the page shows it as it is now.
	a.Must(http.StatusOK, "bob", "POST", "/v1/capas/"+id+"/triage", map[string]any{"severity": 4, "occurrence": 3, "detection": 4})
	alice.fill("triage", "severity", "4")
	alice.submit("triage")
	if f := alice.flash(); !strings.Contains(f, "Not applied") || !strings.Contains(f, "is triage now") {
		t.Fatalf("a stale form: %q", f)
	}
	if alice.has("#triage") || !strings.Contains(alice.text(".risk"), "RPN 48") {
		t.Errorf("the page was not reloaded: triage form %v, risk %q", alice.has("#triage"), alice.text(".risk"))
	}

	// Who may not, does not see the form: the owner cannot decide, nor an
	// auditor, nor another owner who is not this CAPA's.
	if alice.has("#decide") {
		t.Error("the owner is offered the decision")
	}
	for _, who := range []string{"carol", "dave"} {
		other := a.browse(t, b, who)
		other.open(page)
		if other.has("#decide") || other.has("#add-containment") || other.has("#cancel") {
			t.Errorf("%s is offered a step of someone else's", who)
		}
		switch who {
		case "carol": // an auditor reads every CAPA
			if !strings.Contains(other.text("#now"), "Nothing for you") {
				t.Errorf("%s: %s", who, other.text("#now"))
			}
		case "dave": // another owner, no part in this CAPA: not even its page
			if main := other.text("main"); !strings.Contains(main, "no capa") {
				t.Errorf("%s sees a CAPA that is not theirs: %.200s", who, main)
			}
		}
		if who == "carol" {
			other.shot("capa-auditor-view")
		}
	}

	bob.open(page)
	bob.fill("decide", "capa_required", "@yes", "rationale", "customer impact, recurring",
		"signature.printed_name", "Bob Chen", "signature.signing_password", SigningPassword("bob"))
	bob.submit("decide")
	if !strings.Contains(strings.ToLower(bob.text(".stepper [aria-current=step]")), "containment") {
		t.Fatalf("after the decision: %s", bob.text(".stepper"))
	}

	// alice completes her containment action from My work.
	alice.open("/")
	alice.shot("my-work")
	if !strings.Contains(alice.text("main"), "Quarantine lot 42") {
		t.Fatalf("my work lacks the containment action: %s", alice.text("main"))
	}
	done := eval[string](alice, `[...document.querySelectorAll('form.inline')].find(f => f.action.endsWith('/complete') && f.action.includes('containment')).id`)
	alice.fill(done, "evidence", "QN-881")
	alice.submit(done)
	if !strings.Contains(alice.location(), "/") || !strings.Contains(alice.flash(), "Complete a task: done") {
		t.Fatalf("complete from my work: %s %q", alice.location(), alice.flash())
	}

	bob.open(page)
	bob.fill("verify-containment", "comment", "lot 42 quarantined, 0 cracked units in stock")
	bob.submit("verify-containment")

	alice.open(page)
	alice.fill("record-investigation", "problem.where", "line 2, station 4", "problem.when", "week 47", "method", "5_whys",
		"whys[0].question", "Why did it crack?", "whys[0].answer", "over-torqued", "whys[0].evidence", "torque log",
		"whys[1].question", "Why over-torqued?", "whys[1].answer", "tool out of calibration",
		"root_causes[0].statement", "torque tool out of calibration", "root_causes[0].category", "machine", "root_causes[0].verified", "@check",
		"root_causes[0].evidence", "CAL-2231", "escape_point", "final inspection does not check torque", "extent_review", "lines 1-4 checked: none")
	alice.submit("record-investigation")
	if f := alice.flash(); !strings.Contains(f, "done") {
		t.Fatalf("investigation: %q %s", f, alice.text("#record-investigation"))
	}
	alice.fill("propose-plan", "actions[0].kind", "corrective", "actions[0].description", "calibrate torque tools", "actions[0].owner", "alice",
		"actions[0].due_days", "5", "effectiveness.metric", "crack rate", "effectiveness.criterion", "0 cracks in 3 lots", "effectiveness.window_days", "1")
	alice.submit("propose-plan")

	bob.open(page)
	bob.fill("approve-plan", "approved", "@yes", "comment", "ok", "signature.printed_name", "Bob Chen", "signature.signing_password", SigningPassword("bob"))
	bob.submit("approve-plan")

	alice.open(page)
	action := eval[string](alice, `document.querySelector('form[id^=complete-action]').id`)
	alice.fill(action, "evidence.text", "all 14 tools calibrated", "evidence.refs", "CAL-2240")
	alice.submit(action)

	bob.open(page)
	bob.fill("verify-implementation", "implemented_as_planned", "@yes", "no_adverse_effect", "@yes", "adverse_effect_assessment", "cycle time unchanged")
	bob.submit("verify-implementation")
	// The effectiveness window (one day of 2 s) must pass first.
	bob.eventually(page, "#record-effectiveness", time.Minute)
	bob.fill("record-effectiveness", "outcome", "effective", "data", "0 cracks in 4 lots", "evidence.text", "SPC chart", "evidence.refs", "SPC-L2",
		"signature.printed_name", "Bob Chen", "signature.signing_password", SigningPassword("bob"))
	bob.submit("record-effectiveness")

	// The signing dialog: printed name, meaning, and the signing password.
	// With the keyboard: focus the button, press Enter.
	bob.do(chromedp.Focus(chromedp.CSS("[data-dialog=sign-dialog]")), chromedp.KeyEvent("\r"))
	if !eval[bool](bob, `document.getElementById('sign-dialog').open && document.getElementById('sign-dialog').contains(document.activeElement)`) {
		t.Fatal("the signing dialog did not open with the focus in it")
	}
	bob.fill("sign-closure", "printed_name", "Bob Chen", "lessons_learned", "calibrate torque tools monthly")
	bob.screen("capa-sign-dialog")
	// A wrong signing password is refused in the dialog, which stays open.
	bob.fill("sign-closure", "signing_password", "not my password")
	bob.submit("sign-closure")
	if e := bob.text("#sign-closure .error, #sign-closure .form-error"); !strings.Contains(e, "wrong signing password") {
		t.Fatalf("a wrong signing password: %q", e)
	}
	bob.fill("sign-closure", "signing_password", SigningPassword("bob"))
	bob.submit("sign-closure")
	if !strings.Contains(bob.text(".record .meta"), "closed") {
		t.Fatalf("not closed: %s %q", bob.text(".record"), bob.flash())
	}
	sig := eval[string](bob, `[...document.querySelectorAll('.signature')].map(e => e.innerText).join('\n')`)
	for _, want := range []string{"Bob Chen", "bob", "approved for closure", "UTC", "SHA-256"} {
		if !strings.Contains(sig, want) {
			t.Errorf("the signature's manifestation lacks %q: %s", want, sig)
		}
	}
	if tl := bob.text(".timeline"); !strings.Contains(tl, "capa.signed") && !strings.Contains(tl, "capa signed") {
		t.Errorf("the timeline lacks the signature: %.300s", tl)
	}
	bob.shot("capa-closed")

	// The auditor downloads the pack from the page: the API's export.
	carol := a.browse(t, b, "carol")
	carol.open(page)
	href := eval[string](carol, `document.querySelector('.exports a').href`)
	res := a.Do("carol", "GET", "/v1/capas/"+id+"/export?format=json", nil)
	if res.Status != http.StatusOK || !strings.Contains(href, "/capas/"+id+"/export?format=json") {
		t.Errorf("export: %s, %d", href, res.Status)
	}
	// The period's pack, downloaded through the app with carol's session.
	from, to := time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly), time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	ctx, cancel := context.WithTimeout(carol.ctx, 30*time.Second)
	defer cancel()
	ids, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](fmt.Sprintf(
		`fetch('/audit/export?closed_from=%s&closed_to=%s&format=json').then(r => r.json()).then(p => p.records.map(r => r.id))`, from, to), chromedp.EvalAwaitPromise))
	if err != nil || !slices.Contains(ids, id) {
		t.Errorf("the period's pack: %v %v", ids, err)
	}
	carol.open("/audit?verify=1&stream=" + id)
	if v := carol.text(".verify"); !strings.Contains(v, "verifies") {
		t.Errorf("audit verify: %s", v)
	}
	carol.shot("audit")
}

// Someone who has never set a signing password cannot sign, and the page
// says where to set one: on their Settings page, which also keeps their
// time zone and notification preferences. Then they sign with it.
func TestWebSigningPasswordFromSettings(t *testing.T) {
	a := newApp(t)
	b := browser.Start(t)
	sam, _ := a.newSamReyes()
	id := newCAPA(a, "Burr on the housing edge")
	a.step(http.StatusOK, "alice", id, "triage", map[string]any{"severity": 4, "occurrence": 3, "detection": 4})

	tb := a.browse(t, b, sam)
	phrase := "burrs are my business " + uniq()
	decide := func() {
		tb.open("/capas/" + id)
		tb.fill("decide", "capa_required", "@yes", "rationale", "burrs on three lots", "signature.printed_name", "Sam Reyes", "signature.signing_password", phrase)
		tb.submit("decide")
	}
	decide()
	if e := tb.text("#decide .error, #decide .form-error"); !strings.Contains(e, "Settings page") {
		t.Fatalf("signing without a signing password: %q", e)
	}
	if !tb.has(`.me a[href="/settings"]`) {
		t.Error("no link to the settings at the top of the page")
	}

	tb.open("/settings")
	tb.fill("profile", "timezone", "Europe/Berlin", "preferences.email", "digest")
	tb.submit("profile")
	if f := tb.flash(); !strings.Contains(f, "saved") {
		t.Fatalf("save the settings: %q %s", f, tb.text("#profile"))
	}
	if p, err := a.DB.Profile(context.Background(), sam); err != nil || p.Timezone != "Europe/Berlin" || p.Preferences.Email != "digest" || len(p.Preferences.AlwaysImmediate) != 2 {
		t.Errorf("the profile saved: %+v %v", p, err)
	}
	tb.fill("signing-password", "new_password", phrase, "new_password_again", phrase)
	tb.submit("signing-password")
	if f := tb.flash(); !strings.Contains(f, "signing password is set") {
		t.Fatalf("set the signing password: %q %s", f, tb.text("#signing-password"))
	}
	if strings.Contains(eval[string](tb, `document.documentElement.outerHTML`), phrase) {
		t.Error("the signing password is in the page")
	}
	tb.shot("settings")

	decide()
	if !strings.Contains(strings.ToLower(tb.text(".stepper [aria-current=step]")), "containment") {
		t.Fatalf("after signing the decision: %s %q", tb.text(".stepper"), tb.text("#decide"))
	}
	if sig := tb.text(".signature"); !strings.Contains(sig, "Sam Reyes") {
		t.Errorf("the signature: %q", sig)
	}
}

var hireIDRE = regexp.MustCompile(`/onboardings/(onb-[0-9a-f]+)`)

// progress reads the hire page's progress bar.
func (tb *tab) progress() float64 {
	tb.t.Helper()
	return eval[float64](tb, `document.getElementById('hire-progress').value`)
}

// An onboarding started from the pages: its progress bar moves as HR and
// IT complete their tasks; each sees only the moves of their own tasks.
func TestWebOnboardingProgressMoves(t *testing.T) {
	a := newApp(t)
	b := browser.Start(t)
	hana, ivan := a.browse(t, b, "hana"), a.browse(t, b, "ivan")

	hana.open("/onboardings")
	hana.do(chromedp.Click(chromedp.CSS("details.start summary")))
	start := time.Now().UTC().AddDate(0, 0, 6).Format(time.DateOnly)
	hana.fill("start-onboarding", "hire.name", "Noor Haddad", "hire.email", "not-an-address", "role", "office",
		"department", "Quality", "manager_id", "maya", "start_date", start)
	hana.submit("start-onboarding")
	if e := hana.text("#f-start-onboarding-hire-email-err"); !strings.Contains(e, "e-mail") {
		t.Fatalf("no error on the e-mail: %q", e)
	}
	hana.fill("start-onboarding", "hire.email", "noor@example.com")
	hana.submit("start-onboarding")
	m := hireIDRE.FindStringSubmatch(hana.location())
	if m == nil {
		t.Fatalf("not on the hire's page: %s %s", hana.location(), hana.text("main"))
	}
	page := "/onboardings/" + m[1]
	if p := hana.progress(); p != 0 {
		t.Fatalf("progress at the start: %v", p)
	}
	// A required task cannot be skipped: the page does not offer it.
	if hana.has(`form[action$="/tasks/contract/skip"]`) {
		t.Error("a required task offers skip")
	}
	// HR's tasks are not IT's: ivan sees no move on them.
	ivan.open(page)
	if ivan.has(`form[action$="/tasks/contract/complete"]`) || !ivan.has(`form[action$="/tasks/laptop/complete"]`) {
		t.Errorf("ivan's moves: contract %v, laptop %v", ivan.has(`form[action$="/tasks/contract/complete"]`), ivan.has(`form[action$="/tasks/laptop/complete"]`))
	}
	hana.fill(m[1]+"-tasks-contract-complete", "evidence", "DOC-771")
	hana.submit(m[1] + "-tasks-contract-complete")
	after := hana.progress()
	if after <= 0 {
		t.Fatalf("progress after the contract: %v (%s)", after, hana.flash())
	}
	ivan.open(page)
	ivan.submit(m[1] + "-tasks-laptop-complete")
	if p := ivan.progress(); p <= after {
		t.Errorf("progress after the laptop: %v, before %v", p, after)
	}
	// The board shows the same progress, one row per hire.
	hana.open("/onboardings")
	row := eval[float64](hana, `[...document.querySelectorAll('table.hires tr')].find(r => r.innerText.includes('Noor Haddad')).querySelector('progress').value`)
	if row <= after {
		t.Errorf("the board's progress bar: %v", row)
	}
	hana.shot("onboarding-board")
	hana.open(page)
	hana.fill("move-start-date", "start_date", time.Now().UTC().AddDate(0, 0, 8).Format(time.DateOnly), "reason", "notice period extended")
	hana.submit("move-start-date")
	if f := hana.flash(); !strings.Contains(f, "done") {
		t.Errorf("move start: %q", f)
	}
	hana.shot("hire-page")
	// On a phone: one column, the table as cards.
	hana.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	hana.open(page)
	if w := eval[float64](hana, `document.documentElement.scrollWidth`); w > 400 {
		t.Errorf("the hire page scrolls sideways on a phone: %v px", w)
	}
	hana.screen("hire-page-phone")
	hana.open("/")
	hana.screen("my-work-phone")
}

var kaizenIDRE = regexp.MustCompile(`/kaizen/(kzn-[0-9a-f]+)`)

// A Kaizen initiative through the pages: submitted by its owner, triaged
// and approved by its sponsor, the countermeasure done, observed,
// standardised, and closed after its sustain follow-ups (days of 300 ms:
// the 90-day follow-up comes 27 s later); the A3 page shows the plan, the
// KPI, the result and the impact ledger, locked at closure.
func TestWebKaizenThroughThePages(t *testing.T) {
	a := newAppWith(t, func(c *server.Config) { c.Day = 300 * time.Millisecond })
	b := browser.Start(t)
	key := fmt.Sprintf("scrap-l4-%d", time.Now().UnixNano())
	a.Must(http.StatusCreated, "alice", "POST", "/v1/kpis", map[string]any{"key": key, "name": "Scrap rate, line 4", "unit": "%", "direction": "lower"})
	var items []map[string]any
	for i := range 12 {
		items = append(items, map[string]any{"id": fmt.Sprintf("m%d", i), "value": 5 + float64(i%3)/2, "at": time.Now().UTC().Add(-time.Duration(12-i) * time.Hour).Format(time.RFC3339)})
	}
	a.Must(http.StatusCreated, "alice", "POST", "/v1/kpis/"+key+"/measurements", map[string]any{"items": items})
	alice, bob := a.browse(t, b, "alice"), a.browse(t, b, "bob")

	alice.open("/kaizen")
	alice.do(chromedp.Click(chromedp.CSS("details.start summary")))
	target := time.Now().UTC().AddDate(0, 3, 0).Format("2006-01-02T15:04")
	alice.fill("submit-idea", "title", "Flash on cavity 1 and 2", "problem_statement", "Scrap on line 4 is 5 %, mostly flash",
		"kpi", key, "sponsor", "bob", "baseline.value", "5.5", "baseline.source", "MES, last 12 shifts", "target.value", "3", "target.date", target)
	alice.submit("submit-idea")
	m := kaizenIDRE.FindStringSubmatch(alice.location())
	if m == nil {
		t.Fatalf("not on the A3 page: %s %s", alice.location(), alice.text("main"))
	}
	page := "/kaizen/" + m[1]
	if alice.has("#triage") {
		t.Error("the owner is offered the sponsor's triage")
	}
	bob.open(page)
	bob.fill("triage", "decision", "accept", "reason", "scrap is our biggest loss")
	bob.submit("triage")

	alice.open(page)
	due := time.Now().UTC().AddDate(0, 1, 0).Format("2006-01-02T15:04")
	alice.fill("submit-plan", "current_condition", "flash on cavity 1 and 2 after 4 h", "root_causes", "vents clogged after 4 h\nno vent cleaning standard",
		"countermeasures[0].id", "vents", "countermeasures[0].title", "Clean vents every shift", "countermeasures[0].owner", "alice",
		"countermeasures[0].due", due, "experiment.hypothesis", "clean vents halve flash", "check_window_days", "5")
	alice.submit("submit-plan")
	if f := alice.flash(); !strings.Contains(f, "done") {
		t.Fatalf("plan: %q %s", f, alice.text("#submit-plan"))
	}
	bob.open(page)
	bob.fill("approve-plan", "decision", "approve", "signature.printed_name", "Bob Chen", "signature.signing_password", SigningPassword("bob"))
	bob.submit("approve-plan")

	alice.open(page)
	alice.submit(m[1] + "-tasks-c1-vents-complete")
	// Measurements in the check window, as the MES would send them.
	var check []map[string]any
	for i := range 4 {
		check = append(check, map[string]any{"id": fmt.Sprintf("c%d", i), "value": 2.5 + float64(i)/10, "at": time.Now().UTC().Format(time.RFC3339Nano)})
	}
	a.Must(http.StatusCreated, "alice", "POST", "/v1/kpis/"+key+"/measurements", map[string]any{"items": check})
	alice.open(page)
	alice.fill("record-observations", "text", "flash gone on cavity 1, rare on cavity 2")
	alice.submit("record-observations")
	alice.eventually(page, "form#act", 30*time.Second)
	alice.fill("act", "decision", "standardise", "standard.sop_ref", "SOP-MLD-12", "standard.sop_version", "4",
		"standard.roll_out", "line 5\nline 7", "standard.regression_tolerance_pct", "20",
		"signature.printed_name", "Alice Martin", "signature.meaning", "standard approved", "signature.signing_password", SigningPassword("alice"))
	alice.submit("act")
	if !strings.Contains(strings.ToLower(alice.text(".stepper [aria-current=step]")), "sustain") {
		t.Fatalf("not sustained: %s %q", alice.text(".stepper"), alice.flash())
	}
	alice.do(chromedp.Click(chromedp.CSS("details.more-steps summary")))
	alice.fill("record-impact", "id", "scrap-cost", "category", "hard_savings", "unit", "EUR", "forecast", "40000", "actual", "36500", "recurrence", "recurring")
	alice.submit("record-impact")
	if !strings.Contains(alice.text(".impact"), "36500") {
		t.Errorf("impact ledger: %s", alice.text(".a3"))
	}
	if !alice.has(".chart svg polyline") && !alice.has(".chart img") {
		t.Errorf("no KPI chart: %s", alice.text(".chart"))
	}
	alice.shot("kaizen-a3")
	// The follow-ups at +30, +60 and +90 days find no regression: closed,
	// its impact locked.
	alice.eventually(page, ".record .state-closed", time.Minute)
	if !strings.Contains(alice.text(".impact"), "locked") {
		t.Errorf("impact not locked at closure: %s", alice.text(".impact"))
	}
	alice.open("/kaizen")
	alice.shot("kaizen-board")
	// A value read by hand, recorded on the KPI's page.
	alice.open("/kpis/" + key)
	alice.fill("record-measurement", "value", "2.4", "source", "hand count, shift B")
	alice.submit("record-measurement")
	if f := alice.flash(); !strings.Contains(f, "Measurement recorded: 2.4") || !strings.Contains(alice.text("main"), "hand count, shift B") {
		t.Errorf("record a measurement: %q", f)
	}
	alice.shot("kpi")
	alice.open("/kpis")
	alice.shot("kpis")
	// Last month's report, made now by an approver on the Reports page
	// (as the schedule would make it), to open or download there.
	month := time.Now().UTC().AddDate(0, 0, -time.Now().UTC().Day()).Format("2006-01")
	if alice.open("/reports"); alice.has("#run-report") {
		t.Error("an owner is offered to run a report")
	}
	bob.open("/reports")
	bob.fill("run-report", "period", month)
	bob.submit("run-report")
	if f := bob.flash(); !strings.Contains(f, "The report for "+month) {
		t.Fatalf("run the report: %q %s", f, bob.text("#run-report"))
	}
	bob.shot("reports-run")
	a.Eventually("the report listed", time.Minute, func() bool {
		alice.open("/reports")
		return strings.Contains(alice.text("table.reports"), month)
	})
	alice.shot("reports")
	for _, ext := range []string{"html", "pdf"} {
		ctx, cancel := context.WithTimeout(alice.ctx, 30*time.Second)
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(document.querySelector('table.reports a[href$=".`+ext+`"]').href).then(r => r.status + ' ' + r.headers.get('content-type'))`, chromedp.EvalAwaitPromise))
		cancel()
		if want := map[string]string{"html": "200 text/html", "pdf": "200 application/pdf"}[ext]; err != nil || !strings.HasPrefix(got, want) {
			t.Errorf("the report's %s: %q %v", ext, got, err)
		}
	}
}

// Single sign-on in a real browser: the sign-in page offers it, the
// provider (mockoidc, a real OpenID provider on loopback) vouches for the
// person, and the callback ends in a web session: My work shows them,
// provisioned with the roles their groups map to.
func TestWebSingleSignOn(t *testing.T) {
	idp, p, key := ssoProvider(t)
	a := newAppWith(t, func(c *server.Config) { c.SSO, c.SSOCookieKey = p, key })
	b := browser.Start(t)
	omar := "omar-" + uniq()
	idp.QueueUser(person{sub: "sub-" + omar, username: omar, name: "Omar Haddad", groups: []string{"reviewers"}})
	tb := &tab{t: t, b: b, ctx: b.Tab(t), base: a.URL, user: omar}
	tb.open("/signin")
	if !tb.has(`a[href^="/auth/login"]`) {
		t.Fatalf("the sign-in page offers no single sign-on: %s", tb.text("main"))
	}
	tb.do(chromedp.Click(chromedp.CSS(`a[href^="/auth/login"]`)), chromedp.WaitReady(chromedp.CSS("body")))
	deadline := time.Now().Add(20 * time.Second)
	for !tb.has(".me .name") {
		if time.Now().After(deadline) {
			t.Fatalf("not signed in after the provider's redirect: at %s: %s", tb.location(), tb.text("body"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := tb.text(".me .name"); !strings.Contains(got, "Omar Haddad") {
		t.Errorf("signed in as %q", got)
	}
	tb.shot("sso-signed-in")
	u, err := a.DB.Profile(context.Background(), omar)
	if err != nil || !slices.Contains(u.Roles, "approver") {
		t.Errorf("provisioned %+v (%v); want the approver role from the reviewers group", u, err)
	}
}

// An administrator finds a stalled CAPA on the Admin page and retries it
// there: refused while the database still refuses its change, then, the
// cause fixed, saved, and the row goes away. Others have no Admin page.
func TestWebAdminRetriesAStalledProcess(t *testing.T) {
	a := newApp(t)
	b := browser.Start(t)
	refusal := refuseAuditReasons(t)
	id := newCAPA(a, "Stalled in the browser")
	a.Must(http.StatusConflict, "alice", "POST", "/v1/capas/"+id+"/triage", map[string]any{"severity": 4, "occurrence": 3, "detection": 4, "comment": "contains " + refusal.poison})

	alice := a.browse(t, b, "alice")
	if alice.has(`.top nav a[href="/admin"]`) {
		t.Error("a non-administrator has the Admin link")
	}
	alice.open("/admin")
	if !strings.Contains(alice.text("main"), "for administrators") {
		t.Errorf("a non-administrator on /admin: %.200s", alice.text("main"))
	}

	root := a.browse(t, b, "root")
	root.do(chromedp.Click(chromedp.CSS(`.top nav a[href="/admin"]`)), chromedp.WaitReady(chromedp.CSS("body")))
	row, retry := "#stalled-"+id, "retry-"+id
	if !root.has(row) || !strings.Contains(root.text(row), refusal.constraint) {
		t.Fatalf("the stalled CAPA is not listed with its error: %q", root.text(row))
	}
	root.shot("admin")
	// The navigation counts what waits for an administrator, this CAPA
	// among it.
	waiting := func() int {
		const count = `.top nav a[href="/admin"] .count`
		if !root.has(count) {
			return 0 // nothing waits: no count is shown
		}
		n, _ := strconv.Atoi(root.text(count))
		return n
	}
	before := waiting()
	if before < 1 {
		t.Errorf("the Admin link counts %d waiting with a stalled CAPA", before)
	}
	root.submit(retry)
	if e := root.text("#" + retry + " .form-error"); !strings.Contains(e, "stalled") {
		t.Errorf("a retry before the cause is fixed: %q", e)
	}
	refusal.lift()
	root.submit(retry)
	if f := root.flash(); !strings.Contains(f, id+" is retried") {
		t.Fatalf("the retry: %q %s", f, root.text(row))
	}
	if root.has(row) {
		t.Errorf("the retried CAPA is still listed: %s", root.text(row))
	}
	if n := waiting(); n != before-1 {
		t.Errorf("the Admin link counts %d waiting after the retry; want %d", n, before-1)
	}
	if rec := a.Must(http.StatusOK, "alice", "GET", "/v1/capas/"+id, nil).Map(t); rec["state"] != "triage" || rec["stalled"] != nil {
		t.Errorf("after the retry: state %v, stalled %v", rec["state"], rec["stalled"])
	}
	// On a phone: the tables are cards, nothing scrolls sideways.
	root.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	root.open("/admin")
	if w := eval[float64](root, `document.documentElement.scrollWidth`); w > 400 {
		t.Errorf("the Admin page scrolls sideways on a phone: %v px", w)
	}
	root.screen("admin-phone")
}

// An administrator creates a user on the Users page and changes their
// roles on their page: the change is refused without a reason (next to
// it, what was typed kept), then saved; the list shows the new roles.
func TestWebAdminManagesUsers(t *testing.T) {
	a := newApp(t)
	b := browser.Start(t)
	root := a.browse(t, b, "root")
	root.open("/admin")
	root.do(chromedp.Click(chromedp.CSS(`.subnav a[href="/admin/users"]`)), chromedp.WaitReady(chromedp.CSS("body")))
	root.do(chromedp.Click(chromedp.CSS("details.start summary")))
	id := "pia-" + uniq()
	root.fill("new-user", "id", id, "name", "Pia Holm", "email", "pia@example.com")
	root.do(chromedp.Click(chromedp.CSS(`#new-user [name="roles"][value="owner"]`)))
	root.submit("new-user")
	if f := root.flash(); !strings.HasSuffix(root.location(), "/admin/users/"+id) || !strings.Contains(f, "User "+id+" is created") {
		t.Fatalf("create: %s %q %s", root.location(), f, root.text("#new-user"))
	}
	// Another role, without saying why: the API's 422 next to the reason.
	root.fill("user-profile", "name", "Pia Holm-Berg")
	root.do(chromedp.Click(chromedp.CSS(`#user-profile [name="roles"][value="approver"]`)))
	root.submit("user-profile")
	if e := root.text("#f-user-profile-reason-err"); !strings.Contains(e, "say why") {
		t.Fatalf("a role change without a reason: %q", root.text("#user-profile"))
	}
	if v := eval[string](root, `document.querySelector('#f-user-profile-name').value`); v != "Pia Holm-Berg" {
		t.Errorf("the name typed is lost: %q", v)
	}
	root.checkA11y("admin-user-refused")
	root.fill("user-profile", "reason", "joins the review board")
	root.submit("user-profile")
	if f := root.flash(); !strings.Contains(f, "is saved") || !strings.Contains(root.text("#user-roles"), "approver") {
		t.Fatalf("save: %q, roles %q", f, root.text("#user-roles"))
	}
	root.shot("admin-user")
	var u opsflow.Account
	a.Must(http.StatusOK, "root", "GET", "/v1/users/"+id, nil).JSON(t, &u)
	if u.Name != "Pia Holm-Berg" || !opsflow.SameRoles(u.Roles, []opsflow.Role{opsflow.RoleOwner, opsflow.RoleApprover}) || u.Email != "pia@example.com" {
		t.Errorf("the user as the API has them: %+v", u)
	}
	root.open("/admin/users?q=" + id)
	if row := root.text("#user-" + id); !strings.Contains(row, "owner, approver") || !strings.Contains(row, "not set") {
		t.Errorf("the list's row: %q", row)
	}
	root.shot("admin-users")
}

// An approver defines a KPI through the New KPI form (refused once, next
// to the threshold at fault), its owner sets a new target on its page, and
// an owner who does not own it is not offered to; a person's
// notifications page reads on a phone.
func TestWebDefineAKPIAndSetItsTarget(t *testing.T) {
	a := newApp(t)
	b := browser.Start(t)
	key := fmt.Sprintf("complaints-%d", time.Now().UnixNano())
	bob := a.browse(t, b, "bob")
	bob.open("/kpis")
	bob.do(chromedp.Click(chromedp.CSS("details.start summary")))
	bob.fill("define-kpi", "key", key, "name", "Customer complaints", "unit", "ppm", "direction", "lower", "owner", "alice", "frequency", "monthly",
		"target.value", "50", "target.effective_from", "2026-01-01", "thresholds.amber", "60", "thresholds.red", "40",
		"policy.action", "kaizen", "policy.sponsor", "bob")
	bob.submit("define-kpi")
	if e := bob.text(`#define-kpi .field:has([name="thresholds.red"])`); !strings.Contains(e, "must be below red") {
		t.Fatalf("amber worse than red: %q", bob.text("#define-kpi"))
	}
	bob.checkA11y("kpi-define-refused")
	bob.fill("define-kpi", "thresholds.red", "80")
	bob.submit("define-kpi")
	if f := bob.flash(); !strings.HasSuffix(bob.location(), "/kpis/"+key) || !strings.Contains(f, "KPI "+key+" is defined") {
		t.Fatalf("define: %s %q %s", bob.location(), f, bob.text("#define-kpi"))
	}
	if !bob.has("#set-target") || !strings.Contains(bob.text("main"), "50") {
		t.Errorf("the approver's KPI page: %s", bob.text("main"))
	}

	alice := a.browse(t, b, "alice")
	alice.open("/kpis/" + key)
	alice.fill("set-target", "value", "45", "effective_from", "2027-01-01", "reason", "2027 plan")
	alice.submit("set-target")
	if f := alice.flash(); !strings.Contains(f, "Target set: 45 from 2027-01-01") || !strings.Contains(alice.text("main"), "2027 plan") {
		t.Fatalf("set a target: %q %s", f, alice.text("#set-target"))
	}
	alice.shot("kpi-targets")
	k := a.Must(http.StatusOK, "alice", "GET", "/v1/kpis/"+key, nil).Map(t)
	if ts, _ := k["targets"].([]any); len(ts) != 2 || k["owner"] != "alice" || k["policy"].(map[string]any)["action"] != "kaizen" {
		t.Errorf("the KPI as the API has it: %v", k)
	}
	// Its limits: new thresholds, and new limits after a deliberate change.
	alice.do(chromedp.Click(chromedp.CSS("details:has(#change-kpi) > summary")))
	alice.fill("change-kpi", "thresholds.amber", "55", "thresholds.red", "70", "method", "complaints per million shipped",
		"rules.eight_on_one_side", "violation", "missing.enabled", "@check", "missing.grace_days", "5", "reason", "October review")
	alice.submit("change-kpi")
	if f := alice.flash(); !strings.Contains(f, "Definition saved") || !strings.Contains(alice.text("main"), "complaints per million shipped") {
		t.Fatalf("definition: %q %s", f, alice.text("#change-kpi"))
	}
	alice.do(chromedp.Click(chromedp.CSS("details:has(#add-divider) > summary")))
	alice.fill("add-divider", "at", "2026-11-01", "label", "new complaint form")
	alice.submit("add-divider")
	if f := alice.flash(); !strings.Contains(f, "New limits start") || !strings.Contains(alice.text("main"), "new complaint form") {
		t.Fatalf("divider: %q %s", f, alice.text("#add-divider"))
	}
	alice.shot("kpi-limits")
	k = a.Must(http.StatusOK, "alice", "GET", "/v1/kpis/"+key, nil).Map(t)
	if th := k["thresholds"].(map[string]any); th["amber"] != 55.0 || th["red"] != 70.0 || k["method"] != "complaints per million shipped" {
		t.Errorf("thresholds as the API has them: %v (method %v)", th, k["method"])
	}
	if pol := k["policy"].(map[string]any); pol["action"] != "kaizen" || pol["sponsor"] != "bob" {
		t.Errorf("the policy, left as it was on the form, changed: %v", pol)
	}
	if r := k["rules"].(map[string]any); r["eight_on_one_side"] != "violation" || r["beyond_limits"] != "violation" || r["three_of_four"] != "warning" {
		t.Errorf("the detection rules as the API has them: %v", r)
	}
	if m := k["missing"].(map[string]any); m["enabled"] != true || m["grace_days"] != 5.0 {
		t.Errorf("the missing-measurement rule as the API has it: %v", m)
	}
	if ds, _ := k["dividers"].([]any); len(ds) != 1 || ds[0].(map[string]any)["label"] != "new complaint form" {
		t.Errorf("dividers as the API has them: %v", k["dividers"])
	}
	dave := a.browse(t, b, "dave")
	if dave.open("/kpis/" + key); dave.has("#set-target") || dave.has("#add-divider") || dave.has("#change-kpi") {
		t.Error("an owner who does not own the KPI is offered to change it")
	}

	alice.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	alice.open("/settings/notifications")
	alice.checkA11y("notifications")
	if w := eval[float64](alice, `document.documentElement.scrollWidth`); w > 400 {
		t.Errorf("the notifications page scrolls sideways on a phone: %v px", w)
	}
}

// A person creates an API token on Settings and sees it once, in the
// marked box; it works against the API; a reload (which posts the form
// again) and the next visit do not show it; they revoke it on the page
// and it is refused. An administrator issues a new colleague's first
// token on their page the same way.
func TestWebTokensFromSettings(t *testing.T) {
	a := newApp(t)
	b := browser.Start(t)
	sam, _ := a.newSamReyes()
	tb := a.browse(t, b, sam)
	tb.open("/settings")
	if !tb.has(`#token-` + postgres.TokenID(Token(sam)) + ` .badge`) {
		t.Errorf("the token sam signed in with is not marked: %q", tb.text("#tokens-title + p + table"))
	}
	tb.fill("new-token", "expires", "30d") // and no label
	tb.submit("new-token")
	if e := tb.text("#f-new-token-label-err"); !strings.Contains(e, "say what the token is for") {
		t.Fatalf("a token without a label: %q", tb.text("#new-token"))
	}
	tb.checkA11y("settings-token-refused")
	tb.fill("new-token", "label", "report script", "expires", "30d")
	tb.submit("new-token")
	secret := eval[string](tb, `(document.querySelector('#issued-secret') || {value: ''}).value`)
	if !strings.HasPrefix(secret, "opsf_") || !strings.Contains(tb.text("#issued-token"), "shown this once") {
		t.Fatalf("no new token shown: %q", tb.text("main"))
	}
	if f := eval[bool](tb, `document.activeElement && document.activeElement.id === 'issued-token'`); !f {
		t.Error("the new token's box does not take the focus")
	}
	tb.shot("settings-token")
	var me opsflow.Account
	a.Must(http.StatusOK, secret, "GET", "/v1/me", nil).JSON(t, &me)
	if me.ID != sam {
		t.Fatalf("the new token acts as %q", me.ID)
	}
	id := postgres.TokenID(secret)
	if row := tb.text("#token-" + id); !strings.Contains(row, "report script") || !strings.Contains(strings.ToLower(row), "active") {
		t.Errorf("the new token's row: %q", row)
	}
	// A reload posts the form again: nothing new, and no secret.
	tb.do(chromedp.Reload())
	if html := eval[string](tb, `document.documentElement.outerHTML`); strings.Contains(html, secret) {
		t.Fatal("a reload shows the token again")
	}
	if e := tb.text("#new-token .form-error"); !strings.Contains(e, id) {
		t.Errorf("the reload's answer: %q", tb.text("main"))
	}
	tb.open("/settings")
	if html := eval[string](tb, `document.documentElement.outerHTML`); strings.Contains(html, secret) || tb.has("#issued-secret") {
		t.Fatal("the next visit shows the token again")
	}
	var mine struct {
		Items []tokenRow `json:"items"`
	}
	a.Must(http.StatusOK, sam, "GET", "/v1/me/tokens", nil).JSON(t, &mine)
	if len(mine.Items) != 2 {
		t.Errorf("sam holds %d tokens after the reload, want 2: %+v", len(mine.Items), mine.Items)
	}
	// Revoked on the page: refused from then on.
	tb.do(chromedp.Click(chromedp.CSS("#token-" + id + " details summary")))
	tb.submit("revoke-" + id)
	if f := tb.flash(); !strings.Contains(f, "is revoked") {
		t.Fatalf("revoke: %q", f)
	}
	a.Must(http.StatusUnauthorized, secret, "GET", "/v1/me", nil)

	// An administrator gives a new colleague their first token.
	pia := "pia-" + uniq()
	a.Must(http.StatusCreated, "root", "PUT", "/v1/users/"+pia, map[string]any{"name": "Pia Holm", "roles": []string{"owner"}})
	root := a.browse(t, b, "root")
	root.open("/admin/users/" + pia)
	root.fill("issue-token", "label", "first token", "expires", "7d", "reason", "joins quality; handed over in person")
	root.submit("issue-token")
	first := eval[string](root, `(document.querySelector('#issued-secret') || {value: ''}).value`)
	if !strings.HasPrefix(first, "opsf_") || !strings.Contains(root.text("#issued-token"), "A new API token for Pia Holm") {
		t.Fatalf("no token issued: %q", root.text("main"))
	}
	root.shot("admin-user-token")
	a.Must(http.StatusOK, first, "GET", "/v1/me", nil).JSON(t, &me)
	if me.ID != pia || !opsflow.SameRoles(me.Roles, []opsflow.Role{opsflow.RoleOwner}) {
		t.Errorf("pia's first token acts as %+v", me)
	}
	// Her tokens, on the Admin page's filtered list.
	root.do(chromedp.Click(chromedp.CSS("#user-tokens")), chromedp.WaitReady(chromedp.CSS("body")))
	if v := eval[string](root, `document.querySelector('#q-user').value`); v != pia || !root.has("#token-"+postgres.TokenID(first)) {
		t.Errorf("her tokens: filter %q, %q", v, root.text("main"))
	}
	root.checkA11y("admin-tokens-filtered")
}
