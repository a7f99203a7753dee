package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/activities"
	api "github.com/opsflow/opsflow/client"
	"github.com/opsflow/opsflow/internal/outbound"
	"github.com/opsflow/opsflow/internal/secret"
	"github.com/opsflow/opsflow/internal/testenv"
	"github.com/opsflow/opsflow/postgres"
	"github.com/opsflow/opsflow/server"
	"github.com/opsflow/opsflow/worker"
)

// These are integration tests: a real Temporal server and a real PostgreSQL,
// started once for this test binary by testenv.
func TestMain(m *testing.M) { testenv.Main(m) }

// Users every test can act as. Separation-of-duties rules need several
// people with overlapping roles.
var users = []opsflow.User{
	{ID: "alice", Name: "Alice Martin", Roles: []opsflow.Role{opsflow.RoleRequester, opsflow.RoleOwner}},
	{ID: "dave", Name: "Dave Okafor", Roles: []opsflow.Role{opsflow.RoleRequester, opsflow.RoleOwner}},
	{ID: "bob", Name: "Bob Chen", Roles: []opsflow.Role{opsflow.RoleApprover}},
	{ID: "erin", Name: "Erin Silva", Roles: []opsflow.Role{opsflow.RoleApprover, opsflow.RoleOwner}},
	{ID: "carol", Name: "Carol Nguyen", Roles: []opsflow.Role{opsflow.RoleAuditor}},
	{ID: "hana", Name: "Hana Ito", Roles: []opsflow.Role{opsflow.RoleHR}},
	{ID: "ivan", Name: "Ivan Petrov", Roles: []opsflow.Role{opsflow.RoleIT}},
	{ID: "maya", Name: "Maya Rossi", Roles: []opsflow.Role{opsflow.RoleManager}},
	{ID: "root", Name: "Ops Admin", Roles: []opsflow.Role{opsflow.RoleAdmin}},
}

// shared holds what every test of the binary reuses: one migrated database,
// one Temporal client and one token per user.
var shared struct {
	once   sync.Once
	err    error
	db     *postgres.DB
	tc     client.Client
	tokens map[string]string
}

func setup(t *testing.T) {
	t.Helper()
	shared.once.Do(func() {
		ctx := context.Background()
		// Migrations run as the owner; the API and the workers as the
		// application's role, with exactly its production privileges.
		owner, err := postgres.Open(ctx, testenv.MigrateURL())
		if err != nil {
			shared.err = err
			return
		}
		defer owner.Close()
		if shared.err = postgres.Migrate(ctx, owner, postgres.GrantTo(testenv.AppRole)); shared.err != nil {
			return
		}
		if shared.db, shared.err = postgres.Open(ctx, testenv.DatabaseURL()); shared.err != nil {
			return
		}
		shared.tokens = map[string]string{}
		for _, u := range users {
			tok, err := shared.db.CreateToken(ctx, u, "test")
			if err != nil {
				shared.err = err
				return
			}
			shared.tokens[u.ID] = tok
			// Cheap argon2id parameters for the tests' own users: the
			// parameters travel with each hash, and the API checks any.
			h, err := secret.Hash(context.Background(), SigningPassword(u.ID), secret.Params{Memory: 1024, Time: 1, Threads: 1, KeyLen: 32})
			if err == nil {
				err = shared.db.SetSigningPassword(ctx, u.ID, h, opsflow.SystemActor)
			}
			if err != nil {
				shared.err = err
				return
			}
		}
		shared.tc, shared.err = client.Dial(client.Options{
			HostPort: testenv.TemporalAddress(), Namespace: testenv.Namespace(),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	})
	if shared.err != nil {
		t.Fatalf("test stack: %v", shared.err)
	}
}

// app is one API server with its own worker and task queue, so tests run
// side by side without seeing each other's workflows.
type app struct {
	t      *testing.T
	URL    string
	DB     *postgres.DB
	TC     client.Client
	Queue  string
	worker sdkworker.Worker
	mu     sync.Mutex
	// Outbound is the allowlist of the worker's webhook calls (set it
	// before StartWorker).
	Outbound *outbound.Policy
	// tokens are the users' tokens when the app has a database of its
	// own (nil: the shared one's).
	tokens map[string]string
}

// testOutbound lets the workers call the tests' own webhook receivers, on
// the loopback interface: explicitly, as an administrator would have to.
var testOutbound = outbound.MustParse("127.0.0.1, ::1")

var queueSeq struct {
	sync.Mutex
	n int
}

func newApp(t *testing.T) *app {
	t.Helper()
	return newAppWith(t, nil)
}

// newAppWith is newApp with a hook to adjust the server's config (e.g. Day,
// so that windows measured in days pass in seconds).
func newAppWith(t *testing.T, adjust func(*server.Config)) *app {
	t.Helper()
	setup(t)
	queueSeq.Lock()
	queueSeq.n++
	queue := fmt.Sprintf("test-%s-%d-%d", strings.ReplaceAll(t.Name(), "/", "-"), os.Getpid(), queueSeq.n)
	queueSeq.Unlock()
	a := &app{t: t, DB: shared.db, TC: shared.tc, Queue: queue, Outbound: testOutbound}
	a.StartWorker()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	cfg := server.Config{Store: shared.db, Temporal: shared.tc, TaskQueue: queue, Logger: logger}
	if adjust != nil {
		adjust(&cfg)
	}
	srv := httptest.NewServer(server.New(cfg))
	t.Cleanup(srv.Close)
	t.Cleanup(a.StopWorker)
	a.URL = srv.URL
	return a
}

// StartWorker starts a worker on the app's task queue.
func (a *app) StartWorker() {
	a.mu.Lock()
	defer a.mu.Unlock()
	w := worker.New(a.TC, a.Queue, &activities.Activities{Store: a.DB, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		HTTP: a.Outbound.Client(30 * time.Second)})
	if err := w.Start(); err != nil {
		a.t.Fatalf("start worker: %v", err)
	}
	a.worker = w
}

// StopWorker stops the app's worker, as a crash or a deploy would.
func (a *app) StopWorker() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.worker != nil {
		a.worker.Stop()
		a.worker = nil
	}
}

// response is an HTTP answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test if it cannot.
func (r response) JSON(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Map decodes the body as a JSON object.
func (r response) Map(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// Err decodes the error body.
func (r response) Err(t *testing.T) opsflow.Error {
	t.Helper()
	var e struct {
		Error opsflow.Error `json:"error"`
	}
	r.JSON(t, &e)
	return e.Error
}

// Do sends a request as user (no token when user is ""). body is encoded as
// JSON unless it is a string or []byte, sent as is. headers are name, value
// pairs.
func (a *app) Do(user, method, path string, body any, headers ...string) response {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			a.t.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(buf)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.URL+path, rd)
	if err != nil {
		a.t.Fatalf("request: %v", err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		tokens := shared.tokens
		if a.tokens != nil {
			tokens = a.tokens
		}
		tok, ok := tokens[user]
		if !ok {
			tok = user // lets a test send a made-up token
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	var sent []byte
	if rd != nil {
		sent, _ = io.ReadAll(rd)
		req.Body = io.NopCloser(bytes.NewReader(sent))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	checkContract(a.t, req, sent, res.StatusCode, res.Header, b)
	return response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// Must sends a request and fails the test unless the status is want.
func (a *app) Must(want int, user, method, path string, body any, headers ...string) response {
	a.t.Helper()
	r := a.Do(user, method, path, body, headers...)
	if r.Status != want {
		a.t.Fatalf("%s %s as %q: status %d, want %d: %s", method, path, user, r.Status, want, r.Body)
	}
	return r
}

// Eventually polls cond until it holds or the deadline passes. Workflows
// act on timers, so some outcomes arrive a moment after the request that
// caused them.
func (a *app) Eventually(what string, within time.Duration, cond func() bool) {
	a.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			a.t.Fatalf("%s: not reached within %s", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Client is the API's Go client acting as user, its traffic checked
// against the document like a.Do's.
func (a *app) Client(user string) *api.Client {
	return api.New(a.URL, Token(user), api.WithHTTPClient(&http.Client{Timeout: 60 * time.Second, Transport: contractTransport{a.t}}))
}

// newSamReyes makes a new approver, Sam Reyes, who has no signing password
// yet, for one test: their user ID and token.
func (a *app) newSamReyes() (id, token string) {
	a.t.Helper()
	id = "sam-" + uniq()
	token, err := a.DB.CreateToken(context.Background(), opsflow.User{ID: id, Name: "Sam Reyes", Roles: []opsflow.Role{opsflow.RoleApprover}}, "test")
	if err != nil {
		a.t.Fatal(err)
	}
	shared.tokens[id] = token
	a.t.Cleanup(func() { delete(shared.tokens, id) })
	return id, token
}

// Token returns a user's API token.
func Token(user string) string { return shared.tokens[user] }

// SigningPassword is a test user's signing password.
func SigningPassword(user string) string { return "sign as " + user + " please" }

// nameOf is a test user's name.
func nameOf(id string) string {
	for _, u := range users {
		if u.ID == id {
			return u.Name
		}
	}
	return id
}

// sig is user's signature of a step, as a body sends it.
func sig(user, meaning string) map[string]any {
	return map[string]any{"printed_name": nameOf(user), "meaning": meaning, "signing_password": SigningPassword(user)}
}

// esig is user's signature of a step, for the Go client.
func esig(user, meaning string) *opsflow.ESign {
	return &opsflow.ESign{PrintedName: nameOf(user), Meaning: meaning, Password: SigningPassword(user)}
}
