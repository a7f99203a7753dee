package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/config"
)

// runToken manages API tokens. Tokens are shown once, at creation; the
// database keeps only their SHA-256.
func runToken(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: opsflow token create|list|revoke [flags]")
	}
	var cfg config.Config
	sub, args := args[0], args[1:]
	fs := newFlags("token "+sub, &cfg, "database-url", "migrate-database-url", "log-level")
	var user, name, roles, label, id string
	switch sub {
	case "create":
		fs.StringVar(&user, "user", "", "user ID (required), e.g. alice")
		fs.StringVar(&name, "name", "", "display name, e.g. \"Alice Martin\" (default: the user ID)")
		fs.StringVar(&roles, "roles", "", "comma-separated roles (required): "+rolesList())
		fs.StringVar(&label, "label", "", "what the token is for, e.g. \"laptop\"")
	case "list":
		fs.StringVar(&user, "user", "", "only this user's tokens")
	case "revoke":
		fs.StringVar(&id, "id", "", "token ID (from 'opsflow token list') (required)")
	default:
		return fmt.Errorf("unknown token command %q: want create, list or revoke", sub)
	}
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	log, err := cfg.Logger()
	if err != nil {
		return err
	}
	db, err := openMigrated(ctx, &cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "create":
		if user == "" {
			return errors.New("--user is required")
		}
		rs, err := opsflow.ParseRoles(roles)
		if err != nil {
			return fmt.Errorf("--roles: %s", opsflow.ErrorMessage(err))
		}
		if name == "" {
			name = user
		}
		tok, err := db.CreateToken(ctx, opsflow.User{ID: user, Name: name, Roles: rs}, label)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, tok)
		return nil
	case "list":
		toks, err := db.ListTokens(ctx, user)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSER\tLABEL\tCREATED\tLAST USED\tREVOKED")
		for _, t := range toks {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.UserID, t.Label, t.CreatedAt.UTC().Format(time.RFC3339), when(t.LastUsedAt), when(t.RevokedAt))
		}
		return tw.Flush()
	default:
		if id == "" {
			return errors.New("--id is required")
		}
		if err := db.RevokeToken(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s\n", id)
		return nil
	}
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func rolesList() string {
	s := ""
	for i, r := range opsflow.Roles {
		if i > 0 {
			s += ", "
		}
		s += string(r)
	}
	return s
}
