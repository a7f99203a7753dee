package server

import (
	"context"
	"encoding/json"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/workflows"
)

// onboardingStore is what the onboarding handlers read beyond the shared process reads.
type onboardingStore interface {
	CreateTemplate(ctx context.Context, t opsflow.OnboardingTemplate) (opsflow.OnboardingTemplate, bool, error)
	Template(ctx context.Context, role string, version int) (opsflow.OnboardingTemplate, error)
	LatestTemplates(ctx context.Context) ([]opsflow.OnboardingTemplate, error)
	UserExists(ctx context.Context, id string) (bool, error)
}

func itoa(n int) string { return strconv.Itoa(n) }

// onboardingRequest is the body of POST /v1/onboardings. The start is a
// date (day one begins at 09:00 in the hire's timezone) or, for demos and
// tests with short days, an exact RFC 3339 start_at.
type onboardingRequest struct {
	Hire            opsflow.Hire `json:"hire"`
	Role            string       `json:"role"`
	TemplateVersion int          `json:"template_version"` // 0: the latest
	Department      string       `json:"department"`
	Location        string       `json:"location"`
	Timezone        string       `json:"timezone"` // IANA; UTC if empty
	ManagerID       string       `json:"manager_id"`
	MentorID        string       `json:"mentor_id"`
	StartDate       string       `json:"start_date"`
	StartAt         *time.Time   `json:"start_at"`
}

// startMoment resolves a start date and/or moment in tz, refusing a start
// in the past (before today in the hire's timezone).
func (s *Server) startMoment(date string, at *time.Time, tz string) (string, time.Time, error) {
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "" || strings.EqualFold(tz, "local") {
		return "", time.Time{}, opsflow.Invalid("timezone", "timezone must be an IANA name such as Europe/Paris")
	}
	var start time.Time
	if at != nil {
		start = at.UTC()
		d := at.In(loc).Format(time.DateOnly)
		if date != "" && date != d {
			return "", time.Time{}, opsflow.Invalid("start_date", "start_date %s is not the date of start_at (%s in %s)", date, d, tz)
		}
		date = d
	} else {
		if date == "" {
			return "", time.Time{}, opsflow.Invalid("start_date", "start_date is required")
		}
		if start, err = opsflow.StartMoment(date, tz); err != nil {
			return "", time.Time{}, err
		}
	}
	today := s.Now().In(loc).Format(time.DateOnly)
	if date < today {
		return "", time.Time{}, opsflow.Invalid("start_date", "start_date %s is in the past", date)
	}
	return date, start.UTC(), nil
}

func (s *Server) checkUser(ctx context.Context, field, id string) error {
	ok, err := s.Store.UserExists(ctx, id)
	if err != nil {
		return err
	}
	if !ok {
		return opsflow.Invalid(field, "no user %q", id)
	}
	return nil
}

// createOnboarding validates the request, resolves the template version
// from PostgreSQL and starts the workflow with the whole template, so the
// onboarding keeps that version even when the template changes.
func (s *Server) createOnboarding(c echo.Context) error {
	if err := requireAny(c, opsflow.RoleHR, opsflow.RoleAdmin); err != nil {
		return err
	}
	var in onboardingRequest
	if err := bind(c, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	in.Hire.Name, in.Hire.Email = strings.TrimSpace(in.Hire.Name), strings.TrimSpace(in.Hire.Email)
	if in.Hire.Name == "" {
		return opsflow.Invalid("hire.name", "the hire's name is required")
	}
	if a, err := mail.ParseAddress(in.Hire.Email); err != nil || a.Address != in.Hire.Email {
		return opsflow.Invalid("hire.email", "hire.email must be an e-mail address")
	}
	if in.Role == "" {
		return opsflow.Invalid("role", "role is required (a template role, e.g. office)")
	}
	if in.TemplateVersion < 0 {
		return opsflow.Invalid("template_version", "template_version must be 1 or more")
	}
	tpl, err := s.Store.Template(ctx, in.Role, in.TemplateVersion)
	if opsflow.ErrorCode(err) == opsflow.ENOTFOUND {
		if in.TemplateVersion > 0 {
			return opsflow.Invalid("template_version", "%s", opsflow.ErrorMessage(err))
		}
		return opsflow.Invalid("role", "no onboarding template for role %q", in.Role)
	} else if err != nil {
		return err
	}
	if in.Timezone == "" {
		in.Timezone = "UTC"
	}
	date, start, err := s.startMoment(in.StartDate, in.StartAt, in.Timezone)
	if err != nil {
		return err
	}
	if in.ManagerID == "" {
		return opsflow.Invalid("manager_id", "manager_id is required")
	}
	if err := s.checkUser(ctx, "manager_id", in.ManagerID); err != nil {
		return err
	}
	if in.MentorID != "" {
		if err := s.checkUser(ctx, "mentor_id", in.MentorID); err != nil {
			return err
		}
	}
	return s.startProcess(c, opsflow.KindOnboarding, workflows.WorkflowOnboarding, workflows.OnboardingInput{
		Actor: actorOf(c), Hire: in.Hire, Template: tpl, Day: s.Day,
		Placement: opsflow.Placement{Role: in.Role, Department: in.Department, Location: in.Location, Timezone: in.Timezone,
			ManagerID: in.ManagerID, MentorID: in.MentorID, StartDate: date, StartAt: start},
	})
}

func (s *Server) getOnboarding(c echo.Context) error { return s.getProcess(c, opsflow.KindOnboarding) }
func (s *Server) onboardingAudit(c echo.Context) error {
	return s.processAudit(c, opsflow.KindOnboarding)
}

// listOnboardings: filters state, manager, role, overdue, start_from and
// start_to (dates; from included, to excluded), keyset pagination.
func (s *Server) listOnboardings(c echo.Context) error {
	f := opsflow.ProcessFilter{Kind: opsflow.KindOnboarding}
	f.State, f.OwnerID, f.Cursor = c.QueryParam("state"), c.QueryParam("owner"), c.QueryParam("cursor")
	if f.State != "" && !slices.Contains(opsflow.OnboardingStates, opsflow.OnboardingState(f.State)) {
		return opsflow.Invalid("state", "unknown onboarding state %q", f.State)
	}
	var err error
	if f.Limit, err = queryInt(c, "limit", opsflow.DefaultPageSize, 1, opsflow.MaxPageSize); err != nil {
		return err
	}
	for _, name := range []string{"start_from", "start_to"} {
		v := c.QueryParam(name)
		if v == "" {
			continue
		}
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return opsflow.Invalid(name, "%s must be a date like 2026-12-01", name)
		}
		if name == "start_from" {
			f.SearchFrom = map[string]string{"start_date": v}
		} else {
			f.SearchTo = map[string]string{"start_date": v}
		}
	}
	search := map[string]string{}
	for _, k := range []string{"manager", "role"} {
		if v := c.QueryParam(k); v != "" {
			search[k] = v
		}
	}
	overdue, err := queryBool(c, "overdue")
	if err != nil {
		return err
	}
	if overdue != nil {
		search["overdue"] = strconv.FormatBool(*overdue)
	}
	if len(search) > 0 {
		f.Search = search
	}
	return s.respondList(c, f)
}

// Task moves of an onboarding, through the shared move-task update.
func (s *Server) startOnboardingTask(c echo.Context) error {
	return s.moveTask(c, opsflow.KindOnboarding, opsflow.TaskInProgress)
}
func (s *Server) completeOnboardingTask(c echo.Context) error {
	return s.moveTask(c, opsflow.KindOnboarding, opsflow.TaskDone)
}
func (s *Server) blockOnboardingTask(c echo.Context) error {
	return s.moveTask(c, opsflow.KindOnboarding, opsflow.TaskBlocked)
}
func (s *Server) skipOnboardingTask(c echo.Context) error {
	return s.moveTask(c, opsflow.KindOnboarding, opsflow.TaskSkipped)
}

// checkInRequest is the body of POST /v1/onboardings/{id}/check-ins.
type checkInRequest struct {
	Day       int      `json:"day"`
	Notes     string   `json:"notes"`
	Sentiment int      `json:"sentiment"`
	Risks     []string `json:"risks"`
}

func (s *Server) onboardingCheckIn(c echo.Context) error {
	var in checkInRequest
	if err := bind(c, &in); err != nil {
		return err
	}
	if err := opsflow.ValidateCheckIn(opsflow.CheckIn{Day: in.Day, Notes: in.Notes, Sentiment: in.Sentiment, Risks: in.Risks}); err != nil {
		return err
	}
	return s.updateProcess(c, opsflow.KindOnboarding, workflows.UpdateCheckIn, workflows.CheckInInput{
		Actor: actorOf(c), Day: in.Day, Notes: in.Notes, Sentiment: in.Sentiment, Risks: in.Risks})
}

// moveStartRequest is the body of POST /v1/onboardings/{id}/move-start-date.
type moveStartRequest struct {
	StartDate string     `json:"start_date"`
	StartAt   *time.Time `json:"start_at"`
	Reason    string     `json:"reason"`
}

func (s *Server) onboardingMoveStart(c echo.Context) error {
	var in moveStartRequest
	if err := bind(c, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Reason) == "" {
		return opsflow.Invalid("reason", "a reason is required to move the start date")
	}
	row, err := s.Store.GetProcess(c.Request().Context(), opsflow.KindOnboarding, c.Param("id"))
	if err != nil {
		if opsflow.ErrorCode(err) == opsflow.ENOTFOUND {
			return notFound(opsflow.KindOnboarding, c.Param("id"))
		}
		return err
	}
	var rec struct {
		Placement opsflow.Placement `json:"placement"`
	}
	if err := json.Unmarshal(row.Record, &rec); err != nil {
		return err
	}
	date, start, err := s.startMoment(in.StartDate, in.StartAt, rec.Placement.Timezone)
	if err != nil {
		return err
	}
	return s.updateProcess(c, opsflow.KindOnboarding, workflows.UpdateMoveStartDate, workflows.StartDateMove{
		Actor: actorOf(c), StartDate: date, StartAt: start, Reason: in.Reason})
}

// reasonRequest is a body with only a reason.
type reasonRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) cancelOnboarding(c echo.Context) error {
	var in reasonRequest
	if err := bind(c, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Reason) == "" {
		return opsflow.Invalid("reason", "a reason is required (offer withdrawn, no-show, …)")
	}
	return s.updateProcess(c, opsflow.KindOnboarding, workflows.UpdateCancelOnboarding, workflows.CancelOnboarding{Actor: actorOf(c), Reason: in.Reason})
}

func (s *Server) retryProvisioning(c echo.Context) error {
	return s.updateProcess(c, opsflow.KindOnboarding, workflows.UpdateRetryProvisioning, workflows.RetryProvisioning{Actor: actorOf(c), TaskID: c.Param("task_id")})
}
