package server

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
)

// stepHandler serves one step of the domain's step table
// (opsflow.Kinds): it decodes the body into the step's body type, makes
// the update's input with the authenticated actor (refusing what can be
// refused without the process's state), and sends the update.
func (s *Server) stepHandler(st opsflow.Step) echo.HandlerFunc {
	return func(c echo.Context) error {
		call := opsflow.Call{Actor: actorOf(c), TaskID: c.Param("task_id")}
		var body any
		if st.Body != nil {
			v := reflect.New(st.Body)
			if !st.OptionalBody || c.Request().ContentLength != 0 {
				if err := bindStep(c, v.Interface()); err != nil {
					return err
				}
			}
			body = v.Elem().Interface()
			if err := s.checkPeople(c.Request().Context(), body); err != nil {
				return err
			}
		}
		var in any
		var err error
		if prep := s.prepare[stepKey(st.Kind, st.Path)]; prep != nil {
			in, err = prep(c, call, body)
		} else {
			in, err = st.Input(call, body)
		}
		if err != nil {
			return err
		}
		return s.updateProcess(c, st.Kind, st.Name, in)
	}
}

func stepKey(kind opsflow.Kind, path string) string { return string(kind) + "/" + path }

// preparer makes a step's input where that needs more than the body: the
// store (a baseline measured from the KPI, the hire's time zone) or a
// second credential. It replaces the step's own Input, and checks as much.
type preparer func(c echo.Context, call opsflow.Call, body any) (any, error)

// preparers lists the steps whose input the API prepares.
func (s *Server) preparers() map[string]preparer {
	return map[string]preparer{
		stepKey(opsflow.KindCAPA, opsflow.CAPAStep.SignClosure.Route()):           s.prepareSignature,
		stepKey(opsflow.KindCAPA, opsflow.CAPAStep.RecordEffectiveness.Route()):   s.prepareEffectiveness,
		stepKey(opsflow.KindCAPA, opsflow.CAPAStep.ProposePlan.Route()):           s.prepareCAPAPlan,
		stepKey(opsflow.KindKaizen, opsflow.KaizenStep.SubmitPlan.Route()):        s.preparePlan,
		stepKey(opsflow.KindOnboarding, opsflow.OnboardingStep.MoveStart.Route()): s.prepareMoveStart,
	}
}

// prepareSignature checks the credential the signer entered again (Part
// 11 §11.200: a signature executed by re-entering a credential). The token
// is checked here and never sent on, stored or audited.
func (s *Server) prepareSignature(c echo.Context, call opsflow.Call, body any) (any, error) {
	b := body.(opsflow.SignBody)
	token := strings.TrimSpace(b.Token)
	if token == "" {
		return nil, opsflow.Invalid("token", "re-enter your API token to sign")
	}
	u, err := s.Store.Authenticate(c.Request().Context(), token)
	if err != nil {
		if opsflow.ErrorCode(err) != opsflow.EUNAUTHORIZED {
			return nil, err
		}
		return nil, opsflow.Errorf(opsflow.EUNAUTHORIZED, "the re-entered token is not valid: the signature was not applied")
	}
	if u.ID != call.Actor.ID {
		return nil, opsflow.Forbidden("the re-entered token belongs to someone else: sign with your own credential")
	}
	return opsflow.CAPAStep.SignClosure.Input(call, b)
}

// preparePlan measures a baseline given as a window of the initiative's
// KPI, so the workflow records a value.
func (s *Server) preparePlan(c echo.Context, call opsflow.Call, body any) (any, error) {
	plan := body.(opsflow.A3)
	if plan.Baseline != nil {
		ctx := c.Request().Context()
		var k opsflow.Kaizen
		if err := s.readRecord(ctx, opsflow.KindKaizen, c.Param("id"), &k); err != nil {
			return nil, err
		}
		var err error
		if plan.Baseline, err = s.resolveBaseline(ctx, k.KPI.Key, plan.Baseline); err != nil {
			return nil, err
		}
	}
	return opsflow.KaizenStep.SubmitPlan.Input(call, plan)
}

// prepareMoveStart resolves the new start in the hire's time zone.
func (s *Server) prepareMoveStart(c echo.Context, call opsflow.Call, body any) (any, error) {
	b := body.(opsflow.MoveStartBody)
	if strings.TrimSpace(b.Reason) == "" {
		return nil, opsflow.Invalid("reason", "a reason is required to move the start date")
	}
	var o opsflow.Onboarding
	if err := s.readRecord(c.Request().Context(), opsflow.KindOnboarding, c.Param("id"), &o); err != nil {
		return nil, err
	}
	date, start, err := s.startMoment(b.StartDate, b.StartAt, o.Placement.Timezone)
	if err != nil {
		return nil, err
	}
	in, err := opsflow.OnboardingStep.MoveStart.Input(call, opsflow.MoveStartBody{StartDate: date, StartAt: &start, Reason: b.Reason})
	return in, err
}

// readRecord reads the record of process id into v.
func (s *Server) readRecord(ctx context.Context, kind opsflow.Kind, id string, v any) error {
	row, err := s.Store.GetProcess(ctx, kind, id)
	if err != nil {
		if opsflow.ErrorCode(err) == opsflow.ENOTFOUND {
			return notFound(kind, id)
		}
		return err
	}
	return json.Unmarshal(row.Record, v)
}
