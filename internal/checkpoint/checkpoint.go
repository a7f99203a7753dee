// Package checkpoint holds what surrounds a signed audit checkpoint
// (opsflow.Checkpoint) outside the database: its Ed25519 key files, the
// append-only places it is published to (a directory, a webhook), reading
// it back, and comparing the stored chains with it.
//
// The worker signs (worker.Checkpointer); the API's GET /v1/audit/verify
// and `opsflow audit verify` / `verify-pack` check, with the public key and
// the published copies only: the database's own log of checkpoints is
// never evidence.
package checkpoint

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/postgres"
)

// ---- keys

// GenerateKey writes a new Ed25519 private key to path (PKCS #8 PEM, mode
// 0600, never over an existing file) and its public key beside it, to
// path+".pub" (PKIX PEM). Both are what openssl reads
// (`openssl pkey -in key -pubout`).
func GenerateKey(path string) (ed25519.PublicKey, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate checkpoint key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode checkpoint key: %w", err)
	}
	if err := writeNew(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("write checkpoint key: %w", err)
	}
	pubPEM, err := PublicKeyPEM(pub)
	if err != nil {
		return nil, err
	}
	if err := writeNew(path+".pub", pubPEM, 0o644); err != nil {
		return nil, fmt.Errorf("write checkpoint public key: %w", err)
	}
	return pub, nil
}

// PublicKeyPEM encodes a public key as PKIX PEM.
func PublicKeyPEM(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode checkpoint public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ReadPrivateKey reads an Ed25519 private key written by GenerateKey (or
// `openssl genpkey -algorithm ed25519`).
func ReadPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("checkpoint key %s: not a PEM PRIVATE KEY", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("checkpoint key %s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("checkpoint key %s: %T, want an Ed25519 key", path, k)
	}
	return key, nil
}

// ReadPublicKeys reads the trusted Ed25519 public keys from one file of
// PKIX PEM blocks: one key, or, after a rotation, the current and the
// retired ones (cat new.pub old.pub > trusted.pub), since checkpoints
// signed by each stay in the chain. Given a private key file it derives
// the public key from it.
func ReadPublicKeys(path string) ([]ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint public key: %w", err)
	}
	var out []ed25519.PublicKey
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "PRIVATE KEY":
			key, err := ReadPrivateKey(path)
			if err != nil {
				return nil, err
			}
			return []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, nil
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("checkpoint public key %s: %w", path, err)
			}
			pub, ok := k.(ed25519.PublicKey)
			if !ok {
				return nil, fmt.Errorf("checkpoint public key %s: %T, want an Ed25519 key", path, k)
			}
			out = append(out, pub)
		default:
			return nil, fmt.Errorf("checkpoint public key %s: a PEM %s block, want PUBLIC KEY", path, blk.Type)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("checkpoint public key %s: not a PEM PUBLIC KEY", path)
	}
	return out, nil
}

// Signer returns the function the store calls to sign a checkpoint.
func Signer(key ed25519.PrivateKey, now func() time.Time) postgres.SignFunc {
	return func(prev *opsflow.Checkpoint, heads []opsflow.CheckpointHead) (opsflow.Checkpoint, error) {
		return opsflow.NewCheckpoint(key, prev, heads, now())
	}
}

// ---- publishing

// A Publisher puts a checkpoint where it can be appended but not changed.
// Publishing the same checkpoint again must succeed and change nothing.
type Publisher interface {
	Publish(ctx context.Context, cp opsflow.Checkpoint, body []byte) error
	String() string
}

// Dir publishes each checkpoint as a file of its own in a directory
// (checkpoint-000000000042.json), written once and never replaced. Mount
// it from storage that keeps it so (a WORM bucket, an append-only share,
// a directory another machine copies away).
type Dir string

// FileName is the name of checkpoint n's file.
func FileName(n int64) string { return fmt.Sprintf("checkpoint-%012d.json", n) }

// Publish writes the file, or finds it already written with the same
// content. A file of that number with other content is an error: the
// producer's log was altered (numbers reused), and the published copy wins.
func (d Dir) Publish(_ context.Context, cp opsflow.Checkpoint, body []byte) error {
	if err := os.MkdirAll(string(d), 0o755); err != nil {
		return fmt.Errorf("checkpoint dir: %w", err)
	}
	path := filepath.Join(string(d), FileName(cp.Number))
	err := writeNew(path, body, 0o444)
	if errors.Is(err, fs.ErrExist) {
		have, rerr := os.ReadFile(path)
		if rerr == nil && bytes.Equal(have, body) {
			return nil
		}
		return fmt.Errorf("publish checkpoint %d: %s exists with other content: checkpoints were numbered twice, the database's log of them was altered", cp.Number, path)
	}
	if err != nil {
		return fmt.Errorf("publish checkpoint %d: %w", cp.Number, err)
	}
	return nil
}

func (d Dir) String() string { return "directory " + string(d) }

// writeNew writes a file that must not exist: it is written beside and
// then linked into place, so a reader never sees half a file and an
// existing one is never replaced.
func writeNew(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), mode); err != nil {
		return err
	}
	err = os.Link(tmp.Name(), path)
	var le *os.LinkError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &le) && errors.Is(le.Err, fs.ErrExist):
		return fs.ErrExist
	}
	// A file system without hard links (some network shares): create the
	// file exclusively instead, which still never replaces one.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Webhook publishes each checkpoint with a POST of its JSON to a URL that
// keeps what it receives (a transparency log, a ticket system, a mailbox
// gateway). The Idempotency-Key header names the checkpoint and its
// digest, so a receiver can drop a repeat; any 2xx is success.
type Webhook struct {
	URL    string
	Client *http.Client // a 30 s-timeout client that follows no redirect if nil
}

// Publish posts the checkpoint.
func (w Webhook) Publish(ctx context.Context, cp opsflow.Checkpoint, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("checkpoint webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", fmt.Sprintf("opsflow-checkpoint-%d-%s", cp.Number, cp.Digest()[:16]))
	c := w.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	res, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("publish checkpoint %d to %s: %w", cp.Number, w, err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("publish checkpoint %d to %s: answered %s", cp.Number, w, res.Status)
	}
	return nil
}

func (w Webhook) String() string {
	// The URL may carry a secret in its query: show only where it goes.
	u := w.URL
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	return "webhook " + u
}

// ---- reading back and verifying

// LoadDir reads every checkpoint file of a directory, in number order.
func LoadDir(dir string) ([]opsflow.Checkpoint, error) {
	names, err := filepath.Glob(filepath.Join(dir, "checkpoint-*.json"))
	if err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	out := make([]opsflow.Checkpoint, 0, len(names))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("checkpoints: %w", err)
		}
		cp, err := opsflow.ParseCheckpoint(b)
		if err != nil {
			return nil, fmt.Errorf("checkpoints: %s: %w", filepath.Base(n), err)
		}
		if filepath.Base(n) != FileName(cp.Number) {
			return nil, fmt.Errorf("checkpoints: %s holds checkpoint %d", filepath.Base(n), cp.Number)
		}
		out = append(out, cp)
	}
	return out, nil
}

// Verified reads the checkpoints published in dir and checks them with the
// trusted public keys (opsflow.VerifyCheckpoints).
func Verified(dir string, pubs ...ed25519.PublicKey) (opsflow.CheckpointIndex, error) {
	cps, err := LoadDir(dir)
	if err != nil {
		return opsflow.CheckpointIndex{}, err
	}
	return opsflow.VerifyCheckpoints(cps, pubs...)
}

// Verifier checks the stored chains against the checkpoints published in
// a directory, with their public key: what `GET /v1/audit/verify` and
// `opsflow audit verify` add to the chains' own check.
type Verifier struct {
	Dir        string
	PublicKeys []ed25519.PublicKey // trusted: the current key, and retired ones after a rotation
	Store      *postgres.DB
}

// VerifyAgainstCheckpoints compares the chains (one stream, or all when
// stream is "") with the published checkpoints and returns the first
// difference. Checkpoints that cannot be read or do not verify (altered,
// missing in the middle, signed by another key) are a break too: the
// chains cannot be vouched for by them. The error is for the database.
func (v Verifier) VerifyAgainstCheckpoints(ctx context.Context, stream string) (opsflow.CheckpointReport, *opsflow.ChainBreak, error) {
	ids := make([]string, len(v.PublicKeys))
	for i, pub := range v.PublicKeys {
		ids[i] = opsflow.KeyID(pub)
	}
	rep := opsflow.CheckpointReport{Source: Dir(v.Dir).String(), KeyID: strings.Join(ids, ",")}
	idx, err := Verified(v.Dir, v.PublicKeys...)
	if err != nil {
		return rep, &opsflow.ChainBreak{Stream: stream, Reason: "the published checkpoints cannot be relied on: " + err.Error()}, nil
	}
	rep.Checkpoints, rep.Last, rep.LastAt = idx.Count, idx.Last, idx.LastAt
	brk, n, err := v.Store.CompareCheckpoints(ctx, idx, stream)
	rep.Streams = n
	return rep, brk, err
}
