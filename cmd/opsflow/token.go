package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
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
	var userID, name, roles, label, id string
	switch sub {
	case "create":
		fs.StringVar(&userID, "user", "", "user ID (required), e.g. alice; reserved IDs (system, role names, …) are refused")
		fs.StringVar(&name, "name", "", "display name of a new user, e.g. \"Alice Martin\" (default: the user ID)")
		fs.StringVar(&roles, "roles", "", "comma-separated roles of a new user (required for one): "+rolesList()+
			"; for an existing user, empty or the roles they have (change them with 'opsflow user roles')")
		fs.StringVar(&label, "label", "", "what the token is for, e.g. \"laptop\"")
	case "list":
		fs.StringVar(&userID, "user", "", "only this user's tokens")
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
		if userID == "" {
			return errors.New("--user is required")
		}
		var rs []opsflow.Role
		if roles != "" {
			if rs, err = opsflow.ParseRoles(roles); err != nil {
				return fmt.Errorf("--roles: %s", opsflow.ErrorMessage(err))
			}
		}
		tok, err := db.IssueToken(ctx, opsflow.User{ID: userID, Name: name, Roles: rs}, label, cliActor())
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintln(stdout, tok)
		return nil
	case "list":
		toks, err := db.ListTokens(ctx, userID)
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
		if err := db.RevokeTokenBy(ctx, id, cliActor()); err != nil {
			return cliError(err)
		}
		fmt.Fprintf(stdout, "revoked %s\n", id)
		return nil
	}
}

// runUser administers users beyond their tokens: changing a user's roles
// is a command of its own, never a side effect of issuing a token, and it
// is recorded on the user's audit stream (user/<id>) with who, when, old
// and new roles and why.
func runUser(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "roles" {
		return errors.New("usage: opsflow user roles --user ID --set ROLES --reason TEXT")
	}
	var cfg config.Config
	fs := newFlags("user roles", &cfg, "database-url", "migrate-database-url", "log-level")
	userID := fs.String("user", "", "user ID (required)")
	set := fs.String("set", "", "the user's roles from now on, comma-separated (required): "+rolesList())
	reason := fs.String("reason", "", "why the roles change (required; recorded in the audit trail)")
	if err := config.Parse(fs, args[1:]); err != nil {
		return err
	}
	if *userID == "" || *set == "" || *reason == "" {
		return errors.New("--user, --set and --reason are required")
	}
	rs, err := opsflow.ParseRoles(*set)
	if err != nil {
		return fmt.Errorf("--set: %s", opsflow.ErrorMessage(err))
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
	old, err := db.SetUserRoles(ctx, *userID, rs, cliActor(), *reason)
	if err != nil {
		return cliError(err)
	}
	if opsflow.SameRoles(old, rs) {
		fmt.Fprintf(stdout, "%s already has roles %s: nothing changed\n", *userID, roleNames(rs))
		return nil
	}
	fmt.Fprintf(stdout, "%s: roles %s → %s (recorded on audit stream %s)\n", *userID, roleNames(old), roleNames(rs), opsflow.UserStream(*userID))
	return nil
}

// cliActor is who acts through the command line: the machine's account,
// since the command line authenticates with the database's credentials,
// not with an opsflow token. Its ID (cli:…) is reserved for people.
func cliActor() opsflow.Actor {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return opsflow.Actor{ID: opsflow.CLIActorPrefix + name, Name: fmt.Sprintf("%s (opsflow command line on %s)", name, host),
		Roles: []opsflow.Role{opsflow.RoleAdmin}}
}

// cliError shows an opsflow error's message, not its wrapping.
func cliError(err error) error {
	if c := opsflow.ErrorCode(err); c != opsflow.EINTERNAL && c != "" {
		return errors.New(opsflow.ErrorMessage(err))
	}
	return err
}

func roleNames(rs []opsflow.Role) string {
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += ","
		}
		s += string(r)
	}
	return s
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
