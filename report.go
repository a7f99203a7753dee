package opsflow

import (
	"net/mail"
	"slices"
	"strings"
	"time"
)

// The monthly executive report: one page per month, on a schedule an
// administrator sets, stored immutable with its SHA-256 (see reports in
// the postgres package). This file holds what it says and its settings;
// the report package renders it.

// ReportID is the ID of a month's report: one per period, so a re-run for
// the same month finds the report it already made.
func ReportID(month string) string { return "rpt-" + month }

// ReportStream is the audit stream of a report.
func ReportStream(id string) string { return "report/" + id }

// NotifyReport is the outbox kind of a monthly report for one address of
// its distribution list (recipient: an e-mail address, process
// "report/<id>"). The notifications dispatcher mails the address the
// report's PDF, with a link to it.
const NotifyReport = "report"

// ReportSettingsStream is the audit stream of the report schedule.
const ReportSettingsStream = "report-schedule"

// ReportSettings is when the monthly report runs and who receives it. The
// report runs on DayOfMonth at Hour:Minute in TimeZone and covers the month
// before; CommentaryDaysBefore days earlier, the owners of red and amber
// KPIs get a task to comment (0: no commentary round).
type ReportSettings struct {
	DayOfMonth           int        `json:"day_of_month"`
	Hour                 int        `json:"hour"`
	Minute               int        `json:"minute"`
	TimeZone             string     `json:"time_zone"`
	CommentaryDaysBefore int        `json:"commentary_days_before"`
	Distribution         []string   `json:"distribution"` // e-mail addresses
	Paused               bool       `json:"paused,omitempty"`
	UpdatedBy            string     `json:"updated_by,omitempty"`
	UpdatedAt            *time.Time `json:"updated_at,omitempty"`
}

// Check validates settings; loc is the time zone as loaded (the caller
// loads it: the domain does no I/O).
func (s ReportSettings) Check(locErr error) error {
	switch {
	case s.DayOfMonth < 1 || s.DayOfMonth > 28:
		return Invalid("day_of_month", "day_of_month must be from 1 to 28 (every month has it)")
	case s.Hour < 0 || s.Hour > 23:
		return Invalid("hour", "hour must be from 0 to 23")
	case s.Minute < 0 || s.Minute > 59:
		return Invalid("minute", "minute must be from 0 to 59")
	case strings.TrimSpace(s.TimeZone) == "" || locErr != nil:
		return Invalid("time_zone", "time_zone must be an IANA time zone, e.g. Europe/Berlin")
	case s.CommentaryDaysBefore < 0 || s.CommentaryDaysBefore >= s.DayOfMonth:
		return Invalid("commentary_days_before", "commentary_days_before must be from 0 to %d, so the commentary round falls in the same month as the report", s.DayOfMonth-1)
	case len(s.Distribution) > 200:
		return Invalid("distribution", "at most 200 recipients")
	}
	for i, a := range s.Distribution {
		if addr, err := mail.ParseAddress(a); err != nil || addr.Address != a {
			return Invalid("distribution", "distribution[%d]: %q is not an e-mail address", i, a)
		}
	}
	if slices.Contains(s.Distribution, "") {
		return Invalid("distribution", "an empty address")
	}
	return nil
}

// ReportKPI is one line of the report: a KPI's month.
type ReportKPI struct {
	Key       string    `json:"key"`
	Name      string    `json:"name"`
	Owner     string    `json:"owner"`
	Unit      string    `json:"unit"`
	Direction Direction `json:"direction"`
	KPIStatus
	// Commentary is the owner's line on a red or amber month;
	// CommentaryMissing says it was due and is not there.
	Commentary        string `json:"commentary,omitempty"`
	CommentaryMissing bool   `json:"commentary_missing,omitempty"`
	// Open counts the processes its signals opened that are still open.
	Open int `json:"open_processes"`
}

// NeedsCommentary reports whether the owner owes a line on the month.
func (k ReportKPI) NeedsCommentary() bool { return k.Status == Red || k.Status == Amber }

// ReportProcess is an open CAPA or Kaizen in the report.
type ReportProcess struct {
	ID       string     `json:"id"`
	Kind     Kind       `json:"kind"`
	Title    string     `json:"title"`
	Owner    string     `json:"owner"`
	State    string     `json:"state"`
	DueAt    *time.Time `json:"due_at,omitempty"`
	OpenedAt time.Time  `json:"opened_at"`
	// CarriedForward: opened before the month and still open — earlier
	// months' actions, carried forward.
	CarriedForward bool   `json:"carried_forward"`
	Overdue        bool   `json:"overdue"`
	KPI            string `json:"kpi,omitempty"` // the KPI whose signal opened it
}

// ManagementReview holds the ISO 9001 §9.3.2 inputs the report carries:
// the status of actions, nonconformities and corrective actions, the
// effectiveness of actions taken, improvement, and the people figures
// onboarding gives.
type ManagementReview struct {
	CAPAOpen             int     `json:"capa_open"` // open when the report was made
	CAPAOpenedInPeriod   int     `json:"capa_opened_in_period"`
	CAPAClosedInPeriod   int     `json:"capa_closed_in_period"`
	CAPAOverdue          int     `json:"capa_overdue"`
	CAPAEffective        int     `json:"capa_effective"`
	CAPAIneffective      int     `json:"capa_ineffective"`
	KaizenOpen           int     `json:"kaizen_open"`
	KaizenClosedInPeriod int     `json:"kaizen_closed_in_period"`
	ImpactActual         float64 `json:"impact_actual"` // hard savings locked by the Kaizens closed in the month
	OnboardingsStarted   int     `json:"onboardings_started"`
	OnboardingsDay1Ready int     `json:"onboardings_day1_ready"`
	OnboardingsCompleted int     `json:"onboardings_completed"`
	OnboardingsActive    int     `json:"onboardings_active"`
}

// ReportContent is what a report says, without its pictures: it is stored
// beside the rendered HTML and PDF, and GET /v1/reports/{id} answers it.
type ReportContent struct {
	Title    string           `json:"title"`
	Period   Period           `json:"period"`
	KPIs     []ReportKPI      `json:"kpis"`
	Counts   map[RAG]int      `json:"counts"`
	Missing  []string         `json:"missing_commentary"` // KPI keys whose owner has not commented on a red or amber month
	Open     []ReportProcess  `json:"open_processes"`
	Review   ManagementReview `json:"management_review"`
	Footnote string           `json:"footnote"`
}

// Report is a stored report as the API lists it.
type Report struct {
	ID           string        `json:"id"`
	Period       string        `json:"period"`
	TimeZone     string        `json:"time_zone"`
	ScheduledAt  *time.Time    `json:"scheduled_at,omitempty"`
	GeneratedAt  time.Time     `json:"generated_at"`
	GeneratedBy  string        `json:"generated_by"`
	HTMLSHA256   string        `json:"html_sha256"`
	PDFSHA256    string        `json:"pdf_sha256"`
	HTMLBytes    int           `json:"html_bytes"`
	PDFBytes     int           `json:"pdf_bytes"`
	Distribution []string      `json:"distribution"`
	Content      ReportContent `json:"content"`
	HTMLURL      string        `json:"html_url"`
	PDFURL       string        `json:"pdf_url"`
}
