package server

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
)

// The access log: who read or exported which record, when. Exports are
// written before the export is sent, and an export whose entry cannot be
// written is not sent (503). Reads of a record or its trail are queued
// and written in batches at most half a second later, so a read costs no
// round trip; a batch the store refuses stays queued and is tried again,
// and while too many wait (accessBacklog) reads are refused (503) rather
// than served unlogged. What can be lost is the last half second of reads
// of an API process killed outright; Close writes the rest at shutdown.

// accessLogStore writes and reads the access log (*postgres.DB).
type accessLogStore interface {
	LogAccess(ctx context.Context, entries []opsflow.AccessEntry) error
	AccessLog(ctx context.Context, f opsflow.AccessFilter) (opsflow.Page[opsflow.AccessEntry], error)
}

// accessBacklog is how many reads may wait to be written.
const accessBacklog = 50000

// accessLogger batches reads for the access log.
type accessLogger struct {
	mu      sync.Mutex
	pending []opsflow.AccessEntry
	started bool
	wake    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
}

// logAccess records that the caller is reading (or exporting) the record
// id. An export is written now; a read is queued.
func (s *Server) logAccess(c echo.Context, action string, row opsflow.Process) error {
	e := opsflow.AccessEntry{At: time.Now().UTC(), UserID: userOf(c).ID, Action: action, RecordID: row.ID, Kind: row.Kind,
		RequestID: c.Response().Header().Get(echo.HeaderXRequestID)}
	if action == "export" {
		return s.Store.LogAccess(c.Request().Context(), []opsflow.AccessEntry{e})
	}
	return s.access.add(s, e)
}

func (l *accessLogger) add(s *Server, e opsflow.AccessEntry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pending) >= accessBacklog {
		return opsflow.Errorf(opsflow.EUNAVAILABLE, "the access log cannot be written: reads are refused until it can")
	}
	l.pending = append(l.pending, e)
	if !l.started {
		l.started = true
		l.wake, l.stop, l.stopped = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
		go l.run(s.Store, s.log)
	}
	if len(l.pending) >= 500 {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// run writes the queue every half second (or when it fills), until stop.
func (l *accessLogger) run(store accessLogStore, log *slog.Logger) {
	defer close(l.stopped)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-l.wake:
		case <-l.stop:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := l.flush(ctx, store); err != nil {
				log.Error("access log: entries not written at shutdown", "err", err, "entries", l.backlog())
			}
			cancel()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := l.flush(ctx, store); err != nil {
			log.Error("access log: write failed, will retry", "err", err, "waiting", l.backlog())
		}
		cancel()
	}
}

func (l *accessLogger) backlog() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending)
}

// flush writes what is queued; on failure it stays queued, ahead of what
// came meanwhile.
func (l *accessLogger) flush(ctx context.Context, store accessLogStore) error {
	l.mu.Lock()
	batch := l.pending
	l.pending = nil
	l.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := store.LogAccess(ctx, batch); err != nil {
		l.mu.Lock()
		l.pending = append(batch, l.pending...)
		l.mu.Unlock()
		return err
	}
	return nil
}

// Close writes the reads still queued for the access log. Call it when
// the API stops serving.
func (s *Server) Close(ctx context.Context) error {
	l := &s.access
	l.mu.Lock()
	started := l.started
	l.mu.Unlock()
	if !started {
		return nil
	}
	close(l.stop)
	select {
	case <-l.stopped:
	case <-ctx.Done():
		return ctx.Err()
	}
	if n := l.backlog(); n > 0 {
		return opsflow.Errorf(opsflow.EUNAVAILABLE, "%d access log entries were not written", n)
	}
	return nil
}

// flushAccessLog writes the queued reads now (tests, and an auditor's
// read of the log, which must show the reads before it).
func (s *Server) flushAccessLog(ctx context.Context) error {
	return s.access.flush(ctx, s.Store)
}

// listAccessLog: GET /v1/admin/access-log (auditors, admins): who read or
// exported which record, newest first.
func (s *Server) listAccessLog(c echo.Context) error {
	ctx := c.Request().Context()
	if err := s.flushAccessLog(ctx); err != nil {
		return err
	}
	f := opsflow.AccessFilter{RecordID: c.QueryParam("record"), UserID: c.QueryParam("user"), Cursor: c.QueryParam("cursor")}
	var err error
	if f.Limit, err = queryInt(c, "limit", opsflow.DefaultPageSize, 1, opsflow.MaxPageSize); err != nil {
		return err
	}
	page, err := s.Store.AccessLog(ctx, f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}
