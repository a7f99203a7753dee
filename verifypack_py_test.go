package opsflow

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The independent verifier in docs/verify_pack.py must judge packs as
// VerifyPack does: this runs it (python3, standard library only) on a pack
// made by NewPackRecord, as the export makes it, and on trimmed and
// tampered copies. server's CAPA lifecycle test runs it on a real export.
func TestPythonVerifier(t *testing.T) {
	python := pythonOrSkip(t)
	run := func(pack []byte) (string, bool) {
		t.Helper()
		f := filepath.Join(t.TempDir(), "pack.json")
		if err := os.WriteFile(f, pack, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(python, "docs/verify_pack.py", f).CombinedOutput()
		if err != nil {
			if _, ok := err.(*exec.ExitError); !ok {
				t.Fatal(err)
			}
		}
		return strings.TrimSpace(string(out)), err == nil
	}
	good := goodPackRecord(t)
	if out, ok := run(packOf(t, good)); !ok || !strings.HasPrefix(out, "pack verifies: 1 records, 1 signatures") {
		t.Fatalf("good pack: %s", out)
	}
	rec, tl := closedCAPA(t)
	open, _ := NewPackRecord(KindCAPA, "capa-1", "effectiveness_check", rec, tl[:4])
	if out, ok := run(packOf(t, open)); !ok {
		t.Fatalf("open record: %s", out)
	}
	edit := func(raw json.RawMessage, f func(m map[string]any)) json.RawMessage {
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	cases := map[string]func(pr *PackRecord){
		"seal deleted, title and risk edited": func(pr *PackRecord) {
			pr.Timeline = pr.Timeline[:len(pr.Timeline)-1]
			l := pr.Timeline[len(pr.Timeline)-1]
			pr.Head = &PackHead{Seq: l.Seq, Hash: l.Hash}
			pr.Record = edit(pr.Record, func(m map[string]any) { m["title"] = "Cosmetic"; m["risk"] = map[string]any{"level": "low"} })
		},
		"record title changed":      func(pr *PackRecord) { pr.Record = edit(pr.Record, func(m map[string]any) { m["title"] = "x" }) },
		"summary state changed":     func(pr *PackRecord) { pr.State = "cancelled" },
		"event reason changed":      func(pr *PackRecord) { pr.Timeline[2].Reason = "risk accepted" },
		"signature meaning changed": func(pr *PackRecord) { pr.Signatures[0].Meaning = "reviewed" },
		"signed version changed": func(pr *PackRecord) {
			pr.SignedVersions[0].Record = edit(pr.SignedVersions[0].Record, func(m map[string]any) { m["title"] = "x" })
		},
		"shown as open with a record": func(pr *PackRecord) {
			pr.Timeline = pr.Timeline[:4]
			pr.Head = &PackHead{Seq: 4, Hash: pr.Timeline[3].Hash}
			pr.State = "effectiveness_check"
		},
		"kind changed":  func(pr *PackRecord) { pr.Kind = KindOnboarding },
		"version shown": func(pr *PackRecord) { pr.Version = 3 },
	}
	for name, tamper := range cases {
		pr := goodPackRecord(t)
		tamper(&pr)
		b := packOf(t, pr)
		goRep, err := VerifyPack(bytes.NewReader(b))
		if err != nil || goRep.OK {
			t.Errorf("%s: Go verifier accepted it (%v)", name, err)
		}
		if out, ok := run(b); ok || !strings.Contains(out, "pack does NOT verify: capa-1: ") {
			t.Errorf("%s: Python verifier: %s", name, out)
		} else {
			t.Logf("%s: %s", name, out)
		}
	}
}

// The Python verifier's RFC 8785 matches the Go one's on the RFC's
// numbers, random doubles and awkward strings.
func TestPythonJCSMatchesGo(t *testing.T) {
	python := pythonOrSkip(t)
	r := rand.New(rand.NewPCG(3, 4))
	var docs []string
	for _, f := range []float64{0, 1, -1, 0.1, 1e21, 1e-7, 1e-6, 123456789012345678901234, 5e-324, math.MaxFloat64, 333333333.33333329, 9.999999999999997e22} {
		docs = append(docs, strconv.FormatFloat(f, 'g', -1, 64))
	}
	for range 200 {
		b, _ := json.Marshal(randomValue(r, 3))
		docs = append(docs, string(b))
	}
	in, _ := json.Marshal(docs)
	cmd := exec.Command(python, "-c", `import json, sys; sys.path.insert(0, "docs"); import verify_pack as v
for d in json.load(sys.stdin): print(json.dumps(v.jcs(json.loads(d))))`)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(docs) {
		t.Fatalf("%d answers for %d documents", len(lines), len(docs))
	}
	for i, d := range docs {
		want, err := JCS([]byte(d))
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if err := json.Unmarshal([]byte(lines[i]), &got); err != nil || got != string(want) {
			t.Fatalf("JCS(%s): Python %s, Go %s", d, lines[i], want)
		}
	}
}

func pythonOrSkip(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is needed to run docs/verify_pack.py")
		}
		t.Skip("python3 not found: the independent verifier is not run")
	}
	return p
}
