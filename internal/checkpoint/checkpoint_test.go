package checkpoint

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

func TestKeysAndDirectory(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "checkpoint.key")
	pub, err := GenerateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateKey(keyFile); err == nil {
		t.Fatal("a second key overwrote the first")
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key file mode %v %v, want 0600", fi.Mode(), err)
	}
	key, err := ReadPrivateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{keyFile, keyFile + ".pub"} {
		if got, err := ReadPublicKeys(f); err != nil || len(got) != 1 || !got[0].Equal(pub) {
			t.Fatalf("public key from %s: %v", f, err)
		}
	}
	if _, err := ReadPrivateKey(keyFile + ".pub"); err == nil {
		t.Fatal("a public key read as a private key")
	}
	// After a rotation the trusted file holds the new key and the old.
	pub2, err := GenerateKey(filepath.Join(dir, "key2"))
	if err != nil {
		t.Fatal(err)
	}
	both := filepath.Join(dir, "trusted.pub")
	b1, _ := os.ReadFile(keyFile + ".pub")
	b2, _ := os.ReadFile(filepath.Join(dir, "key2.pub"))
	if err := os.WriteFile(both, append(b2, b1...), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadPublicKeys(both); err != nil || len(got) != 2 || !got[0].Equal(pub2) || !got[1].Equal(pub) {
		t.Fatalf("two trusted keys: %v %v", got, err)
	}
	if err := os.WriteFile(both, append(b1, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPublicKeys(both); err == nil {
		t.Fatal("a certificate among the keys was taken")
	}

	out := Dir(filepath.Join(dir, "published"))
	sign := Signer(key, time.Now)
	var prev *opsflow.Checkpoint
	for i := range 2 {
		cp, err := sign(prev, []opsflow.CheckpointHead{{Stream: "capa-1", Seq: int64(i + 1), Hash: "h"}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := cp.MarshalIndent()
		for range 2 { // publishing again changes nothing
			if err := out.Publish(t.Context(), cp, body); err != nil {
				t.Fatal(err)
			}
		}
		prev = &cp
	}
	other, _ := sign(nil, []opsflow.CheckpointHead{{Stream: "capa-9", Seq: 1, Hash: "x"}})
	body, _ := other.MarshalIndent()
	if err := out.Publish(t.Context(), other, body); err == nil || !strings.Contains(err.Error(), "other content") {
		t.Fatalf("a second checkpoint 1: %v", err)
	}
	idx, err := Verified(string(out), pub)
	if err != nil || idx.Count != 2 || len(idx.Marks["capa-1"]) != 2 || idx.Marks["capa-1"][1].Seq != 2 {
		t.Fatalf("verified %+v %v", idx, err)
	}
	// Edit one, remove one: both are named.
	path := filepath.Join(string(out), FileName(2))
	b, _ := os.ReadFile(path)
	_ = os.Chmod(path, 0o644)
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), `"seq": 2`, `"seq": 1`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Verified(string(out), pub); err == nil || !strings.Contains(err.Error(), "checkpoint 2: the signature does not verify") {
		t.Fatalf("an edited checkpoint: %v", err)
	}
	if err := os.Remove(filepath.Join(string(out), FileName(1))); err != nil {
		t.Fatal(err)
	}
	if _, err := Verified(string(out), pub); err == nil || !strings.Contains(err.Error(), "checkpoint 1 is missing") {
		t.Fatalf("a missing checkpoint: %v", err)
	}
}

func TestWebhook(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	var bodies []string
	fail := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		b, _ := io.ReadAll(r.Body)
		if fail {
			fail = false
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		keys, bodies = append(keys, r.Header.Get("Idempotency-Key")), append(bodies, string(b))
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	dir := t.TempDir()
	if _, err := GenerateKey(filepath.Join(dir, "k")); err != nil {
		t.Fatal(err)
	}
	key, _ := ReadPrivateKey(filepath.Join(dir, "k"))
	cp, _ := Signer(key, time.Now)(nil, nil)
	body, _ := cp.MarshalIndent()
	w := Webhook{URL: srv.URL + "/log?token=secret"}
	if err := w.Publish(t.Context(), cp, body); err == nil || !strings.Contains(err.Error(), "503") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("first call: %v (want the status, not the URL's secret)", err)
	}
	if err := w.Publish(t.Context(), cp, body); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || !strings.HasPrefix(keys[0], "opsflow-checkpoint-1-") || bodies[0] != string(body) {
		t.Fatalf("received %v %v", keys, bodies)
	}
}
