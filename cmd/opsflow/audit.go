package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/checkpoint"
	"github.com/opsflow/opsflow/internal/config"
)

const auditUsage = `usage:
  opsflow audit verify-pack [--checkpoints DIR --public-key FILE] FILE
      check an inspection pack offline (FILE from GET /v1/capas/{id}/export or /v1/capas/export; - reads standard input)
  opsflow audit verify --database-url URL [--checkpoints DIR --public-key FILE] [--stream ID]
      recompute the chains in PostgreSQL and compare them with the signed checkpoints`

// runAudit holds the auditor's tools. verify-pack needs nothing but the
// file (and, to detect a cut or rewritten tail, the published checkpoints
// and their public key): no server, no database, so an auditor can check
// an exported inspection pack on their own machine.
func runAudit(ctx context.Context, args []string, stdout io.Writer) error {
	if wantsHelp(args) {
		fmt.Fprintln(stdout, auditUsage)
		return nil
	}
	if len(args) == 0 {
		return errors.New(auditUsage)
	}
	switch args[0] {
	case "verify-pack":
		return runVerifyPack(args[1:], stdout)
	case "verify":
		return runVerifyDatabase(ctx, args[1:], stdout)
	}
	return errors.New(auditUsage)
}

// checkpointFlags are the evidence from outside a pack or a database.
type checkpointFlags struct{ dir, publicKey string }

func (c *checkpointFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.dir, "checkpoints", "", "directory of published checkpoints (checkpoint-*.json)")
	fs.StringVar(&c.publicKey, "public-key", "", "the checkpoints' Ed25519 public key (PEM)")
}

// index reads and verifies the checkpoints, or returns nil when none were
// asked for.
func (c *checkpointFlags) index() (*opsflow.CheckpointIndex, *checkpoint.Verifier, error) {
	if c.dir == "" && c.publicKey == "" {
		return nil, nil, nil
	}
	if c.dir == "" || c.publicKey == "" {
		return nil, nil, errors.New("--checkpoints and --public-key go together: checkpoints are only evidence once their signatures are checked")
	}
	pubs, err := checkpoint.ReadPublicKeys(c.publicKey)
	if err != nil {
		return nil, nil, err
	}
	idx, err := checkpoint.Verified(c.dir, pubs...)
	if err != nil {
		return nil, nil, fmt.Errorf("the checkpoints in %s cannot be relied on: %w", c.dir, err)
	}
	return &idx, &checkpoint.Verifier{Dir: c.dir, PublicKeys: pubs}, nil
}

func runVerifyPack(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("opsflow audit verify-pack", flag.ContinueOnError)
	var cf checkpointFlags
	cf.register(fs)
	// The file may come before or after the flags.
	var file string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		if file != "" {
			return errors.New(auditUsage)
		}
		file, args = fs.Arg(0), fs.Args()[1:]
	}
	if file == "" {
		return errors.New(auditUsage)
	}
	idx, _, err := cf.index()
	if err != nil {
		return err
	}
	var r io.Reader = os.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	rep, err := opsflow.VerifyPackWith(r, opsflow.PackOptions{Checkpoints: idx})
	if err != nil {
		return fmt.Errorf("read pack: %w", err)
	}
	if err := printJSON(stdout, rep); err != nil {
		return err
	}
	if !rep.OK {
		b := rep.Break
		return fmt.Errorf("pack does NOT verify: %s seq %d (%s): %s", b.Stream, b.Seq, b.EventID, b.Reason)
	}
	against := "no checkpoints given: a pack cut to an earlier state cannot be told from an older export"
	if idx != nil {
		against = fmt.Sprintf("checked against %d checkpoints, the last signed at %s", idx.Count, idx.LastAt.Format("2006-01-02T15:04:05Z07:00"))
	}
	fmt.Fprintf(stdout, "pack verifies: %d records (%d sealed), %d events, %d signatures; %s\n", rep.Records, rep.Sealed, rep.Events, rep.Signatures, against)
	return nil
}

func runVerifyDatabase(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg config.Config
	fs := newFlags("audit verify", &cfg, "database-url", "log-level")
	var cf checkpointFlags
	cf.register(fs)
	stream := fs.String("stream", "", "only this stream (a process ID, user/<id>, …)")
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	_, v, err := cf.index()
	if err != nil {
		return err
	}
	db, err := openStore(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	rep, err := db.VerifyAudit(ctx, *stream)
	if err != nil {
		return err
	}
	if v != nil {
		v.Store = db
		cr, brk, err := v.VerifyAgainstCheckpoints(ctx, *stream)
		if err != nil {
			return err
		}
		rep.Checkpoints = &cr
		if rep.OK && brk != nil {
			rep.OK, rep.Break = false, brk
		}
	}
	if err := printJSON(stdout, rep); err != nil {
		return err
	}
	if !rep.OK {
		b := rep.Break
		return fmt.Errorf("audit trail does NOT verify: %s seq %d (%s): %s", b.Stream, b.Seq, b.EventID, b.Reason)
	}
	fmt.Fprintf(stdout, "audit trail verifies: %d streams, %d events", rep.Streams, rep.Events)
	if rep.Checkpoints != nil {
		fmt.Fprintf(stdout, "; %d streams match %d checkpoints, the last signed at %s", rep.Checkpoints.Streams, rep.Checkpoints.Checkpoints, rep.Checkpoints.LastAt.Format("2006-01-02T15:04:05Z07:00"))
	} else {
		fmt.Fprint(stdout, "; no checkpoints given: a tail rewritten with recomputed hashes would pass")
	}
	fmt.Fprintln(stdout)
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
