package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/opsflow/opsflow"
)

// runAudit holds the auditor's offline tools. verify-pack needs nothing but
// the file: no server, no database, so an auditor can check an exported
// inspection pack on their own machine.
func runAudit(_ context.Context, args []string, stdout io.Writer) error {
	if wantsHelp(args) || (len(args) > 1 && args[0] == "verify-pack" && wantsHelp(args[1:])) {
		fmt.Fprintln(stdout, "Usage: opsflow audit verify-pack FILE\n\nChecks an inspection pack (from GET /v1/capas/{id}/export or /v1/capas/export) offline:\nevery hash chain, every seal and signature. FILE - reads standard input. Exit 0 when it verifies.")
		return nil
	}
	if len(args) < 2 || args[0] != "verify-pack" {
		return errors.New("usage: opsflow audit verify-pack FILE   (FILE is an inspection pack from GET /v1/capas/{id}/export or /v1/capas/export; - reads standard input)")
	}
	var r io.Reader = os.Stdin
	if args[1] != "-" {
		f, err := os.Open(args[1])
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	rep, err := opsflow.VerifyPack(r)
	if err != nil {
		return fmt.Errorf("read pack: %w", err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return err
	}
	if !rep.OK {
		b := rep.Break
		return fmt.Errorf("pack does NOT verify: %s seq %d (%s): %s", b.Stream, b.Seq, b.EventID, b.Reason)
	}
	fmt.Fprintf(stdout, "pack verifies: %d records, %d events, %d signatures\n", rep.Records, rep.Events, rep.Signatures)
	return nil
}
