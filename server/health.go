package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/opsflow/opsflow"
)

// healthz answers while the process runs: liveness only.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

type check struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// readiness is the answer of /readyz.
type readiness struct {
	Status           string           `json:"status"` // ready or unavailable
	Checks           map[string]check `json:"checks"`
	StalledProcesses *int             `json:"stalled_processes,omitempty"`
	Error            *opsflow.Error   `json:"error,omitempty"`
}

// readyz answers 200 when PostgreSQL and Temporal both answer and a worker
// polls the task queue, else 503 naming what is missing: without a worker
// every write would hang until its deadline. It also reports how many
// processes are stalled (they need an administrator, but the API can
// still serve everything else, so they do not make it unready).
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	checks := map[string]check{"postgres": {Status: "ok"}, "temporal": {Status: "ok"}, "workers": {Status: "ok"}}
	var down []string
	body := readiness{Checks: checks}
	if err := s.Store.Ping(ctx); err != nil {
		checks["postgres"] = check{Status: "unavailable", Error: "PostgreSQL does not answer"}
		down = append(down, "postgres")
	} else if n, err := s.Store.CountStalled(ctx); err == nil {
		body.StalledProcesses = &n
	}
	if _, err := s.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		checks["temporal"] = check{Status: "unavailable", Error: "Temporal does not answer"}
		down = append(down, "temporal")
		checks["workers"] = check{Status: "unknown"}
	} else if err := s.pollers.check(ctx, s.Temporal, s.TaskQueue); err != nil {
		checks["workers"] = check{Status: "unavailable", Error: err.Error()}
		down = append(down, "workers")
	}
	if len(down) == 0 {
		body.Status = "ready"
		return c.JSON(http.StatusOK, body)
	}
	body.Status = "unavailable"
	body.Error = &opsflow.Error{Code: opsflow.EUNAVAILABLE, Message: "not ready: " + strings.Join(down, " and ") + " unavailable"}
	c.Response().Header().Set("Retry-After", "5")
	return c.JSON(http.StatusServiceUnavailable, body)
}

// pollerCheck answers whether a worker polls the task queue, from a
// DescribeTaskQueue at most every few seconds (a load balancer probing
// every second must not become Temporal's busiest client).
type pollerCheck struct {
	mu   sync.Mutex
	at   time.Time
	last error
}

// pollerFresh is how recently a poller must have been seen. A live worker
// re-polls at least every minute (long polls last up to 60 s); the server
// remembers a dead one for minutes.
const pollerFresh = 90 * time.Second

func (p *pollerCheck) check(ctx context.Context, tc client.Client, queue string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	// A good answer holds for a few seconds; a bad one is asked again
	// sooner, so a worker that just started makes the API ready at once.
	if hold := 5 * time.Second; !p.at.IsZero() && (time.Since(p.at) < time.Second || (p.last == nil && time.Since(p.at) < hold)) {
		return p.last
	}
	p.at, p.last = time.Now(), pollersOf(ctx, tc, queue)
	return p.last
}

func pollersOf(ctx context.Context, tc client.Client, queue string) error {
	res, err := tc.DescribeTaskQueue(ctx, queue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return fmt.Errorf("cannot describe task queue %s", queue)
	}
	for _, p := range res.GetPollers() {
		if t := p.GetLastAccessTime(); t != nil && time.Since(t.AsTime()) < pollerFresh {
			return nil
		}
	}
	return fmt.Errorf("no worker polls task queue %s", queue)
}
