// Package secret hashes and checks people's signing passwords with
// argon2id (RFC 9106), in the PHC string format that other tools read:
//
//	$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>   (salt and hash: base64, no padding)
//
// The parameters are stored with each hash, so stronger ones later still
// check the old hashes.
package secret

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	KeyLen  uint32
}

// Default is RFC 9106's second recommended option (64 MiB, 3 passes,
// 4 lanes), with a 32-byte key.
var Default = Params{Memory: 64 * 1024, Time: 3, Threads: 4, KeyLen: 32}

var b64 = base64.RawStdEncoding

// slots bounds how many hashes are computed at once. Each one holds
// Params.Memory (64 MiB by default) and keeps Threads cores busy for a
// few hundred milliseconds: without a bound, a burst of signatures (or of
// wrong passwords from many accounts) would take the process's memory
// with it. One per core; the rest wait their turn, or their request's
// deadline.
var slots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))

// idKey is argon2.IDKey in one of the slots, or ctx's error if none
// frees up before ctx ends.
func idKey(ctx context.Context, password, salt []byte, p Params, keyLen uint32) ([]byte, error) {
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("secret: waiting to hash: %w", ctx.Err())
	}
	defer func() { <-slots }()
	return argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, keyLen), nil
}

// Hash returns the PHC string of password under p, with a fresh salt.
func Hash(ctx context.Context, password string, p Params) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("secret: salt: %w", err)
	}
	key, err := idKey(ctx, []byte(password), salt, p, p.KeyLen)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// ErrFormat is a stored hash that is no argon2id PHC string.
var ErrFormat = errors.New("secret: not an argon2id hash")

// Check reports whether password matches the PHC string hash, in time
// that does not depend on how much of it matched.
func Check(ctx context.Context, password, hash string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrFormat
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrFormat
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil || p.Threads == 0 || p.Time == 0 {
		return false, ErrFormat
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, ErrFormat
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, ErrFormat
	}
	got, err := idKey(ctx, []byte(password), salt, p, uint32(len(want)))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
