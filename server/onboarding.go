package server

import (
	"context"
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
	TemplateVersion int          `json:"template_version,omitempty"` // 0: the latest
	Department      string       `json:"department,omitempty"`
	Location        string       `json:"location,omitempty"`
	Timezone        string       `json:"timezone,omitempty"` // IANA; UTC if empty
	ManagerID       string       `json:"manager_id"`
	MentorID        string       `json:"mentor_id,omitempty"`
	StartDate       string       `json:"start_date,omitempty"`
	StartAt         *time.Time   `json:"start_at,omitempty"`
}

// UserRefs names the hire's manager and mentor.
func (r onboardingRequest) UserRefs() []opsflow.UserRef {
	out := []opsflow.UserRef{{Field: "manager_id", ID: r.ManagerID}}
	if r.MentorID != "" {
		out = append(out, opsflow.UserRef{Field: "mentor_id", ID: r.MentorID})
	}
	return out
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
	if err := requireAny(c, opsflow.StartRoles(opsflow.KindOnboarding)...); err != nil {
		return err
	}
	var in onboardingRequest
	if err := bind(c, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.checkPeople(ctx, in); err != nil {
		return err
	}
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

// listOnboardings: filters state, manager, role, overdue, start_from and
// start_to (dates; from included, to excluded), keyset pagination.
func (s *Server) listOnboardings(c echo.Context) error {
	f := opsflow.ProcessFilter{Kind: opsflow.KindOnboarding, Scope: s.scopeOf(c)}
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
