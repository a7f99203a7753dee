package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
)

// TemporalOptions configures StartTemporal. The zero value starts an
// in-memory server with a Web UI on free ports.
type TemporalOptions struct {
	// Binary is the Temporal CLI; "" means FindTemporal.
	Binary string
	// DBFile is the SQLite file that holds the server's state; "" keeps it
	// in memory (lost on Stop), a path makes it survive restarts.
	DBFile string
	// IP the frontend (and UI) bind to; default 127.0.0.1.
	IP string
	// Port of the gRPC frontend; 0 picks a free port.
	Port int
	// UIPort of the Web UI; 0 picks a free port, -1 runs headless.
	UIPort int
	// Namespace to create and check; default "default".
	Namespace string
	// SearchAttributes maps a custom search attribute name to its type
	// (Keyword, Text, Int, Double, Bool, Datetime, KeywordList). They are
	// registered before StartTemporal returns: a workflow that upserts an
	// unregistered attribute retries its task forever (DESIGN §7).
	SearchAttributes map[string]string
	// LogWriter receives the server's output; nil discards it (the last
	// lines still appear in start-up errors).
	LogWriter io.Writer
	// ReadyTimeout bounds start-up; default 60s.
	ReadyTimeout time.Duration
	// Logger reports progress; nil means slog.Default().
	Logger *slog.Logger
	// SQLitePragmas are passed as --sqlite-pragma NAME=VALUE (file-backed
	// servers only; see Fast).
	SQLitePragmas []string
	// DynamicConfig values are passed as --dynamic-config-value KEY=VALUE.
	DynamicConfig []string
}

// Fast tunes a file-backed dev server for speed where that costs no safety
// a development or test stack needs (measured on a 2-core machine: the
// opsflow API went from about 12 to 21 create+step pairs per second at 8
// clients, and doubled at one client):
//
//   - journal_mode=wal with synchronous=normal: SQLite commits without an
//     fsync per transaction. A power cut (not a crash of the process) can
//     lose the last moments of Temporal's state; the file never corrupts.
//     Fine for a laptop, not for production, which runs Temporal on
//     PostgreSQL.
//   - history.transferProcessorMaxPollRPS=1000: the dev server's single
//     history shard polls its transfer queue at most 20 times a second by
//     default, which caps how fast new tasks reach workers at low load.
//     Polling more often costs CPU only when there is work to do.
func (o *TemporalOptions) Fast() {
	if o.DBFile != "" {
		o.SQLitePragmas = append(o.SQLitePragmas, "journal_mode=wal", "synchronous=normal")
	}
	o.DynamicConfig = append(o.DynamicConfig, "history.transferProcessorMaxPollRPS=1000")
}

// Temporal is a running Temporal dev server.
type Temporal struct {
	proc      *process
	addr      string
	uiURL     string
	namespace string
	log       *slog.Logger
}

// StartTemporal runs `temporal server start-dev` as a supervised child and
// returns once the frontend answers health checks and the namespace and
// search attributes exist. ctx bounds start-up only; call Stop to end it.
func StartTemporal(ctx context.Context, opts TemporalOptions) (*Temporal, error) {
	if opts.Binary == "" {
		bin, err := FindTemporal()
		if err != nil {
			return nil, err
		}
		opts.Binary = bin
	}
	if opts.IP == "" {
		opts.IP = "127.0.0.1"
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.DBFile != "" {
		abs, err := filepath.Abs(opts.DBFile)
		if err != nil {
			return nil, fmt.Errorf("temporal db file: %w", err)
		}
		opts.DBFile = abs
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			return nil, fmt.Errorf("temporal db dir: %w", err)
		}
	}
	// A port we picked may be taken before the server binds it; retry
	// with fresh ports then. A port the caller chose is not retried.
	attempts := 1
	if opts.Port == 0 || opts.UIPort == 0 {
		attempts = 3
	}
	var lastErr error
	for range attempts {
		t, err := startTemporalOnce(ctx, opts)
		if err == nil {
			return t, nil
		}
		lastErr = err
		if !errors.Is(err, errExitedEarly) || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

var errExitedEarly = errors.New("exited during start-up")

func startTemporalOnce(ctx context.Context, opts TemporalOptions) (*Temporal, error) {
	port := opts.Port
	if port == 0 {
		p, err := freePort(opts.IP)
		if err != nil {
			return nil, err
		}
		port = p
	}
	args := []string{"server", "start-dev",
		"--ip", opts.IP,
		"--port", strconv.Itoa(port),
		"--log-level", "warn",
	}
	if opts.DBFile != "" {
		args = append(args, "--db-filename", opts.DBFile)
		for _, p := range opts.SQLitePragmas {
			args = append(args, "--sqlite-pragma", p)
		}
	}
	for _, kv := range opts.DynamicConfig {
		args = append(args, "--dynamic-config-value", kv)
	}
	uiURL := ""
	switch {
	case opts.UIPort < 0:
		args = append(args, "--headless")
	default:
		ui := opts.UIPort
		if ui == 0 {
			p, err := freePort(opts.IP)
			if err != nil {
				return nil, err
			}
			ui = p
		}
		args = append(args, "--ui-port", strconv.Itoa(ui))
		uiURL = "http://" + net.JoinHostPort(opts.IP, strconv.Itoa(ui))
	}
	// "default" always exists; naming it again is harmless but noisy.
	if opts.Namespace != "default" {
		args = append(args, "--namespace", opts.Namespace)
	}
	for _, name := range slices.Sorted(maps.Keys(opts.SearchAttributes)) {
		args = append(args, "--search-attribute", name+"="+opts.SearchAttributes[name])
	}

	cmd := exec.Command(opts.Binary, args...)
	cmd.Env = childEnv()
	proc, err := startProcess("temporal dev server", cmd, opts.LogWriter)
	if err != nil {
		return nil, err
	}
	t := &Temporal{
		proc:      proc,
		addr:      net.JoinHostPort(opts.IP, strconv.Itoa(port)),
		uiURL:     uiURL,
		namespace: opts.Namespace,
		log:       opts.Logger,
	}
	readyCtx, cancel := context.WithTimeout(ctx, opts.ReadyTimeout)
	defer cancel()
	if err := t.waitReady(readyCtx, opts.SearchAttributes); err != nil {
		_ = t.proc.stop(syscall.SIGKILL, true, 5*time.Second)
		return nil, err
	}
	t.log.Info("temporal dev server ready", "address", t.addr, "ui", t.uiURL,
		"namespace", t.namespace, "db", opts.DBFile, "pid", proc.pid())
	return t, nil
}

// waitReady polls until the frontend is healthy, the namespace is
// described and every search attribute is registered.
func (t *Temporal) waitReady(ctx context.Context, attrs map[string]string) error {
	quiet := tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	var lastErr error
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if t.proc.exited() {
			return fmt.Errorf("%w: %w", errExitedEarly, t.proc.diedError())
		}
		lastErr = t.probe(ctx, quiet, attrs)
		if lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporal dev server at %s not ready: %w (last error: %v); last output:\n%s",
				t.addr, ctx.Err(), lastErr, t.proc.tail.String())
		case <-tick.C:
		}
	}
}

func (t *Temporal) probe(ctx context.Context, logger tlog.Logger, attrs map[string]string) error {
	dialCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := client.DialContext(dialCtx, client.Options{
		HostPort:  t.addr,
		Namespace: t.namespace,
		Logger:    logger,
	})
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	if _, err := c.CheckHealth(dialCtx, &client.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("health: %w", err)
	}
	if _, err := c.WorkflowService().DescribeNamespace(dialCtx, &workflowservice.DescribeNamespaceRequest{Namespace: t.namespace}); err != nil {
		return fmt.Errorf("namespace %s: %w", t.namespace, err)
	}
	return ensureSearchAttributes(dialCtx, c, t.namespace, attrs)
}

// ensureSearchAttributes registers the attributes the server does not have
// yet. `--search-attribute` covers a fresh server; a file-backed server
// started before an attribute was added to the list needs this.
func ensureSearchAttributes(ctx context.Context, c client.Client, ns string, attrs map[string]string) error {
	if len(attrs) == 0 {
		return nil
	}
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range attrs {
		if _, ok := have.GetCustomAttributes()[name]; ok {
			continue
		}
		v, err := enumspb.IndexedValueTypeFromString(typ)
		if err != nil {
			return fmt.Errorf("search attribute %s: %w", name, err)
		}
		missing[name] = v
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        ns,
		SearchAttributes: missing,
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("add search attributes: %w", err)
	}
	// Report not-ready until a List shows them: the next probe checks.
	return errors.New("search attributes registered; waiting for them to show")
}

// Address is the frontend's host:port, for client.Options.HostPort.
func (t *Temporal) Address() string { return t.addr }

// UIURL is the Web UI's base URL, or "" when headless.
func (t *Temporal) UIURL() string { return t.uiURL }

// Namespace is the namespace that was created and checked.
func (t *Temporal) Namespace() string { return t.namespace }

// PID is the server's process ID (and process group ID).
func (t *Temporal) PID() int { return t.proc.pid() }

// Stop asks the server to shut down (SIGTERM to its process group) and
// SIGKILLs it if it is still running when ctx ends or after 10s. The
// process is always reaped. Stop is safe to call more than once.
func (t *Temporal) Stop(ctx context.Context) error {
	grace := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		grace = time.Until(d)
	}
	if err := t.proc.stop(syscall.SIGTERM, true, grace); err != nil {
		return fmt.Errorf("stop temporal: %w", err)
	}
	return nil
}
