package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/checkpoint"
	"github.com/opsflow/opsflow/internal/config"
	"github.com/opsflow/opsflow/postgres"
	"github.com/opsflow/opsflow/worker"
)

// runCheckpoint manages signed audit checkpoints: the key that signs them,
// one made on demand, and the producer's log of them.
func runCheckpoint(ctx context.Context, args []string, stdout io.Writer) error {
	if wantsHelp(args) {
		fmt.Fprintln(stdout, "Usage: opsflow checkpoint keygen --out FILE | create | list\n\nRun 'opsflow checkpoint <command> -h' for its flags.")
		return nil
	}
	if len(args) == 0 {
		return errors.New("usage: opsflow checkpoint keygen --out FILE | create | list")
	}
	var cfg config.Config
	sub, args := args[0], args[1:]
	switch sub {
	case "keygen":
		fs := newFlags("checkpoint keygen", &cfg)
		out := fs.String("out", "", "file to write the private key to (required; never overwritten); the public key goes to FILE.pub")
		if err := config.Parse(fs, args); err != nil {
			return err
		}
		if *out == "" {
			return errors.New("--out is required: the private key belongs in a file only the worker reads")
		}
		pub, err := checkpoint.GenerateKey(*out)
		if err != nil {
			return err
		}
		pem, err := checkpoint.PublicKeyPEM(pub)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "private key: %s (give it to the worker: OPSFLOW_CHECKPOINT_KEY)\npublic key:  %s.pub (give it to auditors and the API: OPSFLOW_CHECKPOINT_PUBLIC_KEY)\nkey id:      %s\n\n%s",
			*out, *out, opsflow.KeyID(pub), pem)
		return nil
	case "create", "list":
	default:
		return fmt.Errorf("unknown checkpoint command %q: want keygen, create or list", sub)
	}
	fs := newFlags("checkpoint "+sub, &cfg, "database-url", "log-level", "checkpoint-key", "checkpoint-dir", "checkpoint-webhook", "checkpoint-interval")
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	log, err := cfg.Logger()
	if err != nil {
		return err
	}
	db, err := openStore(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if sub == "list" {
		cps, err := db.StoredCheckpoints(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NUMBER\tSIGNED\tHEADS\tKEY\tPUBLISHED\tERROR")
		for _, c := range cps {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\n", c.Checkpoint.Number, c.Checkpoint.SignedAt.Format(time.RFC3339), len(c.Checkpoint.Heads),
				c.Checkpoint.KeyID, when(c.PublishedAt), c.PublishError)
		}
		return tw.Flush()
	}
	cp, err := newCheckpointer(&cfg, db, log)
	if err != nil {
		return err
	}
	if cp == nil {
		return errors.New("no checkpoint key: set --checkpoint-key (OPSFLOW_CHECKPOINT_KEY)")
	}
	made, err := cp.Once(ctx, true)
	if err != nil {
		return err
	}
	if made != nil {
		fmt.Fprintf(stdout, "checkpoint %d signed at %s: %d heads, published to %v\n", made.Number, made.SignedAt.Format(time.RFC3339), len(made.Heads), cp.Publishers)
	} else {
		fmt.Fprintln(stdout, "another worker is making a checkpoint right now: nothing to do")
	}
	return nil
}

// newCheckpointer is the worker's checkpointer from the settings, or nil
// (with a warning) when no key is set.
func newCheckpointer(cfg *config.Config, db *postgres.DB, log *slog.Logger) (*worker.Checkpointer, error) {
	if cfg.CheckpointKey == "" {
		log.Warn("no checkpoint key (OPSFLOW_CHECKPOINT_KEY): audit chains are not signed, and whoever may write the database " +
			"(its owner, a superuser) could rewrite a chain's tail with recomputed hashes unseen")
		return nil, nil
	}
	key, err := checkpoint.ReadPrivateKey(cfg.CheckpointKey)
	if err != nil {
		return nil, err
	}
	every, err := time.ParseDuration(cfg.CheckpointInterval)
	if err != nil || every <= 0 {
		return nil, fmt.Errorf("checkpoint interval %q: want a positive duration such as 5m", cfg.CheckpointInterval)
	}
	c := &worker.Checkpointer{Store: db, Sign: checkpoint.Signer(key, time.Now), Every: every, Log: log.With("component", "checkpoint")}
	if cfg.CheckpointDir != "" {
		c.Publishers = append(c.Publishers, checkpoint.Dir(cfg.CheckpointDir))
	}
	if cfg.CheckpointWebhook != "" {
		c.Publishers = append(c.Publishers, checkpoint.Webhook{URL: cfg.CheckpointWebhook})
	}
	if len(c.Publishers) == 0 {
		return nil, errors.New("a checkpoint key is set but nowhere to publish: set OPSFLOW_CHECKPOINT_DIR or OPSFLOW_CHECKPOINT_WEBHOOK")
	}
	return c, nil
}

// newCheckpointVerifier is what the API checks chains against, or nil
// when no checkpoint directory and public key are set.
func newCheckpointVerifier(cfg *config.Config, db *postgres.DB) (*checkpoint.Verifier, error) {
	if cfg.CheckpointDir == "" && cfg.CheckpointPublicKey == "" {
		return nil, nil
	}
	if cfg.CheckpointDir == "" || cfg.CheckpointPublicKey == "" {
		return nil, errors.New("verifying against checkpoints needs both OPSFLOW_CHECKPOINT_DIR and OPSFLOW_CHECKPOINT_PUBLIC_KEY")
	}
	pubs, err := checkpoint.ReadPublicKeys(cfg.CheckpointPublicKey)
	if err != nil {
		return nil, err
	}
	return &checkpoint.Verifier{Dir: cfg.CheckpointDir, PublicKeys: pubs, Store: db}, nil
}

// devCheckpoints sets up checkpoints for 'opsflow dev': a key in the state
// directory (made on first start) and a directory of published
// checkpoints beside it, unless the settings name others.
func devCheckpoints(cfg *config.Config, state string) error {
	if cfg.CheckpointKey == "" {
		cfg.CheckpointKey = filepath.Join(state, "checkpoint.key")
		if _, err := os.Stat(cfg.CheckpointKey); errors.Is(err, os.ErrNotExist) {
			if _, err := checkpoint.GenerateKey(cfg.CheckpointKey); err != nil {
				return err
			}
		}
	}
	if cfg.CheckpointPublicKey == "" {
		cfg.CheckpointPublicKey = cfg.CheckpointKey // the public key is derived from it
	}
	if cfg.CheckpointDir == "" {
		cfg.CheckpointDir = filepath.Join(state, "checkpoints")
	}
	return nil
}
