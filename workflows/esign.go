package workflows

import (
	"encoding/json"
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/opsflow/opsflow"
)

// signRecord makes a Part 11 signature of actor over record, the record
// version being signed (without earlier signed versions, which it would
// otherwise nest): the SHA-256 of its canonical form, which holds the
// record's ID, binds the signature to this record and this version. It
// returns the signature and the signed version for the record to keep,
// and records the signing event that carries the hash (what an
// inspection pack checks each signature against).
//
// The API checked the signer's signing password before the step came
// here; checkSig refuses a signature it did not check.
func signRecord(ctx workflow.Context, e *engine, actor opsflow.Actor, role opsflow.Role, action, step, recordID string, es opsflow.ESign, record any) (opsflow.Signature, opsflow.SignedVersion, error) {
	raw, err := json.Marshal(record) //workflowcheck:ignore encoding/json sorts map keys: its output is deterministic
	if err != nil {
		return opsflow.Signature{}, opsflow.SignedVersion{}, fmt.Errorf("encode signed record: %w", err)
	}
	canon, err := opsflow.CanonicalJSON(raw) //workflowcheck:ignore encoding/json sorts map keys: its output is deterministic
	if err != nil {
		return opsflow.Signature{}, opsflow.SignedVersion{}, err
	}
	hash, _ := opsflow.RecordHash(canon) //workflowcheck:ignore encoding/json sorts map keys: its output is deterministic
	sig := opsflow.Signature{RecordID: recordID, Step: step, SignerID: actor.ID, PrintedName: es.PrintedName,
		SignedAt: e.now(ctx).UTC(), Meaning: es.Meaning, RecordHash: hash, Method: es.Method}
	e.record(ctx, change{Actor: actor, Role: role, Action: action, Field: "signatures", New: hash,
		Reason: fmt.Sprintf("%s: %s, signed by %s (%s)", step, es.Meaning, es.PrintedName, actor.ID)})
	return sig, opsflow.SignedVersion{RecordHash: hash, Record: canon}, nil
}

// checkSig refuses a signature the API did not check (a password still in
// it, or no method). A step given none passes here: the API requires
// them, and steps taken before signatures existed replay unsigned.
func checkSig(es *opsflow.ESign) error {
	if es != nil && (es.Password != "" || es.Method == "") {
		return opsflow.Invalid("signature.signing_password", "the signature was not checked by the API")
	}
	return nil
}
