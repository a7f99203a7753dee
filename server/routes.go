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
}
