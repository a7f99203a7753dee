package opsflow

import (
	"strings"
	"time"
)

// Electronic signatures after 21 CFR Part 11:
//
//   - §11.50: a signed record shows the signer's printed name, the date and
//     time (UTC) and the meaning of the signature (Signature);
//   - §11.70: the signature is bound to the record it signs — to the
//     SHA-256 of that exact record version, whose ID it contains — so it
//     cannot be copied to another record or another version;
//   - §11.100 and §11.200: signing re-authenticates the signer with a
//     factor the request does not carry: a signing password, set by the
//     user and stored only as an argon2id hash, entered at each signing.
//     The API checks it; it never reaches a workflow, the trail or a log.
//     Failed attempts are audited on the user's stream and lock signing
//     after a configured number, for a configured time.
//
// Signatures are taken at the CAPA's decision, plan approval,
// effectiveness result and closure, and at a Kaizen plan's approval and
// its standardisation.

// ESign is a signature as the signer enters it: their printed name, what
// the signature means, and their signing password. The API checks the
// password, blanks it and sets Method before the step goes on; a step
// input that still carries a password, or no method, is refused.
type ESign struct {
	PrintedName string `json:"printed_name"`
	Meaning     string `json:"meaning"`
	// Password is the signer's signing password (PUT
	// /v1/me/signing-password): checked by the API, never sent on,
	// stored or recorded.
	Password string `json:"signing_password,omitempty"`
	// Method says how the signer re-authenticated; the API sets it.
	Method string `json:"method,omitempty"`
}

// SignMethodPassword is the method of a signature made with a signing
// password.
const SignMethodPassword = "signing password (argon2id)"

// Signer is a step body that carries a signature: the API checks it
// before the step goes on. Sig returns nil when none was given.
type Signer interface {
	Sig() *ESign
}

// Check validates a signature given at field for actor a: it is there, the
// printed name is a's own, the meaning is said, and the API has checked
// the password (Method set, Password blank).
//
// field is where the signature sits in the body ("signature"), or "" when
// its fields are the body's own (sign-closure).
func (s *ESign) Check(field string, a Actor) error {
	at := func(name string) string {
		if field == "" {
			return name
		}
		return field + "." + name
	}
	if s == nil {
		return Invalid(field, "this step is signed (21 CFR Part 11): give %s with printed_name, meaning and signing_password", field)
	}
	if strings.TrimSpace(s.PrintedName) == "" {
		return Invalid(at("printed_name"), "the signer's printed name is required")
	}
	if !strings.EqualFold(strings.TrimSpace(s.PrintedName), strings.TrimSpace(a.Name)) {
		return Invalid(at("printed_name"), "the printed name must be the signer's own name (%s)", a.Name)
	}
	if strings.TrimSpace(s.Meaning) == "" {
		return Invalid(at("meaning"), "the meaning of the signature is required (e.g. \"approved\")")
	}
	if s.Password != "" || s.Method == "" {
		return Invalid(at("signing_password"), "the signing password was not checked")
	}
	return nil
}

// Verified marks the signature's password as checked by method: the
// password is blanked, so it goes no further.
func (s *ESign) Verified(method string) {
	s.Password, s.Method = "", method
}

// SigningLock says when a user's signing is locked after failed attempts.
type SigningLock struct {
	Failures    int        `json:"failures"`
	LockedUntil *time.Time `json:"locked_until,omitempty"`
}

// SigningPolicy is how many wrong signing passwords in a row lock
// signing, and for how long; and how long a signing password must be.
type SigningPolicy struct {
	MaxFailures int
	Lockout     time.Duration
	MinLength   int
}

// DefaultSigningPolicy: five failures lock signing for 15 minutes; a
// signing password has at least 8 characters.
func DefaultSigningPolicy() SigningPolicy {
	return SigningPolicy{MaxFailures: 5, Lockout: 15 * time.Minute, MinLength: 8}
}

// CheckSigningPassword refuses a signing password that is too short or
// the same as the user's ID or name.
func (p SigningPolicy) CheckSigningPassword(u User, pw string) error {
	if len([]rune(pw)) < p.MinLength {
		return Invalid("signing_password", "a signing password needs at least %d characters", p.MinLength)
	}
	if len(pw) > 200 {
		return Invalid("signing_password", "a signing password has at most 200 bytes")
	}
	if strings.EqualFold(pw, u.ID) || strings.EqualFold(pw, u.Name) {
		return Invalid("signing_password", "the signing password may not be your user ID or name")
	}
	return nil
}
