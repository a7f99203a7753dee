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
}
