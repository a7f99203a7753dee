//go:build !linux

package devstack

import "syscall"

// setParentDeathSignal is a no-op where the kernel offers no parent-death
// signal (macOS, BSDs): Stop still cleans up, a SIGKILLed parent may not.
func setParentDeathSignal(*syscall.SysProcAttr) {}
