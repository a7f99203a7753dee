package opsflow

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// PackFormat identifies the inspection-pack format and its version.
const PackFormat = "opsflow.inspection-pack/v1"

// Audit actions the pack verification relies on. The workflow records them.
const (
	ActionSigned = "capa.signed" // New is the signed record's SHA-256
	ActionSealed = "capa.sealed" // New is the final record's SHA-256
)

// InspectionPack is what an auditor receives: for each process its final
// record, its full audit timeline with the chain hashes, and its signatures
// with the exact record versions they cover. VerifyPack checks it offline
// (`opsflow audit verify-pack FILE`) without access to opsflow.
type InspectionPack struct {
	Format      string       `json:"format"`
	GeneratedAt time.Time    `json:"generated_at"`
	GeneratedBy string       `json:"generated_by"`
	Query       string       `json:"query,omitempty"` // what was exported, e.g. "closed_from=…&closed_to=…"
	Records     []PackRecord `json:"records"`
}

// PackRecord is one process in an inspection pack.
type PackRecord struct {
	ID             string          `json:"id"`
	Kind           Kind            `json:"kind"`
	State          string          `json:"state"`
	Version        int64           `json:"version"`
	Record         json.RawMessage `json:"record"`
	Timeline       []AuditEvent    `json:"timeline"`
	Signatures     []Signature     `json:"signatures"`
	SignedVersions []SignedVersion `json:"signed_versions,omitempty"`
}

// PackReport is the result of VerifyPack.
type PackReport struct {
	VerifyReport
	Records    int `json:"records"`
	Signatures int `json:"signatures"`
}

// VerifyPack reads an inspection pack and checks, record by record:
//   - the timeline is a whole chain for the record's ID (VerifyChain:
//     sequence without gaps from 1, prev_hash links, recomputed hashes);
//   - each signature's record hash is the SHA-256 of the canonical JSON of
//     the signed record version included in the pack, and the timeline holds
//     the signing event with that hash;
//   - a final record sealed in the timeline (capa.sealed) hashes to the
//     sealed value, so the record itself cannot be altered either.
//
// It returns the report naming the first broken link; the error is for a
// pack that cannot be read at all.
func VerifyPack(r io.Reader) (PackReport, error) {
	var pack InspectionPack
	dec := json.NewDecoder(r)
	if err := dec.Decode(&pack); err != nil {
		return PackReport{}, fmt.Errorf("read inspection pack: %w", err)
	}
	if pack.Format != PackFormat {
		return PackReport{}, fmt.Errorf("read inspection pack: format %q, want %q", pack.Format, PackFormat)
	}
	rep := PackReport{}
	fail := func(brk ChainBreak) (PackReport, error) {
		rep.OK, rep.Break = false, &brk
		return rep, nil
	}
	for _, pr := range pack.Records {
		rep.Records++
		rep.Streams++
		rep.Events += len(pr.Timeline)
		if b := VerifyChain(pr.Timeline); b != nil {
			return fail(*b)
		}
		for _, e := range pr.Timeline {
			if e.Stream != pr.ID {
				return fail(ChainBreak{Stream: pr.ID, Seq: e.Seq, EventID: e.ID, Reason: fmt.Sprintf("event belongs to stream %s, not to record %s", e.Stream, pr.ID)})
			}
		}
		signed := map[string]bool{}
		sealed := ""
		for _, e := range pr.Timeline {
			switch e.Action {
			case ActionSigned:
				signed[e.New] = true
			case ActionSealed:
				sealed = e.New
			}
		}
		for i, s := range pr.Signatures {
			rep.Signatures++
			where := ChainBreak{Stream: pr.ID, EventID: fmt.Sprintf("%s/signatures[%d]", pr.ID, i)}
			j := slices.IndexFunc(pr.SignedVersions, func(v SignedVersion) bool { return v.RecordHash == s.RecordHash })
			if j < 0 {
				where.Reason = "the signed record version is not in the pack"
				return fail(where)
			}
			got, err := RecordHash(pr.SignedVersions[j].Record)
			if err != nil || got != s.RecordHash {
				where.Reason = fmt.Sprintf("the signed record version hashes to %s, not to the signed %s", got, s.RecordHash)
				return fail(where)
			}
			if !signed[s.RecordHash] {
				where.Reason = "no signing event in the timeline carries this signature's record hash"
				return fail(where)
			}
		}
		if sealed != "" {
			got, err := RecordHash(pr.Record)
			if err != nil || got != sealed {
				return fail(ChainBreak{Stream: pr.ID, EventID: pr.ID + "/record",
					Reason: fmt.Sprintf("the record hashes to %s but was sealed as %s", got, sealed)})
			}
			// The signatures listed must be the record's own.
			var rec struct {
				Signatures []Signature `json:"signatures"`
			}
			if err := json.Unmarshal(pr.Record, &rec); err == nil && !sameSignatures(rec.Signatures, pr.Signatures) {
				return fail(ChainBreak{Stream: pr.ID, EventID: pr.ID + "/signatures", Reason: "the signatures listed differ from the sealed record's"})
			}
		}
	}
	rep.OK = true
	return rep, nil
}

func sameSignatures(a, b []Signature) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.SignerID != y.SignerID || x.RecordHash != y.RecordHash || !x.SignedAt.Equal(y.SignedAt) ||
			strings.TrimSpace(x.Meaning) != strings.TrimSpace(y.Meaning) || x.PrintedName != y.PrintedName {
			return false
		}
	}
	return true
}
