// Package secret hashes and checks people's signing passwords with
// argon2id (RFC 9106), in the PHC string format that other tools read:
//
//	$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>   (salt and hash: base64, no padding)
//
// The parameters are stored with each hash, so stronger ones later still
// check the old hashes.
package secret

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
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

// Hash returns the PHC string of password under p, with a fresh salt.
func Hash(password string, p Params) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("secret: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// ErrFormat is a stored hash that is no argon2id PHC string.
var ErrFormat = errors.New("secret: not an argon2id hash")

// Check reports whether password matches the PHC string hash, in time
// that does not depend on how much of it matched.
func Check(password, hash string) (bool, error) {
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
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
