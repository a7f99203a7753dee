package devstack

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"syscall"
	"time"
)

// Child is any program run under the same supervision as the servers: its
// own process group, a parent-death signal, output copied to a writer and
// kept in a tail for error messages, always reaped. Tests use it to run
// `opsflow worker` and `opsflow api` as real processes they can crash.
type Child struct {
	p *process
}

// StartChild starts cmd as a supervised child named name (for messages).
// cmd.Env, Dir and SysProcAttr.Credential are the caller's to set; output
// goes to logw (nil: only the tail is kept).
func StartChild(name string, cmd *exec.Cmd, logw io.Writer) (*Child, error) {
	p, err := startProcess(name, cmd, logw)
	if err != nil {
		return nil, err
	}
	return &Child{p: p}, nil
}

// PID is the child's process ID (and process group ID).
func (c *Child) PID() int { return c.p.pid() }

// Exited reports whether the child has exited (and been reaped).
func (c *Child) Exited() bool { return c.p.exited() }

// Done is closed once the child has exited and been reaped.
func (c *Child) Done() <-chan struct{} { return c.p.done }

// DiedError describes the child's exit with its last lines of output; call
// it once Exited reports true.
func (c *Child) DiedError() error { return c.p.diedError() }

// Tail is the child's last lines of output.
func (c *Child) Tail() string { return c.p.tail.String() }

// Kill crashes the child: SIGKILL to its process group, then reap.
func (c *Child) Kill() error { return c.p.kill() }

// Stop asks the child to exit (SIGTERM to its process group) and SIGKILLs
// the group if it still runs when ctx ends or after 10s. The child is
// always reaped; Stop on an exited child only sweeps its group.
func (c *Child) Stop(ctx context.Context) error {
	grace := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		grace = time.Until(d)
	}
	if err := c.p.stop(syscall.SIGTERM, true, grace); err != nil {
		return fmt.Errorf("stop %s: %w", c.p.name, err)
	}
	return nil
}
