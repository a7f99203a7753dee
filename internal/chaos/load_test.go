package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The load: a small pool of clients, each driving CAPAs one at a time
// through the steps below. Every request carries an Idempotency-Key that
// is unique to its logical request and is sent again, unchanged, on every
// retry; a client retries on a connection error, a client-side timeout,
// 502/503/504, 429 and 202, and on 500 too (its outcome is unknown, so the
// only safe move is the same request again) — but a 500 is always a test
// failure. Any other 4xx is final and a failure: none is expected here.

const (
	// attemptTimeout bounds one HTTP attempt. The API bounds a request at
	// 30 s (server.Config.RequestTimeout), so a longer wait means a hung
	// connection: the client gives up on the attempt and retries, as a
	// gateway would.
	attemptTimeout = 45 * time.Second
	// maxRetryAfter caps a server's Retry-After, so a bad value cannot
	// stall the suite.
	maxRetryAfter = 5 * time.Second
	maxBackoff    = 2 * time.Second
)

// record is the part of a CAPA record the suite reads.
type record struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	State string `json:"state"`
	Owner string `json:"owner"`
	Risk  *struct {
		Score int    `json:"score"`
		Level string `json:"level"`
	} `json:"risk"`
	Containment []struct {
		ID         string `json:"id"`
		Status     string `json:"status"`
		VerifiedBy string `json:"verified_by"`
	} `json:"containment"`
}

// containment is the status of the CAPA's one containment action, "" when
// the record has none.
func (r record) containment() (id, status string) {
	if len(r.Containment) == 0 {
		return "", ""
	}
	return r.Containment[0].ID, r.Containment[0].Status
}

// effect is an audit event a step adds: its action and field.
type effect struct{ action, field string }

// step is one logical request in a CAPA's life.
type step struct {
	name   string
	user   string
	path   func(c *capaRun) string
	body   func(c *capaRun) any
	want   []int // statuses that mean "accepted"
	state  string
	task   string // the containment action's status once the step took effect
	effect func(c *capaRun) []effect
}

// steps drive a CAPA from its report to the investigation: create, risk
// triage, the approver's decision (separation of duties: bob, not the
// owner), the containment action worked on the task board by its owner,
// and the containment verified by the CAPA owner (not the one who did it).
// The CAPA then waits for the investigation: its workflow stays Running.
var steps = []step{
	{
		name: "create", user: "alice", want: []int{http.StatusCreated, http.StatusOK},
		path: func(*capaRun) string { return "/v1/capas" },
		body: func(c *capaRun) any {
			return map[string]any{
				"title": c.title, "type": "corrective",
				"source":      map[string]any{"type": "complaint", "refs": []string{fmt.Sprintf("CMP-%d", c.n)}},
				"problem":     map[string]any{"what": "housing cracks at the boss", "how_many": 3},
				"owner":       "alice",
				"containment": []any{map[string]any{"description": "quarantine the lot", "owner": "dave", "due_days": 30}},
			}
		},
		state: "reported", task: "open",
		effect: func(*capaRun) []effect { return []effect{{"capa.reported", "state"}, {"capa.owner_assigned", "owner"}} },
	},
	{
		name: "triage", user: "alice", want: []int{http.StatusOK},
		path:  func(c *capaRun) string { return "/v1/capas/" + c.id + "/triage" },
		body:  func(*capaRun) any { return map[string]any{"severity": 4, "occurrence": 3, "detection": 4} },
		state: "triage", task: "open",
		effect: func(*capaRun) []effect { return []effect{{"capa.risk_scored", "risk"}, {"capa.triaged", "state"}} },
	},
	{
		name: "decide", user: "bob", want: []int{http.StatusOK},
		path:  func(c *capaRun) string { return "/v1/capas/" + c.id + "/decide" },
		body:  func(*capaRun) any { return map[string]any{"capa_required": true, "rationale": "customer impact"} },
		state: "containment", task: "open",
		effect: func(*capaRun) []effect {
			return []effect{{"capa.decided", "decision.capa_required"}, {"capa.containment_started", "state"}}
		},
	},
	{
		name: "start-containment", user: "dave", want: []int{http.StatusOK},
		path:  func(c *capaRun) string { return "/v1/capas/" + c.id + "/tasks/" + c.containment + "/start" },
		body:  func(*capaRun) any { return map[string]any{} },
		state: "containment", task: "in_progress",
		effect: func(c *capaRun) []effect { return []effect{{"task.in_progress", "tasks." + c.containment + ".state"}} },
	},
	{
		name: "complete-containment", user: "dave", want: []int{http.StatusOK},
		path:  func(c *capaRun) string { return "/v1/capas/" + c.id + "/tasks/" + c.containment + "/complete" },
		body:  func(*capaRun) any { return map[string]any{"evidence": []string{"QN-881"}} },
		state: "containment", task: "done",
		effect: func(c *capaRun) []effect {
			return []effect{{"task.done", "tasks." + c.containment + ".state"}, {"task.evidence_added", "tasks." + c.containment + ".evidence"}}
		},
	},
	{
		name: "verify-containment", user: "alice", want: []int{http.StatusOK},
		path:  func(c *capaRun) string { return "/v1/capas/" + c.id + "/verify-containment" },
		body:  func(*capaRun) any { return map[string]any{"comment": "0 cracked units left in stock"} },
		state: "investigation", task: "done",
		effect: func(c *capaRun) []effect {
			return []effect{{"capa.containment_verified", "containment." + c.containment + ".verified_by"}, {"capa.investigation_started", "state"}}
		},
	},
}

// capaRun is one CAPA of the load. Its client goroutine owns it until the
// load has finished.
type capaRun struct {
	n           int
	title       string
	id          string // from the create's answer
	containment string // the containment action's (task's) ID
	results     []*logical
}

// outcome of a logical request.
type outcome int

const (
	inFlight outcome = iota
	accepted         // a final 2xx the step expects
	refused          // a final 4xx (or another final answer the step does not expect)
	gaveUp           // the load ended before a final answer
)

func (o outcome) String() string {
	return [...]string{"in flight", "accepted", "refused", "gave up"}[o]
}

// logical is one logical request: the same method, path, body and
// Idempotency-Key on every attempt.
type logical struct {
	capa       *capaRun
	step       *step
	method     string
	path, key  string
	start, end time.Time
	attempts   int
	outcome    outcome
	status     int      // the final status, 0 without one
	last       string   // the last attempt's status or error
	trace      []string // every attempt's status (or "error", "timeout"), in order
}

func (l *logical) String() string {
	return fmt.Sprintf("CAPA #%d %s (%s %s, Idempotency-Key %s)", l.capa.n, l.step.name, l.method, l.path, l.key)
}

// counts are what the clients saw, attempt by attempt.
type counts struct {
	attempts, logicals                        int
	s202, s429, s500, s503, gateway, other4xx int
	connErrs, timeouts                        int
}

// load drives the CAPAs of one scenario.
type load struct {
	bases   []string // the APIs' base URLs: a client may use either
	tokens  map[string]string
	hc      *http.Client
	keyBase string
	capas   []*capaRun
	clients int

	titleBase string
	total     atomic.Int64 // logical requests the load will send if no chain breaks
	finished  atomic.Int64 // logical requests that ended, plus steps a broken chain will never send
	done      chan struct{}

	mu       sync.Mutex
	pool     int  // the pool's CAPAs are capas[:pool]; arrivals bring the rest
	next     int  // index of the next CAPA for the pool
	active   int  // clients still driving
	ended    bool // done is closed
	logicals []*logical
	counts   counts
	problems problems
}

func newLoad(bases []string, tokens map[string]string, scenario string, nCAPAs, clients int) *load {
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	l := &load{
		bases: bases, tokens: tokens, clients: clients,
		keyBase: "chaos-" + scenario + "-" + run,
		hc: &http.Client{Transport: &http.Transport{
			Proxy:               nil, // loopback only: never through a proxy from the environment
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConnsPerHost: clients,
			IdleConnTimeout:     30 * time.Second,
		}},
		titleBase: "chaos " + scenario + " " + run,
		pool:      nCAPAs,
		done:      make(chan struct{}),
	}
	l.total.Store(int64(nCAPAs * len(steps)))
	for i := range nCAPAs {
		l.capas = append(l.capas, &capaRun{n: i + 1, title: fmt.Sprintf("%s #%d", l.titleBase, i+1)})
	}
	return l
}

// run starts the client pool: each client takes the next CAPA and drives
// it to the end. done is closed once every client — of the pool and every
// arrival — has returned. A cancelled ctx makes every pending logical
// request give up.
func (l *load) run(ctx context.Context) {
	l.mu.Lock()
	l.active = l.clients
	l.mu.Unlock()
	for range l.clients {
		go func() {
			defer l.leave()
			for {
				l.mu.Lock()
				if l.next == l.pool {
					l.mu.Unlock()
					return
				}
				c := l.capas[l.next] // every CAPA is driven, even after ctx ends: its requests then give up at once
				l.next++
				l.mu.Unlock()
				l.drive(ctx, c)
			}
		}()
	}
}

// arrive adds a new client with a CAPA of its own, as a person who starts
// work while part of the system is down: closed-loop clients alone would
// all be waiting on their own requests during an outage and send nothing
// new. It reports false once the load has ended.
func (l *load) arrive(ctx context.Context) bool {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return false
	}
	n := len(l.capas) + 1
	c := &capaRun{n: n, title: fmt.Sprintf("%s #%d (arrived during the fault)", l.titleBase, n)}
	l.capas = append(l.capas, c)
	l.active++
	l.total.Add(int64(len(steps)))
	l.mu.Unlock()
	go func() {
		defer l.leave()
		l.drive(ctx, c)
	}()
	return true
}

// leave ends one client; the last one ends the load.
func (l *load) leave() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.active--
	if l.active == 0 {
		l.ended = true
		l.hc.CloseIdleConnections()
		close(l.done)
	}
}

// arrivals calls arrive every interval until stop is closed, the load ends
// or max clients have arrived.
func (l *load) arrivals(ctx context.Context, every time.Duration, maxN int, stop <-chan struct{}) int {
	n := 0
	tick := time.NewTicker(every)
	defer tick.Stop()
	for n < maxN {
		select {
		case <-stop:
			return n
		case <-l.done:
			return n
		case <-tick.C:
		}
		if !l.arrive(ctx) {
			return n
		}
		n++
	}
	return n
}

// drive sends a CAPA's steps in order; a step that is not accepted ends
// the chain (the next one would be refused for the wrong reason).
func (l *load) drive(ctx context.Context, c *capaRun) {
	for i := range steps {
		r := l.do(ctx, c, &steps[i])
		if r.outcome != accepted || c.id == "" || c.containment == "" {
			l.finished.Add(int64(len(steps) - i - 1))
			return
		}
	}
}

// do sends one logical request until it has a final answer or ctx ends.
func (l *load) do(ctx context.Context, c *capaRun, st *step) *logical {
	r := &logical{capa: c, step: st, method: http.MethodPost, path: st.path(c),
		key: fmt.Sprintf("%s-%d-%s", l.keyBase, c.n, st.name), start: time.Now()}
	c.results = append(c.results, r)
	l.mu.Lock()
	l.logicals = append(l.logicals, r)
	l.counts.logicals++
	l.mu.Unlock()
	defer l.finished.Add(1)
	body, err := json.Marshal(st.body(c))
	if err != nil {
		panic(err) // the bodies are literals
	}
	backoff := 100 * time.Millisecond
	next := func() time.Duration { // exponential, capped
		d := backoff
		backoff = min(2*backoff, maxBackoff)
		return d
	}
	for {
		if ctx.Err() != nil {
			l.finish(r, gaveUp, 0)
			return r
		}
		status, hdr, answer, err := l.send(ctx, r, body)
		l.mu.Lock()
		l.counts.attempts++
		r.attempts++
		l.mu.Unlock()
		var wait time.Duration
		switch {
		case err != nil && ctx.Err() != nil:
			l.finish(r, gaveUp, 0)
			return r
		case err != nil:
			l.count(func(c *counts) {
				if errors.Is(err, context.DeadlineExceeded) {
					c.timeouts++
				} else {
					c.connErrs++
				}
			})
			l.note(r, err.Error())
			wait = next()
		case slices.Contains(st.want, status):
			l.note(r, strconv.Itoa(status))
			l.accept(r, answer)
			return r
		case status == http.StatusAccepted:
			// Accepted, not yet visible: the same key again until the
			// answer is final.
			l.count(func(c *counts) { c.s202++ })
			l.note(r, "202")
			wait = retryAfter(hdr, next())
		case status == http.StatusServiceUnavailable:
			l.count(func(c *counts) { c.s503++ })
			l.note(r, "503 "+brief(answer))
			wait = retryAfter(hdr, next())
		case status == http.StatusTooManyRequests:
			l.count(func(c *counts) { c.s429++ })
			l.note(r, "429")
			wait = retryAfter(hdr, next())
		case status == http.StatusBadGateway || status == http.StatusGatewayTimeout:
			l.count(func(c *counts) { c.gateway++ })
			l.note(r, strconv.Itoa(status))
			wait = next()
		case status >= 500:
			l.count(func(c *counts) { c.s500++ })
			l.note(r, strconv.Itoa(status)+" "+brief(answer))
			l.problem(cat500, "%s: attempt %d answered %d (X-Request-Id %s) after %s: %s",
				r, r.attempts, status, hdr.Get("X-Request-Id"), time.Since(r.start).Round(time.Millisecond), brief(answer))
			wait = next()
		default:
			if status >= 400 {
				l.count(func(c *counts) { c.other4xx++ })
			}
			l.note(r, strconv.Itoa(status)+" "+brief(answer))
			l.problem(cat4xx, "%s: attempt %d answered %d after %s (attempts: %s), final: %s",
				r, r.attempts, status, time.Since(r.start).Round(time.Millisecond), r.history(), brief(answer))
			l.finish(r, refused, status)
			return r
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// send makes one attempt.
func (l *load) send(ctx context.Context, r *logical, body []byte) (int, http.Header, []byte, error) {
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	// Attempts rotate over the APIs, each CAPA starting at its own: a
	// retry after a dead API's connection error reaches a live one.
	base := l.bases[(r.capa.n+r.attempts)%len(l.bases)]
	req, err := http.NewRequestWithContext(actx, r.method, base+r.path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+l.tokens[r.step.user])
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", r.key)
	res, err := l.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		// The answer was cut off (the API died mid-response): as good as
		// a connection error, the outcome is unknown.
		return 0, nil, nil, fmt.Errorf("read answer: %w", err)
	}
	return res.StatusCode, res.Header, b, nil
}

// accept records a final accepted answer and checks what it says.
func (l *load) accept(r *logical, answer []byte) {
	l.finish(r, accepted, 0)
	c, st := r.capa, r.step
	var rec record
	if err := json.Unmarshal(answer, &rec); err != nil {
		l.problem(catAnswer, "%s: answer is not a record: %v: %s", r, err, brief(answer))
		return
	}
	if st.name == "create" {
		c.id = rec.ID
		c.containment, _ = rec.containment()
		if rec.ID == "" || c.containment == "" || rec.Title != c.title {
			l.problem(catAnswer, "%s: the new record lacks its ID, containment action or title: %s", r, brief(answer))
			return
		}
	}
	_, task := rec.containment()
	if rec.ID != c.id || rec.State != st.state || task != st.task {
		l.problem(catAnswer, "%s: answered record %s in state %q with containment %q, want %s in %q with containment %q",
			r, rec.ID, rec.State, task, c.id, st.state, st.task)
	}
}

func (l *load) finish(r *logical, o outcome, status int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r.outcome, r.status, r.end = o, status, time.Now()
	if o == accepted {
		r.status = 200
	}
}

// note keeps an attempt's status or error for the report.
func (l *load) note(r *logical, last string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r.last = last
	code, _, _ := strings.Cut(last, " ")
	if _, err := strconv.Atoi(code); err != nil {
		code = "error"
		if strings.Contains(last, "deadline exceeded") {
			code = "timeout"
		}
	}
	r.trace = append(r.trace, code)
}

// history is the attempts' statuses, e.g. "500 → 401".
func (r *logical) history() string { return strings.Join(r.trace, " → ") }

func (l *load) count(f func(*counts)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(&l.counts)
}

func (l *load) problem(cat, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.problems.add(cat, format, args...)
}

// progress is the share of logical requests that have ended (or will never
// be sent because their chain broke).
func (l *load) progress() float64 { return float64(l.finished.Load()) / float64(l.total.Load()) }

// waitProgress waits until progress reaches frac, the load ends, or
// within passes. It reports whether frac was reached.
func (l *load) waitProgress(frac float64, within time.Duration) bool {
	deadline := time.After(within)
	for l.progress() < frac {
		select {
		case <-l.done:
			return false
		case <-deadline:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

// snapshot returns copies of the logical requests and counts, for reports
// (safe while the load still runs).
func (l *load) snapshot() ([]logical, counts) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]logical, len(l.logicals))
	for i, r := range l.logicals {
		out[i] = *r
	}
	return out, l.counts
}

// writesBetween counts logical requests accepted in [from, to).
func (l *load) writesBetween(from, to time.Time) int {
	rs, _ := l.snapshot()
	n := 0
	for _, r := range rs {
		if r.outcome == accepted && !r.end.Before(from) && r.end.Before(to) {
			n++
		}
	}
	return n
}

// recovery measures, from the end of a fault, the time to the first
// accepted write and the time until every logical request that was in
// flight at that moment had its final answer.
type recovery struct {
	firstWrite  time.Duration // never: no write was accepted after the fault; notApplicable: nothing was left to write
	allInFlight time.Duration // never: some never got a final answer
	inFlight    int
}

const (
	never         = time.Duration(-1)
	notApplicable = time.Duration(-2)
)

func (l *load) recovery(faultEnd time.Time) recovery {
	rs, _ := l.snapshot()
	rec := recovery{firstWrite: never}
	var last time.Time
	open, workLeft := false, false
	for _, r := range rs {
		workLeft = workLeft || r.outcome == inFlight || r.end.After(faultEnd)
		if r.outcome == accepted && !r.end.Before(faultEnd) {
			if d := r.end.Sub(faultEnd); rec.firstWrite < 0 || d < rec.firstWrite {
				rec.firstWrite = d
			}
		}
		if r.start.After(faultEnd) || (r.outcome != inFlight && !r.end.After(faultEnd)) {
			continue
		}
		rec.inFlight++
		if r.outcome == inFlight || r.outcome == gaveUp {
			open = true
		} else if r.end.After(last) {
			last = r.end
		}
	}
	if !workLeft {
		rec.firstWrite = notApplicable // every request had ended before the fault did
	}
	switch {
	case open:
		rec.allInFlight = never
	case rec.inFlight == 0:
		rec.allInFlight = notApplicable
	default:
		rec.allInFlight = last.Sub(faultEnd)
	}
	return rec
}

func (r recovery) String() string {
	f := func(d time.Duration) string {
		switch d {
		case never:
			return "never"
		case notApplicable:
			return "n/a"
		}
		return "+" + d.Round(10*time.Millisecond).String()
	}
	return fmt.Sprintf("first write %s, %d in flight done %s", f(r.firstWrite), r.inFlight, f(r.allInFlight))
}

// retryAfter honours a Retry-After in seconds (capped), else def.
func retryAfter(h http.Header, def time.Duration) time.Duration {
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
			return min(time.Duration(s)*time.Second, maxRetryAfter)
		}
		if t, err := http.ParseTime(v); err == nil {
			return min(max(time.Until(t), 0), maxRetryAfter)
		}
	}
	return def
}

// brief shortens an answer for a report line.
func brief(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}
