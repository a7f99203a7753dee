package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/checkpoint"
	"github.com/opsflow/opsflow/postgres"
)

// CheckpointStore is what the checkpointer needs from the store.
type CheckpointStore interface {
	CreateCheckpoint(ctx context.Context, sign postgres.SignFunc, always bool) (postgres.CheckpointResult, error)
	UnpublishedCheckpoints(ctx context.Context) ([]postgres.StoredCheckpoint, error)
	MarkPublished(ctx context.Context, number int64, cause error) error
}

// Checkpointer signs the heads of the audit chains periodically and at
// shutdown, with a key the database never sees, and publishes each
// checkpoint to append-only places (see opsflow.Checkpoint): whoever later
// rewrites a chain inside the database — its owner, a superuser — cannot
// make it match what was published.
//
// Every worker may run one: a pass that finds another worker checkpointing
// skips its turn, and publishing the same checkpoint twice changes nothing.
type Checkpointer struct {
	Store      CheckpointStore
	Sign       postgres.SignFunc
	Publishers []checkpoint.Publisher
	Log        *slog.Logger
	// Every is the pause between checkpoints; five minutes if zero. It
	// bounds how much of a chain's end a rewrite could change unseen.
	Every time.Duration
}

// Run checkpoints until ctx ends, then once more (with a minute of its own)
// so that the last changes before a shutdown are signed too.
func (c *Checkpointer) Run(ctx context.Context) {
	every := c.Every
	if every <= 0 {
		every = 5 * time.Minute
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if _, err := c.Once(final, false); err != nil {
				c.Log.Error("checkpoint at shutdown", "err", err)
			}
			return
		case <-t.C:
		}
		if _, err := c.Once(ctx, false); err != nil && ctx.Err() == nil {
			c.Log.Error("checkpoint", "err", err)
		}
		t.Reset(every)
	}
}

// Once signs a checkpoint of the heads that moved since the last one (of
// all heads, whether or not they moved, when always is set), then
// publishes every checkpoint not yet published everywhere, oldest first.
// It returns the checkpoint it made, if any.
func (c *Checkpointer) Once(ctx context.Context, always bool) (*opsflow.Checkpoint, error) {
	if len(c.Publishers) == 0 {
		return nil, errors.New("checkpoint: nowhere to publish (set a checkpoint directory or webhook)")
	}
	res, err := c.Store.CreateCheckpoint(ctx, c.Sign, always)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	for _, brk := range res.Rewritten {
		// Every pass says it again until someone looks: this is the
		// trail being rewritten inside the database.
		c.Log.Error("audit chain rewritten since it was checkpointed: its new head is not signed", "stream", brk.Stream, "seq", brk.Seq, "reason", brk.Reason)
	}
	made := res.Checkpoint
	if made != nil {
		c.Log.Info("checkpoint signed", "number", made.Number, "heads", len(made.Heads), "key_id", made.KeyID)
	}
	pending, err := c.Store.UnpublishedCheckpoints(ctx)
	if err != nil {
		return made, fmt.Errorf("checkpoint: %w", err)
	}
	for _, sc := range pending {
		var errs []error
		for _, p := range c.Publishers {
			if err := p.Publish(ctx, sc.Checkpoint, sc.Body); err != nil {
				errs = append(errs, err)
			}
		}
		perr := errors.Join(errs...)
		if err := c.Store.MarkPublished(ctx, sc.Checkpoint.Number, perr); err != nil {
			return made, fmt.Errorf("checkpoint: %w", err)
		}
		if perr != nil {
			// Later checkpoints wait: published in order, a gap never
			// shows where there is none.
			return made, fmt.Errorf("checkpoint %d not published: %w", sc.Checkpoint.Number, perr)
		}
		c.Log.Info("checkpoint published", "number", sc.Checkpoint.Number, "to", fmt.Sprint(c.Publishers))
	}
	return made, nil
}
