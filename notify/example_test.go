package notify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opsflow/opsflow/notify"
)

// A receiver of opsflow's generic webhook, written in Go.
func ExampleVerifySignature() {
	secret := []byte("a shared secret of at least 32 bytes")
	handler := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		err = notify.VerifySignature(secret, r.Header.Get(notify.HeaderSignature),
			r.Header.Get(notify.HeaderTimestamp), body, 5*time.Minute, time.Now())
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev notify.WebhookEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "bad JSON", http.StatusBadRequest)
			return
		}
		// Drop ev.ID if already processed (delivery is at least once), then act.
		fmt.Println(ev.Kind, ev.ID)
		w.WriteHeader(http.StatusNoContent)
	}

	body := []byte(`{"id":"ntf-1","kind":"overdue"}`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sec, _ := strconv.ParseInt(ts, 10, 64)
	req := httptest.NewRequest(http.MethodPost, "/hooks/opsflow", strings.NewReader(string(body)))
	req.Header.Set(notify.HeaderTimestamp, ts)
	req.Header.Set(notify.HeaderSignature, notify.Sign(secret, sec, body))
	rec := httptest.NewRecorder()
	handler(rec, req)
	fmt.Println(rec.Code)
	// Output:
	// overdue ntf-1
	// 204
}

// docsVerify is the standard-library receiver from docs/webhooks.md,
// copied verbatim: keep the two in step.
func docsVerify(secret []byte, sigHeader, ts string, body []byte, now time.Time) bool {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false // not a timestamp, or too old / too far ahead: a replay
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := []byte("v1=" + hex.EncodeToString(mac.Sum(nil)))
	for _, sig := range strings.Split(sigHeader, ",") {
		if hmac.Equal([]byte(strings.TrimSpace(sig)), want) {
			return true
		}
	}
	return false
}

func TestDocsReceiverAgreesWithSign(t *testing.T) {
	secret, body := []byte("whsec_test"), []byte(`{"id":"ntf-1"}`)
	now := time.Unix(1795000000, 0)
	sig := notify.Sign(secret, now.Unix(), body)
	if !docsVerify(secret, sig, "1795000000", body, now.Add(time.Minute)) {
		t.Error("the documented receiver rejects a genuine request")
	}
	if docsVerify(secret, sig, "1795000000", body, now.Add(6*time.Minute)) {
		t.Error("the documented receiver accepts a replay")
	}
	if docsVerify(secret, sig, "1795000000", []byte(`{"id":"ntf-2"}`), now) {
		t.Error("the documented receiver accepts a tampered body")
	}
}
