package server

import (
	"context"
	"sync"
)

// maxInflightPerProcess bounds the updates one API instance has in flight
// on one workflow. Temporal admits at most 10 at a time per workflow and
// refuses the rest; a few API instances at this bound stay under it.
const maxInflightPerProcess = 4

// inflight is a semaphore per process ID: a burst of steps on one record
// (a double-click, a retrying client, a script) queues here in order
// instead of failing at Temporal.
type inflight struct {
	mu    sync.Mutex
	slots map[string]*slot
}

type slot struct {
	ch    chan struct{}
	users int // holders and waiters; the slot is dropped at zero
}

// acquire waits for a slot on id until ctx ends; release gives it back.
func (f *inflight) acquire(ctx context.Context, id string) (release func(), err error) {
	f.mu.Lock()
	if f.slots == nil {
		f.slots = map[string]*slot{}
	}
	s := f.slots[id]
	if s == nil {
		s = &slot{ch: make(chan struct{}, maxInflightPerProcess)}
		f.slots[id] = s
	}
	s.users++
	f.mu.Unlock()
	done := func() {
		f.mu.Lock()
		s.users--
		if s.users == 0 {
			delete(f.slots, id)
		}
		f.mu.Unlock()
	}
	select {
	case s.ch <- struct{}{}:
		return func() { <-s.ch; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}
