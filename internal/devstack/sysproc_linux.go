package devstack

import "syscall"

// setParentDeathSignal makes the kernel SIGKILL the child when its parent
// dies, so `kill -9` of `opsflow dev` or of a test binary leaves no server
// behind. The signal fires when the *thread* that started the child exits
// (go.dev/issue/27505); the Go runtime only retires threads whose goroutine
// exits while locked with runtime.LockOSThread, which we never do around
// Start, so in practice it fires when the process dies.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
