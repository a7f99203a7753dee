package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/config"
	"github.com/opsflow/opsflow/internal/secret"
)

// runUserSigning is 'opsflow user set-signing-password' and 'opsflow user
// unlock-signing': an operator's part of Part 11 signing, recorded on the
// user's audit stream with the operator's account as the actor.
func runUserSigning(ctx context.Context, sub string, args []string, stdout io.Writer) error {
	var cfg config.Config
	fs := newFlags("user "+sub, &cfg, "database-url", "migrate-database-url", "log-level")
	userID := fs.String("user", "", "user ID (required)")
	var file, reason *string
	if sub == "set-signing-password" {
		file = fs.String("password-file", "-", "file whose first line is the new signing password (- for stdin); never a flag, which other users could see")
	} else {
		reason = fs.String("reason", "", "why signing is unlocked (required; recorded in the audit trail)")
	}
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	if *userID == "" {
		return errors.New("--user is required")
	}
	var password string
	if file != nil {
		var err error
		if password, err = readSecretLine(*file); err != nil {
			return err
		}
	} else if strings.TrimSpace(*reason) == "" {
		return errors.New("--reason is required")
	}
	db, err := openCLIStore(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if file == nil {
		if _, err := db.UnlockSigning(ctx, *userID, cliActor(), *reason); err != nil {
			return cliError(err)
		}
		fmt.Fprintf(stdout, "%s may sign again (recorded on audit stream %s)\n", *userID, opsflow.UserStream(*userID))
		return nil
	}
	p, err := db.Profile(ctx, *userID)
	if err != nil {
		return cliError(err)
	}
	if err := opsflow.DefaultSigningPolicy().CheckSigningPassword(opsflow.User{ID: p.ID, Name: p.Name}, password); err != nil {
		return cliError(err)
	}
	hash, err := secret.Hash(ctx, password, secret.Default)
	if err != nil {
		return err
	}
	if err := db.SetSigningPassword(ctx, *userID, hash, cliActor()); err != nil {
		return cliError(err)
	}
	fmt.Fprintf(stdout, "signing password of %s set (recorded on audit stream %s)\n", *userID, opsflow.UserStream(*userID))
	return nil
}

// readSecretLine reads the first line of path, or of stdin for "-".
func readSecretLine(path string) (string, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no signing password given (the first line of --password-file, or of stdin)")
	}
	return line, nil
}
