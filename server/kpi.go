package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
)

// maxMeasurementBatch bounds one POST of measurements, so one request
// cannot hold a transaction open for long.
const maxMeasurementBatch = 1000

// kpiRequest is the body of POST /v1/kpis.
type kpiRequest struct {
	Key         string            `json:"key"`
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Unit        string            `json:"unit"`
	Direction   opsflow.Direction `json:"direction"`
	Owner       string            `json:"owner,omitempty"` // defaults to the caller
	// What good is (issue 11); each may be left out and set later.
	Frequency  opsflow.Frequency       `json:"frequency,omitempty"` // monthly when left out
	Missing    *opsflow.MissingRule    `json:"missing,omitempty"`
	Method     string                  `json:"method,omitempty"`
	Source     string                  `json:"source,omitempty"`
	Target     *targetBody             `json:"target,omitempty"`
	Thresholds *opsflow.Thresholds     `json:"thresholds,omitempty"`
	Policy     *opsflow.ResponsePolicy `json:"policy,omitempty"`
	Rules      opsflow.ChartRules      `json:"rules,omitempty"`
	Baseline   *baselineBody           `json:"baseline,omitempty"`
}

func (s *Server) listKPIs(c echo.Context) error {
	limit, err := queryInt(c, "limit", opsflow.DefaultPageSize, 1, opsflow.MaxPageSize)
	if err != nil {
		return err
	}
	page, err := s.Store.ListKPIs(c.Request().Context(), limit, c.QueryParam("cursor"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

// measurementIn is one measurement as a client sends it.
type measurementIn struct {
	ID     string    `json:"id,omitempty"`
	Value  *float64  `json:"value,omitempty"`
	At     time.Time `json:"at,omitzero"`
	Source string    `json:"source,omitempty"`
}

// measurementsBody is either one measurement or a batch under "items".
type measurementsBody struct {
	measurementIn
	Items []measurementIn `json:"items,omitempty"`
}

// addMeasurements stores one measurement or a batch. A measurement is
// idempotent by its ID; without one, an Idempotency-Key derives the IDs
// (key and position), so a retried batch adds nothing twice. Without
// either, each call adds new measurements.
func (s *Server) addMeasurements(c echo.Context) error {
	if err := requireAny(c, opsflow.RolesMeasure...); err != nil {
		return err
	}
	key := c.Param("key")
	if isCSV(c) {
		return s.addMeasurementsCSV(c, key)
	}
	var body measurementsBody
	if err := bind(c, &body); err != nil {
		return err
	}
	single := body.Items == nil
	items, prefix := body.Items, "items[%d]."
	if single {
		items, prefix = []measurementIn{body.measurementIn}, ""
	} else if body.ID != "" || body.Value != nil || !body.At.IsZero() || body.Source != "" {
		return opsflow.Invalid("items", "send one measurement, or a batch under items, not both")
	}
	if len(items) == 0 {
		return opsflow.Invalid("items", "the batch is empty")
	}
	if len(items) > maxMeasurementBatch {
		return opsflow.Invalid("items", "at most %d measurements per request", maxMeasurementBatch)
	}
	idem, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	u, now := userOf(c), s.Now()
	ms := make([]opsflow.Measurement, len(items))
	for i, in := range items {
		p := prefix
		if !single {
			p = fmt.Sprintf(prefix, i)
		}
		if in.Value == nil {
			return opsflow.Invalid(p+"value", "value is required")
		}
		m := opsflow.Measurement{ID: in.ID, KPI: key, Value: *in.Value, At: in.At.UTC(), Source: in.Source, RecordedBy: u.ID}
		switch {
		case m.ID != "":
		case idem != "":
			m.ID = "k-" + digest(24, u.ID, key, idem, strconv.Itoa(i))
		default:
			var b [12]byte
			_, _ = rand.Read(b[:])
			m.ID = "m-" + hex.EncodeToString(b[:])
		}
		if err := m.Validate(p, now); err != nil {
			return err
		}
		ms[i] = m
	}
	stored, added, err := s.Store.AddMeasurements(c.Request().Context(), key, ms)
	if err != nil {
		return err
	}
	// Told on a retry too (added 0): the first attempt may have stored
	// and failed to tell.
	if err := s.tellWatch(c, key, "measurements", added); err != nil {
		return err
	}
	status := http.StatusCreated
	if added == 0 {
		status = http.StatusOK // everything was already there: a retry
	}
	return c.JSON(status, measurementsAnswer{Items: stored, Added: added})
}

// measurementsAnswer is the answer of POST /v1/kpis/{key}/measurements.
type measurementsAnswer struct {
	Items []opsflow.Measurement `json:"items,omitempty"`
	Added int                   `json:"added"` // new ones; 0 for a retry
}

func (s *Server) listMeasurements(c echo.Context) error {
	from, err := queryTime(c, "from")
	if err != nil {
		return err
	}
	to, err := queryTime(c, "to")
	if err != nil {
		return err
	}
	if from != nil && to != nil && !from.Before(*to) {
		return opsflow.Invalid("to", "to must be after from")
	}
	limit, err := queryInt(c, "limit", opsflow.DefaultPageSize, 1, opsflow.MaxPageSize)
	if err != nil {
		return err
	}
	page, err := s.Store.Measurements(c.Request().Context(), c.Param("key"), from, to, limit, c.QueryParam("cursor"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}
