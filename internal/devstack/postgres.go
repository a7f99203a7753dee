package devstack

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lib/pq"
)

// PostgresOptions configures StartPostgres.
type PostgresOptions struct {
	// Dir is the data directory. It is initialised with initdb when
	// missing or empty and reused otherwise, so data survives restarts.
	Dir string
	// Port to listen on (127.0.0.1 only); 0 picks a free port.
	Port int
	// LogWriter receives the server's log; nil discards it (the last
	// lines still appear in start-up errors).
	LogWriter io.Writer
	// BinDir holds initdb and postgres; "" means FindPostgres.
	BinDir string
	// Ephemeral turns off fsync and friends: faster, and safe only for
	// data nobody minds losing in a power cut (test databases).
	Ephemeral bool
	// ReadyTimeout bounds start-up; default 60s.
	ReadyTimeout time.Duration
	// Logger reports progress; nil means slog.Default().
	Logger *slog.Logger
}

// Postgres is a running private PostgreSQL server.
type Postgres struct {
	proc *process
	port int
	dir  string
	log  *slog.Logger
}

// superuser is the role initdb creates; trust auth means no password.
const superuser = "postgres"

// FindPostgres returns the directory that holds the PostgreSQL server
// binaries (initdb, postgres): `pg_config --bindir`, else the newest
// /usr/lib/postgresql/*/bin (Debian, Ubuntu), else the directory of
// `initdb` on PATH (Homebrew and most other systems).
func FindPostgres() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		// On Debian pg_config may come with libpq-dev alone and point at a
		// directory without the server: check, don't trust.
		if dir := strings.TrimSpace(string(out)); hasServerBinaries(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return pgMajor(b) - pgMajor(a) })
	for _, dir := range dirs {
		if hasServerBinaries(dir) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && hasServerBinaries(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("PostgreSQL server binaries (initdb, postgres) %w: install them, e.g. `apt-get install -y postgresql` on Debian/Ubuntu or `brew install postgresql@15` on macOS",
		ErrNotFound)
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func hasServerBinaries(dir string) bool {
	return dir != "" && isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "postgres"))
}

// StartPostgres initialises opts.Dir if needed, starts postgres on
// 127.0.0.1 as a supervised child and returns once it accepts connections.
// ctx bounds start-up only; call Stop to end the server.
//
// initdb and postgres refuse to run as root. When we are root (CI, dev
// containers) they run as the `postgres` OS user (else `nobody`), the data
// directory is handed to that user and its parent directories are made
// traversable.
func StartPostgres(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	if opts.Dir == "" {
		return nil, errors.New("postgres: PostgresOptions.Dir is required")
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.BinDir == "" {
		dir, err := FindPostgres()
		if err != nil {
			return nil, err
		}
		opts.BinDir = dir
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("postgres data dir: %w", err)
	}
	opts.Dir = dir

	cred, err := serverCredential(opts.Logger)
	if err != nil {
		return nil, err
	}
	if err := prepareDataDir(opts.Dir, cred, opts.Logger); err != nil {
		return nil, err
	}
	if err := initdbIfEmpty(ctx, opts, cred); err != nil {
		return nil, err
	}
	if err := removeStalePidFile(opts.Dir, opts.Logger); err != nil {
		return nil, err
	}

	attempts := 1
	if opts.Port == 0 {
		attempts = 3
	}
	var lastErr error
	for range attempts {
		p, err := startPostgresOnce(ctx, opts, cred)
		if err == nil {
			return p, nil
		}
		lastErr = err
		if !errors.Is(err, errExitedEarly) || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func startPostgresOnce(ctx context.Context, opts PostgresOptions, cred *syscall.Credential) (*Postgres, error) {
	port := opts.Port
	if port == 0 {
		p, err := freePort("127.0.0.1")
		if err != nil {
			return nil, err
		}
		port = p
	}
	args := []string{
		"-D", opts.Dir,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		// No unix socket: its path is limited to 107 bytes, and a temp or
		// repo path easily exceeds that; we only ever connect over TCP.
		"-c", "unix_socket_directories=",
	}
	if opts.Ephemeral {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd := exec.Command(filepath.Join(opts.BinDir, "postgres"), args...)
	cmd.Dir = opts.Dir // our cwd may not be readable by the postgres user
	cmd.Env = childEnv("LC_ALL=C")
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	proc, err := startProcess("postgres", cmd, opts.LogWriter)
	if err != nil {
		return nil, err
	}
	p := &Postgres{proc: proc, port: port, dir: opts.Dir, log: opts.Logger}
	readyCtx, cancel := context.WithTimeout(ctx, opts.ReadyTimeout)
	defer cancel()
	if err := p.waitReady(readyCtx); err != nil {
		_ = p.proc.stop(syscall.SIGKILL, true, 5*time.Second)
		return nil, err
	}
	p.log.Info("postgres ready", "url", p.URL("postgres"), "dir", p.dir, "pid", proc.pid())
	return p, nil
}

func (p *Postgres) waitReady(ctx context.Context) error {
	db, err := sql.Open("postgres", p.URL("postgres"))
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer db.Close()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		if p.proc.exited() {
			return fmt.Errorf("%w: %w", errExitedEarly, p.proc.diedError())
		}
		pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		lastErr = db.PingContext(pingCtx)
		cancel()
		if lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres on port %d not ready: %w (last error: %v); last output:\n%s",
				p.port, ctx.Err(), lastErr, p.proc.tail.String())
		case <-tick.C:
		}
	}
}

// serverCredential returns the identity to run initdb and postgres under:
// nil (ourselves) unless we are root.
func serverCredential(log *slog.Logger) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		log.Debug("running postgres as an unprivileged user, since it refuses root", "user", name)
		// Groups left empty: setgroups drops root's supplementary groups
		// rather than letting the server inherit them.
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("postgres refuses to run as root and neither a `postgres` nor a `nobody` user exists: create one (useradd -r postgres) or run as a normal user")
}

// prepareDataDir creates dir (0700, as postgres demands) and, when the
// server runs as another user, hands dir to that user and makes sure every
// parent directory can be traversed by it.
func prepareDataDir(dir string, cred *syscall.Credential, log *slog.Logger) error {
	// Parents 0755: MkdirAll would give them the data dir's 0700, which
	// another user cannot traverse.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("postgres data dir: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("postgres data dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("postgres data dir: %w", err)
	}
	// postgres refuses a data dir others can read (e.g. made by hand
	// with mkdir); 0700 and 0750 are the modes it accepts.
	if perm := fi.Mode().Perm(); perm&^0o750 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("postgres data dir: %w", err)
		}
	}
	if cred == nil {
		return nil
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid != cred.Uid {
		err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(path, int(cred.Uid), int(cred.Gid))
		})
		if err != nil {
			return fmt.Errorf("hand postgres data dir to uid %d: %w", cred.Uid, err)
		}
	}
	// Only the search bit is added, never read: others still cannot list
	// the parents, they can only reach the data dir.
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("postgres data dir parent: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			log.Warn("making directory traversable for the postgres user", "dir", p)
			if err := os.Chmod(p, fi.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("make %s traversable for the postgres user: %w", p, err)
			}
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// initdbIfEmpty initialises a data directory that has no cluster yet.
func initdbIfEmpty(ctx context.Context, opts PostgresOptions, cred *syscall.Credential) error {
	if _, err := os.Stat(filepath.Join(opts.Dir, "PG_VERSION")); err == nil {
		return nil
	}
	args := []string{"-D", opts.Dir, "--auth=trust", "-U", superuser, "-E", "UTF8", "--locale=C"}
	if opts.Ephemeral {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(opts.BinDir, "initdb"), args...)
	cmd.Dir = opts.Dir
	cmd.Env = childEnv("LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	setParentDeathSignal(cmd.SysProcAttr)
	out, err := cmd.CombinedOutput()
	if opts.LogWriter != nil {
		_, _ = opts.LogWriter.Write(out)
	}
	if err != nil {
		return fmt.Errorf("initdb %s: %w\n%s", opts.Dir, err, out)
	}
	opts.Logger.Info("initialised postgres data dir", "dir", opts.Dir)
	return nil
}

// removeStalePidFile deletes postmaster.pid left by a server that was
// killed. postgres removes such a file itself only if no process has the
// recorded PID; after a reboot or in a container that PID is often reused
// by an unrelated process and postgres then refuses to start.
func removeStalePidFile(dir string, log *slog.Logger) error {
	pidFile := filepath.Join(dir, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", pidFile, err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err == nil && pid > 0 && isPostgresFor(pid, dir) {
		return fmt.Errorf("postgres (pid %d) is already running on %s: stop it (kill -INT %d) or use another directory", pid, dir, pid)
	}
	log.Warn("removing stale postmaster.pid left by a crashed postgres", "file", pidFile, "pid", first)
	if err := os.Remove(pidFile); err != nil {
		return fmt.Errorf("remove stale %s: %w", pidFile, err)
	}
	return nil
}

// isPostgresFor reports whether pid is a live postgres serving dir.
func isPostgresFor(pid int, dir string) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		// No /proc (macOS): trust that a live PID is the server.
		return true
	}
	args := strings.Split(string(cmdline), "\x00")
	return len(args) > 0 && strings.Contains(filepath.Base(args[0]), "postgres") && slices.Contains(args, dir)
}

// URL returns a connection URL for database db on this server.
func (p *Postgres) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(superuser),
		Host:     "127.0.0.1:" + strconv.Itoa(p.port),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port is the TCP port the server listens on.
func (p *Postgres) Port() int { return p.port }

// Dir is the data directory (absolute).
func (p *Postgres) Dir() string { return p.dir }

// PID is the postmaster's process ID (and process group ID).
func (p *Postgres) PID() int { return p.proc.pid() }

// CreateDatabase creates database name unless it exists.
func (p *Postgres) CreateDatabase(ctx context.Context, name string) error {
	return CreateDatabase(ctx, p.URL("postgres"), name)
}

// CreateDatabase creates database name on the server serverURL points at,
// unless it exists. It is exported for callers (testenv) that were given a
// server by URL rather than starting one.
func CreateDatabase(ctx context.Context, serverURL, name string) error {
	db, err := sql.Open("postgres", serverURL)
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	defer db.Close()
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name))
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "42P04" { // duplicate_database: lost a race, fine
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Stop shuts the server down with SIGINT ("fast" shutdown: roll back open
// transactions, checkpoint, exit) and SIGKILLs the process group if it is
// still running when ctx ends or after 30s. The process is always reaped.
// Stop is safe to call more than once.
func (p *Postgres) Stop(ctx context.Context) error {
	grace := 30 * time.Second
	if d, ok := ctx.Deadline(); ok {
		grace = time.Until(d)
	}
	// SIGINT to the postmaster only: it shuts its backends down in order.
	if err := p.proc.stop(syscall.SIGINT, false, grace); err != nil {
		return fmt.Errorf("stop postgres: %w", err)
	}
	return nil
}

// DropDatabase drops database name on the server serverURL points at, if
// it exists, disconnecting its sessions first (WITH (FORCE), PostgreSQL 13+).
func DropDatabase(ctx context.Context, serverURL, name string) error {
	db, err := sql.Open("postgres", serverURL)
	if err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}
