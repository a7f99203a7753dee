package opsflow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Inspection-pack formats. v2 is what opsflow writes; v1 packs (written
// before RFC 8785 and sealed summaries) still verify by their own rules.
const (
	PackFormat   = "opsflow.inspection-pack/v2"
	PackFormatV1 = "opsflow.inspection-pack/v1"
)

// Audit actions the pack verification relies on.
const (
	ActionSigned        = "capa.signed"    // New is the signed record's SHA-256
	ActionSealed        = "capa.sealed"    // New is the final record's SHA-256
	ActionProcessSealed = "process.sealed" // the same, for a record closed outside its workflow (abandoned, terminated)
)

// InspectionPack is what an auditor receives: for each process its audit
// timeline with the chain hashes and, once it is final, its sealed record
// and signatures with the exact record versions they cover. VerifyPack
// checks it offline (`opsflow audit verify-pack FILE`, or the independent
// docs/verify_pack.py) without access to opsflow; docs/audit-pack.md
// specifies it.
//
// Generated*, Query and Format describe the export itself: they are the
// exporter's statement, not evidence, and no hash covers them. Everything
// in Records is covered (see VerifyPack).
type InspectionPack struct {
	Format      string       `json:"format"`
	GeneratedAt time.Time    `json:"generated_at"`
	GeneratedBy string       `json:"generated_by"`
	Query       string       `json:"query,omitempty"` // what was exported, e.g. "closed_from=…&closed_to=…"
	Records     []PackRecord `json:"records"`
}

// PackRecord is one process in an inspection pack.
//
// In a v2 pack every field is bound to a hash: ID to the stream of every
// event, Kind to the ID's prefix, State to the last state change in the
// timeline, Head to the timeline's last event; and for a final record
// RecordHash to the seal that ends the timeline, Record to RecordHash, and
// Signatures to the sealed record. An open record's body is not sealed by
// anything yet, so a v2 pack does not carry it: its evidence is its
// timeline, in which every change is an event with old and new values.
type PackRecord struct {
	ID             string          `json:"id"`
	Kind           Kind            `json:"kind"`
	State          string          `json:"state"`
	Version        int64           `json:"version,omitempty"` // v1 only: the read model's counter, bound to nothing
	Head           *PackHead       `json:"head,omitempty"`
	RecordHash     string          `json:"record_sha256,omitempty"`
	Record         json.RawMessage `json:"record,omitempty"`
	Timeline       []AuditEvent    `json:"timeline"`
	Signatures     []Signature     `json:"signatures,omitempty"`
	SignedVersions []SignedVersion `json:"signed_versions,omitempty"`
}

// PackHead is the last event of a record's timeline when it was exported.
type PackHead struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// PackReport is the result of VerifyPack.
type PackReport struct {
	VerifyReport
	Format     string `json:"format"`
	Records    int    `json:"records"`
	Sealed     int    `json:"sealed"`
	Signatures int    `json:"signatures"`
}

// FinalState reports whether state ends a process of kind k: such a record
// takes no more changes and must carry its seal.
func FinalState(k Kind, state string) bool {
	switch {
	case state == StateAbandoned || state == StateTerminated:
		return true
	case k == KindCAPA:
		return CAPAState(state).Final()
	case k == KindKaizen:
		return KaizenPhase(state).Final()
	case k == KindOnboarding:
		return OnboardingState(state).Final()
	}
	return false
}

// NewPackRecord assembles one process's part of a v2 pack from its record
// as stored and its whole timeline. A final record is included with its
// seal's hash and its signatures; an open one is represented by its
// timeline only.
func NewPackRecord(kind Kind, id, state string, record json.RawMessage, timeline []AuditEvent) (PackRecord, error) {
	pr := PackRecord{ID: id, Kind: kind, State: state, Timeline: timeline}
	if pr.Timeline == nil {
		pr.Timeline = []AuditEvent{}
	}
	if n := len(timeline); n > 0 {
		pr.Head = &PackHead{Seq: timeline[n-1].Seq, Hash: timeline[n-1].Hash}
	}
	if !FinalState(kind, state) {
		return pr, nil
	}
	if n := len(timeline); n > 0 && isSeal(timeline[n-1].Action) {
		pr.RecordHash = timeline[n-1].New
	}
	var rec struct {
		Signatures     []Signature     `json:"signatures"`
		SignedVersions []SignedVersion `json:"signed_versions"`
	}
	if err := json.Unmarshal(record, &rec); err != nil {
		return pr, fmt.Errorf("decode record %s: %w", id, err)
	}
	pr.Record, pr.Signatures, pr.SignedVersions = record, rec.Signatures, rec.SignedVersions
	return pr, nil
}

func isSeal(action string) bool { return action == ActionSealed || action == ActionProcessSealed }

// PackOptions adds evidence from outside the pack to VerifyPackWith.
type PackOptions struct {
	// Checkpoints, verified with their public key (VerifyCheckpoints):
	// each record's timeline must reach every checkpointed head of its
	// stream, with the same hash, so a trimmed or rewritten tail is named.
	Checkpoints *CheckpointIndex
}

// VerifyPack reads an inspection pack and checks it record by record (see
// VerifyPackWith). It returns the report naming the first broken link; the
// error is for a pack that cannot be read at all.
func VerifyPack(r io.Reader) (PackReport, error) { return VerifyPackWith(r, PackOptions{}) }

// VerifyPackWith is VerifyPack with checkpoints. For a v2 pack it checks,
// for each record:
//   - the timeline is a whole chain for the record's ID (VerifyChain:
//     sequence without gaps from 1, prev_hash links, recomputed hashes),
//     every event of the record's stream, the ID of the record's kind;
//   - head is the timeline's last event, and state the value of the last
//     state change in the timeline;
//   - a final state (closed, cancelled, …) ends the timeline with a seal,
//     the record hashes (RFC 8785, SHA-256) to the sealed value, the
//     record's own ID and state are the summary's, and the signatures
//     listed are the sealed record's; an open record carries no record,
//     signatures or signed versions, which nothing seals yet;
//   - each signature's record hash is that of a signed record version in
//     the pack, and the timeline holds the signing event with that hash;
//   - with checkpoints, the timeline reaches each signed head.
func VerifyPackWith(r io.Reader, opts PackOptions) (PackReport, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return PackReport{}, fmt.Errorf("read inspection pack: %w", err)
	}
	var pack InspectionPack
	if err := json.Unmarshal(b, &pack); err != nil {
		return PackReport{}, fmt.Errorf("read inspection pack: %w", err)
	}
	if pack.Format == PackFormat {
		// A v2 pack shows nothing that no hash covers: a member this
		// verifier does not know would be shown unchecked.
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&InspectionPack{}); err != nil {
			return PackReport{}, fmt.Errorf("read inspection pack: %w", err)
		}
	}
	rep := PackReport{Format: pack.Format}
	var check func(pr PackRecord, rep *PackReport) *ChainBreak
	switch pack.Format {
	case PackFormat:
		check = verifyRecordV2
	case PackFormatV1:
		check = verifyRecordV1
	default:
		return PackReport{}, fmt.Errorf("read inspection pack: format %q, want %q (or %q)", pack.Format, PackFormat, PackFormatV1)
	}
	for _, pr := range pack.Records {
		rep.Records++
		rep.Streams++
		rep.Events += len(pr.Timeline)
		brk := check(pr, &rep)
		if brk == nil && opts.Checkpoints != nil {
			brk = opts.Checkpoints.Check(pr.ID, pr.Timeline)
		}
		if brk != nil {
			rep.OK, rep.Break = false, brk
			return rep, nil
		}
	}
	rep.OK = true
	return rep, nil
}

func verifyRecordV2(pr PackRecord, rep *PackReport) *ChainBreak {
	at := func(field, format string, args ...any) *ChainBreak {
		return &ChainBreak{Stream: pr.ID, EventID: pr.ID + "/" + field, Reason: fmt.Sprintf(format, args...)}
	}
	if len(pr.Timeline) == 0 {
		return at("timeline", "the record has no timeline")
	}
	if pr.Version != 0 {
		return at("version", "version is the read model's counter, bound to nothing: a v2 pack does not show it")
	}
	if b := VerifyChain(pr.Timeline); b != nil {
		return b
	}
	for _, e := range pr.Timeline {
		if e.Stream != pr.ID {
			return &ChainBreak{Stream: pr.ID, Seq: e.Seq, EventID: e.ID, Reason: fmt.Sprintf("event belongs to stream %s, not to record %s", e.Stream, pr.ID)}
		}
	}
	if !slices.Contains([]Kind{KindCAPA, KindKaizen, KindOnboarding}, pr.Kind) || !strings.HasPrefix(pr.ID, pr.Kind.IDPrefix()) {
		return at("kind", "kind %q does not match the ID %s", pr.Kind, pr.ID)
	}
	last := pr.Timeline[len(pr.Timeline)-1]
	if pr.Head == nil || pr.Head.Seq != last.Seq || pr.Head.Hash != last.Hash {
		return at("head", "head %+v is not the timeline's last event (seq %d, hash %s)", pr.Head, last.Seq, last.Hash)
	}
	state, found := "", false
	for _, e := range pr.Timeline {
		if e.Field == pr.Kind.StateField() {
			state, found = e.New, true
		}
	}
	if !found || state != pr.State {
		return at("state", "state %q is not the timeline's last %s change (%q)", pr.State, pr.Kind.StateField(), state)
	}
	if !FinalState(pr.Kind, pr.State) {
		if len(pr.Record) > 0 || pr.RecordHash != "" || len(pr.Signatures) > 0 || len(pr.SignedVersions) > 0 {
			return at("record", "the record is %s (open): its body and signatures are sealed by nothing yet, so a pack may not show them", pr.State)
		}
		return nil
	}
	// Final: the timeline must end with the seal of this very record.
	if !isSeal(last.Action) {
		return at("seal", "the record is %s, a final state, but its timeline ends with %s (seq %d), not with a seal: the seal is missing or the timeline was cut", pr.State, last.Action, last.Seq)
	}
	if pr.RecordHash != last.New {
		return at("record_sha256", "record_sha256 %s is not the sealed %s", pr.RecordHash, last.New)
	}
	if got, ok := recordHashMatches(pr.Record, last.New); !ok {
		return at("record", "the record hashes to %s but was sealed as %s", got, last.New)
	}
	rep.Sealed++
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(pr.Record, &rec); err != nil {
		return at("record", "the sealed record is not a JSON object: %v", err)
	}
	var id, st string
	_ = json.Unmarshal(rec["id"], &id)
	_ = json.Unmarshal(rec[pr.Kind.StateField()], &st)
	if id != pr.ID || st != pr.State {
		return at("record", "the sealed record is %s in state %q, not %s in state %q", id, st, pr.ID, pr.State)
	}
	var sealedSigs []Signature
	if raw, ok := rec["signatures"]; ok {
		if err := json.Unmarshal(raw, &sealedSigs); err != nil {
			return at("signatures", "the sealed record's signatures do not decode: %v", err)
		}
	}
	if !sameSignatures(sealedSigs, pr.Signatures) {
		return at("signatures", "the signatures listed differ from the sealed record's")
	}
	var sealedVersions []SignedVersion
	if raw, ok := rec["signed_versions"]; ok {
		_ = json.Unmarshal(raw, &sealedVersions)
	}
	if !sameVersions(sealedVersions, pr.SignedVersions) {
		return at("signed_versions", "the signed versions listed differ from the sealed record's")
	}
	return checkSignatures(pr, rep)
}

// checkSignatures binds each signature to its signed record version and to
// its signing event in the timeline.
func checkSignatures(pr PackRecord, rep *PackReport) *ChainBreak {
	signed := map[string]bool{}
	for _, e := range pr.Timeline {
		if e.Action == ActionSigned {
			signed[e.New] = true
		}
	}
	for i, s := range pr.Signatures {
		rep.Signatures++
		where := ChainBreak{Stream: pr.ID, EventID: fmt.Sprintf("%s/signatures[%d]", pr.ID, i)}
		j := slices.IndexFunc(pr.SignedVersions, func(v SignedVersion) bool { return v.RecordHash == s.RecordHash })
		if j < 0 {
			where.Reason = "the signed record version is not in the pack"
			return &where
		}
		if got, ok := recordHashMatches(pr.SignedVersions[j].Record, s.RecordHash); !ok {
			where.Reason = fmt.Sprintf("the signed record version hashes to %s, not to the signed %s", got, s.RecordHash)
			return &where
		}
		if !signed[s.RecordHash] {
			where.Reason = "no signing event in the timeline carries this signature's record hash"
			return &where
		}
	}
	return nil
}

// verifyRecordV1 applies the rules v1 packs were written under: the chain,
// the signatures, and a sealed record's hash when a seal is present.
func verifyRecordV1(pr PackRecord, rep *PackReport) *ChainBreak {
	if b := VerifyChain(pr.Timeline); b != nil {
		return b
	}
	for _, e := range pr.Timeline {
		if e.Stream != pr.ID {
			return &ChainBreak{Stream: pr.ID, Seq: e.Seq, EventID: e.ID, Reason: fmt.Sprintf("event belongs to stream %s, not to record %s", e.Stream, pr.ID)}
		}
	}
	if b := checkSignatures(pr, rep); b != nil {
		return b
	}
	sealed := ""
	for _, e := range pr.Timeline {
		if e.Action == ActionSealed {
			sealed = e.New
		}
	}
	if sealed == "" {
		return nil
	}
	if got, ok := recordHashMatches(pr.Record, sealed); !ok {
		return &ChainBreak{Stream: pr.ID, EventID: pr.ID + "/record",
			Reason: fmt.Sprintf("the record hashes to %s but was sealed as %s", got, sealed)}
	}
	rep.Sealed++
	var rec struct {
		Signatures []Signature `json:"signatures"`
	}
	if err := json.Unmarshal(pr.Record, &rec); err == nil && !sameSignatures(rec.Signatures, pr.Signatures) {
		return &ChainBreak{Stream: pr.ID, EventID: pr.ID + "/signatures", Reason: "the signatures listed differ from the sealed record's"}
	}
	return nil
}

func sameSignatures(a, b []Signature) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.SignerID != y.SignerID || x.RecordHash != y.RecordHash || !x.SignedAt.Equal(y.SignedAt) ||
			x.Meaning != y.Meaning || x.PrintedName != y.PrintedName || x.Method != y.Method {
			return false
		}
	}
	return true
}

func sameVersions(a, b []SignedVersion) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, errx := JCS(a[i].Record)
		y, erry := JCS(b[i].Record)
		if a[i].RecordHash != b[i].RecordHash || errx != nil || erry != nil || !bytes.Equal(x, y) {
			return false
		}
	}
	return true
}
