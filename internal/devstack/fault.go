package devstack

import (
	"context"
	"fmt"
	"syscall"
	"time"
)

// Crashes on demand, for fault-injection tests (internal/chaos). Each one
// leaves the state on disk as a real crash would, so the caller can start
// the service again on the same state: StartTemporal with the same DBFile
// and Port, StartPostgres with the same Dir and Port.

// killGrace bounds how long a SIGKILLed process may take to be reaped. The
// kernel delivers SIGKILL at once; the bound only guards against a process
// stuck in uninterruptible I/O, which we then report instead of hanging.
const killGrace = 10 * time.Second

// kill SIGKILLs the child's whole process group (the `kill -9` of a crash
// or the OOM killer: no shutdown code runs) and reaps it.
func (p *process) kill() error {
	if p.exited() {
		return fmt.Errorf("%s had already exited (%v)", p.name, p.err)
	}
	if err := syscall.Kill(-p.pid(), syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill -9 %s (pid %d): %w", p.name, p.pid(), err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(killGrace):
		return fmt.Errorf("%s (pid %d) not reaped within %s of SIGKILL", p.name, p.pid(), killGrace)
	}
}

// Kill crashes the Temporal dev server: SIGKILL to its process group, then
// reap. Its database file keeps whatever SQLite had committed, as after a
// real crash. After Kill, Stop is a no-op.
func (t *Temporal) Kill() error { return t.proc.kill() }

// StopImmediate stops PostgreSQL the way `pg_ctl stop -m immediate` does:
// SIGQUIT to the postmaster, which makes every backend exit at once without
// a checkpoint, so the next start runs crash recovery from the WAL. (pg_ctl
// does nothing more than send that signal and wait; we send it ourselves
// because pg_ctl refuses to run as root and we are the server's parent.)
// It returns once the postmaster has been reaped; a server still running
// when ctx ends (or after 30s) is SIGKILLed.
func (p *Postgres) StopImmediate(ctx context.Context) error {
	grace := 30 * time.Second
	if d, ok := ctx.Deadline(); ok {
		grace = time.Until(d)
	}
	if p.proc.exited() {
		return fmt.Errorf("postgres had already exited (%v)", p.proc.err)
	}
	if err := p.proc.stop(syscall.SIGQUIT, false, grace); err != nil {
		return fmt.Errorf("stop postgres -m immediate: %w", err)
	}
	return nil
}
