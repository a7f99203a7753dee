package main

import (
	"fmt"
	"log/slog"
	"strconv"

	"github.com/opsflow/opsflow/internal/config"
	"github.com/opsflow/opsflow/notify"
	"github.com/opsflow/opsflow/postgres"
	"github.com/opsflow/opsflow/worker"
)

// notifySettings are the settings of the notification dispatcher that
// every worker runs.
var notifySettings = []string{"public-url", "smtp-host", "smtp-port", "smtp-username", "smtp-password", "smtp-from", "smtp-tls"}

// newDispatcher builds the dispatcher from the settings. Without an SMTP
// host e-mail deliveries are skipped (and say so); chat and webhooks
// still go out.
func newDispatcher(cfg *config.Config, db *postgres.DB, log *slog.Logger) (*worker.Dispatcher, error) {
	r, err := notify.NewRenderer(cfg.PublicURL, log)
	if err != nil {
		return nil, fmt.Errorf("public URL %q: %w", cfg.PublicURL, err)
	}
	d := &worker.Dispatcher{Store: db, Renderer: r, Log: log.With("component", "notifications")}
	if cfg.SMTPHost == "" {
		log.Warn("no SMTP server configured: e-mail notifications are skipped (set OPSFLOW_SMTP_HOST)")
		return d, nil
	}
	port := 0
	if cfg.SMTPPort != "" {
		if port, err = strconv.Atoi(cfg.SMTPPort); err != nil || port <= 0 || port > 65535 {
			return nil, fmt.Errorf("SMTP port %q: want a number 1–65535", cfg.SMTPPort)
		}
	}
	tlsPolicy, err := notify.ParseTLSPolicy(cfg.SMTPTLS)
	if err != nil {
		return nil, err
	}
	email, err := notify.NewEmail(notify.EmailConfig{
		Host: cfg.SMTPHost, Port: port, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword,
		From: cfg.SMTPFrom, FromName: "opsflow", TLS: tlsPolicy, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	d.Email = email
	return d, nil
}
