package server

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
)

// CheckpointVerifier compares the stored chains with signed checkpoints
// published outside the database (internal/checkpoint.Verifier): the
// chains' own check cannot see a tail rewritten with recomputed hashes,
// a checkpoint can.
type CheckpointVerifier interface {
	VerifyAgainstCheckpoints(ctx context.Context, stream string) (opsflow.CheckpointReport, *opsflow.ChainBreak, error)
}

// verifyAudit recomputes the hash chains (of one stream with ?stream=, else
// of all) and reports the first broken link; with checkpoints configured,
// it then compares the chains with them and names a rewritten or cut tail
// ("stream X: event N differs from checkpoint C signed at T").
func (s *Server) verifyAudit(c echo.Context) error {
	if err := requireAny(c, opsflow.RolesAudit...); err != nil {
		return err
	}
	ctx, stream := c.Request().Context(), c.QueryParam("stream")
	rep, err := s.Store.VerifyAudit(ctx, stream)
	if err != nil {
		return err
	}
	if s.Checkpoints != nil {
		cr, brk, err := s.Checkpoints.VerifyAgainstCheckpoints(ctx, stream)
		if err != nil {
			return err
		}
		rep.Checkpoints = &cr
		if rep.OK && brk != nil {
			rep.OK, rep.Break = false, brk
		}
	}
	return c.JSON(http.StatusOK, rep)
}
