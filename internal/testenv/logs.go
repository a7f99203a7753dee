package testenv

import (
	"bytes"
	"sync"
)

// Logs collects log output written from several goroutines (an API's
// handlers, its background loops), for tests that read what was logged —
// or check what never is.
type Logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
