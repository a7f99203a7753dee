// Package devstack starts the real services opsflow depends on — a Temporal
// dev server and a private PostgreSQL — as supervised child processes.
//
// `opsflow dev` and the integration-test harness (internal/testenv) both use
// it, so the stack a developer clicks through is the stack the tests run
// against: one code path, no mocks.
//
// Every child runs in its own process group (so Stop can signal the whole
// tree) and, on Linux, with a parent-death signal of SIGKILL, so a parent
// killed with SIGKILL (or a test binary killed by `go test -timeout`) leaves
// no orphaned servers holding ports and data directories.
package devstack
