package main

import (
	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/config"
	"github.com/opsflow/opsflow/server"
)

// securitySettings are the API's settings of who may read what, signing,
// rate limits and single sign-on (README: Security).
var securitySettings = []string{"read-all-staff"}

// applySecurity puts the security settings into the API's config.
func applySecurity(cfg *config.Config, sc *server.Config) error {
	pol, err := opsflow.ParseAllStaff(cfg.ReadAllStaff)
	if err != nil {
		return err
	}
	sc.ReadPolicy = &pol
	return nil
}
