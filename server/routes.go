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

	v1 := e.Group("/v1", s.authenticate, s.idempotency)
	v1.GET("/openapi.json", s.openapi)
	v1.GET("/me", s.me)
	v1.GET("/tasks", s.listTasks)
	v1.GET("/audit/verify", s.verifyAudit)
	v1.GET("/admin/processes", s.listAdminProcesses)
	v1.POST("/admin/processes/:id/retry", s.retryStalled)
	v1.POST("/admin/processes/:id/abandon", s.abandonStalled)

	// kaizen and KPIs
	v1.POST("/kpis", s.createKPI)
	v1.GET("/kpis", s.listKPIs)
	v1.GET("/kpis/:key", s.getKPI)
	v1.POST("/kpis/:key/measurements", s.addMeasurements)
	v1.GET("/kpis/:key/measurements", s.listMeasurements)
	v1.POST("/kaizen", s.createKaizen)
	v1.GET("/kaizen", s.listKaizen)
	v1.GET("/kaizen/:id", s.getKaizen)
	v1.GET("/kaizen/:id/audit", s.kaizenAudit)
	v1.POST("/kaizen/:id/triage", s.triageKaizen)
	v1.POST("/kaizen/:id/submit-plan", s.submitKaizenPlan)
	v1.POST("/kaizen/:id/approve-plan", s.approveKaizenPlan)
	v1.POST("/kaizen/:id/record-observations", s.observeKaizen)
	v1.POST("/kaizen/:id/act", s.actKaizen)
	v1.POST("/kaizen/:id/record-impact", s.recordKaizenImpact)
	v1.POST("/kaizen/:id/cancel", s.cancelKaizen)
	v1.POST("/kaizen/:id/tasks/:task_id/start", s.startKaizenTask)
	v1.POST("/kaizen/:id/tasks/:task_id/complete", s.completeKaizenTask)
	v1.POST("/kaizen/:id/tasks/:task_id/block", s.blockKaizenTask)
	v1.POST("/kaizen/:id/tasks/:task_id/skip", s.skipKaizenTask)

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

	// onboarding
	v1.POST("/onboarding-templates", s.createTemplate)
	v1.GET("/onboarding-templates", s.listTemplates)
	v1.GET("/onboarding-templates/:role", s.getTemplate)
	v1.POST("/onboardings", s.createOnboarding)
	v1.GET("/onboardings", s.listOnboardings)
	v1.GET("/onboardings/:id", s.getOnboarding)
	v1.GET("/onboardings/:id/audit", s.onboardingAudit)
	v1.POST("/onboardings/:id/tasks/:task_id/start", s.startOnboardingTask)
	v1.POST("/onboardings/:id/tasks/:task_id/complete", s.completeOnboardingTask)
	v1.POST("/onboardings/:id/tasks/:task_id/block", s.blockOnboardingTask)
	v1.POST("/onboardings/:id/tasks/:task_id/skip", s.skipOnboardingTask)
	v1.POST("/onboardings/:id/tasks/:task_id/retry", s.retryProvisioning)
	v1.POST("/onboardings/:id/check-ins", s.onboardingCheckIn)
	v1.POST("/onboardings/:id/move-start-date", s.onboardingMoveStart)
	v1.POST("/onboardings/:id/cancel", s.cancelOnboarding)
}
