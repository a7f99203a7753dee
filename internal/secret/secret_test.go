package secret

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHashAndCheck(t *testing.T) {
	ctx := context.Background()
	h, err := Hash(ctx, "correct horse", Default)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=4$") {
		t.Errorf("hash %s", h)
	}
	if ok, err := Check(ctx, "correct horse", h); err != nil || !ok {
		t.Errorf("the right password: %v %v", ok, err)
	}
	if ok, err := Check(ctx, "correct horse ", h); err != nil || ok {
		t.Errorf("a wrong password: %v %v", ok, err)
	}
	h2, _ := Hash(ctx, "correct horse", Default)
	if h2 == h {
		t.Error("two hashes of one password are equal: no salt")
	}
	// A hash made elsewhere (the reference implementation's test vector
	// parameters, as a PHC string) checks too.
	small := Params{Memory: 32, Time: 3, Threads: 4, KeyLen: 32}
	hs, _ := Hash(ctx, "password", small)
	if ok, err := Check(ctx, "password", hs); err != nil || !ok {
		t.Errorf("other parameters: %v %v", ok, err)
	}
	for _, bad := range []string{"", "$2a$10$abc", "$argon2i$v=19$m=32,t=3,p=4$c2FsdA$aGFzaA", "$argon2id$v=19$m=x$a$b"} {
		if _, err := Check(ctx, "x", bad); err != ErrFormat {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// Hashes are computed a core's worth at a time: with every slot taken, a
// check waits, and gives up with its context's error when the context
// ends first, instead of adding another 64 MiB.
func TestHashingIsBounded(t *testing.T) {
	ctx := context.Background()
	h, err := Hash(ctx, "pw", Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	for range cap(slots) {
		slots <- struct{}{}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := Check(short, "pw", h); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("with every slot taken: %v; want the context's deadline", err)
	}
	for range cap(slots) {
		<-slots
	}
	if ok, err := Check(ctx, "pw", h); err != nil || !ok {
		t.Errorf("with slots free again: %v %v", ok, err)
	}
}
