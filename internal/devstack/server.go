package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/opsflow/opsflow/internal/deploy"
)

// The production Temporal server: the programs of go.temporal.io/server
// itself (temporal-server and temporal-sql-tool, built by `make
// temporal-server` from the nested module tools/temporal-server into
// .bin/), persisted in PostgreSQL, configured the way its container image
// is: through the environment its embedded configuration template reads.
// TestProduction (internal/chaos) runs it; docker-compose.yml runs the
// same programs with the same settings.

// TemporalServerBinEnv names the environment variable that overrides where
// temporal-server is found (temporal-sql-tool is looked for beside it).
const TemporalServerBinEnv = "OPSFLOW_TEMPORAL_SERVER_BIN"

// FindTemporalServer locates temporal-server and temporal-sql-tool:
// $OPSFLOW_TEMPORAL_SERVER_BIN and its directory, else <repo root>/.bin/.
func FindTemporalServer() (server, sqlTool string, err error) {
	server = os.Getenv(TemporalServerBinEnv)
	if server == "" {
		root, rerr := RepoRoot()
		if rerr != nil {
			return "", "", rerr
		}
		server = filepath.Join(root, ".bin", "temporal-server")
	}
	sqlTool = filepath.Join(filepath.Dir(server), "temporal-sql-tool")
	for _, p := range []string{server, sqlTool} {
		if !isExecutable(p) {
			return "", "", fmt.Errorf("%s: %w: run `make temporal-server` in the repository root (it builds Temporal server %s from source into .bin/, about 5 minutes once), or set %s",
				p, ErrNotFound, deploy.TemporalServerVersion, TemporalServerBinEnv)
		}
	}
	return server, sqlTool, nil
}

// TemporalServerOptions configures StartTemporalServer.
type TemporalServerOptions struct {
	// Server and SQLTool are the binaries; "" means FindTemporalServer.
	Server, SQLTool string
	// PostgreSQL that holds Temporal's two databases (deploy.TemporalDatabase
	// and deploy.VisibilityDatabase, created when missing). The user must
	// be allowed to create databases.
	PostgresHost     string
	PostgresPort     int
	PostgresUser     string
	PostgresPassword string
	// Ports maps the server's port settings (FRONTEND_GRPC_PORT, …,
	// METRICS_PORT) to ports; those not given are picked free, below
	// 32768: the defaults 7233–7246 and 6933–6939 are often taken on a
	// shared machine. A restart should pass the first start's Ports():
	// the cluster's membership table remembers each service's address, and
	// a server that comes back elsewhere waits for the old entries to
	// expire (tens of seconds) before it serves every request.
	Ports map[string]int
	// LogWriter receives the schema tool's and the server's output.
	LogWriter io.Writer
	// ReadyTimeout bounds schema setup and start-up each; default 2 minutes.
	ReadyTimeout time.Duration
	// Logger reports progress; nil means slog.Default().
	Logger *slog.Logger
}

// TemporalServer is a running production-shape Temporal server.
type TemporalServer struct {
	proc        *process
	ports       map[string]int
	addr        string
	httpAddr    string
	metricsAddr string
	log         *slog.Logger
}

// StartTemporalServer creates or upgrades Temporal's schema with
// tools/temporal-server/setup-schema.sh (temporal-sql-tool), then starts
// the server through the image's tools/temporal-server/entrypoint.sh
// (`temporal-server start`) with deploy's settings (persistence plugin,
// history shards) and tools/temporal-server/dynamicconfig.yaml, and returns
// once the frontend answers GetClusterInfo over gRPC and the container's
// health check path over HTTP. It registers no namespace: that is `opsflow
// temporal-setup`, as in production.
func StartTemporalServer(ctx context.Context, opts TemporalServerOptions) (*TemporalServer, error) {
	if opts.Server == "" || opts.SQLTool == "" {
		server, sqlTool, err := FindTemporalServer()
		if err != nil {
			return nil, err
		}
		opts.Server, opts.SQLTool = server, sqlTool
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 2 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, "tools", "temporal-server")
	env := []string{
		"DB=" + deploy.PersistencePlugin,
		"POSTGRES_SEEDS=" + opts.PostgresHost,
		"DB_PORT=" + strconv.Itoa(opts.PostgresPort),
		"POSTGRES_USER=" + opts.PostgresUser,
		"POSTGRES_PWD=" + opts.PostgresPassword,
		"DBNAME=" + deploy.TemporalDatabase,
		"VISIBILITY_DBNAME=" + deploy.VisibilityDatabase,
	}

	schemaCtx, cancel := context.WithTimeout(ctx, opts.ReadyTimeout)
	defer cancel()
	setup := exec.CommandContext(schemaCtx, "sh", filepath.Join(dir, "setup-schema.sh"))
	setup.Env = childEnv(append(env, "TEMPORAL_SQL_TOOL="+opts.SQLTool)...)
	out, err := setup.CombinedOutput()
	if opts.LogWriter != nil {
		_, _ = opts.LogWriter.Write(out)
	}
	if err != nil {
		return nil, fmt.Errorf("temporal setup-schema.sh: %w\n%s", err, tailOf(out, 30))
	}

	attempts := 1
	if len(opts.Ports) == 0 {
		attempts = 3
	}
	var lastErr error
	for range attempts {
		t, err := startTemporalServerOnce(ctx, opts, env, dir)
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

func startTemporalServerOnce(ctx context.Context, opts TemporalServerOptions, env []string, dir string) (*TemporalServer, error) {
	ports := maps.Clone(opts.Ports)
	if ports == nil {
		ports = map[string]int{}
	}
	for _, k := range portSettings {
		if ports[k] != 0 {
			continue
		}
		p, err := freeLowPort()
		if err != nil {
			return nil, err
		}
		ports[k] = p
	}
	for k, p := range ports {
		if k != "METRICS_PORT" {
			env = append(env, k+"="+strconv.Itoa(p))
		}
	}
	t := &TemporalServer{
		ports:       ports,
		addr:        net.JoinHostPort("127.0.0.1", strconv.Itoa(ports["FRONTEND_GRPC_PORT"])),
		httpAddr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(ports["FRONTEND_HTTP_PORT"])),
		metricsAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports["METRICS_PORT"])),
		log:         opts.Logger,
	}
	env = append(env,
		"NUM_HISTORY_SHARDS="+strconv.Itoa(deploy.HistoryShards),
		"BIND_ON_IP=127.0.0.1",
		"DYNAMIC_CONFIG_FILE_PATH="+filepath.Join(dir, "dynamicconfig.yaml"),
		"PROMETHEUS_ENDPOINT="+t.metricsAddr,
		"TEMPORAL_ALLOW_NO_AUTH=true",
		"LOG_LEVEL=warn",
	)
	// Through the image's entry point, which execs `temporal-server
	// start`: found on PATH, as in the image.
	cmd := exec.Command("sh", filepath.Join(dir, "entrypoint.sh"))
	cmd.Dir = dir
	cmd.Env = childEnv(append(env, "PATH="+filepath.Dir(opts.Server)+string(os.PathListSeparator)+os.Getenv("PATH"))...)
	proc, err := startProcess("temporal-server", cmd, opts.LogWriter)
	if err != nil {
		return nil, err
	}
	t.proc = proc
	readyCtx, cancel := context.WithTimeout(ctx, opts.ReadyTimeout)
	defer cancel()
	if err := t.waitReady(readyCtx); err != nil {
		_ = proc.stop(syscall.SIGKILL, true, 5*time.Second)
		return nil, err
	}
	t.log.Info("temporal server ready", "address", t.addr, "http", t.httpAddr, "pid", proc.pid())
	return t, nil
}

func (t *TemporalServer) waitReady(ctx context.Context) error {
	quiet := tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	hc := &http.Client{Timeout: 2 * time.Second}
	var lastErr error
	for {
		if t.proc.exited() {
			return fmt.Errorf("%w: %w", errExitedEarly, t.proc.diedError())
		}
		if lastErr = t.probe(ctx, quiet, hc); lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporal-server at %s not ready: %w (last error: %v); last output:\n%s",
				t.addr, ctx.Err(), lastErr, t.proc.tail.String())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (t *TemporalServer) probe(ctx context.Context, logger tlog.Logger, hc *http.Client) error {
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := client.DialContext(pctx, client.Options{HostPort: t.addr, Logger: logger})
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	if _, err := c.WorkflowService().GetClusterInfo(pctx, &workflowservice.GetClusterInfoRequest{}); err != nil {
		return fmt.Errorf("GetClusterInfo: %w", err)
	}
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, t.HealthURL(), nil)
	if err != nil {
		return err
	}
	res, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", t.HealthURL(), err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", t.HealthURL(), res.Status)
	}
	return nil
}

// portSettings are the environment variables of the server's ports (and
// METRICS_PORT, ours, for PROMETHEUS_ENDPOINT).
var portSettings = []string{"FRONTEND_GRPC_PORT", "FRONTEND_HTTP_PORT", "FRONTEND_MEMBERSHIP_PORT",
	"HISTORY_GRPC_PORT", "HISTORY_MEMBERSHIP_PORT", "MATCHING_GRPC_PORT", "MATCHING_MEMBERSHIP_PORT",
	"WORKER_GRPC_PORT", "WORKER_MEMBERSHIP_PORT", "METRICS_PORT"}

// Ports are the ports the server listens on, for a restart in place.
func (t *TemporalServer) Ports() map[string]int { return maps.Clone(t.ports) }

// Address is the gRPC frontend's host:port.
func (t *TemporalServer) Address() string { return t.addr }

// HealthURL is what the container health check asks (deploy.TemporalHealthPath).
func (t *TemporalServer) HealthURL() string {
	return "http://" + t.httpAddr + deploy.TemporalHealthPath
}

// MetricsURL is the server's own Prometheus endpoint.
func (t *TemporalServer) MetricsURL() string { return "http://" + t.metricsAddr + "/metrics" }

// PID is the server's process ID (and process group ID).
func (t *TemporalServer) PID() int { return t.proc.pid() }

// Kill crashes the server (SIGKILL to its process group) and reaps it.
func (t *TemporalServer) Kill() error { return t.proc.kill() }

// Stop asks the server to shut down (SIGTERM to its process group) and
// SIGKILLs it if it still runs when ctx ends or after 20 s.
func (t *TemporalServer) Stop(ctx context.Context) error {
	grace := 20 * time.Second
	if d, ok := ctx.Deadline(); ok {
		grace = time.Until(d)
	}
	if err := t.proc.stop(syscall.SIGTERM, true, grace); err != nil {
		return fmt.Errorf("stop temporal-server: %w", err)
	}
	return nil
}

// freeLowPort finds a free port on 127.0.0.1 below 32768. The kernel's
// ephemeral ports (what port 0 gives) start at 32768, and Temporal's
// PostgreSQL schema stores a member's RPC port in a smallint: a server
// whose ports are above 32767 dies at start-up. Random probing, since no
// kernel call hands out a free port in a chosen range.
func freeLowPort() (int, error) {
	const lo, hi = 20000, 32767
	for range 200 {
		p := lo + rand.IntN(hi-lo+1)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		l.Close()
		return p, nil
	}
	return 0, fmt.Errorf("no free port between %d and %d on 127.0.0.1", lo, hi)
}

// tailOf returns the last n lines of out.
func tailOf(out []byte, n int) string {
	lines := 0
	for i := len(out) - 1; i >= 0; i-- {
		if out[i] == '\n' {
			lines++
			if lines > n {
				return string(out[i+1:])
			}
		}
	}
	return string(out)
}
