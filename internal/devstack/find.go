package devstack

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ModulePath is the module whose go.mod marks the repository root.
const ModulePath = "github.com/opsflow/opsflow"

// TemporalBinEnv names the environment variable that overrides where the
// Temporal CLI is found. The Makefile sets it for `make test`.
const TemporalBinEnv = "OPSFLOW_TEMPORAL_BIN"

// ErrNotFound is wrapped by the errors of FindTemporal and StartPostgres
// when a required program is missing.
var ErrNotFound = errors.New("not found")

// FindTemporal locates the Temporal CLI (which embeds the dev server):
// $OPSFLOW_TEMPORAL_BIN, else <repo root>/.bin/temporal (installed there by
// `make tools`), else `temporal` on PATH.
//
// The repository root is searched from both the working directory and the
// executable's directory: `go test` runs in the package directory, while a
// built `bin/opsflow` may be started from anywhere.
func FindTemporal() (string, error) {
	if p := os.Getenv(TemporalBinEnv); p != "" {
		if !isExecutable(p) {
			return "", fmt.Errorf("%s=%s is not an executable file; unset it or run `make tools`: %w", TemporalBinEnv, p, ErrNotFound)
		}
		return p, nil
	}
	for _, root := range repoRoots() {
		p := filepath.Join(root, ".bin", "temporal")
		if isExecutable(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("temporal CLI: %w: run `make tools` in the repository root (it builds .bin/temporal), or set %s to the binary",
		ErrNotFound, TemporalBinEnv)
}

// RepoRoot returns the root of the opsflow repository, searched upwards from
// the working directory, then from the executable's directory.
func RepoRoot() (string, error) {
	roots := repoRoots()
	if len(roots) == 0 {
		return "", fmt.Errorf("no go.mod for module %s above the working directory or the executable: %w", ModulePath, ErrNotFound)
	}
	return roots[0], nil
}

func repoRoots() []string {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err := filepath.EvalSymlinks(exe); err == nil {
			starts = append(starts, filepath.Dir(exe))
		}
	}
	var roots []string
	seen := map[string]bool{}
	for _, s := range starts {
		if r, ok := findModuleRoot(s); ok && !seen[r] {
			seen[r] = true
			roots = append(roots, r)
		}
	}
	return roots
}

// findModuleRoot walks up from dir to the directory whose go.mod declares
// ModulePath. Nested modules (internal/composecheck) declare other paths
// and are walked past.
func findModuleRoot(dir string) (string, bool) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", false
	}
	for {
		if modulePathOf(filepath.Join(dir, "go.mod")) == ModulePath {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func modulePathOf(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
