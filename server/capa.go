package server

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/workflows"
)

// capaStore is what the capa handlers read beyond the shared process reads.
// The exports use only the shared reads (records, audit events) on purpose:
// an inspection pack is built from exactly what GET /audit serves.
type capaStore interface{}

// createCAPA opens a CAPA: POST /v1/capas (Idempotency-Key honoured).
func (s *Server) createCAPA(c echo.Context) error {
	if err := requireAny(c, opsflow.StartRoles(opsflow.KindCAPA)...); err != nil {
		return err
	}
	var req opsflow.CAPARequest
	if err := bindStep(c, &req); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	if err := s.checkPeople(c.Request().Context(), req); err != nil {
		return err
	}
	return s.startProcess(c, opsflow.KindCAPA, workflows.WorkflowCAPA, workflows.CAPAInput{Actor: actorOf(c), Request: req, Day: s.Day})
}

// listCAPAs: GET /v1/capas with state, risk_level, owner, source, type and
// opened/closed ranges; keyset pagination.
func (s *Server) listCAPAs(c echo.Context) error {
	if st := c.QueryParam("state"); st != "" && !slices.Contains(opsflow.CAPAStates, opsflow.CAPAState(st)) {
		return opsflow.Invalid("state", "unknown CAPA state %q", st)
	}
	if l := c.QueryParam("risk_level"); l != "" && !slices.Contains([]string{opsflow.RiskLow, opsflow.RiskMedium, opsflow.RiskHigh, opsflow.RiskCritical}, l) {
		return opsflow.Invalid("risk_level", "risk_level must be low, medium, high or critical")
	}
	if src := c.QueryParam("source"); src != "" && !slices.Contains(opsflow.CAPASourceTypes, src) {
		return opsflow.Invalid("source", "source must be one of %s", strings.Join(opsflow.CAPASourceTypes, ", "))
	}
	return s.listProcesses(c, opsflow.KindCAPA, "risk_level", "source", "type")
}

// ---- exports

// exportFormat reads ?format=json|csv (json by default).
func exportFormat(c echo.Context) (string, error) {
	f := c.QueryParam("format")
	switch f {
	case "":
		return "json", nil
	case "json", "csv":
		return f, nil
	}
	return "", opsflow.Invalid("format", "format must be json or csv")
}

// exportCAPA: GET /v1/capas/{id}/export — one CAPA as an inspection pack or
// CSV, for auditors and admins (guard checked the role, and that the
// caller reads the CAPA).
func (s *Server) exportCAPA(c echo.Context) error {
	format, err := exportFormat(c)
	if err != nil {
		return err
	}
	row, _ := guardedRow(c)
	pr, err := s.packRecord(c, row)
	if err != nil {
		return err
	}
	return s.writeExport(c, format, row.ID, "id="+row.ID, []exportItem{pr})
}

// exportCAPAs: GET /v1/capas/export?closed_from=&closed_to= — every CAPA
// closed (signed, closed without CAPA, or cancelled) in the range, that
// the caller reads. Auditors and admins only (guard).
func (s *Server) exportCAPAs(c echo.Context) error {
	format, err := exportFormat(c)
	if err != nil {
		return err
	}
	f := opsflow.ProcessFilter{Kind: opsflow.KindCAPA, Limit: opsflow.MaxPageSize, State: c.QueryParam("state"), Scope: s.scopeOf(c)}
	if f.ClosedFrom, err = queryTime(c, "closed_from"); err != nil {
		return err
	}
	if f.ClosedTo, err = queryTime(c, "closed_to"); err != nil {
		return err
	}
	if f.ClosedFrom == nil {
		return opsflow.Invalid("closed_from", "closed_from is required (a date or an RFC 3339 time)")
	}
	if f.ClosedTo == nil {
		return opsflow.Invalid("closed_to", "closed_to is required (a date or an RFC 3339 time)")
	}
	if f.ClosedTo.Before(*f.ClosedFrom) {
		return opsflow.Invalid("closed_to", "closed_to is before closed_from")
	}
	var records []exportItem
	for {
		page, err := s.Store.ListProcesses(c.Request().Context(), f)
		if err != nil {
			return err
		}
		for _, row := range page.Items {
			pr, err := s.packRecord(c, row)
			if err != nil {
				return err
			}
			records = append(records, pr)
		}
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	// Every record exported is in the access log before the export leaves.
	entries := make([]opsflow.AccessEntry, len(records))
	for i, it := range records {
		entries[i] = opsflow.AccessEntry{At: s.Now().UTC(), UserID: userOf(c).ID, Action: "export", RecordID: it.row.ID, Kind: it.row.Kind,
			RequestID: c.Response().Header().Get(echo.HeaderXRequestID)}
	}
	if err := s.Store.LogAccess(c.Request().Context(), entries); err != nil {
		return err
	}
	name := fmt.Sprintf("capas-closed-%s-%s", f.ClosedFrom.Format("20060102"), f.ClosedTo.Format("20060102"))
	return s.writeExport(c, format, name, c.QueryString(), records)
}

// packRecord assembles one CAPA's part of a pack: its audit timeline and,
// once it is final, its sealed record and signatures (see
// opsflow.NewPackRecord for what a v2 pack shows and why).
func (s *Server) packRecord(c echo.Context, row opsflow.Process) (exportItem, error) {
	events, err := s.Store.AuditEvents(c.Request().Context(), row.ID)
	if err != nil {
		return exportItem{}, err
	}
	pr, err := opsflow.NewPackRecord(row.Kind, row.ID, row.State, row.Record, events)
	if err != nil {
		return exportItem{}, err
	}
	return exportItem{row: row, pack: pr}, nil
}

// exportItem is one exported process: its pack entry (the evidence) and
// its read-model row (what the CSV shows beside each event).
type exportItem struct {
	row  opsflow.Process
	pack opsflow.PackRecord
}

func (s *Server) writeExport(c echo.Context, format, name, query string, items []exportItem) error {
	if format == "csv" {
		var buf bytes.Buffer
		if err := writeCSV(&buf, items); err != nil {
			return err
		}
		c.Response().Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.csv"`, name))
		return c.Blob(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
	}
	records := make([]opsflow.PackRecord, len(items))
	for i, it := range items {
		records[i] = it.pack
	}
	pack := opsflow.InspectionPack{Format: opsflow.PackFormat, GeneratedAt: s.Now().UTC(), GeneratedBy: userOf(c).ID, Query: query, Records: records}
	b, err := json.MarshalIndent(pack, "", "  ")
	if err != nil {
		return fmt.Errorf("encode inspection pack: %w", err)
	}
	c.Response().Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.pack.json"`, name))
	return c.JSONBlob(http.StatusOK, b)
}

// csvHeader: one row per audit event, with the CAPA's key fields repeated
// so that a spreadsheet filter on any column works.
var csvHeader = []string{"capa_id", "title", "capa_state", "risk_level", "owner", "opened_at", "closed_at", "signed_by", "record_sha256",
	"seq", "at", "actor_id", "actor_name", "actor_role", "action", "field", "old", "new", "reason", "prev_hash", "hash"}

func writeCSV(w io.Writer, items []exportItem) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	for _, it := range items {
		r := it.pack
		var rec opsflow.CAPA
		if err := json.Unmarshal(it.row.Record, &rec); err != nil {
			return fmt.Errorf("decode record %s: %w", r.ID, err)
		}
		risk, closed, signer, hash := "", "", "", ""
		if rec.Risk != nil {
			risk = rec.Risk.Level
		}
		if rec.ClosedAt != nil {
			closed = rec.ClosedAt.UTC().Format(time.RFC3339)
		}
		if n := len(rec.Signatures); n > 0 {
			signer, hash = rec.Signatures[n-1].SignerID, rec.Signatures[n-1].RecordHash
		}
		for _, e := range r.Timeline {
			row := []string{r.ID, rec.Title, string(rec.State), risk, rec.Owner, rec.OpenedAt.UTC().Format(time.RFC3339), closed, signer, hash,
				strconv.FormatInt(e.Seq, 10), e.At.UTC().Format("2006-01-02T15:04:05.000000Z"), e.ActorID, e.ActorName, e.ActorRole,
				e.Action, e.Field, e.Old, e.New, e.Reason, e.PrevHash, e.Hash}
			for i := range row {
				row[i] = csvSafe(row[i])
			}
			if err := cw.Write(row); err != nil {
				return fmt.Errorf("write csv: %w", err)
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvSafe defuses spreadsheet formula injection: a cell that a spreadsheet
// would evaluate gets a leading apostrophe (OWASP). The JSON pack, not the
// CSV, is the verifiable artefact, so this changes no evidence.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// bindStep decodes a step's body strictly and refuses an "actor" field: the
// actor is always the authenticated user, and a body that tries to name
// someone else must fail loudly rather than be silently ignored.
func bindStep(c echo.Context, v any) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) == nil {
		if _, ok := top["actor"]; ok {
			return opsflow.Invalid("actor", "actor is not accepted: the actor is the authenticated user")
		}
	}
	return bind(c, v)
}
