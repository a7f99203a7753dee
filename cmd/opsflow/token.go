package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/config"
	"github.com/opsflow/opsflow/postgres"
)

// runToken manages API tokens. Tokens are shown once, at creation; the
// database keeps only their SHA-256.
func runToken(ctx context.Context, args []string, stdout io.Writer) error {
	if wantsHelp(args) {
		fmt.Fprintln(stdout, "Usage: opsflow token create|list|revoke [flags]\n\nRun 'opsflow token <command> -h' for its flags.")
		return nil
	}
	if len(args) == 0 {
		return errors.New("usage: opsflow token create|list|revoke [flags]")
	}
	var cfg config.Config
	sub, args := args[0], args[1:]
	fs := newFlags("token "+sub, &cfg, "database-url", "migrate-database-url", "log-level")
	var userID, name, roles, label, id, expires string
	switch sub {
	case "create":
		fs.StringVar(&userID, "user", "", "user ID (required), e.g. alice; reserved IDs (system, role names, …) are refused")
		fs.StringVar(&name, "name", "", "display name of a new user, e.g. \"Alice Martin\" (default: the user ID)")
		fs.StringVar(&roles, "roles", "", "comma-separated roles of a new user (required for one): "+rolesList()+
			"; for an existing user, empty or the roles they have (change them with 'opsflow user roles')")
		fs.StringVar(&label, "label", "", "what the token is for, e.g. \"laptop\"")
		fs.StringVar(&expires, "expires", "", "when the token stops working: a duration from now (90d, 12h) or a date or RFC 3339 time (default: never)")
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
	db, err := openCLIStore(ctx, &cfg)
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
		until, err := opsflow.ParseExpiry(expires, time.Now())
		if err != nil {
			return fmt.Errorf("--%s", opsflow.ErrorMessage(err))
		}
		tok, err := db.IssueTokenUntil(ctx, opsflow.User{ID: userID, Name: name, Roles: rs}, label, cliActor(), until)
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
		fmt.Fprintln(tw, "ID\tUSER\tLABEL\tCREATED\tLAST USED\tEXPIRES\tREVOKED")
		for _, t := range toks {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.UserID, t.Label, t.CreatedAt.UTC().Format(time.RFC3339), when(t.LastUsedAt), when(t.ExpiresAt), when(t.RevokedAt))
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
const userUsage = `usage:
  opsflow user set --user ID [--name NAME] [--roles ROLES (a new user)] [--email ADDR] [--timezone ZONE] [--email-mode immediate|digest|off] [--digest-hour H]
      create a user, or change their name, address, time zone and e-mail preferences (audited)
  opsflow user show --user ID
  opsflow user roles --user ID --set ROLES --reason TEXT
      change a user's roles (audited, with the reason)
  opsflow user set-signing-password --user ID [--password-file FILE|-]
      set a user's Part 11 signing password (read from the file's first line, or stdin; stored as argon2id; audited)
  opsflow user unlock-signing --user ID --reason TEXT
      lift a signing lock after failed signing passwords (audited, with the reason)
  opsflow user link-sso --user ID --issuer URL --subject SUB --reason TEXT
  opsflow user link-sso --user ID --unlink --reason TEXT
      let an existing user sign on through the provider as themselves: link them to the identity (iss, sub)
      it vouches for; from then on their name and roles follow its claims (audited, with the reason)`

func runUser(ctx context.Context, args []string, stdout io.Writer) error {
	if wantsHelp(args) {
		fmt.Fprintln(stdout, userUsage)
		return nil
	}
	if len(args) == 0 {
		return errors.New(userUsage)
	}
	switch args[0] {
	case "set", "show":
		return runUserProfile(ctx, args[0], args[1:], stdout)
	case "set-signing-password", "unlock-signing":
		return runUserSigning(ctx, args[0], args[1:], stdout)
	case "link-sso":
		return runUserLinkSSO(ctx, args[1:], stdout)
	case "roles":
	default:
		return errors.New(userUsage)
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
	db, err := openCLIStore(ctx, &cfg)
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

// runUserLinkSSO is 'opsflow user link-sso': a local account becomes the
// user a sign-on identity signs in as (single sign-on refuses a claim to
// an account it is not linked to).
func runUserLinkSSO(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg config.Config
	fs := newFlags("user link-sso", &cfg, "database-url", "migrate-database-url", "log-level")
	userID := fs.String("user", "", "user ID (required)")
	issuer := fs.String("issuer", "", "the provider's issuer URL, exactly as its tokens' iss claim (required unless --unlink)")
	subject := fs.String("subject", "", "the person's subject at the provider, its tokens' sub claim (required unless --unlink)")
	unlink := fs.Bool("unlink", false, "remove the user's link instead")
	reason := fs.String("reason", "", "why (required; recorded in the audit trail)")
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	switch {
	case *userID == "" || strings.TrimSpace(*reason) == "":
		return errors.New("--user and --reason are required")
	case *unlink && (*issuer != "" || *subject != ""):
		return errors.New("--unlink takes no --issuer or --subject")
	case !*unlink && (strings.TrimSpace(*issuer) == "" || strings.TrimSpace(*subject) == ""):
		return errors.New("--issuer and --subject are required (or --unlink)")
	}
	db, err := openCLIStore(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	to := postgres.SSOLink{Issuer: strings.TrimSpace(*issuer), Subject: strings.TrimSpace(*subject)}
	old, err := db.LinkSSO(ctx, *userID, to, cliActor(), *reason)
	if err != nil {
		return cliError(err)
	}
	if old == to {
		fmt.Fprintf(stdout, "%s is already linked to %s: nothing changed\n", *userID, to)
		return nil
	}
	fmt.Fprintf(stdout, "%s: sign-on identity %s → %s (recorded on audit stream %s)\n", *userID, old, to, opsflow.UserStream(*userID))
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

// runUserProfile creates or changes a user's profile (set) or prints it
// (show), as the admin API's PUT and GET /v1/users/{id} do.
func runUserProfile(ctx context.Context, sub string, args []string, stdout io.Writer) error {
	var cfg config.Config
	fs := newFlags("user "+sub, &cfg, "database-url", "migrate-database-url", "log-level")
	userID := fs.String("user", "", "user ID (required)")
	var name, roles, email, tz, mode *string
	var hour *int
	if sub == "set" {
		name = fs.String("name", "", "display name (a new user: default the ID)")
		roles = fs.String("roles", "", "roles of a new user, comma-separated: "+rolesList()+" (change an existing user's with 'opsflow user roles')")
		email = fs.String("email", "", "e-mail address for notifications (\"-\" clears it)")
		tz = fs.String("timezone", "", "IANA time zone of the times in their messages, e.g. Europe/Berlin")
		mode = fs.String("email-mode", "", "e-mail notifications: immediate, digest (one a day) or off")
		hour = fs.Int("digest-hour", -1, "local hour (0-23) the daily digest goes out")
	}
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	if *userID == "" {
		return errors.New("--user is required")
	}
	db, err := openCLIStore(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := db.Profile(ctx, *userID)
	found := err == nil
	if err != nil && (sub == "show" || opsflow.ErrorCode(err) != opsflow.ENOTFOUND) {
		return cliError(err)
	}
	if sub == "show" {
		return printJSON(stdout, p.Public())
	}
	if !found {
		rs, err := opsflow.ParseRoles(*roles)
		if err != nil || len(rs) == 0 {
			return fmt.Errorf("%s is a new user: --roles is required (%s)", *userID, rolesList())
		}
		p = opsflow.Profile{ID: *userID, Roles: rs, Timezone: "UTC"}
	} else if *roles != "" {
		return fmt.Errorf("%s exists: change roles with 'opsflow user roles --user %s --set … --reason …'", *userID, *userID)
	}
	if *name != "" {
		p.Name = *name
	}
	switch *email {
	case "":
	case "-":
		p.Email = ""
	default:
		p.Email = *email
	}
	if *tz != "" {
		p.Timezone = *tz
	}
	if *mode != "" {
		p.Preferences.Email = *mode
	}
	if *hour >= 0 {
		p.Preferences.DigestHour = hour
	}
	saved, created, err := db.SaveProfile(ctx, p, cliActor())
	if err != nil {
		return cliError(err)
	}
	verb := "updated"
	if created {
		verb = "created"
	}
	fmt.Fprintf(stdout, "%s %s (recorded on audit stream %s)\n", verb, *userID, opsflow.UserStream(*userID))
	return printJSON(stdout, saved.Public())
}
