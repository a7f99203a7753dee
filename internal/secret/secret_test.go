package secret

import (
	"strings"
	"testing"
)

func TestHashAndCheck(t *testing.T) {
	h, err := Hash("correct horse", Default)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=4$") {
		t.Errorf("hash %s", h)
	}
	if ok, err := Check("correct horse", h); err != nil || !ok {
		t.Errorf("the right password: %v %v", ok, err)
	}
	if ok, err := Check("correct horse ", h); err != nil || ok {
		t.Errorf("a wrong password: %v %v", ok, err)
	}
	h2, _ := Hash("correct horse", Default)
	if h2 == h {
		t.Error("two hashes of one password are equal: no salt")
	}
	// A hash made elsewhere (the reference implementation's test vector
	// parameters, as a PHC string) checks too.
	small := Params{Memory: 32, Time: 3, Threads: 4, KeyLen: 32}
	hs, _ := Hash("password", small)
	if ok, err := Check("password", hs); err != nil || !ok {
		t.Errorf("other parameters: %v %v", ok, err)
	}
	for _, bad := range []string{"", "$2a$10$abc", "$argon2i$v=19$m=32,t=3,p=4$c2FsdA$aGFzaA", "$argon2id$v=19$m=x$a$b"} {
		if _, err := Check("x", bad); err != ErrFormat {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
