package server

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
