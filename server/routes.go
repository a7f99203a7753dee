package server

import (
	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/workflows"
)

// routes lists every route of the API. Each process adds its block.
func (s *Server) routes() {
	e := s.echo
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)

	v1 := e.Group("/v1", s.authenticate)
	v1.GET("/openapi.json", s.openapi)
	v1.GET("/me", s.me)
	v1.GET("/tasks", s.listTasks)
	v1.GET("/audit/verify", s.verifyAudit)

	// capa
	v1.POST("/capas", s.createCAPA)
	v1.GET("/capas", s.listCAPAs)
	v1.GET("/capas/export", s.exportCAPAs)
	v1.GET("/capas/:id", s.getCAPA)
	v1.GET("/capas/:id/audit", s.capaAudit)
	v1.GET("/capas/:id/export", s.exportCAPA)
	v1.POST("/capas/:id/triage", capaStep(s, workflows.UpdateCAPATriage, func(in *opsflow.TriageInput, a opsflow.Actor) { in.Actor = a }))
	v1.POST("/capas/:id/decide", capaStep(s, workflows.UpdateCAPADecide, func(in *opsflow.DecideInput, a opsflow.Actor) { in.Actor = a }))
	v1.POST("/capas/:id/add-containment", capaStep(s, workflows.UpdateCAPAAddContainment, func(in *opsflow.ContainmentInput, a opsflow.Actor) { in.Actor = a }))
	v1.POST("/capas/:id/verify-containment", capaStep(s, workflows.UpdateCAPAVerifyContainment, func(in *opsflow.VerifyContainmentInput, a opsflow.Actor) { in.Actor = a }))
	v1.POST("/capas/:id/record-investigation", capaStep(s, workflows.UpdateCAPARecordInvestigation, func(in *opsflow.InvestigationInput, a opsflow.Actor) { in.Actor = a }))
	v1.POST("/capas/:id/propose-plan", capaStep(s, workflows.UpdateCAPAProposePlan, func(in *opsflow.PlanInput, a opsflow.Actor) { in.Actor = a }))
	v1.POST("/capas/:id/approve-plan", capaStep(s, workflows.UpdateCAPAApprovePlan, func(in *opsflow.ApprovePlanInput, a opsflow.Actor) { in.Actor = a }))
	v1.POST("/capas/:id/complete-action", capaStep(s, workflows.UpdateCAPACompleteAction, func(in *opsflow.CompleteActionInput, a opsflow.Actor) { in.Actor = a }))
	v1.POST("/capas/:id/verify-implementation", capaStep(s, workflows.UpdateCAPAVerifyImplementation, func(in *opsflow.VerifyImplementationInput, a opsflow.Actor) { in.Actor = a }))
	v1.POST("/capas/:id/record-effectiveness", capaStep(s, workflows.UpdateCAPARecordEffectiveness, func(in *opsflow.EffectivenessInput, a opsflow.Actor) { in.Actor = a }))
	v1.POST("/capas/:id/sign-closure", s.signCAPA)
	v1.POST("/capas/:id/request-extension", capaStep(s, workflows.UpdateCAPARequestExtension, func(in *opsflow.ExtensionInput, a opsflow.Actor) { in.Actor = a }))
	v1.POST("/capas/:id/decide-extension", capaStep(s, workflows.UpdateCAPADecideExtension, func(in *opsflow.DecideExtensionInput, a opsflow.Actor) { in.Actor = a }))
	v1.POST("/capas/:id/cancel", capaStep(s, workflows.UpdateCAPACancel, func(in *opsflow.CancelInput, a opsflow.Actor) { in.Actor = a }))
	v1.POST("/capas/:id/tasks/:task_id/start", s.capaMoveTask(opsflow.TaskInProgress))
	v1.POST("/capas/:id/tasks/:task_id/complete", s.capaMoveTask(opsflow.TaskDone))
	v1.POST("/capas/:id/tasks/:task_id/block", s.capaMoveTask(opsflow.TaskBlocked))
	v1.POST("/capas/:id/tasks/:task_id/skip", s.capaMoveTask(opsflow.TaskSkipped))
}
