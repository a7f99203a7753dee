// Command opsflow runs the opsflow workflow engine.
//
//	opsflow dev        everything on this machine: Temporal dev server, a private PostgreSQL, worker and API
//	opsflow api        the HTTP API (production)
//	opsflow worker     the Temporal worker (production)
//	opsflow migrate    apply database migrations
//	opsflow temporal-setup  prepare the namespace on a production Temporal server
//	opsflow token      create, list and revoke API tokens
//	opsflow user       change a user's roles (audited)
//	opsflow audit      verify an exported audit pack offline, or the chains in PostgreSQL
//	opsflow checkpoint make the key that signs audit checkpoints; sign one now
//
// Settings come from flags, with environment variables behind them
// (internal/config lists both); `opsflow <command> -h` shows them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout io.Writer) error
}

func commands() []command {
	return []command{
		{"dev", "run everything locally: Temporal dev server, private PostgreSQL, migrations, worker and API", runDev},
		{"api", "serve the HTTP API", runAPI},
		{"worker", "run the Temporal worker that executes workflows and activities", runWorker},
		{"migrate", "apply the database migrations and exit", runMigrate},
		{"temporal-setup", "register opsflow's namespace (with its retention) and search attributes on a production Temporal server", runTemporalSetup},
		{"token", "manage API tokens: token create|list|revoke", runToken},
		{"user", "create and change users, audited: user set|show|roles", runUser},
		{"audit", "verify an inspection pack offline, or the chains in PostgreSQL: audit verify-pack FILE | audit verify", runAudit},
		{"checkpoint", "signed audit checkpoints: checkpoint keygen --out FILE | create | list", runCheckpoint},
		{"bench", "measure opsflow's create + first step against a no-op Temporal workflow on a private stack", runBench},
		{"load", "drive a running API with CAPA creates and triages; report throughput and latency", runLoad},
		{"healthcheck", "exit 0 when the API at --url answers /healthz (for container health checks)", runHealthcheck},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -h: the usage is printed, which is what was asked
		}
		fmt.Fprintln(os.Stderr, "opsflow:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return errors.New("a command is required")
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout)
		}
	}
	usage(os.Stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: opsflow <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'opsflow <command> -h' for its flags and environment variables.")
}

// wantsHelp reports whether args ask for help (-h, --help, help) before
// anything else.
func wantsHelp(args []string) bool {
	return len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help")
}
