package devstack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is one supervised child: started in its own process group, reaped
// by a goroutine, its output copied to the caller's writer and kept in a
// small tail buffer so start-up errors can say why the child died.
type process struct {
	name string
	cmd  *exec.Cmd
	tail *tailBuffer
	done chan struct{} // closed once the child has been reaped
	err  error         // Wait's result; read only after done is closed
}

// startProcess starts cmd as a supervised child. cmd.SysProcAttr is
// extended, not replaced, so callers may set Credential first.
func startProcess(name string, cmd *exec.Cmd, logw io.Writer) (*process, error) {
	tail := newTailBuffer(40)
	var out io.Writer = tail
	if logw != nil {
		out = io.MultiWriter(logw, tail)
	}
	cmd.Stdout = out
	cmd.Stderr = out
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// Own process group: Stop signals the whole tree (postgres forks
	// backends) without touching our own group, and a Ctrl-C in the
	// terminal reaches only us, so we decide the shutdown order.
	cmd.SysProcAttr.Setpgid = true
	setParentDeathSignal(cmd.SysProcAttr)
	// Don't let the child hang on to our stdin: CI runs without one.
	cmd.Stdin = nil
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, tail: tail, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pid returns the child's process ID (also its process group ID).
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the child has already been reaped.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// diedError describes a child that exited while we still needed it,
// including the last lines it logged: that is nearly always the reason.
func (p *process) diedError() error {
	return fmt.Errorf("%s exited early (%v); last output:\n%s", p.name, p.err, p.tail.String())
}

// stop sends sig to the child (to the whole group when group is true),
// waits up to grace for it to exit, then SIGKILLs the group. It always
// reaps the child before returning, so no zombie or orphan is left behind.
func (p *process) stop(sig syscall.Signal, group bool, grace time.Duration) error {
	if p.exited() {
		// Still kill the group: a child may have forked helpers that
		// outlived it (postgres backends die on their own, but be sure).
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		return nil
	}
	target := p.pid()
	if group {
		target = -target
	}
	if err := syscall.Kill(target, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %s: %w", p.name, err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL) // stragglers in the group
		return nil
	case <-timer.C:
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("%s did not exit within %s of %s; killed", p.name, grace, sig)
}

// tailBuffer keeps the last n lines written to it.
type tailBuffer struct {
	mu    sync.Mutex
	n     int
	lines []string
	part  []byte
}

func newTailBuffer(n int) *tailBuffer { return &tailBuffer{n: n} }

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.part = append(t.part, b...)
	for {
		i := bytes.IndexByte(t.part, '\n')
		if i < 0 {
			break
		}
		t.lines = append(t.lines, string(t.part[:i]))
		t.part = t.part[i+1:]
		if len(t.lines) > t.n {
			t.lines = t.lines[len(t.lines)-t.n:]
		}
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.Join(t.lines, "\n")
	if len(t.part) > 0 {
		s += "\n" + string(t.part)
	}
	if s == "" {
		return "(no output)"
	}
	return s
}

// freePort asks the kernel for a free TCP port on ip. The port is released
// before the child binds it, so another process could grab it in between;
// callers retry start-up with a fresh port when the child dies early.
func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", ip, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// childEnv is the environment for children: ours, minus variables that
// would point a child at a different server or config than we chose.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "PG"), strings.HasPrefix(k, "TEMPORAL_"):
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}
